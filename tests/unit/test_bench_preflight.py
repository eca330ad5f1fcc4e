"""A bench that cannot run says why in one line and exits 2 at once (it once hung for 10 minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60, cwd=BENCH)


def test_syslog_bench_without_omkafka_stops_before_starting_anything() -> None:
    proc = run_bench("syslog_intake.py", "--quick", "--bootstrap", "127.0.0.1:1",
                     VIGIE_BENCH_RSYSLOG_MODULE_DIRS="/nonexistent")
    assert proc.returncode == 2
    assert proc.stdout == ""  # not even the banner: nothing was started
    assert proc.stderr.strip().splitlines() == [
        "bench/syslog_intake.py: cannot run: rsyslog's omkafka module is missing (Debian: rsyslog-kafka) "
        "(install what the benches need with: bash scripts/setup --bench)"
    ]


def test_vigie_only_scenarios_do_not_need_rsyslog(tmp_path: Path) -> None:
    """Only what the chosen scenarios use is required: here the broker's jars, which are absent."""
    proc = run_bench("syslog_intake.py", "--quick", "--scenarios", "vigie-tcp",
                     VIGIE_BENCH_RSYSLOG_MODULE_DIRS="/nonexistent", VIGIE_KAFKA_LIBS=str(tmp_path))
    assert proc.returncode == 2
    assert "omkafka" not in proc.stderr
    assert f"the Kafka broker's jars are not in {tmp_path / 'libs'}" in proc.stderr


@pytest.mark.parametrize("script", ["kafka_clients.py", "traps.py", "startup.py", "console.py"])
def test_benches_that_start_a_broker_need_its_jars(script: str, tmp_path: Path) -> None:
    proc = run_bench(script, *(["--quick"] if script != "startup.py" else []), VIGIE_KAFKA_LIBS=str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith(f"bench/{script}: cannot run: ")
    assert "Traceback" not in proc.stderr


def test_the_poller_bench_without_snmpd_stops_before_starting_anything(tmp_path: Path) -> None:
    proc = run_bench("snmp_poller.py", "--quick", PATH=str(tmp_path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("bench/snmp_poller.py: cannot run: snmpget is not installed")
