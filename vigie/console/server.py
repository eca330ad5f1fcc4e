"""The console's HTTP side (aiohttp): sessions, roles, CSRF, security headers, page rendering, audit.

Every route is declared by a page module (pages/) with the capability it needs; this module alone
decides who may reach it. Nothing here answers a 500 with a traceback: an unexpected error is logged
and the person sees a short error page.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from vigie.console.accounts import Account, AccountStore
from vigie.console.i18n import Translator, negotiate
from vigie.console.live import close_hub
from vigie.console.sessions import LoginLimiter, SessionStore, csrf_ok
from vigie.console.state import ConsoleState
from vigie.schemas.codec import rfc3339

log = logging.getLogger("vigie.console")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COOKIE = "vigie_session"
_HERE = Path(__file__).parent
# No inline script or style: a page that shows attacker-controlled text (syslog lines, trap varbinds)
# cannot run it even if escaping were ever missed.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@dataclass(frozen=True)
class Route:
    """One URL of a page module: who may reach it (a capability of accounts.CAPABILITIES, or None: anyone)."""

    method: str
    path: str
    handler: Handler
    capability: str | None = "view"
    name: str | None = None


@dataclass(frozen=True)
class NavItem:
    """A link of the top bar, shown to those who have its capability."""

    path: str
    label: str  # English source of the message (translated when rendered)
    capability: str = "view"


@dataclass
class Console:
    """Everything the pages share: held by the aiohttp app as app[CONSOLE]."""

    accounts: AccountStore
    sessions: SessionStore
    limiter: LoginLimiter
    state: ConsoleState
    timezone: ZoneInfo
    session_lifetime: float
    wall_session_lifetime: float
    secure_cookies: bool = False
    trusted_user_header: str | None = None
    trusted_proxies: frozenset[str] = frozenset()
    writer: Any = None  # feed.Writer: control and audit records (None in tests that need no Kafka)
    cfg: Any = None  # vigie.config.Config, for pages that show configuration (routes, receivers)
    extras: dict[str, Any] = field(default_factory=dict)  # what a page module keeps (metrics source, archive root)
    clock: Callable[[], float] = time.time
    nav: list[NavItem] = field(default_factory=list)
    templates: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(_HERE / "templates")), autoescape=True,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    async def audit(self, request: web.Request, action: str, target: str = "", outcome: str = "ok",
                    **details: Any) -> None:
        """One console-audit/1 record on the audit topic: who did what, when, from where, with what result."""
        entry = audit_record(user_of(request), action, target, outcome, request.remote or "", self.clock(), **details)
        if self.writer is None:
            log.info("audit (no writer): %s", entry)
            return
        await asyncio.get_running_loop().run_in_executor(None, self.writer.audit, entry)


CONSOLE: web.AppKey[Console] = web.AppKey("console", Console)
# What the guard settles for each request, read by the pages through these keys.
T: web.RequestKey[Translator] = web.RequestKey("t", Translator)
ACCOUNT: web.RequestKey[Account | None] = web.RequestKey("account", object)  # None: not logged in
SESSION: web.RequestKey[Any] = web.RequestKey("session", object)  # sessions.Session or None (proxy login)
CLAIMED_USER: web.RequestKey[str] = web.RequestKey("claimed_user", str)  # the name typed or sent by the proxy


def audit_record(user: str, action: str, target: str, outcome: str, address: str, now: float,
                 **details: Any) -> dict[str, Any]:
    return {"schema": "console-audit/1", "at": rfc3339(now), "user": user, "via": "console",
            "host": socket.gethostname(), "address": address, "action": action, "target": target,
            "outcome": outcome, **details}


def user_of(request: web.Request) -> str:
    account: Account | None = request.get(ACCOUNT)
    return account.name if account is not None else str(request.get(CLAIMED_USER) or "-")


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    console = request.app[CONSOLE]
    t: Translator = request[T]
    account: Account | None = request.get(ACCOUNT)
    session = request.get(SESSION)
    nav = [item for item in console.nav if account is not None and account.can(item.capability)]
    body = console.templates.get_template(template).render(
        _=t.gettext, t=t, lang=t.language, account=account, csrf=session.csrf if session else "",
        nav=nav, path=request.path, **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


def _session_id(request: web.Request) -> str | None:
    return request.cookies.get(COOKIE)


def _proxy_account(request: web.Request, console: Console) -> Account | None:
    """The account named by a trusted reverse proxy's header (SSO), if configured and from a trusted peer."""
    header = console.trusted_user_header
    if not header or request.remote not in console.trusted_proxies:
        return None
    name = request.headers.get(header, "").strip()
    if not name:
        return None
    request[CLAIMED_USER] = name
    account = console.accounts.get(name)
    return account if account is not None and not account.disabled else None


def _same_origin(request: web.Request) -> bool:
    """A state-changing request must come from a page of this console (Origin, else Referer)."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        return False
    expected = f"{request.scheme}://{request.host}"
    return origin == expected or origin.startswith(expected + "/")


def build_app(console: Console, routes: list[Route]) -> web.Application:
    """The aiohttp application: the pages' routes behind the middleware that guards them."""
    capability_of: dict[tuple[str, str], str | None] = {}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[T] = Translator(negotiate(request.headers.get("Accept-Language")), console.timezone)
        now = console.clock()
        sid = _session_id(request)
        session = console.sessions.get(sid, now)
        account = console.accounts.get(session.user) if session else None
        if account is not None and (account.disabled or account.changed_at > session.created_at):
            account, session = None, None  # disabled, or its password or role changed since this login
        if account is None:
            account = _proxy_account(request, console)
        request[SESSION], request[ACCOUNT] = session, account
        info = request.match_info.route.resource
        key = (request.method if request.method != "HEAD" else "GET", info.canonical if info else "")
        capability = capability_of.get(key, "view") if info is not None else None
        try:
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                # Cross-site requests are refused before anything else: SameSite=Strict keeps the cookie
                # away, the Origin check and the per-session token stop the rest.
                if not _same_origin(request):
                    return error_page(request, 403, request[T].gettext("Cross-site request refused."))
                if capability is not None and session is not None:
                    form = await request.post()
                    if not csrf_ok(session, str(form.get("csrf", "")) or request.headers.get("X-CSRF-Token")):
                        return error_page(request, 403, request[T].gettext("Expired form: reload the page and try again."))
            if capability is not None:
                if account is None:
                    if request.method == "GET" and "text/event-stream" not in request.headers.get("Accept", ""):
                        raise web.HTTPSeeOther(f"/login?next={request.rel_url}")
                    return error_page(request, 401, request[T].gettext("Log in first."))
                if not account.can(capability):
                    return error_page(request, 403, request[T].gettext("Your role does not give access to this page."))
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status == 404 and account is not None:
                return error_page(request, 404, request[T].gettext("No such page."))
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            log.exception("console: %s %s failed", request.method, request.path)
            return error_page(request, 500, request[T].gettext("Something went wrong; it has been logged."))
        return response

    def secure(headers: Any, content_type: str) -> None:
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if content_type == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        if console.secure_cookies:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")

    @web.middleware
    async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # redirects (after a login, a form) carry them too
            secure(exc.headers, exc.content_type)
            raise
        secure(response.headers, response.content_type)
        return response

    app = web.Application(middlewares=[headers, guard], client_max_size=1024 * 1024)
    app[CONSOLE] = console
    app.on_shutdown.append(lambda _app: close_hub(console.extras))  # live streams end with the console
    for route in routes:
        resource = app.router.add_route(route.method, route.path, route.handler, name=route.name)
        capability_of[(route.method, resource.resource.canonical)] = route.capability
    app.router.add_static("/static/", _HERE / "static", append_version=True)
    capability_of[("GET", "/static")] = None
    return app


def set_session_cookie(response: web.StreamResponse, console: Console, sid: str, lifetime: float) -> None:
    response.set_cookie(COOKIE, sid, max_age=int(lifetime), path="/", httponly=True, samesite="Strict",
                        secure=console.secure_cookies)


def clear_session_cookie(response: web.StreamResponse, console: Console) -> None:
    response.del_cookie(COOKIE, path="/")
