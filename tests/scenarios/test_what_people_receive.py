"""Scenarios from the on-call person's side, driven by replay files (pipelines/replay.py): what reaches each
route, how many messages, when, and what they say. The configuration is the reference deployment documented in
docs/configuration.md (staff 06:00-22:00 Monday to Saturday, an on-call partner otherwise, web portals 24/7)."""

from __future__ import annotations

import tomllib

from tests.replay_files import check, jsonl, syslog, trap
from tests.unit.test_documented_configs import BLOCKS
from vigie.config import validate
from vigie.pipelines.replay import Replay, read_jsonl
from vigie.schemas.codec import rfc3339

MONDAY_10 = 1_740_992_400.0  # Monday 2025-03-03 10:00 Paris (09:00 UTC)
MONDAY_23 = MONDAY_10 + 13 * 3600
SITE = {
    "rtr-mairie": {"site": "mairie", "address": "10.2.0.1", "parents": ["core1"], "max_check_attempts": 1},
    **{f"pc{i}": {"site": "mairie", "parents": ["rtr-mairie"], "max_check_attempts": 1} for i in range(1, 9)},
}


def reference_config(**extra_hosts):
    text = next(t for _, t in BLOCKS if 'name = "oncall-partner"' in t)
    raw = tomllib.loads(text)
    raw["inventory"]["hosts"].update(SITE)
    return validate(raw)


def replay(records, settle=3600.0, config=None):
    return Replay(config or reference_config()).run(read_jsonl(jsonl(records).splitlines()), settle=settle)


def site_outage(start, length):
    """The town hall's router loses its uplink: a trap, a syslog line, its check, then every PC's check."""
    records = [
        trap(start, "10.2.0.1", 1, "Gi0/0", up=False),
        syslog(start + 0.2, "10.2.0.1", "rtr-mairie", "%LINK-3-UPDOWN: Interface Gi0/0, changed state to down"),
        check(start + 3, "rtr-mairie", None, 2, "PING CRITICAL - Packet loss = 100%"),
    ]
    records += [check(start + 5 + i, f"pc{i}", "PING", 2, "PING CRITICAL") for i in range(1, 9)]
    end = start + length
    records += [
        trap(end, "10.2.0.1", 1, "Gi0/0", up=True),
        syslog(end + 0.2, "10.2.0.1", "rtr-mairie", "%LINK-3-UPDOWN: Interface Gi0/0, changed state to up"),
        check(end + 3, "rtr-mairie", None, 0, "PING OK"),
    ]
    records += [check(end + 5 + i, f"pc{i}", "PING", 0, "PING OK") for i in range(1, 9)]
    return records


def told(result):
    return [(n["route"], n["reason"]) for n in result.notifications]


def test_a_site_outage_in_working_hours_pages_the_staff_once_then_one_update_and_one_end():
    result = replay(site_outage(MONDAY_10, 1800))
    assert told(result) == [("staff", "new"), ("staff", "updated"), ("staff", "resolved")]
    new, updated, resolved = result.notifications
    assert new["incident"]["root_cause"]["host"] == "rtr-mairie"
    assert new["at"] == rfc3339(MONDAY_10 + 10)  # group_wait after the first sign
    # the trap, the syslog line and the router's check are one outage; the PCs behind it are its symptoms,
    # those seen by then in the page, all of them in the one update group_interval later
    assert [a["host"] for a in new["alerts"]] == ["rtr-mairie", "rtr-mairie", "pc1", "pc2", "pc3", "pc4"]
    assert [a["host"] for a in updated["alerts"]] == ["rtr-mairie"] * 3 + [f"pc{i}" for i in range(1, 9)]
    assert updated["at"] == rfc3339(MONDAY_10 + 310)
    assert {a["status"] for a in resolved["alerts"]} == {"resolved"} and len(resolved["alerts"]) == 11
    assert len({new["id"], updated["id"], resolved["id"]}) == 3


def test_the_same_outage_at_night_goes_to_the_on_call_partner_only():
    result = replay(site_outage(MONDAY_23, 1800))
    assert told(result) == [("oncall-partner", "new"), ("oncall-partner", "updated"), ("oncall-partner", "resolved")]


def test_a_trap_storm_of_one_switch_is_one_incident_not_hundreds_of_pages():
    """48 ports of the town hall router bouncing four times in a minute: 384 traps."""
    records = []
    for port in range(1, 49):
        for k in range(4):
            at = MONDAY_10 + port * 0.2 + k * 15
            records.append(trap(at, "10.2.0.1", port, f"Gi0/{port}", up=False))
            records.append(trap(at + 5, "10.2.0.1", port, f"Gi0/{port}", up=True))
    result = replay(records, settle=1800)
    assert result.records == 384
    # paged once; told the ports flap and that they stopped (once each for the 48 ports); one end
    assert told(result) == [("staff", "new"), ("staff", "flapping_start"), ("staff", "resolved"), ("staff", "flapping_stop")]
    assert len(result.notifications[2]["alerts"]) == 48


def test_an_interface_flapping_then_calm_says_it_flaps_and_that_it_stopped():
    records = []
    for i in range(30):  # every 10 s for 5 minutes, then up for good
        records.append(trap(MONDAY_10 + 10 * i, "10.2.0.1", 2, "Gi0/1", up=i % 2 == 1))
    records.append(trap(MONDAY_10 + 300, "10.2.0.1", 2, "Gi0/1", up=True))
    result = replay(records, settle=3600)
    # the first down lasted group_wait: paged; then it flaps (no page per flip), recovers, and stops flapping
    assert told(result) == [("staff", "new"), ("staff", "flapping_start"), ("staff", "resolved"), ("staff", "flapping_stop")]
    _, start, _, stop = result.notifications
    assert start["alert"]["flapping"] is True and stop["alert"]["flapping"] is False
    assert start["id"] != stop["id"]


def test_a_maintenance_ending_on_a_still_broken_router_is_one_message_listing_what_still_fails():
    window = {
        "schema": "control/1", "id": "maintenance-rtr", "kind": "maintenance", "author": "alice",
        "reason": "router replacement", "hosts": ["rtr-mairie"],
        "start": rfc3339(MONDAY_10), "end": rfc3339(MONDAY_10 + 3600),
    }
    records = [{"topic": "control", "received_at": rfc3339(MONDAY_10), "key": "maintenance-rtr", "value": window}]
    records += site_outage(MONDAY_10 + 600, 10 * 3600)[:11]  # it fails during the window and stays broken
    records.append(check(MONDAY_10 + 1800, "pc8", "PING", 0, "PING OK"))  # pc8 is back during the window
    result = replay(records, settle=1800)
    assert told(result) == [("staff", "maintenance_end")]
    end = result.notifications[0]
    assert end["at"][:19] == rfc3339(MONDAY_10 + 3600)[:19]
    listed = sorted({a["host"] for a in end["alerts"]})
    assert listed == ["pc1", "pc2", "pc3", "pc4", "pc5", "pc6", "pc7", "rtr-mairie"]  # not pc8


def test_an_outage_still_open_at_22h_is_handed_to_the_on_call_partner_who_hears_its_end():
    """21:50 Monday: the staff are paged; at 22:00 they go home and the partner gets the incident as it stands (a
    `new`, at once: it has waited its group_wait already); the staff hear nothing more, the partner its end."""
    result = replay(site_outage(MONDAY_10 + 11 * 3600 + 50 * 60, 1800))
    assert told(result) == [("staff", "new"), ("staff", "updated"), ("oncall-partner", "new"),
                            ("oncall-partner", "resolved")]
    handover = result.notifications[2]
    assert handover["at"] == rfc3339(MONDAY_10 + 12 * 3600)  # 22:00 Paris
    assert len(handover["alerts"]) == 11 and handover["incident"]["root_cause"]["host"] == "rtr-mairie"
    assert len({n["group"]["key"] for n in result.notifications}) == 1


def test_an_outage_still_open_at_6h_is_handed_back_to_the_staff():
    result = replay(site_outage(MONDAY_10 + 19 * 3600 + 50 * 60, 1800))  # Tuesday 05:50
    assert told(result) == [("oncall-partner", "new"), ("oncall-partner", "updated"), ("staff", "new"),
                            ("staff", "resolved")]
    assert result.notifications[2]["at"] == rfc3339(MONDAY_10 + 20 * 3600)  # 06:00 Paris


def test_a_route_that_holds_until_its_period_opens_pages_at_6h_what_still_fails_then():
    """Staff only, hold_until_active: a night outage still open at 06:00 is told then; one over by then never."""
    raw = tomllib.loads(next(t for _, t in BLOCKS if 'name = "oncall-partner"' in t))
    raw["inventory"]["hosts"].update(SITE)
    raw["routes"] = [{"name": "staff", "active": "staff-hours", "hold_until_active": True}]
    config = validate(raw)
    result = replay(site_outage(MONDAY_23, 8 * 3600), config=config)  # 23:00 to 07:00
    assert told(result) == [("staff", "new"), ("staff", "resolved")]
    assert result.notifications[0]["at"] == rfc3339(MONDAY_10 + 20 * 3600) and len(result.notifications[0]["alerts"]) == 11
    assert told(replay(site_outage(MONDAY_23, 1800), config=config)) == []
