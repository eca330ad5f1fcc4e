"""Intake delivery against a real Kafka broker: broker restarts, every datagram accounted for, bad input, contracts."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import select
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Consumer, Message, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from tests.snmp_datagrams import sample_trap
from tests.tools import require_tool
from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer
from vigie.local_broker import LocalBroker, free_port
from vigie.producers.snmp.receiver import TrapReceiver
from vigie.producers.snmp.settings import TrapSettings
from vigie.producers.syslog.listeners import ListenerSettings, SyslogListener, make_listener
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.schemas.codec import loads
from vigie.schemas.validate import validate
from vigie.topic_admin import ensure_topics
from vigie.topics import DEADLETTER, RAW_SYSLOG, RAW_TRAPS, default_specs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

T = TypeVar("T")


# --- helpers ------------------------------------------------------------------------------------------


class LoopThread:
    """An asyncio loop in a thread: listeners run there while the test body sends, stops brokers and consumes."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="intake-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def listening(
    kafka: KafkaSettings, transport: str, sink: KafkaSink | None = None, **options: Any
) -> Iterator[tuple[SyslogListener, KafkaSink]]:
    """A syslog listener on a free loopback port writing to Kafka through its own loop thread; closed on exit."""
    sink = sink or KafkaSink(kafka)
    loop = LoopThread()
    listener = make_listener(
        ListenerSettings(name=f"delivery-{transport}", transport=transport, port=0, **options),
        sink,
        SyslogMetrics(CollectorRegistry()),
    )
    loop.run(listener.start())
    try:
        yield listener, sink
    finally:
        loop.run(listener.stop())
        loop.close()
        sink.close(30)


def until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for a condition (the timeout only bounds a failure): fails naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    meta = consumer.list_topics(topic, timeout=30).topics[topic]
    assert meta.error is None, meta.error
    return sorted(meta.partitions)


def read_all(kafka: KafkaSettings, logical: Iterable[str]) -> dict[str, list[Message]]:
    """Every record now in the topics, read from the low to the high watermark of each partition."""
    consumer = make_consumer(kafka, f"delivery-{uuid.uuid4().hex[:8]}", **{"fetch.wait.max.ms": 50})
    out: dict[str, list[Message]] = {}
    try:
        wanted: dict[tuple[str, int], int] = {}
        assign = []
        for name in logical:
            topic = kafka.topic(name)
            out[name] = []
            for p in _partitions(consumer, topic):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                if high > low:
                    wanted[(topic, p)] = high
                    assign.append(TopicPartition(topic, p, low))
        consumer.assign(assign)
        by_topic = {kafka.topic(n): n for n in out}
        misses = 0
        while wanted:
            batch = consumer.consume(10_000, 1.0)
            misses = 0 if batch else misses + 1
            assert misses < 30, f"records below the high watermark never arrived: {wanted}"
            for m in batch:
                assert m.error() is None, m.error()
                out[by_topic[m.topic()]].append(m)
                key = (m.topic(), m.partition())
                if key in wanted and m.offset() + 1 >= wanted[key]:
                    del wanted[key]
    finally:
        consumer.close()
    return out


def headers(m: Message) -> dict[str, bytes]:
    return dict(m.headers() or [])


def check_raw_headers(m: Message, transport: str) -> None:
    """raw.syslog headers follow raw_syslog_headers/1."""
    h = {k: v.decode() for k, v in headers(m).items()}
    validate({"schema": "raw_syslog_headers/1", **h})
    assert h["transport"] == transport


# --- a. broker stopped and restarted under a TCP stream -----------------------------------------------


@dataclass
class Streamer:
    """Streams numbered LF-framed messages over one TCP connection from a thread, on a non-blocking socket.

    Paced (rate per second) unless `flood` is set; counts the times the kernel refused more bytes
    (`blocked`), which is how TCP back-pressure reaches a real sender. Stops after `finish` is set
    and `tail` more messages.
    """

    port: int
    rate: int = 5000
    tail: int = 2000
    sent: int = 0
    blocked: int = 0
    flood: threading.Event = field(default_factory=threading.Event)
    finish: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    @staticmethod
    def message(seq: int) -> bytes:
        return b"<14>1 2024-05-01T10:00:00.000Z restart-test app - - - seq=%07d" % seq

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported to the test body
            self.error = exc

    def _run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.connect(("127.0.0.1", self.port))
        sock.setblocking(False)
        pace = threading.Event()
        batch, end = 50, None
        while end is None or self.sent < end:
            if end is None and self.finish.is_set():
                end = self.sent + self.tail
            n = batch if end is None else min(batch, end - self.sent)
            data = b"".join(self.message(self.sent + i) + b"\n" for i in range(n))
            view = memoryview(data)
            while view:
                try:
                    view = view[sock.send(view) :]
                except BlockingIOError:
                    self.blocked += 1
                    select.select([], [sock], [], 1.0)
            self.sent += n
            if not self.flood.is_set():
                pace.wait(batch / self.rate)
        sock.close()


@pytest.mark.slow
def test_broker_stopped_and_restarted_during_a_tcp_stream(tmp_path: Path) -> None:
    """Every message of a TCP stream arrives, once and in order, across a broker stop and restart;
    while the broker is away the sink's budget fills, the listener stops reading and TCP pushes back
    on the sender: nothing is dropped."""
    local = LocalBroker(tmp_path / "state", port=free_port(), controller_port=free_port())
    local.start(timeout=90)
    try:
        kafka = local.client_settings(topic_prefix="restart.")
        ensure_topics(kafka, default_specs(partitions=3))
        # The smallest budget the sink takes (1 MiB): a few seconds of outage overflow it.
        sink = KafkaSink(kafka, buffer_bytes=1 << 20)
        with listening(kafka, "tcp", sink) as (listener, _):
            stats = listener.stats
            streamer = Streamer(listener.port)
            sender = threading.Thread(target=streamer.run, name="tcp-streamer", daemon=True)
            sender.start()
            until(lambda: sink.delivered() >= 5000, "5,000 messages delivered before the stop")

            local.stop()  # SIGTERM: a controlled shutdown while the stream flows
            streamer.flood.set()  # send as fast as the socket lets us: fill every buffer on the way
            until(lambda: stats.paused > 0, "the listener pausing on a full sink", timeout=60)
            until(lambda: streamer.blocked > 0, "TCP back-pressure reaching the sender", timeout=60)
            sent_while_down = streamer.sent

            local.start(timeout=90)
            streamer.flood.clear()
            until(lambda: sink.delivered() > sent_while_down // 2, "deliveries resuming", timeout=60)
            streamer.finish.set()
            sender.join(60)
            assert not sender.is_alive() and streamer.error is None, streamer.error
            total = streamer.sent
            until(lambda: stats.produced == total, "the listener taking every frame", timeout=60)
            assert sink.flush(60) == 0
        assert stats.dropped == 0 and stats.errors == 0, stats.snapshot()
        assert stats.received == total

        records = read_all(kafka, [RAW_SYSLOG])[RAW_SYSLOG]
        # One sender, one key, one partition: the topic holds the stream exactly, in order.
        seqs = [int(m.value().rsplit(b"seq=", 1)[1]) for m in sorted(records, key=lambda m: m.offset())]
        assert len({m.partition() for m in records}) == 1
        missing = sorted(set(range(total)) - set(seqs))
        assert not missing, f"{len(missing)} of {total} lost, first {missing[:10]}"
        assert len(seqs) == total, f"{len(seqs) - total} duplicates"
        assert seqs == list(range(total))
        assert records[0].value() == Streamer.message(seqs[0])
        check_raw_headers(records[-1], "tcp")
    finally:
        local.stop()


# --- b. every datagram lands in raw.syslog or the dead-letter topic -----------------------------------

MAX = 512  # a small max_message_size (the listener accepts >= 480) so that over-long datagrams are cheap
MARK = re.compile(rb"@([0-9a-f]{8})-(\d+)@")

_host = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9.-]{0,20}", fullmatch=True)
_app = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,11}", fullmatch=True)


def _rfc5424(pri: int, host: str, app: str, text: str) -> Callable[[bytes], bytes]:
    return lambda mark: (
        f"<{pri}>1 2024-05-01T10:00:00.123Z {host} {app} - - - ".encode() + mark + text.encode()
    )


def _rfc3164(pri: int, host: str, app: str, text: str) -> Callable[[bytes], bytes]:
    return lambda mark: f"<{pri}>May  1 10:00:00 {host} {app}[42]: ".encode() + mark + text.encode()


def _garbage(data: bytes) -> Callable[[bytes], bytes]:
    return lambda mark: mark + data


def _overlong(seed: bytes, size: int) -> Callable[[bytes], bytes]:
    return lambda mark: (mark + seed * (size // len(seed) + 1))[:size]


# Each strategy draws a datagram with a hole for its unique marker; empty datagrams are left out on
# purpose: the UDP listener ignores them by design (RFC 5426: a datagram carries one message).
datagram = st.one_of(
    st.builds(_rfc5424, st.integers(0, 191), _host, _app, st.text(max_size=120)),
    st.builds(_rfc3164, st.integers(0, 191), _host, _app, st.text(max_size=120)),
    st.builds(_garbage, st.binary(max_size=300)),
    st.builds(_overlong, st.binary(min_size=1, max_size=16), st.integers(MAX + 1, 4 * MAX)),
)


@dataclass
class Landed:
    """What the consumer has seen so far, by marker: raw.syslog records and dead-letter values."""

    raw: dict[bytes, list[Message]] = field(default_factory=dict)
    dead: dict[bytes, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, kafka: KafkaSettings, m: Message) -> None:
        if m.topic() == kafka.topic(RAW_SYSLOG):
            found = MARK.search(m.value())
            assert found, f"a raw.syslog record without a marker: {m.value()[:80]!r}"
            self.raw.setdefault(found.group(0), []).append(m)
        else:
            value = loads(m.value())
            validate(value)  # deadletter/1
            found = MARK.search(base64.b64decode(value["raw"]))
            assert found, f"a dead letter without a marker: {value}"
            self.dead.setdefault(found.group(0), []).append(value)


def test_every_datagram_lands_in_raw_syslog_or_deadletter(kafka: KafkaSettings) -> None:
    """Property over generated datagrams (valid RFC 5424/3164, garbage bytes, over-long): each one lands
    byte for byte in raw.syslog, or, over max_message_size, its first MAX bytes land there marked
    truncated and the whole datagram lands in the dead-letter topic. Sent at a low rate on loopback,
    so no kernel drop is expected; the listener's own drop counter is checked to keep this honest."""
    run = uuid.uuid4().hex[:8].encode()
    counter = iter(range(1_000_000))
    landed = Landed()
    sent: dict[bytes, bytes] = {}
    consumer = make_consumer(kafka, f"property-{run.decode()}", **{"fetch.wait.max.ms": 50})
    with (
        listening(kafka, "udp", max_message_size=MAX) as (listener, sink),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
    ):
        assign = []
        for name in (RAW_SYSLOG, DEADLETTER):
            topic = kafka.topic(name)
            assign += [TopicPartition(topic, p, 0) for p in _partitions(consumer, topic)]
        consumer.assign(assign)

        @settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.lists(datagram, min_size=1, max_size=8))
        def every_datagram_lands(makers: list[Callable[[bytes], bytes]]) -> None:
            batch = {}
            for make in makers:
                mark = b"@%s-%d@" % (run, next(counter))
                data = batch[mark] = sent[mark] = make(mark)
                assert data and len(data) <= 65507
                sock.sendto(data, ("127.0.0.1", listener.port))
            long = {m for m, d in batch.items() if len(d) > MAX}

            def arrived() -> bool:
                for m in consumer.consume(1000, 0.1):
                    assert m.error() is None, m.error()
                    landed.add(kafka, m)
                return all(m in landed.raw for m in batch) and all(m in landed.dead for m in long)

            until(arrived, f"{len(batch)} datagrams in raw.syslog, {len(long)} in deadletter")
            for mark, data in batch.items():
                (record,) = landed.raw[mark]
                check_raw_headers(record, "udp")
                assert record.key() == b"127.0.0.1"
                if len(data) <= MAX:
                    assert record.value() == data
                    assert "truncated" not in headers(record)
                else:
                    assert record.value() == data[:MAX]
                    assert headers(record)["truncated"] == b"1"
                    (letter,) = landed.dead[mark]
                    assert base64.b64decode(letter["raw"]) == data
                    assert letter["stage"] == "syslog-intake" and letter["origin"]["transport"] == "udp"
            assert listener.stats.dropped == 0 and listener.stats.errors == 0

        every_datagram_lands()
        assert sink.flush(30) == 0
    consumer.close()

    # Nothing more than what was sent: no duplicates, no stray records.
    everything = read_all(kafka, [RAW_SYSLOG, DEADLETTER])
    assert len(everything[RAW_SYSLOG]) == len(sent)
    assert len(everything[DEADLETTER]) == sum(len(d) > MAX for d in sent.values())
    assert listener.stats.received == len(sent) and listener.stats.dropped == 0


# --- c. bad input over TCP never stops a listener -----------------------------------------------------


def _send(port: int, data: bytes, *, reset: bool = False) -> None:
    """One TCP connection that sends data, then closes (or resets, with SO_LINGER 0)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def test_garbage_over_tcp_then_a_good_message_lands(kafka: KafkaSettings) -> None:
    """Binary garbage, an absurd octet count, a reset mid-frame, an over-long frame: after each one
    the listener still takes connections and a good message lands in Kafka, byte for byte."""
    noise = random.Random(20240501).randbytes(8192)  # fixed seed: no accidental "<digits> <" header
    good = [b"<13>1 2024-05-01T10:00:00Z host app - - - good-%d after garbage" % i for i in range(5)]
    with listening(kafka, "tcp", max_message_size=1024) as (listener, sink):
        port = listener.port
        _send(port, noise + b"\n" + good[0] + b"\n")
        _send(port, b"9999999 <13>the count promises far more than this", reset=True)
        _send(port, good[1] + b"\n")
        _send(port, b"57 <13>1 half an octet-counted frame", reset=True)
        _send(port, b"%d %s" % (len(good[2]), good[2]))
        _send(port, b"<13>" + b"A" * 5000 + b"\n" + good[3] + b"\n")  # over max_message_size, then good
        _send(port, b"\x00\xff\xfe\r\n\r\n" * 100 + good[4] + b"\n")
        until(lambda: listener.stats.produced >= 7, "frames reaching the sink")
        assert sink.flush(30) == 0
        assert listener.stats.dropped == 0
    records = read_all(kafka, [RAW_SYSLOG, DEADLETTER])
    values = [m.value() for m in records[RAW_SYSLOG]]
    for message in good:
        assert values.count(message) == 1, message
    for m in records[RAW_SYSLOG]:
        check_raw_headers(m, "tcp")
    (letter,) = [loads(m.value()) for m in records[DEADLETTER]]
    validate(letter)
    assert base64.b64decode(letter["raw"]) == b"<13>" + b"A" * 5000


# --- d. traps against Kafka, values validated against their schemas -----------------------------------


def test_traps_and_rejects_land_in_kafka_and_match_their_schemas(
    kafka: KafkaSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Real snmptrap v1 and v2c traps and a Python-encoded v2c trap reach raw.traps as trap/1 values;
    garbage and an unknown community reach deadletter as deadletter/1 with the exact datagram."""
    snmptrap = require_tool("snmptrap")
    monkeypatch.setenv("MIBS", "")
    monkeypatch.setenv("SNMP_PERSISTENT_DIR", str(tmp_path / "snmp"))
    sink = KafkaSink(kafka)
    loop = LoopThread()
    receiver = TrapReceiver(TrapSettings(port=0, communities=("public",)), sink, CollectorRegistry())
    loop.run(receiver.start())
    assert receiver.address is not None
    target = f"udp:127.0.0.1:{receiver.address[1]}"
    marker = uuid.uuid4().hex[:8]
    garbage = [b"\x30\x82\xff\xff", b"not snmp " + marker.encode()]
    try:
        for args in (
            ["-v", "2c", "-c", "public", target, "", "1.3.6.1.6.3.1.1.5.3",
             "1.3.6.1.2.1.2.2.1.2.3", "s", f"v2c-{marker}"],
            ["-v", "1", "-c", "public", target, "1.3.6.1.4.1.8072.2.3", "127.0.0.1", "6", "17", "",
             "1.3.6.1.4.1.8072.2.3.2.1", "s", f"v1-{marker}"],
            ["-v", "2c", "-c", "guess", target, "", "1.3.6.1.6.3.1.1.5.4"],
        ):  # fmt: skip
            proc = subprocess.run([snmptrap, *args], capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(sample_trap(7), receiver.address)
            for data in garbage:
                sock.sendto(data, receiver.address)
        until(lambda: sink.produced >= 6, "3 traps and 3 rejects reaching the sink")
        assert sink.flush(30) == 0
    finally:
        loop.run(receiver.stop())
        loop.close()
        sink.close(30)
    records = read_all(kafka, [RAW_TRAPS, DEADLETTER])
    traps = [loads(m.value()) for m in records[RAW_TRAPS]]
    letters = [loads(m.value()) for m in records[DEADLETTER]]
    for value in traps + letters:
        validate(value)  # trap/1 or deadletter/1, named by the value itself
    assert sorted(t["version"] for t in traps) == ["v1", "v2c", "v2c"]
    texts = {str(vb["value"]) for t in traps for vb in t["varbinds"]}
    assert {f"v2c-{marker}", f"v1-{marker}", "GigabitEthernet0/3"} <= texts
    assert all(m.key() == b"127.0.0.1" for m in records[RAW_TRAPS])
    raws = [base64.b64decode(d["raw"]) for d in letters]
    assert set(garbage) <= set(raws) and any(b"guess" in r for r in raws)
    assert len(letters) == 3
