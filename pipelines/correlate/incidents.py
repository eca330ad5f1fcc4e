"""The incident stage as the engine calls it: alerts whose causes are linked become one explained incident.

Each call runs one InhibitionPass: grouping (grouping.py: same host within the window, root cause) and
topology suppression (inhibit.py: symptoms behind down parents, hold-downs, parents at other sites) over
the incident model (incident_model.py: incidents, their counters, the state and its snapshot).
"""

from __future__ import annotations

from typing import Any

from vigie.pipelines.correlate.alerts import AlertState
from vigie.pipelines.correlate.incident_model import (
    DEFAULT_CONFIG,
    LINK,
    LIVENESS,
    Changes,
    CorrelationState,
    IncidentConfig,
    category,
    counters_of,
    member_info,
    set_member_status,
    update_member,
)
from vigie.pipelines.correlate.inhibit import InhibitionPass
from vigie.pipelines.correlate.topology import Inventory


def observe(
    state: CorrelationState,
    alert: AlertState,
    now: float,
    inventory: Inventory,
    config: IncidentConfig = DEFAULT_CONFIG,
) -> Changes:
    """Fold an alert's new status (firing or resolved) into the incidents; call it when the alert changed."""
    inc_pass = InhibitionPass(state, inventory, config, now)
    fp, host = alert.fingerprint, alert.host
    cat = category(alert, config)
    if alert.status == "firing":
        info = member_info(alert, cat)
        state.firing[fp] = info
        state.host_alerts.setdefault(host, {})[fp] = None
        newly_down = False
        if cat in (LIVENESS, LINK):
            newly_down = host not in state.down
            state.down.setdefault(host, {})[fp] = cat
        inc_id = state.by_alert.get(fp)
        if inc_id is not None and inc_id in state.incidents:
            inc = state.incidents[inc_id]
            member = inc.members[fp]
            if member["status"] != "firing" or member["severity"] != alert.severity:
                decision = "refire" if member["status"] != "firing" else "update"
                update_member(inc, fp, status="firing", severity=alert.severity, summary=alert.summary)
                inc_pass.explain(inc, decision, fp, f"{alert.severity}: {alert.summary}")
                inc_pass.touch(inc)
                inc_pass.refresh(inc)
            inc.last_activity = now
        elif fp not in state.held:
            inc_pass.place(fp, info)
        if newly_down:
            inc_pass.propagate_down(host)
    else:
        state.firing.pop(fp, None)
        fps = state.host_alerts.get(host)
        if fps is not None:
            fps.pop(fp, None)
            if not fps:
                del state.host_alerts[host]
        if state.held.pop(fp, None) is not None and fp not in state.by_alert:
            inc_pass.changes.patches[fp] = (None, None)
        if state.behind_remote:
            state.behind_remote.pop(fp, None)  # keeps its verdict, as a resolved symptom does
        downs = state.down.get(host)
        recovered = False
        if downs is not None and downs.pop(fp, None) is not None and not downs:
            del state.down[host]
            recovered = True
        inc_id = state.by_alert.get(fp)
        inc = state.incidents.get(inc_id) if inc_id else None
        if inc is not None:
            set_member_status(inc, fp, "resolved")
            inc_pass.explain(inc, "resolve", fp, f"{alert.component} on {host} recovered")
            inc_pass.touch(inc)
            if counters_of(inc).n_open == 0:  # every member resolved
                inc_pass.close(inc, "all its alerts recovered")
            else:
                inc_pass.refresh(inc)
        if recovered:
            inc_pass.forget_impaired()
            inc_pass.propagate_up(host)
    return inc_pass.changes


def touch(state: CorrelationState, fingerprint: str, now: float) -> None:
    """A repeat of a firing alert (count only): keep its incident's window open, nothing to publish."""
    inc_id = state.by_alert.get(fingerprint)
    if inc_id is not None:
        inc = state.incidents.get(inc_id)
        if inc is not None:
            inc.last_activity = now


def tick(
    state: CorrelationState,
    now: float,
    inventory: Inventory,
    config: IncidentConfig = DEFAULT_CONFIG,
) -> Changes:
    """Hold-downs that expired: attach to a parent incident that showed up, else stand on their own."""
    inc_pass = InhibitionPass(state, inventory, config, now)
    due = sorted((h["until"], fp) for fp, h in state.held.items() if h["until"] <= now)
    for _, fp in due:
        held = state.held.get(fp)
        info = state.firing.get(fp)
        if held is None or held["until"] > now:
            continue
        if info is None:
            del state.held[fp]
            continue
        if held["release"]:
            del state.held[fp]
            inc_pass.release(fp)
            continue
        host = info["host"]
        if inc_pass.unreachable(host):
            inc = inc_pass.parent_incident(host)
            if inc is None:
                remote = inc_pass.remote_parent(host)
                if remote is not None:  # behind a host another partition reports down
                    inc_pass.suppress_remote(fp, info, *remote)
                    continue
                # the parent itself is still in its hold-down: wait for it
                held["until"] = now + config.hold_down
                continue
            del state.held[fp]
            inc_pass.attach_symptom(inc, fp, info, f"held {now - held['since']:g}s; ")
            inc_pass.refresh(inc)
            if host in state.down:
                inc_pass.propagate_down(host)
            continue
        del state.held[fp]
        parents = ", ".join(inventory.parents_of(host))
        inc = inc_pass.place_cause(
            fp,
            info,
            held.get("why") or f"hold-down of {config.hold_down:g}s over, no parent ({parents}) down: ",
        )
        inc_pass.refresh(inc)
        if host in state.down:
            inc_pass.propagate_down(host)
    return inc_pass.changes


def remote_host(
    state: CorrelationState,
    host: str,
    host_state: dict[str, Any] | None,
    now: float,
    inventory: Inventory,
    config: IncidentConfig = DEFAULT_CONFIG,
) -> Changes:
    """Another partition reports `host` impaired (`host_state`: its hoststate/1 value) or no longer (None)."""
    inc_pass = InhibitionPass(state, inventory, config, now)
    if host_state is not None:
        state.remote[host] = {
            "incident_id": host_state.get("incident_id"),
            "kinds": list(host_state.get("kinds") or ()),
            "partition": host_state.get("partition"),
            "at": host_state.get("at"),
        }
        inc_pass.remote_down(host)
    elif state.remote.pop(host, None) is not None:
        inc_pass.remote_up(host)
    return inc_pass.changes
