"""The Host page: parents and children from the inventory, current alerts, check outputs kept in a bounded ring,
perfdata drawn as an inline SVG chart with its unit and thresholds, recent events, and text shown as text."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.console_support import login, make_console, serve
from tests.unit.test_console_incident import INC, alert
from vigie.config import validate
from vigie.console import state as state_mod
from vigie.console.pages.host import (
    check_rows,
    host_view,
    nice_range,
    number,
    perf_chart,
    recent_events,
    threshold_lines,
)
from vigie.console.state import CHECKS_PER_SERVICE, ConsoleState
from vigie.producers.checks.plugin_output import check_result
from vigie.topics import ALERTS, INCIDENTS, RAW_CHECKS

T0 = 1_796_673_600.0  # 2026-12-07T20:00:00Z


def cfg():
    return validate({"inventory": {"hosts": {
        "rtr-mairie": {"site": "mairie", "address": "10.0.0.1", "description": "town hall router"},
        "sw-ecole": {"site": "mairie", "parents": ["rtr-mairie"]},
        "ap-ecole": {"site": "mairie", "parents": ["sw-ecole"]},
        "srv-web": {"site": "mairie", "parents": ["rtr-mairie"]}}}})


def disk(i: int, used: int, status: int = 0) -> dict:
    return check_result("srv-web", "DISK", status, f"DISK OK - {used}% used|/=" + f"{used}%;80;90;0;100",
                        "passive", T0 + 60 * i)


def test_the_check_ring_is_bounded_per_service_and_in_series() -> None:
    state = ConsoleState()
    for i in range(CHECKS_PER_SERVICE + 20):
        state.apply(RAW_CHECKS, "srv-web", disk(i, 50))
    state.apply(RAW_CHECKS, "x", ["not", "a", "result"])
    state.apply(RAW_CHECKS, "x", {"host": "", "service": "DISK"})
    assert len(state.checks["srv-web"]["DISK"]) == CHECKS_PER_SERVICE and state.check_series == 1
    assert state.checks["srv-web"]["DISK"][0]["check_time"] == disk(20, 50)["check_time"]  # the oldest dropped
    assert state.version == 0  # check results wake no live page


def test_the_longest_silent_host_is_dropped_beyond_the_series_cap(monkeypatch) -> None:
    monkeypatch.setattr(state_mod, "CHECK_SERIES_MAX", 3)
    state = ConsoleState()
    for host in ("a", "b", "a", "c"):
        state.add_check({"host": host, "service": "PING", "status": 0})
    state.add_check({"host": "d", "service": None, "status": 0})
    assert list(state.checks) == ["a", "c", "d"] and state.check_series == 3  # b was silent the longest


def test_thresholds_follow_nagios_ranges() -> None:
    assert threshold_lines("80") == [80.0] and threshold_lines("@10:20") == [10.0, 20.0]
    assert threshold_lines("~:5") == [5.0] and threshold_lines("5:") == [5.0]
    assert threshold_lines(None) == [] and threshold_lines("abc") == [] and threshold_lines("nan") == []


def test_axis_numbers_are_short() -> None:
    assert [number(v) for v in (0, 0.19, 84, 5120, 2_500_000, -1500)] == ["0", "0.19", "84", "5.12k", "2.5M", "-1.5k"]


def test_axes_are_widened_to_round_steps() -> None:
    assert nice_range(0, 94.5) == (0, 100) and nice_range(-3, 7) == (-10, 10)
    lo, hi = nice_range(50, 90)
    assert (lo, hi) == (50, 100)
    lo, hi = nice_range(0.081, 0.19)
    assert lo <= 0.081 and hi >= 0.19 and hi - lo <= 0.2 + 1e-9


def test_a_chart_places_points_thresholds_and_ticks_in_its_frame() -> None:
    chart = perf_chart("/", [(0, 50.0), (60, 70.0), (120, 60.0)], "%", "80", "90", floor=0)
    assert chart["uom"] == "%" and chart["count"] == 3
    xs = [float(p.split(",")[0]) for p in chart["line"].split()]
    ys = [float(p.split(",")[1]) for p in chart["line"].split()]
    assert xs[0] == chart["left"] and xs[-1] == chart["right"]
    assert all(chart["top"] <= y <= chart["bottom"] for y in ys)
    assert ys[1] < ys[2] < ys[0]  # higher values are drawn higher
    warn, crit = chart["thresholds"]
    assert (warn["kind"], crit["kind"]) == ("warn", "crit") and crit["y"] < warn["y"] < min(ys)
    assert [t["text"] for t in chart["ticks"]] == ["0", "50", "100"] and chart["ticks"][0]["y"] == chart["bottom"]
    flat = perf_chart("rta", [(5, 1.5)], "ms")
    assert flat["first_time"] < flat["last_time"] and [t["text"] for t in flat["ticks"]] == ["0", "2", "4"]
    assert perf_chart("x", [], "") is None and perf_chart("x", [(1, float("nan"))], "") is None


def test_check_rows_give_the_last_output_charts_and_history() -> None:
    results = [disk(i, 50 + i) for i in range(5)] + [disk(5, 85, status=1)]
    host_check = check_result("srv-web", None, 0, "PING OK - rta 1.2ms|rta=1.2ms;100;500;0", "passive", T0)
    rows = check_rows({"DISK": results, "": [host_check]})
    assert [r["service"] for r in rows] == ["", "DISK"]
    disk_row = rows[1]
    assert disk_row["status"] == "warning" and disk_row["output"] == "DISK OK - 85% used"
    (chart,) = disk_row["charts"]
    assert chart["label"] == "/" and chart["uom"] == "%" and chart["count"] == 6 and chart["last"]["text"] == "85"
    assert [h["status"] for h in disk_row["history"]][:2] == ["warning", "ok"]
    assert rows[0]["charts"][0]["uom"] == "ms"


def test_the_view_has_parents_children_alerts_and_events_or_is_none() -> None:
    state = ConsoleState()
    state.apply(ALERTS, "fp1", alert("fp1", "srv-web", severity="warning",
                                      acknowledged={"author": "operator", "reason": "on it",
                                                    "at": "2026-12-07T20:10:00Z"}))
    state.apply(ALERTS, "fp2", alert("fp2", "srv-web", status="resolved", resolved_at="2026-12-07T20:20:00Z"))
    for i, status in enumerate((0, 0, 1, 1, 0)):
        state.apply(RAW_CHECKS, "srv-web", disk(i, 50, status))
    view = host_view(state, cfg(), "srv-web")
    assert view["parents"] == ["rtr-mairie"] and view["children"] == []
    assert host_view(state, cfg(), "rtr-mairie")["children"] == ["srv-web", "sw-ecole"]
    assert [(a["fingerprint"], a["status"], a["acked_by"]) for a in view["alerts"]] == [
        ("fp1", "firing", "operator"), ("fp2", "resolved", None)]
    assert view["worst"] == "warning" and view["firing"] == 1
    assert view["alerts"][0]["link"] == "/alerts/fp1"  # its incident is not (or no longer) known
    state.apply(INCIDENTS, INC, {"id": INC, "alerts": ["fp1"]})
    assert host_view(state, cfg(), "srv-web")["alerts"][0]["link"] == f"/incidents/{INC}"
    kinds = [e["kind"] for e in view["events"]]
    assert kinds[0] == "recovered" and kinds.count("check") == 2 and "acknowledged" in kinds
    assert host_view(state, cfg(), "nobody") is None
    assert host_view(state, None, "srv-web")["known"] is False  # known from its alerts and checks only
    assert recent_events([], {}, limit=5) == []


def run(coro):
    return asyncio.run(coro)


def test_the_page_draws_an_svg_chart_and_escapes_outputs(tmp_path: Path) -> None:
    state = ConsoleState()
    for i in range(3):
        state.apply(RAW_CHECKS, "srv-web", disk(i, 60 + i))
    state.apply(RAW_CHECKS, "srv-web", check_result("srv-web", "HTTP", 2, "<script>alert(1)</script>", "passive", T0))
    console = make_console(tmp_path, state, cfg=cfg())

    async def go():
        async with serve(console) as client:
            await login(client, "viewer")
            page = await client.get("/hosts/srv-web")
            missing = await client.get("/hosts/nobody")
            return page.status, await page.text(), missing.status, await missing.text()

    status, page, missing_status, missing = run(go())
    assert status == 200 and missing_status == 404 and "No such host." in missing
    assert "<svg" in page and 'class="series"' in page and 'class="th-warn"' in page and 'class="th-crit"' in page
    assert "/ (%)" in page and 'href="/hosts/rtr-mairie"' in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
