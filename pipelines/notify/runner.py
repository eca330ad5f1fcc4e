"""The notifier: reads the notifications topic and delivers each of a route's messages to its receivers.

One consumer group per route (`vigie-notify-<route>`); offsets are committed once per consumed
batch, after every message of the batch is delivered or given up, and the delivery-state table
(state.py) makes the re-read after a crash skip the receivers that already have a message: at least
once, and at most once per receiver in practice. A delivery given up (refused for good, or failing
past the give-up age) goes to the dead-letter topic with the receiver and the reason, and a
`notification_failed` message goes to the route's fallback receiver.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer
from vigie.pipelines.notify.base import Channel
from vigie.pipelines.notify.delivery import Observer, RetryPolicy, deliver
from vigie.pipelines.notify.state import DeliveryState, StateStore
from vigie.schemas.codec import loads
from vigie.sink import dead_letter
from vigie.topics import NOTIFICATIONS

if TYPE_CHECKING:
    from vigie.stage_metrics import NotifyMetrics

log = logging.getLogger("vigie.notify")
STATE_RETENTION = 30 * 86400.0  # the notifications topic's retention: no message older than that is read again


@dataclass
class RouteSettings:
    """One route's receivers, fallback, retry policy, where the delivery state lives (None: memory) and how long
    its rows are kept after their last change."""

    route: str
    channels: list[Channel]
    fallback: Channel | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    state_path: str | None = None
    state_retention: float = STATE_RETENTION

    @property
    def group(self) -> str:
        return f"vigie-notify-{self.route}"


def expiry_interval(retention: float) -> float:
    """How often the state is swept for expired rows: a tenth of the retention, at most hourly."""
    return min(3600.0, retention / 10)


def message_id(value: dict[str, Any], topic: str, partition: int, offset: int) -> str:
    """The message's own id (correlate sets it, stable across its re-productions), else where it was read."""
    given = value.get("id")
    return given if isinstance(given, str) and given else f"{topic}/{partition}/{offset}"


def notice_id(mid: str, receiver: str) -> str:
    """The id of the `notification_failed` message for one given-up delivery (told once to the fallback)."""
    return hashlib.sha256(f"{mid}|notification_failed|{receiver}".encode()).hexdigest()


def state_keys(mid: str, settings: RouteSettings) -> list[tuple[str, str]]:
    """Every (message id, receiver) row one message may touch: its receivers, and the fallback's notices."""
    keys = [(mid, ch.receiver) for ch in settings.channels]
    if settings.fallback is not None:
        keys += [(notice_id(mid, ch.receiver), settings.fallback.receiver) for ch in settings.channels]
    return keys


def failure_notice(value: dict[str, Any], mid: str, receiver: str, error: str) -> dict[str, Any]:
    """The `notification_failed` message told to a route's fallback receiver."""
    notice = {"schema": "notification/1", "id": notice_id(mid, receiver),
              "route": value.get("route", ""), "reason": "notification_failed",
              "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
              "alert": value.get("alert"), "incident": value.get("incident"),
              "failure": {"receiver": receiver, "error": error, "message_id": mid,
                          "reason": value.get("reason", "")}}
    if value.get("alerts"):
        notice["alerts"] = value["alerts"]
    return notice


class DeadLetters:
    """The notifier's dead-letter producer, made at the first letter (most runs write none)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.sink: KafkaSink | None = None
        self.lock = threading.Lock()

    def writer(self, route: str, raw: bytes, origin: dict[str, Any]) -> Callable[[str], None]:
        """A function dead-lettering this message with a reason (called from any thread)."""
        def dead(error: str) -> None:
            log.error("notification for route %s dead-lettered: %s", route, error)
            with self.lock:
                self.sink = self.sink or KafkaSink(self.kafka, linger_ms=0)
                dead_letter(self.sink, route, "notify", error, raw, origin)
                self.sink.flush(10)
        return dead

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


class Reporter(Observer):
    """Metrics of every attempt, and the dead letter of a given-up delivery."""

    def __init__(self, route: str, metrics: NotifyMetrics | None, dead: Any) -> None:
        self.route, self.metrics, self.dead = route, metrics, dead

    def sent(self, channel: Channel, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.delivered(self.route, channel.receiver, channel.kind, seconds)

    def retry(self, channel: Channel, error: str) -> None:
        if self.metrics is not None:
            self.metrics.retried(channel.receiver, channel.kind)

    def gave_up(self, channel: Channel, error: str) -> None:
        self.dead(f"receiver {channel.receiver}: {error}")
        if self.metrics is not None:
            self.metrics.given_up(self.route, channel.receiver, channel.kind)


def run_notifier(kafka: KafkaSettings, settings: RouteSettings, stop: threading.Event,
                 from_beginning: bool = False, metrics: NotifyMetrics | None = None,
                 joined: threading.Event | None = None) -> None:
    """Consume the route's notifications until stop is set.

    A route's first start reads from the topic's end (an old backlog is not sent to a new
    receiver) unless from_beginning; later starts resume at the committed offset.
    """
    reset = "earliest" if from_beginning else "latest"
    consumer = make_consumer(kafka, settings.group, **{"auto.offset.reset": reset})
    if joined is None:
        consumer.subscribe([kafka.topic(NOTIFICATIONS)])
    else:
        consumer.subscribe([kafka.topic(NOTIFICATIONS)], on_assign=lambda c, parts: joined.set())
    if metrics is not None:
        metrics.prepare(settings.route, [(c.receiver, c.kind) for c in settings.channels])
    state = DeliveryState(settings.state_path)
    letters = DeadLetters(kafka)
    next_purge = 0.0

    try:
        while not stop.is_set():
            if time.monotonic() >= next_purge:
                state.purge(time.time() - settings.state_retention, pending_too=True)
                next_purge = time.monotonic() + expiry_interval(settings.state_retention)
            batch = [m for m in consumer.consume(100, 0.5) if m.error() is None]
            for msg in batch:
                raw = msg.value() or b""
                origin = {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
                dead = letters.writer(settings.route, raw, origin)
                try:
                    value = loads(raw)
                except ValueError as exc:
                    dead(f"undecodable notification: {exc}")
                    if metrics is not None and settings.channels:
                        metrics.failed.labels(settings.route, settings.channels[0].kind).inc()
                    continue
                if not isinstance(value, dict) or value.get("route") != settings.route:
                    continue
                mid = message_id(value, msg.topic(), msg.partition(), msg.offset())
                if not deliver_message(mid, value, settings, state, stop, Reporter(settings.route, metrics, dead)):
                    return  # stopped: not committed, the restart reads it again and the state skips what was sent
            if batch:
                consumer.commit(asynchronous=False)
    finally:
        consumer.close()
        state.close()
        letters.close()


def deliver_message(mid: str, value: dict[str, Any], settings: RouteSettings, state: StateStore,
                    stop: threading.Event, reporter: Reporter) -> bool:
    """One message to the route's receivers, then its failures to the fallback; False when stopped."""
    out = deliver(mid, value, settings.channels, state, settings.policy, clock=time.time, wait=stop.wait,
                  observer=reporter, monotonic=time.monotonic)
    if out.stopped:
        return False
    if settings.fallback is None:
        return True
    for receiver, error in sorted(out.failed.items()):
        notice = failure_notice(value, mid, receiver, error)
        told = deliver(notice["id"], notice, [settings.fallback], state, settings.policy, clock=time.time,
                       wait=stop.wait, observer=reporter, monotonic=time.monotonic)
        if told.stopped:
            return False
    return True


def run_routes(kafka: KafkaSettings, routes: list[RouteSettings], stop: threading.Event,
               metrics: NotifyMetrics | None = None, from_beginning: bool = False,
               joined: list[threading.Event] | None = None) -> str | None:
    """One notifier thread per route until stop is set (`vigie service notify`); joined: one event per route.

    A route whose thread fails stops them all and is returned as one line: the process then exits and `vigie up`
    restarts it, rather than running on with a route that delivers nothing (a thread dying alone went unseen)."""
    failed: list[str] = []

    def guarded(i: int, r: RouteSettings) -> None:
        try:
            run_notifier(kafka, r, stop, from_beginning, metrics, joined[i] if joined else None)
        except Exception as exc:  # logged with its traceback, then the whole notifier stops
            log.exception("route %s: notifier failed", r.route)
            failed.append(f"route {r.route}: {type(exc).__name__}: {exc}")
            stop.set()

    threads = [threading.Thread(target=guarded, args=(i, r), name=f"notify-{r.route}", daemon=True)
               for i, r in enumerate(routes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return failed[0] if failed else None
