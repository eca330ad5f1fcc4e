"""A Nagios tree imported, then run by `vigie up` end to end: host checks and services run by the plugin runner,
their results through normalize and correlate to the `alerts` and `notifications` topics. A host check's
CRITICAL is the host DOWN, its WARNING is UP, a host behind a DOWN parent is UNREACHABLE (a symptom); a service
whose master (servicedependency) fails is suppressed; a route matches a service group."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_up_ready import Up
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OBJECTS = """
define command {{\n command_name alive\n command_line {plugin} $_HOSTCODE$\n}}
define command {{\n command_name svc\n command_line {plugin} $ARG1$\n}}
define host {{\n name base\n register 0\n max_check_attempts 1\n check_interval 2\n retry_interval 1\n check_command alive\n}}
define host {{\n host_name core1\n use base\n address 127.0.0.1\n _CODE 2\n}}
define host {{\n host_name web1\n use base\n address 127.0.0.1\n parents core1\n _CODE 2\n}}
define host {{\n host_name db1\n use base\n address 127.0.0.1\n _CODE 1\n}}
define service {{\n host_name db1\n service_description NRPE\n check_command svc!2\n max_check_attempts 1
 check_interval 2\n retry_interval 1\n servicegroups databases\n}}
define service {{\n host_name db1\n service_description DISK\n check_command svc!2\n max_check_attempts 1
 check_interval 2\n retry_interval 1\n}}
define servicegroup {{\n servicegroup_name databases\n alias Databases\n}}
define servicedependency {{\n host_name db1\n service_description NRPE\n dependent_service_description DISK
 notification_failure_criteria c\n}}
"""


def _last_values(broker: KafkaSettings, prefix: str, logical: str) -> list[dict]:
    """Every value on a topic, in order (partitions one after the other)."""
    from kafka import KafkaConsumer

    from vigie.topics import full_name

    consumer = KafkaConsumer(full_name(prefix, logical), **broker.kafka_python(), auto_offset_reset="earliest",
                             consumer_timeout_ms=5000)
    values = [json.loads(m.value) for m in consumer if m.value is not None]
    consumer.close()
    return values


def test_an_imported_tree_runs_host_checks_dependencies_and_service_groups(broker: KafkaSettings, tmp_path: Path) -> None:
    """Read on the `alerts` and `notifications` topics (the route has no receiver: pipelines/notify, whose
    route threads raced on their SQLite state here, "database is locked", is not part of this test)."""
    from vigie.topics import ALERTS, NOTIFICATIONS

    plugin = tmp_path / "check_fake"
    plugin.write_text('#!/bin/sh\necho "FAKE exit $1"\nexit "$1"\n')
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "objects.cfg").write_text(OBJECTS.format(plugin=plugin))
    (tmp_path / "nagios.cfg").write_text("cfg_file=objects.cfg\ninterval_length=1\n")
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "vigie.app.cli", "import", "nagios", str(tmp_path / "nagios.cfg"), "--out", str(out)],
                   check=True, capture_output=True, timeout=60)
    prefix = f"nagios{free_port()}."
    conf = out / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(broker, prefix)}'
        f'[metrics]\nlisten = "127.0.0.1:{free_port()}"\n'
        '[syslog]\nenabled = false\n[snmp]\nenabled = false\n[archive]\nenabled = false\n'
        '[[routes]]\nname = "dba"\nmatch_re = { servicegroups = "(.*,)?databases(,.*)?" }\ngroup_wait = "1s"\n'
        + conf.read_text())
    up = Up(conf)

    def told() -> list[tuple[str, str, str | None, str]]:
        return [(n["route"], a["host"], a["service"], a["status"])
                for n in _last_values(broker, prefix, NOTIFICATIONS) for a in n["alerts"]]

    try:
        up.wait_line("vigie up: ready in", 120)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and ("dba", "db1", "NRPE", "firing") not in told():
            assert up.proc.poll() is None, "\n".join(up.lines[-40:])
            time.sleep(1)
        time.sleep(6)  # three more rounds of checks: what must never be told has had its chances
    finally:
        assert up.stop() == 0, "\n".join(up.lines[-40:])
    notified = told()
    assert ("dba", "db1", "NRPE", "firing") in notified, (notified, "\n".join(up.lines[-40:]))  # its service group
    assert not [n for n in notified if n[2] == "DISK" and n[3] == "firing"], notified  # its master NRPE fails
    alerts = {a["fingerprint"]: a for a in _last_values(broker, prefix, ALERTS)}
    assert alerts["db1|check|DISK"]["suppressed_by"] == {"kind": "dependency", "ref": "db1/NRPE"}
    core1, web1 = alerts["core1|check"], alerts["web1|check"]
    assert (core1["status"], core1["state_type"], core1["suppressed_by"]) == ("firing", "hard", None)  # DOWN
    assert web1["status"] == "firing" and web1["suppressed_by"]["kind"] == "incident"  # UNREACHABLE behind core1
    assert web1["suppressed_by"]["ref"] == core1["incident_id"]
    assert "db1|check" not in alerts or alerts["db1|check"]["status"] == "resolved"  # WARNING: UP
