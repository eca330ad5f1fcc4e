"""`vigie notify` delivers a route's notifications to a webhook in Alertmanager's format, with retries."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry

from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer
from vigie.pipelines.notify.base import HttpTarget
from vigie.pipelines.notify.delivery import RetryPolicy
from vigie.pipelines.notify.runner import RouteSettings, run_notifier
from vigie.pipelines.notify.webhook import WebhookChannel
from vigie.schemas.codec import dumps, loads
from vigie.schemas.validate import validate
from vigie.stage_metrics import NotifyMetrics
from vigie.topics import DEADLETTER, NOTIFICATIONS

pytestmark = pytest.mark.integration

NOW = "2026-11-29T10:00:00.000000Z"


class Receiver:
    """A webhook receiver that answers the given statuses in turn (then 200) and keeps the bodies."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.attempts += 1
                status = outer.statuses.pop(0) if outer.statuses else 200
                if status == 200:
                    outer.bodies.append(json.loads(body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _notification(route: str, host: str, reason: str = "new") -> dict:
    alert = {"schema": "alert/1", "fingerprint": f"{host}|check|PING", "status": "firing", "severity": "critical",
             "host": host, "site": "mairie", "component": "PING", "summary": f"{host} unreachable",
             "first_seen": NOW, "last_seen": NOW, "count": 1, "state_type": "hard", "flapping": False,
             "suppressed_by": None, "incident_id": "inc-1", "sources": ["check"]}
    value = {"schema": "notification/1", "route": route, "receiver": route, "reason": reason, "alert": alert,
             "incident": None, "at": NOW}
    validate(value)
    return value


def _webhook_route(route: str, url: str, min_backoff: float, max_backoff: float = 60.0) -> RouteSettings:
    """A route delivering to one webhook receiver named after it (the `webhook = ...` shorthand)."""
    return RouteSettings(route, [WebhookChannel(route, HttpTarget(url))], policy=RetryPolicy(min_backoff, max_backoff))


def _run(kafka: KafkaSettings, settings: RouteSettings,
         metrics: NotifyMetrics | None = None) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_notifier, args=(kafka, settings, stop, True, metrics), daemon=True)
    thread.start()
    return thread, stop


def _counts(registry: CollectorRegistry) -> tuple[float | None, float | None]:
    """(sent, failed) notifications of route staff, as /metrics would show them."""
    labels = {"route": "staff", "channel": "webhook"}
    return (registry.get_sample_value("vigie_notifications_sent_total", labels),
            registry.get_sample_value("vigie_notifications_failed_total", labels))


def _wait(cond, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cond()


def test_delivers_own_route_after_retries_and_commits(kafka: KafkaSettings) -> None:
    receiver = Receiver([500, 503])
    settings = _webhook_route("staff", receiver.url, min_backoff=0.05, max_backoff=0.1)
    sink = KafkaSink(kafka)
    sink.produce(NOTIFICATIONS, dumps(_notification("oncall", "sw9")), key=b"oncall")
    sink.produce(NOTIFICATIONS, dumps(_notification("staff", "rtr1")), key=b"staff")
    assert sink.close(20) == 0
    registry = CollectorRegistry()
    metrics = NotifyMetrics(registry)
    thread, stop = _run(kafka, settings, metrics)
    _wait(lambda: len(receiver.bodies) == 1)
    stop.set()
    thread.join(10)
    body = receiver.bodies[0]
    assert receiver.attempts == 3  # two failures, then delivered
    assert _counts(registry) == (1, 0)  # retries are not failures; oncall's notification is not ours
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "staff"
    assert body["alerts"][0]["labels"]["host"] == "rtr1"  # the other route's notification was not sent
    assert body["alerts"][0]["labels"]["severity"] == "critical"
    assert body["commonAnnotations"]["vigie_reason"] == "new"
    # Restarted: the committed offset means nothing is sent twice; a new notification is.
    sink = KafkaSink(kafka)
    sink.produce(NOTIFICATIONS, dumps(_notification("staff", "sw2", "repeat")), key=b"staff")
    assert sink.close(20) == 0
    thread, stop = _run(kafka, settings)
    _wait(lambda: len(receiver.bodies) == 2)
    time.sleep(1)
    stop.set()
    thread.join(10)
    assert [b["alerts"][0]["labels"]["host"] for b in receiver.bodies] == ["rtr1", "sw2"]


def test_refused_notification_is_dead_lettered(kafka: KafkaSettings) -> None:
    receiver = Receiver([400])
    settings = _webhook_route("staff", receiver.url, min_backoff=0.05)
    value = dumps(_notification("staff", "rtr1"))
    sink = KafkaSink(kafka)
    sink.produce(NOTIFICATIONS, value, key=b"staff")
    assert sink.close(20) == 0
    registry = CollectorRegistry()
    metrics = NotifyMetrics(registry)
    thread, stop = _run(kafka, settings, metrics)
    consumer = make_consumer(kafka, "dl-check")
    consumer.subscribe([kafka.topic(DEADLETTER)])
    got = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = [m for m in consumer.consume(10, 0.5) if m.error() is None]
    consumer.close()
    stop.set()
    thread.join(10)
    dl = loads(got[0].value())
    validate(dl)
    assert dl["stage"] == "notify" and "HTTP 400" in dl["error"]
    assert base64.b64decode(dl["raw"]) == value
    assert receiver.bodies == []
    assert _counts(registry) == (0, 1)
