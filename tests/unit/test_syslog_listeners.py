"""Syslog listeners on real loopback sockets with an in-memory sink: framing, headers, truncation, back-pressure, TLS."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from vigie.producers.syslog.listeners import (
    DEFAULT_PORTS,
    ListenerSettings,
    StreamListener,
    SyslogListener,
    UdpListener,
    make_listener,
)
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.schemas.codec import parse_rfc3339
from vigie.sink import DEADLETTER_MAX_RAW, MemorySink
from vigie.topics import DEADLETTER, RAW_SYSLOG

pytestmark = pytest.mark.timeout(60)


def run(coro: Awaitable[Any]) -> Any:
    """Each test is a coroutine run on a fresh loop; a generous cap turns a hang into a failure."""
    return asyncio.run(asyncio.wait_for(coro, 30))


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Wait for a condition that another party (kernel, listener) makes true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.005)


async def started(transport: str, sink: MemorySink, **overrides: Any) -> tuple[SyslogListener, SyslogMetrics]:
    metrics = SyslogMetrics(CollectorRegistry())
    listener = make_listener(
        ListenerSettings(name=f"t-{transport}", transport=transport, port=0, **overrides), sink, metrics
    )
    await listener.start()
    return listener, metrics


def udp_send(port: int, *payloads: bytes) -> int:
    """Send datagrams from one socket; returns its source port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in payloads:
            s.sendto(p, ("127.0.0.1", port))
        return s.getsockname()[1]


def values(sink: MemorySink, topic: str = RAW_SYSLOG) -> list[bytes]:
    return [r.value for r in sink.on(topic)]


def deadletters(sink: MemorySink) -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in sink.on(DEADLETTER)]


# --- settings and metrics ----------------------------------------------------------------------


def test_settings_defaults_are_loopback_and_unprivileged() -> None:
    udp, tls = ListenerSettings(), ListenerSettings(transport="tls", certfile="cert.pem")
    assert udp.host == "127.0.0.1" and udp.bind_port == 5514 and udp.name == "syslog-udp"
    assert tls.bind_port == DEFAULT_PORTS["tls"] == 6514
    assert udp.max_message_size == 65536


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"transport": "relp"}, "transport"),
        ({"transport": "tls"}, "certfile"),
        ({"port": 70000}, "port"),
        ({"max_message_size": 100}, "max_message_size"),
        ({"max_connections": 0}, "max_connections"),
        ({"idle_timeout": 0}, "idle_timeout"),
        ({"handshake_timeout": 0}, "handshake_timeout"),
        ({"deadletter_max_raw": 0}, "deadletter_max_raw"),
    ],
)
def test_settings_refuse_bad_values_naming_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ValueError, match=key):
        ListenerSettings(**kwargs)


def test_udp_message_lands_with_exact_bytes_key_and_headers() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("udp", sink)
        assert isinstance(listener, UdpListener) and listener.receive_buffer > 0
        message = b"<34>1 2024-05-01T10:00:00Z host app - - - hello\n"
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        source_port = udp_send(listener.port, b"", message)  # the empty datagram is ignored
        await until(lambda: len(sink.records) >= 1, "datagram recorded")
        await listener.stop()

        (record,) = sink.records
        assert record.topic == RAW_SYSLOG and record.value == message  # trailing LF kept: exact bytes
        assert record.key == b"127.0.0.1"
        assert record.header("peer") == f"127.0.0.1:{source_port}".encode()
        assert record.header("transport") == b"udp" and record.header("listener") == b"t-udp"
        received_at = parse_rfc3339(record.header("received_at").decode())
        assert received_at.tzinfo is not None and before <= received_at <= dt.datetime.now(dt.UTC)
        assert record.header("truncated") is None
        labels = {"listener": "t-udp", "transport": "udp"}
        assert metrics.stats("t-udp", "udp").received == 1
        registry = CollectorRegistry()
        registry.register(metrics)
        assert registry.get_sample_value("vigie_syslog_produced_total", labels) == 1
        assert registry.get_sample_value("vigie_syslog_received_bytes_total", labels) == len(message)

    run(scenario())


def test_udp_oversize_datagram_is_cut_and_dead_lettered_whole() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("udp", sink, max_message_size=480)
        big = b"<13>" + bytes(range(256)) * 8
        udp_send(listener.port, big)
        await until(lambda: len(sink.records) >= 2, "cut message and dead letter recorded")
        await listener.stop()

        (raw,) = sink.on(RAW_SYSLOG)
        assert raw.value == big[:480] and raw.header("truncated") == b"1"
        (dead,) = deadletters(sink)
        assert base64.b64decode(dead["raw"]) == big and "480" in dead["error"]
        assert dead["origin"]["transport"] == "udp" and sink.on(DEADLETTER)[0].key == b"127.0.0.1"
        stats = metrics.stats("t-udp", "udp")
        assert (stats.truncated, stats.dead_lettered, stats.produced) == (1, 1, 1)

    run(scenario())


@pytest.mark.skipif(not Path("/proc/net/udp").exists(), reason="kernel drop counts are read from Linux /proc")
def test_udp_datagrams_the_kernel_drops_are_counted_per_listener() -> None:
    """A small receive buffer filled faster than the listener reads (the loop is busy sending): every
    datagram is either received or counted in vigie_udp_receive_drops_total, which survives stop()."""

    async def scenario() -> None:
        sink, registry = MemorySink(), CollectorRegistry()
        metrics = SyslogMetrics(registry)
        listener = make_listener(
            ListenerSettings(name="t-udp", port=0, udp_receive_buffer=4096), sink, metrics
        )
        await listener.start()
        stats, labels = metrics.stats("t-udp", "udp"), {"listener": "t-udp"}
        assert registry.get_sample_value("vigie_udp_receive_drops_total", labels) == 0
        sent = 2000
        udp_send(listener.port, *[b"<13>storm %04d " % i + b"x" * 180 for i in range(sent)])

        def kernel_drops() -> float:
            return registry.get_sample_value("vigie_udp_receive_drops_total", labels) or 0

        await until(lambda: stats.received + kernel_drops() == sent, "every datagram received or dropped")
        drops = kernel_drops()
        assert 0 < drops < sent and stats.received == len(sink.records) == sent - drops
        await listener.stop()
        assert kernel_drops() == drops  # the closed socket's count is kept

    run(scenario())


def test_udp_counts_drops_when_the_sink_is_full_and_keeps_going() -> None:
    async def scenario() -> None:
        sink = MemorySink(capacity=3)
        listener, metrics = await started("udp", sink)
        stats = metrics.stats("t-udp", "udp")
        udp_send(listener.port, *[b"<13>m%d" % i for i in range(10)])
        await until(lambda: stats.received == 10, "all datagrams read")
        assert stats.dropped == 7 and len(sink.records) == 3
        sink.capacity = None
        udp_send(listener.port, b"<13>after")
        await until(lambda: values(sink)[-1:] == [b"<13>after"], "listener still receiving")
        await listener.stop()

    run(scenario())


# --- TCP ---------------------------------------------------------------------------------------


async def tcp_send(port: int, *chunks: bytes, close: bool = True) -> asyncio.StreamWriter:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
    if close:
        writer.close()
        await writer.wait_closed()
    return writer


def octet(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def test_tcp_octet_counting_and_lf_framing_on_one_connection() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tcp", sink)
        a = b"<13>1 2024-05-01T10:00:00Z h app - - - counted, with\nnewline"
        b, c = b"<13>May  1 10:00:00 h app: line framed", b"<14>another line"
        # split mid-frame to exercise reassembly across reads
        stream = octet(a) + b + b"\n" + c + b"\n" + octet(b"<15>last")
        await tcp_send(listener.port, stream[:7], stream[7:40], stream[40:])
        await until(lambda: len(sink.records) >= 4, "four frames")
        await listener.stop()

        assert values(sink) == [a, b, c, b"<15>last"]
        record = sink.records[0]
        assert record.key == b"127.0.0.1" and record.header("transport") == b"tcp"
        assert record.header("peer").startswith(b"127.0.0.1:") and record.header("listener") == b"t-tcp"
        assert metrics.stats("t-tcp", "tcp").connections == 0

    run(scenario())


def test_tcp_nul_framing() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, _ = await started("tcp", sink)
        await tcp_send(listener.port, b"<13>first\x00<13>second\x00")
        await until(lambda: len(sink.records) >= 2, "two NUL-framed messages")
        await listener.stop()
        assert values(sink) == [b"<13>first", b"<13>second"]

    run(scenario())


def test_tcp_cisco_asa_leading_spaces_between_frames() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, _ = await started("tcp", sink)
        asa = b"<166>%ASA-6-302013: Built outbound TCP connection 1 for outside:8.8.8.8/53 (8.8.8.8/53)"
        await tcp_send(listener.port, b" " + asa + b"\n " + asa + b"\n")
        await until(lambda: len(sink.records) >= 2, "two ASA messages")
        await listener.stop()
        assert [v.lstrip(b" ") for v in values(sink)] == [asa, asa]

    run(scenario())


def test_tcp_trailing_message_without_terminator_is_kept_at_close() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, _ = await started("tcp", sink)
        await tcp_send(listener.port, b"<13>one\n<13>two, no LF")
        await until(lambda: len(sink.records) >= 2, "message flushed at end of stream")
        await listener.stop()
        assert values(sink) == [b"<13>one", b"<13>two, no LF"]

    run(scenario())


def test_tcp_oversize_frame_is_cut_and_dead_lettered_whole() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tcp", sink, max_message_size=480)
        big = b"<13>" + b"x" * 1000
        await tcp_send(listener.port, big + b"\n<13>next\n" + octet(big) + octet(b"<13>after"))
        await until(lambda: len(values(sink)) >= 4 and len(deadletters(sink)) >= 2, "frames and dead letters")
        await listener.stop()

        raw = sink.on(RAW_SYSLOG)
        assert [r.value for r in raw] == [big[:480], b"<13>next", big[:480], b"<13>after"]
        assert [r.header("truncated") for r in raw] == [b"1", None, b"1", None]
        assert [base64.b64decode(d["raw"]) for d in deadletters(sink)] == [big, big]
        assert metrics.stats("t-tcp", "tcp").truncated == 2

    run(scenario())


def test_tcp_frame_over_the_dead_letter_limit_keeps_its_start_length_and_digest() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tcp", sink, max_message_size=480, deadletter_max_raw=1000)
        big = b"<13>" + bytes(range(32, 127)) * 40  # 3804 bytes, no LF or NUL inside
        await tcp_send(listener.port, big + b"\n" + octet(big) + octet(b"<13>after"))
        await until(lambda: len(values(sink)) >= 3 and len(deadletters(sink)) >= 2, "frames and dead letters")
        await listener.stop()

        assert values(sink) == [big[:480], big[:480], b"<13>after"]
        for dead in deadletters(sink):
            assert base64.b64decode(dead["raw"]) == big[:1000]
            assert (dead["raw_size"], dead["raw_sha256"]) == (len(big), hashlib.sha256(big).hexdigest())
            assert "3804 bytes" in dead["error"] and "first 1000 bytes are kept here" in dead["error"]
        assert metrics.stats("t-tcp", "tcp").dead_lettered == 2

    run(scenario())


def test_tcp_frame_beyond_the_framer_cap_is_dead_lettered_with_the_digest_of_all_of_it() -> None:
    """2 MB without a terminator: the framer keeps 1 MiB, the dead letter its first 512 KiB, the length and
    the SHA-256 of all 2 MB; the value stays under the producer's 1,000,000-byte message limit."""

    async def scenario() -> None:
        sink = MemorySink()
        listener, _ = await started("tcp", sink)
        big = b"<13>" + bytes(range(14, 256)) * 8264  # 1,999,892 bytes
        await tcp_send(listener.port, big, b"\r\n<13>next\n")
        await until(lambda: len(values(sink)) >= 2 and deadletters(sink), "cut frame, next frame, dead letter")
        await listener.stop()

        assert values(sink) == [big[:65536], b"<13>next"]
        (record,) = sink.on(DEADLETTER)
        assert len(record.value) < 1_000_000
        (dead,) = deadletters(sink)
        assert base64.b64decode(dead["raw"]) == big[:DEADLETTER_MAX_RAW]
        assert (dead["raw_size"], dead["raw_sha256"]) == (len(big), hashlib.sha256(big).hexdigest())

    run(scenario())


def test_tcp_frame_cut_short_by_the_peer_is_kept_and_marked() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tcp", sink)
        await tcp_send(listener.port, octet(b"<13>whole") + b"100 <13>only part of it")
        await until(lambda: len(sink.records) >= 2, "both frames")
        await listener.stop()
        assert values(sink) == [b"<13>whole", b"<13>only part of it"]
        assert sink.records[1].header("truncated") == b"1" and not sink.on(DEADLETTER)
        assert metrics.stats("t-tcp", "tcp").truncated == 1

    run(scenario())


def test_tcp_back_pressure_loses_nothing() -> None:
    async def scenario() -> None:
        sink = MemorySink(capacity=5)
        listener, metrics = await started("tcp", sink)
        stats = metrics.stats("t-tcp", "tcp")
        sent = [b"<13>message %d %s" % (i, b"y" * 200) for i in range(2000)]
        await tcp_send(listener.port, b"".join(octet(m) if i % 2 else m + b"\n" for i, m in enumerate(sent)))
        await until(lambda: stats.paused >= 1 and len(sink.records) == 5, "listener paused on a full sink")
        assert stats.dropped == 0
        sink.capacity = None  # room again: the backlog and the unread socket data must all arrive
        await until(lambda: len(sink.records) == len(sent), "every frame delivered after the pause")
        await listener.stop()
        assert values(sink) == sent
        assert stats.dropped == 0 and stats.produced == len(sent)

    run(scenario())


class BatchingSink(MemorySink):
    """A MemorySink with KafkaSink's produce_many: values[start:] in order, stopping at the first it cannot take."""

    def __init__(self, capacity: int | None = None) -> None:
        super().__init__(capacity)
        self.batches: list[int] = []

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = ()) -> None:
        if b"boom" in value:
            raise RuntimeError("sink failure")
        super().produce(topic, value, key, headers)

    def produce_many(
        self, topic: str, values: list[bytes], key: bytes | None = None, headers: Any = (), start: int = 0
    ) -> int:
        self.batches.append(len(values) - start)
        for i in range(start, len(values)):
            if not self.has_room() or b"boom" in values[i]:
                return i
            super().produce(topic, values[i], key, headers)
        return len(values)


def test_tcp_lines_go_to_the_sink_in_batches_with_every_header() -> None:
    async def scenario() -> None:
        sink = BatchingSink()
        listener, metrics = await started("tcp", sink)
        stats = metrics.stats("t-tcp", "tcp")
        sent = [b"<13>1 2024-05-01T10:00:00Z h app - - - line %d" % i for i in range(3000)]
        await tcp_send(listener.port, b"\r\n".join(sent[:1500]) + b"\r\n" + b"\n".join(sent[1500:]) + b"\n")
        await until(lambda: len(sink.records) == len(sent), "every line")
        await listener.stop()
        assert values(sink) == sent
        assert max(sink.batches) > 1 and sum(sink.batches) == len(sent)
        for record in sink.records:
            assert record.key == b"127.0.0.1"
            assert [name for name, _ in record.headers] == ["received_at", "peer", "transport", "listener"]
            parse_rfc3339(record.header("received_at").decode())
        assert stats.received == stats.produced == len(sent) and stats.dropped == 0

    run(scenario())


def test_tcp_back_pressure_inside_a_batch_loses_nothing() -> None:
    async def scenario() -> None:
        sink = BatchingSink(capacity=5)
        listener, metrics = await started("tcp", sink)
        stats = metrics.stats("t-tcp", "tcp")
        sent = [b"<13>message %d %s" % (i, b"y" * 200) for i in range(5000)]
        await tcp_send(listener.port, b"\n".join(sent) + b"\n")
        await until(lambda: stats.paused >= 1 and len(sink.records) == 5, "listener paused on a full sink")
        assert stats.dropped == 0
        sink.capacity = None
        await until(lambda: len(sink.records) == len(sent), "every frame delivered after the pause")
        await listener.stop()
        assert values(sink) == sent
        assert stats.dropped == 0 and stats.produced == len(sent)

    run(scenario())


def test_tcp_a_record_refused_inside_a_batch_is_counted_and_the_rest_delivered() -> None:
    async def scenario() -> None:
        sink = BatchingSink()
        listener, metrics = await started("tcp", sink)
        stats = metrics.stats("t-tcp", "tcp")
        sent = [b"<13>line %d" % i for i in range(100)]
        sent[40] = b"<13>boom"
        await tcp_send(listener.port, b"\n".join(sent) + b"\n")
        await until(lambda: stats.received == 100, "every line read")
        await listener.stop()
        assert values(sink) == sent[:40] + sent[41:]
        assert (stats.errors, stats.dropped, stats.produced) == (1, 1, 99)

    run(scenario())


def test_tcp_stop_reports_records_it_could_not_hand_over() -> None:
    async def scenario() -> None:
        sink = MemorySink(capacity=0)
        listener, metrics = await started("tcp", sink)
        await tcp_send(listener.port, b"<13>a\n<13>b\n")
        await until(lambda: metrics.stats("t-tcp", "tcp").received == 2, "frames accepted")
        assert await listener.stop(drain_timeout=0.05) == 2
        assert metrics.stats("t-tcp", "tcp").dropped == 2

    run(scenario())


def test_tcp_max_connections_and_idle_timeout() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tcp", sink, max_connections=1, idle_timeout=0.2)
        stats = metrics.stats("t-tcp", "tcp")
        reader1, writer1 = await asyncio.open_connection("127.0.0.1", listener.port)
        await until(lambda: stats.connections == 1, "first connection open")
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", listener.port)
        assert await reader2.read() == b""  # refused: closed by the listener
        assert stats.rejected == 1
        assert await reader1.read() == b""  # idle: closed by the listener
        await until(lambda: stats.connections == 0, "idle connection closed")
        for writer in (writer1, writer2):
            writer.close()
        await listener.stop()

    run(scenario())


class FlakySink(MemorySink):
    """A sink that fails on some values the way a broken serializer or client would."""

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = ()) -> None:
        if b"boom" in value:
            raise RuntimeError("sink failure")
        super().produce(topic, value, key, headers)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_garbage_and_failures_never_stop_the_listener(transport: str) -> None:
    async def scenario() -> None:
        sink = FlakySink()
        listener, metrics = await started(transport, sink, max_message_size=1024)
        stats = metrics.stats(listener.name, transport)
        garbage = [os.urandom(3000), b"99999999999999999999 " + os.urandom(100), b"\x00" * 50, b"<13>boom"]
        if transport == "tcp":
            for chunk in garbage:
                await tcp_send(listener.port, chunk)
        else:
            udp_send(listener.port, *garbage)
        await until(lambda: stats.errors >= 1, "sink failure counted")
        if transport == "tcp":
            await tcp_send(listener.port, b"<13>still alive\n")
        else:
            udp_send(listener.port, b"<13>still alive")
        await until(lambda: b"<13>still alive" in values(sink), "listener still serving")
        await listener.stop()

    run(scenario())


# --- TLS ---------------------------------------------------------------------------------------


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway certificate for localhost/127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def client_context(server_cert: Path, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server_cert))
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


def test_tls_octet_counted_frames(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "server")

    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tls", sink, certfile=str(cert), keyfile=str(key))
        assert isinstance(listener, StreamListener)
        messages = [b"<13>1 2024-05-01T10:00:00Z h app - - - over tls %d" % i for i in range(3)]
        _, writer = await asyncio.open_connection(
            "127.0.0.1", listener.port, ssl=client_context(cert), server_hostname="localhost"
        )
        writer.write(b"".join(octet(m) for m in messages))
        await writer.drain()
        await until(lambda: len(sink.records) >= 3, "three TLS frames")
        writer.close()
        await listener.stop()
        assert values(sink) == messages
        assert {r.header("transport") for r in sink.records} == {b"tls"}

    run(scenario())


def test_tls_client_certificate_required_when_a_ca_is_configured(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "server")
    client = self_signed(tmp_path, "client")  # self-signed: it is its own CA

    async def scenario() -> None:
        sink = MemorySink()
        listener, _ = await started("tls", sink, certfile=str(cert), keyfile=str(key), cafile=str(client[0]))
        # without a client certificate the handshake fails (with TLS 1.3 the client learns it on reading)
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", listener.port, ssl=client_context(cert), server_hostname="localhost"
            )
            writer.write(octet(b"<13>anonymous"))
            await writer.drain()
            answer = await reader.read()
            writer.close()
        except (ssl.SSLError, ConnectionError):
            answer = b""
        assert answer == b""
        _, writer = await asyncio.open_connection(
            "127.0.0.1", listener.port, ssl=client_context(cert, client), server_hostname="localhost"
        )
        writer.write(octet(b"<13>authenticated"))
        await writer.drain()
        await until(lambda: len(sink.records) >= 1, "authenticated client's frame")
        writer.close()
        await listener.stop()
        assert values(sink) == [b"<13>authenticated"]

    run(scenario())


def test_serve_forever_stops_on_cancel() -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener = make_listener(ListenerSettings(transport="udp", port=0), sink, SyslogMetrics(None))
        task = asyncio.create_task(listener.serve_forever())
        await until(lambda: listener._started, "listener started")
        port = listener.port
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", port))  # the port is free again

    run(scenario())


def test_run_serves_until_the_stop_event() -> None:
    async def scenario() -> None:
        sink, stop = MemorySink(), asyncio.Event()
        listener = make_listener(ListenerSettings(transport="tcp", port=0), sink, SyslogMetrics(None))
        task = asyncio.create_task(listener.run(stop))
        await until(lambda: listener._started, "listener started")
        await tcp_send(listener.port, b"<13>via run\n")
        await until(lambda: values(sink) == [b"<13>via run"], "message")
        stop.set()
        await task
        assert not listener._started

    run(scenario())


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server has closed or reset a non-blocking client socket that sent nothing."""
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def stalled_clients(port: int, count: int) -> list[socket.socket]:
    """TCP connections that never send a ClientHello (a scanner, a broken or hostile peer)."""
    out = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        out.append(sock)
    return out


def test_tls_stalled_handshakes_count_against_max_connections_and_are_dropped_after_the_timeout(
    tmp_path: Path,
) -> None:
    """60 connections that never handshake against a limit of 20: 20 held while the handshake timer runs,
    40 refused at once; the 20 dropped at handshake_timeout; then a real client gets in."""
    cert, key = self_signed(tmp_path, "server")

    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started(
            "tls", sink, certfile=str(cert), keyfile=str(key), max_connections=20, handshake_timeout=1.0
        )
        stats = metrics.stats("t-tls", "tls")
        held = stalled_clients(listener.port, 20)
        await until(lambda: stats.handshakes == 20, "20 handshakes in progress")
        over = stalled_clients(listener.port, 40)
        await until(lambda: all(closed_by_server(s) for s in over), "the 40 over the limit closed")
        assert (stats.rejected, stats.handshakes, stats.handshake_timeouts) == (40, 20, 0)
        assert not any(closed_by_server(s) for s in held)

        await until(lambda: stats.handshake_timeouts == 20, "stalled handshakes dropped after the timeout")
        await until(lambda: all(closed_by_server(s) for s in held), "the 20 held closed")
        assert (stats.handshakes, stats.connections, stats.handshake_failures) == (0, 0, 0)
        registry = CollectorRegistry()
        registry.register(metrics)
        labels = {"listener": "t-tls", "transport": "tls"}
        assert registry.get_sample_value("vigie_syslog_tls_handshake_timeouts_total", labels) == 20
        assert registry.get_sample_value("vigie_syslog_connections_rejected_total", labels) == 40
        assert registry.get_sample_value("vigie_syslog_tls_handshakes", labels) == 0

        _, writer = await asyncio.open_connection(
            "127.0.0.1", listener.port, ssl=client_context(cert), server_hostname="localhost"
        )
        writer.write(octet(b"<13>after the storm"))
        await writer.drain()
        await until(lambda: values(sink) == [b"<13>after the storm"], "a real client's frame")
        writer.close()
        await listener.stop()
        for s in held + over:
            s.close()

    run(scenario())


def test_tls_open_connections_and_handshakes_share_the_limit(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "server")

    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started(
            "tls", sink, certfile=str(cert), keyfile=str(key), max_connections=3, handshake_timeout=30.0
        )
        stats = metrics.stats("t-tls", "tls")
        writers = []
        for i in range(2):
            _, writer = await asyncio.open_connection(
                "127.0.0.1", listener.port, ssl=client_context(cert), server_hostname="localhost"
            )
            writer.write(octet(b"<13>open %d" % i))
            writers.append(writer)
        await until(lambda: stats.connections == 2 and len(sink.records) == 2, "two TLS connections open")
        (held,) = stalled_clients(listener.port, 1)
        await until(lambda: stats.handshakes == 1, "one handshake in progress")
        (over,) = stalled_clients(listener.port, 1)
        await until(lambda: closed_by_server(over), "the fourth connection refused")
        assert stats.rejected == 1 and not closed_by_server(held)
        await listener.stop()  # a handshake in progress is cut at stop, not left to its timer
        await until(lambda: closed_by_server(held), "the stalled handshake closed by stop()")
        assert (stats.handshakes, stats.connections, stats.handshake_timeouts) == (0, 0, 0)
        for w in writers:
            w.close()
        held.close()
        over.close()

    run(scenario())


def test_tls_handshake_that_is_not_tls_is_counted_as_failed(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "server")

    async def scenario() -> None:
        sink = MemorySink()
        listener, metrics = await started("tls", sink, certfile=str(cert), keyfile=str(key))
        stats = metrics.stats("t-tls", "tls")
        await tcp_send(listener.port, b"<13>plain syslog sent to the TLS port\n")
        await until(lambda: stats.handshake_failures == 1, "the failed handshake counted")
        await listener.stop()
        assert (stats.handshakes, stats.connections, stats.handshake_timeouts) == (0, 0, 0) and not sink.records

    run(scenario())
