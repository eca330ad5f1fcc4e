"""What the syslog listeners share: settings, the receive clock, peer naming, and how a cut message is dead-lettered."""

from __future__ import annotations

import abc
import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from vigie.log_limit import LogLimiter
from vigie.producers.syslog.metrics import ListenerStats, SyslogMetrics, default_metrics
from vigie.schemas.codec import second_head
from vigie.sink import DEADLETTER_MAX_RAW, RecordSink, deadletter_value
from vigie.topics import DEADLETTER, RAW_SYSLOG

log = logging.getLogger("vigie.producers.syslog.listeners")

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
    handshake_timeout: float = 10.0  # tls: seconds from TCP accept to a finished handshake, else dropped
    certfile: str | None = None  # tls: server certificate chain (PEM)
    keyfile: str | None = None  # tls: its private key (PEM); None when inside certfile
    cafile: str | None = None  # tls: when set, clients must present a certificate signed by this CA
    udp_receive_buffer: int = 16 * 1024 * 1024  # SO_RCVBUF asked for; the kernel may grant less
    # Raw bytes a dead letter keeps of an over-long message; beyond, the first bytes with the length and SHA-256.
    deadletter_max_raw: int = DEADLETTER_MAX_RAW

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
        if self.handshake_timeout <= 0:
            raise ValueError(
                f"syslog listener {self.name!r} handshake_timeout: expected > 0 seconds, got {self.handshake_timeout}"
            )
        if self.deadletter_max_raw < 1:
            raise ValueError(
                f"syslog listener {self.name!r} deadletter_max_raw: expected >= 1 byte, got {self.deadletter_max_raw}"
            )
        if self.transport == "tls" and not self.certfile:
            raise ValueError(f"syslog listener {self.name!r} certfile: a tls listener needs a certificate")

    @property
    def bind_port(self) -> int:
        """The port to bind: the configured one or the transport's default."""
        return DEFAULT_PORTS[self.transport] if self.port is None else self.port


class ReceiveClock:
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
                self._prefix = second_head(sec) + "."
            self._ms = ms
            self._value = f"{self._prefix}{ms % 1000:03d}000Z".encode()
        return self._value


receive_clock = ReceiveClock()


def peer_address(addr: tuple) -> tuple[str, bytes, Header]:
    """Sender IP, record key and `peer` header from a socket address (IPv4-mapped IPv6 shown as IPv4)."""
    host, port = str(addr[0]), addr[1]
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return text, host.encode(), ("peer", text.encode())


class ThrottledLog:
    """A listener's error lines through the shared LogLimiter: one line per kind of failure per interval,
    so that a flood of bad input cannot flood the log (the count of those held back follows)."""

    def __init__(self, interval: float = 10.0) -> None:
        self._limiter = LogLimiter(log, interval)

    def error(self, msg: str, *args: object, exc_info: bool = True) -> None:
        self._limiter.log(msg, logging.ERROR, msg, *args, exc_info=exc_info)


class SyslogListener(abc.ABC):
    """What every listener shares: settings, sink, counters, and how a frame becomes records."""

    def __init__(
        self, settings: ListenerSettings, sink: RecordSink, metrics: SyslogMetrics | None = None
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = metrics or default_metrics()
        self.stats: ListenerStats = self.metrics.stats(settings.name, settings.transport)
        self._transport_h: Header = ("transport", settings.transport.encode())
        self._listener_h: Header = ("listener", settings.name.encode())
        self._errors = ThrottledLog()
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

    async def run(self, stop: asyncio.Event, ready: Callable[[], None] | None = None) -> None:
        """Serve until stop is set: the service shape `vigie up`'s supervisor runs (and restarts).

        ready() is called once the socket is bound: `vigie up` says ready only after every listener has.
        """
        await self.start()
        if ready is not None:
            ready()
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
        self,
        value: bytes,
        original: bytes | None,
        size: int,
        key: bytes,
        peer_h: Header,
        peer: str,
        sha256: str | None = None,
    ) -> list[Pending]:
        """Records for a cut message: the first max_message_size bytes to raw.syslog with `truncated: 1`,
        and the whole original to the dead-letter topic so that nothing received is lost.

        An original over deadletter_max_raw keeps its first bytes there, with its length and SHA-256: a
        record the size of the original would be refused by Kafka (MSG_SIZE_TOO_LARGE) and lost. sha256
        is the digest of all size bytes when original holds only the framer's first hard_cap bytes.

        A frame the peer left incomplete at end of stream (size larger than what arrived, yet under
        the limit) only goes to raw.syslog, marked truncated: there is nothing more to keep.
        """
        limit = self.settings.max_message_size
        received_at = receive_clock.now()
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
        max_raw = self.settings.deadletter_max_raw
        kept_here = min(len(whole), max_raw)
        kept = "" if kept_here >= size else f" (the first {kept_here} bytes are kept here)"
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
        letter = deadletter_value(
            STAGE, error, whole, origin, max_raw=max_raw, raw_size=size if sha256 else None, raw_sha256=sha256
        )
        records.append((DEADLETTER, letter, key, [], "dead_lettered"))
        return records
