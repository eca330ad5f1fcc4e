"""Incident grouping: alerts of one host within a window form one incident, its root cause the topmost cause.

IncidentPass holds one observe/tick call's state and keeps the books (members, explain entries, open and
close, severity and root cause); inhibit.py adds the topology on top of it, as Alertmanager's inhibitor
sits apart from its dispatcher. incidents.py holds the calls the engine makes.
"""

from __future__ import annotations

from typing import Any

from vigie.pipelines.correlate.alerts import SEVERITY_RANK
from vigie.pipelines.correlate.incident_model import (
    CAUSE,
    LINK,
    LIVENESS,
    Changes,
    CorrelationState,
    Incident,
    IncidentConfig,
    counters_of,
    incident_id,
    pop_member,
    put_member,
)
from vigie.pipelines.correlate.topology import Inventory
from vigie.schemas.codec import rfc3339


class IncidentPass:
    """One observe/tick call: the state, its inputs and the changes collected (keeps signatures short)."""

    __slots__ = ("state", "inventory", "config", "now", "changes")

    def __init__(
        self, state: CorrelationState, inventory: Inventory, config: IncidentConfig, now: float
    ) -> None:
        self.state, self.inventory, self.config, self.now = state, inventory, config, now
        self.changes = Changes()

    def explain(self, inc: Incident, decision: str, fp: str | None, reason: str) -> None:
        if len(inc.explain) < self.config.max_explain:
            inc.explain.append({"at": rfc3339(self.now), "decision": decision, "alert": fp, "reason": reason})
        elif len(inc.explain) == self.config.max_explain:
            inc.explain.append(
                {
                    "at": rfc3339(self.now),
                    "decision": "truncated",
                    "alert": None,
                    "reason": f"explain capped at {self.config.max_explain} entries",
                }
            )

    def touch(self, inc: Incident) -> None:
        inc.updated_at = self.now
        inc.last_activity = self.now
        self.changes.incidents[inc.id] = inc

    def add_member(self, inc: Incident, fp: str, info: dict[str, Any], role: str) -> None:
        put_member(inc, fp, dict(info, role=role, status="firing"))
        self.state.by_alert[fp] = inc.id
        self.state.by_host.setdefault(info["host"], inc.id)
        self.touch(inc)

    def remove_member(self, inc: Incident, fp: str) -> None:
        member = pop_member(inc, fp)
        self.state.by_alert.pop(fp, None)
        if member is not None and self.state.by_host.get(member["host"]) == inc.id:
            if member["host"] not in counters_of(inc).hosts:  # no other member on that host
                del self.state.by_host[member["host"]]
        self.touch(inc)

    def open(self, fp: str, info: dict[str, Any], reason: str) -> Incident:
        inc_id = incident_id(info["site"], fp, self.now)
        inc = Incident(inc_id, info["site"], self.now, self.now, self.now)
        self.state.incidents[inc_id] = inc
        self.add_member(inc, fp, info, CAUSE)
        self.state.by_host[info["host"]] = inc_id
        self.explain(inc, "open", fp, reason)
        return inc

    def close(self, inc: Incident, reason: str, merged_into: str | None = None) -> None:
        inc.status = "resolved"
        inc.resolved_at = self.now
        inc.merged_into = merged_into
        self.explain(inc, "resolve", None, reason)
        self.touch(inc)
        self.state.incidents.pop(inc.id, None)
        for fp in list(inc.members):
            if self.state.by_alert.get(fp) == inc.id:
                del self.state.by_alert[fp]
        # by_host only points at an incident for hosts of its members (add_member, open, remove_member)
        by_host = self.state.by_host
        for host in counters_of(inc).hosts:
            if by_host.get(host) == inc.id:
                del by_host[host]

    def refresh(self, inc: Incident) -> None:
        """Severity and root cause from the members: the topmost cause host, its link before its liveness.

        From the incident's MemberCounters; the root host and member are recomputed only when the causes or
        the inventory changed (a status flip changes neither).
        """
        counters = counters_of(inc)
        severity = counters.severity()
        if severity is None:  # two severities of equal rank: the first in members order wins, as max() does
            firing = [m for m in inc.members.values() if m["status"] == "firing"]
            pool = [m for m in firing if m["role"] == CAUSE] or firing or list(inc.members.values())
            severity = max(
                (m["severity"] for m in pool), key=lambda s: SEVERITY_RANK.get(s, 0), default="warning"
            )
        inc.severity = severity
        members = inc.members
        if counters.causes:
            key = counters.core_key
            if key[0] != counters.cause_ver or key[1] is not self.inventory:
                counters.core = root_of([(fp, members[fp]) for fp in counters.causes], self.inventory)
                counters.core_key = (counters.cause_ver, self.inventory)
            root_host, pick_fp = counters.core
        else:
            root_host, pick_fp = root_of(list(members.items()), self.inventory)
        if pick_fp is None:
            return
        pick = members[pick_fp]
        if pick["category"] == LINK:
            reason = f"link {pick['component']} down on {root_host}"
        elif pick["category"] == LIVENESS:
            reason = f"{root_host} is down"
        else:
            reason = pick["summary"] or f"{pick['component']} on {root_host}"
        if counters.n_sym:
            reason += (
                f"; {counters.n_sym} alert(s) of {len(counters.sym_hosts)} host(s) behind it unreachable"
            )
        root = {"host": root_host, "component": pick["component"], "reason": reason}
        if root != inc.root_cause:
            inc.root_cause = root
            self.changes.incidents[inc.id] = inc

    def place_cause(self, fp: str, info: dict[str, Any], reason: str) -> Incident:
        """Join the open incident of the same host within the window, or open a new one."""
        host = info["host"]
        inc_id = self.state.by_host.get(host)
        inc = self.state.incidents.get(inc_id) if inc_id else None
        if inc is not None and self.now - inc.last_activity <= self.config.window:
            self.add_member(inc, fp, info, CAUSE)
            self.explain(
                inc, "join", fp, f"{reason}same host {host} within {self.config.window:g}s of the incident"
            )
        else:
            inc = self.open(
                fp, info, f"{reason}first alert of {host}: {info['summary'] or info['component']}"
            )
        self.changes.patches[fp] = (inc.id, None)
        return inc


def root_of(causes: list[tuple[str, dict[str, Any]]], inventory: Inventory) -> tuple[str, str | None]:
    """(root host, fingerprint of the member naming the root cause): the topmost host, link before liveness."""
    hosts = list(dict.fromkeys(m["host"] for _, m in causes))
    if len(hosts) > 1:
        top = [h for h in hosts if not any(o != h and inventory.is_behind(h, o) for o in hosts)]
    else:
        top = hosts
    root_host = top[0] if top else (hosts[0] if hosts else "")
    on_root = [(fp, m) for fp, m in causes if m["host"] == root_host]
    for wanted in (LINK, LIVENESS):
        for fp, m in on_root:
            if m["category"] == wanted:
                return root_host, fp
    return root_host, on_root[0][0] if on_root else None
