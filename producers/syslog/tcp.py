"""RFC 6587 syslog over TCP and RFC 5425 over TLS: one stream path, frames cut by FrameDecoder, back-pressure to the peer."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

from vigie.producers.syslog.base import (
    Header,
    ListenerSettings,
    Pending,
    ProduceMany,
    SyslogListener,
    ThrottledLog,
    log,
    peer_address,
    receive_clock,
)
from vigie.producers.syslog.framing import DEFAULT_HARD_CAP, Frame, FrameDecoder
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.sink import BufferFull, RecordSink
from vigie.topics import RAW_SYSLOG


def server_ssl_context(settings: ListenerSettings) -> ssl.SSLContext:
    """The RFC 5425 server context: TLS 1.2+, our certificate, client certificates required when a CA is set."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(settings.certfile or "", settings.keyfile)
    if settings.cafile:
        ctx.load_verify_locations(cafile=settings.cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


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
        self.raw: asyncio.Transport | None = None  # tls: the TCP transport, until the handshake is over
        self.lost = False

    # --- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A TCP connection: refused at once over max_connections (TLS handshakes in progress count)."""
        listener = self.listener
        if len(listener.connections) + len(listener.handshakes) >= listener.settings.max_connections:
            self.stats.rejected += 1
            listener.errors.error(
                "syslog listener %s: over max_connections %d (%d open, %d in TLS handshake), connection refused",
                listener.name,
                listener.settings.max_connections,
                len(listener.connections),
                len(listener.handshakes),
                exc_info=False,
            )
            transport.abort()
            return
        self.peer, self.key, self.peer_h = peer_address(transport.get_extra_info("peername") or ("?", 0))
        if listener.tls_context is not None:
            self.raw = transport  # type: ignore[assignment]
            listener.handshake(self, self.raw)  # type: ignore[arg-type]
            return
        self.established(transport)  # type: ignore[arg-type]

    def established(self, transport: asyncio.Transport) -> None:
        """Ready for syslog frames: at once over TCP, after the handshake over TLS (transport is then the TLS one)."""
        if self.lost:  # closed by the peer right after the handshake, before the listener resumed
            return
        self.transport = transport
        self.raw = None
        listener = self.listener
        self.open = True
        listener.connections.add(self)
        self.stats.connections += 1
        loop = listener.loop
        self.last = loop.time()
        self._idle = loop.call_later(listener.settings.idle_timeout, self._check_idle)
        if self.paused:  # frames that came with the handshake's last flight found the sink full
            transport.pause_reading()

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
        self.lost = True
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
        headers = [
            ("received_at", receive_clock.now()),
            self.peer_h,
            listener.transport_h,
            listener.listener_h,
        ]
        produce, key = listener.sink.produce, self.key
        if not any_cut and not backlog:
            self._produce_run(frames, headers)  # type: ignore[arg-type]  # no Frame among them
            return
        for frame in frames:
            stats.received += 1
            if isinstance(frame, Frame):  # a cut frame (the decoder hands whole frames as bytes)
                backlog.extend(
                    listener._oversize(
                        frame.data, frame.original, frame.size, key, self.peer_h, self.peer, frame.sha256
                    )
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
        transport = self.transport or self.raw
        if transport is not None:
            transport.abort()

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
        self.handshakes: dict[_Connection, asyncio.Task] = {}  # tls: handshakes in progress
        self.tls_context: ssl.SSLContext | None = None  # set by start() for a tls listener
        self._handshake_log = ThrottledLog()
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
        if self.settings.transport == "tls":
            self.tls_context = server_ssl_context(self.settings)
        # TLS is started on each accepted TCP connection (handshake()), not by the server: asyncio's own
        # TLS server hands a connection over only once its handshake is done, so handshakes in progress
        # escaped max_connections (3,000 stalled ones were held against a limit of 1,000).
        self._server = await self.loop.create_server(
            lambda: _Connection(self),
            self.settings.host,
            self.settings.bind_port,
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

    def handshake(self, conn: _Connection, raw: asyncio.Transport) -> None:
        """Start the TLS handshake of an accepted connection; it counts against max_connections meanwhile."""
        self.stats.handshakes += 1
        self.handshakes[conn] = self.loop.create_task(self._handshake(conn, raw))

    async def _handshake(self, conn: _Connection, raw: asyncio.Transport) -> None:
        """TLS on an accepted TCP connection, dropped (and counted) when not done within handshake_timeout."""
        timeout = self.settings.handshake_timeout
        try:
            try:
                async with asyncio.timeout(timeout):
                    # asyncio's own timeout (twice ours) only backs ours up: ours is the one counted
                    transport = await self.loop.start_tls(
                        raw, conn, self.tls_context, server_side=True, ssl_handshake_timeout=2 * timeout
                    )
            finally:
                self._handshake_over(conn)
        except TimeoutError:
            self.stats.handshake_timeouts += 1
            raw.abort()
            self._handshake_log.error(
                "syslog listener %s: no TLS handshake from %s within %g s, connection dropped",
                self.name,
                conn.peer,
                timeout,
                exc_info=False,
            )
            return
        except OSError as exc:  # ssl.SSLError, or the peer gone (reset, EOF) during the handshake
            self._handshake_failed(conn, raw, exc)
            return
        if transport is None:  # asyncio answers a connection closed during the handshake so
            self._handshake_failed(conn, raw, ConnectionResetError("closed during the TLS handshake"))
            return
        conn.established(transport)

    def _handshake_over(self, conn: _Connection) -> None:
        if self.handshakes.pop(conn, None) is not None:
            self.stats.handshakes -= 1

    def _handshake_failed(self, conn: _Connection, raw: asyncio.Transport, exc: Exception) -> None:
        self.stats.handshake_failures += 1
        raw.abort()
        self._handshake_log.error(
            "syslog listener %s: TLS handshake with %s failed: %s", self.name, conn.peer, exc, exc_info=False
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
        handshakes = list(self.handshakes.values())
        for task in handshakes:
            task.cancel()  # start_tls closes the TCP connection when cancelled
        await asyncio.gather(*handshakes, return_exceptions=True)
        for conn in list(self.handshakes):  # cancelled before their task ever ran
            self._handshake_over(conn)
            if conn.raw is not None:
                conn.raw.abort()
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

    def produce_many(
        topic: str, values: list[bytes], key: bytes | None, headers: list[Header], start: int
    ) -> int:
        produce, i = sink.produce, start
        try:
            for i in range(start, len(values)):  # noqa: B007 - i is the result
                produce(topic, values[i], key, headers)
        except Exception:  # noqa: BLE001 - the caller produces values[i] again to learn why
            return i
        return len(values)

    return produce_many
