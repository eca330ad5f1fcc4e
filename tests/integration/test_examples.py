"""The subscribers of examples/ run against the real broker: a Faust agent forwarding new incidents to a
ticketing API (a local server), a kafka-python consumer printing one site's alerts, a confluent-kafka one
counting events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.notify_servers import HttpServer, Request
from tests.tools import TEST_PASSWORD_ENV
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.schemas.codec import dumps
from vigie.schemas.validate import validate
from vigie.topics import ALERTS, EVENTS, INCIDENTS

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = "2026-12-07T10:00:00.000000Z"


def alert(host: str, site: str, severity: str = "critical") -> dict:
    value = {"schema": "alert/1", "fingerprint": f"{host}|check|PING", "status": "firing", "severity": severity,
             "host": host, "site": site, "component": "PING", "summary": f"{host} down", "first_seen": NOW,
             "last_seen": NOW, "count": 1, "state_type": "hard", "flapping": False, "suppressed_by": None,
             "incident_id": None, "sources": ["check"]}
    validate(value)
    return value


def incident(ident: str, status: str = "open") -> dict:
    value = {"schema": "incident/1", "id": ident, "status": status, "opened_at": NOW, "updated_at": NOW,
             "resolved_at": None if status == "open" else NOW, "severity": "critical", "site": "mairie",
             "root_cause": {"host": "rtr1", "component": "PING", "reason": "parent down"},
             "alerts": ["rtr1|check|PING", "sw2|check|PING"], "explain": ["rtr1 is the parent of sw2"]}
    validate(value)
    return value


def _auth(kafka: KafkaSettings) -> list[str]:
    """The examples' options for the test broker's user (the password through the environment)."""
    return ["--user", kafka.sasl_username, "--password-env", TEST_PASSWORD_ENV] if kafka.sasl_username else []


def produce(kafka: KafkaSettings, topic: str, items: list[tuple[bytes, dict | None]]) -> None:
    sink = KafkaSink(kafka)
    for key, value in items:
        sink.produce(topic, None if value is None else dumps(value), key=key)
    assert sink.close(20) == 0


def test_faust_agent_opens_one_ticket_per_new_incident(kafka: KafkaSettings, tmp_path: Path) -> None:
    def check(req: Request) -> str | None:
        if req.method != "POST" or req.headers.get("Content-Type") != "application/json":
            return "POST application/json expected"
        return None if {"title", "external_id", "alerts"} <= set(json.loads(req.body)) else "fields"

    tickets = HttpServer(check=check)
    produce(kafka, INCIDENTS, [(b"inc-1", incident("inc-1")), (b"inc-1", incident("inc-1")),  # an update
                               (b"inc-2", incident("inc-2", "resolved")), (b"inc-3", incident("inc-3")),
                               (b"inc-4", None)])  # a tombstone
    env = dict(os.environ, VIGIE_BOOTSTRAP=kafka.bootstrap_servers, VIGIE_TOPIC_PREFIX=kafka.topic_prefix,
               VIGIE_KAFKA_USERNAME=kafka.sasl_username or "", VIGIE_KAFKA_PASSWORD=kafka.sasl_password or "",
               TICKETS_URL=f"{tickets.url}/api/tickets", TICKETS_DATADIR=str(tmp_path))
    worker = subprocess.Popen([sys.executable, str(EXAMPLES / "tickets_faust.py"), "worker", "--without-web",
                               "-l", "warn"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while len(tickets.requests) < 2 and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        time.sleep(1)  # a second ticket for inc-1 would come now
    finally:
        worker.terminate()
        worker.wait(30)
        tickets.close()
    assert tickets.problems == []
    assert sorted(json.loads(r.body)["external_id"] for r in tickets.requests) == ["inc-1", "inc-3"]


def test_kafka_python_consumer_prints_one_sites_alerts(kafka: KafkaSettings) -> None:
    produce(kafka, ALERTS, [(b"a", alert("rtr1", "mairie")), (b"b", alert("sw9", "ecole")),
                            (b"c", alert("ap3", "mairie", "warning")), (b"a", None)])
    out = subprocess.run([sys.executable, str(EXAMPLES / "site_alerts_kafka_python.py"), "--bootstrap",
                          kafka.bootstrap_servers, "--prefix", kafka.topic_prefix, "--site", "mairie",
                          "--from-beginning", "--idle-timeout", "5", *_auth(kafka)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split("\n")[:-1]) == ["firing   critical rtr1 PING: rtr1 down",
                                                   "firing   warning  ap3 PING: ap3 down"]


def test_confluent_consumer_counts_events_per_site_and_severity(kafka: KafkaSettings) -> None:
    events = [{"schema": "event/1", "site": site, "severity": sev} for site, sev in
              [("mairie", "critical"), ("mairie", "critical"), ("ecole", "warning"), ("mairie", "info")]]
    produce(kafka, EVENTS, [(b"k", e) for e in events])
    out = subprocess.run([sys.executable, str(EXAMPLES / "alerts_confluent.py"), "--bootstrap",
                          kafka.bootstrap_servers, "--prefix", kafka.topic_prefix, "--group", "example-counts",
                          "--from-beginning", "--max", "4", *_auth(kafka)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["ecole warning 1", "mairie critical 2", "mairie info 1"]
