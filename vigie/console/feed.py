"""The Kafka side of the console: read the alerts, incidents, control and notifications topics into
ConsoleState, and write people's commands (control topic) and actions (audit topic).

One consumer thread, assigned every partition (no group: the console reads, it never moves anyone's
offsets). Records are handed to the event loop, which alone touches the state, so pages never lock.
The compacted topics are read from their beginning (their size is the number of live things); the
notifications topic only from its last NOTIFICATIONS_TAIL records per partition (it keeps 30 days), the
raw.checks topic (low volume: one result per service every few minutes) from its last CHECKS_TAIL.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Producer, TopicPartition

from vigie.console.state import ConsoleState
from vigie.kafka_client import KafkaSettings, make_consumer, topic_partitions, watermarks
from vigie.schemas.codec import dumps, loads
from vigie.topics import ALERTS, AUDIT, CONTROL, INCIDENTS, NOTIFICATIONS, RAW_CHECKS

log = logging.getLogger("vigie.console.feed")
NOTIFICATIONS_TAIL = 5000
CHECKS_TAIL = 20_000  # per partition: the Host page keeps the last 100 results of each service
FEED_TOPICS = (ALERTS, INCIDENTS, CONTROL, NOTIFICATIONS, RAW_CHECKS)
TAILS = {NOTIFICATIONS: NOTIFICATIONS_TAIL, RAW_CHECKS: CHECKS_TAIL}  # the others from their beginning


class Feed:
    def __init__(self, settings: KafkaSettings, state: ConsoleState, loop: asyncio.AbstractEventLoop) -> None:
        self.settings, self.state, self.loop = settings, state, loop
        self.stop = threading.Event()
        self.caught_up = threading.Event()
        self.records = 0
        self._thread = threading.Thread(target=self._run, name="console-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(5)

    def _assignment(self, consumer: Any) -> tuple[list[TopicPartition], dict[tuple[str, int], int]]:
        parts: list[TopicPartition] = []
        ends: dict[tuple[str, int], int] = {}
        for logical in FEED_TOPICS:
            topic = self.settings.topic(logical)
            for p in topic_partitions(consumer, topic):
                low, high = watermarks(consumer, topic, p)
                tail = TAILS.get(logical)
                start = OFFSET_BEGINNING if tail is None else max(low, high - tail)
                parts.append(TopicPartition(topic, p, start))
                if high > low:
                    ends[(topic, p)] = high
        return parts, ends

    def _run(self) -> None:
        consumer = make_consumer(self.settings, f"vigie-console-{int(time.time() * 1000)}",
                                 **{"enable.auto.commit": False})
        logical_of = {self.settings.topic(t): t for t in FEED_TOPICS}
        try:
            parts, pending = self._assignment(consumer)
            consumer.assign(parts)
            if not pending:
                self._caught_up()
            while not self.stop.is_set():
                batch = consumer.consume(500, 0.2)
                out = []
                for msg in batch:
                    if msg.error() is not None:
                        continue
                    raw = msg.value()
                    try:
                        value = loads(raw) if raw is not None else None
                    except ValueError:
                        log.warning("%s[%d]@%d: not JSON, skipped", msg.topic(), msg.partition(), msg.offset())
                        continue
                    out.append((logical_of[msg.topic()], (msg.key() or b"").decode("utf-8", "replace"), value))
                    where = (msg.topic(), msg.partition())
                    if where in pending and msg.offset() + 1 >= pending[where]:
                        del pending[where]
                if out:
                    self.records += len(out)
                    self.loop.call_soon_threadsafe(self._apply, out)
                if not pending and not self.caught_up.is_set():
                    self._caught_up()
        finally:
            consumer.close()

    def _apply(self, records: list[tuple[str, str, Any]]) -> None:
        for logical, key, value in records:
            self.state.apply(logical, key, value)

    def _caught_up(self) -> None:
        def mark() -> None:
            self.state.caught_up = True
            self.caught_up.set()

        self.loop.call_soon_threadsafe(mark)


class Writer:
    """People's commands to the control topic and their actions to the audit topic, acknowledged by the broker."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer = Producer({**settings.librdkafka(), "acks": "all", "enable.idempotence": True,
                                   "message.timeout.ms": 10_000})

    def _send(self, logical: str, key: str, value: dict[str, Any] | None, timeout: float) -> None:
        errors: list[str] = []
        self._producer.produce(self.settings.topic(logical), dumps(value) if value is not None else None,
                               key.encode(), on_delivery=lambda err, _m: errors.append(str(err)) if err else None)
        if self._producer.flush(timeout):
            raise TimeoutError(f"the broker did not take the {logical} record within {timeout:g} s")
        if errors:
            raise RuntimeError(f"the broker refused the {logical} record: {errors[0]}")

    def control(self, key: str, value: dict[str, Any] | None, timeout: float = 10.0) -> None:
        """A control/1 command (value None withdraws it), written before the page says it is done."""
        self._send(CONTROL, key, value, timeout)

    def audit(self, entry: dict[str, Any], timeout: float = 10.0) -> None:
        self._send(AUDIT, str(entry.get("user", "")), entry, timeout)
