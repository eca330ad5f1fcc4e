"""`vigie service archive` reads the zones and the clock skew from the config: device times in UTC, skew flagged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.test_archive_sink import archived, wait_for
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.topics import RAW_SYSLOG

pytestmark = pytest.mark.integration


def test_service_archive_reads_device_clocks_in_their_zones(kafka: KafkaSettings, tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    root = tmp_path / "archive"
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'{kafka_table(kafka)}'
        '[syslog]\ndefault_timezone = "Europe/Paris"\n'
        '[inventory.sites.cayenne]\ntimezone = "America/Cayenne"\n'
        '[inventory.hosts.fw-cay]\nsite = "cayenne"\naddress = "10.9.0.5"\n'
        f'[archive]\nroot = "{root}"\nidle_flush = "1s"\nmax_clock_skew = "10m"\n'
    )
    lines = [  # (raw, sender): received at 2026-10-25T01:30:05Z, in Paris' second 02:30 (+01:00)
        (b"<13>Oct 25 02:30:00 fw-paris app: the repeated hour", b"10.9.0.1"),
        (b"<13>Oct 24 22:30:00 fw-cay app: a Cayenne clock (-03:00)", b"10.9.0.2"),
        (b"<189>7: *Oct 24 22:30:01.250: %SYS-5-CONFIG_I: no hostname, by the sender's address", b"10.9.0.5"),
        (b"<13>Oct 25 01:30:00 fw-paris app: a clock two hours behind (+02:00 still)", b"10.9.0.1"),
    ]
    producer = Producer(kafka.librdkafka())
    for raw, sender in lines:
        producer.produce(kafka.topic(RAW_SYSLOG), raw, sender, partition=0,
                         headers=[("received_at", b"2026-10-25T01:30:05Z"), ("transport", b"udp")])
    assert producer.flush(30) == 0
    cmd = [sys.executable, "-m", "vigie.app.cli", "service", "archive", "--config", str(conf),
           "--group", f"{kafka.topic_prefix}tz", "--log-level", "WARNING"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert wait_for(lambda: len(archived(root)) >= len(lines), 60), "archived in time"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        "SELECT strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%f'), clock_skewed "
        f"FROM read_parquet('{root}/connlog/*/*/*.parquet') ORDER BY \"offset\""
    ).fetchall()
    assert rows == [
        ("2026-10-25T01:30:00.000000", False),
        ("2026-10-25T01:30:00.000000", False),
        ("2026-10-25T01:30:01.250000", False),
        ("2026-10-24T23:30:00.000000", True),
    ]
