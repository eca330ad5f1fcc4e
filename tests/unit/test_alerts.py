"""Alert state machine: dedup, soft/hard, recovery, rate-limited updates under a storm, flapping, acks."""

import itertools

from vigie.pipelines.correlate.alerts import (
    AlertConfig,
    AlertState,
    acknowledge,
    apply_event,
    tick,
    to_alert,
)

T0 = 1_740_823_200.0


def ev(severity="critical", kind="check", host="srv1", service="HTTP", fp=None, **attrs):
    fingerprint = fp or (f"{host}|check|{service}" if kind == "check" else f"{host}|{kind}:x|c")
    attributes = {"rule": service, "service": service if kind == "check" else None, **attrs}
    return {
        "id": "x",
        "ts": None,
        "kind": kind,
        "host": host,
        "site": "paris",
        "component": service or "host",
        "severity": severity,
        "fingerprint": fingerprint,
        "clears": fingerprint if severity == "ok" else None,
        "summary": f"{service} {severity}",
        "attributes": attributes,
        "origin": None,
        "schema": "event/1",
    }


def test_alert_contract_and_dedup():
    st, emit = apply_event(None, ev(kind="syslog"), T0)
    assert emit and st.status == "firing" and st.state_type == "hard" and st.transitions == ["new"]
    st, emit = apply_event(st, ev(kind="syslog"), T0 + 2)
    assert emit and st.count == 2 and st.first_seen == T0 and st.last_seen == T0 + 2
    alert = to_alert(st)
    assert alert["schema"] == "alert/1" and alert["count"] == 2
    for key in (
        "fingerprint",
        "status",
        "severity",
        "host",
        "site",
        "component",
        "summary",
        "first_seen",
        "last_seen",
        "count",
        "state_type",
        "flapping",
        "suppressed_by",
        "incident_id",
        "sources",
    ):
        assert key in alert
    assert alert["first_seen"] == "2025-03-01T10:00:00.000000Z" and alert["sources"] == ["syslog"]


def test_clear_without_alert_is_nothing():
    assert apply_event(None, ev("ok"), T0) == (None, False)


def test_soft_then_hard_after_max_check_attempts():
    st, _ = apply_event(None, ev(), T0)
    assert (st.state_type, st.attempt, st.max_attempts) == ("soft", 1, 3)
    st, _ = apply_event(st, ev(), T0 + 60)
    assert (st.state_type, st.attempt) == ("soft", 2)
    st, emit = apply_event(st, ev(), T0 + 120)
    assert (st.state_type, st.attempt, st.transitions, emit) == ("hard", 3, ["hard"], True)
    st, _ = apply_event(st, ev(), T0 + 180)
    assert (st.state_type, st.attempt) == ("hard", 3)


def test_override_and_host_down_make_it_hard_at_once():
    st, _ = apply_event(None, ev(), T0, max_attempts=1)
    assert st.state_type == "hard"
    st, _ = apply_event(None, ev(), T0, host_down=True)
    assert st.state_type == "hard"
    soft, _ = apply_event(None, ev(), T0)
    soft, _ = apply_event(soft, ev(), T0 + 60, host_down=True)  # host went DOWN meanwhile
    assert soft.state_type == "hard" and soft.transitions == ["hard"]


def test_soft_recovery_and_hard_recovery():
    st, _ = apply_event(None, ev(), T0)
    st, emit = apply_event(st, ev("ok"), T0 + 60)
    assert (st.status, st.state_type, st.transitions, emit) == ("resolved", "soft", ["resolved"], True)
    st, _ = apply_event(None, ev(), T0, max_attempts=1)
    st, _ = apply_event(st, ev("ok"), T0 + 60)
    assert (st.status, st.state_type, st.resolved_at) == ("resolved", "hard", T0 + 60)
    st, emit = apply_event(st, ev("ok"), T0 + 120)  # OK again: nothing new to say
    assert not emit and st.status == "resolved"


def test_refire_after_resolution_starts_over():
    st, _ = apply_event(None, ev(kind="trap"), T0)
    st, _ = apply_event(st, ev(kind="trap"), T0 + 1)
    st, _ = apply_event(st, ev("ok", kind="trap"), T0 + 2)
    st, emit = apply_event(st, ev(kind="trap"), T0 + 3)
    assert emit and st.status == "firing" and st.count == 1 and st.first_seen == T0 + 3
    assert st.transitions == ["refired"] and st.resolved_at is None


def test_severity_change_is_published():
    st, _ = apply_event(None, ev("warning"), T0, max_attempts=1)
    st, emit = apply_event(st, ev("critical"), T0 + 0.1)
    assert emit and st.transitions == ["severity"] and st.severity == "critical"


def test_storm_of_100000_identical_events():
    cfg = AlertConfig()
    st, emitted = None, 0
    n = 100_000
    step = 0.0005  # 100,000 events over 50 seconds
    for i in range(n):
        st, emit = apply_event(st, ev(kind="syslog"), T0 + i * step, cfg)
        emitted += emit
    elapsed = (n - 1) * step
    assert st.count == n and st.status == "firing"
    # the first event, then at most one update per second of the storm
    assert emitted <= int(elapsed) + 2
    assert emitted >= int(elapsed) - 1
    # the final count is published by a tick once the interval passed
    if st.pending:
        assert tick(st, T0 + elapsed + 1.0, cfg)
    assert not tick(st, T0 + elapsed + 5.0, cfg)
    assert to_alert(st)["count"] == n


def test_pending_is_published_on_next_event_after_interval():
    st, _ = apply_event(None, ev(kind="syslog"), T0)
    st, emit = apply_event(st, ev(kind="syslog"), T0 + 0.3)
    assert not emit and st.pending
    assert not tick(st, T0 + 0.5)  # too soon
    st, emit = apply_event(st, ev(kind="syslog"), T0 + 1.2)
    assert emit and not st.pending and st.count == 3


def test_one_shot_problem_resolves_after_resolve_after():
    st, _ = apply_event(None, ev(kind="syslog", resolve_after=600), T0)
    assert not tick(st, T0 + 599)
    assert tick(st, T0 + 600) and st.status == "resolved" and st.transitions == ["resolved"]


def test_flapping_start_and_stop_transitions():
    st = None
    transitions = []
    for i, sev in enumerate(["critical", "ok"] * 3):
        st, _ = apply_event(st, ev(sev, kind="trap"), T0 + i)
        transitions += st.transitions
    # percent after c,o,c,o = 24.21 % -> flap_start on the 4th result (see test_flapping)
    assert "flap_start" in transitions and st.flapping
    for i in range(25):
        st, _ = apply_event(st, ev("ok", kind="trap"), T0 + 10 + i)
        if "flap_stop" in st.transitions:
            break
    assert not st.flapping


def test_a_flapping_alerts_flips_are_paced_but_flap_start_and_stop_are_not():
    st, emitted = None, []
    for i, sev in enumerate(["critical", "ok"] * 10):  # 20 flips 0.1 s apart
        st, emit = apply_event(st, ev(sev, kind="trap"), T0 + i * 0.1)
        if emit:
            emitted.append((i * 0.1, st.transitions))
    assert st.flapping
    start = next(i for i, (_, t) in enumerate(emitted) if "flap_start" in t)
    assert start == 3  # new, resolved, refired, then flap_start: each published at once
    after = [t for t, _ in emitted[start:]]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(after))  # then at most one per update_interval
    assert len(emitted) < 8 and st.pending and st.status == "resolved"
    assert tick(st, T0 + 3.0) and not st.pending  # the last state, published by a tick
    # not flapping: every flip is published at once
    st, _ = apply_event(None, ev("critical", kind="trap", host="other"), T0)
    st, emit = apply_event(st, ev("ok", kind="trap", host="other"), T0 + 0.1)
    assert emit and st.status == "resolved"


def test_ack_is_sticky_until_ok():
    st, _ = apply_event(None, ev(), T0, max_attempts=1)
    assert acknowledge(st, "alice", "on it", T0 + 5)
    st, _ = apply_event(st, ev("warning"), T0 + 60)  # still a problem, other state: ack stays
    assert st.acknowledged["author"] == "alice"
    st, _ = apply_event(st, ev("ok"), T0 + 120)
    assert st.acknowledged is None
    assert not acknowledge(st, "bob", "late", T0 + 130)  # nothing firing


def test_state_round_trips_through_dict():
    st, _ = apply_event(None, ev(), T0)
    st, _ = apply_event(st, ev(), T0 + 1)
    again = AlertState.from_dict(st.to_dict())
    assert again == st
    nxt_a, _ = apply_event(st, ev(), T0 + 2)
    nxt_b, _ = apply_event(again, ev(), T0 + 2)
    assert nxt_a.to_dict() == nxt_b.to_dict()
