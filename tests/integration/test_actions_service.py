"""Guarded actions against the real broker: two probes' alerts on the alerts topic -> countdown announced on the
route -> the command runs exactly once; a cancel during the countdown -> nothing runs; SIGKILLs of the actions
service during the countdown and while the command runs -> the command ran at most once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_up_ready import Up
from tests.tools import kafka_table
from vigie.app.views import records
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.pipelines.actions.guard import epoch
from vigie.schemas.codec import dumps, rfc3339
from vigie.topic_admin import ensure_topics
from vigie.topics import ACTIONS, ALERTS, NOTIFICATIONS, default_specs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def config(tmp: Path, settings: KafkaSettings, ran: Path, countdown: str, extra: str = "",
           sleep: int = 0) -> Path:
    conf = tmp / "vigie.toml"
    conf.write_text(f'''state_dir = "{tmp / "state"}"
{kafka_table(settings)}[metrics]
enabled = false
[syslog]
enabled = false
[snmp]
enabled = false
[archive]
enabled = false
[console]
enabled = false
[inventory.hosts.probe-a]
[inventory.hosts.probe-b]
[inventory.hosts.srv1]
address = "10.0.0.5"
[inventory.hostgroups.room1]
members = ["probe-a", "probe-b"]
[[routes]]
name = "room1"
[[actions]]
name = "shutdown-room1"
command = ["sh", "-c", "echo \\"$1\\" >> {ran}; sleep {sleep}", "poweroff", "$HOST$ $HOSTADDRESS$"]
hosts = ["srv1"]
service = "room-temp"
sources = ["room1"]
for = "1s"
countdown = "{countdown}"
routes = ["room1"]
armed = true
{extra}''')
    return conf


def hot_probes(settings: KafkaSettings) -> None:
    now = rfc3339(time.time())
    sink = KafkaSink(settings, linger_ms=0)
    for host in ("probe-a", "probe-b"):
        alert = {"schema": "alert/1", "fingerprint": f"{host}|check|room-temp", "status": "firing",
                 "severity": "critical", "host": host, "site": "mairie", "component": "room-temp",
                 "service": "room-temp", "summary": "inlet 36.5 C (CRITICAL)", "first_seen": now, "last_seen": now,
                 "count": 3, "state_type": "hard", "flapping": False, "suppressed_by": None, "incident_id": None,
                 "sources": ["check"]}
        sink.produce(ALERTS, dumps(alert), key=alert["fingerprint"].encode())
    assert sink.close(15) == 0


def steps(settings: KafkaSettings) -> list[dict[str, Any]]:
    return [v for _k, v in records(settings, ACTIONS) if isinstance(v, dict)]


def wait_step(settings: KafkaSettings, step: str, timeout: float, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = steps(settings)
        if sum(r["step"] == step for r in seen) >= count:
            return seen
        time.sleep(0.5)
    raise AssertionError(f"no {step!r} step within {timeout} s: {[r['step'] for r in seen]}")


class Service:
    """`vigie service actions` on its own (as `vigie up` runs it), to be SIGKILLed."""

    def __init__(self, conf: Path, settings: KafkaSettings, log: Path) -> None:
        self.log = log.open("a")
        self.proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "service", "actions", "--config",
                                      str(conf), "--bootstrap", settings.bootstrap_servers],
                                     stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)  # its group: the command it runs dies with it, as on a crash
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.log.close()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_up_runs_the_action_once_after_an_announced_countdown(kafka: KafkaSettings, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    conf = config(tmp_path, kafka, ran, "3s", extra="[pipelines]\nenabled = false\n")
    up = Up(conf)
    try:
        up.wait_line("ready", 90)
        hot_probes(kafka)
        seen = wait_step(kafka, "ran", 60)
        order = [r["step"] for r in seen]
        assert order == ["condition_met", "countdown", "running", "ran"], order
        assert seen[-1]["ok"] is True and seen[-1]["results"][0]["exit_code"] == 0
        assert lines(ran) == ["srv1 10.0.0.5"]
        notes = [v for _k, v in records(kafka, NOTIFICATIONS) if isinstance(v, dict)]
        assert [n["alert"]["fingerprint"] for n in notes] == ["action:shutdown-room1:countdown"]
        assert notes[0]["route"] == "room1" and notes[0]["reason"] == "new"
        assert f"vigie action cancel {seen[1]['id']}" in notes[0]["alert"]["summary"]
        time.sleep(5)  # the condition still holds: nothing more runs
        assert [r["step"] for r in steps(kafka)] == order and lines(ran) == ["srv1 10.0.0.5"]
        listed = subprocess.run([sys.executable, "-m", "vigie.app.cli", "action", "list", "--config", str(conf),
                                 "--steps", "4"], capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0 and "shutdown-room1" in listed.stdout and " ran " in listed.stdout, listed
    finally:
        assert up.stop() == 0, "\n".join(up.lines[-20:])


def test_cancel_during_the_countdown_runs_nothing(kafka: KafkaSettings, tmp_path: Path) -> None:
    ran = tmp_path / "ran.txt"
    conf = config(tmp_path, kafka, ran, "15s")
    service = Service(conf, kafka, tmp_path / "service.log")
    try:
        hot_probes(kafka)
        countdown = [r for r in wait_step(kafka, "countdown", 60) if r["step"] == "countdown"][0]
        cancel = subprocess.run([sys.executable, "-m", "vigie.app.cli", "action", "cancel", countdown["id"],
                                 "--reason", "the air conditioning is back", "--config", str(conf)],
                                capture_output=True, text=True, env=dict(os.environ, VIGIE_AUTHOR="alice"), timeout=60)
        assert cancel.returncode == 0, cancel.stderr
        seen = wait_step(kafka, "cancelled", 30)
        cancelled = [r for r in seen if r["step"] == "cancelled"][0]
        assert cancelled["author"] == "alice" and cancelled["reason"] == "the air conditioning is back"
        time.sleep(max(0.0, epoch(countdown["deadline"]) + 3 - time.time()))  # past the deadline
        assert not ran.exists()
        assert "running" not in [r["step"] for r in steps(kafka)]
        again = subprocess.run([sys.executable, "-m", "vigie.app.cli", "action", "cancel", "shutdown-room1",
                                "--reason", "twice", "--config", str(conf)], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "no countdown to cancel (it is cancelled)" in again.stderr
    finally:
        service.stop()


def test_sigkill_during_the_countdown_and_while_running_runs_at_most_once(broker: KafkaSettings,
                                                                          tmp_path: Path) -> None:
    settings = replace(broker, topic_prefix="act-kill.")
    ensure_topics(settings, default_specs(partitions=3))
    ran = tmp_path / "ran.txt"
    conf = config(tmp_path, settings, ran, "6s", sleep=30)
    log = tmp_path / "service.log"
    service = Service(conf, settings, log)
    try:
        hot_probes(settings)
        wait_step(settings, "countdown", 60)
        service.kill()  # during the countdown
        service = Service(conf, settings, log)
        wait_step(settings, "running", 60)
        deadline = time.monotonic() + 20
        while not lines(ran) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert lines(ran) == ["srv1 10.0.0.5"]
        service.kill()  # while the command runs, after "running" and before "ran"
        service = Service(conf, settings, log)
        seen = wait_step(settings, "interrupted", 60)
        time.sleep(5)
        order = [r["step"] for r in steps(settings)]
        assert order == ["condition_met", "countdown", "running", "interrupted"], order
        assert seen[-1]["id"] == seen[1]["id"]
        assert lines(ran) == ["srv1 10.0.0.5"]
    finally:
        service.stop()
