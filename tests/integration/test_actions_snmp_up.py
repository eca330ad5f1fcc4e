"""The server room end to end under `vigie up`: two snmpd agents are the room's two probes, the poller reads them,
the pipelines make alerts, the actions service acts. One probe rising alone -> "probes disagree" and no
countdown; the other probe silent (UNKNOWN) -> it cannot count; both hot -> countdown announced on the route,
then the command runs exactly once."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_up_ready import Up
from tests.snmpd_agent import COMMUNITY, PASS_BASE, SNMPD, Agent
from tests.tools import kafka_table
from vigie.app.views import records
from vigie.kafka_client import KafkaSettings
from vigie.topics import ACTIONS, NOTIFICATIONS

pytestmark = [pytest.mark.integration, pytest.mark.peer, pytest.mark.timeout(300),
              pytest.mark.skipif(not os.access(SNMPD, os.X_OK) and not os.environ.get("CI"),
                                 reason="snmpd not installed (Debian: snmpd; bash scripts/setup)")]


def steps(settings: KafkaSettings) -> list[dict[str, Any]]:
    return [v for _k, v in records(settings, ACTIONS) if isinstance(v, dict)]


def wait_step(settings: KafkaSettings, step: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = steps(settings)
        if any(r["step"] == step for r in seen):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"no {step!r} step within {timeout} s: {[r['step'] for r in seen]}")


def test_two_snmpd_probes_agree_before_the_action_runs_once(broker: KafkaSettings, tmp_path: Path) -> None:
    probe_a = Agent(tmp_path / "snmpd-a").start()
    probe_b = Agent(tmp_path / "snmpd-b", port=probe_a.port, address="127.0.0.2").start()
    for agent in (probe_a, probe_b):
        agent.set_probe(1, "25")
    ran = tmp_path / "ran.txt"
    prefix = "act-snmp."
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
[inventory.hosts.probe-b]
site = "mairie"
address = "127.0.0.2"
[inventory.hosts.srv1]
site = "mairie"
address = "10.0.0.5"
[inventory.hostgroups.room1-probes]
members = ["probe-a", "probe-b"]
[[inventory.pollers]]
name = "room-temp"
hostgroups = ["room1-probes"]
port = {probe_a.port}
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
[[routes]]
name = "room1"
[[actions]]
name = "shutdown-room1"
command = ["sh", "-c", "echo \\"$1\\" >> {ran}", "poweroff", "$HOST$"]
hosts = ["srv1"]
service = "room-temp"
sources = ["room1-probes"]
for = "2s"
countdown = "3s"
stale_after = "30s"
routes = ["room1"]
armed = true
''')
    up = Up(conf, env=dict(os.environ, T_POLL_COMMUNITY=COMMUNITY))
    settings = replace(broker, topic_prefix=prefix)
    try:
        up.wait_line("ready", 90)
        probe_a.set_probe(1, "36.5")  # one probe alone: it may be the probe that is wrong
        seen = wait_step(settings, "probes_disagree", 90)
        assert [r["step"] for r in seen] == ["probes_disagree"]
        assert seen[0]["sources"]["agree"] == ["probe-a"] and seen[0]["sources"]["ok"] == ["probe-b"]
        time.sleep(6)  # longer than for + countdown: still nothing
        assert [r["step"] for r in steps(settings)] == ["probes_disagree"] and not ran.exists()
        probe_b.stop()  # probe-b stops answering: UNKNOWN, it cannot count either way
        seen = wait_step(settings, "sources_stale", 60)
        assert seen[-1]["sources"]["stale"] == ["probe-b"] and not ran.exists()
        probe_b = Agent(tmp_path / "snmpd-b", port=probe_a.port, address="127.0.0.2")
        probe_b.set_probe(1, "37")
        probe_b.start()  # back, and hot too
        seen = wait_step(settings, "ran", 90)
        order = [r["step"] for r in seen]
        assert order == ["probes_disagree", "sources_stale", "condition_met", "countdown", "running", "ran"], order
        assert ran.read_text().splitlines() == ["srv1"]
        told = [v["alert"]["fingerprint"] for _k, v in records(settings, NOTIFICATIONS)
                if isinstance(v, dict) and str((v.get("alert") or {}).get("fingerprint", "")).startswith("action:")]
        # the notifications topic has 3 partitions: no order between two messages of different keys
        assert sorted(told) == ["action:shutdown-room1:countdown", "action:shutdown-room1:disagreement"]
        time.sleep(5)  # both probes still hot: nothing more runs
        assert [r["step"] for r in steps(settings)] == order and ran.read_text().splitlines() == ["srv1"]
    finally:
        assert up.stop() == 0, "\n".join(up.lines[-20:])
        probe_a.stop()
        probe_b.stop()
