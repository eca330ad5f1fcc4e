"""`vigie up` with `[nsca]` enabled: send_nsca's results (Rijndael-128, the password from the environment)
reach raw.checks in Kafka, and a wrong password is counted, not written."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from tests.integration.test_up import _consume_all, _wait_metrics
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port
from vigie.schemas.codec import loads
from vigie.schemas.validate import validate

SEND_NSCA = shutil.which("send_nsca") or "/usr/sbin/send_nsca"
pytestmark = [pytest.mark.integration, pytest.mark.peer, pytest.mark.skipif(
    not Path(SEND_NSCA).exists(), reason="send_nsca not installed (scripts/setup installs nsca-client)")]


def _send(port: int, cfg: Path, text: str) -> str:
    done = subprocess.run([SEND_NSCA, "-H", "127.0.0.1", "-p", str(port), "-c", str(cfg)], input=text,
                          capture_output=True, text=True, timeout=30)
    return done.stdout


def test_up_accepts_send_nsca_into_kafka(broker: KafkaSettings, tmp_path: Path) -> None:
    mport, nport = free_port(), free_port()
    prefix = f"up-nsca-{nport}."
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(broker, prefix)}'
        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
        f'[syslog]\nenabled = false\n[snmp]\nenabled = false\n[archive]\nenabled = false\n'
        f'[checks]\nactive_enabled = false\n[pipelines]\nenabled = false\n'
        f'[nsca]\nenabled = true\nlisten = "127.0.0.1:{nport}"\nencryption = "rijndael-128"\n'
        f'password_env = "VIGIE_T_NSCA"\n')
    good, bad = tmp_path / "good.cfg", tmp_path / "bad.cfg"
    good.write_text("password=nsca-secret\nencryption_method=14\n")
    bad.write_text("password=not-it\nencryption_method=14\n")
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "up", "--config", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, VIGIE_T_NSCA="nsca-secret"))
    try:
        _wait_metrics(f"http://127.0.0.1:{mport}/metrics", proc, 60)
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", nport)) == 0:
                    break
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        assert "1 data packet(s) sent" in _send(nport, good, "web1\tHTTP\t2\tHTTP CRITICAL - down|time=3s;1;2\x17")
        _send(nport, bad, "web1\tHTTP\t0\tforged\x17")
        (record,) = _consume_all(replace(broker, topic_prefix=prefix),
                                 "raw.checks", 2, timeout=15)
        value = loads(record.value())
        validate(value)
        assert (value["host"], value["service"], value["status"], value["source"]) == ("web1", "HTTP", 2, "passive")
        assert dict(record.headers())["listener"] == b"nsca"
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
        assert 'vigie_checks_deadlettered_total{listener="nsca"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
