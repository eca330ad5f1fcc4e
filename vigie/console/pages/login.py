"""Log in and out; `/` sends a person to the first page of the top bar."""

from __future__ import annotations

import asyncio

from aiohttp import web

from vigie.console.server import (
    ACCOUNT,
    CLAIMED_USER,
    CONSOLE,
    Route,
    T,
    clear_session_cookie,
    render,
    set_session_cookie,
)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no //host, no scheme): the login form cannot send anyone elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


async def home(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    account = request[ACCOUNT]
    for item in console.nav:
        if account.can(item.capability):
            raise web.HTTPSeeOther(item.path)
    return render(request, "error.html", status_code=200, message=request[T].gettext("Nothing to show to your role."))


async def login_form(request: web.Request) -> web.StreamResponse:
    return render(request, "login.html", error="", next=_safe_next(request.query.get("next")), name="")


async def login(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    t = request[T]
    form = await request.post()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    address = request.remote or ""
    now = console.clock()
    wait = console.limiter.blocked_for(address, name, now)
    if wait > 0:
        request[CLAIMED_USER] = name
        await console.audit(request, "login", name, "refused", reason="rate limited")
        response = render(request, "login.html", status=429, next=target, name=name,
                          error=t.gettext("Too many failed logins: try again in %(seconds)d s.", seconds=int(wait) + 1))
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    loop = asyncio.get_running_loop()
    account = await loop.run_in_executor(None, console.accounts.authenticate, name, password)  # scrypt: ~60 ms
    if account is None:
        console.limiter.failed(address, name, now)
        request[CLAIMED_USER] = name
        await console.audit(request, "login", name, "failed")
        return render(request, "login.html", status=401, next=target, name=name,
                      error=t.gettext("Wrong user name or password."))
    console.limiter.succeeded(address, name)
    wall = bool(form.get("wall")) and account.role == "viewer"
    lifetime = console.wall_session_lifetime if wall else console.session_lifetime
    sid, _session = console.sessions.create(account.name, now, lifetime)
    request[ACCOUNT] = account
    await console.audit(request, "login", name, "ok", wall=wall)
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, console, sid, lifetime)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    console.sessions.end(request.cookies.get("vigie_session"))
    await console.audit(request, "logout")
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(response, console)
    raise response


ROUTES = [
    Route("GET", "/", home),
    Route("GET", "/login", login_form, capability=None),
    Route("POST", "/login", login, capability=None),
    Route("POST", "/logout", logout),
]
