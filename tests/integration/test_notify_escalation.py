"""Live, through `vigie up`: a problem not acknowledged `escalate_after` after its first message reaches the
escalation route's receiver on time, and `repeat_interval` re-sends it to the route's own receiver (short
intervals); one acknowledged with `vigie ack` before then is never escalated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.notify_servers import HttpServer, Request
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


class Arrivals:
    """When each request reached a receiver (monotonic seconds), with its body."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, bytes]] = []
        self.server = HttpServer(on_request=self.note)

    def note(self, req: Request) -> bool:
        self.seen.append((time.monotonic(), req.body))
        return True

    def first(self, host: str, reason: str) -> float | None:
        """When the first `reason` message about host arrived, None if none did."""
        for at, body in list(self.seen):
            payload = json.loads(body)
            if payload["commonAnnotations"]["vigie_reason"] == reason and any(
                    a["labels"]["host"] == host for a in payload["alerts"]):
                return at
        return None


def test_escalation_fires_on_time_and_an_ack_from_the_cli_stops_it(broker: KafkaSettings, tmp_path: Path) -> None:
    staff, boss = Arrivals(), Arrivals()
    flags = {h: tmp_path / h for h in ("probe", "rtr1", "rtr2")}
    hosts = "".join(f'[inventory.hosts.{h}]\nsite = "{site}"\naddress = "127.0.0.1"\n'
                    for h, site in (("probe", "mairie"), ("rtr1", "mairie-annexe"), ("rtr2", "ecole")))
    services = "".join(f'[[inventory.services]]\nhost = "{h}"\nname = "PING"\ncommand = {_failing_when(flag)}\n'
                       'check_interval = "1s"\nretry_interval = "1s"\nmax_check_attempts = 1\n'
                       for h, flag in flags.items())
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'''state_dir = "{tmp_path / "state"}"
{kafka_table(broker, f"ack{free_port()}.")}[metrics]
enabled = false
[syslog]
enabled = false
[snmp]
enabled = false
[archive]
enabled = false
[checks]
active_enabled = true
{hosts}{services}[receivers.staff-hook]
type = "webhook"
url = "{staff.server.url}/staff"
[receivers.boss-hook]
type = "webhook"
url = "{boss.server.url}/boss"
[[routes]]
name = "staff"
receivers = ["staff-hook"]
group_wait = "1s"
repeat_interval = "1h"
escalate_after = "10s"
escalate_to = "boss"
[[routes]]
name = "boss"
match = {{ site = "nowhere" }}
receivers = ["boss-hook"]
''')
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "up", "--config", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    acked = None
    try:
        # The notifier reads from the topic's end on its first start: the probe fails once vigie up is ready (its
        # children have their partitions), and its first message shows the whole chain works.
        deadline = time.monotonic() + 120
        while not any("vigie up: ready in" in line for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.2)
        flags["probe"].touch()
        while staff.first("probe", "new") is None and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.2)
        assert staff.first("probe", "new") is not None, "the notifier never delivered the probe's first message"
        flags["rtr1"].touch()
        flags["rtr2"].touch()
        deadline = time.monotonic() + 60
        while staff.first("rtr2", "new") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert staff.first("rtr2", "new") is not None
        acked = subprocess.run([sys.executable, "-m", "vigie.app.cli", "ack", "--config", str(conf), "--host", "rtr2",
                                "--reason", "on it"], capture_output=True, text=True, timeout=60)
        acked_at = time.monotonic()
        deadline = time.monotonic() + 60
        while boss.first("rtr1", "escalated") is None and time.monotonic() < deadline:
            time.sleep(0.2)
        quiet_until = max(staff.first("rtr2", "new") + 10 + 6, acked_at + 3)  # rtr2's escalation would be due by then
        while time.monotonic() < quiet_until:
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        staff.server.close()
        boss.server.close()
    assert acked is not None and acked.returncode == 0 and acked.stdout.startswith("wrote ack"), acked
    assert acked_at - staff.first("rtr2", "new") < 10  # the ack was given before the escalation was due
    new, escalated = staff.first("rtr1", "new"), boss.first("rtr1", "escalated")
    assert new is not None and escalated is not None, "rtr1 was never escalated"
    assert 9.0 <= escalated - new <= 14.0, escalated - new  # escalate_after 10 s, the worker ticks every second
    assert boss.first("rtr2", "escalated") is None  # acknowledged: no escalated message after the ack
    assert staff.first("rtr2", "repeat") is None
