"""The guard of an automatic action: agreement between probes, staleness, countdown, cancel, at most once,
max_runs, dry run; every step a record, and the state rebuilt from the records alone."""

from __future__ import annotations

from typing import Any

import pytest

from vigie.config import ActionConfig, ConfigError, validate
from vigie.pipelines.actions.guard import ANNOUNCED, Guard, announcement, assess, expand
from vigie.schemas.codec import rfc3339
from vigie.schemas.validate import validate as validate_value

T0 = 1_800_000_000.0
PROBES = frozenset({"probe-a", "probe-b"})


def spec(**kw: Any) -> ActionConfig:
    base = dict(name="shutdown-room1", command=["ssh", "$HOST$", "sudo", "poweroff"], hosts=["srv1", "srv2"],
                service="room-temp", sources=["room1"], hold=120.0, stale_after=300.0, countdown=300.0,
                armed=True, max_runs=1, period=86400.0)
    base.update(kw)
    return ActionConfig(**base)


def alert(host: str, at: float, severity: str = "critical", status: str = "firing", state_type: str = "hard",
          suppressed_by: dict | None = None) -> dict[str, Any]:
    return {"host": host, "component": "room-temp", "service": "room-temp", "severity": severity, "status": status,
            "state_type": state_type, "first_seen": rfc3339(at), "last_seen": rfc3339(at),
            "suppressed_by": suppressed_by}


def both_hot(now: float) -> list[dict[str, Any]]:
    return [alert("probe-a", now), alert("probe-b", now)]


def steps(records: list[dict[str, Any]]) -> list[str]:
    return [r["step"] for r in records]


def run_until(guard: Guard, start: float, end: float, alerts_at, every: float = 10.0) -> list[dict[str, Any]]:
    """Step the guard every `every` seconds; a "running" record is finished at once (exit 0)."""
    out: list[dict[str, Any]] = []
    now = start
    while now <= end:
        recs = guard.step(now, alerts_at(now))
        out += recs
        if recs and recs[-1]["step"] == "running":
            out.append(guard.finished(now, [{"host": "srv1", "exit_code": 0, "ok": True}]))
        now += every
    return out


def test_two_probes_rising_give_a_countdown_then_one_run() -> None:
    g = Guard(spec(), PROBES)
    out = run_until(g, T0, T0 + 3600, both_hot)
    assert steps(out) == ["condition_met", "countdown", "running", "ran"]
    met, countdown, running = out[0], out[1], out[2]
    assert countdown["at"] == rfc3339(T0 + 120)  # the condition held for `for`
    assert countdown["deadline"] == rfc3339(T0 + 120 + 300)
    assert running["at"] == rfc3339(T0 + 420) and running["id"] == countdown["id"]
    assert running["commands"][0] == {"host": "srv1", "argv": ["ssh", "srv1", "sudo", "poweroff"]}
    assert met["sources"]["agree"] == ["probe-a", "probe-b"]


def test_one_probe_alone_starts_nothing_and_says_the_probes_disagree_once() -> None:
    g = Guard(spec(), PROBES)
    out = run_until(g, T0, T0 + 3600, lambda now: [alert("probe-a", now)])
    assert steps(out) == ["probes_disagree"]
    assert out[0]["sources"]["agree"] == ["probe-a"] and out[0]["sources"]["ok"] == ["probe-b"]
    note = announcement(g.spec, out[0], "room1")
    assert note["reason"] == "new" and note["alert"]["fingerprint"] == "action:shutdown-room1:disagreement"
    assert "probes disagree" in note["alert"]["summary"] and "probe-b OK" in note["alert"]["summary"]


def test_a_resolved_probe_is_ok_and_disagrees() -> None:
    g = Guard(spec(), PROBES)
    out = g.step(T0, [alert("probe-a", T0), alert("probe-b", T0, status="resolved")])
    assert steps(out) == ["probes_disagree"]


def test_cancel_during_the_countdown_means_nothing_runs() -> None:
    g = Guard(spec(), PROBES)
    out = run_until(g, T0, T0 + 200, both_hot)
    assert steps(out)[-1] == "countdown"
    g.apply({"step": "cancel_requested", "action": "shutdown-room1", "id": out[-1]["id"], "author": "alice",
             "reason": "the air conditioning is back", "at": rfc3339(T0 + 210)})
    later = run_until(g, T0 + 210, T0 + 7200, both_hot)
    assert steps(later) == ["cancelled"]
    assert later[0]["author"] == "alice" and later[0]["reason"] == "the air conditioning is back"
    told = announcement(g.spec, later[0], "room1")
    assert told["reason"] == "resolved" and told["alert"]["status"] == "resolved"
    assert "cancelled by alice: the air conditioning is back" in told["alert"]["summary"]


def test_a_cancel_of_another_countdown_is_ignored() -> None:
    g = Guard(spec(), PROBES)
    run_until(g, T0, T0 + 200, both_hot)
    g.apply({"step": "cancel_requested", "id": "shutdown-room1-19990101T000000Z", "author": "bob", "reason": "x"})
    assert "running" in steps(run_until(g, T0 + 210, T0 + 900, both_hot))


def test_a_stale_probe_cannot_arm() -> None:
    g = Guard(spec(), PROBES)
    # probe-b's alert stopped being updated 10 minutes ago: its poller (or the probe) is gone
    out = run_until(g, T0, T0 + 3600, lambda now: [alert("probe-a", now), alert("probe-b", T0 - 600)])
    assert "countdown" not in steps(out) and "running" not in steps(out)
    assert steps(out)[-1] == "sources_stale"
    assert out[-1]["sources"]["stale"] == ["probe-b"]


def test_a_probe_that_does_not_answer_is_unknown_and_cannot_count() -> None:
    g = Guard(spec(), PROBES)
    out = run_until(g, T0, T0 + 3600, lambda now: [alert("probe-a", now), alert("probe-b", now, severity="unknown")])
    assert steps(out) == ["sources_stale"] and out[0]["sources"]["stale"] == ["probe-b"]


def test_a_probe_going_stale_during_the_countdown_cancels_it() -> None:
    g = Guard(spec(stale_after=200.0), PROBES)
    out = run_until(g, T0, T0 + 600, lambda now: [alert("probe-a", now), alert("probe-b", min(now, T0 + 150))])
    assert steps(out)[:3] == ["condition_met", "countdown", "cancelled"]
    assert "running" not in steps(out)


def test_soft_or_warning_alerts_do_not_agree() -> None:
    s = spec()
    a = assess(s, PROBES, [alert("probe-a", T0, state_type="soft"), alert("probe-b", T0, severity="warning")], T0)
    assert a.agree == () and a.rising == ("probe-a", "probe-b")
    loose = assess(spec(hard=False, severity="warning"), PROBES,
                   [alert("probe-a", T0, state_type="soft"), alert("probe-b", T0, severity="warning")], T0)
    assert loose.agree == ("probe-a", "probe-b")


def test_flapping_around_the_threshold_runs_once_per_period() -> None:
    g = Guard(spec(hold=0.0, countdown=60.0, max_runs=1), PROBES)

    def flapping(now: float) -> list[dict[str, Any]]:  # hot 10 minutes, cool 10 minutes, for hours
        hot = int((now - T0) // 600) % 2 == 0
        return both_hot(now) if hot else [alert("probe-a", now, status="resolved"),
                                          alert("probe-b", now, status="resolved")]

    out = run_until(g, T0, T0 + 6 * 3600, flapping)
    assert steps(out).count("running") == 1
    assert steps(out).count("blocked") >= 1  # the later episodes say why nothing runs
    assert any("max_runs" in r.get("reason", "") for r in out if r["step"] == "blocked")
    # the next day, the period is over: one more run
    tomorrow = run_until(g, T0 + 86400 + 60, T0 + 86400 + 1200, flapping)
    assert steps(tomorrow).count("running") == 1


def test_a_dry_run_records_what_would_run_and_counts_as_a_run() -> None:
    g = Guard(spec(armed=False), PROBES)
    out = run_until(g, T0, T0 + 3600, both_hot)
    assert steps(out) == ["condition_met", "countdown", "would_run"]
    assert out[-1]["armed"] is False and out[-1]["commands"][1]["argv"] == ["ssh", "srv2", "sudo", "poweroff"]
    assert "dry run" in announcement(g.spec, out[1], "room1")["alert"]["summary"]


def test_maintenance_on_a_target_blocks_and_cancels() -> None:
    g = Guard(spec(hold=0.0), PROBES)
    blocked = g.step(T0, both_hot(T0), frozenset({"srv1"}))
    assert steps(blocked) == ["blocked"] and "srv1" in blocked[0]["reason"]
    assert g.step(T0 + 10, both_hot(T0 + 10), frozenset({"srv1"})) == []  # said once
    started = g.step(T0 + 20, both_hot(T0 + 20))
    assert steps(started) == ["condition_met", "countdown"]
    suppressed = [alert("probe-a", T0 + 30, suppressed_by={"kind": "maintenance", "ref": "m1"}),
                  alert("probe-b", T0 + 30)]
    assert steps(g.step(T0 + 30, suppressed)) == ["cancelled"]


def test_maintenance_is_ignored_when_the_action_says_so() -> None:
    g = Guard(spec(hold=0.0, respect_maintenance=False), PROBES)
    assert steps(g.step(T0, both_hot(T0), frozenset({"srv1"}))) == ["condition_met", "countdown"]


def test_the_state_is_rebuilt_from_the_records_and_a_started_run_is_not_run_again() -> None:
    g = Guard(spec(), PROBES)
    out = run_until(g, T0, T0 + 200, both_hot)
    out += g.step(T0 + 420, both_hot(T0 + 420))
    assert steps(out)[-1] == "running"  # ... and the process is SIGKILLed here
    again = Guard(spec(), PROBES)
    for rec in out:
        again.apply(rec)
    assert steps(again.recover(T0 + 500)) == ["interrupted"]
    assert "running" not in steps(run_until(again, T0 + 510, T0 + 3600, both_hot))


def test_a_restart_during_the_countdown_keeps_its_deadline() -> None:
    g = Guard(spec(), PROBES)
    out = run_until(g, T0, T0 + 200, both_hot)
    again = Guard(spec(), PROBES)
    for rec in out:
        again.apply(rec)
    assert again.recover(T0 + 300) == []
    later = run_until(again, T0 + 300, T0 + 900, both_hot)
    assert steps(later) == ["running", "ran"] and later[0]["at"] == rfc3339(T0 + 420)


def test_every_record_and_announcement_matches_its_contract() -> None:
    g = Guard(spec(hold=0.0, countdown=60.0), PROBES)
    out = run_until(g, T0, T0 + 300, lambda now: [alert("probe-a", now)] if now < T0 + 60 else both_hot(now))
    out += run_until(g, T0 + 300, T0 + 400, lambda now: [])
    assert {"probes_disagree", "countdown", "running", "ran", "condition_cleared"} <= set(steps(out))
    for rec in out:
        validate_value(rec, "action/1")
        if rec["step"] in ANNOUNCED:
            validate_value(announcement(g.spec, rec, "room1"))


def test_expand_replaces_the_macros_inside_arguments() -> None:
    assert expand(["ipmitool", "-H", "$HOSTADDRESS$", "--label=$HOST$"], "srv1", "10.0.0.5") == \
        ["ipmitool", "-H", "10.0.0.5", "--label=srv1"]


BASE = {"inventory": {"hosts": {"probe-a": {}, "probe-b": {}, "srv1": {}},
                      "hostgroups": {"room1": {"members": ["probe-a", "probe-b"]}}}}


@pytest.mark.parametrize(("action", "message"), [
    ({"min_sources": 1}, "actions[0].min_sources: expected at least 2"),
    ({"sources": ["probe-a"]}, "actions[0].sources: expected at least min_sources = 2 hosts, got 1"),
    ({"webhook": "https://x.example/hook"}, "actions[0].command: expected command or webhook"),
    ({"hosts": ["nowhere"]}, "actions[0].hosts: expected known host names"),
    ({"sources": ["room9"]}, "actions[0].sources: expected host or host group names"),
    ({"for": "soon"}, "actions[0].for:"),
])
def test_config_errors_are_one_line(action: dict[str, Any], message: str) -> None:
    good = {"name": "a1", "command": ["true"], "hosts": ["srv1"], "service": "room-temp", "sources": ["room1"]}
    with pytest.raises(ConfigError) as err:
        validate({**BASE, "actions": [{**good, **action}]})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_single_source_allowed_when_said() -> None:
    cfg = validate({**BASE, "actions": [{"name": "a1", "command": ["true"], "hosts": ["srv1"], "service": "t",
                                         "sources": ["probe-a"], "min_sources": 1, "allow_single_source": True}]})
    assert cfg.actions[0].min_sources == 1 and cfg.actions[0].armed is False
