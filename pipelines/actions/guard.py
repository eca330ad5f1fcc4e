"""The guard of one automatic action: from the current alerts and the clock, the next steps (pure, no Kafka).

An action shuts servers down; one faulty probe must never be enough. The guard therefore asks that at least
`min_sources` sources agree (a firing, HARD, CRITICAL alert of the action's service seen within
`stale_after`) for `for`, then announces a countdown anyone can cancel, and only then runs (or, unarmed,
records what it would have run). Each step is one record for the `actions` topic (action/1, keyed by the
action's name); the state is nothing but the fold of those records (`apply`), so a restarted service reads its
own log back and carries on where it stopped. A "running" record without its "ran" means the process died
while executing: the step is recorded "interrupted" and never run again (at most once).

Phases: idle -> met (condition holds, since) -> countdown (id, deadline) -> running -> ran; a countdown ends
cancelled (by a person, a maintenance window, or the condition clearing). After ran or cancelled the guard
waits for the condition to clear before it can start again; `max_runs` per `period` bounds the episodes.
Hysteresis belongs to the poller: a value hovering at the threshold does not clear its alert at every poll.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from vigie.config import ActionConfig
from vigie.schemas.codec import parse_rfc3339, rfc3339

ACTION_SCHEMA = "action/1"
SEVERITY_RANK = {"warning": 1, "critical": 2}
STEPS = ("condition_met", "condition_cleared", "probes_disagree", "sources_stale", "blocked", "countdown",
         "cancel_requested", "cancelled", "running", "ran", "would_run", "interrupted")
NOTES = ("probes_disagree", "sources_stale", "blocked")  # said once while the situation lasts
ANNOUNCED = ("countdown", "cancelled", "probes_disagree")  # the steps told on the action's routes


def epoch(text: Any) -> float | None:
    """An RFC 3339 time of a record as epoch seconds; None when absent or not a time."""
    if not isinstance(text, str):
        return None
    try:
        return parse_rfc3339(text).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Assessment:
    """What each source says now: agreeing, OK (no firing alert), stale (too old, or UNKNOWN), or firing but not
    (yet) enough."""

    agree: tuple[str, ...]
    ok: tuple[str, ...]
    stale: tuple[str, ...]
    rising: tuple[str, ...]
    maintenance: tuple[str, ...]  # targets or sources in a maintenance window

    def to_dict(self) -> dict[str, list[str]]:
        return {"agree": list(self.agree), "ok": list(self.ok), "stale": list(self.stale),
                "rising": list(self.rising)}


def assess(spec: ActionConfig, sources: frozenset[str], alerts: list[dict[str, Any]], now: float,
           maintenance_hosts: frozenset[str] = frozenset()) -> Assessment:
    """Classify each source host from the latest alerts of the action's service (the newest one per host)."""
    newest: dict[str, tuple[float, dict[str, Any]]] = {}
    for a in alerts:
        host = a.get("host")
        if host not in sources or spec.service not in (a.get("component"), a.get("service")):
            continue
        seen = epoch(a.get("last_seen")) or 0.0
        if host not in newest or seen >= newest[host][0]:
            newest[host] = (seen, a)
    agree, ok, stale, rising = [], [], [], []
    in_maintenance = set(maintenance_hosts)
    need = SEVERITY_RANK[spec.severity]
    for host in sorted(sources):
        seen, a = newest.get(host, (0.0, {}))
        suppressed = a.get("suppressed_by")
        if isinstance(suppressed, dict) and suppressed.get("kind") == "maintenance":
            in_maintenance.add(host)
        if a.get("status") != "firing":
            ok.append(host)
        elif seen < now - spec.stale_after or a.get("severity") == "unknown":
            stale.append(host)  # too old to trust, or UNKNOWN: a probe that does not answer says nothing
        elif SEVERITY_RANK.get(str(a.get("severity")), 0) >= need and (
                not spec.hard or str(a.get("state_type", "")).lower() == "hard"):
            agree.append(host)
        else:
            rising.append(host)
    involved = in_maintenance & (set(spec.hosts) | sources)
    return Assessment(tuple(agree), tuple(ok), tuple(stale), tuple(rising), tuple(sorted(involved)))


def expand(argv: list[str], host: str, address: str) -> list[str]:
    """The command for one target: $HOST$ and $HOSTADDRESS$ replaced inside each argument (no shell)."""
    return [arg.replace("$HOSTADDRESS$", address).replace("$HOST$", host) for arg in argv]


@dataclass
class GuardState:
    """The fold of one action's records."""

    phase: str = "idle"
    since: float | None = None  # when the condition was met
    id: str | None = None  # the current (or last) countdown's id
    deadline: float | None = None
    runs: list[float] = field(default_factory=list)  # when each run (or dry run) started
    note: str | None = None  # the last note said, not repeated while it lasts
    cancel: dict[str, Any] | None = None  # a cancel request for the current countdown, not yet acted on
    last: list[dict[str, Any]] = field(default_factory=list)  # the last steps, newest last (vigie action list)


class Guard:
    """One action's guard: `step` gives the next records, `apply` folds any record (its own or read back)."""

    KEEP_LAST = 10

    def __init__(self, spec: ActionConfig, sources: frozenset[str], addresses: dict[str, str] | None = None) -> None:
        self.spec = spec
        self.sources = sources
        self.addresses = addresses or {}
        self.state = GuardState()

    # ---- folding ----

    def apply(self, record: dict[str, Any]) -> None:
        """Fold one record of this action into the state (the same code on the way out and on a restart)."""
        st, step = self.state, record.get("step")
        at = epoch(record.get("at")) or 0.0
        if step == "cancel_requested":
            if st.phase == "countdown" and record.get("id") in (None, st.id):
                st.cancel = record
        elif step in NOTES:
            st.note = note_key(record)
        elif step == "condition_met":
            st.phase, st.since, st.note = "met", at, None
        elif step == "condition_cleared":
            st.phase, st.since, st.note, st.cancel = "idle", None, None, None
        elif step == "countdown":
            st.phase, st.id, st.deadline, st.note = "countdown", record.get("id"), epoch(record.get("deadline")), None
        elif step == "cancelled":
            st.phase, st.cancel = "cancelled", None
        elif step == "running":
            st.phase = "running"
            st.runs.append(at)
        elif step == "would_run":
            st.phase = "ran"
            st.runs.append(at)
        elif step in ("ran", "interrupted"):
            st.phase = "ran"
        else:
            return
        st.last = [*st.last, record][-self.KEEP_LAST:]

    def _record(self, step: str, now: float, **fields: Any) -> dict[str, Any]:
        rec = {"schema": ACTION_SCHEMA, "action": self.spec.name, "step": step, "at": rfc3339(now),
               "id": self.state.id if self.state.phase in ("countdown", "running") else None,
               "armed": self.spec.armed, **fields}
        self.apply(rec)
        return rec

    # ---- deciding ----

    def recover(self, now: float) -> list[dict[str, Any]]:
        """After reading the log back: a run that started and never ended is recorded, never run again."""
        if self.state.phase != "running":
            return []
        return [self._record("interrupted", now, id=self.state.id,
                             reason="the actions service stopped while the action ran: not run again")]

    def step(self, now: float, alerts: list[dict[str, Any]],
             maintenance_hosts: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
        """The records the situation at `now` calls for (already folded into the state)."""
        spec, st = self.spec, self.state
        a = assess(spec, self.sources, alerts, now, maintenance_hosts)
        met = len(a.agree) >= spec.min_sources
        blocked = bool(a.maintenance) and spec.respect_maintenance
        out: list[dict[str, Any]] = []
        if st.phase == "running":
            return out  # the service is executing; "ran" comes from finished()
        if st.phase == "countdown":
            if st.cancel is not None:
                req = st.cancel
                out.append(self._record("cancelled", now, author=req.get("author", ""), reason=req.get("reason", "")))
            elif blocked:
                out.append(self._record("cancelled", now, author="vigie",
                                        reason=f"maintenance window on {', '.join(a.maintenance)}"))
            elif not met:
                out.append(self._record("cancelled", now, author="vigie", reason="the condition no longer holds",
                                        sources=a.to_dict()))
            elif st.deadline is not None and now >= st.deadline:
                out.append(self._run_record(now))
                return out
            else:
                return out
        if st.phase in ("cancelled", "ran", "met") and not met:
            out.append(self._record("condition_cleared", now, sources=a.to_dict()))
        elif st.phase == "idle" and met and not blocked:
            out.append(self._record("condition_met", now, sources=a.to_dict()))
        if st.phase == "met" and not blocked and st.since is not None and now - st.since >= spec.hold:
            recent = [t for t in st.runs if t > now - spec.period]
            if len(recent) < spec.max_runs:
                ident = f"{spec.name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"
                deadline = now + spec.countdown
                out.append(self._record("countdown", now, id=ident, deadline=rfc3339(deadline),
                                        targets=list(spec.hosts), sources=a.to_dict()))
                return out
            out += self._note("blocked", now, reason=f"max_runs: {len(recent)} run(s) in the last period",
                              sources=a.to_dict())
            return out
        out += self._notes(a, met, blocked, now)
        return out

    def _notes(self, a: Assessment, met: bool, blocked: bool, now: float) -> list[dict[str, Any]]:
        """Why nothing happens, said once: probes disagree, sources too old to count, a maintenance window."""
        spec = self.spec
        if met and blocked and self.state.phase in ("idle", "met"):
            return self._note("blocked", now, reason=f"maintenance window on {', '.join(a.maintenance)}",
                              sources=a.to_dict())
        if met or self.state.phase not in ("idle", "met"):
            return []
        if a.agree and a.ok:
            return self._note("probes_disagree", now, sources=a.to_dict(),
                              reason=f"{len(a.agree)} source(s) {spec.severity}, {len(a.ok)} OK: no action")
        if a.stale and len(a.agree) + len(a.stale) >= spec.min_sources:
            return self._note("sources_stale", now, sources=a.to_dict(),
                              reason=f"{', '.join(a.stale)} UNKNOWN or not seen for {spec.stale_after:g} s: "
                                     "cannot count")
        self.state.note = None
        return []

    def _note(self, step: str, now: float, **fields: Any) -> list[dict[str, Any]]:
        rec = {"step": step, **fields}
        if note_key(rec) == self.state.note:
            return []
        return [self._record(step, now, **fields)]

    def _run_record(self, now: float) -> dict[str, Any]:
        """At the deadline: "running" when armed (the service executes once the broker has it), else "would_run"."""
        commands = self.commands()
        if self.spec.armed:
            return self._record("running", now, targets=list(self.spec.hosts), commands=commands)
        return self._record("would_run", now, id=self.state.id, targets=list(self.spec.hosts), commands=commands,
                            reason="dry run: armed = false")

    def commands(self) -> list[dict[str, Any]]:
        """What runs on each target: the expanded argv, or the webhook URL."""
        spec = self.spec
        if spec.webhook:
            return [{"host": h, "webhook": spec.webhook} for h in spec.hosts]
        return [{"host": h, "argv": expand(spec.command, h, self.addresses.get(h) or h)} for h in spec.hosts]

    def finished(self, now: float, results: list[dict[str, Any]]) -> dict[str, Any]:
        """The "ran" record after execution: each target's exit code (or HTTP status) and output."""
        ok = all(r.get("ok") for r in results)
        return self._record("ran", now, id=self.state.id, results=results, ok=ok)


def note_key(record: dict[str, Any]) -> str:
    """What makes a note the same as the previous one: its step, reason and the sources' verdicts."""
    return f"{record.get('step')}|{record.get('reason', '')}|{record.get('sources')}"


def announcement(spec: ActionConfig, record: dict[str, Any], route: str) -> dict[str, Any]:
    """The notification/1 telling a route that a countdown started (and how to cancel it), was cancelled, or
    that the probes disagree. It uses the reasons every receiver and the console already know: "new" for a
    countdown or a disagreement, "resolved" for a cancel; its lone alert (fingerprint `action:NAME:KIND`,
    component the action's name) says which, and its summary what happens."""
    targets = ", ".join(spec.hosts)
    ident = record.get("id") or ""
    status = "firing"
    if record["step"] == "countdown":
        mode = "" if spec.armed else " (dry run: nothing will be executed)"
        summary = (f"action {spec.name} runs on {targets} at {record.get('deadline')}{mode}; "
                   f"cancel: vigie action cancel {ident} --reason ...")
        kind, reason = "countdown", "new"
    elif record["step"] == "probes_disagree":
        sources = record.get("sources") or {}
        summary = (f"action {spec.name} not started, probes disagree: {', '.join(sources.get('agree', []))} "
                   f"{spec.severity}, {', '.join(sources.get('ok', []))} OK")
        kind, reason = "disagreement", "new"
    else:
        summary = f"action {spec.name} cancelled by {record.get('author', '')}: {record.get('reason', '')}"
        kind, reason, status = "countdown", "resolved", "resolved"
    alert = {"fingerprint": f"action:{spec.name}:{kind}", "host": targets, "site": "", "component": spec.name,
             "service": spec.service, "severity": "critical", "status": status, "state_type": "hard",
             "summary": summary, "first_seen": record["at"], "last_seen": record["at"], "suppressed_by": None,
             "incident_id": None}
    return {"schema": "notification/1", "id": f"action:{ident or spec.name}:{record['step']}:{record['at']}:{route}",
            "route": route, "reason": reason, "at": record["at"], "alert": alert, "alerts": [alert], "incident": None}
