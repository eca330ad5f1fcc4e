"""Notification groups: people are paged per incident, not per alert (Alertmanager's grouping).

A group is an incident (key "incident:<id>") or an alert outside any incident (key "alert:<fingerprint>").
Its *lead* members are the alerts that are a problem by themselves: firing, hard, not flapping, suppressed by
nothing. The routes of a group are those its lead members match; a message lists the group's *shown*
members: the lead ones plus those suppressed by the group's own incident (its symptoms), so a trap, a syslog
line and a check result about one interface, members of one incident, make one message.

Per route, as Alertmanager does it:
- `new` once the group has had a lead member for `group_wait` (and the route's time period is active);
- `updated` when the group grew (a member shown for the first time, or a severity above any shown before),
  at most once per `group_interval`;
- `repeat` after `repeat_interval` without a message, unless every lead member is acknowledged;
- `escalated` to `escalate_to` when not acknowledged `escalate_after` the first message;
- `resolved` when no member fails any more (to the routes that were told, if they send_resolved), no sooner
  than `group_interval` after the previous message: a problem that comes back within it is an `updated`, not a
  `resolved` then a `new` (Alertmanager's pacing; Nagios and Icinga pace the same way with their notification
  interval: one notification per state change at most per interval, see docs/configuration.md).
A group whose members still fail but none leads (in maintenance, silenced, soft again) is dormant: nothing is
said until a member leads again or all recover. Each member that starts or stops flapping is told to the
routes it matches, as `flapping_start` and `flapping_stop`.

Routes by time: when the period of a route with `active` opens or closes, every group still failing is routed
again as its members would be at that instant (Alertmanager users expect a route's time interval to decide who
is told *now*, not who was told first). A route that no longer matches hands the group over and is told nothing
more of it (no `updated`, no `resolved`: its people are off duty, as Alertmanager mutes a route outside its
active interval); a route that matches from then on gets the group as a `new`, listing what fails then, its
group_wait counted from when the group first waited on the route it leaves. The next `updated`, `repeat`,
`escalated` and `resolved` go to the route active when they are due. (A `hold_until_active` route keeps
matching: what it holds is released when its period opens, and its `resolved` is told whenever it comes.)

When a maintenance window ends on members that still fail, their group says so once, `maintenance_end`,
listing what still fails (the root cause and the members it suppresses) in place of its `new`; what recovered
during the window is not told.

Counters are kept incrementally (who leads, who is shown, the group's version): the cost of a member update
does not grow with the size of its incident, so a storm of thousands of alerts in one incident stays linear.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import asdict, dataclass, field
from typing import Any

from vigie.pipelines.correlate.alerts import SEVERITY_RANK, AlertState, to_alert
from vigie.pipelines.correlate.routing import NOTIFICATION_SCHEMA, Route, Router
from vigie.schemas.codec import rfc3339
from vigie.timeperiods import ALWAYS, contains, next_end, next_start

NEW, UPDATED, REPEAT, ESCALATED, RESOLVED = "new", "updated", "repeat", "escalated", "resolved"
FLAPPING_START, FLAPPING_STOP, MAINTENANCE_END = "flapping_start", "flapping_stop", "maintenance_end"
MAX_ALERTS = 100  # member alerts carried by one message (lead first); the rest is counted in truncated_alerts
_PERIOD_RECHECK = 3600.0  # a period with no start within the horizon is looked at again this much later


@dataclass(slots=True)
class RouteGroup:
    """What one route was told about one group."""

    lead: dict[str, None] = field(default_factory=dict)  # lead members matching the route
    start: float | None = None  # when the group began to have a lead member here (group_wait counts from it)
    notified: bool = False
    first: float = 0.0  # time of the first message
    last: float = 0.0  # time of the last new/updated/repeat
    version: int = -1  # the group version the last message showed
    seq: int = 0  # messages sent (part of each message id)
    escalated: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RouteGroup:
        return cls(**{**d, "lead": dict.fromkeys(d.get("lead", ()))})


@dataclass(slots=True)
class Group:
    """One incident or lone alert as the notify stage sees it."""

    key: str
    incident_id: str | None
    members: dict[str, None] = field(default_factory=dict)  # every alert of the group
    firing: dict[str, None] = field(default_factory=dict)
    shown: dict[str, None] = field(default_factory=dict)
    leads: dict[str, None] = field(default_factory=dict)
    led: dict[str, None] = field(default_factory=dict)  # members that ever led (listed first)
    summary: dict[str, Any] | None = None  # the incident's last summary (a resolved message still carries it)
    maintenance_end: bool = False  # a maintenance window on members ended: tell what still fails, once
    version: int = 0  # bumped when `shown` or `leads` gain a member, or a severity goes above `rank`
    rank: int = 0  # highest severity rank shown
    routes: dict[str, RouteGroup] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Group:
        return cls(
            key=d["key"],
            incident_id=d.get("incident_id"),
            members=dict.fromkeys(d.get("members", ())),
            firing=dict.fromkeys(d.get("firing", ())),
            shown=dict.fromkeys(d.get("shown", ())),
            leads=dict.fromkeys(d.get("leads", ())),
            led=dict.fromkeys(d.get("led", ())),
            summary=d.get("summary"),
            maintenance_end=bool(d.get("maintenance_end", False)),
            version=int(d.get("version", 0)),
            rank=int(d.get("rank", 0)),
            routes={k: RouteGroup.from_dict(v) for k, v in d.get("routes", {}).items()},
        )


def group_key(a: AlertState) -> str:
    return f"incident:{a.incident_id}" if a.incident_id else f"alert:{a.fingerprint}"


def message_id(route: str, key: str, reason: str, seq: int) -> str:
    """The same for the same logical message when correlate re-produces it (replay after a crash)."""
    return hashlib.sha256(f"{route}\n{key}\n{reason}\n{seq}".encode()).hexdigest()[:32]


def _labels(key: str) -> dict[str, str]:
    """Alertmanager's groupLabels: the label grouped on."""
    kind, _, value = key.partition(":")
    return {"incident_id": value} if kind == "incident" else {"fingerprint": value}


def _leads(a: AlertState) -> bool:
    return a.status == "firing" and a.state_type == "hard" and not a.flapping and a.suppressed_by is None


def _shown(a: AlertState, incident_id: str | None) -> bool:
    if a.status != "firing" or a.state_type != "hard" or a.flapping:
        return False
    s = a.suppressed_by
    return s is None or (incident_id is not None and s.get("kind") == "incident" and s.get("ref") == incident_id)


class Notifier:
    """The groups of one engine, the members' group, and when each group next needs a look."""

    __slots__ = ("router", "groups", "member_of", "flapping", "flap_groups", "_flap_changed", "_maintenance_ended",
                 "_dirty", "_due", "boundary")

    def __init__(self, router: Router) -> None:
        self.router = router
        self.groups: dict[str, Group] = {}
        self.member_of: dict[str, str] = {}
        # per alert, not per group (a flapping alert leaves and rejoins incidents): fingerprint ->
        # {"since": when it started flapping, "routes": the routes told, "key": its group then}
        self.flapping: dict[str, dict[str, Any]] = {}
        self.flap_groups: dict[str, list[str]] = {}  # "route\ngroup key" -> its members flapping, in order
        self._flap_changed: dict[str, None] = {}
        self._maintenance_ended: set[str] = set()
        self._dirty: dict[str, None] = {}
        self._due: list[tuple[float, str]] = []
        # when the period of a route with `active` next opens or closes (groups are routed again then); None: not
        # worked out yet (routes without `active`: never)
        self.boundary: float | None = None

    # --- members -------------------------------------------------------------------------------

    def member(self, a: AlertState, now: float) -> None:
        """Fold an alert's published state into its group (call for every alert the engine publishes)."""
        if not self.router.routes:
            return
        fp = a.fingerprint
        if a.flapping != (fp in self.flapping):
            self._flap_changed[fp] = None
        else:
            self._flap_changed.pop(fp, None)
        key = group_key(a)
        old = self.member_of.get(fp)
        if old is not None and old != key:
            if a.status != "firing":
                key = old  # a recovery is told to the group that heard the problem
            else:
                self._leave(old, fp)
                self._succeed(old, key, a.incident_id)
        g = self.groups.get(key)
        if g is None:
            if a.status != "firing":
                return  # an alert never seen failing here: nothing to say about it
            g = self.groups[key] = Group(key, a.incident_id)
        self.member_of[fp] = key
        g.members[fp] = None
        if fp in self._maintenance_ended:
            self._maintenance_ended.discard(fp)
            g.maintenance_end = a.status == "firing"
        if a.status == "firing":
            g.firing[fp] = None
        else:
            g.firing.pop(fp, None)
        if _shown(a, g.incident_id):
            rank = SEVERITY_RANK.get(a.severity, 0)
            if fp not in g.shown or rank > g.rank:
                g.shown[fp] = None
                g.version += 1
                g.rank = max(g.rank, rank)
        else:
            g.shown.pop(fp, None)
        leads = _leads(a)
        if leads and fp not in g.leads:  # e.g. a symptom left on its own when its parent recovered
            g.leads[fp] = None
            g.led[fp] = None
            g.version += 1
        elif not leads:
            g.leads.pop(fp, None)
        matched = dict.fromkeys(r.name for r in self.router.match(a.labels(), now)) if leads else {}  # route order
        for name in matched:
            g.routes.setdefault(name, RouteGroup()).lead[fp] = None
        for name, rs in g.routes.items():
            if name not in matched:
                rs.lead.pop(fp, None)
        self._dirty[key] = None

    def maintenance_ended(self, fingerprints: list[str]) -> None:
        """These alerts left a maintenance window still failing (call before publishing them): their groups
        tell it with one maintenance_end message each, listing what still fails, instead of a `new`."""
        self._maintenance_ended.update(fingerprints)

    def _succeed(self, old: str, key: str, incident_id: str | None) -> None:
        """A problem back before its group was told resolved (a new incident for the same failure): the new
        group carries on the old one, so people get an update, not a resolved then a new."""
        og = self.groups.get(old)
        if og is None or og.firing or key in self.groups or not og.routes:
            return
        del self.groups[old]
        og.key, og.incident_id = key, incident_id
        self.groups[key] = og
        for member in og.members:
            self.member_of[member] = key
        self._dirty.pop(old, None)

    def _leave(self, key: str, fp: str) -> None:
        """A failing alert moved to another group (it joined an incident): the old group forgets it, silently
        (its problem goes on in the incident, which tells it)."""
        g = self.groups.get(key)
        if g is None:
            return
        for d in (g.members, g.firing, g.shown, g.leads, g.led):
            d.pop(fp, None)
        for rs in g.routes.values():
            rs.lead.pop(fp, None)
        self._dirty[key] = None

    def _next_boundary(self, now: float) -> float:
        """The next instant a route's `active` period opens or closes (inf: no such route)."""
        nxt = float("inf")
        for name in dict.fromkeys(r.active for r in self.router.routes if r.active is not None):
            period = self.router.periods[name]
            flip = next_end(period, now) if contains(period, now) else next_start(period, now)
            nxt = min(nxt, flip if flip is not None and flip > now else now + _PERIOD_RECHECK)
        return nxt

    def _reroute(self, now: float, alerts: dict[str, AlertState]) -> None:
        """A route's period opened or closed: each failing group goes to the routes its members match now."""
        router = self.router
        for g in self.groups.values():
            if not g.firing or not g.routes:
                continue
            lead: dict[str, dict[str, None]] = {}
            for fp in g.leads:
                a = alerts.get(fp)
                for r in router.match(a.labels(), now) if a is not None else ():
                    lead.setdefault(r.name, {})[fp] = None
            still = {r.name for fp in g.firing if fp in alerts for r in router.match(alerts[fp].labels(), now)}
            starts = []
            for name, rs in list(g.routes.items()):
                if name not in still:  # its period closed, or one before it in the route list opened
                    del g.routes[name]  # handed over: told nothing more
                    if rs.start is not None:
                        starts.append(rs.start)
                else:
                    rs.lead = lead.get(name, {})
            for name, fps in lead.items():
                if name not in g.routes:
                    g.routes[name] = RouteGroup(lead=fps, start=min(starts) if starts else None)
            self._dirty[g.key] = None

    # --- messages ------------------------------------------------------------------------------

    def flush(
        self,
        now: float,
        alerts: dict[str, AlertState],
        incident_summary: Any,
        out: list[dict[str, Any]],
    ) -> None:
        """Messages due at `now` for the groups that changed or whose timer ran out."""
        if self._flap_changed:
            self._tell_flapping(now, alerts, out)
        if self.router.routes and (self.boundary is None or now >= self.boundary):
            if self.boundary is not None:
                self._reroute(now, alerts)
            self.boundary = self._next_boundary(now)
        due = self._due
        while due and due[0][0] <= now:
            self._dirty[heapq.heappop(due)[1]] = None
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, {}
        for key in dirty:
            g = self.groups.get(key)
            if g is not None:
                self._evaluate(g, now, alerts, incident_summary, out)

    def _evaluate(
        self, g: Group, now: float, alerts: dict[str, AlertState], summary_of: Any, out: list[dict[str, Any]]
    ) -> None:
        router = self.router
        next_due = float("inf")

        def send(route: Route, rs: RouteGroup, reason: str, members: list[str] | None = None) -> None:
            out.append(self._message(g, route, rs, reason, now, alerts, summary_of, members))

        for name in list(g.routes):
            rs = g.routes[name]
            route = router.by_name.get(name)
            if route is None:
                del g.routes[name]
                continue
            if not rs.lead:
                rs.start = None
                if not g.firing:
                    if not g.members:  # every member moved on to another group, which tells their end
                        del g.routes[name]
                        continue
                    if rs.notified and route.send_resolved and now < rs.last + route.group_interval:
                        # paced like an update: a problem back within group_interval is no resolved + new
                        next_due = min(next_due, rs.last + route.group_interval)
                        continue
                    if rs.notified and route.send_resolved:
                        send(route, rs, RESOLVED, list(g.members))
                        target = router.by_name.get(route.escalate_to or "")
                        if rs.escalated and target is not None:
                            send(target, rs, RESOLVED, list(g.members))
                    del g.routes[name]
                elif not rs.notified:
                    del g.routes[name]
                continue  # dormant: members still fail, none leads
            if rs.start is None:
                rs.start = now
            if not router.active(route, now):
                period = router.periods.get(route.timeperiod or "24x7", ALWAYS)
                opens = next_start(period, now)
                next_due = min(next_due, opens if opens is not None else now + _PERIOD_RECHECK)
                continue
            if g.maintenance_end:
                send(route, rs, MAINTENANCE_END)
                rs.notified, rs.last, rs.version = True, now, g.version
                rs.first = rs.first or now
                continue
            if not rs.notified:
                if now < rs.start + route.group_wait:
                    next_due = min(next_due, rs.start + route.group_wait)
                    continue
                send(route, rs, NEW)
                rs.notified, rs.first, rs.last, rs.version = True, now, now, g.version
            elif rs.version < g.version:
                if now < rs.last + route.group_interval:
                    next_due = min(next_due, rs.last + route.group_interval)
                    continue
                send(route, rs, UPDATED)
                rs.last, rs.version = now, g.version
            repeat_at = rs.last + route.repeat_interval
            escalate_at = (
                rs.first + route.escalate_after if route.escalate_after is not None and not rs.escalated else None
            )
            if now < repeat_at and (escalate_at is None or now < escalate_at):
                next_due = min(next_due, repeat_at, escalate_at if escalate_at is not None else repeat_at)
                continue  # nothing due: the acknowledgement scan below is only paid when something is
            if all(alerts[fp].acknowledged for fp in rs.lead if fp in alerts):
                continue  # acknowledged: no repeat, no escalation (looked at again when the group changes)
            if now >= repeat_at:
                send(route, rs, REPEAT)
                rs.last = now
            next_due = min(next_due, rs.last + route.repeat_interval)
            if escalate_at is not None:
                target = router.by_name[route.escalate_to]  # type: ignore[index]
                if now < escalate_at:
                    next_due = min(next_due, escalate_at)
                elif router.active(target, now):
                    send(target, rs, ESCALATED)
                    rs.escalated = True
                else:
                    opens = next_start(router.periods.get(target.timeperiod or "24x7", ALWAYS), now)
                    next_due = min(next_due, opens if opens is not None else now + _PERIOD_RECHECK)
        g.maintenance_end = False
        if not g.firing and not g.routes:
            del self.groups[g.key]
            for fp in g.members:
                if self.member_of.get(fp) == g.key:
                    del self.member_of[fp]
        elif next_due != float("inf"):
            heapq.heappush(self._due, (next_due, g.key))
            if len(self._due) > 4 * len(self.groups) + 1024:  # mostly stale entries (a key looked at twice is harmless)
                self._due = sorted(set(self._due))

    def _tell_flapping(self, now: float, alerts: dict[str, AlertState], out: list[dict[str, Any]]) -> None:
        """flapping_start to the routes an alert matches (unless suppressed or out of their period), and
        flapping_stop to the same routes when it stops: a receiver can tell the two apart.

        Told per group and route, like problems: the first member of a group to flap starts it, the last one
        to stop ends it, those in between only join (48 ports of one switch bouncing are two messages).
        """
        router = self.router
        changed, self._flap_changed = self._flap_changed, {}
        started: dict[tuple[str, str], list[str]] = {}
        stopped: dict[tuple[str, str], list[str]] = {}
        for fp in changed:
            a = alerts.get(fp)
            if a is None:
                continue
            if a.flapping and fp not in self.flapping:
                told = [
                    r.name for r in router.match(a.labels(), now) if a.suppressed_by is None and router.active(r, now)
                ]
                key = group_key(a)
                self.flapping[fp] = {"since": now, "routes": told, "key": key}
                for name in told:
                    flapping = self.flap_groups.setdefault(f"{name}\n{key}", [])
                    if not flapping:
                        started.setdefault((name, key), []).append(fp)
                    flapping.append(fp)
            elif not a.flapping and fp in self.flapping:
                was = self.flapping.pop(fp)
                for name in was["routes"]:
                    slot = f"{name}\n{was['key']}"
                    flapping = self.flap_groups.get(slot, [])
                    if fp in flapping:
                        flapping.remove(fp)
                    if not flapping:
                        self.flap_groups.pop(slot, None)
                        stopped.setdefault((name, was["key"]), []).append(fp)
        for reason, told_now in ((FLAPPING_START, started), (FLAPPING_STOP, stopped)):
            for (name, key), fps in told_now.items():
                route = router.by_name.get(name)
                if route is None:
                    continue
                bodies = [to_alert(alerts[fp]) for fp in fps if fp in alerts]
                out.append({
                    "schema": NOTIFICATION_SCHEMA,
                    "id": message_id(name, key, reason, int(self.flapping.get(fps[0], {}).get("since", now) * 1000)),
                    "route": name,
                    "receiver": route.receiver,
                    "reason": reason,
                    "at": rfc3339(now),
                    "alert": bodies[0] if bodies else None,
                    "alerts": bodies,
                    "group": {"key": key, "labels": _labels(key)},
                })

    def _message(
        self,
        g: Group,
        route: Route,
        rs: RouteGroup,
        reason: str,
        now: float,
        alerts: dict[str, AlertState],
        summary_of: Any,
        members: list[str] | None,
    ) -> dict[str, Any]:
        """One `notifications` value (schema notification/1) for a group."""
        rs.seq += 1
        if g.incident_id:
            g.summary = summary_of(g.incident_id) or g.summary
        summary = g.summary
        root_host = summary["root_cause"].get("host") if summary else None
        chosen = members if members is not None else list(g.shown)

        def order(fp: str) -> tuple[int, str]:  # what leads (or led), then the root cause's host, then the rest
            a = alerts.get(fp)
            rank = 0 if fp in rs.lead else 1 if fp in g.led else 2 if a is not None and a.host == root_host else 3
            return (rank, fp)

        ordered = sorted(chosen, key=order)
        bodies = [to_alert(alerts[fp]) for fp in ordered[:MAX_ALERTS] if fp in alerts]
        labels = _labels(g.key)
        value: dict[str, Any] = {
            "schema": NOTIFICATION_SCHEMA,
            "id": message_id(route.name, g.key, reason, rs.seq),
            "route": route.name,
            "receiver": route.receiver,
            "reason": reason,
            "at": rfc3339(now),
            "alert": bodies[0] if bodies else None,
            "alerts": bodies,
            "group": {"key": g.key, "labels": labels},
        }
        if len(ordered) > MAX_ALERTS:
            value["truncated_alerts"] = len(ordered) - MAX_ALERTS
        if summary is not None:
            value["incident"] = summary
        return value

    # --- snapshots -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A copy as plain dicts (the worker's snapshot hands `groups` to orjson as they are instead)."""
        data = {
            "groups": {k: asdict(g) for k, g in self.groups.items()},
            "flapping": {fp: dict(v, routes=list(v["routes"])) for fp, v in self.flapping.items()},
            "flap_groups": {k: list(v) for k, v in self.flap_groups.items()},
        }
        if self.boundary is not None and self.boundary != float("inf"):  # routes with `active` only
            data["boundary"] = self.boundary
        return data

    def load(self, data: dict[str, Any]) -> None:
        self.groups = {k: Group.from_dict(v) for k, v in data.get("groups", {}).items()}
        self.member_of = {fp: k for k, g in self.groups.items() for fp in g.members}
        self.flapping = {
            fp: {"since": v["since"], "routes": list(v["routes"]), "key": v.get("key", f"alert:{fp}")}
            for fp, v in data.get("flapping", {}).items()
        }
        self.flap_groups = {k: list(v) for k, v in data.get("flap_groups", {}).items()}
        self.boundary = data.get("boundary")  # a boundary passed while the worker was down reroutes on the next flush
        self._flap_changed = {}
        self._dirty = dict.fromkeys(self.groups)  # each timer is worked out again on the next call
        self._due = []
