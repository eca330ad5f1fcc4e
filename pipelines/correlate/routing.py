"""Notification routing: which routes an alert's labels match, when (time periods), and the Alertmanager webhook
payload; what each route is told about each incident is groups.py's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from vigie.pipelines.correlate.silences import Matcher, matches_all, parse_matchers
from vigie.timeperiods import ALWAYS, NEVER, TimePeriod, contains

if TYPE_CHECKING:
    from vigie.config import RouteConfig

NOTIFICATION_SCHEMA = "notification/1"
DEFAULT_REPEAT = 4 * 3600.0
_MATCH_CACHE = 8192  # distinct label sets whose routes a Router remembers


class RouteError(ValueError):
    """A [routes] entry that cannot be used; the message names the route and key."""


@dataclass(slots=True, frozen=True)
class Route:
    """Where matching alerts are notified, when (time period), how often, and whom to escalate to."""

    name: str
    receiver: str
    matchers: tuple[Matcher, ...] = ()
    timeperiod: str | None = None
    continue_: bool = False
    repeat_interval: float = DEFAULT_REPEAT
    escalate_after: float | None = None
    escalate_to: str | None = None
    send_resolved: bool = True
    webhook: str | None = None  # Alertmanager-compatible receiver URL (delivery is the notifier's job)
    group_wait: float = 0.0  # a new group waits this long for its other members before its first message
    group_interval: float = 300.0  # at most one `updated` per group per this long
    active: str | None = None  # a period outside which the route does not match (the next routes are tried)


def route_from_config(config: RouteConfig) -> Route:
    """A Route from a checked [[routes]] entry (vigie.config validated names, durations and regexes)."""
    matchers = parse_matchers(config.match, f"routes.{config.name}.match") + parse_matchers(
        [{"name": k, "op": "=~", "value": v} for k, v in config.match_re.items()], f"routes.{config.name}.match_re"
    )
    return Route(
        name=config.name,
        receiver=config.name,
        matchers=matchers,
        # `active` with hold_until_active is what `timeperiod` always was: match, then wait for the period
        timeperiod=(config.active if config.hold_until_active else None)
        or (None if config.timeperiod == "24x7" else config.timeperiod),  # 24x7: no period to evaluate
        active=None if config.hold_until_active else config.active,
        continue_=config.continue_matching,
        repeat_interval=config.repeat_interval,
        escalate_after=config.escalate_after,
        escalate_to=config.escalate_to,
        send_resolved=config.send_resolved,
        webhook=config.webhook,
        group_wait=config.group_wait,
        group_interval=config.group_interval,
    )


class Router:
    """An ordered route list: the first match wins unless it says continue (Alertmanager's flat tree)."""

    __slots__ = ("routes", "by_name", "periods", "_matched", "_timed")

    def __init__(self, routes: list[Route], periods: dict[str, TimePeriod] | None = None) -> None:
        self.routes = tuple(routes)
        self.by_name = {r.name: r for r in routes}
        self.periods = {"24x7": ALWAYS, "never": NEVER, **(periods or {})}
        # labels -> matching routes: matching is a pure function of the labels and alerts repeat them
        self._matched: dict[tuple[Any, ...], tuple[Route, ...]] = {}
        self._timed = tuple(r for r in routes if r.active is not None)  # their activity is part of the cache key
        for r in routes:
            if r.active is not None and r.active not in self.periods:
                raise RouteError(f"routes.{r.name}.active: unknown time period {r.active!r}")
            if r.timeperiod and r.timeperiod not in self.periods:
                raise RouteError(f"routes.{r.name}.timeperiod: unknown time period {r.timeperiod!r}")
            if r.escalate_to and r.escalate_to not in self.by_name:
                raise RouteError(f"routes.{r.name}.escalate_to: unknown route {r.escalate_to!r}")

    @classmethod
    def from_config(cls, routes: list[RouteConfig], periods: dict[str, TimePeriod] | None = None) -> Router:
        """From the checked [[routes]] and the parsed [timeperiods] (Config.routes, Config.timeperiods)."""
        return cls([route_from_config(r) for r in routes], periods)

    def match(self, labels: dict[str, str], now: float | None = None) -> list[Route]:
        """The routes of an alert's labels at `now`: a route with `active` matches only inside its period."""
        key: tuple[Any, ...] = tuple(labels.items())
        if self._timed:
            if now is None:
                raise ValueError("Router.match: routes with `active` need the time")
            key += tuple(contains(self.periods[r.active], now) for r in self._timed)  # type: ignore[index]
        try:
            found = self._matched.get(key)
        except TypeError:  # an unhashable label value: match without the cache
            return list(self._match(labels, now))
        if found is None:
            if len(self._matched) >= _MATCH_CACHE:
                self._matched.clear()
            found = self._matched[key] = self._match(labels, now)
        return list(found)

    def _match(self, labels: dict[str, str], now: float | None) -> tuple[Route, ...]:
        out = []
        for route in self.routes:
            if route.active is not None and not contains(self.periods[route.active], now):  # type: ignore[arg-type]
                continue
            if matches_all(route.matchers, labels):
                out.append(route)
                if not route.continue_:
                    break
        return tuple(out)

    def active(self, route: Route, now: float) -> bool:
        if not route.timeperiod:
            return True
        return contains(self.periods.get(route.timeperiod, ALWAYS), now)


def _am_fingerprint(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def alertmanager_webhook_payload(
    alerts: list[dict[str, Any]],
    route: Route | str,
    *,
    external_url: str = "",
    group_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Alertmanager webhook body (version 4) for alert dicts, so existing receivers work unchanged."""
    name = route if isinstance(route, str) else route.name
    receiver = route if isinstance(route, str) else route.receiver
    items = []
    for a in alerts:
        labels = {
            "alertname": a.get("rule") or a.get("component") or "vigie",
            "host": a["host"],
            "site": a["site"],
            "component": a.get("component") or "",
            "severity": a["severity"],
        }
        if a.get("service"):
            labels["service"] = a["service"]
        annotations = {"summary": a.get("summary") or ""}
        if a.get("incident_id"):
            annotations["incident_id"] = a["incident_id"]
        resolved = a["status"] == "resolved"
        items.append(
            {
                "status": "resolved" if resolved else "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": a["first_seen"],
                "endsAt": (a.get("resolved_at") or a["last_seen"]) if resolved else "0001-01-01T00:00:00Z",
                "generatorURL": f"{external_url.rstrip('/')}/alerts/{quote(a['fingerprint'], safe='')}"
                if external_url
                else "",
                "fingerprint": _am_fingerprint(a["fingerprint"]),
            }
        )

    def common(key: str) -> dict[str, str]:
        if not items:
            return {}
        first = items[0][key]
        return {k: v for k, v in first.items() if all(i[key].get(k) == v for i in items[1:])}

    group = dict(group_labels) if group_labels is not None else {"route": name}
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(group.items()))
    return {
        "version": "4",
        "groupKey": f'{{}}/{{route="{name}"}}:{{{inner}}}',
        "truncatedAlerts": 0,
        "status": "firing" if any(i["status"] == "firing" for i in items) else "resolved",
        "receiver": receiver,
        "groupLabels": group,
        "commonLabels": common("labels"),
        "commonAnnotations": common("annotations"),
        "externalURL": external_url,
        "alerts": items,
    }
