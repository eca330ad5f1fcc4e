"""The correlate stage end to end: maintenance windows, control commands, snapshots, replay determinism."""

import orjson

from tests import configured
from vigie.config import validate
from vigie.pipelines.correlate.engine import Engine, event_time
from vigie.pipelines.normalize.normalize import LINK_DOWN, Normalizer

T = 1_740_823_200.0  # 2025-03-01T10:00:00Z
INV = {
    "default_site": "paris",
    "hosts": {
        "r1": {"address": "10.1.0.1", "max_check_attempts": 1},
        **{f"h{i}": {"parents": ["r1"], "max_check_attempts": 1} for i in range(1, 4)},
        "lone": {"max_check_attempts": 1},
    },
}


def make():
    return Normalizer(configured.inventory(INV)), Engine(configured.inventory(INV), router=configured.router([{"name": "oncall"}]))


def check(norm, host, status, service="PING"):
    return norm.check({"host": host, "service": service, "status": status, "output": f"{service} {status}"})


def control(kind, **kw):
    return {
        "schema": "control/1",
        "id": f"{kind}-1",
        "kind": kind,
        "author": "alice",
        "reason": "planned",
        **kw,
    }


def test_maintenance_hides_an_outage_and_reports_what_still_fails_at_its_end():
    norm, eng = make()
    out = eng.control(
        control("maintenance", hosts=["r1"], start="2025-03-01T10:00:00Z", end="2025-03-01T11:00:00Z"), T
    )
    assert out.errors == []
    notes = []
    notes += eng.process(check(norm, "r1", 2, service=None), T + 600).notifications
    for h in ("h1", "h2", "h3"):
        notes += eng.process(check(norm, h, 2), T + 605).notifications
        notes += eng.process(check(norm, h, 2, service="DISK"), T + 606).notifications
    for t in range(610, 1300, 10):
        notes += eng.tick(T + t).notifications
    assert eng.alerts["r1|check"].suppressed_by == {"kind": "maintenance", "ref": "maintenance-1"}
    # during the window the router recovers, h1 and h2 too, h3's disk still fails
    notes += eng.process(check(norm, "r1", 0, service=None), T + 2400).notifications
    for h in ("h1", "h2", "h3"):
        notes += eng.process(check(norm, h, 0), T + 2410).notifications
    for h in ("h1", "h2"):
        notes += eng.process(check(norm, h, 0, service="DISK"), T + 2420).notifications
    for t in range(2430, 3600, 10):
        notes += eng.tick(T + t).notifications
    assert notes == []  # nothing while the window lasts
    end = eng.tick(T + 3600)
    assert end.reports == [
        {"kind": "maintenance_end", "ref": "maintenance-1", "still_failing": ["h3|check|DISK"]}
    ]
    # the window's end is told once per incident still open, as maintenance_end (it was a `new`)
    assert [(n["reason"], n["alert"]["fingerprint"]) for n in end.notifications] == [("maintenance_end", "h3|check|DISK")]
    assert [a["suppressed_by"] for a in end.alerts] == [None]


def test_silence_then_tombstone_and_ack_commands():
    norm, eng = make()
    out = eng.control(control("silence", matchers=["host=lone"], start=T, end=T + 3600), T)
    assert out.errors == []
    out = eng.process(check(norm, "lone", 2), T + 1)
    assert out.notifications == [] and out.alerts[0]["suppressed_by"] == {
        "kind": "silence",
        "ref": "silence-1",
    }
    out = eng.control(None, T + 10, key="silence-1")  # the silence is deleted (tombstone)
    assert [n["reason"] for n in out.notifications] == ["new"] and out.alerts[0]["suppressed_by"] is None
    out = eng.control(control("acknowledge", fingerprint="lone|check|PING"), T + 20)
    assert out.alerts[0]["acknowledged"]["author"] == "alice"
    assert eng.tick(T + 5 * 3600).notifications == []  # acknowledged: no repeat
    assert eng.control(control("acknowledge", fingerprint="nope"), T + 30).errors
    assert "author" in eng.control({"kind": "silence", "id": "x"}, T).errors[0]


def test_topology_update_changes_suppression():
    norm, eng = make()
    eng.control(control("topology", hosts={"lone": {"parents": ["r1"]}}), T)
    assert eng.inventory.parents_of("lone") == ("r1",)
    eng.process(norm.trap({"trap_oid": LINK_DOWN, "agent_address": "10.1.0.1", "varbinds": []}), T + 1)
    out = eng.process(check(norm, "lone", 2), T + 2)
    assert out.alerts[-1]["suppressed_by"]["kind"] == "incident"


def test_snapshot_restore_continues_identically():
    norm, a = make()
    a.process(check(norm, "r1", 2, service=None), T)
    a.process(check(norm, "h1", 2), T + 1)
    b = Engine(configured.inventory(INV), router=configured.router([{"name": "oncall"}]))
    b.load(orjson.loads(orjson.dumps(a.to_dict())))
    ea, eb = a.process(check(norm, "h2", 2), T + 2), b.process(check(norm, "h2", 2), T + 2)
    assert ea == eb
    assert a.tick(T + 60) == b.tick(T + 60)


def test_resolved_alerts_are_forgotten_after_retention():
    norm, eng = make()
    eng.process(check(norm, "lone", 2), T)
    eng.process(check(norm, "lone", 0), T + 10)
    assert eng.tick(T + 100).deleted_alerts == []
    assert eng.tick(T + 10 + 86400).deleted_alerts == ["lone|check|PING"]
    assert "lone|check|PING" not in eng.alerts


def scenario():
    """A mixed stream: link down trap + syslog, children pings, storms, a recovery, ticks."""
    norm, eng = make()
    raw = []
    raw.append(
        (
            "trap",
            {
                "trap_oid": LINK_DOWN,
                "agent_address": "10.1.0.1",
                "received_at": "2025-03-01T10:00:00Z",
                "varbinds": [{"oid": "1.3.6.1.2.1.2.2.1.1.2", "value": 2}],
            },
        )
    )
    raw.append(
        (
            "syslog",
            {
                "hostname": "r1",
                "timestamp": "2025-03-01T10:00:01Z",
                "msg": "%LINK-3-UPDOWN: Interface Gi0/2, changed state to down",
            },
        )
    )
    for i in range(1, 4):
        raw.append(
            (
                "check",
                {
                    "host": f"h{i}",
                    "service": "PING",
                    "status": 2,
                    "output": "loss",
                    "check_time": f"2025-03-01T10:00:1{i}Z",
                },
            )
        )
    for k in range(200):
        raw.append(
            (
                "syslog",
                {
                    "hostname": "lone",
                    "timestamp": f"2025-03-01T10:01:{k // 10:02d}Z",
                    "msg": "blk_update_request: I/O error, dev sda, sector 1",
                    "app_name": "kernel",
                },
            )
        )
    raw.append(
        (
            "syslog",
            {
                "hostname": "r1",
                "timestamp": "2025-03-01T10:05:00Z",
                "msg": "%LINK-3-UPDOWN: Interface Gi0/2, changed state to up",
            },
        )
    )
    outputs = []
    for kind, value in raw:
        event = getattr(norm, kind)(value)
        if event is None:
            continue
        now = event_time(event, T)
        outputs.append(orjson.dumps(event))
        o = eng.process(event, now)
        outputs.append(orjson.dumps([o.alerts, o.incidents, o.notifications]))
    for t in range(0, 4000, 7):
        o = eng.tick(T + t)
        outputs.append(orjson.dumps([o.alerts, o.incidents, o.notifications, o.deleted_alerts]))
    return outputs, eng


def test_replay_gives_the_same_outputs():
    first, eng1 = scenario()
    second, eng2 = scenario()
    assert first == second
    assert orjson.dumps(eng1.to_dict()) == orjson.dumps(eng2.to_dict())
    assert any(b'"incident/1"' in line for line in first)


def test_engine_from_documented_config():
    eng = Engine.from_config(
        validate({
            "inventory": {"hosts": {"a": {"site": "x"}}},
            "correlation": {
                "incident_window": "2m",
                "hold_down": "30s",
                "update_interval": "1s",
                "max_check_attempts": 4,
                "flap_high_threshold": 25,
                "flap_low_threshold": 5,
            },
            "timeperiods": {"workhours": {"timezone": "Europe/Paris", "monday": "06:00-22:00"}},
            "routes": [{"name": "staff", "timeperiod": "workhours"}],
        })
    )
    assert eng.incident_config.window == 120 and eng.incident_config.hold_down == 30
    assert eng.alert_config.max_check_attempts == 4 and eng.alert_config.flap.high_threshold == 25
    assert eng.router.by_name["staff"].timeperiod == "workhours"


def test_a_notification_carries_its_incident_summary_not_the_member_lists():
    norm, eng = make()
    notes = eng.process(check(norm, "r1", 2, service=None), T).notifications
    for h in ("h1", "h2", "h3"):
        notes += eng.process(check(norm, h, 2, service=None), T + 1).notifications
    for t in range(2, 200, 5):
        notes += eng.tick(T + t).notifications
    assert [(n["reason"], n["alert"]["fingerprint"]) for n in notes] == [("new", "r1|check")]
    inc = notes[0]["incident"]  # as it was when r1 was notified: r1 alone
    assert "alerts" not in inc and "explain" not in inc
    assert inc["id"] == eng.alerts["r1|check"].incident_id and inc["root_cause"]["host"] == "r1"
    assert (inc["alert_count"], inc["symptom_count"], inc["host_count"]) == (1, 0, 1)
    now = eng.correlation.incidents[inc["id"]]
    full = now.to_incident()
    assert (len(full["alerts"]), len(full["symptoms"]), len(full["hosts"])) == (4, 3, 4)
    assert {k: now.summary()[k] for k in ("alert_count", "symptom_count", "host_count")} == {
        "alert_count": 4, "symptom_count": 3, "host_count": 4}


def test_ticks_find_due_repeats_and_held_updates_also_after_a_restore():
    """Ticks visit only what is due (a heap of notification dues, the set of held updates): nothing is missed."""
    norm = Normalizer(configured.inventory(INV))
    eng = Engine(configured.inventory(INV), router=configured.router([{"name": "oncall", "repeat_interval": "10m"}]))
    notes = eng.process(check(norm, "lone", 2), T).notifications
    notes += eng.process(check(norm, "lone", 2, service="DISK"), T + 60).notifications
    # one incident for the host: its first message, then DISK joining it is an update after group_interval
    assert [n["reason"] for n in notes] == ["new"]
    # a repeated problem within the update interval is held back, then published by a tick
    held = eng.process(check(norm, "lone", 2, service="DISK"), T + 60.2)
    assert held.alerts == [] and eng.tick(T + 60.5).alerts == []
    assert [(a["fingerprint"], a["count"]) for a in eng.tick(T + 61.5).alerts] == [("lone|check|DISK", 2)]
    assert eng.tick(T + 299).notifications == []
    updated = eng.tick(T + 300).notifications
    assert [(n["reason"], [a["fingerprint"] for a in n["alerts"]]) for n in updated] == [
        ("updated", ["lone|check|DISK", "lone|check|PING"])
    ]
    assert eng.tick(T + 899).notifications == []
    restored = Engine(configured.inventory(INV), router=configured.router([{"name": "oncall", "repeat_interval": "10m"}]))
    restored.load(orjson.loads(orjson.dumps(eng.to_dict())))
    for e in (eng, restored):
        got = e.tick(T + 900).notifications
        assert [(n["reason"], n["group"]["key"]) for n in got] == [("repeat", updated[0]["group"]["key"])]
        assert got[0]["id"] not in {updated[0]["id"], notes[0]["id"]}
        assert e.tick(T + 1499).notifications == []
        assert e.tick(T + 1500).notifications[0]["reason"] == "repeat"
