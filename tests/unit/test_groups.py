"""Notification groups from the on-call person's side: one message per incident when it opens, one when it
ends, at most one update per group_interval while it grows; every message carries its member alerts."""

from __future__ import annotations

import orjson

from vigie.config import validate
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP, Normalizer
from vigie.schemas.validate import validate as validate_value

T = 1_740_823_200.0  # Saturday 2025-03-01 10:00 UTC
CONFIG = {
    "inventory": {
        "hosts": {
            "r1": {"site": "paris", "address": "10.1.0.1", "max_check_attempts": 1},
            **{f"h{i}": {"site": "paris", "parents": ["r1"], "max_check_attempts": 1} for i in range(1, 6)},
        }
    },
    "routes": [{"name": "oncall"}],  # the defaults: group_wait 10s, group_interval 5m, repeat_interval 4h
}


def setup(**route):
    cfg = validate({**CONFIG, "routes": [{"name": "oncall", **route}]})
    return Normalizer(Inventory.from_config(cfg.inventory)), Engine.from_config(cfg)


def link_trap(norm, oid):
    return norm.trap({
        "version": "v2c", "trap_oid": oid, "agent_address": "10.1.0.1", "received_at": None,
        "varbinds": [
            {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "ifIndex", "type": "Integer", "value": 3},
            {"oid": "1.3.6.1.2.1.31.1.1.1.1.3", "name": "ifName", "type": "OctetString", "value": "Gi0/1"},
        ],
    })


def link_syslog(norm, state):
    return norm.syslog({"hostname": "r1", "msg": f"%LINK-3-UPDOWN: Interface Gi0/1, changed state to {state}",
                        "app_name": None, "cisco": None, "timestamp": None})


def ping(norm, host, status):
    return norm.check({"host": host, "service": "PING", "status": status, "output": "PING"})


def run(eng, steps):
    """steps: (time, event or None for a tick); all notifications, in order."""
    notes = []
    for now, event in steps:
        out = eng.tick(now) if event is None else eng.process(event, now)
        notes += out.notifications
    return notes


def ticks(start, end, step=1.0):
    return [(start + i * step, None) for i in range(int((end - start) / step) + 1)]


def test_a_trap_and_a_syslog_line_about_one_interface_page_once_and_end_once():
    norm, eng = setup()
    notes = run(eng, [(T, link_trap(norm, LINK_DOWN)), (T + 0.3, link_syslog(norm, "down")), *ticks(T + 1, T + 60)])
    assert [n["reason"] for n in notes] == ["new"]  # it was two: one per alert
    new = notes[0]
    assert sorted(a["fingerprint"] for a in new["alerts"]) == ["r1|syslog:cisco-link-updown|Gi0/1", "r1|trap:link|3"]
    assert new["at"] == "2025-03-01T10:00:10.000000Z"  # after group_wait
    assert new["group"] == {"key": f"incident:{new['incident']['id']}", "labels": {"incident_id": new["incident"]["id"]}}
    notes = run(eng, [(T + 120, link_trap(norm, LINK_UP)), (T + 120.2, link_syslog(norm, "up")), *ticks(T + 121, T + 700, 10)])
    assert [n["reason"] for n in notes] == ["resolved"]  # it was two
    assert {a["status"] for a in notes[0]["alerts"]} == {"resolved"} and len(notes[0]["alerts"]) == 2
    assert notes[0]["incident"]["id"] == new["incident"]["id"] and notes[0]["id"] != new["id"]
    for n in [new, *notes]:
        validate_value(n, "notification/1")


def test_a_growing_incident_updates_at_most_once_per_group_interval():
    norm, eng = setup(group_interval="2m")
    steps = [(T, ping(norm, "r1", 2))]
    steps += [(T + 30 + 50 * i, ping(norm, f"h{i}", 2)) for i in range(1, 6)]  # one more host every 50 s
    notes = run(eng, sorted(steps + ticks(T + 1, T + 600, 5), key=lambda s: s[0]))
    # new (r1, at the first tick after group_wait), then the hosts behind it as they fail, 2 minutes apart
    assert [n["reason"] for n in notes] == ["new", "updated", "updated", "updated"]
    assert [n["at"][11:19] for n in notes] == ["10:00:11", "10:02:11", "10:04:11", "10:06:11"]
    assert [len(n["alerts"]) for n in notes] == [1, 3, 5, 6]
    assert notes[-1]["alerts"][0]["host"] == "r1"  # the root cause first, its symptoms after
    assert all(a["suppressed_by"] == {"kind": "incident", "ref": notes[0]["incident"]["id"]} for a in notes[-1]["alerts"][1:])


def test_an_alert_recovered_before_group_wait_is_never_told():
    norm, eng = setup(group_wait="30s")
    notes = run(eng, [(T, ping(norm, "h1", 2)), (T + 5, ping(norm, "h1", 0)), *ticks(T + 6, T + 120, 5)])
    assert notes == []


def test_message_ids_are_the_same_when_the_engine_replays_from_its_snapshot():
    norm, eng = setup(repeat_interval="10m")
    run(eng, [(T, ping(norm, "r1", 2)), *ticks(T + 1, T + 20)])
    snap = orjson.loads(orjson.dumps(eng.to_dict()))
    first = run(eng, ticks(T + 21, T + 1300, 10))
    _, again = setup(repeat_interval="10m")
    again.load(snap)
    second = run(again, ticks(T + 21, T + 1300, 10))
    assert [n["reason"] for n in first] == ["repeat", "repeat"]
    assert [n["id"] for n in first] == [n["id"] for n in second] and len({n["id"] for n in first}) == 2


def test_an_interface_that_flaps_then_settles_stops_flapping_and_says_so():
    """Every 10 s for 5 minutes, then up for good: flapping_start, then flapping_stop once the history aged."""
    norm, eng = setup()
    steps, now = [], T
    for i in range(30):
        steps.append((now, link_trap(norm, LINK_DOWN if i % 2 == 0 else LINK_UP)))
        now += 10
    steps.append((now, link_trap(norm, LINK_UP)))
    end_of_flaps = now
    notes = run(eng, sorted(steps + ticks(T + 0.5, T + 3600, 5), key=lambda s: s[0]))
    reasons = [n["reason"] for n in notes]
    assert reasons.count("flapping_start") == 1 and reasons.count("flapping_stop") == 1
    start = reasons.index("flapping_start")
    assert reasons.index("flapping_stop") > start
    # before detection, the flips are paced: none lasted group_wait, so no new/resolved per flip
    assert reasons[:start] == []
    a = eng.alerts["r1|trap:link|3"]
    assert not a.flapping and a.percent_state_change == 0.0
    stop = notes[reasons.index("flapping_stop")]
    stopped_after = (eng_time(stop["at"]) - end_of_flaps) / 60
    assert 5 <= stopped_after <= 15, stopped_after  # about 10 minutes at the default flap_interval (30s)
    assert all(n["alerts"][0]["fingerprint"] == "r1|trap:link|3" for n in notes if n["reason"].startswith("flapping"))
    assert reasons[-1] in ("resolved", "flapping_stop")


def eng_time(text):
    from vigie.schemas.codec import parse_rfc3339

    return parse_rfc3339(text).timestamp()


def maintenance(hosts, start, end):
    return {"schema": "control/1", "id": "maintenance-1", "kind": "maintenance", "author": "alice",
            "reason": "router upgrade", "hosts": hosts, "start": start, "end": end}


def test_a_maintenance_ending_on_a_broken_router_tells_one_message_listing_what_still_fails():
    norm, eng = setup()
    eng.control(maintenance(["r1"], "2025-03-01T10:00:00Z", "2025-03-01T11:00:00Z"), T)
    steps = [(T + 600, ping(norm, "r1", 2))] + [(T + 605 + i, ping(norm, f"h{i}", 2)) for i in range(1, 6)]
    steps += [(T + 1800, ping(norm, "h5", 0))]  # h5 recovers during the window: nothing to tell about it
    notes = run(eng, sorted(steps + ticks(T + 610, T + 3590, 10), key=lambda s: s[0]))
    assert notes == []  # nothing while the window lasts
    notes = run(eng, ticks(T + 3600, T + 4200, 10))
    assert [n["reason"] for n in notes] == ["maintenance_end"]  # one message, not one per root alert
    listed = [a["fingerprint"] for a in notes[0]["alerts"]]
    assert listed == ["r1|check|PING"] + [f"h{i}|check|PING" for i in range(1, 5)]
    assert notes[0]["incident"]["root_cause"]["host"] == "r1"
    validate_value(notes[0], "notification/1")


def test_every_notification_of_the_golden_scenario_names_a_route_that_exists():
    from tests.unit import test_engine_equivalence as golden

    routes = set(golden.engine().router.by_name)
    seen = 0
    for line in golden.run(steps=3000):
        value = orjson.loads(line)
        for part in ("out", "tick", "control"):
            for note in (value.get(part) or {}).get("notifications", []):
                assert note["route"] in routes
                validate_value(note, "notification/1")
                seen += 1
    assert seen > 500


def test_a_group_still_failing_when_a_route_period_closes_goes_to_the_route_active_then():
    """Staff 10:00-10:30 (Saturday, UTC), the partner otherwise: an outage from 10:20 to 10:50 is the staff's until
    10:30, then the partner's (a `new` for it at 10:30, listing what fails then); the staff hear nothing more, and
    the end goes to the partner. Routed back at the next opening the same way (the unit of routing is the group)."""
    cfg = validate({
        **CONFIG,
        "timeperiods": {"staff-hours": {"timezone": "UTC", "saturday": "10:00-10:30"}},
        "routes": [{"name": "staff", "active": "staff-hours", "group_interval": "1m"},
                   {"name": "partner", "group_interval": "1m"}],
    })
    norm, eng = Normalizer(Inventory.from_config(cfg.inventory)), Engine.from_config(cfg)
    steps = [(T + 1200, ping(norm, "r1", 2)), (T + 1500, ping(norm, "h1", 2)), (T + 3000, ping(norm, "r1", 0)),
             (T + 3000.5, ping(norm, "h1", 0))]
    notes = run(eng, sorted(steps + ticks(T + 1201, T + 3600, 1), key=lambda s: s[0]))
    told = [(n["route"], n["reason"], n["at"][11:19]) for n in notes]
    assert told == [("staff", "new", "10:20:10"), ("staff", "updated", "10:25:00"), ("partner", "new", "10:30:00"),
                    ("partner", "resolved", "10:50:00")]
    assert [a["host"] for a in notes[2]["alerts"]] == ["r1", "h1"]
    assert len({n["group"]["key"] for n in notes}) == 1 and len({n["id"] for n in notes}) == 4
    # a snapshot taken before the boundary reroutes at it, as the engine that was not stopped
    _, again = Normalizer(Inventory.from_config(cfg.inventory)), Engine.from_config(cfg)
    fresh = Engine.from_config(cfg)
    early = run(fresh, sorted(steps[:2] + ticks(T + 1201, T + 1700, 1), key=lambda s: s[0]))
    again.load(orjson.loads(orjson.dumps(fresh.to_dict())))
    later = run(again, sorted(steps[2:] + ticks(T + 1701, T + 3600, 1), key=lambda s: s[0]))
    assert early + later == notes
