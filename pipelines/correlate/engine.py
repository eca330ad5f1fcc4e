"""The correlate stage end to end (alerts, incidents, silences, notify), pure and clock-free: what the
correlate worker's batch loop (pipelines/app.py) runs per partition."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vigie.pipelines.correlate import alerts as alerts_mod
from vigie.pipelines.correlate import incidents as incidents_mod
from vigie.pipelines.correlate.alerts import AlertConfig, AlertState, to_alert
from vigie.pipelines.correlate.dependencies import Dependencies
from vigie.pipelines.correlate.groups import Notifier
from vigie.pipelines.correlate.incident_model import Changes, CorrelationState, IncidentConfig
from vigie.pipelines.correlate.routing import Router
from vigie.pipelines.correlate.silences import ControlError, ControlState, matches_all, parse_command
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.fingerprints import check_fingerprint
from vigie.schemas.codec import parse_rfc3339

if TYPE_CHECKING:
    from vigie.config import Config

# transitions that can change grouping; a count-only or flapping update leaves incidents alone
_REGROUP = frozenset(
    {alerts_mod.NEW, alerts_mod.REFIRED, alerts_mod.RESOLVED, alerts_mod.SEVERITY, alerts_mod.HARD}
)


def event_time(event: dict[str, Any], default: float) -> float:
    """Epoch seconds of an event's ts (the `now` to pass for replayable results), else `default`."""
    ts = event.get("ts")
    if not ts:
        return default
    try:
        return parse_rfc3339(ts).timestamp()
    except (TypeError, ValueError):
        return default


@dataclass(slots=True, init=False)
class Output:
    """Topic values one call produced: alerts, incidents, notifications; plus reports and command errors."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    deleted_alerts: list[str] = field(default_factory=list)  # tombstones for the compacted alerts topic
    reports: list[dict[str, Any]] = field(
        default_factory=list
    )  # e.g. what still fails when a maintenance ends
    errors: list[str] = field(default_factory=list)

    def __init__(
        self,
        alerts: list[dict[str, Any]] | None = None,
        incidents: list[dict[str, Any]] | None = None,
        notifications: list[dict[str, Any]] | None = None,
        deleted_alerts: list[str] | None = None,
        reports: list[dict[str, Any]] | None = None,
        errors: list[str] | None = None,
    ) -> None:
        """The dataclass __init__ calls a default factory per field; one Output per event makes that count."""
        self.alerts = [] if alerts is None else alerts
        self.incidents = [] if incidents is None else incidents
        self.notifications = [] if notifications is None else notifications
        self.deleted_alerts = [] if deleted_alerts is None else deleted_alerts
        self.reports = [] if reports is None else reports
        self.errors = [] if errors is None else errors


class Engine:
    """Holds the correlate state; every method takes `now` (epoch seconds) and returns what to publish."""

    def __init__(
        self,
        inventory: Inventory | None = None,
        *,
        alert_config: AlertConfig | None = None,
        incident_config: IncidentConfig | None = None,
        router: Router | None = None,
        retention: float = 86400.0,
        dependencies: Dependencies | None = None,
    ) -> None:
        self.inventory = inventory if inventory is not None else Inventory()
        self.dependencies = dependencies if dependencies is not None else Dependencies()
        self.alert_config = alert_config or AlertConfig()
        self.incident_config = incident_config or IncidentConfig()
        self.router = router or Router([])
        self.retention = retention  # resolved alerts are forgotten (tombstoned) after this long
        self.alerts: dict[str, AlertState] = {}
        self.correlation = CorrelationState()
        self.controls = ControlState()
        self.notifier = Notifier(self.router)
        self._firing: dict[str, None] = {}
        self._resolved: dict[str, float] = {}
        # what a tick must visit, so that its cost follows what is due, not how many alerts fire: firing
        # alerts with a held-back update or an auto-resolve timer (notification groups keep their own timers)
        self._ticking: dict[str, None] = {}
        # (next flap sample, fingerprint) of trap/syslog alerts whose flap history still shows changes
        self._aging: list[tuple[float, str]] = []
        self._aging_set: set[str] = set()
        # some firing alert may carry a silence/maintenance verdict: without controls, a tick's suppression
        # re-evaluation of every firing alert can only find something to do while this is set
        self._control_residue = False

    @classmethod
    def from_config(cls, config: Config) -> Engine:
        """From the checked config: [inventory], [correlation], [timeperiods] (parsed), [routes]."""
        return cls(
            Inventory.from_config(config.inventory),
            alert_config=AlertConfig.from_config(config.correlation),
            incident_config=IncidentConfig.from_config(config.correlation),
            router=Router.from_config(config.routes, config.timeperiods),
            dependencies=Dependencies.from_config(config.inventory),
        )

    # --- inputs ---------------------------------------------------------------------------------

    def process(self, event: dict[str, Any], now: float) -> Output:
        """One `events` value."""
        fp = event["fingerprint"]
        previous = self.alerts.get(fp)
        if event["kind"] == "check":
            host = event["host"]
            service = (event.get("attributes") or {}).get("service")
            max_attempts = self.inventory.max_check_attempts(host, service)
            host_down = service is not None and self._host_down(host)
        else:
            max_attempts, host_down = None, False
        state, emit = alerts_mod.apply_event(
            previous, event, now, self.alert_config, max_attempts=max_attempts, host_down=host_down
        )
        if state is None:
            return Output()
        if previous is None:
            self.alerts[fp] = state
        if state.pending or state.resolve_after:
            self._ticking[fp] = None
        if state.percent_state_change and fp not in self._aging_set and state.kind != "check":
            self._aging_set.add(fp)
            heapq.heappush(self._aging, (state.flap_sampled + self.alert_config.flap_interval, fp))
        out = Output()
        changed: dict[str, None] = {}
        if state.transitions and not _REGROUP.isdisjoint(state.transitions):
            self._track(state, now)
            self._apply(
                incidents_mod.observe(self.correlation, state, now, self.inventory, self.incident_config),
                out,
                changed,
            )
        else:
            incidents_mod.touch(self.correlation, fp, now)
        if emit:
            changed[fp] = None
        if self.dependencies.masters and event["kind"] == "check":
            self._recheck_dependents(fp, now, changed)
        self._publish(changed, now, out)
        return out

    def control(self, value: dict[str, Any] | None, now: float, key: str | None = None) -> Output:
        """One `control` value (None: a tombstone removing the command under `key`)."""
        out = Output()
        if value is None:
            if key is not None:
                self.controls.remove(key)
            self._refresh_suppression(now, out)
            return out
        try:
            cmd = parse_command(value, key, now)
        except ControlError as exc:
            out.errors.append(str(exc))
            return out
        if cmd.kind == "comment":
            return out  # a note for people (the console shows it): nothing to decide
        if cmd.kind in ("silence", "maintenance"):
            self.controls.add(cmd, self.inventory)
            self._refresh_suppression(now, out)
        elif cmd.kind == "acknowledge":
            targets = [cmd.fingerprint] if cmd.fingerprint else sorted(self._firing)
            changed: dict[str, None] = {}
            for fp in targets:
                a = self.alerts.get(fp)
                if a is None or (cmd.matchers and not matches_all(cmd.matchers, a.labels())):
                    continue
                # an ack answers the problem it saw: not a later occurrence (keeps replays right)
                if cmd.start is not None and cmd.start < a.first_seen:
                    continue
                if alerts_mod.acknowledge(a, cmd.author, cmd.reason, now):
                    changed[fp] = None
            if not changed:
                out.errors.append(f"acknowledge {cmd.id}: no firing alert matches")
            self._publish(changed, now, out)
        else:
            self.inventory = self.inventory.updated(cmd.topology or {})
            self.controls.recompute(self.inventory)
            self._refresh_suppression(now, out)
        return out

    def tick(self, now: float) -> Output:
        """Time passing (call every second or so): pending updates, auto-resolve, hold-downs, repeats."""
        out = Output()
        changed: dict[str, None] = {}
        alerts = self.alerts
        ticking = self._ticking
        for fp in list(ticking):
            a = alerts.get(fp)
            if a is None or not (a.pending or (a.resolve_after and a.status == "firing")):
                del ticking[fp]  # nothing left for alerts.tick to do
                if a is not None:
                    a.transitions = []
                continue
            was_firing = a.status == "firing"
            if alerts_mod.tick(a, now, self.alert_config):
                changed[fp] = None
                if was_firing and a.status == "resolved":  # resolve_after ran out
                    del ticking[fp]
                    self._track(a, now)
                    self._apply(
                        incidents_mod.observe(self.correlation, a, now, self.inventory, self.incident_config),
                        out,
                        changed,
                    )
        if self._aging and self._aging[0][0] <= now:
            self._age_flapping(now, changed)
        if self.correlation.held:
            self._apply(
                incidents_mod.tick(self.correlation, now, self.inventory, self.incident_config), out, changed
            )
        self.controls.expire(now)
        self._refresh_suppression(now, out, changed)
        self._publish(changed, now, out)
        self._collect(now, out)
        return out

    def remote_host(self, host: str, state: dict[str, Any] | None, now: float) -> Output:
        """A host another partition owns is impaired (`state`, its `pipeline.hosts` hoststate/1 value) or no
        longer (None: recovered, or a tombstone).

        The model: the remote host counts as impaired in the UNREACHABLE test of this engine's hosts. A check
        alert of a host all of whose parents are impaired joins, as now, the incident of the nearest local
        down ancestor if there is one; otherwise, behind a remote host reported with an incident, it is
        suppressed by that incident (suppressed_by {"kind": "incident", "ref": <remote incident id>}), with
        no local incident (the remote one lives in the other engine) and so no notification. Alerts still in
        their hold-down when the remote state arrives are suppressed then; causes of a local incident move
        out of it (explained there). When the remote host recovers, what it suppressed and still fails gets
        a fresh hold-down and is then placed like any alert whose hold-down ended (joining a local parent
        incident, or opening its own, explained and notified). Remote states are part of the snapshot.
        """
        out = Output()
        changed: dict[str, None] = {}
        self._apply(
            incidents_mod.remote_host(self.correlation, host, state, now, self.inventory, self.incident_config),
            out,
            changed,
        )
        self._publish(changed, now, out)
        return out

    def host_incident(self, host: str) -> str | None:
        """The incident explaining `host`'s alerts: its local incident, else the remote one suppressing them
        (what a host state published for another partition carries)."""
        inc_id = self.correlation.by_host.get(host)
        if inc_id is not None or not self.correlation.behind_remote:
            return inc_id
        for fp in self.correlation.host_alerts.get(host, ()):
            a = self.alerts.get(fp)
            if fp in self.correlation.behind_remote and a is not None and a.inhibited_by:
                return a.inhibited_by.get("ref")
        return None

    # --- helpers --------------------------------------------------------------------------------

    def _host_down(self, host: str) -> bool:
        hs = self.alerts.get(check_fingerprint(host, None))
        return hs is not None and hs.status == "firing" and hs.state_type == "hard"

    def _age_flapping(self, now: float, changed: dict[str, None]) -> None:
        """Flap histories that age on the clock (alerts.age_flapping): a settled alert stops flapping."""
        aging, interval = self._aging, self.alert_config.flap_interval
        while aging and aging[0][0] <= now:
            fp = heapq.heappop(aging)[1]
            a = self.alerts.get(fp)
            if a is None:
                self._aging_set.discard(fp)
                continue
            if alerts_mod.age_flapping(a, now, self.alert_config):
                changed[fp] = None
            if a.percent_state_change or a.flapping:
                heapq.heappush(aging, (max(a.flap_sampled + interval, now + 1e-6), fp))
            else:
                self._aging_set.discard(fp)

    def _track(self, a: AlertState, now: float) -> None:
        if a.status == "firing":
            self._firing[a.fingerprint] = None
            self._resolved.pop(a.fingerprint, None)
        else:
            self._firing.pop(a.fingerprint, None)
            self._resolved.pop(a.fingerprint, None)
            self._resolved[a.fingerprint] = now

    def _apply(self, changes: Changes, out: Output, changed: dict[str, None]) -> None:
        for fp, (incident_id, inhibited_by) in sorted(changes.patches.items()):
            a = self.alerts.get(fp)
            if a is not None and alerts_mod.set_inhibition(a, incident_id, inhibited_by):
                changed[fp] = None
        for inc in changes.incidents.values():
            out.incidents.append(inc.to_incident())

    def _recheck_dependents(self, fp: str, now: float, changed: dict[str, None]) -> None:
        """A master's alert changed: its firing dependents whose dependency verdict changed are published again."""
        for dfp in self.dependencies.dependents(fp):
            a = self.alerts.get(dfp)
            if a is not None and a.status == "firing" and self._suppression(a, now) != a.suppressed_by:
                changed[dfp] = None

    def _suppression(self, a: AlertState, now: float) -> dict[str, Any] | None:
        if a.inhibited_by is not None:
            return a.inhibited_by
        if self.dependencies.masters and a.service is not None and a.kind == "check":
            verdict = self.dependencies.verdict(a.host, a.service, self.alerts)
            if verdict is not None:
                return verdict
        if not (self.controls.silences or self.controls.maintenances):
            return None
        return self.controls.suppression(a.host, a.labels(), now)

    def _refresh_suppression(self, now: float, out: Output, changed: dict[str, None] | None = None) -> None:
        """Re-evaluate silences and maintenance for firing alerts; report what still fails as a window ends."""
        if not (self.controls.silences or self.controls.maintenances):
            if not self._control_residue:
                return  # no control: every firing alert shows its inhibition, as published
        else:
            self._control_residue = True
        local = changed if changed is not None else {}
        ended: dict[str, list[str]] = {}
        for fp in self._firing:
            a = self.alerts[fp]
            new = self._suppression(a, now)
            if new != a.suppressed_by:
                old = a.suppressed_by
                if old is not None and old.get("kind") == "maintenance" and new is None:
                    ended.setdefault(old["ref"], []).append(fp)
                local[fp] = None
        for ref, fps in sorted(ended.items()):
            # logged by the worker; people are told by the groups' maintenance_end notifications
            out.reports.append({"kind": "maintenance_end", "ref": ref, "still_failing": sorted(fps)})
            self.notifier.maintenance_ended(fps)
        if changed is None:
            self._publish(local, now, out)
        if not (self.controls.silences or self.controls.maintenances):
            # every alert found different is published (now, or by the tick calling us) without a verdict
            self._control_residue = False

    def _incident_summary(self, incident_id: str) -> dict[str, Any] | None:
        inc = self.correlation.incidents.get(incident_id)
        return inc.summary() if inc is not None else None

    def _publish(self, fps: dict[str, None], now: float, out: Output) -> None:
        for fp in fps:
            a = self.alerts[fp]
            a.suppressed_by = self._suppression(a, now) if a.status == "firing" else a.suppressed_by
            a.last_emit = now
            a.pending = False
            out.alerts.append(to_alert(a))
            self.notifier.member(a, now)
        self.notifier.flush(now, self.alerts, self._incident_summary, out.notifications)

    def _collect(self, now: float, out: Output) -> None:
        """Forget alerts resolved longer than the retention (their flap history goes with them)."""
        resolved = self._resolved
        while resolved:  # oldest first: stop at the first one to keep (no copy of the whole dict)
            fp, at = next(iter(resolved.items()))
            if now - at < self.retention:
                break
            del resolved[fp]
            a = self.alerts.get(fp)
            if a is not None and a.status == "resolved":
                del self.alerts[fp]
                out.deleted_alerts.append(fp)

    # --- snapshots ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "alerts": {fp: a.to_dict() for fp, a in self.alerts.items()},
            "correlation": self.correlation.to_dict(),
            "controls": self.controls.to_dict(),
            "notifier": self.notifier.to_dict(),
            "inventory": self.inventory.to_dict(),
        }

    def load(self, data: dict[str, Any]) -> None:
        """Restore a to_dict() snapshot (as a worker does from its last snapshot on the state topic)."""
        self.inventory = (
            Inventory.from_snapshot(data["inventory"]) if data.get("inventory") else self.inventory
        )
        self.alerts = {fp: AlertState.from_dict(d) for fp, d in data.get("alerts", {}).items()}
        self.correlation = CorrelationState.from_dict(data.get("correlation", {}))
        self.controls = ControlState.from_dict(data.get("controls", {}), self.inventory)
        self.notifier = Notifier(self.router)
        self.notifier.load(data.get("notifier", {}))
        self._firing = {fp: None for fp, a in self.alerts.items() if a.status == "firing"}
        self._ticking = {fp: None for fp, a in self.alerts.items()
                         if a.pending or (a.resolve_after and a.status == "firing")}
        resolved = sorted(
            (a.resolved_at or a.last_seen, fp) for fp, a in self.alerts.items() if a.status == "resolved"
        )
        self._resolved = {fp: at for at, fp in resolved}
        self._control_residue = True  # the snapshot's verdicts are re-evaluated on the next tick
        self._aging = [
            (a.flap_sampled + self.alert_config.flap_interval, fp)
            for fp, a in self.alerts.items()
            if a.percent_state_change and a.kind != "check"
        ]
        heapq.heapify(self._aging)
        self._aging_set = {fp for _, fp in self._aging}
