"""On duty: which routes receive notifications now, who is behind each (receivers, never their secrets), and
the next change of duty.

Routes are evaluated as the correlation worker's Router does (routing.route_from_config: `active` without
hold skips the route outside its period, `timeperiod` or `active` with hold_until_active match and hold the
message until the period), so the page cannot disagree with the routing it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from vigie.console.server import CONSOLE, NavItem, Route, T, render
from vigie.pipelines.correlate.routing import Route as RoutingRoute
from vigie.pipelines.correlate.routing import route_from_config
from vigie.timeperiods import ALWAYS, NEVER, TimePeriod, contains, next_end, next_start

# A period may flip without changing who receives (a route behind a catch-all): the search for the next
# visible change looks at this many flips before giving up (a week of two shifts a day is 14).
MAX_FLIPS = 64
SECRET_KEYS = ("password_env", "bearer_token_env", "basic_password_env")


@dataclass(frozen=True)
class ReceiverView:
    name: str
    kind: str
    targets: tuple[str, ...]  # addresses, numbers, or the host of a URL (a URL's path may hold a token)
    secrets: tuple[str, ...]  # environment variable names only


@dataclass(frozen=True)
class RouteView:
    name: str
    matches: tuple[str, ...]  # empty: everything that reaches it
    state: str  # receiving, holding (matches, the message waits for its period), off (outside `active`), shadowed
    active: str | None  # the period outside which the route is skipped
    hold: str | None  # the period the route's messages wait for
    period_text: str
    continues: bool
    receivers: tuple[ReceiverView, ...]
    fallback: ReceiverView | None
    escalate_after: float | None
    escalate_to: str | None


@dataclass(frozen=True)
class Change:
    """The next change of duty: when, the routes that start receiving and those that stop."""

    at: float
    starts: tuple[str, ...]
    stops: tuple[str, ...]


def periods_of(cfg: Any) -> dict[str, TimePeriod]:
    return {"24x7": ALWAYS, "never": NEVER, **cfg.timeperiods}


def route_states(routes: list[RoutingRoute], periods: dict[str, TimePeriod], now: float) -> tuple[str, ...]:
    """Each route's state at `now`, in order: what an alert matching everything would meet."""
    states, shadowed = [], False
    for route in routes:
        if route.active is not None and not contains(periods[route.active], now):
            states.append("off")
            continue
        if shadowed:
            states.append("shadowed")
            continue
        if route.timeperiod and not contains(periods[route.timeperiod], now):
            states.append("holding")
        else:
            states.append("receiving")
        if not route.matchers and not route.continue_:
            shadowed = True  # a catch-all that stops: nothing reaches the routes after it
    return tuple(states)


def _next_flip(period: TimePeriod, after: float) -> float | None:
    return next_end(period, after) if contains(period, after) else next_start(period, after)


def next_change(routes: list[RoutingRoute], periods: dict[str, TimePeriod], now: float) -> Change | None:
    """The first instant after `now` when a route starts or stops receiving (None: duty never changes)."""
    timed = {p for r in routes for p in (r.active, r.timeperiod) if p}
    before = route_states(routes, periods, now)
    t = now
    for _ in range(MAX_FLIPS):
        flips = [f for f in (_next_flip(periods[name], t) for name in timed) if f is not None and f > t]
        if not flips:
            return None
        t = min(flips)
        after = route_states(routes, periods, t)
        if [a == "receiving" for a in after] != [b == "receiving" for b in before]:
            starts = tuple(r.name for r, a, b in zip(routes, after, before, strict=True)
                           if a == "receiving" and b != "receiving")
            stops = tuple(r.name for r, a, b in zip(routes, after, before, strict=True)
                          if b == "receiving" and a != "receiving")
            return Change(t, starts, stops)
    return None


def receiver_view(name: str, rc: Any) -> ReceiverView:
    """What a receiver sends to, without anything secret: a URL shows only its host."""
    if rc.type in ("email", "sms"):
        targets = tuple(rc.to)
    else:
        targets = (urlsplit(rc.url).hostname or "",) if rc.url else ()
    secrets = tuple(getattr(rc, key) for key in SECRET_KEYS if getattr(rc, key))
    return ReceiverView(name, rc.type, targets, secrets)


def period_text(period: TimePeriod | None) -> str:
    """'monday..saturday 06:00-22:00 (Europe/Paris)', from the period as configured."""
    if period is None:
        return ""
    spec = period.to_dict()
    parts = [f"{key} {value}" for key, value in spec.items()
             if key not in ("timezone", "tz", "alias", "exclude") and value is not None]
    if spec.get("exclude"):
        excluded = spec["exclude"]
        parts.append("except " + (excluded if isinstance(excluded, str) else ", ".join(excluded)))
    text = "; ".join(parts) or period.alias
    return f"{text} ({period.timezone})" if text else ""


def duty_view(cfg: Any, now: float) -> tuple[list[RouteView], Change | None]:
    """The routes of the configuration with their state at `now`, and the next change of duty."""
    periods = periods_of(cfg)
    routes = [route_from_config(rc) for rc in cfg.routes]
    states = route_states(routes, periods, now)
    views = []
    for rc, route, state in zip(cfg.routes, routes, states, strict=True):
        receivers = [receiver_view(n, cfg.receivers[n]) for n in rc.receivers if n in cfg.receivers]
        if rc.webhook:
            receivers.append(ReceiverView(rc.name, "webhook", (urlsplit(rc.webhook).hostname or "",), ()))
        fallback = receiver_view(rc.fallback, cfg.receivers[rc.fallback]) if rc.fallback in cfg.receivers else None
        period_name = route.active or route.timeperiod
        views.append(RouteView(
            name=rc.name,
            matches=tuple(f"{k}={v}" for k, v in rc.match.items()) + tuple(f"{k}=~{v}" for k, v in rc.match_re.items()),
            state=state, active=route.active, hold=route.timeperiod,
            period_text=period_text(periods.get(period_name)) if period_name else "",
            continues=rc.continue_matching, receivers=tuple(receivers), fallback=fallback,
            escalate_after=rc.escalate_after, escalate_to=rc.escalate_to))
    return views, next_change(routes, periods, now)


async def duty(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if console.cfg is None:
        return render(request, "duty.html", routes=[], change=None, now=console.clock(),
                      timezone=console.timezone.key, note=request[T].gettext("No configuration loaded."))
    now = console.clock()
    routes, change = duty_view(console.cfg, now)
    return render(request, "duty.html", routes=routes, change=change, now=now, timezone=console.timezone.key,
                  note="")


ROUTES = [Route("GET", "/duty", duty)]
NAV = [NavItem("/duty", "On duty")]
