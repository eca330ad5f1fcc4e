"""Incident grouping and topology inhibition: alerts whose causes are linked become one explained incident."""

from __future__ import annotations

import hashlib
import time
from bisect import insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vigie.pipelines.correlate.alerts import SEVERITY_RANK, AlertState
from vigie.pipelines.correlate.alerts import _iso as rfc3339
from vigie.pipelines.correlate.timeperiods import parse_duration
from vigie.pipelines.correlate.topology import Inventory

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
    def from_dict(cls, data: dict[str, Any] | None) -> IncidentConfig:
        """From [correlation]: incident_window (or window) and hold_down as seconds or '2m', '30s'."""
        data = data or {}
        window = data.get("incident_window", data.get("window", 120.0))
        hold_down = data.get("hold_down", 30.0)
        services = data.get("liveness_services", LIVENESS_SERVICES)
        return cls(
            parse_duration(window, "correlation.incident_window"),
            parse_duration(hold_down, "correlation.hold_down"),
            frozenset(services),
            int(data.get("max_explain", 500)),
        )


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
    # derived from members, not state: rebuilt on demand after from_dict (see _Agg)
    _agg: _Agg | None = field(default=None, init=False, repr=False, compare=False)

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
        agg = _agg(self)
        return {
            "id": self.id,
            "status": self.status,
            "opened_at": rfc3339(self.opened_at),
            "updated_at": rfc3339(self.updated_at),
            "severity": self.severity,
            "site": self.site,
            "root_cause": dict(self.root_cause),
            "alert_count": agg.n,
            "symptom_count": agg.n_sym,
            "host_count": len(agg.hosts),
            "merged_into": self.merged_into,
        }

    def to_incident(self) -> dict[str, Any]:
        """The `incidents` topic value (schema incident/1); fresh containers, the member scans cached."""
        agg = _agg(self)
        if agg.lists_ver != agg.ver:
            members = self.members
            agg.lists = (
                list(members),
                [fp for fp, m in members.items() if m["role"] == SYMPTOM],
                sorted(agg.hosts),
            )
            agg.lists_ver = agg.ver
        alerts, symptoms, hosts = agg.lists
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


class _Agg:
    """What refresh, close and to_incident need from an incident's members, kept as counters, not rescans.

    A storm puts hundreds of alerts in one incident and every status flip used to rescan them all. The
    _Run helpers that change members (_put_member, _pop_member, _update_member) keep this up to date;
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


def _agg(inc: Incident) -> _Agg:
    """The incident's counters, built from its members after a restore (or if they changed behind our back)."""
    agg = inc._agg
    if agg is None or agg.n != len(inc.members):
        agg = inc._agg = _Agg(inc.members)
    return agg


def _put_member(inc: Incident, fp: str, member: dict[str, Any]) -> None:
    agg = _agg(inc)
    old = inc.members.get(fp)
    if old is not None:  # same key: the member keeps its place in members order; recompute what depends on it
        agg.account(old, -1)
        inc.members[fp] = member
        agg.account(member, 1)
        agg.ver += 1
        if old["role"] == CAUSE or member["role"] == CAUSE:
            agg.reorder_causes(inc.members)
            agg.cause_ver += 1
        return
    # a new member goes last: the cached lists and root follow without a rescan
    host, role = member["host"], member["role"]
    lists_valid = agg.lists_ver == agg.ver
    core_valid = agg.core_key[0] == agg.cause_ver
    known_cause_host = host in agg.cause_hosts
    new_host = host not in agg.hosts
    inc.members[fp] = member
    agg.account(member, 1)
    agg.n = len(inc.members)
    agg.ver += 1
    if lists_valid:
        alerts, symptoms, hosts = agg.lists
        alerts.append(fp)
        if role == SYMPTOM:
            symptoms.append(fp)
        if new_host:
            insort(hosts, host)
        agg.lists_ver = agg.ver
    if role == CAUSE:
        agg.causes[fp] = None
        agg.cause_ver += 1
        if core_valid and known_cause_host:  # same cause hosts: same root host; maybe a better pick
            root_host, pick_fp = agg.core
            if host == root_host and pick_fp is not None:
                have, cat = inc.members[pick_fp]["category"], member["category"]
                if have != LINK and (cat == LINK or (cat == LIVENESS and have != LIVENESS)):
                    agg.core = (root_host, fp)
            agg.core_key = (agg.cause_ver, agg.core_key[1])


def _pop_member(inc: Incident, fp: str) -> dict[str, Any] | None:
    agg = _agg(inc)
    member = inc.members.pop(fp, None)
    if member is not None:
        agg.account(member, -1)
        agg.n = len(inc.members)
        agg.ver += 1
        if fp in agg.causes:
            del agg.causes[fp]
            agg.cause_ver += 1
    return member


def _set_status(inc: Incident, fp: str, status: str) -> None:
    """A member resolved (the most frequent change): only the firing counters move."""
    member = inc.members[fp]
    old = member["status"]
    if old == status:
        return
    agg = _agg(inc)
    sev, cause = member["severity"], member["role"] == CAUSE
    if old == "firing":
        _count(agg.sev_firing, sev, -1)
        if cause:
            _count(agg.sev_cause, sev, -1)
    elif status == "firing":
        _count(agg.sev_firing, sev, 1)
        if cause:
            _count(agg.sev_cause, sev, 1)
    agg.n_open += (status != "resolved") - (old != "resolved")
    member["status"] = status


def _update_member(inc: Incident, fp: str, **changes: Any) -> None:
    """Change fields of a member in place (status, severity, summary, role)."""
    member = inc.members[fp]
    agg = _agg(inc)
    agg.account(member, -1)
    was = member["role"]
    member.update(changes)
    agg.account(member, 1)
    if member["role"] != was:
        agg.ver += 1
        agg.cause_ver += 1
        if was == CAUSE:
            agg.causes.pop(fp, None)
        else:
            agg.reorder_causes(inc.members)


@dataclass(slots=True)
class CorrelationState:
    """The incident stage's memory for the sites one worker owns (a Faust table value as to_dict())."""

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


class _Run:
    """One observe/tick call: the state, its inputs and the changes collected (keeps signatures short)."""

    __slots__ = ("st", "inv", "cfg", "now", "out", "_impaired")

    def __init__(self, st: CorrelationState, inv: Inventory, cfg: IncidentConfig, now: float) -> None:
        self.st, self.inv, self.cfg, self.now = st, inv, cfg, now
        self.out = Changes()
        self._impaired: dict[str, bool] = {}

    # --- topology -------------------------------------------------------------------------

    def impaired(self, host: str, depth: int = 0) -> bool:
        """Down (a firing liveness or link alert, here or as another partition reports), or every parent impaired
        (Nagios UNREACHABLE)."""
        cached = self._impaired.get(host)
        if cached is not None:
            return cached
        if host in self.st.down or host in self.st.remote:
            result = True
        else:
            parents = self.inv.parents_of(host)
            result = bool(parents) and depth < 32 and all(self.impaired(p, depth + 1) for p in parents)
        self._impaired[host] = result
        return result

    def unreachable(self, host: str) -> bool:
        parents = self.inv.parents_of(host)
        return bool(parents) and all(self.impaired(p) for p in parents)

    def impaired_ancestors(self, host: str) -> Iterator[str]:
        """Impaired ancestors, nearest first: breadth first, parents in name order (deterministic)."""
        seen: set[str] = set()
        frontier = sorted(self.inv.parents_of(host))
        while frontier:
            nxt: list[str] = []
            for p in frontier:
                if p in seen or not self.impaired(p):
                    continue
                seen.add(p)
                yield p
                nxt.extend(sorted(self.inv.parents_of(p)))
            frontier = nxt

    def parent_incident(self, host: str) -> Incident | None:
        """The open incident of the nearest down ancestor."""
        for p in self.impaired_ancestors(host):
            if p in self.st.down:
                inc = self.st.incidents.get(self.st.by_host.get(p, ""))
                if inc is not None:
                    return inc
        return None

    def remote_parent(self, host: str) -> tuple[str, str] | None:
        """(host, incident id) of the nearest ancestor another partition reports down with an incident."""
        if not self.st.remote:
            return None
        for p in self.impaired_ancestors(host):
            state = self.st.remote.get(p)
            if state is not None and state.get("incident_id"):
                return p, state["incident_id"]
        return None

    # --- incident bookkeeping -------------------------------------------------------------

    def explain(self, inc: Incident, decision: str, fp: str | None, reason: str) -> None:
        if len(inc.explain) < self.cfg.max_explain:
            inc.explain.append({"at": rfc3339(self.now), "decision": decision, "alert": fp, "reason": reason})
        elif len(inc.explain) == self.cfg.max_explain:
            inc.explain.append(
                {
                    "at": rfc3339(self.now),
                    "decision": "truncated",
                    "alert": None,
                    "reason": f"explain capped at {self.cfg.max_explain} entries",
                }
            )

    def touch(self, inc: Incident) -> None:
        inc.updated_at = self.now
        inc.last_activity = self.now
        self.out.incidents[inc.id] = inc

    def add_member(self, inc: Incident, fp: str, info: dict[str, Any], role: str) -> None:
        _put_member(inc, fp, dict(info, role=role, status="firing"))
        self.st.by_alert[fp] = inc.id
        self.st.by_host.setdefault(info["host"], inc.id)
        self.touch(inc)

    def remove_member(self, inc: Incident, fp: str) -> None:
        member = _pop_member(inc, fp)
        self.st.by_alert.pop(fp, None)
        if member is not None and self.st.by_host.get(member["host"]) == inc.id:
            if member["host"] not in _agg(inc).hosts:  # no other member on that host
                del self.st.by_host[member["host"]]
        self.touch(inc)

    def open(self, fp: str, info: dict[str, Any], reason: str) -> Incident:
        inc_id = incident_id(info["site"], fp, self.now)
        inc = Incident(inc_id, info["site"], self.now, self.now, self.now)
        self.st.incidents[inc_id] = inc
        self.add_member(inc, fp, info, CAUSE)
        self.st.by_host[info["host"]] = inc_id
        self.explain(inc, "open", fp, reason)
        return inc

    def close(self, inc: Incident, reason: str, merged_into: str | None = None) -> None:
        inc.status = "resolved"
        inc.resolved_at = self.now
        inc.merged_into = merged_into
        self.explain(inc, "resolve", None, reason)
        self.touch(inc)
        self.st.incidents.pop(inc.id, None)
        for fp in list(inc.members):
            if self.st.by_alert.get(fp) == inc.id:
                del self.st.by_alert[fp]
        # by_host only points at an incident for hosts of its members (add_member, open, remove_member)
        by_host = self.st.by_host
        for host in _agg(inc).hosts:
            if by_host.get(host) == inc.id:
                del by_host[host]

    def refresh(self, inc: Incident) -> None:
        """Severity and root cause from the members: the topmost cause host, its link before its liveness.

        From the counters of _Agg; the root host and member are recomputed only when the causes or the
        inventory changed (a status flip changes neither).
        """
        agg = _agg(inc)
        severity = agg.severity()
        if severity is None:  # two severities of equal rank: the first in members order wins, as max() does
            firing = [m for m in inc.members.values() if m["status"] == "firing"]
            pool = [m for m in firing if m["role"] == CAUSE] or firing or list(inc.members.values())
            severity = max(
                (m["severity"] for m in pool), key=lambda s: SEVERITY_RANK.get(s, 0), default="warning"
            )
        inc.severity = severity
        members = inc.members
        if agg.causes:
            key = agg.core_key
            if key[0] != agg.cause_ver or key[1] is not self.inv:
                agg.core = _root_of([(fp, members[fp]) for fp in agg.causes], self.inv)
                agg.core_key = (agg.cause_ver, self.inv)
            root_host, pick_fp = agg.core
        else:
            root_host, pick_fp = _root_of(list(members.items()), self.inv)
        if pick_fp is None:
            return
        pick = members[pick_fp]
        if pick["category"] == LINK:
            reason = f"link {pick['component']} down on {root_host}"
        elif pick["category"] == LIVENESS:
            reason = f"{root_host} is down"
        else:
            reason = pick["summary"] or f"{pick['component']} on {root_host}"
        if agg.n_sym:
            reason += f"; {agg.n_sym} alert(s) of {len(agg.sym_hosts)} host(s) behind it unreachable"
        root = {"host": root_host, "component": pick["component"], "reason": reason}
        if root != inc.root_cause:
            inc.root_cause = root
            self.out.incidents[inc.id] = inc

    # --- placement --------------------------------------------------------------------------

    def attach_symptom(self, inc: Incident, fp: str, info: dict[str, Any], how: str) -> None:
        parents = ", ".join(self.inv.parents_of(info["host"]))
        self.add_member(inc, fp, info, SYMPTOM)
        self.explain(
            inc,
            "symptom",
            fp,
            f"{info['host']} is unreachable: all its parents ({parents}) are down; "
            f"{how}suppressed as a symptom of {inc.root_cause.get('host') or 'this incident'}",
        )
        self.out.patches[fp] = (inc.id, {"kind": "incident", "ref": inc.id})

    def place_cause(self, fp: str, info: dict[str, Any], reason: str) -> Incident:
        """Join the open incident of the same host within the window, or open a new one."""
        host = info["host"]
        inc_id = self.st.by_host.get(host)
        inc = self.st.incidents.get(inc_id) if inc_id else None
        if inc is not None and self.now - inc.last_activity <= self.cfg.window:
            self.add_member(inc, fp, info, CAUSE)
            self.explain(
                inc, "join", fp, f"{reason}same host {host} within {self.cfg.window:g}s of the incident"
            )
        else:
            inc = self.open(
                fp, info, f"{reason}first alert of {host}: {info['summary'] or info['component']}"
            )
        self.out.patches[fp] = (inc.id, None)
        return inc

    def place(self, fp: str, info: dict[str, Any]) -> None:
        host = info["host"]
        if info["kind"] == "check" and self.inv.parents_of(host):
            if self.unreachable(host):
                inc = self.parent_incident(host)
                if inc is not None:
                    self.attach_symptom(inc, fp, info, "")
                    self.refresh(inc)
                    return
                remote = self.remote_parent(host)
                if remote is not None:
                    self.suppress_remote(fp, info, *remote)
                    return
            if self.cfg.hold_down > 0:
                until = self.now + self.cfg.hold_down
                self.st.held[fp] = {"since": self.now, "until": until, "release": False}
                parents = ",".join(self.inv.parents_of(host))
                self.out.patches[fp] = (None, {"kind": "hold-down", "ref": parents})
                return
        inc = self.place_cause(fp, info, "")
        self.refresh(inc)

    def propagate_down(self, host: str) -> None:
        """`host` just became impaired: hosts behind it that fail are its symptoms now."""
        root = self.st.incidents.get(self.st.by_host.get(host, ""))
        if root is None:
            return
        for child in self.inv.descendants(host):
            fps = self.st.host_alerts.get(child)
            if not fps or not self.unreachable(child):
                continue
            for fp in list(fps):
                info = self.st.firing[fp]
                if info["kind"] != "check":
                    continue
                current = self.st.by_alert.get(fp)
                if current == root.id:
                    continue
                old = self.st.incidents.get(current) if current is not None else None
                if old is not None and old.members[fp]["role"] == SYMPTOM:
                    continue  # already a symptom of another down ancestor's incident
                how = ""
                held = self.st.held.pop(fp, None)
                if held is not None:
                    how = f"held {self.now - held['since']:g}s (hold-down {self.cfg.hold_down:g}s) until its parent failed; "
                if old is not None:
                    self.remove_member(old, fp)
                    self.explain(
                        old, "merge", fp, f"moved to {root.id}: {child} is behind {host}, which is down"
                    )
                    how = f"moved from {old.id}; "
                    if not old.members:
                        self.close(old, f"all alerts moved to {root.id}", merged_into=root.id)
                    else:
                        self.refresh(old)
                self.attach_symptom(root, fp, info, how)
        self.refresh(root)

    def propagate_up(self, host: str) -> None:
        """`host` recovered: its symptoms that still fail get a hold-down before being released."""
        for child in self.inv.descendants(host):
            for fp in list(self.st.host_alerts.get(child, ())):
                inc_id = self.st.by_alert.get(fp)
                inc = self.st.incidents.get(inc_id) if inc_id else None
                if inc is None or inc.members[fp]["role"] != SYMPTOM or self.unreachable(child):
                    continue
                self.st.held[fp] = {
                    "since": self.now,
                    "until": self.now + self.cfg.hold_down,
                    "release": True,
                }

    # --- parents at another site (host states another partition publishes) -----------------------

    def suppress_remote(self, fp: str, info: dict[str, Any], rhost: str, ref: str) -> None:
        """`fp` is unreachable behind `rhost`, down at another partition: suppressed by that partition's incident.

        A cause of a local incident moves out of it (explained there, as a merge into a local parent's
        incident would be); a symptom of a local incident stays (already suppressed by a nearer parent).
        """
        current = self.st.by_alert.get(fp)
        old = self.st.incidents.get(current) if current is not None else None
        if old is not None:
            if old.members[fp]["role"] == SYMPTOM:
                return
            self.remove_member(old, fp)
            self.explain(
                old,
                "remote",
                fp,
                f"{info['host']} is unreachable: behind {rhost}, down at another site (incident {ref}); "
                "suppressed by that incident",
            )
            if not old.members:
                self.close(old, f"all alerts suppressed by {ref} (another site)")
            else:
                self.refresh(old)
        self.st.held.pop(fp, None)
        self.st.behind_remote[fp] = rhost
        self.out.patches[fp] = (None, {"kind": "incident", "ref": ref})

    def remote_down(self, rhost: str) -> None:
        """`rhost` is reported impaired by another partition: check alerts of hosts behind it that are now
        unreachable, with no local parent incident to join, are suppressed by its incident (held ones too)."""
        for child in self.inv.descendants(rhost):
            fps = self.st.host_alerts.get(child)
            if not fps or not self.unreachable(child):
                continue
            if self.parent_incident(child) is not None:
                continue  # a local parent's incident explains it (or will, when its hold-down ends)
            remote = self.remote_parent(child)
            if remote is None:
                continue  # the remote parent has no incident id: hold-downs go on
            for fp in list(fps):
                info = self.st.firing[fp]
                if info["kind"] != "check":
                    continue
                held = self.st.held.get(fp)
                if held is not None and held["release"]:
                    continue
                self.suppress_remote(fp, info, *remote)

    def remote_up(self, rhost: str) -> None:
        """`rhost` recovered (or is no longer reported): what it suppressed and still fails is placed again,
        after a hold-down like any alert behind parents (another down parent, local or remote, may hold it)."""
        for fp, behind in list(self.st.behind_remote.items()):
            if behind != rhost:
                continue
            del self.st.behind_remote[fp]
            info = self.st.firing.get(fp)
            if info is None:
                continue
            host = info["host"]
            if self.unreachable(host):
                inc = self.parent_incident(host)
                if inc is not None:
                    self.attach_symptom(inc, fp, info, f"{rhost} (another site) recovered; ")
                    self.refresh(inc)
                    continue
                remote = self.remote_parent(host)
                if remote is not None:
                    self.suppress_remote(fp, info, *remote)
                    continue
            parents = ",".join(self.inv.parents_of(host))
            self.st.held[fp] = {
                "since": self.now,
                "until": self.now + self.cfg.hold_down,
                "release": False,
                "why": f"{rhost} (another site) recovered and after a hold-down of {self.cfg.hold_down:g}s "
                f"{host} still fails, no parent ({parents.replace(',', ', ')}) down: ",
            }
            self.out.patches[fp] = (None, {"kind": "hold-down", "ref": parents})

    def release(self, fp: str) -> None:
        inc = self.st.incidents.get(self.st.by_alert.get(fp, ""))
        info = self.st.firing.get(fp)
        if inc is None or info is None:
            return
        if self.unreachable(info["host"]):
            return
        _update_member(inc, fp, role=CAUSE)
        self.explain(
            inc,
            "release",
            fp,
            f"{info['host']} still fails {self.cfg.hold_down:g}s after its parents "
            "recovered: no longer suppressed",
        )
        self.touch(inc)
        self.refresh(inc)
        self.out.patches[fp] = (inc.id, None)


def _root_of(causes: list[tuple[str, dict[str, Any]]], inv: Inventory) -> tuple[str, str | None]:
    """(root host, fingerprint of the member naming the root cause): the topmost host, link before liveness."""
    hosts = list(dict.fromkeys(m["host"] for _, m in causes))
    if len(hosts) > 1:
        top = [h for h in hosts if not any(o != h and inv.is_behind(h, o) for o in hosts)]
    else:
        top = hosts
    root_host = top[0] if top else (hosts[0] if hosts else "")
    on_root = [(fp, m) for fp, m in causes if m["host"] == root_host]
    for wanted in (LINK, LIVENESS):
        for fp, m in on_root:
            if m["category"] == wanted:
                return root_host, fp
    return root_host, on_root[0][0] if on_root else None


def _info(alert: AlertState, cat: str | None) -> dict[str, Any]:
    return {
        "host": alert.host,
        "site": alert.site,
        "component": alert.component,
        "kind": alert.kind,
        "category": cat,
        "severity": alert.severity,
        "summary": alert.summary,
    }


def observe(
    st: CorrelationState,
    alert: AlertState,
    now: float,
    inventory: Inventory,
    config: IncidentConfig = DEFAULT_CONFIG,
) -> Changes:
    """Fold an alert's new status (firing or resolved) into the incidents; call it when the alert changed."""
    run = _Run(st, inventory, config, now)
    fp, host = alert.fingerprint, alert.host
    cat = category(alert, config)
    if alert.status == "firing":
        info = _info(alert, cat)
        st.firing[fp] = info
        st.host_alerts.setdefault(host, {})[fp] = None
        newly_down = False
        if cat in (LIVENESS, LINK):
            newly_down = host not in st.down
            st.down.setdefault(host, {})[fp] = cat
        inc_id = st.by_alert.get(fp)
        if inc_id is not None and inc_id in st.incidents:
            inc = st.incidents[inc_id]
            member = inc.members[fp]
            if member["status"] != "firing" or member["severity"] != alert.severity:
                decision = "refire" if member["status"] != "firing" else "update"
                _update_member(inc, fp, status="firing", severity=alert.severity, summary=alert.summary)
                run.explain(inc, decision, fp, f"{alert.severity}: {alert.summary}")
                run.touch(inc)
                run.refresh(inc)
            inc.last_activity = now
        elif fp not in st.held:
            run.place(fp, info)
        if newly_down:
            run.propagate_down(host)
    else:
        st.firing.pop(fp, None)
        fps = st.host_alerts.get(host)
        if fps is not None:
            fps.pop(fp, None)
            if not fps:
                del st.host_alerts[host]
        if st.held.pop(fp, None) is not None and fp not in st.by_alert:
            run.out.patches[fp] = (None, None)
        if st.behind_remote:
            st.behind_remote.pop(fp, None)  # keeps its verdict, as a resolved symptom does
        downs = st.down.get(host)
        recovered = False
        if downs is not None and downs.pop(fp, None) is not None and not downs:
            del st.down[host]
            recovered = True
        inc_id = st.by_alert.get(fp)
        inc = st.incidents.get(inc_id) if inc_id else None
        if inc is not None:
            _set_status(inc, fp, "resolved")
            run.explain(inc, "resolve", fp, f"{alert.component} on {host} recovered")
            run.touch(inc)
            if _agg(inc).n_open == 0:  # every member resolved
                run.close(inc, "all its alerts recovered")
            else:
                run.refresh(inc)
        if recovered:
            run._impaired.clear()
            run.propagate_up(host)
    return run.out


def touch(st: CorrelationState, fingerprint: str, now: float) -> None:
    """A repeat of a firing alert (count only): keep its incident's window open, nothing to publish."""
    inc_id = st.by_alert.get(fingerprint)
    if inc_id is not None:
        inc = st.incidents.get(inc_id)
        if inc is not None:
            inc.last_activity = now


def tick(
    st: CorrelationState,
    now: float,
    inventory: Inventory,
    config: IncidentConfig = DEFAULT_CONFIG,
) -> Changes:
    """Hold-downs that expired: attach to a parent incident that showed up, else stand on their own."""
    run = _Run(st, inventory, config, now)
    due = sorted((h["until"], fp) for fp, h in st.held.items() if h["until"] <= now)
    for _, fp in due:
        held = st.held.get(fp)
        info = st.firing.get(fp)
        if held is None or held["until"] > now:
            continue
        if info is None:
            del st.held[fp]
            continue
        if held["release"]:
            del st.held[fp]
            run.release(fp)
            continue
        host = info["host"]
        if run.unreachable(host):
            inc = run.parent_incident(host)
            if inc is None:
                remote = run.remote_parent(host)
                if remote is not None:  # behind a host another partition reports down
                    run.suppress_remote(fp, info, *remote)
                    continue
                # the parent itself is still in its hold-down: wait for it
                held["until"] = now + config.hold_down
                continue
            del st.held[fp]
            run.attach_symptom(inc, fp, info, f"held {now - held['since']:g}s; ")
            run.refresh(inc)
            if host in st.down:
                run.propagate_down(host)
            continue
        del st.held[fp]
        parents = ", ".join(inventory.parents_of(host))
        inc = run.place_cause(
            fp, info, held.get("why") or f"hold-down of {config.hold_down:g}s over, no parent ({parents}) down: "
        )
        run.refresh(inc)
        if host in st.down:
            run.propagate_down(host)
    return run.out


def remote_host(
    st: CorrelationState,
    host: str,
    state: dict[str, Any] | None,
    now: float,
    inventory: Inventory,
    config: IncidentConfig = DEFAULT_CONFIG,
) -> Changes:
    """Another partition reports `host` impaired (`state`: its hoststate/1 value) or no longer (None)."""
    run = _Run(st, inventory, config, now)
    if state is not None:
        st.remote[host] = {
            "incident_id": state.get("incident_id"),
            "kinds": list(state.get("kinds") or ()),
            "partition": state.get("partition"),
            "at": state.get("at"),
        }
        run.remote_down(host)
    elif st.remote.pop(host, None) is not None:
        run.remote_up(host)
    return run.out
