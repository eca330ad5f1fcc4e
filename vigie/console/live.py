"""Live pages: one Server-Sent Events stream per open page tells it that what it shows has changed; the page
(static/live.js) then re-fetches its live fragment.

One ticker for all streams: a change on alerts, incidents or control marks the hub dirty, and the ticker sends
one `change` event to every stream at once, then waits INTERVAL before the next one. So a storm of records
costs each page at most 1/INTERVAL fetches a second, and every page fetches the same state version at the
same moment (the fragment cache of the pages renders it once for all). A quiet stream gets a comment every
KEEPALIVE seconds so proxies keep it open; a stream whose client went away ends at the next check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from vigie.console.state import ConsoleState
from vigie.topics import ALERTS, CONTROL, INCIDENTS

log = logging.getLogger("vigie.console.live")
LIVE_TOPICS = frozenset((ALERTS, INCIDENTS, CONTROL))
INTERVAL = 0.3  # s between two change events: at most ~3 fetches a second per page
KEEPALIVE = 15.0  # s of silence before a comment line
CLIENT_CHECK = 5.0  # s between checks that a quiet stream's client is still there
RETRY_MS = 2000  # what EventSource waits before reconnecting (a console restart)


class Hub:
    """The open streams of one console and the ticker that wakes them."""

    def __init__(self, state: ConsoleState, interval: float = INTERVAL, keepalive: float = KEEPALIVE,
                 client_check: float = CLIENT_CHECK) -> None:
        self.interval, self.keepalive, self.client_check = interval, keepalive, client_check
        self.tick = 0  # change events sent so far (the `data` of each)
        self.closed = False
        self._streams: set[asyncio.Event] = set()
        self._dirty = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        state.listeners.append(self.changed)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def changed(self, logical: str, _key: str) -> None:
        """A ConsoleState listener (called on the event loop by the feed)."""
        if logical in LIVE_TOPICS:
            self._dirty.set()

    async def _run(self) -> None:
        while not self.closed:
            await self._dirty.wait()
            self._dirty.clear()
            if self.closed:
                return
            self.tick += 1
            for wake in self._streams:
                wake.set()
            await asyncio.sleep(self.interval)

    async def stream(self, write: Any, alive: Any) -> None:
        """Serve one stream until the hub closes or the client goes: `write(bytes)` sends, `alive()` says
        whether the client is still connected."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._run())
        wake = asyncio.Event()
        self._streams.add(wake)
        try:
            await write(f"retry: {RETRY_MS}\n\n".encode())
            quiet = 0.0
            while not self.closed:
                try:
                    await asyncio.wait_for(wake.wait(), min(self.client_check, self.keepalive - quiet))
                except TimeoutError:
                    quiet += min(self.client_check, self.keepalive - quiet)
                    if not alive():
                        return
                    if quiet >= self.keepalive:
                        await write(b": keep-alive\n\n")
                        quiet = 0.0
                    continue
                wake.clear()
                if self.closed or not alive():
                    return
                await write(f"event: change\ndata: {self.tick}\n\n".encode())
                quiet = 0.0
        except (ConnectionError, RuntimeError) as exc:  # the client went while we wrote
            log.debug("live stream ended: %s", exc)
        finally:
            self._streams.discard(wake)

    async def close(self) -> None:
        """End every stream now (the console stops): their handlers return, the server need not wait."""
        self.closed = True
        self._dirty.set()
        for wake in self._streams:
            wake.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker


def hub_of(extras: dict[str, Any], state: ConsoleState) -> Hub:
    """The console's hub (Console.extras["live"]), made on first use."""
    hub = extras.get("live")
    if hub is None:
        hub = extras["live"] = Hub(state)
    return hub


async def close_hub(extras: dict[str, Any]) -> None:
    """aiohttp on_shutdown: end the open streams so that stopping the console does not wait for them."""
    hub = extras.get("live")
    if hub is not None:
        await hub.close()
