"""Problems: what is wrong now, worst first (the page people open first)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from vigie.console.server import CONSOLE, NavItem, Route, render

_SEVERITY_ORDER = {"critical": 0, "warning": 1, "unknown": 2, "info": 3, "ok": 4}


def open_alerts(alerts: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts still firing, worst and newest first."""
    rows = [a for a in alerts.values() if a.get("status") != "resolved"]
    rows.sort(key=lambda a: (_SEVERITY_ORDER.get(a.get("severity", ""), 9), str(a.get("site", "")),
                             str(a.get("host", "")), str(a.get("component", ""))))
    return rows


async def problems(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    return render(request, "problems.html", alerts=open_alerts(console.state.alerts))


ROUTES = [Route("GET", "/problems", problems)]
NAV = [NavItem("/problems", "Problems")]
