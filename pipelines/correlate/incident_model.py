"""The incident model: incidents, their member counters, the stage's state, and how they serialise.

What grouping (grouping.py) and topology suppression (inhibit.py) change, and what the engine
snapshots and publishes (to_dict/from_dict, the `incidents` topic value, a notification's summary).
"""

from __future__ import annotations

import hashlib
import time
from bisect import insort
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigie.pipelines.correlate.alerts import SEVERITY_RANK, AlertState
from vigie.pipelines.correlate.topology import Inventory
from vigie.schemas.codec import rfc3339

if TYPE_CHECKING:
    from vigie.config import CorrelationConfig

INCIDENT_SCHEMA = "incident/1"
CAUSE, SYMPTOM = "cause", "symptom"
LIVENESS, LINK = "liveness", "link"
# check services whose failure means the host itself is down (like a failed host check)
LIVENESS_SERVICES = frozenset({"PING", "ping", "icmp", "check_ping", "host-alive"})


@dataclass(slots=True, frozen=True)
class IncidentConfig:
    """Tunables of the [correlation] table that the incident stage uses."""

    window: float = 120.0  # alerts of one host within this time of the incident's last activity join it
    hold_down: float = 30.0  # a host behind parents waits this long for a parent problem to show up
    liveness_services: frozenset[str] = LIVENESS_SERVICES
    max_explain: int = 500

    @classmethod
    def from_config(cls, config: CorrelationConfig) -> IncidentConfig:
        """From the checked [correlation] section (vigie.config validated it)."""
        return cls(window=config.incident_window, hold_down=config.hold_down)


DEFAULT_CONFIG = IncidentConfig()


@dataclass(slots=True)
class Incident:
    """One problem as people see it: root cause, member alerts (causes and symptoms) and why."""

    id: str
    site: str
    opened_at: float
    updated_at: float
    last_activity: float
    status: str = "open"
    resolved_at: float | None = None
    severity: str = "warning"
    root_cause: dict[str, Any] = field(default_factory=dict)
    # fingerprint -> {host, site, component, kind, category, severity, summary, role, status}
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    explain: list[dict[str, Any]] = field(default_factory=list)
    merged_into: str | None = None
    # derived from members, not state: rebuilt on demand after from_dict (see MemberCounters)
    _counters: MemberCounters | None = field(default=None, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "last_activity": self.last_activity,
            "status": self.status,
            "resolved_at": self.resolved_at,
            "severity": self.severity,
            "root_cause": dict(self.root_cause),
            "members": {k: dict(v) for k, v in self.members.items()},
            "explain": list(self.explain),
            "merged_into": self.merged_into,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Incident:
        return cls(**data)

    def summary(self) -> dict[str, Any]:
        """What a notification carries of its incident: identity, state, root cause and sizes, not the member lists.

        The full value is on the `incidents` topic under the same id; embedding it in every notification made
        each note of a storm as large as the incident (thousands of fingerprints), O(n²) over the storm.
        """
        counters = counters_of(self)
        return {
            "id": self.id,
            "status": self.status,
            "opened_at": rfc3339(self.opened_at),
            "updated_at": rfc3339(self.updated_at),
            "severity": self.severity,
            "site": self.site,
            "root_cause": dict(self.root_cause),
            "alert_count": counters.n,
            "symptom_count": counters.n_sym,
            "host_count": len(counters.hosts),
            "merged_into": self.merged_into,
        }

    def to_incident(self) -> dict[str, Any]:
        """The `incidents` topic value (schema incident/1); fresh containers, the member scans cached."""
        counters = counters_of(self)
        if counters.lists_ver != counters.ver:
            members = self.members
            counters.lists = (
                list(members),
                [fp for fp, m in members.items() if m["role"] == SYMPTOM],
                sorted(counters.hosts),
            )
            counters.lists_ver = counters.ver
        alerts, symptoms, hosts = counters.lists
        return {
            "id": self.id,
            "status": self.status,
            "opened_at": rfc3339(self.opened_at),
            "updated_at": rfc3339(self.updated_at),
            "resolved_at": rfc3339(self.resolved_at) if self.resolved_at is not None else None,
            "severity": self.severity,
            "site": self.site,
            "root_cause": dict(self.root_cause),
            "alerts": list(alerts),
            "symptoms": list(symptoms),
            "hosts": list(hosts),
            "merged_into": self.merged_into,
            "explain": list(self.explain),
            "schema": INCIDENT_SCHEMA,
        }


def _count(counts: dict[str, int], key: str, delta: int) -> None:
    n = counts.get(key, 0) + delta
    if n:
        counts[key] = n
    else:
        del counts[key]


class MemberCounters:
    """What refresh, close and to_incident need from an incident's members, kept as counters, not rescans.

    A storm puts hundreds of alerts in one incident and every status flip used to rescan them all. The
    functions below that change members (put_member, pop_member, set_member_status, update_member) keep
    this up to date;
    `ver` changes with membership or roles (the alert lists), `cause_ver` with the causes (the root).
    """

    __slots__ = (
        "n",
        "n_open",
        "sev_cause",
        "sev_firing",
        "sev_all",
        "hosts",
        "cause_hosts",
        "sym_hosts",
        "n_sym",
        "causes",
        "ver",
        "cause_ver",
        "lists",
        "lists_ver",
        "core",
        "core_key",
    )

    def __init__(self, members: dict[str, dict[str, Any]]) -> None:
        self.n = self.n_open = self.n_sym = 0
        self.sev_cause: dict[str, int] = {}  # firing causes by severity
        self.sev_firing: dict[str, int] = {}  # firing members by severity
        self.sev_all: dict[str, int] = {}  # all members by severity
        self.hosts: dict[str, int] = {}  # members per host
        self.cause_hosts: dict[str, int] = {}  # causes per host
        self.sym_hosts: dict[str, int] = {}  # symptoms per host
        self.causes: dict[str, None] = {}  # cause fingerprints in members order
        self.ver = self.cause_ver = 0
        self.lists: tuple[list[str], list[str], list[str]] = ([], [], [])
        self.lists_ver = -1
        self.core: tuple[str, str | None] = ("", None)  # (root host, fingerprint of the root member)
        self.core_key: tuple[int, Inventory | None] = (-1, None)
        for fp, m in members.items():
            self.account(m, 1)
            if m["role"] == CAUSE:
                self.causes[fp] = None
        self.n = len(members)

    def account(self, m: dict[str, Any], sign: int) -> None:
        """Add (1) or remove (-1) one member's contribution to the counters."""
        sev = m["severity"]
        _count(self.sev_all, sev, sign)
        status = m["status"]
        role = m["role"]
        if status == "firing":
            _count(self.sev_firing, sev, sign)
            if role == CAUSE:
                _count(self.sev_cause, sev, sign)
        if status != "resolved":
            self.n_open += sign
        _count(self.hosts, m["host"], sign)
        if role == CAUSE:
            _count(self.cause_hosts, m["host"], sign)
        elif role == SYMPTOM:
            self.n_sym += sign
            _count(self.sym_hosts, m["host"], sign)

    def severity(self) -> str | None:
        """Highest severity of firing causes, else firing members, else all; None on a rank tie (rescan)."""
        pool = self.sev_cause or self.sev_firing or self.sev_all
        if len(pool) == 1:
            return next(iter(pool))
        if not pool:
            return "warning"
        best, best_rank, tie = "", -1, False
        for sev in pool:
            rank = SEVERITY_RANK.get(sev, 0)
            if rank > best_rank:
                best, best_rank, tie = sev, rank, False
            elif rank == best_rank:
                tie = True
        return None if tie else best

    def reorder_causes(self, members: dict[str, dict[str, Any]]) -> None:
        self.causes = {fp: None for fp, m in members.items() if m["role"] == CAUSE}


def counters_of(inc: Incident) -> MemberCounters:
    """The incident's counters, built from its members after a restore (or if they changed behind our back)."""
    counters = inc._counters
    if counters is None or counters.n != len(inc.members):
        counters = inc._counters = MemberCounters(inc.members)
    return counters


def put_member(inc: Incident, fp: str, member: dict[str, Any]) -> None:
    counters = counters_of(inc)
    old = inc.members.get(fp)
    if old is not None:  # same key: the member keeps its place in members order; recompute what depends on it
        counters.account(old, -1)
        inc.members[fp] = member
        counters.account(member, 1)
        counters.ver += 1
        if old["role"] == CAUSE or member["role"] == CAUSE:
            counters.reorder_causes(inc.members)
            counters.cause_ver += 1
        return
    # a new member goes last: the cached lists and root follow without a rescan
    host, role = member["host"], member["role"]
    lists_valid = counters.lists_ver == counters.ver
    core_valid = counters.core_key[0] == counters.cause_ver
    known_cause_host = host in counters.cause_hosts
    new_host = host not in counters.hosts
    inc.members[fp] = member
    counters.account(member, 1)
    counters.n = len(inc.members)
    counters.ver += 1
    if lists_valid:
        alerts, symptoms, hosts = counters.lists
        alerts.append(fp)
        if role == SYMPTOM:
            symptoms.append(fp)
        if new_host:
            insort(hosts, host)
        counters.lists_ver = counters.ver
    if role == CAUSE:
        counters.causes[fp] = None
        counters.cause_ver += 1
        if core_valid and known_cause_host:  # same cause hosts: same root host; maybe a better pick
            root_host, pick_fp = counters.core
            if host == root_host and pick_fp is not None:
                have, cat = inc.members[pick_fp]["category"], member["category"]
                if have != LINK and (cat == LINK or (cat == LIVENESS and have != LIVENESS)):
                    counters.core = (root_host, fp)
            counters.core_key = (counters.cause_ver, counters.core_key[1])


def pop_member(inc: Incident, fp: str) -> dict[str, Any] | None:
    counters = counters_of(inc)
    member = inc.members.pop(fp, None)
    if member is not None:
        counters.account(member, -1)
        counters.n = len(inc.members)
        counters.ver += 1
        if fp in counters.causes:
            del counters.causes[fp]
            counters.cause_ver += 1
    return member


def set_member_status(inc: Incident, fp: str, status: str) -> None:
    """A member resolved (the most frequent change): only the firing counters move."""
    member = inc.members[fp]
    old = member["status"]
    if old == status:
        return
    counters = counters_of(inc)
    sev, cause = member["severity"], member["role"] == CAUSE
    if old == "firing":
        _count(counters.sev_firing, sev, -1)
        if cause:
            _count(counters.sev_cause, sev, -1)
    elif status == "firing":
        _count(counters.sev_firing, sev, 1)
        if cause:
            _count(counters.sev_cause, sev, 1)
    counters.n_open += (status != "resolved") - (old != "resolved")
    member["status"] = status


def update_member(inc: Incident, fp: str, **changes: Any) -> None:
    """Change fields of a member in place (status, severity, summary, role)."""
    member = inc.members[fp]
    counters = counters_of(inc)
    counters.account(member, -1)
    was = member["role"]
    member.update(changes)
    counters.account(member, 1)
    if member["role"] != was:
        counters.ver += 1
        counters.cause_ver += 1
        if was == CAUSE:
            counters.causes.pop(fp, None)
        else:
            counters.reorder_causes(inc.members)


@dataclass(slots=True)
class CorrelationState:
    """The incident stage's memory for the sites one worker owns (snapshotted as to_dict() with the engine)."""

    incidents: dict[str, Incident] = field(default_factory=dict)  # open incidents
    by_alert: dict[str, str] = field(default_factory=dict)  # fingerprint -> open incident id
    by_host: dict[str, str] = field(default_factory=dict)  # host -> open incident holding its alerts
    down: dict[str, dict[str, str]] = field(default_factory=dict)  # host -> {fingerprint: liveness|link}
    firing: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> member info
    host_alerts: dict[str, dict[str, None]] = field(default_factory=dict)  # host -> firing fingerprints
    held: dict[str, dict[str, Any]] = field(default_factory=dict)  # fingerprint -> {since, until, release}
    # hosts another partition owns and reports impaired: host -> {incident_id, kinds, partition, at}
    remote: dict[str, dict[str, Any]] = field(default_factory=dict)
    # alerts suppressed by a remote host's incident (no local incident to join): fingerprint -> remote host
    behind_remote: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "incidents": {k: v.to_dict() for k, v in self.incidents.items()},
            "by_alert": dict(self.by_alert),
            "by_host": dict(self.by_host),
            "down": {k: dict(v) for k, v in self.down.items()},
            "firing": {k: dict(v) for k, v in self.firing.items()},
            "host_alerts": {k: list(v) for k, v in self.host_alerts.items()},
            "held": {k: dict(v) for k, v in self.held.items()},
        }
        # only when used: a snapshot without remote hosts reads as before
        if self.remote:
            data["remote"] = {k: dict(v) for k, v in self.remote.items()}
        if self.behind_remote:
            data["behind_remote"] = dict(self.behind_remote)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CorrelationState:
        return cls(
            incidents={k: Incident.from_dict(v) for k, v in data.get("incidents", {}).items()},
            by_alert=dict(data.get("by_alert", {})),
            by_host=dict(data.get("by_host", {})),
            down={k: dict(v) for k, v in data.get("down", {}).items()},
            firing={k: dict(v) for k, v in data.get("firing", {}).items()},
            host_alerts={k: dict.fromkeys(v) for k, v in data.get("host_alerts", {}).items()},
            held={k: dict(v) for k, v in data.get("held", {}).items()},
            remote={k: dict(v) for k, v in data.get("remote", {}).items()},
            behind_remote=dict(data.get("behind_remote", {})),
        )


@dataclass(slots=True)
class Changes:
    """What one call decided: incidents to publish and alerts whose incident/inhibition changed."""

    incidents: dict[str, Incident] = field(default_factory=dict)
    # fingerprint -> (incident_id, inhibited_by)
    patches: dict[str, tuple[str | None, dict[str, Any] | None]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.incidents or self.patches)


def category(alert: AlertState, config: IncidentConfig) -> str | None:
    """liveness (the host is down), link (one of its links is down) or the alert's own category."""
    if alert.kind == "check" and (alert.service is None or alert.service in config.liveness_services):
        return LIVENESS
    return alert.category


def incident_id(site: str, fingerprint: str, opened_at: float) -> str:
    """Deterministic: site, opening time and first alert, so a replay gives the same ids."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(opened_at))
    digest = hashlib.blake2b(f"{fingerprint}\x00{opened_at!r}".encode(), digest_size=4).hexdigest()
    return f"{site}-{stamp}-{digest}"


def member_info(alert: AlertState, cat: str | None) -> dict[str, Any]:
    """What an incident records of a firing alert (a member without its role and status)."""
    return {
        "host": alert.host,
        "site": alert.site,
        "component": alert.component,
        "kind": alert.kind,
        "category": cat,
        "severity": alert.severity,
        "summary": alert.summary,
    }
