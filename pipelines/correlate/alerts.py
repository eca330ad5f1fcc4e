"""Alert state machine: events deduplicated by fingerprint, Nagios soft/hard states, flapping, rate-limited updates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from vigie.pipelines.correlate import flapping
from vigie.schemas.codec import rfc3339

if TYPE_CHECKING:
    from vigie.config import CorrelationConfig

ALERT_SCHEMA = "alert/1"
SEVERITY_RANK = {"ok": 0, "info": 1, "unknown": 2, "warning": 3, "critical": 4}
# transitions worth publishing at once; a count-only update waits for the rate limit
NEW, REFIRED, HARD, SEVERITY, RESOLVED = "new", "refired", "hard", "severity", "resolved"
FLAP_START, FLAP_STOP, ACK = "flap_start", "flap_stop", "ack"


@dataclass(slots=True, frozen=True)
class AlertConfig:
    """Tunables of the [correlation] table that the alert stage uses."""

    max_check_attempts: int = 3
    update_interval: float = 1.0  # at most one published update per alert per this many seconds
    flap: flapping.FlapConfig = field(default_factory=flapping.FlapConfig)
    flap_interval: float = 30.0  # an alert with no event for this long counts as one more result in its state

    @classmethod
    def from_config(cls, config: CorrelationConfig) -> AlertConfig:
        """From the checked [correlation] section (vigie.config validated it)."""
        flap = flapping.FlapConfig(config.flap_low_threshold, config.flap_high_threshold)
        return cls(config.max_check_attempts, config.update_interval, flap, config.flap_interval)


DEFAULT_CONFIG = AlertConfig()


@dataclass(slots=True)
class AlertState:
    """What the correlator remembers per fingerprint; snapshotted as to_dict() with the engine."""

    fingerprint: str
    host: str
    site: str
    component: str
    kind: str
    rule: str | None
    service: str | None
    category: str | None
    severity: str
    summary: str
    status: str  # firing | resolved
    first_seen: float
    last_seen: float
    count: int = 1
    state_type: str = "hard"  # soft | hard
    attempt: int = 1
    max_attempts: int = 1
    flap_history: str = flapping.INITIAL_HISTORY
    percent_state_change: float = 0.0
    flapping: bool = False
    inhibited_by: dict[str, Any] | None = None  # set by the incident stage (incident, hold-down)
    suppressed_by: dict[str, Any] | None = None  # inhibited_by, else maintenance, else silence
    incident_id: str | None = None
    sources: list[str] = field(default_factory=list)
    acknowledged: dict[str, Any] | None = None
    resolve_after: float | None = None
    last_emit: float = 0.0
    pending: bool = False  # an update exists that the rate limit held back
    transitions: list[str] = field(default_factory=list)  # what the last apply/tick changed
    flap_sampled: float = 0.0  # when flap_history last took a state (an event, or the clock: age_flapping)
    resolved_at: float | None = None
    servicegroups: str | None = None  # a check's service groups (normalize's attribute): the label of that name

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if out["servicegroups"] is None:
            del out["servicegroups"]  # snapshots without service groups stay as they were (from_dict defaults it)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        names = _FIELD_NAMES
        return cls(**{k: v for k, v in data.items() if k in names})

    def labels(self) -> dict[str, str]:
        """The labels silences and routes match on."""
        out = {
            "host": self.host,
            "site": self.site,
            "component": self.component,
            "severity": self.severity,
            "kind": self.kind,
        }
        if self.service:
            out["service"] = self.service
        if self.rule:
            out["alertname"] = self.rule
        if self.servicegroups:
            out["servicegroups"] = self.servicegroups
        return out


_FIELD_NAMES = frozenset(f.name for f in fields(AlertState))


def to_alert(state: AlertState) -> dict[str, Any]:
    """The `alerts` topic value (schema alert/1) for a state."""
    return {
        "fingerprint": state.fingerprint,
        "status": state.status,
        "severity": state.severity,
        "host": state.host,
        "site": state.site,
        "component": state.component,
        "service": state.service,
        "rule": state.rule,
        "summary": state.summary,
        "first_seen": rfc3339(state.first_seen),
        "last_seen": rfc3339(state.last_seen),
        "resolved_at": rfc3339(state.resolved_at) if state.resolved_at is not None else None,
        "count": state.count,
        "state_type": state.state_type,
        "attempt": state.attempt,
        "max_attempts": state.max_attempts,
        "flapping": state.flapping,
        "percent_state_change": round(state.percent_state_change, 2),
        "acknowledged": state.acknowledged,
        "suppressed_by": state.suppressed_by,
        "incident_id": state.incident_id,
        "sources": list(state.sources),
        "schema": ALERT_SCHEMA,
    }


def _new_state(event: dict[str, Any], now: float, max_attempts: int, host_down: bool) -> AlertState:
    attributes = event.get("attributes") or {}
    kind = event["kind"]
    attempts = max_attempts if kind == "check" else 1
    hard = attempts <= 1 or (host_down and attributes.get("service") is not None)
    return AlertState(
        fingerprint=event["fingerprint"],
        host=event["host"],
        site=event["site"],
        component=event.get("component") or "",
        kind=kind,
        rule=attributes.get("rule"),
        service=attributes.get("service"),
        category=attributes.get("category"),
        severity=event["severity"],
        summary=event.get("summary") or "",
        status="firing",
        first_seen=now,
        last_seen=now,
        count=1,
        state_type="hard" if hard else "soft",
        attempt=attempts if hard else 1,
        max_attempts=attempts,
        resolve_after=attributes.get("resolve_after"),
        sources=[kind],
        transitions=[NEW],
        servicegroups=attributes.get("servicegroups"),
    )


_FLIPS = frozenset((RESOLVED, REFIRED))


def _finish(state: AlertState, now: float, config: AlertConfig) -> tuple[AlertState, bool]:
    """Publish now when something changed, else at most once per update_interval (the rest is pending).

    A flapping alert's up/down flips are paced too: they are what flapping means, and notifications
    already give way to flapping start and stop; its state is published at most once per interval.
    """
    transitions = state.transitions
    if transitions and state.flapping and _FLIPS.issuperset(transitions):
        transitions = []
    if transitions or now - state.last_emit >= config.update_interval:
        state.last_emit = now
        state.pending = False
        return state, True
    state.pending = True
    return state, False


def apply_event(
    state: AlertState | None,
    event: dict[str, Any],
    now: float,
    config: AlertConfig = DEFAULT_CONFIG,
    *,
    max_attempts: int | None = None,
    host_down: bool = False,
) -> tuple[AlertState | None, bool]:
    """Fold one event into its alert; returns (state, emit). A clear with no alert gives (None, False).

    `now` is epoch seconds (pass the event time for replayable results); `max_attempts` is the
    inventory override for this host/service; `host_down` says the host check is in a hard DOWN
    state, which makes a failing service hard at once (Nagios).
    """
    severity = event["severity"]
    problem = severity != "ok"
    if state is None:
        if not problem:
            return None, False
        state = _new_state(event, now, max_attempts or config.max_check_attempts, host_down)
        if config.flap.enabled:
            state.flap_history, state.percent_state_change, state.flapping = flapping.update(
                state.flap_history, False, severity, config.flap
            )
            state.flap_sampled = now
        return _finish(state, now, config)

    transitions: list[str] = []
    if config.flap.enabled:
        was = state.flapping
        state.flap_history, state.percent_state_change, state.flapping = flapping.update(
            state.flap_history, was, severity, config.flap
        )
        state.flap_sampled = now
        if state.flapping != was:
            transitions.append(FLAP_START if state.flapping else FLAP_STOP)
    kind = event["kind"]
    if kind not in state.sources:
        state.sources.append(kind)
    is_check = kind == "check"

    if problem:
        state.last_seen = now
        if event.get("summary"):
            state.summary = event["summary"]
        if is_check:
            state.servicegroups = (event.get("attributes") or {}).get("servicegroups")  # follows the configuration
        if state.status == "resolved":
            # a new occurrence of the problem: new counters, attempts start again
            state.status = "firing"
            state.first_seen = now
            state.count = 1
            state.resolved_at = None
            state.incident_id = None
            state.inhibited_by = None
            state.suppressed_by = None
            state.severity = severity
            attempts = (max_attempts or config.max_check_attempts) if is_check else 1
            state.max_attempts = attempts
            hard = attempts <= 1 or (host_down and state.service is not None)
            state.state_type = "hard" if hard else "soft"
            state.attempt = attempts if hard else 1
            transitions.append(REFIRED)
        else:
            state.count += 1
            if state.state_type == "soft":
                state.attempt += 1
                if state.attempt >= state.max_attempts or (host_down and state.service is not None):
                    state.attempt = state.max_attempts
                    state.state_type = "hard"
                    transitions.append(HARD)
            if severity != state.severity:
                state.severity = severity
                transitions.append(SEVERITY)
    elif state.status == "firing":
        # recovery: from a hard problem it is a hard recovery (notified), from soft a soft one
        state.status = "resolved"
        state.resolved_at = now
        state.acknowledged = None  # acknowledgements are sticky until OK
        transitions.append(RESOLVED)
    elif not transitions:
        state.transitions = transitions
        return state, False  # OK again while resolved: nothing new to publish
    state.transitions = transitions
    return _finish(state, now, config)


def tick(state: AlertState, now: float, config: AlertConfig = DEFAULT_CONFIG) -> bool:
    """Time passing: publish a held-back update, resolve one-shot problems after resolve_after."""
    state.transitions = []
    if state.status == "firing" and state.resolve_after and now - state.last_seen >= state.resolve_after:
        state.status = "resolved"
        state.resolved_at = now
        state.acknowledged = None
        state.transitions = [RESOLVED]
        state.last_emit = now
        state.pending = False
        return True
    if state.pending and now - state.last_emit >= config.update_interval:
        state.last_emit = now
        state.pending = False
        return True
    return False


def age_flapping(state: AlertState, now: float, config: AlertConfig = DEFAULT_CONFIG) -> bool:
    """Flap detection on the clock for traps and syslog alerts (which only send changes): each flap_interval
    without an event records the alert's current state (flapping.age); True when that ended (or started)
    flapping, with the transition set for publishing."""
    if not config.flap.enabled or config.flap_interval <= 0 or state.kind == "check":
        return False  # check results are their own samples, as in Nagios
    if state.flap_sampled <= 0:  # a state from before the clock counted: it starts counting now
        state.flap_sampled = now
        return False
    samples = int((now - state.flap_sampled) // config.flap_interval)
    if samples < 1:
        return False
    code = flapping.STATE_CHARS.get(state.severity, "u") if state.status == "firing" else flapping.OK
    was = state.flapping
    state.flap_history, state.percent_state_change, state.flapping = flapping.age(
        state.flap_history, was, code, samples, config.flap
    )
    state.flap_sampled += samples * config.flap_interval
    if state.flapping == was:
        return False
    state.transitions = [FLAP_START if state.flapping else FLAP_STOP]
    state.last_emit = now
    state.pending = False
    return True


def acknowledge(state: AlertState, author: str, reason: str, now: float) -> bool:
    """Sticky acknowledgement of a firing alert (cleared when it recovers); False when nothing to ack."""
    if state.status != "firing":
        return False
    state.acknowledged = {"author": author, "reason": reason, "at": rfc3339(now)}
    state.transitions = [ACK]
    state.last_emit = now
    state.pending = False
    return True


def set_inhibition(state: AlertState, incident_id: str | None, inhibited_by: dict[str, Any] | None) -> bool:
    """Record the incident stage's verdict; True when it changed what the alert shows."""
    if state.incident_id == incident_id and state.inhibited_by == inhibited_by:
        return False
    state.incident_id = incident_id
    state.inhibited_by = inhibited_by
    return True
