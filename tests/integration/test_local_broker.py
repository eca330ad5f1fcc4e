"""The local broker: storage formatting and restarts on the same state folder."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from vigie.kafka_client import KafkaSettings, make_admin
from vigie.local_broker import LocalBroker, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_cluster_id_starting_with_a_dash_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # base64 of these bytes is "-wAA…": passed as a separate argument, the storage tool took it for an option.
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(bytes=b"\xfb" + b"\x00" * 15))
    broker = LocalBroker(tmp_path, port=free_port(), controller_port=free_port())
    broker.start()
    try:
        assert "cluster.id=-wAA" in (tmp_path / "kafka" / "data" / "meta.properties").read_text()
        make_admin(KafkaSettings(broker.bootstrap)).list_topics(timeout=10)
    finally:
        broker.stop()
    # Restart on the same folder: storage is kept, not formatted again.
    broker.start()
    try:
        assert broker.status().startswith("running")
    finally:
        assert broker.stop()
    assert broker.pid() is None
