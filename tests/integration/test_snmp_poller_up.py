"""A probe polled by `vigie up` becomes an alert: snmpd serves a temperature, the poller reads it, the
pipelines make it a CRITICAL alert, and it resolves when the room cools below the hysteresis."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.integration.test_up_ready import Up
from tests.snmpd_agent import COMMUNITY, PASS_BASE, SNMPD, Agent
from tests.tools import kafka_table
from vigie.app.views import latest
from vigie.kafka_client import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.peer, pytest.mark.timeout(240),
              pytest.mark.skipif(not os.access(SNMPD, os.X_OK) and not os.environ.get("CI"),
                                 reason="snmpd not installed (Debian: snmpd; bash scripts/setup)")]


def _alert(settings: KafkaSettings, timeout: float, want: str) -> dict:
    deadline = time.monotonic() + timeout
    seen: list[dict] = []
    while time.monotonic() < deadline:
        seen = [a for a in latest(settings, "alerts").values() if a.get("host") == "probe-a"]
        if seen and seen[0].get("status") == want:
            return seen[0]
        time.sleep(0.5)
    raise AssertionError(f"no {want} alert for probe-a within {timeout} s: {seen}")


def test_an_overheating_probe_polled_by_up_raises_and_clears_an_alert(broker: KafkaSettings, tmp_path: Path) -> None:
    agent = Agent(tmp_path / "snmpd").start()
    agent.set_probe(1, "36.5")
    prefix = "poll-up."
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'''state_dir = "{tmp_path / "state"}"
{kafka_table(broker, prefix)}[metrics]
enabled = false
[syslog]
enabled = false
[snmp]
enabled = false
[archive]
enabled = false
[console]
enabled = false
[correlation]
flap_high_threshold = 100.0
flap_low_threshold = 100.0
[inventory.hosts.probe-a]
site = "mairie"
address = "127.0.0.1"
[[inventory.pollers]]
name = "room-temp"
hosts = ["probe-a"]
port = {agent.port}
community_env = "T_POLL_COMMUNITY"
interval = "1s"
timeout = "1s"
warning = 30.0
critical = 35.0
hysteresis = 1.0
max_check_attempts = 1
[[inventory.pollers.items]]
label = "inlet"
oid = "{PASS_BASE}.1"
uom = "C"
''')
    up = Up(conf, env=dict(os.environ, T_POLL_COMMUNITY=COMMUNITY))
    settings = replace(broker, topic_prefix=prefix)
    try:
        up.wait_line("ready", 90)
        alert = _alert(settings, 60, "firing")
        assert alert["severity"] == "critical" and alert["component"] == "room-temp"
        assert "inlet 36.5 C (CRITICAL)" in alert["summary"]
        agent.set_probe(1, "29.5")  # below warning, within the hysteresis: still WARNING, still firing
        time.sleep(3)
        deadline, cooler = time.monotonic() + 45, {}
        while time.monotonic() < deadline and cooler.get("severity") != "warning":
            cooler = _alert(settings, 10, "firing")
            time.sleep(0.5)
        assert cooler["severity"] == "warning" and "inlet 29.5 C (WARNING)" in cooler["summary"], cooler
        agent.set_probe(1, "25")
        _alert(settings, 60, "resolved")
    finally:
        assert up.stop() == 0, "\n".join(up.lines[-20:])
        agent.stop()
