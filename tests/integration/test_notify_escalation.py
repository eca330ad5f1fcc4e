"""Live, through `vigie up`: a problem not acknowledged `escalate_after` after its first message reaches the
escalation route's receiver, and `repeat_interval` re-sends it to the route's own receiver (short intervals)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.notify_servers import HttpServer
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _reasons(server: HttpServer, host: str) -> list[str]:
    """The vigie_reason of every webhook payload the server accepted about host."""
    out = []
    for r in server.accepted():
        body = json.loads(r.body)
        if any(a["labels"]["host"] == host for a in body["alerts"]):
            out.append(body["commonAnnotations"]["vigie_reason"])
    return out


def _failing_when(flag: Path) -> str:
    return f'["/bin/sh", "-c", "if test -f {flag}; then echo CRITICAL - down; exit 2; else echo OK; exit 0; fi"]'


def test_escalation_and_repeat_reach_the_receivers(broker: KafkaSettings, tmp_path: Path) -> None:
    staff, boss = HttpServer(), HttpServer()
    probe_flag, real_flag = tmp_path / "probe", tmp_path / "real"
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'''state_dir = "{tmp_path / "state"}"
{kafka_table(broker, f"esc{free_port()}.")}[metrics]
enabled = false
[syslog]
enabled = false
[snmp]
enabled = false
[archive]
enabled = false
[checks]
active_enabled = true
[inventory.hosts.probe]
site = "mairie"
address = "127.0.0.1"
[inventory.hosts.rtr1]
site = "mairie"
address = "127.0.0.1"
[[inventory.services]]
host = "probe"
name = "PING"
command = {_failing_when(probe_flag)}
check_interval = "1s"
retry_interval = "1s"
max_check_attempts = 1
[[inventory.services]]
host = "rtr1"
name = "PING"
command = {_failing_when(real_flag)}
check_interval = "1s"
retry_interval = "1s"
max_check_attempts = 1
[receivers.staff-hook]
type = "webhook"
url = "{staff.url}/staff"
[receivers.boss-hook]
type = "webhook"
url = "{boss.url}/boss"
[[routes]]
name = "staff"
receivers = ["staff-hook"]
repeat_interval = "3s"
escalate_after = "2s"
escalate_to = "boss"
[[routes]]
name = "boss"
match = {{ site = "nowhere" }}
receivers = ["boss-hook"]
''')
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "up", "--config", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    try:
        # The notifier reads from the topic's end on its first start: a probe problem, repeated every 3 s,
        # shows when it is listening; only then does the problem under test begin.
        probe_flag.touch()
        deadline = time.monotonic() + 120
        while not _reasons(staff, "probe") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        assert _reasons(staff, "probe"), "the notifier never delivered the probe's notifications"
        real_flag.touch()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not ("escalated" in _reasons(boss, "rtr1")
                                                   and "repeat" in _reasons(staff, "rtr1")):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        staff.close()
        boss.close()
    assert _reasons(staff, "rtr1")[0] == "new"
    assert "repeat" in _reasons(staff, "rtr1")
    assert "escalated" in _reasons(boss, "rtr1")
