"""Shared fixtures: one real Apache Kafka broker per test session, and a fresh topic set per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.tools import TEST_PASSWORD_ENV, TEST_USER_ENV
from vigie.broker_auth import ADMIN
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import LocalBroker, free_port
from vigie.topic_admin import ensure_topics
from vigie.topics import default_specs


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker | None]:
    """The session's own broker (None when VIGIE_TEST_BOOTSTRAP names one): a real single-node KRaft broker
    on free loopback ports that authenticates and authorises as `vigie up`'s does, stopped at the end."""
    if os.environ.get("VIGIE_TEST_BOOTSTRAP"):
        yield None
        return
    state = tmp_path_factory.mktemp("vigie-broker")
    local = LocalBroker(Path(state), port=free_port(), controller_port=free_port())
    local.start(timeout=90)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def broker(local_broker: LocalBroker | None) -> KafkaSettings:
    """Settings for the session's broker: its admin's, so every test goes through SASL (SCRAM); tests of
    the ACLs themselves use the other principals (local_broker.client_settings). VIGIE_TEST_BOOTSTRAP points
    the tests at an already running broker instead (PLAINTEXT)."""
    if local_broker is None:
        return KafkaSettings(bootstrap_servers=os.environ["VIGIE_TEST_BOOTSTRAP"], topic_prefix="")
    admin = local_broker.client_settings(ADMIN, topic_prefix="")
    # what a test's config file names ([kafka] sasl_*_env, see kafka_table): its `vigie up` and children read them
    os.environ[TEST_USER_ENV], os.environ[TEST_PASSWORD_ENV] = admin.sasl_username or "", admin.sasl_password or ""
    return admin


@pytest.fixture()
def kafka(broker: KafkaSettings) -> KafkaSettings:
    """Settings with a unique topic prefix whose architecture topics exist (3 partitions each, control 1)."""
    settings = replace(broker, topic_prefix=f"t{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings, default_specs(partitions=3))
    return settings
