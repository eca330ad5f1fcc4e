"""`vigie_consumer_lag`: what the child stages have not yet committed, read back from a real broker."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic
from prometheus_client import CollectorRegistry, generate_latest

from vigie.kafka_client import KafkaSettings, make_admin, make_consumer
from vigie.local_broker import LocalBroker, free_port
from vigie.metrics import ConsumerLagCollector
from vigie.topic_admin import ensure_topics
from vigie.topics import EVENTS, RAW_SYSLOG, default_specs

pytestmark = pytest.mark.integration


def _consume_and_commit(settings: KafkaSettings, group: str, topic: str, n: int) -> None:
    c = make_consumer(settings, group)
    c.subscribe([topic])
    got = 0
    try:
        while got < n:
            for m in c.consume(n - got, 1.0):
                if m.error() is None:
                    got += 1
                    c.commit(message=m, asynchronous=False)
    finally:
        c.close()


def test_lag_per_group_and_topic_only_for_vigie_topics(kafka: KafkaSettings) -> None:
    p = Producer(kafka.librdkafka())
    raw, events = kafka.topic(RAW_SYSLOG), kafka.topic(EVENTS)
    for i in range(10):
        p.produce(raw, f"line {i}".encode(), b"10.0.0.1")  # one key: one partition, so commits are in order
    for _ in range(3):
        p.produce(events, b"{}", b"site")
    foreign = f"not-vigie-{uuid.uuid4().hex[:6]}"
    admin = make_admin(kafka)
    admin.create_topics([NewTopic(foreign, 1, 1)])[foreign].result(30)
    for _ in range(5):
        p.produce(foreign, b"x")
    p.flush(10)
    group = f"lag-{uuid.uuid4().hex[:6]}"
    _consume_and_commit(kafka, group, raw, 4)
    _consume_and_commit(kafka, group, events, 3)
    _consume_and_commit(kafka, group, foreign, 1)
    collector = ConsumerLagCollector(kafka, ttl=0)
    lag = collector.lag()
    assert lag[(group, raw)] == 6 and lag[(group, events)] == 0
    assert (group, foreign) not in lag  # another application's topic
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    assert f'vigie_consumer_lag{{group="{group}",topic="{raw}"}} 6.0' in text


def test_a_broker_that_does_not_answer_gives_no_sample_and_no_error() -> None:
    collector = ConsumerLagCollector(KafkaSettings(bootstrap_servers="127.0.0.1:9"), ttl=0, timeout=1.0)
    registry = CollectorRegistry()
    registry.register(collector)
    assert "vigie_consumer_lag{" not in generate_latest(registry).decode()


def _sample(collector: ConsumerLagCollector, group: str, topic: str) -> float | None:
    for family in collector.collect():
        for s in family.samples:
            if s.labels == {"group": group, "topic": topic}:
                return s.value
    return None


def test_lag_comes_back_after_the_broker_is_stopped_and_restarted(tmp_path: Path) -> None:
    # A broker of its own: stopping the session broker would break every other test. About 23 s, two starts.
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=free_port())
    broker.start(timeout=90)
    try:
        settings = broker.client_settings(topic_prefix="lagr.")
        ensure_topics(settings, default_specs(partitions=3))
        raw = settings.topic(RAW_SYSLOG)
        p = Producer(settings.librdkafka())
        for i in range(10):
            p.produce(raw, f"line {i}".encode(), b"10.0.0.1")
        p.flush(10)
        _consume_and_commit(settings, "lagr", raw, 4)
        collector = ConsumerLagCollector(settings, ttl=0, timeout=2.0)
        assert _sample(collector, "lagr", raw) == 6

        broker.stop()
        t0 = time.monotonic()
        assert _sample(collector, "lagr", raw) is None  # no sample while the broker is away
        assert time.monotonic() - t0 < 10  # and the scrape does not hang on it

        broker.start(timeout=90)
        for i in range(2):
            p.produce(raw, f"after {i}".encode(), b"10.0.0.1")
        assert p.flush(30) == 0
        deadline = time.monotonic() + 30
        seen = None
        while time.monotonic() < deadline and seen != 8:
            seen = _sample(collector, "lagr", raw)
            time.sleep(0.5)
        assert seen == 8, f"vigie_consumer_lag did not come back within 30 s of the restart (last: {seen})"
    finally:
        broker.stop()
