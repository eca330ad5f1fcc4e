"""The pipeline worker: normalize (raw.* -> events) and correlate (events, control -> alerts, incidents, notifications).

Both stages are thin batch loops over the pure modules (normalize.Normalizer, correlate.engine.Engine);
Kafka plumbing, state snapshots and replicated tables come from pipelines/runtime.py (why not Faust:
see its docstring). Correlate keeps one Engine per `events` partition (events are keyed by site, so
a site's state lives in one partition); its state is snapshotted with the next input offset, so a
restarted or rebalanced worker loads it and replays only what came after. Host states are
published to a compacted topic every worker reads (the GlobalTable of the issue), for parents that
sit at another site.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from vigie import topics
from vigie.codecs.syslog import parse_syslog
from vigie.config import Config
from vigie.kafka_client import KafkaSettings
from vigie.pipelines import runtime
from vigie.pipelines.correlate.clock import IDLE_AFTER, EventClock, event_time_floor
from vigie.pipelines.correlate.engine import Engine, Output
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.normalize.normalize import Normalizer
from vigie.pipelines.normalize.rules import RuleSet
from vigie.pipelines.runtime import IncidentPacer
from vigie.pipelines.zones import ZoneMap
from vigie.schemas.codec import dumps, loads, rfc3339
from vigie.sink import deadletter_value
from vigie.stage_metrics import WorkerMetrics

log = logging.getLogger("vigie.pipelines")

RAW_TOPICS = (topics.RAW_SYSLOG, topics.RAW_TRAPS, topics.RAW_CHECKS)


@dataclass
class WorkerOptions:
    """Tunables of one worker (defaults fit one machine; tests shorten the intervals)."""

    batch: int = 2000
    poll_timeout: float = 0.05
    commit_interval: float = 0.5
    tick_interval: float = 1.0
    snapshot_interval: float = 2.0
    normalize: bool = True
    correlate: bool = True


def _header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    for k, v in headers or ():
        if k == name:
            return v.decode(errors="replace")
    return None


def _when(text: str | None) -> datetime | None:
    """The received_at header as a datetime (the parser needs it to pick the year of year-less timestamps)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- normalize -----------------------------------------------------------------------------------


def normalize_record(
    normalizer: Normalizer,
    topic: str,
    raw: bytes,
    received_at: str | None,
    key: bytes | None,
    peer: str | None,
    origin: dict[str, Any] | None,
    zones: ZoneMap | None = None,
) -> dict[str, Any] | None:
    """One raw record (logical topic, value, its received_at and peer) -> an event or None: what the normalize
    stage does per record, and `vigie replay` per recorded line. zones: the devices' zones for stamps without
    one (None: all UTC, the parser's own fast path)."""
    if topic == topics.RAW_CHECKS:
        return normalizer.check(loads(raw), origin)
    if topic == topics.RAW_TRAPS:
        return normalizer.trap(loads(raw), origin)
    if not normalizer.rules.could_match(raw):
        return None  # no rule can match: not an event, and not worth a parse (the archive keeps it)
    sender = key.decode(errors="replace") if key else (peer.rsplit(":", 1)[0] if peer else None)
    parsed = parse_syslog(raw, _when(received_at), zones, sender)
    if not parsed.get("peer"):
        parsed["peer"] = sender
    return normalizer.syslog(parsed, origin, received_at)



class NormalizeStage:
    """Stateless: each raw record becomes zero or one event, keyed by site; undecodable ones go to deadletter."""

    def __init__(self, cfg: Config, settings: KafkaSettings, opts: WorkerOptions) -> None:
        rules_file = cfg.normalize.rules_file
        rules = RuleSet.load(rules_file) if rules_file else None
        inventory = Inventory.from_config(cfg.inventory)
        self.normalizer = Normalizer(inventory, rules)
        zones = ZoneMap.from_config(cfg, inventory)
        self.zones = zones if zones.active else None  # all UTC: the parser's own fast path
        self.settings = settings
        self.opts = opts
        self.logical = {settings.topic(t): t for t in RAW_TOPICS}
        self.events_topic = settings.topic(topics.EVENTS)
        self.dead_topic = settings.topic(topics.DEADLETTER)
        self.events = 0
        self.dead = 0
        self.lateness = cfg.correlation.allowed_lateness
        self.joined = threading.Event()  # set when its consumer has joined its group (the readiness `vigie up` waits for)
        self.consumed = 0

    def handle(self, msgs: list[Message]) -> None:
        self.consumed += len(msgs)
        produce = self.producer.produce
        events_topic = self.events_topic
        oldest = event_time_floor(time.time(), self.lateness)
        for m in msgs:
            topic = self.logical.get(m.topic(), m.topic())
            origin = {"topic": topic, "partition": m.partition(), "offset": m.offset()}
            raw = m.value()
            try:
                event = self.normalize(topic, m, raw, origin)
            except Exception as exc:  # noqa: BLE001 - one bad record must never stop the stage
                produce(self.dead_topic, deadletter_value("normalize", f"{type(exc).__name__}: {exc}", raw, origin),
                        m.key() or topic.encode())
                self.dead += 1
                continue
            if event is not None:
                # event time (correlate's now): when the intake received the raw record, unless that is too late
                # for correlate's clock (correlate/clock.py: a backlog after a restart is timed as normalize reads it)
                produce(events_topic, dumps(event), event["site"].encode(), timestamp=max(m.timestamp()[1], oldest))
                self.events += 1

    def normalize(self, topic: str, m: Message, raw: bytes, origin: dict[str, Any]) -> dict[str, Any] | None:
        headers = m.headers() if topic == topics.RAW_SYSLOG else None
        return normalize_record(self.normalizer, topic, raw, _header(headers, "received_at"), m.key(),
                                _header(headers, "peer"), origin, self.zones)

    def run(self, stop: threading.Event) -> None:
        consumer = runtime.group_consumer(self.settings, f"{self.settings.topic_prefix}normalize")
        self.producer = runtime.make_producer(self.settings)
        batcher = runtime.Batcher(consumer, self.producer, self.handle, max_records=self.opts.batch,
                                  poll_timeout=self.opts.poll_timeout, commit_interval=self.opts.commit_interval)

        def revoked(c: Any, parts: list[TopicPartition]) -> None:
            batcher.commit()  # a partition's next owner starts after what was made durable here

        consumer.subscribe([self.settings.topic(t) for t in RAW_TOPICS], on_assign=lambda c, p: self.joined.set(),
                           on_revoke=revoked)
        try:
            while not stop.is_set():
                batcher.step()
            batcher.commit()
        finally:
            consumer.close()
            self.producer.flush(30)


# --- correlate -----------------------------------------------------------------------------------


def snapshot_value(ps: PartitionState) -> bytes:
    """The state of one partition's engine plus where to resume; orjson writes the dataclasses in C."""
    e = ps.engine
    value = {
        "schema": "correlate-snapshot/1",
        "offset": ps.next_offset,
        "last_now": ps.clock.now,
        "next_tick": ps.clock.next_tick,
        "origins": ps.origins,
        "down": sorted(ps.published_down),
        "engine": {
            "alerts": e.alerts,
            "correlation": e.correlation,
            "controls": e.controls.to_dict(),
            "notifier": {"groups": e.notifier.groups, "flapping": e.notifier.flapping,
                         "flap_groups": e.notifier.flap_groups, "boundary": e.notifier.boundary},
        },
    }
    try:
        return orjson.dumps(value)  # every key is a string: OPT_NON_STR_KEYS would halve orjson's speed
    except TypeError:  # a non-string key after all (from a command's payload): slower, never fails
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


@dataclass
class PartitionState:
    """One `events` partition's engine and bookkeeping."""

    partition: int
    engine: Engine
    next_offset: int = OFFSET_BEGINNING
    origins: dict[str, int] = field(default_factory=dict)  # "topic/partition" of the raw record -> max offset
    published_down: set[str] = field(default_factory=set)
    dirty: bool = False
    saved_at: float = 0.0  # monotonic time of its last snapshot
    clock: EventClock = field(default_factory=EventClock)
    head: int = -1  # the partition's end offset when it was assigned (until the consumer's cached one is known)
    low: int = -1  # its first offset then (where a partition without snapshot starts)
    read_at: float = 0.0  # monotonic time its last record was handled

    def at(self, wall: float) -> float:
        """When a control command or another partition's host state applies: the partition's time (wall: none yet)."""
        return self.clock.now or wall

    def now_for(self, ts_ms: int) -> float:
        """An event's time from its record's timestamp (call after firing clock.ticks up to it): never backwards."""
        return self.clock.event(ts_ms / 1000.0 if ts_ms > 0 else time.time())

    def timed(self, ts_ms: int, out: Collector) -> float:
        """The grid ticks due before a record of timestamp ts_ms (into `out`), then the record's `now`."""
        for at in self.clock.ticks(ts_ms / 1000.0 if ts_ms > 0 else time.time()):
            out.add(self.engine.tick(at))
        return self.now_for(ts_ms)

    def seen(self, origin: dict[str, Any] | None) -> bool:
        """True for an event normalize produced twice (a replay after its crash): the raw offset was applied."""
        if not origin:
            return False
        key = f"{origin.get('topic')}/{origin.get('partition')}"
        offset = origin.get("offset")
        if not isinstance(offset, int):
            return False
        if offset <= self.origins.get(key, -1):
            return True
        self.origins[key] = offset
        return False


class Collector:
    """One batch's outputs, folded: an alert or incident changed several times is kept once, its last value.

    Values are encoded when emitted, not when added: an incident that a storm changes a thousand times in
    one batch is serialized once.
    """

    def __init__(self) -> None:
        self.alerts: dict[str, dict[str, Any] | None] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def add(self, out: Output | None) -> None:
        if out is None:
            return
        for a in out.alerts:
            self.alerts[a["fingerprint"]] = a
        for fp in out.deleted_alerts:
            self.alerts[fp] = None
        for inc in out.incidents:
            self.incidents[inc["id"]] = inc
        self.notifications.extend(out.notifications)
        self.reports.extend(out.reports)
        self.errors.extend(out.errors)


class CorrelateStage:
    """Events and control commands through per-partition engines; ticks every second; snapshots every few."""

    def __init__(self, cfg: Config, settings: KafkaSettings, opts: WorkerOptions) -> None:
        self.cfg = cfg
        self.settings = settings
        self.opts = opts
        self.joined = threading.Event()  # set when its consumer has joined its group (the readiness `vigie up` waits for)
        self.parts: dict[int, PartitionState] = {}
        self.events_topic = settings.topic(topics.EVENTS)
        self.t_alerts = settings.topic(topics.ALERTS)
        self.t_incidents = settings.topic(topics.INCIDENTS)
        self.t_notes = settings.topic(topics.NOTIFICATIONS)
        self.t_dead = settings.topic(topics.DEADLETTER)
        self.t_state = settings.topic(runtime.STATE)
        self.t_hosts = settings.topic(runtime.HOSTS)
        self.controls: list[tuple[bytes | None, bytes | None]] = []
        self.remote: dict[str, dict[str, Any]] = {}  # host -> state published by another partition's owner
        self.pacer = IncidentPacer(self._engine().alert_config.update_interval)
        self.processed = 0
        self.produced = {"alerts": 0, "incidents": 0, "notifications": 0, "deadletter": 0}  # records, per topic
        self.lateness = cfg.correlation.allowed_lateness
        self._last_snapshot = time.monotonic()

    # --- partitions ------------------------------------------------------------------------------

    def _engine(self) -> Engine:
        return Engine.from_config(self.cfg)

    def _assign(self, consumer: Any, parts: list[TopicPartition]) -> None:
        """Load each partition's snapshot and resume after it; a partition without one starts at the beginning."""
        self.state_reader.read_to_end()
        now, col = time.time(), Collector()
        for tp in parts:
            ps = PartitionState(tp.partition, self._engine(), clock=EventClock(self.opts.tick_interval))
            raw = self.state_reader.values.get(f"correlate/{tp.partition}".encode())
            if raw:
                snap = orjson.loads(raw)
                ps.engine.load(snap["engine"])
                ps.next_offset = snap["offset"]
                ps.clock.now = snap["last_now"]
                ps.clock.next_tick = snap.get("next_tick", 0.0)
                ps.origins = snap.get("origins", {})
                ps.published_down = set(snap.get("down", ()))
            # at the partition's own time, not the wall clock's, and what they decide is told: a restarted worker
            # once decided a page here at the wall's time and dropped it (found by the SIGKILL scenario)
            for key, value in self.controls:
                col.add(ps.engine.control(loads(value) if value else None, ps.at(now), key.decode() if key else None))
            for host, state in self.remote.items():
                col.add(self._inject(ps, host, state, ps.at(now)))
            tp.offset = ps.next_offset
            ps.low, ps.head = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
            ps.read_at = time.monotonic()
            self.parts[tp.partition] = ps
            log.info("correlate: partition %d from offset %s (%d alerts)", tp.partition, ps.next_offset,
                     len(ps.engine.alerts))
        self._emit(col)
        consumer.assign(parts)
        self.joined.set()

    def _revoke(self, consumer: Any, parts: list[TopicPartition]) -> None:
        self._snapshot(force=True)
        for tp in parts:
            self.parts.pop(tp.partition, None)

    def _snapshot(self, force: bool = False) -> None:
        """Outputs first, then the snapshots that claim them: a crash between the two only replays.

        Unforced, one partition per call, the one saved longest ago: encoding a big engine's state stalls the
        loop, and one partition at a time spreads that stall instead of adding up every partition's.
        """
        dirty = [ps for ps in self.parts.values() if ps.dirty or force]
        if not dirty:
            return
        if not force:
            dirty = [min(dirty, key=lambda ps: ps.saved_at)]
        self._produce_incidents(self.pacer.due(time.monotonic(), everything=True))
        self.producer.flush(30)
        t0 = time.monotonic()
        for ps in dirty:
            self.producer.produce(self.t_state, snapshot_value(ps), f"correlate/{ps.partition}".encode())
            ps.dirty = False
            ps.saved_at = t0
        if force:  # a partition's next owner, or this worker's next start, reads it: make it durable now
            self.producer.flush(30)
        cost = (time.monotonic() - t0) / len(dirty)
        # each partition every snapshot_interval, stretched to keep snapshotting under ~10 % of the time
        self._snapshot_every = max(self.opts.snapshot_interval, 10 * cost * len(self.parts))
        self._last_snapshot = time.monotonic()

    # --- host states (replicated table) -----------------------------------------------------------

    def _inject(self, ps: PartitionState, host: str, state: dict[str, Any], now: float) -> Output | None:
        """Tell an engine about a host another partition owns (Engine.remote_host); not its own hosts' states.

        Partitions of this worker share host states through the topic too (only the publisher skips them).
        """
        hook = getattr(ps.engine, "remote_host", None)
        if hook is None or host in ps.published_down or state.get("partition") == ps.partition:
            return None
        return hook(host, state if state.get("down") else None, now)

    def _publish_hosts(self, ps: PartitionState, now: float) -> None:
        down = set(ps.engine.correlation.down)
        if down == ps.published_down:
            return
        incident_of = getattr(ps.engine, "host_incident", ps.engine.correlation.by_host.get)
        for host in down ^ ps.published_down:
            is_down = host in down
            value = {
                "schema": "hoststate/1",
                "host": host,
                "down": is_down,
                "kinds": sorted(set(ps.engine.correlation.down.get(host, {}).values())) if is_down else [],
                # its local incident, else the remote one suppressing it (hosts behind it at other sites)
                "incident_id": incident_of(host) if is_down else None,
                "partition": ps.partition,
                "at": rfc3339(now),
            }
            self.producer.produce(self.t_hosts, dumps(value), host.encode())
        ps.published_down = down
        ps.dirty = True

    # --- the loop -------------------------------------------------------------------------------

    def handle(self, msgs: list[Message]) -> None:
        col = Collector()
        touched: dict[int, PartitionState] = {}
        for m in msgs:
            ps = self.parts.get(m.partition())
            if ps is None:
                continue
            ps.next_offset = m.offset() + 1
            raw = m.value()
            try:
                event = loads(raw)
                if ps.seen(event.get("origin")):
                    continue
                col.add(ps.engine.process(event, ps.timed(m.timestamp()[1], col)))
            except Exception as exc:  # noqa: BLE001 - one bad event must never stop the stage
                origin = {"topic": topics.EVENTS, "partition": m.partition(), "offset": m.offset()}
                self.producer.produce(self.t_dead, deadletter_value("correlate", f"{type(exc).__name__}: {exc}", raw, origin),
                                      m.key() or b"events")
                self.produced["deadletter"] += 1
            touched[ps.partition] = ps
        for ps in touched.values():
            ps.dirty, ps.read_at = True, time.monotonic()
        self.processed += len(msgs)
        self._emit(col)

    def idle(self) -> None:
        """Between batches: control commands, remote host states, ticks, host-state publishing, snapshots."""
        col = Collector()
        now = time.time()
        for m in self.control_reader.poll():
            self.controls.append((m.key(), m.value()))
            try:
                value = loads(m.value()) if m.value() else None
            except ValueError as exc:
                col.errors.append(f"control: {exc}")
                continue
            for ps in self.parts.values():
                col.add(ps.engine.control(value, ps.at(now), m.key().decode() if m.key() else None))
                ps.dirty = True
        for m in self.host_reader.poll():
            state = loads(m.value()) if m.value() else {"down": False}
            host = m.key().decode()
            self.remote[host] = state
            for ps in self.parts.values():
                out = self._inject(ps, host, state, ps.at(now))
                col.add(out)
                ps.dirty = ps.dirty or out is not None
        # timers on the grid (correlate/clock.py): with a backlog, on its events' time only (handle); with nothing
        # left to read, on the wall clock allowed_lateness behind
        watermark = now - self.lateness
        for ps in self.parts.values():
            if ps.clock.next_tick > watermark or not self._caught_up(ps):
                continue
            for at in ps.clock.ticks(watermark):
                out = ps.engine.tick(at)
                if out.alerts or out.incidents or out.notifications or out.deleted_alerts or out.reports:
                    ps.dirty = True
                col.add(out)
        self._emit(col)
        for ps in self.parts.values():
            self._publish_hosts(ps, now)
        if time.monotonic() - self._last_snapshot >= self._snapshot_every / max(1, len(self.parts)):
            self._snapshot()

    def _caught_up(self, ps: PartitionState) -> bool:
        """Nothing left to read in the partition (its head as last fetched, else as when assigned), or fetched
        from yet nothing read for IDLE_AFTER seconds (a head that no record reaches, e.g. a transaction marker)."""
        _low, fetched = self.consumer.get_watermark_offsets(TopicPartition(self.events_topic, ps.partition), cached=True)
        position = ps.next_offset if ps.next_offset >= 0 else ps.low
        if position >= (fetched if fetched >= 0 else ps.head):
            return True
        return fetched >= 0 and time.monotonic() - ps.read_at >= IDLE_AFTER

    def _emit(self, col: Collector) -> None:
        produce = self.producer.produce
        for fp, alert in col.alerts.items():
            produce(self.t_alerts, None if alert is None else dumps(alert), fp.encode())
        now = time.monotonic()
        self._produce_incidents(self.pacer.admit(col.incidents, now) + self.pacer.due(now))
        for note in col.notifications:
            produce(self.t_notes, dumps(note), note["route"].encode())
        for report in col.reports:  # logged only: the notifications topic holds what a route delivers
            log.info("report: %s", report)
        for err in col.errors:
            log.warning("correlate: %s", err)
        self.produced["alerts"] += len(col.alerts)
        self.produced["notifications"] += len(col.notifications)

    def _produce_incidents(self, incidents: list[dict[str, Any]]) -> None:
        self.produced["incidents"] += len(incidents)
        for inc in incidents:
            self.producer.produce(self.t_incidents, dumps(inc), inc["id"].encode())

    def run(self, stop: threading.Event) -> None:
        self._snapshot_every = self.opts.snapshot_interval
        self.producer = runtime.make_producer(self.settings)
        self.state_reader = runtime.TableReader(self.settings, runtime.STATE)
        self.control_reader = runtime.TableReader(self.settings, topics.CONTROL)
        self.host_reader = runtime.TableReader(self.settings, runtime.HOSTS)
        # commands and host states first, so that engines see them before the first event
        self.controls = [(m.key(), m.value()) for m in self.control_reader.read_to_end()]
        for m in self.host_reader.read_to_end():
            # tombstones too: a snapshot may still hold that host as impaired (assignment clears it)
            self.remote[m.key().decode()] = loads(m.value()) if m.value() else {"down": False}
        consumer = self.consumer = runtime.group_consumer(self.settings, f"{self.settings.topic_prefix}correlate")
        # the resume point is the snapshot's offset, not the group's: committing only shows the lag, so it
        # need not stall the loop on a flush
        batcher = runtime.Batcher(consumer, self.producer, self.handle, max_records=self.opts.batch,
                                  poll_timeout=self.opts.poll_timeout, commit_interval=self.opts.commit_interval,
                                  idle=self.idle, flush_before_commit=False)
        consumer.subscribe([self.events_topic], on_assign=self._assign, on_revoke=self._revoke)
        try:
            while not stop.is_set():
                batcher.step()
            self._snapshot(force=True)
            batcher.commit()
        finally:
            consumer.close()
            self.producer.flush(30)
            for reader in (self.state_reader, self.control_reader, self.host_reader):
                reader.close()


# --- the worker ------------------------------------------------------------------------------------


class Worker:
    """Both stages of one worker process, each in its own thread (librdkafka releases the GIL while it waits)."""

    def __init__(self, cfg: Config, settings: KafkaSettings, opts: WorkerOptions | None = None) -> None:
        self.cfg = cfg
        self.settings = settings
        self.opts = opts or WorkerOptions()
        self.stop_event = threading.Event()
        self.stages: list[Any] = []
        if self.opts.normalize:
            self.stages.append(NormalizeStage(cfg, settings, self.opts))
        if self.opts.correlate:
            self.stages.append(CorrelateStage(cfg, settings, self.opts))
        self.errors: list[BaseException] = []

    def _run(self, stage: Any) -> None:
        try:
            stage.run(self.stop_event)
        except BaseException as exc:  # noqa: BLE001 - reported by run(), which then stops the others
            log.exception("%s crashed", type(stage).__name__)
            self.errors.append(exc)
            self.stop_event.set()

    def run(self) -> int:
        """Run until stop() (SIGTERM); returns 0 on a clean stop, 1 when a stage crashed (the supervisor restarts)."""
        runtime.ensure_pipeline_topics(self.settings, self.cfg.kafka.partitions)
        threads = [threading.Thread(target=self._run, args=(s,), name=type(s).__name__, daemon=True)
                   for s in self.stages]
        for t in threads:
            t.start()
        log.info("pipeline worker started: %s", ", ".join(t.name for t in threads))
        metrics = WorkerMetrics(self.stages)  # the stages' plain counts, published from this thread
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.5)
            metrics.publish()
        metrics.publish()
        return 1 if self.errors else 0

    def stop(self) -> None:
        self.stop_event.set()


def build_worker(cfg: Config, settings: KafkaSettings, opts: WorkerOptions | None = None) -> Worker:
    """The worker for a validated config (vigie.config.load) and where Kafka is."""
    return Worker(cfg, settings, opts)
