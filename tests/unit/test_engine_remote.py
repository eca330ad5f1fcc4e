"""Parents at another site: one Engine per `events` partition, host states shared through Engine.remote_host.

The core router (site dc, engine A) parents the site router rtr-mairie (site mairie, engine B), whose
children are five hosts. A publishes core's host state as CorrelateStage does; B treats core as impaired.
"""

import orjson

from tests import configured
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.normalize.normalize import Normalizer
from vigie.schemas.codec import rfc3339

T = 1_740_823_200.0  # 2025-03-01T10:00:00Z
CHILDREN = [f"h{i}" for i in range(1, 6)]
INV = {
    "default_site": "mairie",
    "hosts": {
        "core": {"site": "dc", "max_check_attempts": 1},
        "rtr-mairie": {"site": "mairie", "parents": ["core"], "max_check_attempts": 1},
        **{h: {"site": "mairie", "parents": ["rtr-mairie"], "max_check_attempts": 1} for h in CHILDREN},
    },
}
B_HOSTS = ["rtr-mairie", *CHILDREN]


def make():
    router = configured.router([{"name": "oncall"}])
    return Normalizer(configured.inventory(INV)), Engine(configured.inventory(INV), router=router), Engine(configured.inventory(INV), router=router)


def check(norm, host, status, service="PING"):
    return norm.check({"host": host, "service": service, "status": status, "output": f"{service} {status}"})


def host_state(eng: Engine, host: str, now: float, partition: int = 0) -> dict | None:
    """The `pipeline.hosts` value CorrelateStage._publish_hosts writes (None when the host is not down)."""
    corr = eng.correlation
    if host not in corr.down:
        return None
    return {
        "schema": "hoststate/1",
        "host": host,
        "down": True,
        "kinds": sorted(set(corr.down[host].values())),
        "incident_id": corr.by_host.get(host),
        "partition": partition,
        "at": rfc3339(now),
    }


def core_down(norm, a: Engine, now: float) -> tuple[dict, str]:
    out = a.process(check(norm, "core", 2, service=None), now)
    assert [n["reason"] for n in out.notifications] == ["new"]
    state = host_state(a, "core", now)
    assert state is not None and state["incident_id"]
    return state, state["incident_id"]


def fail_site(norm, b: Engine, now: float) -> list[dict]:
    notes = []
    notes += b.process(check(norm, "rtr-mairie", 2, service=None), now).notifications
    for h in CHILDREN:
        notes += b.process(check(norm, h, 2), now + 1).notifications
        notes += b.process(check(norm, h, 2, service="DISK"), now + 1).notifications
    return notes


def ticks(eng: Engine, start: float, end: float, step: float = 5) -> list[dict]:
    notes = []
    t = start
    while t <= end:
        notes += eng.tick(t).notifications
        t += step
    return notes


def b_fps() -> list[str]:
    return ["rtr-mairie|check"] + [f"{h}|check|{s}" for h in CHILDREN for s in ("PING", "DISK")]


def test_remote_parent_down_first_suppresses_the_site_by_its_incident():
    norm, a, b = make()
    state, ref = core_down(norm, a, T)
    out = b.remote_host("core", state, T + 1)
    assert out.alerts == [] and out.notifications == []  # nothing fails at the site yet
    notes = fail_site(norm, b, T + 2)
    notes += ticks(b, T + 5, T + 300)
    assert notes == []
    for fp in b_fps():
        assert b.alerts[fp].suppressed_by == {"kind": "incident", "ref": ref}, fp
        assert b.alerts[fp].incident_id is None
    assert b.correlation.incidents == {}
    # B publishes rtr-mairie down, carrying the incident that explains it (for partitions behind it)
    assert b.host_incident("rtr-mairie") == ref
    # A's incident does not know about them (it lives in the other engine)
    assert a.correlation.incidents[ref].members.keys() == {"core|check"}


def test_remote_recovery_releases_what_still_fails_after_a_hold_down():
    norm, a, b = make()
    state, ref = core_down(norm, a, T)
    b.remote_host("core", state, T + 1)
    fail_site(norm, b, T + 2)
    ticks(b, T + 5, T + 100)
    # core recovers at A: its tombstone reaches B; the site router and h1 recover, h2..h5 still fail
    a.process(check(norm, "core", 0, service=None), T + 200)
    assert host_state(a, "core", T + 200) is None
    out = b.remote_host("core", None, T + 201)
    assert out.notifications == []
    held = {x["fingerprint"]: x["suppressed_by"] for x in out.alerts}
    assert held["h2|check|PING"] == {"kind": "hold-down", "ref": "rtr-mairie"}
    assert held["rtr-mairie|check"] == {"kind": "hold-down", "ref": "core"}
    notes = b.process(check(norm, "rtr-mairie", 0, service=None), T + 205).notifications
    notes += b.process(check(norm, "h1", 0), T + 206).notifications
    notes += b.process(check(norm, "h1", 0, service="DISK"), T + 206).notifications
    assert [n["reason"] for n in notes] == []  # never notified: no recovery to tell either
    notes = ticks(b, T + 210, T + 260)
    released = sorted(a["fingerprint"] for n in notes for a in n["alerts"])
    assert released == [f"{h}|check|{s}" for h in CHILDREN[1:] for s in ("DISK", "PING")]
    assert len(notes) == len(CHILDREN[1:])  # one message per host's incident, listing its two alerts
    assert {n["reason"] for n in notes} == {"new"}
    for fp in released:
        a_ = b.alerts[fp]
        assert a_.suppressed_by is None and a_.incident_id is not None
        inc = b.correlation.incidents[a_.incident_id]
        assert any("core (another site) recovered" in e["reason"] for e in inc.explain if e["alert"] == fp)


def test_remote_recovery_with_the_site_router_still_down_attaches_children_to_its_incident():
    norm, a, b = make()
    state, ref = core_down(norm, a, T)
    b.remote_host("core", state, T + 1)
    fail_site(norm, b, T + 2)
    b.remote_host("core", None, T + 100)  # core is back, the site router still fails
    notes = ticks(b, T + 105, T + 200)
    assert [n["alert"]["fingerprint"] for n in notes] == ["rtr-mairie|check"]
    inc_id = b.correlation.by_host["rtr-mairie"]
    inc = b.correlation.incidents[inc_id]
    assert inc.root_cause["host"] == "rtr-mairie"
    for h in CHILDREN:
        assert b.alerts[f"{h}|check|PING"].suppressed_by == {"kind": "incident", "ref": inc_id}
        assert inc.members[f"{h}|check|PING"]["role"] == "symptom"


def test_children_first_are_held_until_the_remote_parent_state_arrives():
    norm, a, b = make()
    notes = fail_site(norm, b, T)  # the site's alerts come before core's state
    for fp in b_fps():
        assert b.alerts[fp].suppressed_by["kind"] == "hold-down", fp
    notes += ticks(b, T + 5, T + 20)
    state, ref = core_down(norm, a, T + 3)
    out = b.remote_host("core", state, T + 21)
    assert out.notifications == []
    assert {x["fingerprint"] for x in out.alerts} == set(b_fps())
    notes += ticks(b, T + 25, T + 300)
    assert notes == []
    for fp in b_fps():
        assert b.alerts[fp].suppressed_by == {"kind": "incident", "ref": ref}, fp
    assert b.correlation.held == {}


def test_remote_state_after_the_hold_down_moves_local_causes_out_with_an_explanation():
    norm, a, b = make()
    notes = b.process(check(norm, "h1", 2), T).notifications
    notes += ticks(b, T + 5, T + 40)  # no parent down within the hold-down: h1 stands on its own
    assert [n["alert"]["fingerprint"] for n in notes] == ["h1|check|PING"]
    inc_id = b.alerts["h1|check|PING"].incident_id
    b.process(check(norm, "rtr-mairie", 2, service=None), T + 41)
    ticks(b, T + 45, T + 80)
    # the site router's incident took h1 as a symptom; now core is reported down at another site
    state, ref = core_down(norm, a, T + 50)
    out = b.remote_host("core", state, T + 90)
    assert out.notifications == []
    assert b.alerts["rtr-mairie|check"].suppressed_by == {"kind": "incident", "ref": ref}
    incidents = {i["id"]: i for i in out.incidents}
    rtr_inc = next(i for i in incidents.values() if any(e["decision"] == "remote" for e in i["explain"]))
    entry = next(e for e in rtr_inc["explain"] if e["decision"] == "remote")
    assert entry["alert"] == "rtr-mairie|check" and ref in entry["reason"] and "another site" in entry["reason"]
    # h1 stays a symptom of the local incident (already suppressed by a nearer parent)
    h1 = b.alerts["h1|check|PING"]
    assert h1.suppressed_by is not None and h1.suppressed_by["kind"] == "incident"
    assert inc_id is not None


def test_remote_states_survive_a_snapshot():
    norm, a, b = make()
    assert "remote" not in b.to_dict()["correlation"]  # unchanged snapshots without remote hosts
    state, ref = core_down(norm, a, T)
    b.remote_host("core", state, T + 1)
    fail_site(norm, b, T + 2)
    snap = orjson.loads(orjson.dumps(b.to_dict()))
    assert snap["correlation"]["remote"]["core"]["incident_id"] == ref
    c = Engine(configured.inventory(INV), router=configured.router([{"name": "oncall"}]))
    c.load(snap)
    assert ticks(c, T + 10, T + 100) == []
    c.remote_host("core", None, T + 101)
    notes = ticks(c, T + 105, T + 200)
    assert [n["alert"]["fingerprint"] for n in notes] == ["rtr-mairie|check"]
    assert c.to_dict()["correlation"].get("remote") is None


def test_unknown_tombstone_and_repeated_state_are_no_ops():
    norm, a, b = make()
    assert b.remote_host("core", None, T).alerts == []
    state, ref = core_down(norm, a, T)
    b.remote_host("core", state, T + 1)
    fail_site(norm, b, T + 2)
    out = b.remote_host("core", state, T + 10)  # replayed on a rebalance
    assert out.alerts == [] and out.notifications == [] and out.incidents == []
