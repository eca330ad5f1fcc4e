"""Helpers of the console's tests: a Console over a temporary state folder, served on loopback by aiohttp's
test server, with a logged-in client per role. No Kafka: the state is filled by the test, the writer records."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer

from vigie.console.accounts import AccountStore
from vigie.console.pages import collect
from vigie.console.server import Console, build_app
from vigie.console.sessions import LoginLimiter, SessionStore
from vigie.console.state import ConsoleState

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "auditor", "admin")


class RecordingWriter:
    """Stands in for feed.Writer: keeps what would go to the control and audit topics."""

    def __init__(self) -> None:
        self.controls: list[tuple[str, dict[str, Any] | None]] = []
        self.audits: list[dict[str, Any]] = []

    def control(self, key: str, value: dict[str, Any] | None, timeout: float = 10.0) -> None:
        self.controls.append((key, value))

    def audit(self, entry: dict[str, Any], timeout: float = 10.0) -> None:
        self.audits.append(entry)


def make_console(tmp: Path, state: ConsoleState | None = None, cfg: Any = None, **overrides: Any) -> Console:
    accounts = AccountStore.under(tmp)
    for role in ROLES:
        if accounts.get(role) is None:
            accounts.add(role, role, PASSWORD)
    options: dict[str, Any] = dict(
        accounts=accounts, sessions=SessionStore(tmp / "console" / "sessions.json"), limiter=LoginLimiter(5, 300),
        state=state or ConsoleState(), timezone=ZoneInfo("Europe/Paris"), session_lifetime=3600,
        wall_session_lifetime=86400, writer=RecordingWriter(), cfg=cfg)
    options.update(overrides)
    console = Console(**options)
    return console


@asynccontextmanager
async def serve(console: Console):
    routes, console.nav = collect()
    client = TestClient(TestServer(build_app(console, routes)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


def origin(client: TestClient) -> dict[str, str]:
    """The headers a page of the console itself sends with a form."""
    return {"Origin": str(client.make_url("")).rstrip("/")}


async def login(client: TestClient, name: str, password: str = PASSWORD, **extra: str) -> Any:
    return await client.post("/login", data={"name": name, "password": password, "next": "/", **extra},
                             headers=origin(client), allow_redirects=False)


async def csrf_of(client: TestClient, path: str = "/problems") -> str:
    """The CSRF token of the logged-in session, read from a page's logout form as a browser would."""
    text = await (await client.get(path)).text()
    m = re.search(r'name="csrf" value="([^"]+)"', text)
    assert m, f"no CSRF token on {path}"
    return m.group(1)
