"""docker-compose.yml is a valid deployment (a secured three-broker cluster): checked by Debian's docker-compose (v1)
without an engine."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.tools import require_tool
from vigie import broker_auth
from vigie.config import validate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.peer


def test_compose_file_validates_and_runs_vigie_up_against_a_secured_kraft_cluster() -> None:
    compose = require_tool("docker-compose")
    proc = subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True,
                          text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "VIGIE_CHECKS_TOKEN": "t"})
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    brokers = {name: svc for name, svc in resolved["services"].items() if name.startswith("kafka") and name[5:].isdigit()}
    assert sorted(brokers) == ["kafka1", "kafka2", "kafka3"]
    for name, kafka in brokers.items():
        env = kafka["environment"]
        assert kafka["image"].startswith("apache/kafka:")
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert env["KAFKA_NODE_ID"] == name[5:]
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka1:9093,2@kafka2:9093,3@kafka3:9093"
        assert (env["KAFKA_DEFAULT_REPLICATION_FACTOR"], env["KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
        assert (env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"], env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == ("3", "2")
        # every listener authenticates; ACLs decide, with no anonymous super user and no default allow
        assert "PLAINTEXT:" not in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].replace("SASL_PLAINTEXT", "")
        assert env["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
        assert env["KAFKA_SUPER_USERS"] == "User:admin;User:controller"
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    setup = resolved["services"]["kafka-setup"]
    assert "--add-config-file" in setup["command"][0]  # passwords in a file, not on kafka-configs' command line
    vigie = resolved["services"]["vigie"]
    assert vigie["command"][:2] == ["vigie", "up"]
    assert vigie["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully"
    users = {broker_auth.password_env(p) for p in broker_auth.PRINCIPALS}
    assert users <= set(vigie["environment"]) and users <= set(setup["environment"])


def test_deployment_config_is_valid_and_points_at_the_kafka_cluster() -> None:
    cfg = validate(tomllib.loads((ROOT / "deploy" / "vigie.toml").read_text()))
    assert cfg.kafka.bootstrap_servers == "kafka1:9092,kafka2:9092,kafka3:9092"
    assert cfg.kafka.replication_factor == 3
    assert (cfg.kafka.security_protocol, cfg.kafka.sasl_mechanism, cfg.kafka.sasl_service_users) == \
        ("SASL_PLAINTEXT", "SCRAM-SHA-512", True)
    assert cfg.checks.token_env == "VIGIE_CHECKS_TOKEN"
