"""The people-facing verbs against the real broker: vigie alerts/incidents read state, silence/ack/maintenance write control."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer
from vigie.schemas.codec import dumps, loads
from vigie.schemas.validate import validate
from vigie.topics import ALERTS, CONTROL

pytestmark = pytest.mark.integration

NOW = "2026-11-29T10:00:00.000000Z"


def _alert(fp: str, host: str, status: str = "firing", count: int = 1, severity: str = "critical") -> dict:
    return {"schema": "alert/1", "fingerprint": fp, "status": status, "severity": severity, "host": host,
            "site": "mairie", "component": "ifIndex=3", "summary": f"{host} link down", "first_seen": NOW,
            "last_seen": NOW, "count": count, "state_type": "hard", "flapping": False, "suppressed_by": None,
            "incident_id": None, "sources": ["trap"]}


def _config(tmp_path: Path, kafka: KafkaSettings) -> Path:
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'{kafka_table(kafka)}')
    return conf


def _vigie(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vigie.app.cli", *args], capture_output=True, text=True, timeout=60)


def test_alerts_shows_latest_state_per_fingerprint(kafka: KafkaSettings, tmp_path: Path) -> None:
    sink = KafkaSink(kafka)
    for value in (_alert("a", "rtr1"), _alert("b", "sw2", severity="warning"), _alert("a", "rtr1", count=7),
                  _alert("c", "web1"), _alert("c", "web1", status="resolved")):
        validate(value)
        sink.produce(ALERTS, dumps(value), key=value["fingerprint"].encode())
    assert sink.close(20) == 0
    conf = _config(tmp_path, kafka)
    out = _vigie("alerts", "--config", str(conf), "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = [loads(line) for line in out.stdout.splitlines()]
    assert [(r["fingerprint"], r["count"]) for r in rows] == [("a", 7), ("b", 1)]  # critical first, resolved hidden
    table = _vigie("alerts", "--config", str(conf), "--all")
    lines = table.stdout.splitlines()
    assert lines[0].split()[:4] == ["STATUS", "SEVERITY", "SITE", "HOST"]
    assert len(lines) == 4 and lines[-1].startswith("resolved")
    only = _vigie("alerts", "--config", str(conf), "--host", "sw2", "--format", "json")
    assert [loads(x)["host"] for x in only.stdout.splitlines()] == ["sw2"]


def test_alerts_follow_streams_new_values(kafka: KafkaSettings, tmp_path: Path) -> None:
    conf = _config(tmp_path, kafka)
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "alerts", "--config", str(conf), "--follow",
                             "--format", "json"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        sink = KafkaSink(kafka)
        sink.produce(ALERTS, dumps(_alert("z", "core1")), key=b"z")
        assert sink.close(20) == 0
        line = proc.stdout.readline()
        assert loads(line)["fingerprint"] == "z"
    finally:
        proc.kill()


def test_incidents_on_missing_topic_says_so(broker: KafkaSettings, tmp_path: Path) -> None:
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'{kafka_table(broker, "nothing-here.")}')
    out = _vigie("incidents", "--config", str(conf))
    assert out.returncode == 1 and "nothing-here.incidents does not exist" in out.stderr


def _control_records(kafka: KafkaSettings, want: int) -> list:
    consumer = make_consumer(kafka, "control-check")
    consumer.subscribe([kafka.topic(CONTROL)])
    got: list = []
    deadline = time.monotonic() + 30
    while len(got) < want and time.monotonic() < deadline:
        got.extend(m for m in consumer.consume(100, 0.5) if m.error() is None)
    consumer.close()
    return got


def test_silence_ack_maintenance_write_valid_commands(kafka: KafkaSettings, tmp_path: Path) -> None:
    from vigie.pipelines.correlate.silences import parse_command

    conf = _config(tmp_path, kafka)
    runs = [
        ("silence", "--id", "s1", "-m", "host=rtr1", "-m", "severity!=info", "--duration", "2h", "--reason", "works",
         "--author", "ops"),
        ("ack", "--id", "a1", "--host", "rtr1", "--reason", "on it", "--author", "ops"),
        ("maintenance", "--id", "m1", "--host", "rtr1", "--start", "2026-12-01T22:00:00+01:00", "--duration", "2h",
         "--reason", "firmware", "--author", "ops"),
        ("silence", "--expire", "s1"),
    ]
    for args in runs:
        out = _vigie(args[0], "--config", str(conf), *args[1:])
        assert out.returncode == 0, out.stderr
    records = _control_records(kafka, 4)
    assert [m.key() for m in records] == [b"s1", b"a1", b"m1", b"s1"]
    values = [loads(m.value()) if m.value() is not None else None for m in records]
    for value in values[:3]:
        validate(value)
        parse_command(value)
    assert values[0]["matchers"] == ["host=rtr1", "severity!=info"]
    assert values[1]["kind"] == "acknowledge" and values[1]["matchers"] == ["host=rtr1"]
    assert values[2]["hosts"] == ["rtr1"] and values[2]["start"] == "2026-12-01T21:00:00.000000Z"
    assert values[2]["end"] == "2026-12-01T23:00:00.000000Z"
    assert values[3] is None  # the tombstone withdraws s1


def test_bad_commands_are_refused_before_writing(kafka: KafkaSettings, tmp_path: Path) -> None:
    conf = _config(tmp_path, kafka)
    bad = _vigie("silence", "--config", str(conf), "-m", "host=~[", "--duration", "1h", "--reason", "x")
    assert bad.returncode == 2 and "not a valid regular expression" in bad.stderr
    no_reason = _vigie("silence", "--config", str(conf), "-m", "host=a", "--duration", "1h")
    assert no_reason.returncode == 2 and "--reason is required" in no_reason.stderr
    no_host = _vigie("maintenance", "--config", str(conf), "--duration", "1h", "--reason", "x")
    assert no_host.returncode == 2 and "maintenance.hosts" in no_host.stderr
