"""Every route of the console against every role: what a role must not reach answers 403 (401 or the login
page when nobody is logged in), what it may reach never answers 403 nor 500, and the top bar offers a role
only what it may open. Derived from the routes themselves, so a new page is covered the day it is added."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.console_support import ROLES, csrf_of, login, make_console, origin, serve
from vigie.config import validate
from vigie.console.accounts import CAPABILITIES
from vigie.console.pages import collect

# Values for path parameters that name nothing: the guard answers before the handler looks.
SAMPLE = {"ref": "no-such-incident", "name": "nobody", "answer": "no-such-answer", "fmt": "csv"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::[^}]*)?\}", lambda m: SAMPLE[m.group(1)], path)


def routes_needing_a_capability() -> list[tuple[str, str, str]]:
    routes, _nav = collect()
    return [(r.method, concrete(r.path), r.capability) for r in routes
            if r.capability is not None and r.path not in ("/events", "/logout")]


def test_each_role_reaches_what_it_may_and_gets_403_elsewhere(tmp_path: Path) -> None:
    cfg = validate({"state_dir": str(tmp_path / "state"), "metrics": {"enabled": False}})
    console = make_console(tmp_path / "state", cfg=cfg)
    table = routes_needing_a_capability()
    assert {c for _m, _p, c in table} >= {"view", "act", "archive", "admin"}
    refused: dict[str, list[str]] = {}

    async def go() -> None:
        async with serve(console) as client:
            for role in ROLES:
                client.session.cookie_jar.clear()
                assert (await login(client, role)).status == 303
                token = await csrf_of(client, "/problems")
                for method, path, capability in table:
                    if method == "GET":
                        response = await client.get(path, allow_redirects=False)
                    else:
                        response = await client.post(path, data={"csrf": token}, headers=origin(client),
                                                     allow_redirects=False)
                    allowed = capability in CAPABILITIES[role]
                    where = f"{role} {method} {path}"
                    assert response.status != 500, where
                    if allowed:
                        assert response.status != 403, where
                    else:
                        assert response.status == 403, f"{where}: {response.status}"
                        refused.setdefault(role, []).append(f"{method} {path}")

    asyncio.run(go())
    # the issue's own cases, named: only auditors reach the archive, only admins the accounts
    for role in ("viewer", "operator", "admin"):
        assert "GET /archive" in refused[role]
    for role in ("viewer", "operator", "auditor"):
        assert "GET /users" in refused[role]
    assert "POST /silences" in refused["viewer"] and "POST /silences" in refused["auditor"]
    assert "POST /incidents/no-such-incident" in refused["viewer"]


def test_nobody_logged_in_reaches_nothing_but_the_login_page(tmp_path: Path) -> None:
    console = make_console(tmp_path)

    async def go() -> None:
        async with serve(console) as client:
            for method, path, _capability in routes_needing_a_capability():
                if method == "GET":
                    response = await client.get(path, allow_redirects=False)
                    assert response.status == 303 and response.headers["Location"].startswith("/login"), path
                else:
                    response = await client.post(path, data={}, headers=origin(client), allow_redirects=False)
                    assert response.status == 401, path

    asyncio.run(go())


def test_the_top_bar_offers_each_role_only_what_it_may_open(tmp_path: Path) -> None:
    console = make_console(tmp_path)
    _routes, nav = collect()

    async def go() -> dict[str, set[str]]:
        seen: dict[str, set[str]] = {}
        async with serve(console) as client:
            for role in ROLES:
                client.session.cookie_jar.clear()
                await login(client, role)
                text = await (await client.get("/problems")).text()
                bar = text.split("<nav>", 1)[1].split("</nav>", 1)[0]
                seen[role] = set(re.findall(r'href="([^"]+)"', bar))
        return seen

    seen = asyncio.run(go())
    for role in ROLES:
        assert seen[role] == {item.path for item in nav if item.capability in CAPABILITIES[role]}, role
    assert "/archive" in seen["auditor"] and "/archive" not in seen["admin"] and "/users" in seen["admin"]
