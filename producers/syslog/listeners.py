"""Syslog listeners (UDP, TCP and TLS on asyncio) that write each received message, byte for byte, to raw.syslog."""

from __future__ import annotations

import abc
import asyncio
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vigie.producers.syslog.framing import DEFAULT_HARD_CAP, Frame, FrameDecoder
from vigie.producers.syslog.metrics import ListenerStats, SyslogMetrics, default_metrics
from vigie.sink import BufferFull, RecordSink, deadletter_value
from vigie.topics import DEADLETTER, RAW_SYSLOG

log = logging.getLogger(__name__)

TRANSPORTS = ("udp", "tcp", "tls")
# Unprivileged defaults; the standard ports are 514 (udp, and tcp by convention) and 6514 (tls, RFC 5425).
DEFAULT_PORTS = {"udp": 5514, "tcp": 5514, "tls": 6514}
STANDARD_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}
STAGE = "syslog-intake"

Header = tuple[str, bytes]
# One record waiting for the sink: topic, value, key, headers, and which counter to bump once queued.
Pending = tuple[str, bytes, bytes, list[Header], str]
# KafkaSink.produce_many's shape: (topic, values, key, headers, start) -> index of the first value not queued.
ProduceMany = Callable[[str, list[bytes], bytes | None, list[Header], int], int]


@dataclass(frozen=True)
class ListenerSettings:
    """One listening socket; defaults are safe for one machine (loopback, unprivileged port)."""

    name: str = ""  # "" -> "syslog-<transport>"
    transport: str = "udp"  # udp, tcp, tls
    host: str = "127.0.0.1"  # loopback unless told otherwise: opening to the network is a decision
    port: int | None = None  # None -> DEFAULT_PORTS[transport]; 0 -> any free port
    max_message_size: int = 64 * 1024
    max_connections: int = 1000
    idle_timeout: float = 300.0  # seconds without data before a TCP/TLS connection is closed
    certfile: str | None = None  # tls: server certificate chain (PEM)
    keyfile: str | None = None  # tls: its private key (PEM); None when inside certfile
    cafile: str | None = None  # tls: when set, clients must present a certificate signed by this CA
    udp_receive_buffer: int = 16 * 1024 * 1024  # SO_RCVBUF asked for; the kernel may grant less

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(
                f"syslog listener transport: expected one of udp, tcp, tls, got {self.transport!r}"
            )
        if not self.name:
            object.__setattr__(self, "name", f"syslog-{self.transport}")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"syslog listener {self.name!r} port: expected 0..65535, got {self.port}")
        if self.max_message_size < 480:  # RFC 5424 6.1: receivers must accept at least 480 octets
            raise ValueError(
                f"syslog listener {self.name!r} max_message_size: expected >= 480, got {self.max_message_size}"
            )
        if self.max_connections < 1:
            raise ValueError(
                f"syslog listener {self.name!r} max_connections: expected >= 1, got {self.max_connections}"
            )
        if self.idle_timeout <= 0:
            raise ValueError(
                f"syslog listener {self.name!r} idle_timeout: expected > 0 seconds, got {self.idle_timeout}"
            )
        if self.transport == "tls" and not self.certfile:
            raise ValueError(f"syslog listener {self.name!r} certfile: a tls listener needs a certificate")

    @property
    def bind_port(self) -> int:
        """The port to bind: the configured one or the transport's default."""
        return DEFAULT_PORTS[self.transport] if self.port is None else self.port


def server_ssl_context(settings: ListenerSettings) -> ssl.SSLContext:
    """The RFC 5425 server context: TLS 1.2+, our certificate, client certificates required when a CA is set."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings.certfile or "", settings.keyfile)
    if settings.cafile:
        ctx.load_verify_locations(cafile=settings.cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class _Clock:
    """received_at as RFC 3339 UTC bytes, formatted at most once per millisecond (cheap at 50,000 msg/s)."""

    __slots__ = ("_ms", "_sec", "_prefix", "_value")

    def __init__(self) -> None:
        self._ms = -1
        self._sec = -1
        self._prefix = ""
        self._value = b""

    def now(self) -> bytes:
        ms = int(time.time() * 1000)
        if ms != self._ms:
            sec = ms // 1000
            if sec != self._sec:
                self._sec = sec
                self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec))
            self._ms = ms
            self._value = f"{self._prefix}{ms % 1000:03d}000Z".encode()
        return self._value


_clock = _Clock()


def _peer(addr: tuple) -> tuple[str, bytes, Header]:
    """Sender IP, record key and `peer` header from a socket address (IPv4-mapped IPv6 shown as IPv4)."""
    host, port = str(addr[0]), addr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return text, host.encode(), ("peer", text.encode())


class _ThrottledLog:
    """Logs a failure at most once per interval so that a flood of bad input cannot flood the log."""

    def __init__(self, interval: float = 10.0) -> None:
        self._interval = interval
        self._next = 0.0
        self._suppressed = 0

    def error(self, msg: str, *args: object, exc_info: bool = True) -> None:
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return
        if self._suppressed:
            msg += f" ({self._suppressed} similar messages suppressed)"
        self._suppressed = 0
        self._next = now + self._interval
        log.error(msg, *args, exc_info=exc_info)


class SyslogListener(abc.ABC):
    """What every listener shares: settings, sink, counters, and how a frame becomes records."""

    def __init__(
        self, settings: ListenerSettings, sink: RecordSink, metrics: SyslogMetrics | None = None
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.stats: ListenerStats = (metrics or default_metrics()).stats(settings.name, settings.transport)
        self._transport_h: Header = ("transport", settings.transport.encode())
        self._listener_h: Header = ("listener", settings.name.encode())
        self._errors = _ThrottledLog()
        self._started = False

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    @abc.abstractmethod
    def port(self) -> int:
        """The bound port (useful with port 0); valid after start()."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Bind the socket and begin receiving; raises OSError when the address is taken or not permitted."""

    @abc.abstractmethod
    async def stop(self, drain_timeout: float = 5.0) -> int:
        """Stop receiving, hand what was accepted to the sink (up to drain_timeout); returns records lost."""

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until stop is set: the service shape `vigie up`'s supervisor runs (and restarts)."""
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def serve_forever(self) -> None:
        """Run until cancelled, then stop cleanly: the shape a supervisor's task group expects."""
        if not self._started:
            await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    def _oversize(
        self, value: bytes, original: bytes | None, size: int, key: bytes, peer_h: Header, peer: str
    ) -> list[Pending]:
        """Records for a cut message: the first max_message_size bytes to raw.syslog with `truncated: 1`,
        and the whole original to the dead-letter topic so that nothing received is lost.

        A frame the peer left incomplete at end of stream (size larger than what arrived, yet under
        the limit) only goes to raw.syslog, marked truncated: there is nothing more to keep.
        """
        limit = self.settings.max_message_size
        received_at = _clock.now()
        cut = value[:limit]
        headers = [
            ("received_at", received_at),
            peer_h,
            self._transport_h,
            self._listener_h,
            ("truncated", b"1"),
        ]
        self.stats.truncated += 1
        records: list[Pending] = [(RAW_SYSLOG, cut, key, headers, "produced")]
        whole = original if original is not None else value
        if len(whole) <= limit and size <= limit:
            log.info("syslog listener %s: %s closed in the middle of a %d-byte frame", self.name, peer, size)
            return records
        kept = "" if len(whole) >= size else f" (the first {len(whole)} bytes are kept here)"
        error = (
            f"syslog message of {size} bytes exceeds max_message_size {limit}{kept};"
            f" the first {len(cut)} bytes went to {RAW_SYSLOG} with header truncated=1"
        )
        origin = {
            "listener": self.settings.name,
            "transport": self.settings.transport,
            "peer": peer,
            "received_at": received_at.decode(),
        }
        records.append((DEADLETTER, deadletter_value(STAGE, error, whole, origin), key, [], "dead_lettered"))
        return records


class UdpListener(SyslogListener):
    """RFC 5426: one datagram is one message; reads in batches off a non-blocking socket, drops when the sink is full."""

    BATCH = 512  # datagrams read per readiness event before yielding to the loop
    PEER_CACHE = 4096

    def __init__(
        self, settings: ListenerSettings, sink: RecordSink, metrics: SyslogMetrics | None = None
    ) -> None:
        super().__init__(settings, sink, metrics)
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._peers: dict[tuple, tuple[str, bytes, Header]] = {}
        # Read one byte more than the limit would do to detect over-long datagrams, but the dead-letter
        # topic wants the whole original, so read up to the largest UDP payload.
        self._bufsize = max(65536, settings.max_message_size + 1)
        self.receive_buffer = 0  # SO_RCVBUF the kernel granted (Linux reports twice the usable size)

    @property
    def port(self) -> int:
        assert self._sock is not None, "listener not started"
        return self._sock.getsockname()[1]

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        family, type_, proto, _, addr = socket.getaddrinfo(
            self.settings.host, self.settings.bind_port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            self.receive_buffer = self._grow_receive_buffer(sock, self.settings.udp_receive_buffer)
            sock.bind(addr)
            self._loop.add_reader(sock.fileno(), self._read_ready)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._started = True
        log.info(
            "syslog listener %s: udp on %s:%d, receive buffer %d bytes (asked %d)",
            self.name,
            self.settings.host,
            self.port,
            self.receive_buffer,
            self.settings.udp_receive_buffer,
        )

    @staticmethod
    def _grow_receive_buffer(sock: socket.socket, size: int) -> int:
        """A large SO_RCVBUF absorbs bursts; SO_RCVBUFFORCE passes net.core.rmem_max when we have CAP_NET_ADMIN."""
        force = getattr(socket, "SO_RCVBUFFORCE", None)
        if force is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, size)
            except OSError:
                force = None
        if force is None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            except OSError as exc:
                log.warning("cannot set SO_RCVBUF to %d: %s", size, exc)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        if granted < size:
            log.warning(
                "udp receive buffer is %d bytes, asked %d: raise net.core.rmem_max to absorb bursts",
                granted,
                size,
            )
        return granted

    def _peer_of(self, addr: tuple) -> tuple[str, bytes, Header]:
        if len(self._peers) >= self.PEER_CACHE:
            self._peers.clear()
        found = self._peers[addr] = _peer(addr)
        return found

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recvfrom, bufsize, limit = sock.recvfrom, self._bufsize, self.settings.max_message_size
        produce, stats, peers, now = self.sink.produce, self.stats, self._peers, _clock.now
        transport_h, listener_h = self._transport_h, self._listener_h
        for _ in range(self.BATCH):
            try:
                data, addr = recvfrom(bufsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                stats.errors += 1
                self._errors.error("syslog listener %s: udp receive failed", self.name)
                return
            size = len(data)
            if not size:
                continue
            stats.received += 1
            stats.bytes += size
            try:
                peer = peers.get(addr) or self._peer_of(addr)
                if size <= limit:
                    produce(
                        RAW_SYSLOG, data, peer[1], [("received_at", now()), peer[2], transport_h, listener_h]
                    )
                    stats.produced += 1
                else:
                    for topic, value, key, headers, counter in self._oversize(
                        data, data, size, peer[1], peer[2], peer[0]
                    ):
                        produce(topic, value, key, headers)
                        setattr(stats, counter, getattr(stats, counter) + 1)
            except BufferFull:
                stats.dropped += 1
            except Exception:
                stats.errors += 1
                self._errors.error("syslog listener %s: datagram from %s not handled", self.name, addr)

    async def stop(self, drain_timeout: float = 5.0) -> int:
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
            log.info("syslog listener %s: udp stopped", self.name)
        self._started = False
        return 0


class _Connection(asyncio.Protocol):
    """One TCP/TLS connection: frames via FrameDecoder, stops reading while the sink is full, never drops a frame."""

    def __init__(self, listener: StreamListener) -> None:
        self.listener = listener
        self.stats = listener.stats
        self.transport: asyncio.Transport | None = None
        limit = listener.settings.max_message_size
        self.decoder = FrameDecoder(max_frame=limit, hard_cap=max(DEFAULT_HARD_CAP, limit))
        self.backlog: deque[Pending] = deque()
        self.paused = False
        self.open = False
        self.last = 0.0
        self._idle: asyncio.TimerHandle | None = None
        self.peer = ""
        self.key = b""
        self.peer_h: Header = ("peer", b"")

    # --- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        listener = self.listener
        if len(listener.connections) >= listener.settings.max_connections:
            self.stats.rejected += 1
            listener.errors.error(
                "syslog listener %s: over max_connections %d, connection refused",
                listener.name,
                listener.settings.max_connections,
                exc_info=False,
            )
            transport.abort()
            return
        self.peer, self.key, self.peer_h = _peer(transport.get_extra_info("peername") or ("?", 0))
        self.open = True
        listener.connections.add(self)
        self.stats.connections += 1
        loop = asyncio.get_running_loop()
        self.last = loop.time()
        self._idle = loop.call_later(listener.settings.idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        self.last = self.listener.loop.time()
        self.stats.bytes += len(data)
        decoder = self.decoder
        cut = decoder.frames_truncated
        try:
            frames = decoder.feed_data(data)
        except Exception:
            self._fail("framing failed")
            return
        if frames:
            self._accept(frames, decoder.frames_truncated != cut)

    def eof_received(self) -> bool | None:
        self._flush_decoder()
        return False  # close our side; what was accepted is still delivered from the backlog

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.open:
            return
        self.open = False
        self._flush_decoder()
        if self._idle is not None:
            self._idle.cancel()
        self.listener.connections.discard(self)
        self.stats.connections -= 1
        if exc is not None:
            log.debug("syslog listener %s: connection from %s lost: %s", self.listener.name, self.peer, exc)

    # --- frames to records -------------------------------------------------------------------
    def _flush_decoder(self) -> None:
        decoder = self.decoder
        cut = decoder.frames_truncated
        try:
            frames = decoder.flush_data()
        except Exception:
            self._fail("framing failed at end of stream")
            return
        if frames:
            self._accept(frames, decoder.frames_truncated != cut)

    def _accept(self, frames: list[bytes | Frame], any_cut: bool) -> None:
        """Hand one read's frames to the sink, in order: all with the same headers (one receive time) and key.

        Whole frames go to the sink as a batch (produce_many); what the sink cannot take now waits
        in the backlog, and reading pauses until it drains.
        """
        listener, stats, backlog = self.listener, self.stats, self.backlog
        headers = [("received_at", _clock.now()), self.peer_h, listener.transport_h, listener.listener_h]
        produce, key = listener.sink.produce, self.key
        if not any_cut and not backlog:
            self._produce_run(frames, headers)  # type: ignore[arg-type]  # no Frame among them
            return
        for frame in frames:
            stats.received += 1
            if isinstance(frame, Frame):  # a cut frame (the decoder hands whole frames as bytes)
                backlog.extend(
                    listener._oversize(frame.data, frame.original, frame.size, key, self.peer_h, self.peer)
                )
            elif backlog:
                backlog.append((RAW_SYSLOG, frame, key, headers, "produced"))
            else:
                try:
                    produce(RAW_SYSLOG, frame, key, headers)
                    stats.produced += 1
                except BufferFull:
                    backlog.append((RAW_SYSLOG, frame, key, headers, "produced"))
                except Exception:
                    stats.errors += 1
                    stats.dropped += 1
                    listener.errors.error(
                        "syslog listener %s: produce failed for %s", listener.name, self.peer
                    )
        if backlog and not self.drain():
            self._pause()

    def _produce_run(self, values: list[bytes], headers: list[Header]) -> None:
        """Whole frames, none waiting before them: produce them as a batch, backlog what the sink refuses for now."""
        listener, stats = self.listener, self.stats
        produce_many, produce, key = listener.produce_many, listener.sink.produce, self.key
        n = len(values)
        stats.received += n
        i = queued = 0
        while i < n:
            done = produce_many(RAW_SYSLOG, values, key, headers, i)
            queued += done - i
            i = done
            if i == n:
                break
            try:  # the record the batch stopped at: learn why
                produce(RAW_SYSLOG, values[i], key, headers)
            except BufferFull:
                break
            except Exception:
                stats.errors += 1
                stats.dropped += 1
                listener.errors.error("syslog listener %s: produce failed for %s", listener.name, self.peer)
            else:
                queued += 1
            i += 1
        stats.produced += queued
        if i < n:
            self.backlog.extend([(RAW_SYSLOG, value, key, headers, "produced") for value in values[i:]])
            if not self.drain():
                self._pause()

    def drain(self) -> bool:
        """Hand the backlog to the sink in order; False (and reading stays paused) while the sink is full."""
        produce, stats, backlog = self.listener.sink.produce, self.stats, self.backlog
        while backlog:
            topic, value, key, headers, counter = backlog[0]
            try:
                produce(topic, value, key, headers)
            except BufferFull:
                return False
            except Exception:
                # Not a budget problem (e.g. a record the sink refuses): retrying would loop forever.
                stats.errors += 1
                stats.dropped += 1
                self.listener.errors.error(
                    "syslog listener %s: produce failed for %s", self.listener.name, self.peer
                )
            else:
                setattr(stats, counter, getattr(stats, counter) + 1)
            backlog.popleft()
        if self.paused:
            self.paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()
        return True

    def _pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.stats.paused += 1
            if self.transport is not None and not self.transport.is_closing():
                self.transport.pause_reading()
        self.listener.block(self)

    def _fail(self, what: str) -> None:
        self.stats.errors += 1
        self.listener.errors.error(
            "syslog listener %s: %s for %s, closing it", self.listener.name, what, self.peer
        )
        if self.transport is not None:
            self.transport.abort()

    def _check_idle(self) -> None:
        if not self.open or self.transport is None:
            return
        timeout = self.listener.settings.idle_timeout
        idle = self.listener.loop.time() - self.last
        if self.paused or idle < timeout:
            self._idle = self.listener.loop.call_later(
                max(0.1, timeout - idle) if not self.paused else timeout, self._check_idle
            )
            return
        log.info(
            "syslog listener %s: closing %s after %.0f s without data", self.listener.name, self.peer, idle
        )
        self.transport.close()


class StreamListener(SyslogListener):
    """RFC 6587 over TCP (octet-counting and LF/NUL framing on one port) and RFC 5425 over TLS."""

    def __init__(
        self, settings: ListenerSettings, sink: RecordSink, metrics: SyslogMetrics | None = None
    ) -> None:
        super().__init__(settings, sink, metrics)
        self.connections: set[_Connection] = set()
        self.blocked: set[_Connection] = set()
        self.transport_h, self.listener_h, self.errors = self._transport_h, self._listener_h, self._errors
        # Batches of whole frames: the sink's produce_many (KafkaSink), else produce() one by one.
        self.produce_many: ProduceMany = getattr(sink, "produce_many", None) or _produce_each(sink)
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start()
        self._server: asyncio.Server | None = None
        self._retry: asyncio.Task | None = None

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets, "listener not started"
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        tls = self.settings.transport == "tls"
        ctx = server_ssl_context(self.settings) if tls else None
        self._server = await self.loop.create_server(
            lambda: _Connection(self),
            self.settings.host,
            self.settings.bind_port,
            ssl=ctx,
            ssl_handshake_timeout=30.0 if tls else None,
            reuse_address=True,
            backlog=min(4096, max(128, self.settings.max_connections)),
        )
        self._started = True
        log.info(
            "syslog listener %s: %s on %s:%d",
            self.name,
            self.settings.transport,
            self.settings.host,
            self.port,
        )

    def block(self, conn: _Connection) -> None:
        """Remember a connection waiting for sink room; one retry task serves them all."""
        self.blocked.add(conn)
        if self._retry is None or self._retry.done():
            self._retry = self.loop.create_task(self._retry_blocked())

    async def _retry_blocked(self) -> None:
        """Poll for sink room with backoff (1 ms to 50 ms): the sink has no awaitable 'room' signal."""
        delay = 0.001
        while self.blocked:
            await asyncio.sleep(delay)
            if not self.sink.has_room():
                delay = min(delay * 2, 0.05)
                continue
            delay = 0.001
            for conn in list(self.blocked):
                try:
                    done = conn.drain()
                except Exception:
                    self.stats.errors += 1
                    self.errors.error("syslog listener %s: draining %s failed", self.name, conn.peer)
                    done = True
                if done:
                    self.blocked.discard(conn)
                elif not self.sink.has_room():
                    break

    async def stop(self, drain_timeout: float = 5.0) -> int:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        # connection_lost flushes each decoder; a TLS peer that never answers the close is cut after a while.
        deadline = time.monotonic() + min(drain_timeout, 2.0)
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await asyncio.sleep(0)
        deadline = time.monotonic() + drain_timeout
        while self.blocked and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        lost = sum(len(conn.backlog) for conn in self.blocked)
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if lost:
            self.stats.dropped += lost
            log.error(
                "syslog listener %s: %d accepted records not handed to the sink at shutdown", self.name, lost
            )
        for conn in self.blocked:
            conn.backlog.clear()
        self.blocked.clear()
        self._started = False
        if server is not None:
            log.info("syslog listener %s: %s stopped", self.name, self.settings.transport)
        return lost


def _produce_each(sink: RecordSink) -> ProduceMany:
    """produce_many() for a RecordSink without one: values[start:] one by one, stopping at the first not queued."""

    def produce_many(topic: str, values: list[bytes], key: bytes | None, headers: list[Header], start: int) -> int:
        produce, i = sink.produce, start
        try:
            for i in range(start, len(values)):  # noqa: B007 - i is the result
                produce(topic, values[i], key, headers)
        except Exception:  # noqa: BLE001 - the caller produces values[i] again to learn why
            return i
        return len(values)

    return produce_many


def make_listener(
    settings: ListenerSettings, sink: RecordSink, metrics: SyslogMetrics | None = None
) -> SyslogListener:
    """The listener for a transport: UdpListener, or StreamListener for tcp and tls."""
    if settings.transport == "udp":
        return UdpListener(settings, sink, metrics)
    return StreamListener(settings, sink, metrics)


async def run_listeners(
    settings: Iterable[ListenerSettings], sink: RecordSink, metrics: SyslogMetrics | None = None
) -> None:
    """Start every listener (all or none), run until cancelled, then stop them all."""
    listeners = [make_listener(s, sink, metrics) for s in settings]
    started: list[SyslogListener] = []
    try:
        for listener in listeners:
            await listener.start()
            started.append(listener)
        await asyncio.Future()
    finally:
        for listener in reversed(started):
            await listener.stop()
