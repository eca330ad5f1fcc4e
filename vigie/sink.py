"""The record sink that producers write to: one interface over the Kafka producer and an in-memory double."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vigie.schemas.codec import dumps, rfc3339
from vigie.topics import DEADLETTER

Headers = Sequence[tuple[str, bytes]]


class BufferFull(Exception):
    """Raised by produce() when the in-memory budget for undelivered records is spent (back-pressure)."""


class RecordSink(Protocol):
    """Where intake writes records; `topic` is the logical name (e.g. "raw.syslog"), the sink adds the prefix."""

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()) -> None:
        """Queue one record for delivery; raises BufferFull when over budget."""
        ...

    def has_room(self) -> bool:
        """True while the undelivered-record budget allows more records."""
        ...

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for delivery; returns how many records remain undelivered."""
        ...


@dataclass
class Record:
    """One record as a sink received it."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclass
class MemorySink:
    """A RecordSink that keeps records in a list: for unit tests and `vigie parse`-style dry runs."""

    capacity: int | None = None
    records: list[Record] = field(default_factory=list)

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()) -> None:
        if not self.has_room():
            raise BufferFull(f"memory sink holds {len(self.records)} records")
        self.records.append(Record(topic, bytes(value), key, list(headers)))

    def has_room(self) -> bool:
        return self.capacity is None or len(self.records) < self.capacity

    def flush(self, timeout: float = 10.0) -> int:
        return 0

    def on(self, topic: str) -> list[Record]:
        """The records written to one logical topic."""
        return [r for r in self.records if r.topic == topic]


# The most raw bytes a dead-letter value carries whole. Base64 makes 512 KiB into 699,052 bytes; with the
# error (1,000 characters), the origin and the record overhead the value stays well under librdkafka's
# message.max.bytes (1,000,000 by default; Vigie's producer keeps it) and the broker's max.message.bytes
# (1,048,588 by default; the deadletter topic does not raise it). An 800,000-byte syslog frame, dead-lettered
# whole, made a 1,066,668-byte base64 field and was refused with MSG_SIZE_TOO_LARGE.
DEADLETTER_MAX_RAW = 512 * 1024


def deadletter_value(
    stage: str,
    error: str,
    raw: bytes,
    origin: dict | None = None,
    *,
    max_raw: int = DEADLETTER_MAX_RAW,
    raw_size: int | None = None,
    raw_sha256: str | None = None,
) -> bytes:
    """The dead-letter contract (deadletter/1): stage, error, the raw bytes in base64, and where they came from.

    Input over max_raw bytes keeps its first max_raw bytes in `raw`, with `raw_size` (the whole input's
    length) and `raw_sha256` (its SHA-256, hex), so that the record always fits a Kafka message and still
    identifies what was received. A caller that only holds the first bytes of a longer input (a stream frame
    beyond the framer's hard cap) passes the whole input's raw_size and raw_sha256.
    """
    if max_raw < 1:
        raise ValueError(f"dead-letter max_raw: expected >= 1 byte, got {max_raw}")
    size = len(raw) if raw_size is None else raw_size
    value = {
        "schema": "deadletter/1",
        "stage": stage,
        "error": error[:1000],
        "raw": base64.b64encode(raw[:max_raw]).decode("ascii"),
        "origin": origin or {},
        "at": rfc3339(),
    }
    if len(raw) > max_raw or size > len(raw):
        value["raw_size"] = size
        if raw_sha256 is None and size == len(raw):
            raw_sha256 = hashlib.sha256(raw).hexdigest()
        if raw_sha256 is not None:
            value["raw_sha256"] = raw_sha256
    return dumps(value)


def dead_letter(sink: RecordSink, source: str, stage: str, error: str, raw: bytes, origin: dict | None = None) -> None:
    """Write undecodable input to the dead-letter topic, keyed by its source (e.g. the sender IP)."""
    sink.produce(DEADLETTER, deadletter_value(stage, error, raw, origin), key=source.encode())
