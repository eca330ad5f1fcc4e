"""The archive sink: consumes the raw topics as a consumer group and writes each partition's messages to Parquet exactly once.

Invariants that make crashes harmless:

* a file holds a contiguous offset range of one partition and one UTC hour of received time;
  a partition's files are written in offset order by a single writer thread;
* a file's intent (path, SHA-256, offsets) is appended to the manifest before the file becomes
  visible complete (writer.write_file), then it gets its manifest entry, then its offsets are committed;
* a process writes a partition's files only while it holds the partition's lock (ownership.py),
  so several sink processes in one group never write the same offsets, even when one of them
  stalls past a rebalance;
* on assignment, once it holds the lock, the sink cleans the partition's crash leftovers,
  registers its unlisted files that match an intent (any other file is quarantined) and seeks it to
  one past the last offset in the manifest (or committed, whichever is highest), so a replay never
  duplicates a row and nothing after the last visible file is skipped. A partition whose previous owner still holds
  the lock stays paused until the lock is free.

Over 600 lines because these invariants hold only together: the consumer loop, the rebalance handlers,
the partition locks and the commit order are one protocol, kept in one reading.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, KafkaException, TopicPartition

from vigie.codecs.timestamps import ZoneResolver
from vigie.kafka_client import KafkaSettings, consumer_config, limited_logging
from vigie.kafka_columns import ColumnBatch, open_columnar_consumer
from vigie.pipelines.archive.anchor import HeadPublisher
from vigie.pipelines.archive.device_time import clock_skewed
from vigie.pipelines.archive.manifest import Manifest, file_entry, load_state, reconcile
from vigie.pipelines.archive.ownership import PartitionLocks, remove_partition_temporaries
from vigie.pipelines.archive.vectorized import enrich, enrich_rowwise  # noqa: F401 - enrich_rowwise: the reference
from vigie.pipelines.archive.write_queue import WriteQueue
from vigie.pipelines.archive.writer import (
    COMPRESSION_LEVEL,
    ROW_GROUP_ROWS,
    FileName,
    hour_start_from_us,
    write_file,
)
from vigie.schemas.archive import ARCHIVE_SCHEMA
from vigie.stage_metrics import ArchiveMetrics
from vigie.topics import ARCHIVE_HEADS, RAW_SYSLOG

log = logging.getLogger(__name__)

HOUR_US = 3_600_000_000
# While the sink runs, the collector's first generation is collected after this many allocations
# instead of 700: with the confluent-kafka fallback each consume() call creates tens of thousands of
# tracked Message objects (and a header list each), and the default made the collector take a quarter
# of the consumer thread. (The columnar reader creates a handful of objects per batch.)
GC_GEN0_THRESHOLD = 200_000
_TS = pa.timestamp("us", tz="UTC")
DEFAULT_MAX_SKEW = 300.0  # [archive] max_clock_skew's default
CLAIM_INTERVAL = 0.5  # seconds between attempts to take the lock of a partition another process still holds


@dataclass
class SinkConfig:
    """How the sink batches: files close at the hour change, at max_rows/max_bytes, or when idle."""

    root: Path
    topics: tuple[str, ...] = (RAW_SYSLOG,)  # logical names; the settings add the prefix
    group_id: str = "vigie-archive"
    max_rows: int = 500_000
    max_bytes: int = 256 * 1024 * 1024
    idle_timeout: float = 60.0  # a partition that received nothing for this long is flushed
    max_age: float | None = None  # flush a file open for this long even if the partition is busy
    batch_size: int = 50_000  # messages per consume() call (20k: ~15 % slower on the bench mix)
    max_pending: int = 4  # consumed batches being enriched while the next one is read
    enrich_threads: int = (
        2  # batches enriched at once: Arrow compute releases the GIL, so they share the cores
    )
    writer_threads: int = 2  # files written at once (never two of one partition: offset order)
    poll_timeout: float = 0.2
    row_group_rows: int = ROW_GROUP_ROWS
    compression_level: int = COMPRESSION_LEVEL
    consumer_overrides: dict[str, Any] = field(default_factory=dict)
    native_reader: bool | None = None  # the C columnar reader: None when built, False never, True required
    publish_heads: bool = True  # the manifest chain head to the archive.heads topic at each file (anchor.py)
    heads_syslog_interval: float = 86400.0  # and to the local syslog this often (0: never)
    zones: ZoneResolver | None = None  # devices' zones for stamps without one (vigie.pipelines.zones.ZoneMap); None: UTC
    max_clock_skew: float = DEFAULT_MAX_SKEW  # seconds: further from received_at, a row is clock_skewed


# (raws, reference for the year, received_at per row, sender per row) -> the header and connection columns
Enricher = Callable[[pa.BinaryArray, datetime, pa.Array, pa.Array], dict[str, pa.Array]]


def _received_at(header: pa.Array, kafka_ms: pa.Array) -> pa.Array:
    """received_at from the header (RFC 3339), falling back to the Kafka timestamp when absent or bad."""
    try:
        parsed = header.cast(pa.string()).cast(_TS)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pa.array([_parse_one(v) for v in header.to_pylist()], _TS)
    if parsed.null_count == 0:
        return parsed
    fallback = pc.multiply(kafka_ms, 1000).cast(_TS)
    now = pa.scalar(datetime.now(UTC), _TS)  # neither time: when the sink read it, never a null hour
    return pc.coalesce(parsed, fallback, now)


def _parse_one(value: bytes | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.decode().replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, UnicodeDecodeError):
        return None


def _strings(values: pa.Array) -> pa.Array:
    """Header bytes as strings, vectorised; invalid UTF-8 is replaced rather than failing the batch."""
    try:
        return values.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array(
            [None if v is None else v.decode("utf-8", "replace") for v in values.to_pylist()], pa.string()
        )


def _senders(key: pa.Array, peer: pa.Array) -> pa.Array:
    """The key (the intake's sender address) when set, else the address of the first peer header
    ("ip:port" or "[v6]:port")."""
    keys = _strings(key)
    has_key = pc.fill_null(pc.greater(pc.binary_length(key), 0), False)
    if pc.all(has_key).as_py():
        return keys
    addr = pc.utf8_trim(pc.replace_substring_regex(_strings(peer), r":[^:]*$", "", max_replacements=1), "[]")
    return pc.if_else(has_key, keys, addr)


# The headers the sink reads, as columns: the last received_at and transport, the first peer.
HEADERS = (("received_at", "last"), ("transport", "last"), ("peer", "first"))


@dataclass
class _Group:
    """Consecutive rows of one partition in one consume() batch, as a complete archive batch (offset order)."""

    key: tuple[str, int]
    batch: pa.RecordBatch
    hours: pa.Array  # hours since the epoch, per row


def _build(raw: ColumnBatch, enricher: Enricher, max_skew: float = DEFAULT_MAX_SKEW) -> list[_Group]:
    """Arrow columns and enrichment of a whole consume() batch, then split by partition.

    Runs off the consumer thread: nearly all of it is Arrow compute, which releases the GIL.
    """
    n = len(raw)
    received = _received_at(raw.headers["received_at"], raw.timestamp_ms)
    ref = datetime.fromtimestamp(received[0].value / 1e6, UTC)
    values = raw.value if raw.value.null_count == 0 else pc.fill_null(raw.value, b"")
    cols: dict[str, pa.Array] = {
        "received_at": received,
        "sender": _senders(raw.key, raw.headers["peer"]),
        "transport": _strings(raw.headers["transport"]),
        "raw": values,
        "topic": raw.topic,
        "partition": raw.partition,
        "offset": raw.offset,
    }
    cols.update(enricher(values, ref, received, cols["sender"]))
    cols["clock_skewed"] = clock_skewed(cols["timestamp"], received, max_skew)
    assert all(len(c) == n for c in cols.values())
    batch = pa.RecordBatch.from_arrays([cols[f.name] for f in ARCHIVE_SCHEMA], schema=ARCHIVE_SCHEMA)
    hours = pc.divide(received.cast(pa.int64()), HOUR_US)
    runs = _runs(raw.topic, raw.partition)
    if runs is not None:  # librdkafka hands over whole fetched message sets: a few long runs
        return [_Group(key, batch.slice(lo, hi - lo), hours.slice(lo, hi - lo)) for key, lo, hi in runs]
    pairs = pa.table({"t": raw.topic, "p": raw.partition}).group_by(["t", "p"]).aggregate([])
    keys = sorted(zip(pairs.column("t").to_pylist(), pairs.column("p").to_pylist(), strict=True))
    groups = []
    topic_col, part_col = cols["topic"], cols["partition"]
    for topic, partition in keys:
        mask = pc.equal(part_col, partition)
        if len({t for t, _ in keys}) > 1:
            mask = pc.and_(mask, pc.equal(topic_col, topic))
        idx = pc.indices_nonzero(mask)
        groups.append(_Group((topic, partition), batch.take(idx), hours.take(idx)))
    return groups


MAX_RUNS = 64  # more runs of one partition in a batch than this: one gather per partition instead of slices


def _runs(topic: pa.Array, partition: pa.Array) -> list[tuple[tuple[str, int], int, int]] | None:
    """(partition, start, end) of each run of consecutive messages of one partition, in batch order;
    None when there are more than MAX_RUNS (slices would then cost more than a gather)."""
    n = len(partition)
    if n == 0:
        return []
    change = pc.not_equal(partition.slice(1), partition.slice(0, n - 1))
    if topic.null_count or pc.count_distinct(topic).as_py() > 1:
        change = pc.or_(change, pc.not_equal(topic.slice(1), topic.slice(0, n - 1)))
    cuts = pc.indices_nonzero(change)
    if len(cuts) >= MAX_RUNS:
        return None
    bounds = [0, *(c + 1 for c in cuts.to_pylist()), n]
    return [
        ((topic[lo].as_py(), partition[lo].as_py()), lo, hi)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
    ]


@dataclass
class _Buffer:
    """An open file: rows of one partition and one hour, contiguous in offsets."""

    topic: str
    partition: int
    hour: int  # hours since the epoch
    first: int
    last: int = -1
    batches: list[pa.RecordBatch] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0
    opened: float = field(default_factory=time.monotonic)
    touched: float = field(default_factory=time.monotonic)


class _WriterThread(threading.Thread):
    """Writes sealed buffers from the sink's WriteQueue, which never hands out two files of one
    partition at once (so each partition's files appear in offset order), then lets the main loop commit."""

    def __init__(self, sink: ArchiveSink, index: int = 0) -> None:
        super().__init__(name=f"archive-writer-{index}", daemon=True)
        self.sink = sink
        self.error: BaseException | None = None

    def run(self) -> None:
        jobs = self.sink._jobs
        while (job := jobs.get()) is not None:
            key, buf = job
            try:
                if not any(w.error is not None for w in self.sink._writers):
                    self.sink._write(buf)
            except BaseException as exc:  # noqa: BLE001 - reported to the main loop, which stops
                log.exception("archive writer failed")
                self.error = exc
            finally:
                jobs.done(key)


class ArchiveSink:
    """Kafka → Parquet archive; run(stop_event) until stopped, then close(). One instance per process."""

    def __init__(self, settings: KafkaSettings, config: SinkConfig, *, enricher: Enricher | None = None) -> None:
        self.settings = settings
        self.config = config
        self.root = Path(config.root)
        self.enricher = enricher or partial(enrich, zones=config.zones)
        self.topics = [settings.topic(t) for t in config.topics]
        self._buffers: dict[tuple[str, int], _Buffer] = {}
        self._floor: dict[tuple[str, int], int] = {}  # next offset not yet buffered or archived
        self._archived: dict[tuple[str, int], int] = {}  # next offset not yet archived (on disk)
        self._uncommitted: dict[tuple[str, int], int] = {}  # archived but not yet committed
        self._lock = threading.Lock()
        self._consumer: Any = None
        self.joined = threading.Event()  # set when its consumer has joined its group (the readiness `vigie up` waits for)
        self._writers: list[_WriterThread] = []
        self._jobs: WriteQueue[_Buffer] = WriteQueue(4 * max(1, config.writer_threads))
        self._enrich_pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[list[_Group]]] = deque()  # consumed batches being enriched, in order
        self._manifest: Manifest | None = None
        self._heads: HeadPublisher | None = None
        self._locks = PartitionLocks(self.root)
        self._waiting: dict[tuple[str, int], float] = {}  # assigned, lock held elsewhere: since when
        self._warned: dict[tuple[str, int], int] = {}  # minutes of waiting already reported, per partition
        self._next_claim = 0.0
        self.rows_consumed = 0
        self.rows_written = 0
        self.first_consumed_at: float | None = None  # wall clock (time.time()) of the first message taken
        self.last_written_at: float | None = None  # and of the last file made visible
        self.files_written = 0
        self._metrics = ArchiveMetrics()  # fed from these counts once per loop turn, never per row

    # ---------------------------------------------------------------- start-up

    def recover(self) -> None:
        """Open the archive; each partition's crash leftovers are dealt with when its lock is taken (_take_over)."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._manifest = Manifest(self.root)

    def _take_over(self, keys: set[tuple[str, int]]) -> None:
        """For partitions whose locks were just taken: clean, register unlisted files, learn where each resumes.

        Runs at every acquisition, not once at start: another process may have written the partition since.
        """
        if not keys:
            return
        assert self._manifest is not None
        for rel in remove_partition_temporaries(self.root, keys):
            log.info("removed unfinished temporary file %s", rel)
        reconcile(self.root, self._manifest, keys)  # the sink's own unlisted files adopted, foreign ones quarantined
        # From the manifest only: a file name is not evidence (a forged one could claim any offsets).
        nxt = {k: o for k, o in load_state(self.root).next_offsets.items() if k in keys}
        with self._lock:
            for key in keys:
                if key in nxt:
                    self._archived[key] = nxt[key]
                else:
                    self._archived.pop(key, None)

    def _start_offsets(self, consumer: Any, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Where each partition resumes: one past its last archived offset, or the committed one if higher (-1: neither)."""
        tps = [TopicPartition(t, p) for t, p in keys]
        try:
            committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=30)}
        except KafkaException as exc:
            log.warning("could not read committed offsets (%s); resuming from the files", exc)
            committed = {}
        out = {}
        with self._lock:
            for key in keys:
                archived = self._archived.get(key, -1)
                c = committed.get(key, OFFSET_INVALID)
                out[key] = max(archived, c if c >= 0 else -1)
        return out

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Take each partition's lock and seek it to where it resumes; pause those another process still holds."""
        self._apply_all()
        keys = [(tp.topic, tp.partition) for tp in partitions]
        got = {k for k in keys if self._locks.try_acquire(k)}
        self._take_over(got)
        starts = self._start_offsets(consumer, [k for k in keys if k in got])
        now = time.monotonic()
        for tp, key in zip(partitions, keys, strict=True):
            if key not in got:
                self._waiting[key] = now
                self._warned.pop(key, None)
                self._floor.pop(key, None)
                log.info("archive: %s[%d] waits for its previous owner to release it", *key)
                continue
            start = starts[key]
            if start >= 0:
                tp.offset = start
                self._floor[key] = start
            else:
                self._floor.pop(key, None)
            log.info("archive: %s[%d] starts at %s", *key, start if start >= 0 else "committed/earliest")
        consumer.assign(partitions)
        waiting = [tp for tp, key in zip(partitions, keys, strict=True) if key not in got]
        if waiting:
            consumer.pause(waiting)
        self.joined.set()

    def _claim_waiting(self, now: float) -> None:
        """Retry the locks of paused partitions; seek and resume those that are free at last."""
        if not self._waiting or now < self._next_claim:
            return
        self._next_claim = now + CLAIM_INTERVAL
        got = {k for k in self._waiting if self._locks.try_acquire(k)}
        for key, since in self._waiting.items():
            if key not in got and now - since >= 60 * (self._warned.get(key, 0) + 1):
                self._warned[key] = int((now - since) // 60)  # once a minute, however often we retry
                log.warning("archive: %s[%d] still locked by another process after %.0f s", *key, now - since)
        if not got:
            return
        self._apply_all()  # rows fetched before the pause are dropped (_add_group): the seek re-reads them
        self._take_over(got)
        starts = self._start_offsets(self._consumer, sorted(got))
        tps = []
        for key in sorted(got):
            del self._waiting[key]
            self._warned.pop(key, None)
            start = starts[key]
            if start >= 0:
                self._floor[key] = start
            else:
                self._floor.pop(key, None)
            tp = TopicPartition(key[0], key[1], start if start >= 0 else OFFSET_BEGINNING)
            self._consumer.seek(tp)
            tps.append(tp)
            log.info("archive: %s[%d] released by its previous owner, starts at %d", *key, start)
        self._consumer.resume(tps)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Write what is buffered for partitions leaving us, so the next owner starts after it; then unlock them."""
        self._apply_all()
        keys = {(tp.topic, tp.partition) for tp in partitions}
        for key in [k for k in self._buffers if k in keys]:
            self._seal(key)
        self._drain()
        self._commit_sync(keys)
        self._release(keys)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Partitions taken away without a revoke: drop their buffers (another member re-reads them), unlock once written."""
        self._apply_all()
        keys = {(tp.topic, tp.partition) for tp in partitions}
        with self._lock:
            for key in keys:
                self._buffers.pop(key, None)
                self._floor.pop(key, None)
        self._drain()  # files already handed to the writer are finished under the lock, then the next owner sees them
        self._release(keys)

    def _release(self, keys: set[tuple[str, int]]) -> None:
        for key in keys:
            self._waiting.pop(key, None)
            self._warned.pop(key, None)
            self._locks.release(key)
            with self._lock:
                self._archived.pop(key, None)
                self._uncommitted.pop(key, None)

    # ---------------------------------------------------------------- main loop

    def run(self, stop_event: threading.Event) -> None:
        """Consume, buffer, write; returns after a final flush once stop_event is set."""
        if self._manifest is None:
            self.recover()
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_GEN0_THRESHOLD), *thresholds[1:])
        try:
            self._run(stop_event)
        finally:
            gc.set_threshold(*thresholds)
            self._metrics.publish(self)

    def _run(self, stop_event: threading.Event) -> None:
        cfg = self.config
        overrides = {
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 8 * 1024 * 1024,
            "queued.max.messages.kbytes": 256 * 1024,
            "max.poll.interval.ms": 600_000,
            **cfg.consumer_overrides,
        }
        self._consumer = open_columnar_consumer(
            consumer_config(self.settings, cfg.group_id, **overrides), HEADERS, native=cfg.native_reader
        )
        log.info(
            "archive: reading with the %s consumer",
            "columnar C" if type(self._consumer).__name__ == "ColumnarConsumer" else "confluent-kafka",
        )
        self._heads = self._head_publisher()
        self._jobs = WriteQueue(4 * max(1, cfg.writer_threads))
        self._writers = [_WriterThread(self, i) for i in range(max(1, cfg.writer_threads))]
        for w in self._writers:
            w.start()
        self._enrich_pool = ThreadPoolExecutor(
            max_workers=cfg.enrich_threads, thread_name_prefix="archive-enrich"
        )
        self._consumer.subscribe(
            self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        try:
            while not stop_event.is_set():
                batch = self._consumer.consume_columns(cfg.batch_size, cfg.poll_timeout)
                if batch is not None:
                    self._ingest(batch)
                self._apply_ready(cfg.max_pending)
                self._claim_waiting(time.monotonic())
                self._flush_due(time.monotonic())
                self._check_writer()
                self._commit_written()
                self._publish_head()
                self._metrics.publish(self)
            self._apply_all()
            for key in list(self._buffers):
                self._seal(key)
            self._drain()
            self._commit_sync(None)
            self._publish_head()
        finally:
            self.close()

    def _head_publisher(self) -> HeadPublisher | None:
        cfg = self.config
        if not cfg.publish_heads and cfg.heads_syslog_interval <= 0:
            return None
        producer = None
        if cfg.publish_heads:
            from confluent_kafka import Producer

            producer = Producer(limited_logging({**self.settings.librdkafka(), "linger.ms": 50,
                                                 "message.timeout.ms": 600_000}))
        topic = self.settings.topic(ARCHIVE_HEADS) if cfg.publish_heads else None
        return HeadPublisher(self.root, topic, producer, cfg.heads_syslog_interval)

    def _publish_head(self) -> None:
        """The manifest head after the files written so far, once per new head (from the main loop: in order)."""
        if self._heads is not None and self._manifest is not None:
            self._heads.publish(*self._manifest.head())

    def close(self) -> None:
        """Stop the writer and leave the group; buffered rows not yet written are re-read by the next run."""
        if self._enrich_pool is not None:
            self._enrich_pool.shutdown(wait=True, cancel_futures=True)
            self._enrich_pool = None
            self._pending.clear()
        self._jobs.close()  # the writers finish what is queued, then stop
        for w in self._writers:
            w.join(timeout=60)
        self._writers = []
        if self._consumer is not None:
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError):
                pass
            self._consumer = None
        if self._heads is not None:
            self._publish_head()  # the last files' head, then what is still queued goes out
            self._heads.close()
            self._heads = None
        if self._manifest is not None:
            self._manifest.close()
            self._manifest = None
        self._locks.release_all()  # after the writer: its last files were written under the locks
        self._waiting.clear()
        self._warned.clear()

    def _check_writer(self) -> None:
        for w in self._writers:
            if w.error is not None:
                raise RuntimeError("archive writer failed") from w.error

    def _drain(self) -> None:
        """Wait until every sealed buffer is on disk."""
        while not self._jobs.join(timeout=1.0):
            self._check_writer()
        self._check_writer()

    def _commit_written(self) -> None:
        """Commit (asynchronously) the offsets of files the writer thread has made durable."""
        if not self._uncommitted:
            return
        with self._lock:
            offsets = [TopicPartition(t, p, o) for (t, p), o in self._uncommitted.items()]
            self._uncommitted.clear()
        try:
            self._consumer.commit(offsets=offsets, asynchronous=True)
        except KafkaException as exc:
            log.debug("async commit failed (the files remain the truth): %s", exc)

    def _commit_sync(self, keys: set[tuple[str, int]] | None) -> None:
        with self._lock:
            offsets = [
                TopicPartition(t, p, o)
                for (t, p), o in self._archived.items()
                if keys is None or (t, p) in keys
            ]
        if not offsets or self._consumer is None:
            return
        with self._lock:
            for tp in offsets:
                self._uncommitted.pop((tp.topic, tp.partition), None)
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit failed (the files remain the truth): %s", exc)

    # ---------------------------------------------------------------- batching

    def _ingest(self, batch: ColumnBatch) -> None:
        """Hand one consume() batch to the enrich thread.

        The batches are applied (_apply_ready) in the order they were consumed, on this thread.
        """
        if self.first_consumed_at is None:
            self.first_consumed_at = time.time()
        self.rows_consumed += len(batch)
        assert self._enrich_pool is not None
        self._pending.append(self._enrich_pool.submit(_build, batch, self.enricher, self.config.max_clock_skew))

    def _apply_ready(self, wait_for: int) -> None:
        """Apply enriched batches in consumption order: all that are done, and the oldest until at most wait_for remain."""
        while self._pending and (len(self._pending) > wait_for or self._pending[0].done()):
            groups = self._pending.popleft().result()
            now = time.monotonic()
            for g in groups:
                self._add_group(g, now)

    def _apply_all(self) -> None:
        """Apply every batch consumed so far (before a rebalance changes where partitions resume)."""
        self._apply_ready(0)

    def _add_group(self, g: _Group, now: float) -> None:
        key, batch, hours = g.key, g.batch, g.hours
        if not self._locks.held(key) or key in self._waiting:
            return  # fetched before a pause, or after losing the partition: its owner (or our seek) re-reads them
        offsets = batch.column(ARCHIVE_SCHEMA.get_field_index("offset"))
        floor = self._floor.get(key, -1)
        if offsets[0].as_py() < floor:  # already archived or buffered: a replay after a seek or rebalance
            skip = pc.sum(pc.less(offsets, floor)).as_py()
            if skip == len(offsets):
                return
            batch, hours, offsets = batch.slice(skip), hours.slice(skip), offsets.slice(skip)
        n = len(offsets)
        first_hour, last_hour = hours[0].as_py(), hours[-1].as_py()
        if first_hour == last_hour and pc.all(pc.equal(hours, first_hour)).as_py():
            bounds = [0, n]
        else:
            changed = pc.not_equal(hours.slice(1), hours.slice(0, n - 1))
            cuts = pc.indices_nonzero(changed).to_pylist()
            bounds = [0, *(c + 1 for c in cuts), n]
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            first, last = offsets[lo].as_py(), offsets[hi - 1].as_py()
            self._append(key, hours[lo].as_py(), batch.slice(lo, hi - lo), first, last, now)
        self._floor[key] = offsets[n - 1].as_py() + 1

    def _append(
        self, key: tuple[str, int], hour: int, batch: pa.RecordBatch, first: int, last: int, now: float
    ) -> None:
        buf = self._buffers.get(key)
        if buf is not None and buf.hour != hour:
            self._seal(key)
            buf = None
        if buf is None:
            buf = self._buffers[key] = _Buffer(key[0], key[1], hour, first, opened=now)
        buf.batches.append(batch)
        buf.rows += batch.num_rows
        buf.nbytes += batch.nbytes
        buf.last = last
        buf.touched = now
        if buf.rows >= self.config.max_rows or buf.nbytes >= self.config.max_bytes:
            self._seal(key)

    def _flush_due(self, now: float) -> None:
        cfg = self.config
        for key, buf in list(self._buffers.items()):
            if now - buf.touched >= cfg.idle_timeout or (
                cfg.max_age is not None and now - buf.opened >= cfg.max_age
            ):
                self._seal(key)

    def _seal(self, key: tuple[str, int]) -> None:
        """Hand the partition's open buffer to the writer thread (blocks when the writer is behind)."""
        buf = self._buffers.pop(key, None)
        if buf is None or buf.rows == 0:
            return
        assert self._writers
        while True:
            self._check_writer()
            if self._jobs.put(key, buf, timeout=1.0):
                return

    # ---------------------------------------------------------------- writer thread side

    def _write(self, buf: _Buffer) -> None:
        """File, manifest entry, then offset commit: in that order, so a crash never loses a row."""
        if not self._locks.held((buf.topic, buf.partition)):
            raise RuntimeError(f"archive: refusing to write {buf.topic}[{buf.partition}] without its lock")
        table = pa.Table.from_batches(buf.batches, schema=ARCHIVE_SCHEMA)
        assert self._manifest is not None
        name = FileName(buf.topic, buf.partition, buf.first, buf.last)
        written = write_file(
            self.root,
            table,
            name,
            hour_start_from_us(buf.hour * HOUR_US),
            row_group_rows=self.config.row_group_rows,
            compression_level=self.config.compression_level,
            before_rename=self._manifest.intent_recorder(name),
        )
        self._manifest.append(file_entry(written))
        key = (buf.topic, buf.partition)
        with self._lock:  # several writer threads
            if buf.last + 1 > self._archived.get(key, -1):
                self._archived[key] = buf.last + 1
                self._uncommitted[key] = buf.last + 1
            self.rows_written += written.rows
            self.last_written_at = time.time()
            self.files_written += 1
        # The consumer is not used from two threads at once: the main loop commits (see _commit_written).
