"""`/events`: the Server-Sent Events stream that keeps open pages live (vigie/console/live.py, static/live.js)."""

from __future__ import annotations

from aiohttp import web

from vigie.console.live import hub_of
from vigie.console.server import CONSOLE, Route


async def events(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    hub = hub_of(console.extras, console.state)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})  # a reverse proxy must not buffer it
    await response.prepare(request)

    def alive() -> bool:
        transport = request.transport
        return transport is not None and not transport.is_closing()

    await hub.stream(response.write, alive)
    return response


ROUTES = [Route("GET", "/events", events)]
