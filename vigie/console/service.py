"""`vigie service console`: the console in its own process, ready once its listener is bound and the
topics' history is read (a page shown before that would show an incomplete picture as if it were whole)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

from vigie.console.accounts import AccountStore
from vigie.console.feed import Feed, Writer
from vigie.console.pages import collect
from vigie.console.server import Console, build_app
from vigie.console.sessions import LoginLimiter, SessionStore
from vigie.console.state import ConsoleState

if TYPE_CHECKING:
    from vigie.config import Config
    from vigie.kafka_client import KafkaSettings

log = logging.getLogger("vigie.console")


def make_console(cfg: Config, state: ConsoleState, writer: Writer | None) -> Console:
    c = cfg.console
    folder = Path(cfg.state_dir) / "console"
    return Console(
        accounts=AccountStore.under(cfg.state_dir), sessions=SessionStore(folder / "sessions.json"),
        limiter=LoginLimiter(c.login_max_failures, c.login_window), state=state, timezone=ZoneInfo(c.timezone),
        session_lifetime=c.session_lifetime, wall_session_lifetime=c.wall_session_lifetime,
        secure_cookies=bool(c.certfile), trusted_user_header=c.trusted_user_header,
        trusted_proxies=frozenset(c.trusted_proxies), writer=writer, cfg=cfg)


def tls_context(cfg: Config) -> ssl.SSLContext | None:
    if not cfg.console.certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cfg.console.certfile, cfg.console.keyfile)
    return context


async def serve(cfg: Config, settings: KafkaSettings, stop: threading.Event,
                joined: list[threading.Event], extras: dict[str, Any] | None = None) -> None:
    """Serve until stop is set; joined[0] is set when bound, joined[1] when the feed has caught up. `extras`
    are objects the composition root gives the pages (Console.extras: the pipelines' Router)."""
    loop = asyncio.get_running_loop()
    state = ConsoleState()
    feed = Feed(settings, state, loop)
    writer = Writer(settings)
    console = make_console(cfg, state, writer)
    console.extras.update(extras or {})
    routes, console.nav = collect()
    app = build_app(console, routes)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    host, port = cfg.console.listen
    site = web.TCPSite(runner, host, port, ssl_context=tls_context(cfg), reuse_address=True)
    feed.start()
    try:
        await site.start()
        joined[0].set()
        log.info("console on %s://%s:%d", "https" if cfg.console.certfile else "http", host, port)
        while not stop.is_set():
            if feed.caught_up.is_set() and not joined[1].is_set():
                joined[1].set()
            await asyncio.sleep(0.1)
    finally:
        await runner.cleanup()
        feed.close()
