"""Shared fixtures: one real Apache Kafka broker per test session, and a fresh topic set per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigie.kafka_client import KafkaSettings
from vigie.local_broker import LocalBroker, free_port
from vigie.topic_admin import ensure_topics
from vigie.topics import default_specs


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    """A real single-node KRaft broker on free loopback ports, stopped at the end of the session.

    VIGIE_TEST_BOOTSTRAP points the tests at an already running broker instead.
    """
    external = os.environ.get("VIGIE_TEST_BOOTSTRAP")
    if external:
        yield KafkaSettings(bootstrap_servers=external, topic_prefix="")
        return
    state = tmp_path_factory.mktemp("vigie-broker")
    local = LocalBroker(Path(state), port=free_port(), controller_port=free_port())
    local.start(timeout=90)
    try:
        yield KafkaSettings(bootstrap_servers=local.bootstrap, topic_prefix="")
    finally:
        local.stop()


@pytest.fixture()
def kafka(broker: KafkaSettings) -> KafkaSettings:
    """Settings with a unique topic prefix whose architecture topics exist (3 partitions each, control 1)."""
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings, default_specs(partitions=3))
    return settings
