"""The Health page: /metrics parsed, rates from two scrapes, shown to every role; disabled metrics said."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.console_support import login, make_console, serve
from vigie.config import validate
from vigie.console.pages.health import (
    RATE_WINDOW,
    Scrape,
    Scraper,
    health_view,
    metrics_url,
    parse_metrics,
    rate,
)

EXPOSITION = """\
# HELP vigie_service_up 1 while a service runs
# TYPE vigie_service_up gauge
vigie_service_up{service="snmp-traps"} 1.0
vigie_service_up{service="pipelines"} 0.0
# HELP vigie_service_restarts_total Service restarts after a crash
# TYPE vigie_service_restarts_total counter
vigie_service_restarts_total{service="pipelines"} 3.0
vigie_service_restarts_total{service="snmp-traps"} 0.0
# HELP vigie_consumer_lag Records not yet committed
# TYPE vigie_consumer_lag gauge
vigie_consumer_lag{group="vigie-pipelines",topic="vigie.raw.traps"} 12.0
vigie_consumer_lag{group="vigie-pipelines",topic="vigie.raw.syslog"} 3.0
vigie_consumer_lag{group="vigie-archive",topic="vigie.raw.syslog"} 0.0
# HELP vigie_snmp_traps_total notifications written
# TYPE vigie_snmp_traps_total counter
vigie_snmp_traps_total{pdu="trap",version="v2c"} %(traps)s
vigie_snmp_traps_total{pdu="inform",version="v3"} 10.0
# HELP vigie_pipeline_records_out_total Records a pipeline stage produced
# TYPE vigie_pipeline_records_out_total counter
vigie_pipeline_records_out_total{stage="normalize",topic="vigie.events"} 500.0
vigie_pipeline_records_out_total{stage="normalize",topic="vigie.deadletter"} 7.0
# HELP vigie_notifications_failed_total Notifications given up
# TYPE vigie_notifications_failed_total counter
# HELP vigie_alerts_open Alerts firing
# TYPE vigie_alerts_open gauge
vigie_alerts_open 4.0
"""


def exposition(traps: float) -> str:
    return EXPOSITION % {"traps": traps}


def test_services_lag_dead_letters_and_rates_from_two_scrapes() -> None:
    before, now = Scrape(100.0, parse_metrics(exposition(90))), Scrape(110.0, parse_metrics(exposition(140)))
    view = health_view(now, before)
    assert view["services"] == [{"name": "pipelines", "up": False, "restarts": 3},
                                {"name": "snmp-traps", "up": True, "restarts": 0}]
    assert view["lag"] == [{"group": "vigie-archive", "total": 0, "topics": [("vigie.raw.syslog", 0)]},
                           {"group": "vigie-pipelines", "total": 15,
                            "topics": [("vigie.raw.syslog", 3), ("vigie.raw.traps", 12)]}]
    assert view["intake"] == [{"label": "SNMP traps", "total": 150, "rate": 5.0}]  # services not served: no row
    assert view["dead_letters"] == [{"label": "Events dead-lettered by normalize", "total": 7, "rate": 0.0},
                                    {"label": "Notifications given up", "total": 0, "rate": 0.0}]  # served, no sample yet
    assert view["alerts_open"] == 4 and view["incidents_open"] is None and view["rate_seconds"] == 10.0
    assert health_view(now, None)["intake"][0]["rate"] is None  # one scrape: no rate yet
    restarted = Scrape(120.0, parse_metrics(exposition(0)))
    assert rate(restarted, now, "vigie_snmp_traps_total") is None  # the counter went back (a restart): no rate


def test_the_scraper_keeps_a_minute_and_shares_fresh_scrapes() -> None:
    clock = [0.0]
    scraper = Scraper("http://x/metrics", clock=lambda: clock[0])
    for at in range(0, 200, 5):
        scraper.add(Scrape(float(at), {}))
    assert scraper.history[-1].at - scraper.baseline().at <= RATE_WINDOW + 5
    assert scraper.history[-1].at - scraper.history[1].at < RATE_WINDOW
    clock[0] = 196.0
    assert scraper.fresh() is scraper.history[-1]
    clock[0] = 198.0
    assert scraper.fresh() is None


def test_metrics_url_reaches_a_wildcard_listener_on_loopback() -> None:
    assert metrics_url(("0.0.0.0", 9108)) == "http://127.0.0.1:9108/metrics"
    assert metrics_url(("::", 9108)) == "http://[::1]:9108/metrics"
    assert metrics_url(("10.1.2.3", 9)) == "http://10.1.2.3:9/metrics"


def test_every_role_sees_the_page_from_a_metrics_endpoint_and_disabled_metrics_are_said(tmp_path: Path) -> None:
    traps = [90.0]

    async def metrics(_request: web.Request) -> web.Response:
        traps[0] += 50
        return web.Response(text=exposition(traps[0]), content_type="text/plain")

    async def go():
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            cfg = validate({"state_dir": str(tmp_path), "metrics": {"listen": f"127.0.0.1:{server.port}"}})
            async with serve(make_console(tmp_path, cfg=cfg)) as client:
                for role in ("viewer", "operator", "auditor", "admin"):
                    await login(client, role)
                    page = await client.get("/health")
                    text = await page.text()
                    assert page.status == 200 and 'data-service="pipelines"' in text, role
                    assert 'http-equiv="refresh"' in text and "vigie-pipelines" in text
            off = validate({"state_dir": str(tmp_path), "metrics": {"enabled": False}})
            async with serve(make_console(tmp_path, cfg=off)) as client:
                await login(client, "viewer")
                assert 'id="metrics-disabled"' in await (await client.get("/health")).text()
            down = validate({"state_dir": str(tmp_path), "metrics": {"listen": "127.0.0.1:9"}})
            async with serve(make_console(tmp_path, cfg=down)) as client:
                await login(client, "viewer")
                page = await client.get("/health")
                assert page.status == 200 and "Could not read the metrics at http://127.0.0.1:9/metrics" in await page.text()
        finally:
            await server.close()

    asyncio.run(go())
