"""`vigie alerts` and `vigie incidents`: current state read back from the compacted topics, or followed live."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, TopicPartition

from vigie.kafka_client import KafkaSettings, make_consumer, topic_partitions, watermarks
from vigie.schemas.codec import dumps, loads

CAUGHT_UP = (b"", "caught-up")  # yielded once, in follow mode, when the history has been read


class TopicMissing(RuntimeError):
    """The topic to read does not exist: Vigie has not run with this configuration (or this prefix)."""


def _partitions(consumer: Any, topic: str, start: int) -> list[TopicPartition]:
    md = consumer.list_topics(topic, timeout=10)
    if topic not in md.topics or md.topics[topic].error is not None:
        raise TopicMissing(f"topic {topic} does not exist (is vigie up running with this configuration?)")
    # a topic `vigie up` has just created may list no partitions yet: wait for them rather than show nothing
    return [TopicPartition(topic, p, start) for p in topic_partitions(consumer, topic, timeout=10)]


def records(settings: KafkaSettings, logical: str, follow: bool = False, poll: float = 0.5,
            from_end: bool = False) -> Iterator[tuple[bytes, Any]]:
    """Every (key, value) of a topic from its beginning (or end); stops at the end unless follow.

    A tombstone gives None. No consumer group offsets are committed: reading never disturbs anyone.
    """
    topic = settings.topic(logical)
    consumer = make_consumer(settings, f"vigie-cli-{int(time.time() * 1000)}")
    try:
        parts = _partitions(consumer, topic, OFFSET_END if from_end else OFFSET_BEGINNING)
        ends = {}
        for tp in parts:
            _low, high = watermarks(consumer, topic, tp.partition)
            ends[tp.partition] = high
        consumer.assign(parts)
        pending = set() if from_end else {p for p, end in ends.items() if end > 0}
        announced = False
        while pending or follow:
            if follow and not pending and not announced:
                announced = True
                yield CAUGHT_UP
            for msg in consumer.consume(1000, poll):
                if msg.error() is not None:
                    continue
                value = msg.value()
                yield msg.key() or b"", (loads(value) if value is not None else None)
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    pending.discard(msg.partition())
    finally:
        consumer.close()


def latest(settings: KafkaSettings, logical: str) -> dict[bytes, Any]:
    """The last value per key (what compaction keeps), tombstones removed."""
    state: dict[bytes, Any] = {}
    for key, value in records(settings, logical):
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    return state


_SEVERITY_ORDER = {"critical": 0, "warning": 1, "unknown": 2, "info": 3, "ok": 4}

ALERT_COLUMNS = [("status", 8), ("severity", 8), ("site", 12), ("host", 18), ("component", 18), ("count", 6),
                 ("last_seen", 20), ("summary", 60)]
INCIDENT_COLUMNS = [("status", 8), ("severity", 8), ("site", 12), ("opened_at", 20), ("alerts", 6),
                    ("root_cause", 30), ("id", 24)]


def _cell(value: Any, column: str) -> str:
    if column == "alerts" and isinstance(value, list):
        return str(len(value))
    if column == "root_cause" and isinstance(value, dict):
        return f"{value.get('host', '')} {value.get('component') or ''}".strip()
    if column in ("last_seen", "opened_at") and isinstance(value, str):
        return value[:19].replace("T", " ")
    return "" if value is None else str(value)


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, int]]) -> str:
    """A fixed-width table, long cells cut with an ellipsis."""
    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = ["  ".join(name.upper().ljust(w) for name, w in columns).rstrip()]
    for row in rows:
        lines.append("  ".join(fit(_cell(row.get(name), name), w).ljust(w) for name, w in columns).rstrip())
    return "\n".join(lines)


def sort_key(row: dict[str, Any]) -> tuple:
    return (row.get("status") not in ("firing", "open"), _SEVERITY_ORDER.get(row.get("severity", ""), 9),
            row.get("site") or "", row.get("host") or "", row.get("fingerprint") or row.get("id") or "")


def show(settings: KafkaSettings, logical: str, *, fmt: str = "table", follow: bool = False,
         include_resolved: bool = False, out: TextIO = sys.stdout,
         select: Callable[[dict[str, Any]], bool] | None = None) -> int:
    """Print current state (table or one JSON value per line), then, with follow, every change as it comes."""
    columns = ALERT_COLUMNS if logical == "alerts" else INCIDENT_COLUMNS

    def wanted(v: dict[str, Any]) -> bool:
        if select is not None and not select(v):
            return False
        return include_resolved or v.get("status") not in ("resolved",)

    def emit(rows: list[dict[str, Any]], header: bool) -> None:
        if fmt == "json":
            for row in rows:
                out.write(dumps(row).decode() + "\n")
        else:
            text = format_table(rows, columns)
            out.write((text if header else text.split("\n", 1)[1]) + "\n")
        out.flush()

    state: dict[bytes, Any] = {}
    live = False
    for item in records(settings, logical, follow=follow):
        if item is CAUGHT_UP:
            emit(sorted((v for v in state.values() if wanted(v)), key=sort_key), header=True)
            live = True
            continue
        key, value = item
        if live:
            if value is not None and (select is None or select(value)):
                emit([value], header=False)
        elif value is None:
            state.pop(key, None)
        else:
            state[key] = value
    if not follow:
        emit(sorted((v for v in state.values() if wanted(v)), key=sort_key), header=True)
    return 0
