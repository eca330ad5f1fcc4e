"""The one module that talks to Kafka clients: settings, the producer sink, consumers and the admin client.

Intake needs 50,000 records/s and the archive 100,000 rows/s on two cores; kafka-python reaches
about 8,000/s from one process, so the hot paths use confluent-kafka (librdkafka). kafka-python
stays a dependency for tools and tests, and Faust uses aiokafka; all three read the settings here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer as _Consumer
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from vigie.log_limit import LimitedLogger, LogLimiter
from vigie.sink import BufferFull, Headers
from vigie.topics import full_name

log = logging.getLogger(__name__)

# librdkafka logs each failed reconnect ("Connect to ipv4#...: Connection refused"): 31,903 lines in 8
# minutes of broker outage. Its lines go through one limiter per process: one line per facility a minute.
LIBRDKAFKA_LOG = LimitedLogger(LogLimiter(logging.getLogger("vigie.librdkafka"), 60.0))


def limited_logging(conf: dict[str, Any]) -> dict[str, Any]:
    """Route the client's log lines to Python logging through LIBRDKAFKA_LOG (served by poll()/consume()).

    Only for clients that are polled all along (the sink's poll thread, consumers): an admin client queues
    its lines until someone polls it, so it keeps librdkafka's own stderr logger.
    """
    conf.setdefault("logger", LIBRDKAFKA_LOG)
    return conf


@dataclass(frozen=True)
class KafkaSettings:
    """Where the brokers are and how to authenticate; secrets are read from the environment by config."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "vigie."
    security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    sasl_mechanism: str | None = None  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    replication_factor: int = 1

    def topic(self, logical: str) -> str:
        """The broker-side name of a logical topic."""
        return full_name(self.topic_prefix, logical)

    def librdkafka(self) -> dict[str, Any]:
        """Connection settings in librdkafka (confluent-kafka) form."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol.lower(),
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username or ""
            conf["sasl.password"] = self.sasl_password or ""
        if self.ssl_cafile:
            conf["ssl.ca.location"] = self.ssl_cafile
        return conf

    def kafka_python(self) -> dict[str, Any]:
        """Connection settings in kafka-python form."""
        conf: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.ssl_cafile:
            conf["ssl_cafile"] = self.ssl_cafile
        return conf

    def faust_broker(self) -> str:
        """The broker URL Faust (aiokafka) expects."""
        return ";".join(f"kafka://{s.strip()}" for s in self.bootstrap_servers.split(","))


DeliveryCallback = Callable[[str, float], None]

# Producer.produce() taken positionally: (topic, value, key, partition, callback, on_delivery, timestamp,
# headers). Keyword arguments cost about 1 us per call (the C function parses them by name each
# time); -1 is RD_KAFKA_PARTITION_UA (the partitioner decides), None the producer's own delivery
# callback and 0 "now": the values produce() defaults to.
_ANY_PARTITION = -1


class KafkaSink:
    """A RecordSink over the idempotent confluent-kafka producer, with a bounded memory budget.

    When the broker is away librdkafka keeps records in its queue and retries forever
    (message.timeout.ms=0); once the budget is spent produce() raises BufferFull so that TCP
    and HTTP listeners push back and UDP listeners count a drop. Delivery reports reach Python
    only for errors (a per-record callback halves the throughput); produce latency is sampled:
    every 512th record's enqueue time is kept and observed once the producer's queue has
    drained past it (librdkafka acknowledges a partition's records in order).
    """

    SAMPLE_EVERY = 512

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        buffer_bytes: int = 256 * 1024 * 1024,
        linger_ms: int = 5,
        on_delivered: DeliveryCallback | None = None,
        on_failed: Callable[[str, str], None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        conf = settings.librdkafka()
        conf.update(
            {
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": linger_ms,
                "message.timeout.ms": 0,
                "queue.buffering.max.kbytes": max(1024, buffer_bytes // 1024),
                "queue.buffering.max.messages": 2_000_000,
                "compression.type": "lz4",
                "batch.size": 1_000_000,
                "delivery.report.only.error": True,
                "on_delivery": self._report_error,
            }
        )
        conf.update(extra or {})
        self.settings = settings
        self._producer = Producer(limited_logging(conf))
        self._names: dict[str, str] = {}
        self._on_delivered = on_delivered
        self._on_failed = on_failed
        # a closed sink purges what is still queued and each purged record reports an error: one line each
        # would be as many lines as records (the count is logged by close())
        self._failure_log = LogLimiter(log, 60.0)
        self.produced = 0
        self.failed = 0
        self._delivered = 0  # the highest delivered() seen: a Prometheus counter never goes back
        self._samples: deque[tuple[int, float, str]] = deque()
        self._room = threading.Event()
        self._room.set()
        self._full_at = 1
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-sink-poll", daemon=True)
        self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)  # also serves librdkafka's log lines
            LIBRDKAFKA_LOG.limiter.flush()
            self._drain_samples()
            if not self._room.is_set() and len(self._producer) < 0.8 * self._full_at:
                self._room.set()

    def _drain_samples(self) -> None:
        if not self._samples:
            return
        acked = self.produced - len(self._producer)
        now = time.monotonic()
        while self._samples and self._samples[0][0] <= acked:
            _, t, topic = self._samples.popleft()
            if self._on_delivered:
                self._on_delivered(topic, now - t)

    def delivered(self) -> int:
        """Records the broker has acknowledged so far: produced, minus still queued, minus refused.

        len(Producer) also counts librdkafka's own queued events (a "connection refused" error, say), so
        the difference can dip below what it was a moment before, even below zero: the figure is kept
        monotonic, as the counter it feeds must be.
        """
        now = self.produced - len(self._producer) - self.failed
        if now > self._delivered:
            self._delivered = now
        return self._delivered

    def _name(self, logical: str) -> str:
        name = self._names.get(logical)
        if name is None:
            name = self._names[logical] = self.settings.topic(logical)
        return name

    def _report_error(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            return
        self.failed += 1
        self._failure_log.log(
            f"delivery failed: {err.name()}", logging.ERROR, "delivery to %s failed: %s", msg.topic(), err
        )
        if self._on_failed:
            self._on_failed(msg.topic().removeprefix(self.settings.topic_prefix), str(err))

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()) -> None:
        """Queue one record; raises BufferFull when librdkafka's queue is full."""
        try:
            self._producer.produce(self._name(topic), value, key, _ANY_PARTITION, None, None, 0, headers or None)
        except BufferError as exc:
            # Room reopens once a fifth of what was queued at this moment has been acknowledged.
            self._full_at = max(1, len(self._producer))
            self._room.clear()
            raise BufferFull(str(exc)) from exc
        self.produced += 1
        if not self.produced % self.SAMPLE_EVERY:
            self._samples.append((self.produced, time.monotonic(), topic))

    def produce_many(
        self, topic: str, values: list[bytes], key: bytes | None = None, headers: Headers = (), start: int = 0
    ) -> int:
        """Queue values[start:] in order, all with one key and one header list; returns where it stopped.

        The result is len(values) when every record was queued; otherwise it is the index of the
        first record not queued, left to the caller: produce() on it says why (BufferFull while the
        buffer is spent, or the client's own error). Same records, accounting and latency samples
        as produce() one by one, without a Python call per record in between (intake hot path).
        """
        produce, name = self._producer.produce, self._name(topic)
        hdrs = list(headers) if headers else None
        i, end = start, len(values)
        try:
            while i < end:
                produce(name, values[i], key, _ANY_PARTITION, None, None, 0, hdrs)
                i += 1
        except BufferError:
            self._full_at = max(1, len(self._producer))
            self._room.clear()
        except Exception:  # noqa: BLE001, S110 - the caller's produce() on values[i] raises it again
            pass
        if i > start:
            before, self.produced = self.produced, self.produced + i - start
            every = self.SAMPLE_EVERY
            if self.produced // every > before // every:
                self._samples.append((self.produced - self.produced % every, time.monotonic(), topic))
        return i

    def tombstone(self, topic: str, key: bytes) -> None:
        """Queue a null value for key: on a compacted topic it withdraws the key's object."""
        self._producer.produce(self._name(topic), None, key)
        self.produced += 1

    def has_room(self) -> bool:
        return self._room.is_set()

    def wait_for_room(self, timeout: float) -> bool:
        """Block up to timeout seconds until the broker has acknowledged a fifth of what filled the buffer."""
        return self._room.wait(timeout)

    def pending(self) -> int:
        """Records queued but not yet acknowledged by the broker."""
        return len(self._producer)

    def flush(self, timeout: float = 10.0) -> int:
        return self._producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> int:
        """Deliver what is queued (up to timeout) and stop the poll thread; returns what remains."""
        remaining = self._producer.flush(timeout)
        self._stop.set()
        self._poller.join(timeout=1.0)
        self._drain_samples()
        if remaining:
            log.error("%d records undelivered when the producer closed", remaining)
            # reported above; purged so that destroying the client has nothing left to wait for (a close
            # with records queued for an unreachable broker was seen to block, out of reach of any timeout)
            self._producer.purge()
            self._producer.poll(0)
        self._failure_log.flush(everything=True)
        close = getattr(self._producer, "close", None)  # confluent-kafka >= 2.11 has it
        if close is not None:
            close()  # no reconnect attempts (and log lines) from a closed sink
        return remaining


def make_consumer(settings: KafkaSettings, group_id: str, **overrides: Any) -> _Consumer:
    """A confluent-kafka consumer with manual commits: stages commit only what they have made durable."""
    return _Consumer(limited_logging(consumer_config(settings, group_id, **overrides)))


def consumer_config(settings: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """The librdkafka settings of Vigie's group consumers (manual commits, earliest, no EOF events)."""
    conf = settings.librdkafka()
    conf.update(
        {
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
        }
    )
    conf.update(overrides)
    return conf


def topic_partitions(consumer: _Consumer, topic: str, timeout: float = 30.0) -> list[int]:
    """The partitions of `topic`, waiting while the metadata of a just-created topic is still empty.

    Right after creation a broker can answer a topic's metadata with an error or no partitions yet; a
    reader assigned to that empty list would silently never see a record (found through a replicated
    table that stayed empty in a worker started with a new topic).
    """
    deadline = time.monotonic() + timeout
    while True:
        md = consumer.list_topics(topic, timeout=min(10.0, timeout)).topics.get(topic)
        if md is not None and md.error is None and md.partitions:
            return sorted(md.partitions)
        if time.monotonic() > deadline:
            why = md.error if md is not None and md.error is not None else "no partitions"
            raise TimeoutError(f"topic {topic}: metadata not available after {timeout} s ({why})")
        time.sleep(0.1)


def watermarks(consumer: _Consumer, topic: str, partition: int, timeout: float = 30.0) -> tuple[int, int]:
    """(low, high) offsets of a partition, retrying what a just-created or moving partition answers.

    Right after topic creation, or while leadership moves, brokers answer NOT_LEADER or
    UNKNOWN_TOPIC_OR_PART for a moment; those are retried until timeout, anything else is raised.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=min(10.0, timeout))
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            retriable = isinstance(err, KafkaError) and (err.retriable() or err.code() in _TRANSIENT)
            if not retriable or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(1.0, delay * 2)


_TRANSIENT = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError.LEADER_NOT_AVAILABLE,
              KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT}


def make_admin(settings: KafkaSettings) -> AdminClient:
    """The admin client used for topic management and health checks."""
    return AdminClient(settings.librdkafka())


class BrokerUnreachable(RuntimeError):
    """No Kafka broker answered; the message is the one line a command prints."""


_SILENT = logging.getLogger("vigie.librdkafka.probe")
_SILENT.disabled = True  # a probe's reconnect lines say nothing its one line does not


def require_broker(settings: KafkaSettings, timeout: float = 4.0) -> None:
    """Raise BrokerUnreachable unless a broker answers a metadata request within timeout seconds.

    Commands call it before their first Kafka client: with the broker down, librdkafka would otherwise
    retry for minutes and print a line per attempt (about 210 for `vigie alerts`) before a traceback.
    """
    try:
        AdminClient({**settings.librdkafka(), "logger": _SILENT}).list_topics(timeout=timeout)
    except KafkaException as exc:
        err = exc.args[0] if exc.args else None
        why = err.str() if isinstance(err, KafkaError) else str(exc)
        raise BrokerUnreachable(f"Kafka at {settings.bootstrap_servers} did not answer within {timeout:.0f} s "
                                f"({why}); is the broker running?") from None


def broker_answers(settings: KafkaSettings, timeout: float = 2.0) -> bool:
    """True when a broker answers a metadata request within timeout seconds."""
    try:
        make_admin(settings).list_topics(timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return False
