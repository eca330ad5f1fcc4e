"""The columnar C reader against the real broker: the same columns as the confluent-kafka fallback, and the
group operations the archive sink relies on (rebalance handler, pause, seek, resume, commit, committed)."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from confluent_kafka import Producer, TopicPartition

from vigie import kafka_columns
from vigie.kafka_client import KafkaSettings, consumer_config
from vigie.topics import RAW_SYSLOG

pytestmark = pytest.mark.integration
HEADERS = (("received_at", "last"), ("transport", "last"), ("peer", "first"))


def test_the_columnar_reader_is_built_where_it_can_be() -> None:
    """An optional extension fails quietly at install: say so where the compiler and librdkafka-dev exist."""
    if shutil.which("cc") or shutil.which("gcc"):
        if Path("/usr/include/librdkafka/rdkafka.h").exists():
            assert kafka_columns.available(), "librdkafka-dev and a compiler are here, but vigie._kafka_columns is not built"


def produce_odd_messages(settings: KafkaSettings) -> int:
    """Messages covering what the reader must carry: no headers, repeated headers, null and empty keys
    and values, binary bytes, several partitions."""
    p = Producer({**settings.librdkafka(), "linger.ms": 5})
    topic = settings.topic(RAW_SYSLOG)
    n = 0
    for i in range(3000):
        headers = [
            [],
            [("received_at", b"2024-05-01T10:00:00Z"), ("peer", b"10.0.0.1:514"), ("transport", b"udp")],
            [("peer", b"[2001:db8::1]:514"), ("peer", b"10.0.0.2:1"), ("received_at", b"a"), ("received_at", b"b")],
            [("transport", b""), ("other", b"x" * 300)],
        ][i % 4]
        value = [b"<13>hello %d" % i, b"", None, bytes(range(256)) * 3][i % 7 % 4]
        key = [b"10.9.0.1", None, b""][i % 3]
        p.produce(topic, value, key, partition=i % 3, headers=headers)
        n += 1
    assert p.flush(30) == 0
    return n


def read_all(settings: KafkaSettings, n: int, native: bool) -> pa.Table:
    c = kafka_columns.open_columnar_consumer(
        consumer_config(settings, f"cols-{uuid.uuid4().hex[:6]}"), HEADERS, native=native
    )
    c.subscribe([settings.topic(RAW_SYSLOG)])
    batches = []
    deadline = time.monotonic() + 60
    while sum(len(b) for b in batches) < n and time.monotonic() < deadline:
        b = c.consume_columns(700, 0.5)
        if b is not None:
            batches.append(b)
    c.close()
    cols = {
        "topic": [b.topic for b in batches], "partition": [b.partition for b in batches],
        "offset": [b.offset for b in batches], "ts": [b.timestamp_ms for b in batches],
        "value": [b.value for b in batches], "key": [b.key for b in batches],
        **{h: [b.headers[h] for b in batches] for h, _ in HEADERS},
    }  # fmt: skip
    table = pa.table({k: pa.chunked_array(v) for k, v in cols.items()})
    return table.sort_by([("partition", "ascending"), ("offset", "ascending")])


@pytest.mark.skipif(not kafka_columns.available(), reason="vigie._kafka_columns not built")
def test_columns_equal_the_confluent_kafka_fallback(kafka: KafkaSettings) -> None:
    n = produce_odd_messages(kafka)
    native, fallback = read_all(kafka, n, True), read_all(kafka, n, False)
    assert native.num_rows == n
    assert native.equals(fallback)
    rows = native.to_pylist()
    assert {r["value"] for r in rows} == {b"<13>hello %d" % i for i in range(3000) if i % 7 % 4 == 0} | {
        b"", None, bytes(range(256)) * 3
    }
    assert {r["key"] for r in rows} == {b"10.9.0.1", None, b""}
    assert {(r["peer"], r["received_at"]) for r in rows} == {
        (None, None), (b"10.0.0.1:514", b"2024-05-01T10:00:00Z"), (b"[2001:db8::1]:514", b"b")
    }
    assert all(r["ts"] is not None for r in rows)


@pytest.mark.skipif(not kafka_columns.available(), reason="vigie._kafka_columns not built")
def test_rebalance_pause_seek_resume_commit(kafka: KafkaSettings) -> None:
    n = produce_odd_messages(kafka)
    topic = kafka.topic(RAW_SYSLOG)
    group = f"cols-{uuid.uuid4().hex[:6]}"
    c = kafka_columns.open_columnar_consumer(consumer_config(kafka, group), HEADERS, native=True)
    events: list[tuple[str, list[int]]] = []

    def on_assign(consumer, parts):  # noqa: ANN001 - the sink's handler signature
        events.append(("assign", sorted(tp.partition for tp in parts)))
        for tp in parts:
            tp.offset = 990 if tp.partition == 1 else 0
        consumer.assign(parts)
        consumer.pause([TopicPartition(topic, 2)])

    def on_revoke(consumer, parts):  # noqa: ANN001
        events.append(("revoke", sorted(tp.partition for tp in parts)))

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    seen: dict[int, list[int]] = {0: [], 1: [], 2: []}
    deadline = time.monotonic() + 60
    while (len(seen[0]) < n // 3 or len(seen[1]) < 10) and time.monotonic() < deadline:
        b = c.consume_columns(500, 0.3)
        if b is not None:
            for p, o in zip(b.partition.to_pylist(), b.offset.to_pylist(), strict=True):
                seen[p].append(o)
    assert events[0] == ("assign", [0, 1, 2])
    assert seen[0] == list(range(n // 3)), "partition 0 from the offset the handler gave"
    assert seen[1] == list(range(990, 1000)), "partition 1 from 990"
    assert seen[2] == [], "paused in the handler"
    c.seek(TopicPartition(topic, 2, 995))
    c.resume([TopicPartition(topic, 2)])
    deadline = time.monotonic() + 30
    while len(seen[2]) < 5 and time.monotonic() < deadline:
        b = c.consume_columns(500, 0.3)
        if b is not None:
            for p, o in zip(b.partition.to_pylist(), b.offset.to_pylist(), strict=True):
                seen[p].append(o)
    assert seen[2] == [995, 996, 997, 998, 999], "resumed at the seek"
    c.commit([TopicPartition(topic, 0, 1000), TopicPartition(topic, 2, 7)], asynchronous=False)
    got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1), TopicPartition(topic, 2)], 10)
    assert [(tp.partition, tp.offset) for tp in got] == [(0, 1000), (1, -1001), (2, 7)]
    c.close()
    assert events[-1] == ("revoke", [0, 1, 2]), "close revokes through the handler"


@pytest.mark.skipif(not kafka_columns.available(), reason="vigie._kafka_columns not built")
def test_an_exception_in_a_handler_surfaces_after_consume(kafka: KafkaSettings) -> None:
    c = kafka_columns.open_columnar_consumer(
        consumer_config(kafka, f"cols-{uuid.uuid4().hex[:6]}"), HEADERS, native=True
    )

    def on_assign(consumer, parts):  # noqa: ANN001
        raise ValueError("handler failed")

    c.subscribe([kafka.topic(RAW_SYSLOG)], on_assign=on_assign)
    with pytest.raises(ValueError, match="handler failed"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            c.consume_columns(10, 0.3)
    c.close()


@pytest.mark.skipif(not kafka_columns.available(), reason="vigie._kafka_columns not built")
def test_a_bad_setting_is_refused_without_echoing_its_value(kafka: KafkaSettings) -> None:
    conf = {**consumer_config(kafka, "g"), "sasl.password": "s3cret", "no.such.setting": "hunter2"}
    with pytest.raises(ValueError) as err:
        kafka_columns.open_columnar_consumer(conf, HEADERS, native=True)
    assert "no.such.setting" in str(err.value) and "hunter2" not in str(err.value)


@pytest.mark.skipif(not kafka_columns.available(), reason="vigie._kafka_columns not built")
def test_a_bad_value_is_refused_without_echoing_it(kafka: KafkaSettings) -> None:
    conf = {**consumer_config(kafka, "g"), "session.timeout.ms": "hunter2"}
    with pytest.raises(ValueError) as err:
        kafka_columns.open_columnar_consumer(conf, HEADERS, native=True)
    assert "session.timeout.ms" in str(err.value) and "hunter2" not in str(err.value)
