"""Every long-lived librdkafka client of the pipelines and the archive logs through the per-process limiter:
a broker down for minutes must give a few lines, not one per reconnect (303 a minute from a worker's producer)."""

from __future__ import annotations

from typing import Any

import pytest

from vigie.kafka_client import LIBRDKAFKA_LOG, KafkaSettings


class Captured:
    confs: list[dict[str, Any]] = []

    def __init__(self, conf: dict[str, Any]) -> None:
        Captured.confs.append(conf)


def test_the_pipelines_producer_logs_through_the_limiter(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigie.pipelines import runtime

    Captured.confs = []
    monkeypatch.setattr(runtime, "Producer", Captured)
    runtime.make_producer(KafkaSettings("127.0.0.1:1"))
    assert Captured.confs[0]["logger"] is LIBRDKAFKA_LOG


def test_the_archive_head_publisher_logs_through_the_limiter(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import confluent_kafka

    from vigie.pipelines.archive.sink import ArchiveSink, SinkConfig

    Captured.confs = []
    monkeypatch.setattr(confluent_kafka, "Producer", Captured)
    sink = ArchiveSink.__new__(ArchiveSink)
    sink.config = SinkConfig(root=tmp_path, publish_heads=True)
    sink.settings = KafkaSettings("127.0.0.1:1")
    sink.root = tmp_path
    sink._head_publisher()
    assert Captured.confs and Captured.confs[0]["logger"] is LIBRDKAFKA_LOG
