"""Host: one host's current state, its place in the inventory (parents, children), what happened to it
lately, its check outputs, and its performance data as small server-drawn charts (inline SVG, no script).

Pure view model (tested without HTTP); the chart's geometry is computed here and drawn by the template,
so every text in it is escaped like the rest of the page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from aiohttp import web

from vigie.console.i18n import to_datetime
from vigie.console.server import CONSOLE, Route, T, error_page, render

STATUS = {0: "ok", 1: "warning", 2: "critical", 3: "unknown"}  # check_result/1 status -> the page's severity
EVENTS_SHOWN = 50
CHARTS_PER_SERVICE = 4  # a plugin may give dozens of labels; the first ones are what people look at
# The chart's frame, in SVG user units (the image scales to its box; these only fix the proportions).
WIDTH, HEIGHT = 420, 150
LEFT, RIGHT, TOP, BOTTOM = 52, 10, 10, 24
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _epoch(value: Any) -> float | None:
    dt = to_datetime(value)
    return dt.timestamp() if dt else None


def inventory_hosts(cfg: Any) -> dict[str, Any]:
    inventory = getattr(cfg, "inventory", None)
    return dict(getattr(inventory, "hosts", None) or {})


def relatives(hosts: dict[str, Any], name: str) -> tuple[list[str], list[str]]:
    """(parents, children) of a host in the inventory; children are the hosts naming it as a parent."""
    entry = hosts.get(name)
    parents = list(getattr(entry, "parents", None) or ())
    children = sorted(h for h, e in hosts.items() if name in (getattr(e, "parents", None) or ()))
    return parents, children


def threshold_lines(spec: str | None) -> list[float]:
    """The boundaries of a Nagios threshold range to draw ("80" -> [80], "10:20" and "@10:20" -> [10, 20],
    "~:5" and "5:" -> [5]); nothing for what is not a range."""
    if not spec:
        return []
    lines: list[float] = []
    for part in spec.lstrip("@").split(":", 1):
        if _NUMBER.fullmatch(part.strip()):
            value = float(part)
            if math.isfinite(value):
                lines.append(value)
    return lines


def number(value: float) -> str:
    """A compact axis label: 3 significant digits, k/M for big values."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least `raw` (> 0)."""
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= raw * (1 - 1e-9):
            return factor * power
    return 10 * power


def nice_range(lo: float, hi: float) -> tuple[float, float]:
    """An axis from lo to hi widened to two round steps (0-100 for 0-94.5), so the three ticks read well."""
    step = nice_step((hi - lo) / 2)
    while True:
        start = math.floor(lo / step) * step
        if start + 2 * step >= hi:
            return start, start + 2 * step
        step = nice_step(step * 1.001)


def perf_chart(label: str, points: Sequence[tuple[float, float]], uom: str = "", warn: str | None = None,
               crit: str | None = None, floor: float | None = None) -> dict[str, Any] | None:
    """The geometry of one perfdata series: a polyline, three y ticks, the first and last time, and the
    warn/crit lines; None with no point. `floor` (the plugin's min) anchors the y axis when below the data."""
    points = [(t, v) for t, v in points if math.isfinite(v)]
    if not points:
        return None
    warn_at, crit_at = threshold_lines(warn), threshold_lines(crit)
    values = [v for _, v in points]
    lo, hi = min(values + warn_at + crit_at), max(values + warn_at + crit_at)
    if floor is not None and floor <= lo:
        lo = floor
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    lo, hi = nice_range(lo, hi)
    t0, t1 = points[0][0], points[-1][0]
    if t1 == t0:
        t0, t1 = t0 - 30, t1 + 30
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return round(LEFT + (t - t0) / (t1 - t0) * plot_w, 1)

    def y(v: float) -> float:
        return round(TOP + (hi - v) / (hi - lo) * plot_h, 1)

    ticks = [{"y": y(v), "text": number(v)} for v in (lo, (lo + hi) / 2, hi)]
    thresholds = [{"kind": kind, "y": y(v), "text": number(v)}
                  for kind, at in (("warn", warn_at), ("crit", crit_at)) for v in at]
    last_t, last_v = points[-1]
    return {
        "label": label, "uom": uom or "", "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "top": TOP, "bottom": HEIGHT - BOTTOM, "line": " ".join(f"{x(t)},{y(v)}" for t, v in points),
        "last": {"x": x(last_t), "y": y(last_v), "text": number(last_v)}, "ticks": ticks, "thresholds": thresholds,
        "first_time": t0, "last_time": t1, "count": len(points),
    }


def service_charts(results: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chart per perfdata label of a service (the first CHARTS_PER_SERVICE labels of its last result),
    over the results kept; units and thresholds from the last result that gave the label."""
    series: dict[str, list[tuple[float, float]]] = {}
    last: dict[str, dict[str, Any]] = {}
    for result in results:
        at = _epoch(result.get("check_time"))
        if at is None:
            continue
        for perf in result.get("perfdata") or ():
            value = perf.get("value") if isinstance(perf, dict) else None
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            series.setdefault(str(perf.get("label", "")), []).append((at, float(value)))
            last[str(perf.get("label", ""))] = perf
    charts = []
    for label in list(series)[:CHARTS_PER_SERVICE]:
        perf = last[label]
        chart = perf_chart(label, sorted(series[label]), perf.get("uom") or "", perf.get("warn"), perf.get("crit"),
                           perf.get("min") if isinstance(perf.get("min"), int | float) else None)
        if chart is not None:
            charts.append(chart)
    return charts


def check_rows(services: dict[str, Iterable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each service's last output (the host check, "" , first), with its charts and its recent outputs."""
    rows = []
    for service in sorted(services, key=lambda s: (s != "", s)):
        results = list(services[service])
        if not results:
            continue
        latest = results[-1]
        rows.append({
            "service": service, "status": STATUS.get(latest.get("status"), "unknown"),
            "output": latest.get("output") or "", "long_output": latest.get("long_output") or "",
            "at": latest.get("check_time"), "source": latest.get("source") or "", "charts": service_charts(results),
            "history": [{"at": r.get("check_time"), "status": STATUS.get(r.get("status"), "unknown"),
                         "output": r.get("output") or ""} for r in reversed(results[-10:])],
        })
    return rows


def host_alerts(alerts: dict[str, dict[str, Any]], name: str, incidents: dict[str, Any] | None = None
                ) -> list[dict[str, Any]]:
    """The host's alerts as the table shows them: firing first, worst first, then the recently resolved; each
    links to its incident while the console knows it, else to its own page."""
    rank = {"critical": 0, "warning": 1, "unknown": 2, "info": 3, "ok": 4}
    mine = [a for a in alerts.values() if a.get("host") == name]
    mine.sort(key=lambda a: (a.get("status") != "firing", rank.get(a.get("severity", ""), 9),
                             -(_epoch(a.get("last_seen")) or 0)))
    return [{"fingerprint": a.get("fingerprint", ""), "link": _link(a, incidents or {}),
             "component": a.get("component") or "",
             "summary": a.get("summary") or "", "severity": a.get("severity") or "unknown",
             "status": a.get("status") or "", "state_type": str(a.get("state_type") or "").upper(),
             "since": a.get("first_seen"), "acked_by": (a.get("acknowledged") or {}).get("author"),
             "suppressed": (a.get("suppressed_by") or {}).get("kind"), "flapping": bool(a.get("flapping"))}
            for a in mine]


def _link(alert: dict[str, Any], incidents: dict[str, Any]) -> str:
    incident_id = alert.get("incident_id")
    if incident_id and incident_id in incidents:
        return "/incidents/" + quote(str(incident_id), safe="")
    return "/alerts/" + quote(str(alert.get("fingerprint", "")), safe="")


def recent_events(alerts: Iterable[dict[str, Any]], services: dict[str, Iterable[dict[str, Any]]],
                  limit: int = EVENTS_SHOWN) -> list[dict[str, Any]]:
    """What happened lately, newest first: problems starting and recovering, acknowledgements, and check
    results changing state."""
    events: list[dict[str, Any]] = []
    for a in alerts:
        what = a.get("component") or a.get("fingerprint", "")
        events.append({"at": a.get("first_seen"), "kind": "problem", "severity": a.get("severity") or "unknown",
                       "subject": what, "text": a.get("summary") or ""})
        if a.get("status") == "resolved" and a.get("resolved_at"):
            events.append({"at": a.get("resolved_at"), "kind": "recovered", "severity": "ok", "subject": what,
                           "text": ""})
        ack = a.get("acknowledged")
        if isinstance(ack, dict):
            events.append({"at": ack.get("at"), "kind": "acknowledged", "severity": "info", "subject": what,
                           "text": f"{ack.get('author', '')}: {ack.get('reason', '')}"})
    for service, results in services.items():
        before = None
        for r in results:
            status = r.get("status")
            if before is not None and status != before:
                events.append({"at": r.get("check_time"), "kind": "check", "severity": STATUS.get(status, "unknown"),
                               "subject": service or "host check", "text": r.get("output") or ""})
            before = status
    events.sort(key=lambda e: _epoch(e["at"]) or 0, reverse=True)
    return events[:limit]


def host_view(state: Any, cfg: Any, name: str) -> dict[str, Any] | None:
    """What the Host page shows; None when neither the inventory, the alerts nor the checks know the host."""
    hosts = inventory_hosts(cfg)
    services = state.checks.get(name, {})
    alerts = host_alerts(state.alerts, name, state.incidents)
    entry = hosts.get(name)
    if entry is None and not services and not alerts:
        return None
    parents, children = relatives(hosts, name)
    raw_alerts = [a for a in state.alerts.values() if a.get("host") == name]
    firing = [a for a in alerts if a["status"] == "firing"]
    worst = firing[0]["severity"] if firing else "ok"
    return {
        "name": name, "known": entry is not None, "site": getattr(entry, "site", None) or "",
        "address": getattr(entry, "address", None) or "", "description": getattr(entry, "description", "") or "",
        "groups": list(getattr(entry, "groups", None) or ()), "parents": parents, "children": children,
        "worst": worst, "alerts": alerts, "firing": len(firing), "checks": check_rows(services),
        "events": recent_events(raw_alerts, services),
    }


async def show(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    view = host_view(console.state, console.cfg, request.match_info["name"])
    if view is None:
        return error_page(request, 404, request[T].gettext("No such host."))
    return render(request, "host.html", h=view)


ROUTES = [Route("GET", "/hosts/{name}", show)]
