"""`vigie up` as a user runs it: starts, serves /metrics, refuses a second instance, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vigie.kafka_client import KafkaSettings, make_admin
from vigie.local_broker import free_port

pytestmark = pytest.mark.integration


def _vigie(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vigie.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def _wait_metrics(url: str, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return resp.read().decode()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no /metrics at {url} within {timeout} s")


def _write_config(tmp_path: Path, bootstrap: str, metrics_port: int, prefix: str) -> Path:
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'[kafka]\nbootstrap_servers = "{bootstrap}"\ntopic_prefix = "{prefix}"\n'
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        f'[syslog]\nenabled = false\n[snmp]\nenabled = false\n[archive]\nenabled = false\n'
        f'[checks]\nactive_enabled = false\n'
    )
    return conf


def test_up_serves_metrics_refuses_second_instance_and_stops_on_sigterm(broker: KafkaSettings, tmp_path: Path) -> None:
    port = free_port()
    conf = _write_config(tmp_path, broker.bootstrap_servers, port, "up-test.")
    proc = _vigie("up", "--config", str(conf))
    try:
        text = _wait_metrics(f"http://127.0.0.1:{port}/metrics", proc, 60)
        assert "vigie_up 1.0" in text
        assert "vigie_startup_seconds" in text
        topics = make_admin(broker).list_topics(timeout=10).topics
        for name in ("raw.syslog", "raw.traps", "raw.checks", "events", "alerts", "incidents", "notifications",
                     "control", "deadletter"):
            assert f"up-test.{name}" in topics
        second = _vigie("up", "--config", str(conf))
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert "already running on state folder" in out
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "stopped cleanly" in out
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
def test_up_starts_and_stops_its_own_broker(tmp_path: Path) -> None:
    kport, mport = free_port(), free_port()
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[kafka]\nlocal_listen = "127.0.0.1:{kport}"\n'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[syslog]\nenabled = false\n[snmp]\nenabled = false\n[archive]\nenabled = false\n'
        f'[checks]\nactive_enabled = false\n'
    )
    proc = _vigie("up", "--config", str(conf), env=dict(os.environ))
    try:
        _wait_metrics(f"http://127.0.0.1:{mport}/metrics", proc, 120)
        settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{kport}")
        assert "vigie.alerts" in make_admin(settings).list_topics(timeout=10).topics
        assert (tmp_path / "state" / "kafka" / "data" / "meta.properties").exists()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
        assert "stopping the local Kafka broker" in out
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", kport), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()
