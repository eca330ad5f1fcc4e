"""Topology suppression (inhibition): alerts of hosts behind a down parent are its incident's symptoms.

Local parents: a check alert of a host whose parents are all impaired (Nagios UNREACHABLE) joins the
incident of the nearest down ancestor as a symptom; behind parents that are fine it waits a hold-down
first, in case a parent problem shows up. Remote parents (hosts another partition owns and reports down):
the alert is suppressed by that partition's incident. Kept apart from grouping (grouping.py) as
Alertmanager keeps inhibit apart from dispatch; InhibitionPass extends the grouping pass with the
reachability lookups and the moves between incidents they decide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vigie.pipelines.correlate.grouping import IncidentPass
from vigie.pipelines.correlate.incident_model import (
    CAUSE,
    SYMPTOM,
    CorrelationState,
    Incident,
    IncidentConfig,
    update_member,
)
from vigie.pipelines.correlate.topology import Inventory


class InhibitionPass(IncidentPass):
    """A grouping pass that also knows which hosts are impaired (cached for the call) and moves alerts by it."""

    __slots__ = ("_impaired",)

    def __init__(
        self, state: CorrelationState, inventory: Inventory, config: IncidentConfig, now: float
    ) -> None:
        IncidentPass.__init__(self, state, inventory, config, now)
        self._impaired: dict[str, bool] = {}

    def forget_impaired(self) -> None:
        """A host recovered: the cached reachability answers may be wrong now."""
        self._impaired.clear()

    # --- reachability -----------------------------------------------------------------------

    def impaired(self, host: str, depth: int = 0) -> bool:
        """Down (a firing liveness or link alert, here or as another partition reports), or every parent impaired
        (Nagios UNREACHABLE)."""
        cached = self._impaired.get(host)
        if cached is not None:
            return cached
        if host in self.state.down or host in self.state.remote:
            result = True
        else:
            parents = self.inventory.parents_of(host)
            result = bool(parents) and depth < 32 and all(self.impaired(p, depth + 1) for p in parents)
        self._impaired[host] = result
        return result

    def unreachable(self, host: str) -> bool:
        parents = self.inventory.parents_of(host)
        return bool(parents) and all(self.impaired(p) for p in parents)

    def impaired_ancestors(self, host: str) -> Iterator[str]:
        """Impaired ancestors, nearest first: breadth first, parents in name order (deterministic)."""
        seen: set[str] = set()
        frontier = sorted(self.inventory.parents_of(host))
        while frontier:
            nxt: list[str] = []
            for p in frontier:
                if p in seen or not self.impaired(p):
                    continue
                seen.add(p)
                yield p
                nxt.extend(sorted(self.inventory.parents_of(p)))
            frontier = nxt

    def parent_incident(self, host: str) -> Incident | None:
        """The open incident of the nearest down ancestor."""
        for p in self.impaired_ancestors(host):
            if p in self.state.down:
                inc = self.state.incidents.get(self.state.by_host.get(p, ""))
                if inc is not None:
                    return inc
        return None

    def remote_parent(self, host: str) -> tuple[str, str] | None:
        """(host, incident id) of the nearest ancestor another partition reports down with an incident."""
        if not self.state.remote:
            return None
        for p in self.impaired_ancestors(host):
            reported = self.state.remote.get(p)
            if reported is not None and reported.get("incident_id"):
                return p, reported["incident_id"]
        return None

    # --- local parents ----------------------------------------------------------------------

    def attach_symptom(self, inc: Incident, fp: str, info: dict[str, Any], how: str) -> None:
        parents = ", ".join(self.inventory.parents_of(info["host"]))
        self.add_member(inc, fp, info, SYMPTOM)
        self.explain(
            inc,
            "symptom",
            fp,
            f"{info['host']} is unreachable: all its parents ({parents}) are down; "
            f"{how}suppressed as a symptom of {inc.root_cause.get('host') or 'this incident'}",
        )
        self.changes.patches[fp] = (inc.id, {"kind": "incident", "ref": inc.id})

    def inhibit_if_unreachable(self, fp: str, info: dict[str, Any], how: str) -> bool:
        """If the alert's host is unreachable: a symptom of the nearest down parent's incident, else suppressed
        by the incident of a parent another partition reports down. False when neither applies."""
        host = info["host"]
        if not self.unreachable(host):
            return False
        inc = self.parent_incident(host)
        if inc is not None:
            self.attach_symptom(inc, fp, info, how)
            self.refresh(inc)
            return True
        remote = self.remote_parent(host)
        if remote is not None:
            self.suppress_remote(fp, info, *remote)
            return True
        return False

    def hold(self, fp: str, release: bool, why: str | None = None) -> None:
        """Start a hold-down (tick places the alert, or releases it from its incident, when it ends)."""
        held: dict[str, Any] = {
            "since": self.now,
            "until": self.now + self.config.hold_down,
            "release": release,
        }
        if why is not None:
            held["why"] = why
        self.state.held[fp] = held

    def place(self, fp: str, info: dict[str, Any]) -> None:
        """A newly firing alert: a symptom or suppressed if its host is unreachable, held if it has parents,
        else grouped as a cause."""
        host = info["host"]
        if info["kind"] == "check" and self.inventory.parents_of(host):
            if self.inhibit_if_unreachable(fp, info, ""):
                return
            if self.config.hold_down > 0:
                self.hold(fp, False)
                parents = ",".join(self.inventory.parents_of(host))
                self.changes.patches[fp] = (None, {"kind": "hold-down", "ref": parents})
                return
        inc = self.place_cause(fp, info, "")
        self.refresh(inc)

    def propagate_down(self, host: str) -> None:
        """`host` just became impaired: hosts behind it that fail are its symptoms now."""
        root = self.state.incidents.get(self.state.by_host.get(host, ""))
        if root is None:
            return
        for child in self.inventory.descendants(host):
            fps = self.state.host_alerts.get(child)
            if not fps or not self.unreachable(child):
                continue
            for fp in list(fps):
                info = self.state.firing[fp]
                if info["kind"] != "check":
                    continue
                current = self.state.by_alert.get(fp)
                if current == root.id:
                    continue
                old = self.state.incidents.get(current) if current is not None else None
                if old is not None and old.members[fp]["role"] == SYMPTOM:
                    continue  # already a symptom of another down ancestor's incident
                how = ""
                held = self.state.held.pop(fp, None)
                if held is not None:
                    how = f"held {self.now - held['since']:g}s (hold-down {self.config.hold_down:g}s) until its parent failed; "
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
        for child in self.inventory.descendants(host):
            for fp in list(self.state.host_alerts.get(child, ())):
                inc_id = self.state.by_alert.get(fp)
                inc = self.state.incidents.get(inc_id) if inc_id else None
                if inc is None or inc.members[fp]["role"] != SYMPTOM or self.unreachable(child):
                    continue
                self.hold(fp, True)

    def release(self, fp: str) -> None:
        """A symptom whose hold-down after its parents recovered ended: a cause again if still reachable."""
        inc = self.state.incidents.get(self.state.by_alert.get(fp, ""))
        info = self.state.firing.get(fp)
        if inc is None or info is None:
            return
        if self.unreachable(info["host"]):
            return
        update_member(inc, fp, role=CAUSE)
        self.explain(
            inc,
            "release",
            fp,
            f"{info['host']} still fails {self.config.hold_down:g}s after its parents "
            "recovered: no longer suppressed",
        )
        self.touch(inc)
        self.refresh(inc)
        self.changes.patches[fp] = (inc.id, None)

    # --- parents at another site (host states another partition publishes) -----------------------

    def suppress_remote(self, fp: str, info: dict[str, Any], rhost: str, ref: str) -> None:
        """`fp` is unreachable behind `rhost`, down at another partition: suppressed by that partition's incident.

        A cause of a local incident moves out of it (explained there, as a merge into a local parent's
        incident would be); a symptom of a local incident stays (already suppressed by a nearer parent).
        """
        current = self.state.by_alert.get(fp)
        old = self.state.incidents.get(current) if current is not None else None
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
        self.state.held.pop(fp, None)
        self.state.behind_remote[fp] = rhost
        self.changes.patches[fp] = (None, {"kind": "incident", "ref": ref})

    def remote_down(self, rhost: str) -> None:
        """`rhost` is reported impaired by another partition: check alerts of hosts behind it that are now
        unreachable, with no local parent incident to join, are suppressed by its incident (held ones too)."""
        for child in self.inventory.descendants(rhost):
            fps = self.state.host_alerts.get(child)
            if not fps or not self.unreachable(child):
                continue
            if self.parent_incident(child) is not None:
                continue  # a local parent's incident explains it (or will, when its hold-down ends)
            remote = self.remote_parent(child)
            if remote is None:
                continue  # the remote parent has no incident id: hold-downs go on
            for fp in list(fps):
                info = self.state.firing[fp]
                if info["kind"] != "check":
                    continue
                held = self.state.held.get(fp)
                if held is not None and held["release"]:
                    continue
                self.suppress_remote(fp, info, *remote)

    def remote_up(self, rhost: str) -> None:
        """`rhost` recovered (or is no longer reported): what it suppressed and still fails is placed again,
        after a hold-down like any alert behind parents (another down parent, local or remote, may hold it)."""
        for fp, behind in list(self.state.behind_remote.items()):
            if behind != rhost:
                continue
            del self.state.behind_remote[fp]
            info = self.state.firing.get(fp)
            if info is None:
                continue
            if self.inhibit_if_unreachable(fp, info, f"{rhost} (another site) recovered; "):
                continue
            host = info["host"]
            parents = ",".join(self.inventory.parents_of(host))
            self.hold(
                fp,
                False,
                f"{rhost} (another site) recovered and after a hold-down of {self.config.hold_down:g}s "
                f"{host} still fails, no parent ({parents.replace(',', ', ')}) down: ",
            )
            self.changes.patches[fp] = (None, {"kind": "hold-down", "ref": parents})
