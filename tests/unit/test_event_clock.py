"""Event time (pipelines/correlate/clock.py): timers fire on a grid of event time, so a worker that re-reads its
events after a SIGKILL, or one catching up, decides as the live worker did, whenever its wall clock ticked."""

from __future__ import annotations

import time

import orjson
import pytest

from vigie.config import validate
from vigie.kafka_client import KafkaSettings
from vigie.pipelines import app
from vigie.pipelines.app import CorrelateStage, WorkerOptions
from vigie.pipelines.correlate import clock as clock_module
from vigie.pipelines.correlate.clock import MAX_GAP_TICKS, EventClock
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.normalize.normalize import Normalizer

T = 1_740_992_400.0  # on the grid
CONFIG = {
    "correlation": {"hold_down": "30s", "max_check_attempts": 1},
    "inventory": {"hosts": {"r1": {"site": "paris"}, "h1": {"site": "paris", "parents": ["r1"]}}},
    "routes": [{"name": "ops", "group_wait": "5s"}],
}


def test_grid_points_fire_once_in_order_and_a_late_event_is_taken_at_the_clock():
    clock = EventClock(1.0)
    assert list(clock.ticks(T + 2.5)) == []  # the first record starts the grid at the next point
    assert list(clock.ticks(T + 4)) == [T + 3, T + 4]
    assert list(clock.ticks(T + 4.9)) == []
    assert clock.event(T + 3.5) == T + 4  # late: at the clock, never back
    assert clock.event(T + 5.2) == T + 5.2
    assert list(clock.ticks(T + 6)) == [T + 5, T + 6]  # a point passed by an event still fires (before it)


def test_a_gap_of_hours_is_ticked_through_and_one_longer_than_the_cap_only_its_end(monkeypatch) -> None:  # noqa: ANN001
    clock = EventClock(1.0, now=T, next_tick=T + 1)
    fired = list(clock.ticks(T + 10 * 3600))  # a hold-down ending 30 s into the night ends then, not at dawn
    assert fired[:2] == [T + 1, T + 2] and len(fired) == 10 * 3600 and fired[-1] == T + 10 * 3600
    assert MAX_GAP_TICKS == 7 * 86400
    monkeypatch.setattr(clock_module, "MAX_GAP_TICKS", 100)
    fired = list(EventClock(60.0, now=T, next_tick=T + 60).ticks(T + 60 * 300))
    assert len(fired) == 101 and fired[0] == T + 60 * 200


class Record:
    """What confluent-kafka's consume() hands the stage."""

    def __init__(self, value: dict, offset: int, at: float) -> None:
        self._value, self._offset, self._at = orjson.dumps(value), offset, at

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return b"paris"

    def timestamp(self) -> tuple[int, int]:
        return (1, int(self._at * 1000))


class Broker:
    """The stage's producer, consumer and table readers: records what is produced, says where the head is."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.produced: list[tuple[str, dict]] = []

    def produce(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        if value is not None and topic.endswith("notifications"):
            self.produced.append((topic, orjson.loads(value)))

    def flush(self, timeout: float = 0) -> int:
        return 0

    def poll(self, timeout: float = 0) -> list:
        return []

    def get_watermark_offsets(self, tp, cached: bool = False, timeout: float = 0) -> tuple[int, int]:  # noqa: ANN001
        return (0, self.head)

    def notes(self) -> list[tuple[str, str, str]]:
        return [(n["reason"], n["group"]["key"], n["id"]) for _, n in self.produced]


def stage(broker: Broker) -> CorrelateStage:
    s = CorrelateStage(validate(CONFIG), KafkaSettings(), WorkerOptions())
    s.producer = s.consumer = s.control_reader = s.host_reader = broker
    s._snapshot_every = 3600.0
    s.parts[0] = app.PartitionState(0, s._engine(), clock=EventClock(1.0), low=0, head=broker.head,
                                    read_at=time.monotonic())
    return s


def events() -> list[Record]:
    """h1 fails (held 30 s for its parent r1, then an incident of its own), recovers 100 s later."""
    norm = Normalizer(Inventory.from_config(validate(CONFIG).inventory))
    down = norm.check({"host": "h1", "service": None, "status": 2, "output": "down"})
    up = norm.check({"host": "h1", "service": None, "status": 0, "output": "up"})
    return [Record(down, 0, T + 0.3), Record(up, 1, T + 100.3)]


def run_live(monkeypatch: pytest.MonkeyPatch, walls: list[float]) -> list[tuple[str, str, str]]:
    """The live worker: each event read as it comes, idle() called at the given wall times in between."""
    broker = Broker(head=0)
    s = stage(broker)
    down, up = events()
    for wall in walls:
        monkeypatch.setattr(app.time, "time", lambda wall=wall: wall)
        if wall > up.timestamp()[1] / 1000 and broker.head < 2:
            broker.head = 2
            s.handle([up])
        elif wall > down.timestamp()[1] / 1000 and broker.head < 1:
            broker.head = 1
            s.handle([down])
        s.idle()
    return broker.notes()


def test_timers_fire_on_the_grid_whenever_the_wall_clock_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The incident opened by the hold-down's end, its page and its end: the same ids at any tick phase (the
    old worker ticked at the wall's own time: an incident id, so a message id, per phase)."""
    a = run_live(monkeypatch, [T + 0.31 + 0.25 * i for i in range(1600)])
    b = run_live(monkeypatch, [T + 0.35 + 0.9 * i for i in range(460)])
    assert [r for r, _, _ in a] == ["new", "resolved"]
    assert a == b


def test_a_worker_with_a_backlog_ticks_on_its_events_not_on_the_wall_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restarted hours later with both events unread: it decides as the live worker did (same message ids),
    not at the hour of its restart."""
    live = run_live(monkeypatch, [T + 0.31 + 0.25 * i for i in range(1600)])
    broker = Broker(head=2)
    s = stage(broker)
    monkeypatch.setattr(app.time, "time", lambda: T + 5 * 3600)
    s.idle()  # behind its head: no tick on the wall clock
    assert broker.notes() == [] and s.parts[0].clock.now == 0
    down, up = events()
    s.handle([down])
    s.idle()
    s.handle([up])
    assert broker.notes()[0] == live[0]  # the page, decided at its grid point on the events' time
    s.idle()  # caught up: the rest on the wall clock, on the same grid
    assert broker.notes() == live


def test_normalize_times_an_event_when_the_intake_received_it_unless_too_late_for_correlate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fresh raw record keeps the intake's time; one read from a backlog (received 30 s ago) is timed half the
    allowed lateness (200 ms) before normalize read it, so that correlate, following the wall clock, has not passed it."""
    from vigie.pipelines.app import NormalizeStage

    settings = KafkaSettings()
    normalize = NormalizeStage(validate(CONFIG), settings, WorkerOptions())
    stamped: list[int] = []

    class Producer:
        def produce(self, topic: str, value: bytes, key: bytes, timestamp: int = 0) -> None:
            stamped.append(timestamp)

    class Raw(Record):
        def topic(self) -> str:
            return settings.topic("raw.checks")

        def headers(self) -> list:
            return [("received_at", b"2025-03-03T09:00:00.000Z")]

    normalize.producer = Producer()
    monkeypatch.setattr(app.time, "time", lambda: T + 30)
    check = {"host": "h1", "service": None, "status": 2, "output": "down"}
    normalize.handle([Raw(check, 7, T + 29.95), Raw(check, 8, T)])
    assert stamped == [int((T + 29.95) * 1000), int((T + 29.9) * 1000)]


def test_what_a_restarted_worker_decides_as_it_reassigns_a_partition_is_told_at_the_partition_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another site's router reported down while this partition's host behind it was failing: applied when the
    partition is assigned again, its verdict reaches the alerts topic (it was dropped), decided at the snapshot's
    time, not at the hour of the restart."""
    config = {**CONFIG, "inventory": {"hosts": {"r1": {"site": "lyon"}, "h1": {"site": "paris", "parents": ["r1"]}}}}
    broker = Broker(head=1)
    first = CorrelateStage(validate(config), KafkaSettings(), WorkerOptions())
    ps = app.PartitionState(0, first._engine(), clock=EventClock(1.0))
    norm = Normalizer(Inventory.from_config(validate(config).inventory))
    down = Record(norm.check({"host": "h1", "service": None, "status": 2, "output": "down"}), 0, T + 0.3)
    first.producer = first.consumer = broker
    first.parts[0] = ps
    first.handle([down])
    snapshot = app.snapshot_value(ps)

    class State:
        values = {b"correlate/0": snapshot}

        def read_to_end(self) -> list:
            return []

    class Consumer(Broker):
        def assign(self, parts: list) -> None:
            pass

    produced: list[tuple[str, dict]] = []
    broker.produce = lambda topic, value, key=None: produced.append((topic, orjson.loads(value)))  # type: ignore[method-assign]
    s = CorrelateStage(validate(config), KafkaSettings(), WorkerOptions())
    s.producer, s.state_reader = broker, State()
    s.remote = {"r1": {"schema": "hoststate/1", "host": "r1", "down": True, "kinds": ["liveness"],
                       "incident_id": "lyon-1", "partition": 1, "at": "2025-03-03T09:00:01Z"}}
    monkeypatch.setattr(app.time, "time", lambda: T + 5 * 3600)
    s._assign(Consumer(head=1), [app.TopicPartition(s.events_topic, 0, 0)])
    alerts = [v for topic, v in produced if topic.endswith("alerts")]
    assert [a["suppressed_by"] for a in alerts] == [{"kind": "incident", "ref": "lyon-1"}]
    assert s.parts[0].engine.alerts["h1|check"].last_emit == T + 0.3  # the partition's time, not 5 hours later
