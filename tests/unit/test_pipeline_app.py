"""The worker's pure helpers: replay dedup, event clock, batch folding, snapshot round trip."""

import orjson

from tests import configured
from vigie.pipelines.app import Collector, IncidentPacer, PartitionState, snapshot_value
from vigie.pipelines.correlate.clock import EventClock
from vigie.pipelines.correlate.engine import Engine, Output
from vigie.pipelines.normalize.normalize import Normalizer

INV = {"hosts": {"r1": {"site": "paris"}, "h1": {"site": "paris", "parents": ["r1"]}}}
T = 1_740_823_200.0


def test_seen_skips_events_normalize_produced_twice():
    ps = PartitionState(0, Engine(configured.inventory(INV)))
    origin = {"topic": "raw.checks", "partition": 1, "offset": 10}
    assert not ps.seen(origin)
    assert ps.seen(origin) and ps.seen({**origin, "offset": 9})
    assert not ps.seen({**origin, "offset": 11}) and not ps.seen({**origin, "partition": 2})
    assert not ps.seen(None)


def test_event_clock_is_the_record_timestamp_and_never_goes_back():
    ps = PartitionState(0, Engine(configured.inventory(INV)))
    assert ps.now_for(int(T * 1000)) == T
    assert ps.now_for(int((T - 5) * 1000)) == T
    assert ps.now_for(int((T + 1) * 1000)) == T + 1


def test_collector_writes_a_changed_key_once_with_its_last_value():
    col = Collector()
    col.add(Output(alerts=[{"fingerprint": "a", "count": 1}], incidents=[{"id": "i", "n": 1}]))
    col.add(Output(alerts=[{"fingerprint": "a", "count": 2}], incidents=[{"id": "i", "n": 2}],
                   notifications=[{"route": "ops", "reason": "new"}], deleted_alerts=["b"]))
    assert {k: v and v["count"] for k, v in col.alerts.items()} == {"a": 2, "b": None}
    assert col.incidents["i"]["n"] == 2
    assert [n["route"] for n in col.notifications] == ["ops"]


def test_pacer_sends_openings_and_status_changes_at_once_and_holds_growth_for_an_interval():
    pacer = IncidentPacer(1.0)
    assert pacer.admit({"i": {"id": "i", "status": "open", "n": 1}}, 100.0) == [{"id": "i", "status": "open", "n": 1}]
    assert pacer.admit({"i": {"id": "i", "status": "open", "n": 2}}, 100.3) == []
    assert pacer.admit({"i": {"id": "i", "status": "open", "n": 3}}, 100.6) == []
    assert pacer.due(100.9) == []
    assert pacer.due(101.0) == [{"id": "i", "status": "open", "n": 3}]  # the last value, once
    assert pacer.due(101.5) == []
    # a status change is never held, and replaces what was held
    assert pacer.admit({"i": {"id": "i", "status": "open", "n": 4}}, 101.2) == []
    assert pacer.admit({"i": {"id": "i", "status": "resolved", "n": 4}}, 101.3) == [
        {"id": "i", "status": "resolved", "n": 4}]
    assert pacer.due(105.0) == []
    # before a snapshot everything held goes out, whatever its age
    pacer.admit({"j": {"id": "j", "status": "open", "n": 1}}, 200.0)
    pacer.admit({"j": {"id": "j", "status": "open", "n": 2}}, 200.1)
    assert pacer.due(200.2, everything=True) == [{"id": "j", "status": "open", "n": 2}]
    # an incident quiet for longer than the interval is sent at once
    assert pacer.admit({"j": {"id": "j", "status": "open", "n": 3}}, 201.5) == [{"id": "j", "status": "open", "n": 3}]


def test_snapshot_restores_the_engine_and_resume_point():
    norm = Normalizer(configured.inventory(INV))
    ps = PartitionState(2, Engine(configured.inventory(INV)), next_offset=42, clock=EventClock(now=T + 5))
    for host in ("r1", "h1"):
        ps.engine.process(norm.check({"host": host, "service": None, "status": 2, "output": "down"}), T)
    ps.seen({"topic": "raw.checks", "partition": 0, "offset": 7})
    snap = orjson.loads(snapshot_value(ps))
    assert snap["offset"] == 42 and snap["last_now"] == T + 5 and snap["origins"] == {"raw.checks/0": 7}
    restored = Engine(configured.inventory(INV))
    restored.load(snap["engine"])
    before = ps.engine.to_dict()
    after = restored.to_dict()
    assert after["alerts"] == before["alerts"] and after["correlation"] == before["correlation"]
    assert restored.tick(T + 100).alerts == ps.engine.tick(T + 100).alerts


def test_reports_are_logged_not_put_on_the_notifications_topic():
    """A record on the notifications topic is for a route to deliver: a report no route delivers stays in the log."""
    from vigie.config import validate
    from vigie.kafka_client import KafkaSettings
    from vigie.pipelines.app import CorrelateStage, WorkerOptions

    stage = CorrelateStage(validate({}), KafkaSettings(), WorkerOptions())
    produced = []

    class Recorder:
        def produce(self, topic, value, key):
            produced.append(topic)

    stage.producer = Recorder()
    col = Collector()
    col.add(Output(reports=[{"kind": "maintenance_end", "ref": "m-1", "still_failing": ["r1|check"]}]))
    stage._emit(col)
    assert produced == [] and stage.produced["notifications"] == 0

