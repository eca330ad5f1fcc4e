"""`vigie up` with every service on: its one /metrics serves exactly the families docs/metrics.md lists,
children's metrics included (pipelines worker and archive sink are child processes), with real counts."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.metrics_doc import documented_families, served_families
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port

pytestmark = pytest.mark.integration


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _value(text: str, sample: str) -> float:
    """The value of one sample line (name and labels exactly as served), 0 when absent."""
    m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _config(tmp_path: Path, broker: KafkaSettings, ports: dict[str, int], hook: int) -> Path:
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'''state_dir = "{tmp_path / "state"}"
{kafka_table(broker, f"mx{ports['metrics']}.")}[metrics]
listen = "127.0.0.1:{ports["metrics"]}"
[[syslog.listeners]]
name = "udp"
transport = "udp"
listen = "127.0.0.1:{ports["syslog"]}"
[[syslog.listeners]]
name = "tcp"
transport = "tcp"
listen = "127.0.0.1:{ports["syslog"]}"
[snmp]
listen = "127.0.0.1:{ports["snmp"]}"
[checks]
http_enabled = true
http_listen = "127.0.0.1:{ports["http"]}"
token_env = "VIGIE_MX_TOKEN"
[inventory.hosts.h1]
site = "s1"
address = "127.0.0.1"
[[inventory.services]]
host = "h1"
name = "always-critical"
command = ["/bin/sh", "-c", "echo CRITICAL - test; exit 2"]
check_interval = "1s"
retry_interval = "1s"
max_check_attempts = 1
timeout = "10s"
[[inventory.services]]
host = "h1"
name = "too-slow"
command = ["/bin/sleep", "30"]
check_interval = "1s"
retry_interval = "1s"
timeout = "1s"
[[inventory.pollers]]
name = "room-temp"
hosts = ["h1"]
port = {ports["poll"]}
community_env = "VIGIE_MX_COMMUNITY"
interval = "1s"
timeout = "0.2s"
retries = 0
[[inventory.pollers.items]]
label = "inlet"
oid = "1.3.6.1.4.1.8072.9999.9999.7.1"
[[routes]]
name = "ops"
webhook = "http://127.0.0.1:{hook}/hook"
[archive]
idle_flush = "1s"
''')
    return conf


def test_up_serves_exactly_the_documented_families_with_children_counted(broker: KafkaSettings,
                                                                         tmp_path: Path) -> None:
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    ports = {k: free_port() for k in ("metrics", "syslog", "snmp", "http", "poll")}
    conf = _config(tmp_path, broker, ports, hook.server_address[1])
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "up", "--config", str(conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, VIGIE_MX_TOKEN="tok", VIGIE_MX_COMMUNITY="public"))
    url = f"http://127.0.0.1:{ports['metrics']}/metrics"
    want = documented_families()
    # what must have happened, beyond the families existing: every part counted real work
    musts = [
        'vigie_pipeline_records_in_total{stage="normalize"}',
        'vigie_pipeline_records_out_total{stage="correlate",topic="alerts"}',
        "vigie_alerts_open",
        "vigie_incidents_open",
        "vigie_archive_rows_written_total",
        "vigie_archive_files_written_total",
        "vigie_archive_last_file_timestamp_seconds",
        'vigie_check_results_total{state="CRITICAL"}',
        "vigie_check_plugin_timeouts_total",
        'vigie_snmp_polls_total{state="UNKNOWN"}',  # nothing answers on the poll port
        'vigie_notifications_sent_total{channel="webhook",route="ops"}',
    ]
    text, served = "", set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # rows for the archive
                    s.sendto(b"<134>Dec  7 10:00:00 fw1 kernel: accepted 10.0.0.1:1234 -> 10.0.0.2:80",
                             ("127.0.0.1", ports["syslog"]))
                with urllib.request.urlopen(url, timeout=5) as resp:
                    text = resp.read().decode()
            except OSError:
                time.sleep(0.5)
                continue
            served = served_families(text)
            if served >= want and all(_value(text, m) > 0 for m in musts):
                break
            time.sleep(1)
        assert served == want, (f"served, not documented: {sorted(served - want)}; "
                                f"documented, not served: {sorted(want - served)}")
        assert [m for m in musts if _value(text, m) <= 0] == [], text
        assert 0 <= _value(text, "vigie_archive_manifest_head_age_seconds") < 120
        assert re.search(r'^vigie_build_info\{python="[\d.]+",version="[^"]+"\} 1\.0$', text, re.M)
        assert re.search(r'^vigie_consumer_lag\{group="[^"]+",topic="mx\d+\.raw\.syslog"\} \d', text, re.M)

        # a child that dies: its live gauges leave the sums, its counters stay, the supervisor counts a restart
        pids = [int(p) for p in subprocess.run(["pgrep", "-f", f"service pipelines .*{conf}"], text=True,
                                               capture_output=True).stdout.split()]
        assert len(pids) == 1
        normalized = _value(text, 'vigie_pipeline_records_in_total{stage="normalize"}')
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            if _value(text, 'vigie_service_restarts_total{service="pipelines"}') >= 1:
                break
            time.sleep(0.2)
        assert _value(text, 'vigie_service_restarts_total{service="pipelines"}') >= 1
        assert _value(text, 'vigie_pipeline_records_in_total{stage="normalize"}') >= normalized
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, out
    finally:
        hook.shutdown()
        if proc.poll() is None:
            proc.kill()
