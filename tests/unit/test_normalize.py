"""Syslog, traps and checks into the events contract: fingerprints, clears, sites, determinism."""

import pytest

from tests import configured
from vigie.pipelines.normalize.normalize import (
    LINK_DOWN,
    LINK_UP,
    Normalizer,
    check_fingerprint,
)

NORM = Normalizer(
    configured.inventory(
        {
            "default_site": "hq",
            "hosts": {"r1": {"site": "paris", "address": "10.1.0.1"}, "srv1": {"site": "lyon"}},
        }
    )
)
EVENT_KEYS = {
    "id",
    "ts",
    "kind",
    "host",
    "site",
    "component",
    "severity",
    "fingerprint",
    "clears",
    "summary",
    "attributes",
    "origin",
    "schema",
}
ORIGIN = {"topic": "vigie.raw.syslog", "partition": 0, "offset": 42}


def syslog(msg, host="r1", app=None, cisco=None, severity=3):
    return {
        "pri": 187,
        "facility": 23,
        "severity": severity,
        "timestamp": "2025-03-01T10:00:00Z",
        "hostname": host,
        "app_name": app,
        "msg": msg,
        "dialect": "cisco",
        "cisco": cisco,
    }


def trap(oid, varbinds, agent="10.1.0.1", name=None):
    return {
        "version": "v2c",
        "trap_oid": oid,
        "trap_name": name,
        "agent_address": agent,
        "varbinds": varbinds,
        "received_at": "2025-03-01T10:00:01Z",
        "peer": f"{agent}:161",
    }


def if_varbinds(index, name="Gi0/1"):
    return [
        {"oid": f"1.3.6.1.2.1.2.2.1.1.{index}", "name": "ifIndex", "type": "Integer", "value": index},
        {"oid": f"1.3.6.1.2.1.2.2.1.7.{index}", "name": "ifAdminStatus", "type": "Integer", "value": 1},
        {"oid": f"1.3.6.1.2.1.2.2.1.8.{index}", "name": "ifOperStatus", "type": "Integer", "value": 2},
        {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{index}", "name": "ifName", "type": "OctetString", "value": name},
    ]


def test_syslog_event_contract():
    ev = NORM.syslog(syslog("%LINK-3-UPDOWN: Interface Gi0/1, changed state to down"), ORIGIN)
    assert set(ev) == EVENT_KEYS
    assert ev["schema"] == "event/1" and ev["kind"] == "syslog"
    assert (ev["host"], ev["site"], ev["component"], ev["severity"]) == ("r1", "paris", "Gi0/1", "critical")
    assert ev["fingerprint"] == "r1|syslog:cisco-link-updown|Gi0/1" and ev["clears"] is None
    assert ev["id"] == "vigie.raw.syslog:0:42" and ev["origin"] == ORIGIN
    assert ev["attributes"]["category"] == "link" and ev["attributes"]["mnemonic"] == "LINK-3-UPDOWN"
    assert ev["ts"] == "2025-03-01T10:00:00Z"


def test_syslog_up_clears_the_down_fingerprint():
    down = NORM.syslog(syslog("%LINK-3-UPDOWN: Interface Gi0/1, changed state to down"))
    up = NORM.syslog(syslog("%LINK-3-UPDOWN: Interface Gi0/1, changed state to up"))
    assert up["severity"] == "ok" and up["clears"] == down["fingerprint"] == up["fingerprint"]


def test_syslog_without_rule_gives_no_event():
    assert NORM.syslog(syslog("Accepted publickey for alice", host="srv1", app="sshd")) is None
    assert NORM.syslog(syslog("")) is None


def test_syslog_host_by_address_and_unknown_host_default_site():
    assert NORM.syslog(syslog("%SYS-5-RESTART: System restarted --", host="10.1.0.1"))["host"] == "r1"
    ev = NORM.syslog(syslog("e1000e: eth0 NIC Link is Down", host="web9", app="kernel"))
    assert (ev["host"], ev["site"]) == ("web9", "hq")


def test_one_shot_rule_carries_resolve_after():
    ev = NORM.syslog(syslog("Out of memory: Killed process 1 (java)", host="srv1", app="kernel"))
    assert ev["attributes"]["resolve_after"] == 3600 and ev["site"] == "lyon"


def test_link_traps_pair_by_ifindex():
    down = NORM.trap(trap(LINK_DOWN, if_varbinds(3)))
    up = NORM.trap(trap("." + LINK_UP, if_varbinds(3)))
    other = NORM.trap(trap(LINK_DOWN, if_varbinds(4, "Gi0/2")))
    assert (
        down["fingerprint"] == "r1|trap:link|3" and down["severity"] == "critical" and down["clears"] is None
    )
    assert down["component"] == "Gi0/1" and down["attributes"]["ifIndex"] == "3"
    assert up["severity"] == "ok" and up["clears"] == down["fingerprint"]
    assert other["fingerprint"] != down["fingerprint"]
    assert set(down) == EVENT_KEYS and down["kind"] == "trap" and down["site"] == "paris"


def test_link_trap_by_name_and_v1_generic():
    by_name = NORM.trap({**trap(None, if_varbinds(7)), "trap_name": "IF-MIB::linkDown"})
    v1 = NORM.trap({**trap(None, if_varbinds(7)), "generic_trap": 3})
    assert by_name["fingerprint"] == v1["fingerprint"] == "r1|trap:link|7"
    assert by_name["severity"] == "critical" and v1["severity"] == "ok"


def test_bgp_and_fixed_and_unknown_traps():
    peer_vb = [
        {"oid": "1.3.6.1.2.1.15.3.1.2.192.0.2.7", "name": "bgpPeerState", "type": "Integer", "value": 1}
    ]
    back = NORM.trap(trap("1.3.6.1.2.1.15.0.2", peer_vb))
    est = NORM.trap(trap("1.3.6.1.2.1.15.0.1", peer_vb))
    assert back["component"] == "bgp:192.0.2.7" and est["clears"] == back["fingerprint"]
    cold = NORM.trap(trap("1.3.6.1.6.3.1.1.5.1", [], name="SNMPv2-MIB::coldStart"))
    assert cold["severity"] == "info" and cold["attributes"]["resolve_after"] == 600
    odd = NORM.trap(trap("1.3.6.1.4.1.9.9.41.2.0.1", [], name="CISCO-SYSLOG-MIB::clogMessageGenerated"))
    assert odd["severity"] == "warning" and odd["fingerprint"] == "r1|trap:clogMessageGenerated|"
    assert Normalizer(unknown_trap_severity=None).trap(trap("1.3.6.1.4.1.1.0.1", [])) is None


def test_checks_service_and_host():
    crit = NORM.check(
        {
            "host": "srv1",
            "service": "HTTP",
            "status": 2,
            "output": "CRITICAL - down\nmore",
            "perfdata": [],
            "check_time": 1740823200.0,
            "source": "active",
        }
    )
    assert crit["fingerprint"] == check_fingerprint("srv1", "HTTP") == "srv1|check|HTTP"
    assert (crit["severity"], crit["clears"], crit["summary"]) == ("critical", None, "CRITICAL - down")
    assert crit["ts"] == "2025-03-01T10:00:00.000000Z" and crit["attributes"]["service"] == "HTTP"
    ok = NORM.check({"host": "srv1", "service": "HTTP", "status": 0, "output": "OK"})
    assert ok["severity"] == "ok" and ok["clears"] == ok["fingerprint"] == crit["fingerprint"]
    assert [NORM.check({"host": "srv1", "service": "X", "status": s})["severity"] for s in range(4)] == [
        "ok",
        "warning",
        "critical",
        "unknown",
    ]
    # host checks follow Nagios: 0 and 1 are UP, 2 and 3 DOWN
    host = [NORM.check({"host": "srv1", "service": None, "status": s}) for s in range(4)]
    assert [h["severity"] for h in host] == ["ok", "ok", "critical", "critical"]
    assert host[2]["fingerprint"] == "srv1|check" and host[2]["attributes"]["category"] == "liveness"


def test_bad_check_status_raises():
    with pytest.raises(ValueError, match="status"):
        NORM.check({"host": "a", "service": "b", "status": 7})


def test_event_ids_are_deterministic_without_origin():
    a = NORM.syslog(syslog("%LINK-3-UPDOWN: Interface Gi0/1, changed state to down"))
    b = NORM.syslog(syslog("%LINK-3-UPDOWN: Interface Gi0/1, changed state to down"))
    assert a["id"] == b["id"] and a == b
