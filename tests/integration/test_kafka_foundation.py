"""The foundation against the real broker: kafka-python round trip, a Faust agent with a table, topic admin."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from vigie.kafka_client import KafkaSettings, KafkaSink, make_admin, make_consumer
from vigie.topic_admin import TopicDriftError, ensure_topics
from vigie.topics import RAW_CHECKS, RAW_SYSLOG, TopicSpec, default_specs

pytestmark = pytest.mark.integration


def test_kafka_python_round_trip(kafka: KafkaSettings) -> None:
    topic = kafka.topic(RAW_SYSLOG)
    producer = KafkaProducer(**kafka.kafka_python(), acks="all")
    sent = [f"<13>msg {i}".encode() for i in range(50)]
    for i, value in enumerate(sent):
        producer.send(topic, value=value, key=f"10.0.0.{i % 5}".encode(), headers=[("transport", b"udp")])
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(topic, **kafka.kafka_python(), auto_offset_reset="earliest",
                             group_id="kp-test", consumer_timeout_ms=10000)
    got = []
    for msg in consumer:
        got.append(msg)
        if len(got) == len(sent):
            break
    consumer.close()
    assert sorted(m.value for m in got) == sorted(sent)
    assert all(dict(m.headers)["transport"] == b"udp" for m in got)
    # Same key, same partition: the order of one sender is kept.
    per_key: dict[bytes, list[bytes]] = {}
    for m in sorted(got, key=lambda m: (m.partition, m.offset)):
        per_key.setdefault(m.key, []).append(m.value)
    assert per_key[b"10.0.0.0"] == [v for i, v in enumerate(sent) if i % 5 == 0]


def test_sink_delivers_to_prefixed_topic(kafka: KafkaSettings) -> None:
    sink = KafkaSink(kafka)
    for i in range(1000):
        sink.produce(RAW_SYSLOG, b"m%d" % i, key=b"10.1.1.1", headers=[("peer", b"10.1.1.1:514")])
    assert sink.close(30) == 0
    consumer = make_consumer(kafka, "sink-test")
    consumer.subscribe([kafka.topic(RAW_SYSLOG)])
    values = []
    deadline = time.monotonic() + 30
    while len(values) < 1000 and time.monotonic() < deadline:
        for m in consumer.consume(500, 1.0):
            assert m.error() is None
            values.append(m.value())
    consumer.close()
    assert sorted(values) == sorted(b"m%d" % i for i in range(1000))


def test_faust_agent_with_table(kafka: KafkaSettings, tmp_path: Path) -> None:
    env = dict(os.environ, VIGIE_TEST_PREFIX=kafka.topic_prefix, VIGIE_TEST_BOOTSTRAP=kafka.bootstrap_servers,
               VIGIE_TEST_DATADIR=str(tmp_path))
    app = Path(__file__).with_name("faust_counter_app.py")
    worker = subprocess.Popen([sys.executable, str(app), "worker", "-l", "warn", "--without-web"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        sink = KafkaSink(kafka)
        for _ in range(3):
            for host in (b"web1", b"web2"):
                sink.produce(RAW_CHECKS, b"{}", key=host)
        assert sink.close(30) == 0
        consumer = make_consumer(kafka, "faust-test")
        consumer.subscribe([kafka.topic("events")])
        last: dict[bytes, int] = {}
        deadline = time.monotonic() + 90
        while last != {b"web1": 3, b"web2": 3} and time.monotonic() < deadline:
            for m in consumer.consume(100, 1.0):
                if m.error() is None:
                    last[m.key()] = max(last.get(m.key(), 0), int(m.value()))
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
        consumer.close()
        assert last == {b"web1": 3, b"web2": 3}
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def test_ensure_topics_is_idempotent_and_reports_drift(broker: KafkaSettings) -> None:
    settings = replace(broker, topic_prefix="admin-test.")
    specs = default_specs(partitions=2)
    created = ensure_topics(settings, specs)
    assert sorted(created) == sorted(settings.topic(s.name) for s in specs)
    assert ensure_topics(settings, specs) == []  # second run: nothing to do, no drift
    md = make_admin(settings).list_topics(timeout=10).topics
    assert len(md["admin-test.raw.syslog"].partitions) == 2
    drifted = [TopicSpec("alerts", 2, "delete", 1000), TopicSpec("raw.syslog", 4, "delete", specs[0].retention_ms)]
    with pytest.raises(TopicDriftError) as err:
        ensure_topics(settings, drifted)
    text = str(err.value)
    assert "admin-test.alerts: cleanup.policy is compact, expected delete" in text
    assert "admin-test.raw.syslog: partitions is 2, expected 4" in text
