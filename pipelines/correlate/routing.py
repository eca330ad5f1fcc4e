"""Notification routing: routes by labels and time period, with repeats, escalation, flapping and webhooks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from vigie.pipelines.correlate.alerts import AlertState, to_alert
from vigie.pipelines.correlate.silences import Matcher, matches_all, parse_matchers
from vigie.schemas.codec import rfc3339
from vigie.timeperiods import ALWAYS, TimePeriod, contains, parse_duration

NOTIFICATION_SCHEMA = "notification/1"
NEW, ESCALATED, REPEAT, RESOLVED, FLAPPING = "new", "escalated", "repeat", "resolved", "flapping"
DEFAULT_REPEAT = 4 * 3600.0
_MATCH_CACHE = 8192  # distinct label sets whose routes a Router remembers
_ROUTE_KEYS = frozenset(
    {
        "match_re",
        "webhook",
        "receivers",  # delivery keys: read by the notifier (pipelines/notify), not by correlate
        "fallback",
        "name",
        "receiver",
        "match",
        "matchers",
        "timeperiod",
        "continue",
        "repeat_interval",
        "escalate_after",
        "escalate_to",
        "send_resolved",
    }
)


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


def parse_route(spec: dict[str, Any], index: int = 0) -> Route:
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RouteError(f"routes[{index}].name: required, a non-empty string")
    unknown = set(spec) - _ROUTE_KEYS
    if unknown:
        raise RouteError(f"routes.{name}: unknown key(s) {', '.join(sorted(unknown))}")
    where = f"routes.{name}"
    try:
        matchers = parse_matchers(spec.get("matchers", spec.get("match", [])), f"{where}.match")
        match_re = spec.get("match_re", {})
        if not isinstance(match_re, dict):
            raise RouteError(f"{where}.match_re: expected a {{label = regex}} table")
        matchers += parse_matchers(
            [{"name": k, "op": "=~", "value": v} for k, v in match_re.items()], f"{where}.match_re"
        )
        repeat = parse_duration(spec.get("repeat_interval", DEFAULT_REPEAT), f"{where}.repeat_interval")
        escalate_after = spec.get("escalate_after")
        escalate_after = parse_duration(escalate_after, f"{where}.escalate_after") if escalate_after else None
    except ValueError as exc:
        raise RouteError(str(exc)) from None
    if (escalate_after is None) != (spec.get("escalate_to") is None):
        raise RouteError(f"{where}: escalate_after and escalate_to go together")
    return Route(
        name=name,
        receiver=spec.get("receiver", name),
        matchers=matchers,
        timeperiod=spec.get("timeperiod"),
        continue_=bool(spec.get("continue", False)),
        repeat_interval=repeat,
        escalate_after=escalate_after,
        escalate_to=spec.get("escalate_to"),
        send_resolved=bool(spec.get("send_resolved", True)),
        webhook=spec.get("webhook"),
    )


class Router:
    """An ordered route list: the first match wins unless it says continue (Alertmanager's flat tree)."""

    __slots__ = ("routes", "by_name", "periods", "_matched")

    def __init__(self, routes: list[Route], periods: dict[str, TimePeriod] | None = None) -> None:
        self.routes = tuple(routes)
        self.by_name = {r.name: r for r in routes}
        self.periods = dict(periods or {})
        # labels -> matching routes: matching is a pure function of the labels and alerts repeat them
        self._matched: dict[tuple[tuple[str, str], ...], tuple[Route, ...]] = {}
        for r in routes:
            if r.timeperiod and r.timeperiod not in self.periods and r.timeperiod != "24x7":
                raise RouteError(f"routes.{r.name}.timeperiod: unknown time period {r.timeperiod!r}")
            if r.escalate_to and r.escalate_to not in self.by_name:
                raise RouteError(f"routes.{r.name}.escalate_to: unknown route {r.escalate_to!r}")

    @classmethod
    def from_config(
        cls, routes: list[dict[str, Any]] | None, periods: dict[str, TimePeriod] | None = None
    ) -> Router:
        return cls([parse_route(spec, i) for i, spec in enumerate(routes or [])], periods)

    def match(self, labels: dict[str, str]) -> list[Route]:
        key = tuple(labels.items())
        try:
            found = self._matched.get(key)
        except TypeError:  # an unhashable label value: match without the cache
            return list(self._match(labels))
        if found is None:
            if len(self._matched) >= _MATCH_CACHE:
                self._matched.clear()
            found = self._matched[key] = self._match(labels)
        return list(found)

    def _match(self, labels: dict[str, str]) -> tuple[Route, ...]:
        out = []
        for route in self.routes:
            if matches_all(route.matchers, labels):
                out.append(route)
                if not route.continue_:
                    break
        return tuple(out)

    def active(self, route: Route, now: float) -> bool:
        if not route.timeperiod:
            return True
        return contains(self.periods.get(route.timeperiod, ALWAYS), now)


@dataclass(slots=True)
class NotifyState:
    """Per alert: what each route was told and when ({route: {first, last, severity, escalated, flapping}})."""

    routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    due: float = 0.0  # earliest time a repeat or escalation can be due (ticks skip the alert before)

    def to_dict(self) -> dict[str, Any]:
        return {"routes": {k: dict(v) for k, v in self.routes.items()}, "due": self.due}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NotifyState:
        return cls({k: dict(v) for k, v in data.get("routes", {}).items()}, float(data.get("due", 0.0)))


def notification(
    route: Route, reason: str, alert: dict[str, Any], now: float, incident: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One `notifications` value (schema notification/1)."""
    out = {
        "route": route.name,
        "receiver": route.receiver,
        "reason": reason,
        "alert": alert,
        "at": rfc3339(now),
        "schema": NOTIFICATION_SCHEMA,
    }
    if incident is not None:
        out["incident"] = incident
    return out


def notify(
    alert: AlertState,
    state: NotifyState | None,
    now: float,
    router: Router,
    incident: dict[str, Any] | None = None,
    *,
    alert_body: dict[str, Any] | None = None,
) -> tuple[NotifyState, list[dict[str, Any]]]:
    """Notifications due for one alert at `now` (call on every alert update and on ticks).

    `alert_body`: the alert's to_alert() value if the caller has it (notes get a copy, not a rebuild).

    Nagios rules: only hard problems notify; nothing while suppressed (incident, hold-down,
    maintenance, silence) or out of the route's time period (it waits, then notifies); while
    flapping, problem and recovery notifications give way to flapping start/stop ones; an
    acknowledgement stops repeats and escalation; recoveries go to the routes that heard the problem.
    """
    if state is None:
        if (
            alert.status == "resolved"
            or alert.suppressed_by is not None
            or (alert.state_type != "hard" and not alert.flapping)
        ):
            return NotifyState(), []  # nothing was said and nothing is due: skip route matching
        state = NotifyState()
    out: list[dict[str, Any]] = []
    body: dict[str, Any] | None = None

    def send(route: Route, reason: str) -> None:
        nonlocal body
        if body is None:
            if alert_body is not None:
                body = dict(alert_body, sources=list(alert_body["sources"]))
            else:
                body = to_alert(alert)
        out.append(notification(route, reason, body, now, incident))

    if alert.status == "resolved":
        for name, rs in list(state.routes.items()):
            route = router.by_name.get(name)
            if route is None:
                del state.routes[name]
                continue
            if rs.get("flapping") and not alert.flapping:
                send(route, FLAPPING)
                rs["flapping"] = False
            if alert.flapping:
                continue
            if rs.get("notified") and route.send_resolved:
                send(route, RESOLVED)
                if rs.get("escalated") and route.escalate_to in router.by_name:
                    send(router.by_name[route.escalate_to], RESOLVED)
            del state.routes[name]
        return state, out

    if alert.suppressed_by is not None:
        return state, out
    for route in router.match(alert.labels()):
        rs = state.routes.get(route.name)
        if rs is None:
            rs = state.routes[route.name] = {
                "notified": False,
                "first": None,
                "last": None,
                "severity": None,
                "escalated": False,
                "flapping": False,
            }
        in_period = router.active(route, now)
        if alert.flapping != rs["flapping"]:
            if in_period:
                send(route, FLAPPING)
                rs["flapping"] = alert.flapping
            continue
        if alert.flapping or alert.state_type != "hard" or not in_period:
            continue
        if not rs["notified"] or rs["severity"] != alert.severity:
            send(route, NEW)
            rs.update(notified=True, first=rs["first"] or now, last=now, severity=alert.severity)
            continue
        if alert.acknowledged:
            continue
        if now - rs["last"] >= route.repeat_interval:
            send(route, REPEAT)
            rs["last"] = now
        if (
            route.escalate_after is not None
            and not rs["escalated"]
            and now - rs["first"] >= route.escalate_after
        ):
            target = router.by_name[route.escalate_to]  # type: ignore[index]
            if router.active(target, now):
                send(target, ESCALATED)
                rs["escalated"] = True
    state.due = _next_due(state, alert, router, now)
    return state, out


def _next_due(state: NotifyState, alert: AlertState, router: Router, now: float) -> float:
    """When this alert next needs a look: now if something waits (time period, flapping), else its next repeat."""
    due = float("inf")
    for name, rs in state.routes.items():
        route = router.by_name.get(name)
        if route is None:
            continue
        if not rs["notified"] or rs["flapping"] != alert.flapping or rs["severity"] != alert.severity:
            return now
        due = min(due, rs["last"] + route.repeat_interval)
        if route.escalate_after is not None and not rs["escalated"]:
            due = min(due, rs["first"] + route.escalate_after)
    return due if due != float("inf") else now


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
