"""The reference notification consumer: delivers one route's notifications to a webhook, Alertmanager-style.

It reads the notifications topic in its own consumer group (`vigie-notify-<route>`), posts each
notification for its route as an Alertmanager webhook payload (version 4), retries with
exponential back-off on network errors, 5xx and 429, and commits the offset only once the
receiver has answered 2xx — so a crash re-sends rather than loses (at-least-once). A
notification the receiver refuses for good (other 4xx), or that still fails after
max_retry_time, goes to the dead-letter topic with the reason and its bytes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer
from vigie.pipelines.correlate.routing import alertmanager_webhook_payload
from vigie.schemas.codec import dumps, loads
from vigie.sink import dead_letter
from vigie.topics import NOTIFICATIONS

if TYPE_CHECKING:
    from vigie.stage_metrics import NotifyMetrics

log = logging.getLogger("vigie.notify")


@dataclass(frozen=True)
class WebhookSettings:
    """Where one route's notifications go and how hard to try."""

    route: str
    url: str
    timeout: float = 10.0
    min_backoff: float = 1.0
    max_backoff: float = 60.0
    max_retry_time: float = 600.0
    external_url: str = ""
    bearer_token: str | None = None


class Permanent(Exception):
    """The receiver refused the notification for good (4xx other than 408/429)."""


def payload_for(notification: dict[str, Any], settings: WebhookSettings) -> dict[str, Any]:
    """The Alertmanager webhook body for one notification (its alert, or the incident's alerts)."""
    alert = notification.get("alert")
    alerts = [alert] if alert else []
    body = alertmanager_webhook_payload(alerts, notification.get("receiver") or settings.route,
                                        external_url=settings.external_url)
    body["groupLabels"] = {"route": settings.route}
    body["commonAnnotations"] = {**body["commonAnnotations"], "vigie_reason": notification.get("reason", "")}
    if notification.get("incident"):
        body["commonAnnotations"]["incident_id"] = notification["incident"].get("id", "")
    return body


def post(settings: WebhookSettings, body: bytes) -> int:
    """POST once; returns the HTTP status, raises Permanent on a final refusal, OSError on retryable failures."""
    headers = {"Content-Type": "application/json", "User-Agent": "vigie-notify"}
    if settings.bearer_token:
        headers["Authorization"] = f"Bearer {settings.bearer_token}"
    req = urllib.request.Request(settings.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=settings.timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise Permanent(f"HTTP {exc.code} from {settings.url}") from None
        raise OSError(f"HTTP {exc.code} from {settings.url}") from None


def deliver(settings: WebhookSettings, body: bytes, stop: threading.Event) -> str | None:
    """Post with retries; None on success, else the reason it was given up."""
    deadline = time.monotonic() + settings.max_retry_time
    backoff = settings.min_backoff
    while True:
        try:
            post(settings, body)
            return None
        except Permanent as exc:
            return str(exc)
        except OSError as exc:
            if time.monotonic() + backoff > deadline:
                return f"gave up after {settings.max_retry_time:.0f} s: {exc}"
            log.warning("webhook %s failed (%s); retrying in %.1f s", settings.route, exc, backoff)
            if stop.wait(backoff * (0.8 + 0.4 * random.random())):
                return "stopped"
            backoff = min(settings.max_backoff, backoff * 2)


def run_notifier(kafka: KafkaSettings, settings: WebhookSettings, stop: threading.Event,
                 from_beginning: bool = False, metrics: NotifyMetrics | None = None) -> None:
    """Consume the route's notifications until stop is set; offsets are committed after each delivery.

    A route's first start reads from the topic's end (an old backlog is not sent to a new
    receiver) unless from_beginning; later starts resume at the committed offset.
    """
    reset = "earliest" if from_beginning else "latest"
    consumer = make_consumer(kafka, f"vigie-notify-{settings.route}", **{"auto.offset.reset": reset})
    consumer.subscribe([kafka.topic(NOTIFICATIONS)])
    sink: KafkaSink | None = None
    sent, failed = metrics.route(settings.route) if metrics is not None else (None, None)
    try:
        while not stop.is_set():
            for msg in consumer.consume(100, 0.5):
                if msg.error() is not None:
                    continue
                raw = msg.value() or b""
                try:
                    value = loads(raw)
                except ValueError as exc:
                    value, problem = None, f"undecodable notification: {exc}"
                else:
                    problem = None
                if value is not None and value.get("route") != settings.route:
                    continue
                if value is not None:
                    problem = deliver(settings, dumps(payload_for(value, settings)), stop)
                    if problem == "stopped":
                        return  # not committed: delivered again after the restart
                if value is not None and problem is None and sent is not None:
                    sent.inc()
                if problem:
                    if failed is not None:
                        failed.inc()
                    log.error("notification for route %s dead-lettered: %s", settings.route, problem)
                    sink = sink or KafkaSink(kafka, linger_ms=0)
                    dead_letter(sink, settings.route, "notify", problem, raw,
                                {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()})
                    sink.flush(10)
                consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()
        if sink is not None:
            sink.close()
