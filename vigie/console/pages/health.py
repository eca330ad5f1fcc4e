"""Health: services and their restarts, consumer lag per group, intake rates and dead-letter counts.

Read from `vigie up`'s own /metrics (the `[metrics] listen` endpoint, Prometheus text format), the one
place where the parent's gauges and every child's multiprocess files are already merged: the page shows
exactly what Prometheus would scrape. Rates are differences of counters between two scrapes, over up to
RATE_WINDOW seconds; the page reloads itself every REFRESH seconds.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from vigie.console.server import CONSOLE, NavItem, Route, render

REFRESH = 5  # seconds between two reloads of the page
MIN_SCRAPE_INTERVAL = 2.0  # several open pages share one scrape
RATE_WINDOW = 60.0  # rates are averaged over the scrapes of the last minute
SCRAPE_TIMEOUT = 5.0  # consumer lag is read from the broker at scrape time (up to 3 s when it is slow)

Samples = dict[str, list[tuple[dict[str, str], float]]]
# (what the page says, metric, labels a sample must have): what comes in, and what is refused or given up.
INTAKE = (
    ("Syslog messages received", "vigie_syslog_received_total", {}),
    ("SNMP traps", "vigie_snmp_traps_total", {}),
    ("Passive check results", "vigie_checks_received_total", {}),
    ("Active check results", "vigie_check_results_total", {}),
    ("Normalized (records in)", "vigie_pipeline_records_in_total", {"stage": "normalize"}),
    ("Correlated (events in)", "vigie_pipeline_records_in_total", {"stage": "correlate"}),
    ("Rows archived", "vigie_archive_rows_written_total", {}),
    ("Notifications sent", "vigie_notifications_sent_total", {}),
)
DEAD_LETTERS = (
    ("Syslog records dead-lettered", "vigie_syslog_dead_lettered_total", {}),
    ("SNMP datagrams rejected", "vigie_snmp_rejected_total", {}),
    ("Check submissions dead-lettered", "vigie_checks_deadlettered_total", {}),
    ("Events dead-lettered by normalize", "vigie_pipeline_records_out_total", {"stage": "normalize", "topic": "*deadletter"}),
    ("Notifications given up", "vigie_notifications_failed_total", {}),
)


def parse_metrics(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, by sample name (counters keep their _total); a family
    served without samples yet is present with none."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        # A labelled family served before its first sample (no trap received yet) is there, at zero.
        samples.setdefault(family.name + "_total" if family.type == "counter" else family.name, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


def _matches(labels: Mapping[str, str], where: Mapping[str, str]) -> bool:
    for key, wanted in where.items():
        value = labels.get(key, "")
        if wanted.startswith("*") and not value.endswith(wanted[1:]):
            return False
        if not wanted.startswith("*") and value != wanted:
            return False
    return True


def total(samples: Samples, name: str, where: Mapping[str, str] | None = None) -> float | None:
    """The sum of a metric's samples that have the labels `where` ("*x": ending in x); None when not served."""
    if name not in samples:
        return None
    return sum(v for labels, v in samples[name] if _matches(labels, where or {}))


@dataclass(frozen=True)
class Scrape:
    at: float  # monotonic seconds
    samples: Samples


def rate(now: Scrape, before: Scrape | None, name: str, where: Mapping[str, str] | None = None) -> float | None:
    """Per second between two scrapes; None without an earlier scrape, or when the counter went back (a restart)."""
    if before is None or now.at <= before.at:
        return None
    a, b = total(before.samples, name, where), total(now.samples, name, where)
    if b is None:
        return None
    delta = b - (a or 0.0)
    return delta / (now.at - before.at) if delta >= 0 else None


def health_view(now: Scrape, before: Scrape | None) -> dict[str, Any]:
    """What the page shows, from the latest scrape and an earlier one (for rates)."""
    s = now.samples
    restarts = {labels.get("service", ""): v for labels, v in s.get("vigie_service_restarts_total", [])}
    services = [{"name": labels.get("service", ""), "up": v >= 1, "restarts": int(restarts.get(labels.get("service", ""), 0))}
                for labels, v in sorted(s.get("vigie_service_up", []), key=lambda x: x[0].get("service", ""))]
    groups: dict[str, list[tuple[str, int]]] = {}
    for labels, v in s.get("vigie_consumer_lag", []):
        groups.setdefault(labels.get("group", ""), []).append((labels.get("topic", ""), int(v)))
    lag = [{"group": g, "total": sum(n for _, n in topics), "topics": sorted(topics)} for g, topics in sorted(groups.items())]

    def rows(table: tuple[tuple[str, str, dict[str, str]], ...]) -> list[dict[str, Any]]:
        out = []
        for label, name, where in table:
            count = total(s, name, where)
            if count is not None:
                out.append({"label": label, "total": int(count), "rate": rate(now, before, name, where)})
        return out

    def gauge(name: str) -> float | None:
        return total(s, name)

    return {"services": services, "lag": lag, "intake": rows(INTAKE), "dead_letters": rows(DEAD_LETTERS),
            "alerts_open": gauge("vigie_alerts_open"), "incidents_open": gauge("vigie_incidents_open"),
            "pending": gauge("vigie_kafka_pending"), "rate_seconds": None if before is None else now.at - before.at}


class Scraper:
    """The last scrapes of one /metrics URL: at most one scrape per MIN_SCRAPE_INTERVAL, RATE_WINDOW kept."""

    def __init__(self, url: str, clock: Any = time.monotonic) -> None:
        self.url = url
        self.clock = clock
        self.history: deque[Scrape] = deque()

    def add(self, scrape: Scrape) -> None:
        self.history.append(scrape)
        while len(self.history) > 2 and scrape.at - self.history[1].at >= RATE_WINDOW:
            self.history.popleft()

    def fresh(self) -> Scrape | None:
        if self.history and self.clock() - self.history[-1].at < MIN_SCRAPE_INTERVAL:
            return self.history[-1]
        return None

    def baseline(self) -> Scrape | None:
        """The oldest kept scrape, when it is not the latest: the start of the rates' window."""
        return self.history[0] if len(self.history) > 1 else None

    async def scrape(self) -> Scrape:
        """The latest scrape (a fresh one reused); raises aiohttp.ClientError, TimeoutError or ValueError."""
        latest = self.fresh()
        if latest is not None:
            return latest
        timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(self.url) as response:
            response.raise_for_status()
            text = await response.text()
        scrape = Scrape(self.clock(), parse_metrics(text))
        self.add(scrape)
        return scrape


def metrics_url(listen: tuple[str, int]) -> str:
    """Where `vigie up` serves /metrics, reached from this host (a wildcard address means loopback)."""
    host, port = listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}/metrics" if ":" in host else f"http://{host}:{port}/metrics"


async def health(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    metrics = console.cfg.metrics
    context: dict[str, Any] = {"refresh": REFRESH, "enabled": metrics.enabled, "error": "", "view": None,
                               "url": metrics_url(metrics.listen)}
    if metrics.enabled:
        scraper: Scraper = console.extras.setdefault("health_scraper", Scraper(context["url"]))
        try:
            latest = await scraper.scrape()
            context["view"] = health_view(latest, scraper.baseline())
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            context["error"] = str(exc) or type(exc).__name__
    return render(request, "health.html", **context)


ROUTES = [Route("GET", "/health", health)]
NAV = [NavItem("/health", "Health")]
