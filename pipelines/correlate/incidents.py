"""Incident grouping and topology inhibition: alerts whose causes are linked become one explained incident."""

from __future__ import annotations

import hashlib
import time
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

    def to_incident(self) -> dict[str, Any]:
        """The `incidents` topic value (schema incident/1)."""
        return {
            "id": self.id,
            "status": self.status,
            "opened_at": rfc3339(self.opened_at),
            "updated_at": rfc3339(self.updated_at),
            "resolved_at": rfc3339(self.resolved_at) if self.resolved_at is not None else None,
            "severity": self.severity,
            "site": self.site,
            "root_cause": dict(self.root_cause),
            "alerts": list(self.members),
            "symptoms": [fp for fp, m in self.members.items() if m["role"] == SYMPTOM],
            "hosts": sorted({m["host"] for m in self.members.values()}),
            "merged_into": self.merged_into,
            "explain": list(self.explain),
            "schema": INCIDENT_SCHEMA,
        }


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "incidents": {k: v.to_dict() for k, v in self.incidents.items()},
            "by_alert": dict(self.by_alert),
            "by_host": dict(self.by_host),
            "down": {k: dict(v) for k, v in self.down.items()},
            "firing": {k: dict(v) for k, v in self.firing.items()},
            "host_alerts": {k: list(v) for k, v in self.host_alerts.items()},
            "held": {k: dict(v) for k, v in self.held.items()},
        }

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
        """Down (a firing liveness or link alert), or every parent impaired (Nagios UNREACHABLE)."""
        cached = self._impaired.get(host)
        if cached is not None:
            return cached
        if host in self.st.down:
            result = True
        else:
            parents = self.inv.parents_of(host)
            result = bool(parents) and depth < 32 and all(self.impaired(p, depth + 1) for p in parents)
        self._impaired[host] = result
        return result

    def unreachable(self, host: str) -> bool:
        parents = self.inv.parents_of(host)
        return bool(parents) and all(self.impaired(p) for p in parents)

    def parent_incident(self, host: str) -> Incident | None:
        """The open incident of the nearest down ancestor, breadth first, parents in name order (deterministic)."""
        seen: set[str] = set()
        frontier = sorted(self.inv.parents_of(host))
        while frontier:
            nxt: list[str] = []
            for p in frontier:
                if p in seen or not self.impaired(p):
                    continue
                seen.add(p)
                if p in self.st.down:
                    inc = self.st.incidents.get(self.st.by_host.get(p, ""))
                    if inc is not None:
                        return inc
                nxt.extend(sorted(self.inv.parents_of(p)))
            frontier = nxt
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
        inc.members[fp] = dict(info, role=role, status="firing")
        self.st.by_alert[fp] = inc.id
        self.st.by_host.setdefault(info["host"], inc.id)
        self.touch(inc)

    def remove_member(self, inc: Incident, fp: str) -> None:
        member = inc.members.pop(fp, None)
        self.st.by_alert.pop(fp, None)
        if member is not None and self.st.by_host.get(member["host"]) == inc.id:
            if not any(m["host"] == member["host"] for m in inc.members.values()):
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
        for host in [h for h, i in self.st.by_host.items() if i == inc.id]:
            del self.st.by_host[host]

    def refresh(self, inc: Incident) -> None:
        """Severity and root cause from the members: the topmost cause host, its link before its liveness."""
        firing = [m for m in inc.members.values() if m["status"] == "firing"]
        pool = [m for m in firing if m["role"] == CAUSE] or firing or list(inc.members.values())
        inc.severity = max(
            (m["severity"] for m in pool), key=lambda s: SEVERITY_RANK.get(s, 0), default="warning"
        )
        causes = [m for m in inc.members.values() if m["role"] == CAUSE] or list(inc.members.values())
        hosts = list(dict.fromkeys(m["host"] for m in causes))
        top = [h for h in hosts if not any(o != h and self.inv.is_behind(h, o) for o in hosts)]
        root_host = top[0] if top else (hosts[0] if hosts else "")
        on_root = [m for m in causes if m["host"] == root_host]
        pick = (
            next((m for m in on_root if m["category"] == LINK), None)
            or next((m for m in on_root if m["category"] == LIVENESS), None)
            or (on_root[0] if on_root else None)
        )
        if pick is None:
            return
        if pick["category"] == LINK:
            reason = f"link {pick['component']} down on {root_host}"
        elif pick["category"] == LIVENESS:
            reason = f"{root_host} is down"
        else:
            reason = pick["summary"] or f"{pick['component']} on {root_host}"
        symptoms = [m for m in inc.members.values() if m["role"] == SYMPTOM]
        if symptoms:
            behind = len({m["host"] for m in symptoms})
            reason += f"; {len(symptoms)} alert(s) of {behind} host(s) behind it unreachable"
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

    def release(self, fp: str) -> None:
        inc = self.st.incidents.get(self.st.by_alert.get(fp, ""))
        info = self.st.firing.get(fp)
        if inc is None or info is None:
            return
        if self.unreachable(info["host"]):
            return
        inc.members[fp]["role"] = CAUSE
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
                member.update(status="firing", severity=alert.severity, summary=alert.summary)
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
        downs = st.down.get(host)
        recovered = False
        if downs is not None and downs.pop(fp, None) is not None and not downs:
            del st.down[host]
            recovered = True
        inc_id = st.by_alert.get(fp)
        inc = st.incidents.get(inc_id) if inc_id else None
        if inc is not None:
            inc.members[fp]["status"] = "resolved"
            run.explain(inc, "resolve", fp, f"{alert.component} on {host} recovered")
            run.touch(inc)
            if all(m["status"] == "resolved" for m in inc.members.values()):
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
            if inc is None:  # the parent itself is still in its hold-down: wait for it
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
            fp, info, f"hold-down of {config.hold_down:g}s over, no parent ({parents}) down: "
        )
        run.refresh(inc)
        if host in st.down:
            run.propagate_down(host)
    return run.out
