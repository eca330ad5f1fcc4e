"""The pipelines' Kafka runtime: confluent-kafka batch loops, snapshot store and replicated tables (Faust's roles).

The issue asked for faust-streaming agents and tables. Measured on the 2-core machine
(bench/faust_overhead.py): a Faust agent that only counts reads 1,900-3,200 records/s whatever the
variant (`async for`, `take`, `events`, `noack`, bigger poll and buffer, `stream_wait_empty=False`,
acks), and 7,900/s even with its per-record `wait_first` fetch construct patched out, while
confluent-kafka's `consume()` reads 190,000-400,000/s and aiokafka's `getmany()` 155,000-265,000/s in
the same run. normalize + correlate themselves cost about 100-200 us per event in Python, so the
10,000 events/s target leaves a few microseconds per record for the Kafka layer: only a batch loop
over librdkafka fits. This module is the one place that choice lives; it gives the stages what Faust
would have: consumer-group partition assignment, per-partition state that survives a restart
(snapshots with the input offset in a compacted topic, instead of a changelog per key), and
replicated tables every worker reads in full (GlobalTable: host states, control objects).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from vigie.kafka_client import KafkaSettings, limited_logging, make_consumer, topic_partitions, watermarks
from vigie.topic_admin import ensure_topics
from vigie.topics import TopicSpec

log = logging.getLogger(__name__)

STATE = "pipeline.state"  # compacted: key "<stage>/<partition>", value a snapshot with the next input offset
HOSTS = "pipeline.hosts"  # compacted: key host, value its state as the owning worker sees it (replicated)
SNAPSHOT_MAX_BYTES = 32 * 1024 * 1024


def pipeline_specs(partitions: int = 3) -> list[TopicSpec]:
    """The internal topics the pipelines add to the architecture's set (created by the worker at start)."""
    big = {"max.message.bytes": str(SNAPSHOT_MAX_BYTES + 1024 * 1024)}
    return [
        TopicSpec(STATE, 1, "compact", None, {**big, "min.compaction.lag.ms": "0", "segment.ms": "3600000"}),
        TopicSpec(HOSTS, partitions, "compact", None),
    ]


def ensure_pipeline_topics(settings: KafkaSettings, partitions: int = 3) -> list[str]:
    return ensure_topics(settings, pipeline_specs(partitions))


def make_producer(settings: KafkaSettings, **extra: Any) -> Producer:
    """An idempotent, lz4, lightly lingering producer; big enough for state snapshots."""
    conf = settings.librdkafka()
    conf.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
            "message.max.bytes": SNAPSHOT_MAX_BYTES + 512 * 1024,
            "partitioner": "murmur2_random",  # the Java clients' partitioner: same key, same partition
        }
    )
    conf.update(extra)
    return Producer(limited_logging(conf))  # its reconnect lines through the per-process limiter


def group_consumer(settings: KafkaSettings, group: str, **extra: Any) -> Consumer:
    """A consumer-group member with manual commits and a short session, for fast takeover after a kill."""
    conf = {
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 300000,
        "fetch.wait.max.ms": 100,
        "fetch.max.bytes": 48 * 1024 * 1024,
        "receive.message.max.bytes": 64 * 1024 * 1024,
        "isolation.level": "read_uncommitted",
    }
    conf.update(extra)
    return make_consumer(settings, group, **conf)


def good(msgs: list[Message]) -> list[Message]:
    """Drop (and log) error events; partition EOFs are disabled so errors are real ones."""
    out = []
    for m in msgs:
        err = m.error()
        if err is None:
            out.append(m)
        elif err.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", err)
    return out


class TableReader:
    """Reads one compacted topic in full on every worker (Faust's GlobalTable): read_to_end, then poll for updates."""

    def __init__(self, settings: KafkaSettings, logical: str) -> None:
        self.topic = settings.topic(logical)
        # a group id is required by librdkafka, but offsets are assigned by hand and never committed
        self.consumer = make_consumer(
            settings,
            f"{settings.topic_prefix}reader-{uuid.uuid4().hex[:8]}",
            **{"fetch.wait.max.ms": 250, "receive.message.max.bytes": 64 * 1024 * 1024,
               "fetch.max.bytes": 48 * 1024 * 1024},
        )
        self.partitions = topic_partitions(self.consumer, self.topic)
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self.partitions])
        self.values: dict[bytes, bytes | None] = {}

    def read_to_end(self, timeout: float = 30.0) -> list[Message]:
        """Everything up to the high watermarks as of now, in order; also kept in .values (latest per key)."""
        ends = {}
        for p in self.partitions:
            _low, high = watermarks(self.consumer, self.topic, p)
            ends[p] = high
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        pos = {p: -1 for p in self.partitions}
        while any(pos[p] + 1 < ends[p] for p in self.partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {self.topic} to its end took more than {timeout} s")
            for m in good(self.consumer.consume(1000, 0.2)):
                pos[m.partition()] = m.offset()
                self.values[m.key()] = m.value()
                got.append(m)
        return got

    def poll(self, max_records: int = 1000) -> list[Message]:
        """New records since the last call (non-blocking)."""
        msgs = good(self.consumer.consume(max_records, 0))
        for m in msgs:
            self.values[m.key()] = m.value()
        return msgs

    def close(self) -> None:
        self.consumer.close()


class Batcher:
    """Consumes batches from a group consumer and hands them to `handle`, committing what was made durable."""

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer,
        handle: Callable[[list[Message]], None],
        *,
        max_records: int = 2000,
        poll_timeout: float = 0.05,
        commit_interval: float = 0.5,
        idle: Callable[[], None] | None = None,
        flush_before_commit: bool = True,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.handle = handle
        self.max_records = max_records
        self.poll_timeout = poll_timeout
        self.commit_interval = commit_interval
        self.idle = idle
        self.flush_before_commit = flush_before_commit
        self.processed = 0
        self._last_commit = time.monotonic()
        self._uncommitted = False

    def step(self) -> int:
        """One batch: consume, handle, poll delivery reports, maybe commit; returns the records handled."""
        # wait for the first record only, then take what is already fetched: consume(n, timeout) would wait
        # the whole timeout whenever fewer than n records are there, adding it to every record's latency
        first = self.consumer.poll(self.poll_timeout)
        msgs = [] if first is None else good([first, *self.consumer.consume(self.max_records - 1, 0)])
        if msgs:
            self.handle(msgs)
            self.processed += len(msgs)
            self._uncommitted = True
        if self.idle is not None:
            self.idle()
        self.producer.poll(0)
        if self._uncommitted and time.monotonic() - self._last_commit >= self.commit_interval:
            self.commit()
        return len(msgs)

    def commit(self) -> None:
        """Flush what the handled records produced, then commit their offsets: at-least-once, never lost.

        Without flush_before_commit the committed offsets are informative only (a stage that resumes from
        its own snapshots, whose outputs are flushed before each snapshot).
        """
        if self.flush_before_commit:
            self.producer.flush(30)
        try:
            self.consumer.commit(asynchronous=False)
        except Exception as exc:  # noqa: BLE001 - nothing to commit, or a rebalance in progress
            if "NO_OFFSET" not in str(exc):
                log.warning("commit failed: %s", exc)
        self._last_commit = time.monotonic()
        self._uncommitted = False


class IncidentPacer:
    """At most one `incidents` update per incident per interval; openings and status changes go out at once.

    A storm adds alerts to an open incident many times a second, and each value lists all its members:
    without pacing the topic carried the whole incident on every batch. Alerts are paced the same way
    (correlation.update_interval). Held values are flushed before every snapshot, so a crash never
    leaves the topic behind the state that claims it.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.sent: dict[str, tuple[float, str]] = {}  # id -> (when last emitted, status then)
        self.held: dict[str, dict[str, Any]] = {}

    def admit(self, incidents: dict[str, dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """The values to emit now; the others are held until due()."""
        out = []
        for inc_id, inc in incidents.items():
            last = self.sent.get(inc_id)
            if last is None or last[1] != inc["status"] or now - last[0] >= self.interval:
                self.held.pop(inc_id, None)
                self.sent[inc_id] = (now, inc["status"])
                out.append(inc)
            else:
                self.held[inc_id] = inc
        return out

    def due(self, now: float, everything: bool = False) -> list[dict[str, Any]]:
        """Held values whose interval has passed (all of them when `everything`)."""
        out = []
        for inc_id in list(self.held):
            if everything or now - self.sent[inc_id][0] >= self.interval:
                inc = self.held.pop(inc_id)
                self.sent[inc_id] = (now, inc["status"])
                out.append(inc)
        if len(self.sent) > 1000:  # entries older than the interval no longer pace anything
            self.sent = {k: v for k, v in self.sent.items() if k in self.held or now - v[0] < self.interval}
        return out
