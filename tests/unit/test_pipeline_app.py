"""The worker's pure helpers: replay dedup, event clock, batch folding, snapshot round trip."""

import orjson

from vigie.pipelines.app import Collector, PartitionState, snapshot_value
from vigie.pipelines.correlate.engine import Engine, Output
from vigie.pipelines.normalize.normalize import Normalizer

INV = {"hosts": {"r1": {"site": "paris"}, "h1": {"site": "paris", "parents": ["r1"]}}}
T = 1_740_823_200.0


def test_seen_skips_events_normalize_produced_twice():
    ps = PartitionState(0, Engine(INV))
    origin = {"topic": "raw.checks", "partition": 1, "offset": 10}
    assert not ps.seen(origin)
    assert ps.seen(origin) and ps.seen({**origin, "offset": 9})
    assert not ps.seen({**origin, "offset": 11}) and not ps.seen({**origin, "partition": 2})
    assert not ps.seen(None)


def test_event_clock_is_the_record_timestamp_and_never_goes_back():
    ps = PartitionState(0, Engine(INV))
    assert ps.now_for(int(T * 1000)) == T
    assert ps.now_for(int((T - 5) * 1000)) == T
    assert ps.now_for(int((T + 1) * 1000)) == T + 1


def test_collector_writes_a_changed_key_once_with_its_last_value():
    col = Collector()
    col.add(Output(alerts=[{"fingerprint": "a", "count": 1}], incidents=[{"id": "i", "n": 1}]))
    col.add(Output(alerts=[{"fingerprint": "a", "count": 2}], incidents=[{"id": "i", "n": 2}],
                   notifications=[{"route": "ops", "reason": "new"}], deleted_alerts=["b"]))
    assert {k: v and orjson.loads(v)["count"] for k, v in col.alerts.items()} == {"a": 2, "b": None}
    assert orjson.loads(col.incidents["i"])["n"] == 2
    assert [r for r, _ in col.notifications] == ["ops"]


def test_snapshot_restores_the_engine_and_resume_point():
    norm = Normalizer(INV)
    ps = PartitionState(2, Engine(INV), next_offset=42, last_now=T + 5)
    for host in ("r1", "h1"):
        ps.engine.process(norm.check({"host": host, "service": None, "status": 2, "output": "down"}), T)
    ps.seen({"topic": "raw.checks", "partition": 0, "offset": 7})
    snap = orjson.loads(snapshot_value(ps))
    assert snap["offset"] == 42 and snap["last_now"] == T + 5 and snap["origins"] == {"raw.checks/0": 7}
    restored = Engine(INV)
    restored.load(snap["engine"])
    before = ps.engine.to_dict()
    after = restored.to_dict()
    assert after["alerts"] == before["alerts"] and after["correlation"] == before["correlation"]
    assert restored.tick(T + 100).alerts == ps.engine.tick(T + 100).alerts
