"""RFC 5426 syslog over UDP: one datagram is one message, read in batches off a non-blocking socket."""

from __future__ import annotations

import asyncio
import socket

from vigie.producers.syslog.base import (
    Header,
    ListenerSettings,
    SyslogListener,
    log,
    peer_address,
    receive_clock,
)
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.sink import BufferFull, RecordSink
from vigie.topics import RAW_SYSLOG


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
        # What the kernel drops when the buffer is full is read from /proc at scrape time: no cost here.
        self.metrics.udp_drops.watch(self.name, sock)
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
        found = self._peers[addr] = peer_address(addr)
        return found

    def _read_ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        recvfrom, bufsize, limit = sock.recvfrom, self._bufsize, self.settings.max_message_size
        produce, stats, peers, now = self.sink.produce, self.stats, self._peers, receive_clock.now
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
            self.metrics.udp_drops.forget(self.name)  # keeps the socket's final count
            sock.close()
            log.info("syslog listener %s: udp stopped", self.name)
        self._started = False
        return 0
