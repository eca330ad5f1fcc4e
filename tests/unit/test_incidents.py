"""Incidents: a site router down with 20 hosts behind it is one incident, root cause the router, 20 symptoms."""

from tests import configured
from vigie.pipelines.correlate.alerts import AlertState
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.correlate.incident_model import CorrelationState, IncidentConfig, incident_id
from vigie.pipelines.correlate.incidents import observe, tick
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP, Normalizer

T = 1_740_823_200.0
CHILDREN = [f"h{i:02d}" for i in range(1, 21)]


def inventory(router_parents=("core",)):
    hosts = {
        "core": {"site": "hq"},
        "r1": {
            "site": "paris",
            "parents": list(router_parents),
            "address": "10.1.0.1",
            "max_check_attempts": 1,
        },
    }
    for h in CHILDREN:
        hosts[h] = {"site": "paris", "parents": ["r1"], "max_check_attempts": 1}
    return {"default_site": "paris", "hosts": hosts}


def setup(router_parents=("core",), **route):
    inv = configured.inventory(inventory(router_parents))
    return Normalizer(inv), Engine(inv, router=configured.router([{"name": "oncall", **route}]))


def ping(norm, host, status):
    return norm.check(
        {
            "host": host,
            "service": "PING",
            "status": status,
            "output": "PING CRITICAL" if status else "PING OK",
        }
    )


def link_trap(norm, oid):
    return norm.trap(
        {
            "version": "v2c",
            "trap_oid": oid,
            "agent_address": "10.1.0.1",
            "received_at": None,
            "varbinds": [
                {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "ifIndex", "type": "Integer", "value": 3},
                {
                    "oid": "1.3.6.1.2.1.31.1.1.1.1.3",
                    "name": "ifName",
                    "type": "OctetString",
                    "value": "Gi0/1",
                },
            ],
        }
    )


def link_syslog(norm, state):
    return norm.syslog(
        {
            "hostname": "r1",
            "msg": f"%LINK-3-UPDOWN: Interface Gi0/1, changed state to {state}",
            "app_name": None,
            "cisco": None,
            "timestamp": None,
        }
    )


def collect(outs):
    incidents, notes, alerts = {}, [], {}
    for o in outs:
        for inc in o.incidents:
            incidents[inc["id"]] = inc
        notes += o.notifications
        for a in o.alerts:
            alerts[a["fingerprint"]] = a
    return incidents, notes, alerts


def test_router_down_one_incident_root_cause_router_20_suppressed():
    norm, eng = setup(group_wait="10s")
    outs = [eng.process(link_trap(norm, LINK_DOWN), T), eng.process(link_syslog(norm, "down"), T + 1)]
    for i, h in enumerate(CHILDREN):
        outs.append(eng.process(ping(norm, h, 2), T + 5 + i * 0.5))
    for t in range(16, 40):
        outs.append(eng.tick(T + t))
    incidents, notes, alerts = collect(outs)
    assert len(incidents) == 1
    inc = next(iter(incidents.values()))
    assert inc["root_cause"]["host"] == "r1" and inc["root_cause"]["component"] == "Gi0/1"
    assert inc["site"] == "paris" and inc["status"] == "open" and inc["schema"] == "incident/1"
    assert len(inc["symptoms"]) == 20 and len(inc["alerts"]) == 22
    assert inc["id"] == incident_id("paris", "r1|trap:link|3", T)
    suppressed = [a for a in alerts.values() if a["suppressed_by"]]
    assert len(suppressed) == 20
    assert all(a["suppressed_by"] == {"kind": "incident", "ref": inc["id"]} for a in suppressed)
    assert all(a["incident_id"] == inc["id"] for a in alerts.values())
    # one message for the outage: the trap and the syslog line are members of one incident (they were two
    # `new` messages, one per alert); the symptoms seen by then are listed in it, the router's alerts first
    assert [(n["reason"], n["alert"]["host"]) for n in notes] == [("new", "r1")]
    assert notes[0]["incident"]["id"] == inc["id"] and notes[0]["group"]["key"] == f"incident:{inc['id']}"
    listed = [a["fingerprint"] for a in notes[0]["alerts"]]
    assert listed[:2] == ["r1|syslog:cisco-link-updown|Gi0/1", "r1|trap:link|3"] and len(listed) == 2 + 11
    decisions = [e["decision"] for e in inc["explain"]]
    assert decisions.count("symptom") == 20 and decisions[:2] == ["open", "join"]
    assert "unreachable" in inc["explain"][2]["reason"]

    # recovery resolves everything
    outs = [eng.process(link_trap(norm, LINK_UP), T + 300), eng.process(link_syslog(norm, "up"), T + 301)]
    for i, h in enumerate(CHILDREN):
        outs.append(eng.process(ping(norm, h, 0), T + 305 + i))
    outs.append(eng.tick(T + 400))
    incidents, notes, alerts = collect(outs)
    final = incidents[inc["id"]]
    assert final["status"] == "resolved" and final["resolved_at"] is not None
    assert all(a["status"] == "resolved" for a in alerts.values())
    # and one message for its end (they were two `resolved`), once every member recovered
    assert [(n["reason"], n["alert"]["host"]) for n in notes] == [("resolved", "r1")]
    assert len(notes[0]["alerts"]) == 22 and {a["status"] for a in notes[0]["alerts"]} == {"resolved"}
    assert eng.correlation.incidents == {} and eng.correlation.down == {}


def test_children_before_parent_wait_the_hold_down_and_are_not_notified():
    norm, eng = setup()
    outs = []
    for i, h in enumerate(CHILDREN):  # children's pings fail first
        outs.append(eng.process(ping(norm, h, 2), T + i * 0.2))
    held = [a for o in outs for a in o.alerts if a["suppressed_by"]]
    assert {a["suppressed_by"]["kind"] for a in held} == {"hold-down"}
    outs.append(
        eng.process(norm.check({"host": "r1", "service": None, "status": 2, "output": "DOWN"}), T + 10)
    )
    for t in range(11, 60):
        outs.append(eng.tick(T + t))
    incidents, notes, alerts = collect(outs)
    assert len(incidents) == 1
    inc = next(iter(incidents.values()))
    assert inc["root_cause"]["host"] == "r1" and len(inc["symptoms"]) == 20
    assert [(n["reason"], n["alert"]["fingerprint"]) for n in notes] == [("new", "r1|check")]
    assert all(alerts[f"{h}|check|PING"]["suppressed_by"]["kind"] == "incident" for h in CHILDREN)
    assert any("held" in e["reason"] for e in inc["explain"] if e["decision"] == "symptom")


def test_child_alone_after_hold_down_stands_on_its_own():
    norm, eng = setup()
    outs = [eng.process(ping(norm, "h05", 2), T)]
    outs += [eng.tick(T + t) for t in range(1, 29)]
    assert not collect(outs)[1]  # nothing notified within the hold-down
    outs = [eng.tick(T + 31)]
    incidents, notes, alerts = collect(outs)
    inc = next(iter(incidents.values()))
    assert inc["root_cause"]["host"] == "h05" and inc["explain"][0]["decision"] == "open"
    assert "hold-down" in inc["explain"][0]["reason"]
    assert [n["reason"] for n in notes] == ["new"] and alerts["h05|check|PING"]["suppressed_by"] is None


def test_late_parent_merges_a_child_incident():
    norm, eng = setup()
    eng.process(ping(norm, "h05", 2), T)
    eng.tick(T + 31)  # h05's own incident
    first = eng.alerts["h05|check|PING"].incident_id
    out = eng.process(link_trap(norm, LINK_DOWN), T + 40)
    incidents, _, alerts = collect([out])
    assert incidents[first]["status"] == "resolved" and incidents[first]["merged_into"] is not None
    parent = incidents[incidents[first]["merged_into"]]
    assert "h05|check|PING" in parent["symptoms"]
    assert alerts["h05|check|PING"]["suppressed_by"] == {"kind": "incident", "ref": parent["id"]}


def test_parent_recovers_child_still_failing_is_released_after_hold_down():
    norm, eng = setup()
    eng.process(link_trap(norm, LINK_DOWN), T)
    eng.process(ping(norm, "h05", 2), T + 5)
    out = eng.process(link_trap(norm, LINK_UP), T + 60)
    assert eng.alerts["h05|check|PING"].suppressed_by["kind"] == "incident"
    outs = [out] + [eng.tick(T + t) for t in range(61, 100)]
    incidents, notes, alerts = collect(outs)
    assert alerts["h05|check|PING"]["suppressed_by"] is None
    inc = next(iter(incidents.values()))
    assert inc["status"] == "open" and any(e["decision"] == "release" for e in inc["explain"])
    # one incident, still open: the router's recovery is no `resolved` (h05 still fails in it); h05 standing on
    # its own is the incident's next update, after group_interval (it was `resolved` r1 + `new` h05)
    assert notes == []
    later = [eng.tick(T + t) for t in range(100, 400, 10)]
    _, notes, _ = collect(later)
    assert [(n["reason"], n["alert"]["host"], n["incident"]["id"]) for n in notes] == [("updated", "h05", inc["id"])]


def test_unreachable_through_unmonitored_switch_and_other_site_parent():
    inv = {
        "default_site": "paris",
        "hosts": {
            "core": {"site": "hq"},
            "sw": {"site": "paris", "parents": ["core"]},
            "pc": {"site": "paris", "parents": ["sw"], "max_check_attempts": 1},
        },
    }
    inv = configured.inventory(inv)
    norm, eng = Normalizer(inv), Engine(inv)
    eng.process(norm.check({"host": "core", "service": None, "status": 2, "output": "DOWN"}), T)
    out = eng.process(norm.check({"host": "pc", "service": "PING", "status": 2, "output": "x"}), T + 3)
    inc = out.incidents[0]
    assert inc["site"] == "hq" and inc["root_cause"]["host"] == "core" and "pc|check|PING" in inc["symptoms"]


def test_separate_hosts_outside_topology_make_separate_incidents_and_window():
    norm, eng = setup(router_parents=())
    a = eng.process(
        norm.syslog({"hostname": "x1", "msg": "e1000e: eth0 NIC Link is Down", "app_name": "kernel"}), T
    )
    b = eng.process(
        norm.syslog({"hostname": "x2", "msg": "e1000e: eth0 NIC Link is Down", "app_name": "kernel"}), T + 1
    )
    assert a.incidents[0]["id"] != b.incidents[0]["id"]
    # same host, beyond the window: a new incident
    c = eng.process(
        norm.syslog({"hostname": "x1", "msg": "e1000e: eth1 NIC Link is Down", "app_name": "kernel"}), T + 500
    )
    assert c.incidents[0]["id"] != a.incidents[0]["id"]
    d = eng.process(
        norm.syslog({"hostname": "x1", "msg": "e1000e: eth2 NIC Link is Down", "app_name": "kernel"}), T + 560
    )
    assert d.incidents[0]["id"] == c.incidents[0]["id"]


def test_state_round_trip_gives_same_decisions():
    inv = configured.inventory(inventory())
    cfg = IncidentConfig(hold_down=10)

    def alert(host, fp, status="firing", service="PING"):
        return AlertState(
            fp,
            host,
            "paris",
            service or "host",
            "check",
            service,
            service,
            None,
            "critical",
            "x",
            status,
            T,
            T,
        )

    st = CorrelationState()
    observe(st, alert("h01", "h01|check|PING"), T, inv, cfg)
    copy = CorrelationState.from_dict(st.to_dict())
    a = observe(st, alert("r1", "r1|check", service=None), T + 1, inv, cfg)
    b = observe(copy, alert("r1", "r1|check", service=None), T + 1, inv, cfg)
    assert a.patches == b.patches
    ta, tb = tick(st, T + 12, inv, cfg), tick(copy, T + 12, inv, cfg)
    assert [i.to_incident() for i in ta.incidents.values()] == [
        i.to_incident() for i in tb.incidents.values()
    ]
    assert st.to_dict() == copy.to_dict()
