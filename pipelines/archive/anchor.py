"""Anchors of the manifest chain outside the archive host: the head published to Kafka and to syslog, and their checks.

A hash chain shows that no entry was altered in place, but not that its last entries were removed
(with their files) nor that it was rewritten and rechained whole. A head (seq, hash) kept elsewhere
does: the chain must still hold an entry with that hash at that seq. The sink publishes the head
at each file to the compacted `archive.heads` topic and once a day to the local syslog (which the
operator forwards to a second system); `vigie archive verify --expect-head/--against-topic` checks them.
The checks are pure functions of a verify report and the heads; the Kafka side is a thin adapter.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vigie.schemas.codec import rfc3339

log = logging.getLogger(__name__)

HEAD_SCHEMA = "archive-head/1"
SYSLOG_SOCKET = "/dev/log"
WARN_INTERVAL = 60.0  # seconds between two warnings about heads that could not be published


@dataclass(frozen=True)
class PublishedHead:
    """One head as published: which archive, by which process, the entry's seq and hash."""

    root: str
    producer: str
    seq: int
    hash: str


def head_record(root: str, producer: str, seq: int, head: str) -> tuple[bytes, bytes]:
    """(key, value) of a head on the topic: the key is unique per archive and seq, so compaction keeps every one."""
    value = {"schema": HEAD_SCHEMA, "root": root, "producer": producer, "seq": seq, "hash": head, "at": rfc3339()}
    return f"{root}#{seq}".encode(), orjson.dumps(value)


def parse_head(value: bytes | None) -> PublishedHead | None:
    """A head from a topic record; None when the record is not one (counted by the caller)."""
    try:
        v = orjson.loads(value or b"")
        return PublishedHead(str(v["root"]), str(v["producer"]), int(v["seq"]), str(v["hash"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def expect_head_finding(hashes: dict[str, int], head: str) -> str | None:
    """Why the chain does not extend the head kept outside (removed tail, rewritten chain); None when it does."""
    head = head.strip().lower()
    if ":" in head:  # "seq:hash" as printed by verify is accepted too
        head = head.rsplit(":", 1)[1]
    if head in hashes:
        return None
    return f"the chain does not extend head {head[:16]}…: no entry has that hash (tail removed or chain rewritten)"


def topic_findings(hashes: dict[str, int], heads: Iterable[PublishedHead]) -> tuple[int, list[str]]:
    """(heads checked, findings): every published head must be an entry of the chain at its seq, each
    producer's heads in increasing seq order (as it published them)."""
    findings: list[str] = []
    last_seq: dict[str, int] = {}
    n = 0
    for h in heads:
        n += 1
        at = hashes.get(h.hash.lower())
        if at is None:
            findings.append(f"published head seq {h.seq} {h.hash[:16]}… is not in the chain")
        elif at != h.seq:
            findings.append(f"published head {h.hash[:16]}… was seq {h.seq}, the chain has it at seq {at}")
        if h.seq < last_seq.get(h.producer, -1):
            findings.append(f"published heads of {h.producer} go back from seq {last_seq[h.producer]} to {h.seq}")
        last_seq[h.producer] = max(h.seq, last_seq.get(h.producer, -1))
    return n, findings


def read_published_heads(settings: Any, topic: str, root: str, timeout: float = 30.0) -> tuple[list[PublishedHead], int]:
    """Every head of this archive on the topic, in publication order; and the count of unreadable records."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from vigie.kafka_client import make_consumer, topic_partitions, watermarks

    consumer = make_consumer(settings, f"vigie-verify-{os.getpid()}")
    heads: list[PublishedHead] = []
    bad = 0
    try:
        for partition in topic_partitions(consumer, topic, timeout):
            low, high = watermarks(consumer, topic, partition, timeout)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
            deadline = time.monotonic() + timeout
            position = low
            while position < high and time.monotonic() < deadline:
                msg = consumer.poll(1.0)
                if msg is None or msg.error():
                    continue
                position = msg.offset() + 1
                h = parse_head(msg.value())
                if h is None:
                    bad += 1
                elif h.root == root:
                    heads.append(h)
            if position < high:
                raise TimeoutError(f"read {topic}[{partition}] up to {position} of {high} in {timeout:.0f} s")
    finally:
        consumer.close()
    return heads, bad


class _SyslogHandler(logging.handlers.SysLogHandler):
    """A syslog handler whose send failures are a warning line, not the traceback logging prints by default."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        log.warning("archive: could not send to syslog at %s: %s", self.address, record.getMessage())


class HeadPublisher:
    """The sink's side: publish each new head to the topic (never blocking the sink) and, once per
    syslog_interval, to the local syslog. Failures are logged (at most once a minute), never raised."""

    def __init__(
        self,
        root: Path,
        topic: str | None,
        producer: Any,
        syslog_interval: float,
        syslog_socket: str = SYSLOG_SOCKET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = str(Path(root).resolve())
        self.topic = topic
        self.producer = producer
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.syslog_interval = syslog_interval
        self.syslog_socket = syslog_socket
        self.clock = clock
        self.published_seq = 0
        self.failures = 0
        self._next_syslog = clock()  # the first head after start-up goes to syslog too
        self._warned_at = -WARN_INTERVAL
        self._syslog: logging.Handler | None = None

    def publish(self, seq: int, head: str) -> None:
        if seq <= self.published_seq:
            if self.producer is not None:
                self.producer.poll(0)  # called every loop turn: serves delivery reports and log lines
            return
        self.published_seq = seq
        if self.topic is not None and self.producer is not None:
            key, value = head_record(self.root, self.id, seq, head)
            try:
                self.producer.produce(self.topic, value, key, on_delivery=self._delivered)
            except BufferError as exc:
                self._failed(f"producer queue full ({exc})")
            self.producer.poll(0)
        now = self.clock()
        if self.syslog_interval > 0 and now >= self._next_syslog:
            self._next_syslog = now + self.syslog_interval
            self._to_syslog(seq, head)

    def poll(self) -> None:
        if self.producer is not None:
            self.producer.poll(0)

    def close(self, timeout: float = 5.0) -> None:
        if self._syslog is not None:
            self._syslog.close()
            self._syslog = None
        if self.producer is not None and self.producer.flush(timeout) > 0:
            self._failed("heads still queued at shutdown")

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed(str(err))

    def _failed(self, why: str) -> None:
        self.failures += 1
        now = self.clock()
        if now - self._warned_at >= WARN_INTERVAL:
            self._warned_at = now
            log.warning("archive: chain head not published to %s (%s); %d failures so far", self.topic, why, self.failures)

    def _to_syslog(self, seq: int, head: str) -> None:
        line = f"vigie-archive: chain head root={self.root} seq={seq} hash={head}"
        try:
            if self._syslog is None:
                self._syslog = _SyslogHandler(address=self.syslog_socket, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
            self._syslog.handle(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))
        except OSError as exc:
            log.warning("archive: chain head not sent to syslog at %s (%s): %s", self.syslog_socket, exc, line)
