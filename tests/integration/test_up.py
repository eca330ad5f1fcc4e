"""`vigie up` as a user runs it: starts, serves /metrics, refuses a second instance, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings, make_admin
from vigie.local_broker import LocalBroker, free_port

pytestmark = pytest.mark.integration


def _vigie(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vigie.app.cli", *args], stdout=subprocess.PIPE,
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


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Services bind in the background after start-up; wait until the TCP port accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def _write_config(tmp_path: Path, broker: KafkaSettings, metrics_port: int, prefix: str) -> Path:
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(broker, prefix)}'
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        f'[syslog]\nenabled = false\n[snmp]\nenabled = false\n[archive]\nenabled = false\n'
        f'[checks]\nactive_enabled = false\n[pipelines]\nenabled = false\n'
    )
    return conf


def test_up_serves_metrics_refuses_second_instance_and_stops_on_sigterm(broker: KafkaSettings, tmp_path: Path) -> None:
    port = free_port()
    conf = _write_config(tmp_path, broker, port, "up-test.")
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
        f'[checks]\nactive_enabled = false\n[pipelines]\nenabled = false\n'
    )
    proc = _vigie("up", "--config", str(conf), env=dict(os.environ))
    try:
        _wait_metrics(f"http://127.0.0.1:{mport}/metrics", proc, 120)
        settings = LocalBroker(tmp_path / "state", port=kport).client_settings()  # the admin's, from the state
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


def _consume_all(settings: KafkaSettings, logical: str, want: int, timeout: float = 60) -> list:
    from vigie.kafka_client import make_consumer

    consumer = make_consumer(settings, f"up-check-{logical}")
    consumer.subscribe([settings.topic(logical)])
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got.extend(m for m in consumer.consume(500, 0.5) if m.error() is None)
    consumer.close()
    return got


@pytest.mark.peer
def test_up_runs_intake_services_into_kafka(broker: KafkaSettings, tmp_path: Path) -> None:
    from tests.tools import require_tool

    logger = require_tool("logger")
    curl = require_tool("curl")
    snmptrap = require_tool("snmptrap")
    mport, sport, hport, tport = free_port(), free_port(), free_port(), free_port()
    prefix = f"up-svc-{sport}."
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(broker, prefix)}'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[[syslog.listeners]]\nname = "udp"\ntransport = "udp"\nlisten = "127.0.0.1:{sport}"\n'
        f'[[syslog.listeners]]\nname = "tcp"\ntransport = "tcp"\nlisten = "127.0.0.1:{sport}"\n'
        f'[snmp]\nlisten = "127.0.0.1:{tport}"\ncommunities = ["public"]\n[archive]\nenabled = false\n'
        f'[checks]\nhttp_enabled = true\nhttp_listen = "127.0.0.1:{hport}"\ntoken_env = "VIGIE_T_TOKEN"\n'
    )
    proc = _vigie("up", "--config", str(conf), env=dict(os.environ, VIGIE_T_TOKEN="tok-123"))
    try:
        _wait_metrics(f"http://127.0.0.1:{mport}/metrics", proc, 60)
        _wait_port(sport, proc)
        _wait_port(hport, proc)
        for transport in ("--udp", "--tcp"):
            subprocess.run([logger, "--server", "127.0.0.1", "--port", str(sport), transport, "--rfc5424",
                            "-t", "vigie-test", f"hello over {transport[2:]}"], check=True)
        body = '{"host": "web1", "service": "HTTP", "status": 2, "output": "HTTP CRITICAL - down|time=3s;1;2"}'
        out = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Authorization: Bearer tok-123",
                              "-H", "Content-Type: application/json", "--data", body,
                              f"http://127.0.0.1:{hport}/api/v1/checks"], capture_output=True, text=True)
        assert out.stdout in ("200", "202"), out
        settings = replace(broker, topic_prefix=prefix)
        syslog = _consume_all(settings, "raw.syslog", 2)
        texts = sorted(m.value().decode() for m in syslog)
        assert any("hello over udp" in t for t in texts) and any("hello over tcp" in t for t in texts)
        assert sorted(dict(m.headers())["transport"] for m in syslog) == [b"tcp", b"udp"]
        checks = _consume_all(settings, "raw.checks", 1)
        from vigie.schemas.codec import loads
        from vigie.schemas.validate import validate

        value = loads(checks[0].value())
        validate(value)
        assert (value["host"], value["status"], value["perfdata"][0]["label"]) == ("web1", 2, "time")
        subprocess.run([snmptrap, "-v", "2c", "-c", "public", f"127.0.0.1:{tport}", "", "1.3.6.1.6.3.1.1.5.3",
                        "1.3.6.1.2.1.2.2.1.1.3", "i", "3"], check=True)
        trap = loads(_consume_all(settings, "raw.traps", 1)[0].value())
        validate(trap)
        assert trap["trap_name"] == "IF-MIB::linkDown" and trap["varbinds"][0]["value"] == 3
        # …and the pipelines worker that vigie up runs turned it into a firing alert.
        # …and the pipelines worker that vigie up runs turned the trap and the check result into firing alerts.
        alerts = {}
        for m in _consume_all(settings, "alerts", 2, timeout=90):
            value = loads(m.value())
            validate(value)
            alerts[value["fingerprint"]] = value
        assert alerts["127.0.0.1|trap:link|3"]["status"] == "firing"
        assert alerts["web1|check|HTTP"]["severity"] == "critical"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
        assert 'vigie_syslog_received_total{listener="udp",transport="udp"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_broker_verbs_start_status_stop(tmp_path: Path) -> None:
    kport = free_port()
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n[kafka]\nlocal_listen = "127.0.0.1:{kport}"\n')

    def vigie(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vigie.app.cli", "broker", *args, "--config", str(conf)],
                              capture_output=True, text=True, timeout=120)

    try:
        started = vigie("start")
        assert started.returncode == 0, started.stderr
        status = vigie("status")
        assert status.returncode == 0 and "answering" in status.stdout and str(kport) in status.stdout
        again = vigie("start")  # idempotent: the running broker is kept
        assert again.returncode == 0
        make_admin(LocalBroker(tmp_path / "state", port=kport).client_settings()).list_topics(timeout=10)
    finally:
        stopped = vigie("stop")
    assert stopped.returncode == 0 and "broker stopped" in stopped.stdout
    after = vigie("status")
    assert after.returncode == 3 and after.stdout.startswith("stopped")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", kport), timeout=1).close()


@pytest.mark.peer
@pytest.mark.slow
def test_up_archives_connection_logs_for_auditors(broker: KafkaSettings, tmp_path: Path) -> None:
    """logger → syslog listener → raw.syslog → archive sink (two child processes) → Parquet → vigie archive query."""
    from tests.tools import require_tool

    logger = require_tool("logger")
    mport, sport = free_port(), free_port()
    root = tmp_path / "archive"
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(broker, f"up-arch-{sport}.")}'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[[syslog.listeners]]\nname = "udp"\ntransport = "udp"\nlisten = "127.0.0.1:{sport}"\n'
        f'[snmp]\nenabled = false\n[checks]\nactive_enabled = false\n[pipelines]\nenabled = false\n'
        # two sink processes in the group, as [archive] processes runs them (the first also purges)
        f'[archive]\nroot = "{root}"\nidle_flush = "2s"\nprocesses = 2\n'
    )
    proc = _vigie("up", "--config", str(conf))
    try:
        _wait_metrics(f"http://127.0.0.1:{mport}/metrics", proc, 60)
        line = ("[UFW BLOCK] IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC=192.168.10.23 "
                "DST=93.184.216.34 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=TCP SPT=51544 DPT=443 WINDOW=64240 SYN")
        subprocess.run([logger, "--server", "127.0.0.1", "--port", str(sport), "--udp", "--rfc3164", "-t", "kernel",
                        line], check=True)
        subprocess.run([logger, "--server", "127.0.0.1", "--port", str(sport), "--udp", "--rfc3164", "-t", "sshd",
                        "not a connection log"], check=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not list(root.glob("connlog/dt=*/hour=*/*.parquet")):
            assert proc.poll() is None
            time.sleep(0.5)
        files = list(root.glob("connlog/dt=*/hour=*/*.parquet"))
        assert files, "the archive sink wrote no file"
        query = subprocess.run([sys.executable, "-m", "vigie.app.cli", "archive", "query", "--config", str(conf),
                                "--from", "2000-01-01T00:00:00Z", "--to", "2100-01-01T00:00:00Z",
                                "--ip", "192.168.10.23", "--format", "json", "--no-progress"],
                               capture_output=True, text=True, timeout=60)
        assert query.returncode == 0, query.stderr
        import json

        rows = [json.loads(x) for x in query.stdout.splitlines() if x.strip()]
        assert len(rows) == 1
        assert (rows[0]["src_ip"], rows[0]["src_port"], rows[0]["dst_port"]) == ("192.168.10.23", 51544, 443)
        verify = subprocess.run([sys.executable, "-m", "vigie.app.cli", "archive", "verify", "--config", str(conf)],
                                capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out
