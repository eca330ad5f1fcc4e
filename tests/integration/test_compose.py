"""docker-compose.yml is a valid deployment: checked by Debian's docker-compose (v1) without an engine."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.tools import require_tool
from vigie.config import validate

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.peer


def test_compose_file_validates_and_runs_vigie_up_against_kraft_kafka() -> None:
    compose = require_tool("docker-compose")
    proc = subprocess.run([compose, "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True,
                          text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "VIGIE_CHECKS_TOKEN": "t"})
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout)
    kafka = resolved["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    vigie = resolved["services"]["vigie"]
    assert vigie["command"][:2] == ["vigie", "up"]
    assert vigie["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_deployment_config_is_valid_and_points_at_the_kafka_service() -> None:
    cfg = validate(tomllib.loads((ROOT / "deploy" / "vigie.toml").read_text()))
    assert cfg.kafka.bootstrap_servers == "kafka:9092"
    assert cfg.checks.token_env == "VIGIE_CHECKS_TOKEN"
