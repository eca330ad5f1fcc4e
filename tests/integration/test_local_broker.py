"""The local broker: storage formatting and restarts on the same state folder."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client import CollectorRegistry

from vigie.kafka_client import make_admin
from vigie.local_broker import BrokerError, LocalBroker, free_port
from vigie.supervisor import Supervisor
from vigie.topic_admin import ensure_topics
from vigie.topics import TopicSpec

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_cluster_id_starting_with_a_dash_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # base64 of these bytes is "-wAA…": passed as a separate argument, the storage tool took it for an option.
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(bytes=b"\xfb" + b"\x00" * 15))
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=free_port())
    broker.start()
    try:
        assert "cluster.id=-wAA" in (tmp_path / "kafka" / "data" / "meta.properties").read_text()
        make_admin(broker.client_settings()).list_topics(timeout=10)
    finally:
        broker.stop()
    # Restart on the same folder: storage is kept, not formatted again.
    broker.start()
    try:
        assert broker.status().startswith("running")
    finally:
        assert broker.stop()
    assert broker.pid() is None


def test_a_pid_file_naming_another_program_is_stale(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=free_port())
    broker.home.mkdir(parents=True)
    broker.pid_file.write_text(str(os.getpid()))  # alive, but pytest is not a Kafka broker
    assert broker.pid() is None
    assert broker.stop() is False  # and nobody is signalled


def test_supervised_broker_comes_back_after_sigkill_and_clients_reconnect(tmp_path: Path) -> None:
    """SIGKILL leaves a zombie child and a pid file behind: the watch sees the death at once and the
    supervisor starts a new broker on the same data; a producer created before the kill delivers after it."""
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=free_port())
    broker.start()
    settings = broker.client_settings(topic_prefix="")
    ensure_topics(settings, [TopicSpec("kept", 1, "delete", 3_600_000)])
    producer = Producer({**settings.librdkafka(), "enable.idempotence": True, "acks": "all"})
    producer.produce("kept", b"before")
    assert producer.flush(30) == 0
    first = broker.pid()

    async def scenario() -> int | None:
        sup = Supervisor(CollectorRegistry(), min_backoff=0.2, max_backoff=0.5)
        sup.add("broker", broker.supervise)
        runner = asyncio.create_task(sup.run())
        await asyncio.sleep(0.5)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while sup.services[0].restarts == 0 or not broker.running():
            assert time.monotonic() < deadline, "the broker was not restarted"
            await asyncio.sleep(0.2)
        pid = broker.pid()
        sup.stop()
        await runner
        return pid

    try:
        second = asyncio.run(scenario())
        assert second is not None and second != first
        producer.produce("kept", b"after")
        assert producer.flush(60) == 0
        consumer = Consumer({**settings.librdkafka(), "group.id": "g", "auto.offset.reset": "earliest"})
        consumer.subscribe(["kept"])
        values: list[bytes] = []
        deadline = time.monotonic() + 60
        while len(values) < 2 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                values.append(msg.value())
        consumer.close()
        assert values == [b"before", b"after"]
    finally:
        broker.stop()


def test_storage_formatted_without_authentication_is_refused_in_one_line(tmp_path: Path) -> None:
    """KRaft creates the first SCRAM user only when it formats: an open broker's storage cannot be secured in place."""
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=free_port())
    (broker.home / "data").mkdir(parents=True)
    (broker.home / "data" / "meta.properties").write_text("version=1\n")  # formatted by an earlier, open broker
    with pytest.raises(BrokerError, match="formatted without authentication.*local_sasl = false"):
        broker.start()
    assert broker.pid() is None
