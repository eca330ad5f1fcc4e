"""Users (admins): the console's accounts, as `vigie user add|passwd|role|disable|enable|list` manages them.

The same AccountStore and the same rules (names, roles, password length); every change is audited.
One rule more than the command line: an admin cannot disable or demote the account they are logged in
with, so that the console cannot be left without the admin who is using it (`vigie user` still can).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from vigie.console.accounts import MIN_PASSWORD, ROLES, AccountError
from vigie.console.server import CONSOLE, NavItem, Route, T, render, user_of


async def _page(request: web.Request, status: int = 200, error: str = "", done: str = "",
                added: dict[str, str] | None = None) -> web.Response:
    console = request.app[CONSOLE]
    accounts = await asyncio.get_running_loop().run_in_executor(None, console.accounts.accounts)
    return render(request, "users.html", status=status, accounts=accounts, roles=ROLES, error=error, done=done,
                  min_password=MIN_PASSWORD, added=added or {"name": "", "role": "viewer"})


async def users(request: web.Request) -> web.StreamResponse:
    return await _page(request)


async def _apply(request: web.Request, action: str, target: str, change: Callable[[], Any], done: str,
                 added: dict[str, str] | None = None, **details: Any) -> web.Response:
    """Run one change of the accounts file in a worker thread (scrypt: ~50 ms), audit it, show the list."""
    console = request.app[CONSOLE]
    try:
        await asyncio.get_running_loop().run_in_executor(None, change)
    except (AccountError, OSError) as exc:
        await console.audit(request, action, target, "refused", reason=str(exc), **details)
        return await _page(request, 400, error=str(exc), added=added)
    await console.audit(request, action, target, "ok", **details)
    return await _page(request, done=done)


def _not_self(request: web.Request, name: str) -> None:
    if name == user_of(request):
        raise AccountError("you cannot disable or change the role of the account you are logged in with")


async def add(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    form = await request.post()
    name, role, password = (str(form.get(k, "")) for k in ("name", "role", "password"))
    name = name.strip()
    return await _apply(request, "user add", name, lambda: console.accounts.add(name, role, password),
                        request[T].gettext("%(name)s added.", name=name), added={"name": name, "role": role}, role=role)


async def set_role(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    name = request.match_info["name"]
    role = str((await request.post()).get("role", ""))

    def change() -> None:
        _existing(request, name)
        _not_self(request, name)
        console.accounts.set_role(name, role)

    return await _apply(request, "user role", name, change, request[T].gettext("%(name)s is now %(role)s.", name=name,
                                                                                role=request[T].gettext(role)), role=role)


def _existing(request: web.Request, name: str) -> None:
    if request.app[CONSOLE].accounts.get(name) is None:
        raise AccountError(f"no user {name}")


async def disable(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    name = request.match_info["name"]

    def change() -> None:
        _existing(request, name)
        _not_self(request, name)
        console.accounts.disable(name)

    return await _apply(request, "user disable", name, change, request[T].gettext("%(name)s disabled.", name=name))


async def enable(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    name = request.match_info["name"]

    def change() -> None:
        _existing(request, name)
        console.accounts.enable(name)

    return await _apply(request, "user enable", name, change, request[T].gettext("%(name)s enabled.", name=name))


async def passwd(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    name = request.match_info["name"]
    password = str((await request.post()).get("password", ""))

    def change() -> None:
        _existing(request, name)
        console.accounts.passwd(name, password)

    return await _apply(request, "user passwd", name, change,
                        request[T].gettext("Password of %(name)s changed; their sessions have ended.", name=name))


ROUTES = [
    Route("GET", "/users", users, capability="admin"),
    Route("POST", "/users", add, capability="admin"),
    Route("POST", "/users/{name}/role", set_role, capability="admin"),
    Route("POST", "/users/{name}/disable", disable, capability="admin"),
    Route("POST", "/users/{name}/enable", enable, capability="admin"),
    Route("POST", "/users/{name}/password", passwd, capability="admin"),
]
NAV = [NavItem("/users", "Users", capability="admin")]
