"""`vigie replay --from/--to`'s Kafka side: the raw topics' records of a time range, and the live outputs.

Reads only: one consumer per topic, assigned partitions by hand (offsets found with `offsets_for_times`), never
subscribed and never committing, so no consumer group is created on the broker and nothing is produced. Each
partition is read up to its end offset as of the start, so a replay of a range that includes "now" ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import OFFSET_END, Consumer, Message, TopicPartition

from vigie.kafka_client import KafkaSettings, make_consumer, topic_partitions, watermarks
from vigie.pipelines import replay
from vigie.pipelines.runtime import good

# A record is stamped received_at by its intake before it is produced, so its Kafka timestamp is later; this
# much earlier is where reading starts, for a record received before `start` but produced after it (a busy
# intake's queue). Records are then kept or not by received_at.
PRODUCE_SLACK = 300.0


def _consumer(settings: KafkaSettings) -> Consumer:
    # librdkafka wants a group id; offsets are assigned by hand and never committed, so the group never exists
    return make_consumer(settings, f"{settings.topic_prefix}replay-{uuid.uuid4().hex[:8]}",
                         **{"receive.message.max.bytes": 64 * 1024 * 1024, "fetch.max.bytes": 48 * 1024 * 1024})


def _ranges(consumer: Consumer, topic: str, start_ms: int, timeout: float) -> dict[int, tuple[int, int]]:
    """Per partition: (first offset at or after start_ms, end offset now); partitions with nothing to read left out."""
    parts = topic_partitions(consumer, topic, timeout)
    found = consumer.offsets_for_times([TopicPartition(topic, p, start_ms) for p in parts], timeout=timeout)
    ranges = {}
    for tp in found:
        _low, high = watermarks(consumer, topic, tp.partition, timeout)
        first = high if tp.offset in (OFFSET_END, -1) else tp.offset
        if first < high:
            ranges[tp.partition] = (first, high)
    return ranges


def read_topic(settings: KafkaSettings, logical: str, start_ms: int, timeout: float = 60.0) -> dict[int, list[Message]]:
    """A topic's records from start_ms to its end as of now, per partition in offset order."""
    topic = settings.topic(logical)
    consumer = _consumer(settings)
    try:
        ranges = _ranges(consumer, topic, start_ms, timeout)
        got: dict[int, list[Message]] = {p: [] for p in ranges}
        if not ranges:
            return got
        consumer.assign([TopicPartition(topic, p, first) for p, (first, _end) in ranges.items()])
        pending = {p for p, (first, end) in ranges.items() if first < end}
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic} to its end offsets took more than {timeout} s")
            msgs = good(consumer.consume(5000, 0.2))
            for m in msgs:
                p = m.partition()
                if p in pending and m.offset() < ranges[p][1]:
                    got[p].append(m)
                    if m.offset() + 1 >= ranges[p][1]:
                        pending.discard(p)
            if not msgs:  # the end offset can be no record's (compacted away, a marker): past it is the end too
                positions = consumer.position([TopicPartition(topic, p) for p in pending])
                pending -= {tp.partition for tp in positions if tp.offset >= ranges[tp.partition][1]}
        return got
    finally:
        consumer.close()


def raw_records(settings: KafkaSettings, start: float, end: float, timeout: float = 60.0) -> Iterator[replay.RawRecord]:
    """The raw records received in [start, end), every partition's in its order, merged by received_at; the whole
    (compacted) control table, its commands of before `start` applied at `start`."""
    streams = []
    for logical in (*replay.RAW, replay.CONTROL):
        since = 0 if logical == replay.CONTROL else int((start - PRODUCE_SLACK) * 1000)
        for msgs in read_topic(settings, logical, max(0, since), timeout).values():
            streams.append([replay.kafka_record(logical, m.value(), m.key(), m.headers(), m.timestamp()[1],
                                                m.partition(), m.offset()) for m in msgs])
    return replay.in_range(replay.merge_received(streams), start, end)


def live_outputs(settings: KafkaSettings, start: float, end: float, timeout: float = 60.0) -> dict[str, list[tuple[str, Any]]]:
    """What the live worker produced on alerts, incidents and notifications with a Kafka timestamp in [start, end):
    per kind, (key, value or None for a tombstone) in each partition's order."""
    from vigie import topics

    out: dict[str, list[tuple[str, Any]]] = {}
    for kind, logical in (("alert", topics.ALERTS), ("incident", topics.INCIDENTS), ("notification", topics.NOTIFICATIONS)):
        values = out[kind] = []
        for msgs in read_topic(settings, logical, int(start * 1000), timeout).values():
            for m in msgs:
                if m.timestamp()[1] < end * 1000:
                    values.append((m.key().decode(errors="replace") if m.key() else "",
                                   orjson.loads(m.value()) if m.value() else None))
    return out
