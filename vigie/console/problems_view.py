"""What the Problems page and the wall show, computed from the console's state: pure (state + filters + now ->
rows), so it is tested without a server and measured without a browser.

Open incidents come first, each with its root cause (the members that are not symptoms) and its other members
folded under it; then the lone alerts (no incident, or one the console does not hold open). Worst first:
severity, then HARD before SOFT, then not handled (acknowledged, in maintenance, silenced or inhibited) before
handled, then the newest. A filter keeps the alerts that pass it; an incident is shown when one of its open
alerts passes (its other members are not shown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

SEVERITY_RANK = {"critical": 0, "unknown": 1, "warning": 2, "info": 3, "ok": 4}
STATES = ("hard", "soft")
# labels -> the names of the routes an alert of those labels goes to at `now` (the pipelines' Router)
RouteNames = Callable[[dict[str, str], float], list[str]]


@dataclass(frozen=True)
class Filters:
    """The page's GET parameters; a route that is not configured or an unknown state is dropped."""

    site: str = ""
    route: str = ""
    state: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str], routes: Iterable[str] = ()) -> Filters:
        site, route, state = (str(query.get(k, "")).strip() for k in ("site", "route", "state"))
        # any site is kept (a wall set to a site with no problem today must not show every site)
        return cls(site=site[:200], route=route if route in set(routes) else "",
                   state=state.lower() if state.lower() in STATES else "")

    @property
    def active(self) -> bool:
        return bool(self.site or self.route or self.state)

    def query(self, **changes: str) -> str:
        """The query string of these filters with some changed ("" drops one): what links carry."""
        values = replace(self, **changes) if changes else self
        return urlencode([(k, v) for k, v in (("site", values.site), ("route", values.route),
                                              ("state", values.state)) if v])


@dataclass(frozen=True, slots=True)
class Row:
    """One open alert as a line of the table."""

    fingerprint: str
    severity: str
    site: str
    host: str
    component: str
    summary: str
    state: str  # HARD or SOFT
    since: str  # first_seen, RFC 3339 (the template shows it in local time)
    count: int
    acked_by: str  # "" when not acknowledged
    suppressed: str  # "", "maintenance", "silence" or "inhibited"
    suppressed_ref: str
    flapping: bool
    incident_id: str

    @property
    def handled(self) -> bool:
        return bool(self.acked_by or self.suppressed)


@dataclass
class IncidentGroup:
    """An open incident: its root-cause rows shown, its other members folded."""

    id: str
    severity: str
    site: str
    root_host: str
    root_component: str
    reason: str
    opened_at: str
    roots: list[Row] = field(default_factory=list)
    members: list[Row] = field(default_factory=list)

    @property
    def suppressed_count(self) -> int:
        return sum(1 for r in self.members if r.suppressed)


@dataclass
class ProblemsView:
    incidents: list[IncidentGroup]
    lone: list[Row]
    filters: Filters
    sites: list[str]
    routes: list[str]
    shown: int  # alerts in the view
    total: int  # open alerts in the console
    by_severity: dict[str, int]  # shown alerts per severity (the wall's counters)


def row_of(alert: Mapping[str, Any]) -> Row:
    ack = alert.get("acknowledged")
    suppressed = alert.get("suppressed_by")
    kind = str(suppressed.get("kind") or "") if isinstance(suppressed, dict) else ""
    return Row(
        fingerprint=str(alert.get("fingerprint", "")), severity=str(alert.get("severity", "unknown")),
        site=str(alert.get("site") or ""), host=str(alert.get("host") or ""),
        component=str(alert.get("component") or ""), summary=str(alert.get("summary") or ""),
        state="SOFT" if str(alert.get("state_type", "hard")).lower() == "soft" else "HARD",
        since=str(alert.get("first_seen") or ""), count=_count(alert.get("count")),
        acked_by=str(ack.get("author") or "?") if isinstance(ack, dict) else "",
        suppressed=kind, suppressed_ref=str(suppressed.get("ref") or "") if kind else "",
        flapping=bool(alert.get("flapping")), incident_id=str(alert.get("incident_id") or ""))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


class RowMemo:
    """row_of remembered per alert value: ConsoleState replaces an alert's dict when it changes, so the same
    dict object is the same row. The dict is kept with its row, so its id cannot be reused meanwhile; rows of
    alerts gone are dropped by the next `prune`."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[Mapping[str, Any], Row]] = {}

    def __call__(self, alert: Mapping[str, Any]) -> Row:
        held = self._rows.get(id(alert))
        if held is not None and held[0] is alert:
            return held[1]
        row = row_of(alert)
        self._rows[id(alert)] = (alert, row)
        return row

    def prune(self, alerts: Mapping[str, Mapping[str, Any]]) -> None:
        if len(self._rows) > 2 * len(alerts) + 1000:
            live = {id(a) for a in alerts.values()}
            self._rows = {k: v for k, v in self._rows.items() if k in live}


def _worst_first(row: Row) -> tuple[Any, ...]:
    # the newest first among equals: a negated RFC 3339 string cannot sort, so sort twice (stable) below
    return (SEVERITY_RANK.get(row.severity, 9), row.state != "HARD", row.handled)


def _sort(rows: list[Row]) -> list[Row]:
    rows.sort(key=lambda r: (r.since, r.fingerprint), reverse=True)
    rows.sort(key=_worst_first)
    return rows


def labels_of(alert: Mapping[str, Any]) -> dict[str, str]:
    """The labels routes match on, as the correlate stage builds them (AlertState.labels): alert/1 has no
    `kind`, its first source is that kind."""
    sources = alert.get("sources") or []
    out = {"host": str(alert.get("host") or ""), "site": str(alert.get("site") or ""),
           "component": str(alert.get("component") or ""), "severity": str(alert.get("severity") or ""),
           "kind": str(sources[0]) if sources else ""}
    if alert.get("service"):
        out["service"] = str(alert["service"])
    if alert.get("rule"):
        out["alertname"] = str(alert["rule"])
    return out


def problems_view(alerts: Mapping[str, Mapping[str, Any]], incidents: Mapping[str, Mapping[str, Any]],
                  filters: Filters, now: float, route_names: RouteNames | None = None,
                  routes: Iterable[str] = (), make_row: Callable[[Mapping[str, Any]], Row] | None = None) -> ProblemsView:
    """The Problems page for the console's alerts and incidents (ConsoleState tables) under `filters`;
    `make_row` may remember rows (RowMemo) since most alerts are unchanged from one rendering to the next."""
    make_row = make_row or row_of
    # a value that is not an object (a foreign producer on the topic) is not a problem to show, nor a crash
    open_alerts = [a for a in alerts.values() if isinstance(a, dict) and a.get("status") != "resolved"]
    open_incidents = {i: inc for i, inc in incidents.items() if isinstance(inc, dict) and inc.get("status") == "open"}
    sites = sorted(({str(a.get("site") or "") for a in open_alerts}
                    | {str(inc.get("site") or "") for inc in open_incidents.values()} | {filters.site}) - {""})

    def passes(alert: Mapping[str, Any]) -> bool:
        if filters.site and alert.get("site") != filters.site:
            return False
        if filters.state and str(alert.get("state_type", "hard")).lower() != filters.state:
            return False
        if filters.route:
            return route_names is not None and filters.route in route_names(labels_of(alert), now)
        return True

    members: dict[str, list[Row]] = {}
    lone: list[Row] = []
    counts = dict.fromkeys(SEVERITY_RANK, 0)
    for alert in open_alerts:
        if not passes(alert):
            continue
        row = make_row(alert)
        counts[row.severity] = counts.get(row.severity, 0) + 1
        if row.incident_id in open_incidents:
            members.setdefault(row.incident_id, []).append(row)
        else:
            lone.append(row)

    groups = []
    for incident_id, incident in open_incidents.items():
        rows = members.get(incident_id, [])
        if not rows and (filters.route or filters.state or (filters.site and incident.get("site") != filters.site)):
            continue
        groups.append(_group(incident_id, incident, _sort(rows)))
    groups.sort(key=lambda g: g.opened_at, reverse=True)
    groups.sort(key=_group_rank)
    return ProblemsView(incidents=groups, lone=_sort(lone), filters=filters, sites=sites, routes=list(routes),
                        shown=sum(counts.values()), total=len(open_alerts), by_severity=counts)


def _group_rank(group: IncidentGroup) -> tuple[Any, ...]:
    """An incident ranks as its worst shown alert (its own severity when none is held open)."""
    rows = group.roots + group.members
    return min(map(_worst_first, rows)) if rows else (SEVERITY_RANK.get(group.severity, 9), True, True)


def _group(incident_id: str, incident: Mapping[str, Any], rows: list[Row]) -> IncidentGroup:
    """Root-cause rows first: members not listed as symptoms (the correlate stage's `symptoms`), else those
    that are not suppressed, else the worst one."""
    cause = incident.get("root_cause")
    cause = cause if isinstance(cause, dict) else {}
    symptoms = incident.get("symptoms")
    if isinstance(symptoms, list):
        symptom_set = set(symptoms)
        roots = [r for r in rows if r.fingerprint not in symptom_set]
    else:
        roots = [r for r in rows if not r.suppressed]
    if not roots and rows:
        roots = rows[:1]
    root_set = {r.fingerprint for r in roots}
    return IncidentGroup(
        id=incident_id, severity=str(incident.get("severity") or "unknown"), site=str(incident.get("site") or ""),
        root_host=str(cause.get("host") or ""), root_component=str(cause.get("component") or ""),
        reason=str(cause.get("reason") or ""), opened_at=str(incident.get("opened_at") or ""),
        roots=roots, members=[r for r in rows if r.fingerprint not in root_set])
