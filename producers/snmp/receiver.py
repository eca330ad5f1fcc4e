"""The SNMP trap receiver: UDP listener that writes v1/v2c/v3 traps and INFORMs to raw.traps and rejects to deadletter.

v1/v2c messages are decoded by the fast BER decoder (ber.py) and checked against the community allow-list
here; INFORMs are acknowledged after the record was accepted by the sink. v3 messages go, synchronously,
through a pysnmp 7 engine (USM: authentication, privacy, time windows, discovery) that shares the socket;
its rejections are read from the engine's usmStats counters around each message. What pysnmp 7.1 lets
through for traps, the receiver checks itself on each authenticated message: the user's configured
security level and the RFC 3414 3.2 step 7b time window (timeliness.py). Nothing a peer sends can stop
the receiver: every failure is counted (vigie_snmp_rejected_total{reason}) and dead-lettered with the
datagram's bytes and a short reason, and logged at most once per reason per minute (vigie.log_limit).
Keys are read from the environment at start and never logged or written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from vigie.log_limit import LogLimiter
from vigie.producers.snmp import ber
from vigie.producers.snmp.mibnames import MibResolver
from vigie.producers.snmp.settings import TrapSettings, V3User
from vigie.producers.snmp.timeliness import SECURITY_LEVELS, EngineTimeline
from vigie.producers.snmp.traps import (
    TrapError,
    community_text,
    from_pysnmp,
    peer_text,
    trap_value,
    v1_value,
)
from vigie.producers.snmp.usm import (
    ENGINE_COUNTERS,
    auth_protocols,
    make_transport_class,
    notification_pdu_types,
    priv_protocols,
)
from vigie.schemas.codec import dumps, rfc3339
from vigie.sink import BufferFull, RecordSink, dead_letter
from vigie.topics import RAW_TRAPS
from vigie.udp_drops import udp_drop_counters

log = logging.getLogger(__name__)

STAGE = "snmp.receive"

_BATCH = 256

_SECURITY_LEVELS = {number: name for name, number in SECURITY_LEVELS.items()}
_LEVEL_OF_FLAGS = {0: 1, 1: 2, 3: 3}  # msgFlags auth/priv bits -> security level
LOG_INTERVAL = 60.0  # seconds: one log line per refusal reason per minute at most


UDP_LISTENER = "snmp-traps"  # the `listener` label of vigie_udp_receive_drops_total for the trap socket


class TrapMetrics:
    """The receiver's Prometheus counters, in the given registry (a private one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.received = Counter(
            "vigie_snmp_traps",
            "Notifications written to raw.traps, by SNMP version and PDU (trap, inform)",
            ["version", "pdu"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "vigie_snmp_rejected",
            "Datagrams refused and dead-lettered, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.dropped = Counter(
            "vigie_snmp_dropped",
            "Notifications lost because the sink was full (UDP cannot push back)",
            ["topic"],
            registry=self.registry,
        )


class _Datagram:
    """The v3 datagram the engine is processing, so its callback knows the bytes and the peer."""

    __slots__ = ("data", "peer", "delivered", "indication")

    def __init__(self, data: bytes, peer: tuple[str, int]) -> None:
        self.data = data
        self.peer = peer
        self.delivered = False
        self.indication: Any = None  # the error indication the security model refused it with, if any


class TrapReceiver:
    """One UDP listener for SNMP notifications; start() binds, stop() closes. Not thread-safe (one event loop)."""

    def __init__(
        self,
        settings: TrapSettings,
        sink: RecordSink,
        registry: CollectorRegistry | None = None,
        resolver: MibResolver | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        log_interval: float = LOG_INTERVAL,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.metrics = TrapMetrics(registry)
        self._udp_drops = udp_drop_counters(self.metrics.registry)  # shared with the syslog UDP listeners
        self.resolver = resolver if resolver is not None else MibResolver.standard(settings.mib_dirs)
        self._environ = os.environ if environ is None else environ
        self._communities = frozenset(settings.communities)
        self._user_levels = {u.name: SECURITY_LEVELS[u.security_level] for u in settings.v3_users}
        self.timeline = EngineTimeline(clock)
        self._log_limit = LogLimiter(log, log_interval, clock=clock)
        self._flush_timer: asyncio.TimerHandle | None = None
        self._local_engine_id = b""
        self._engine: Any = None
        self._transport: Any = None
        self._counters: list[tuple[Any, str]] = []
        self._current: _Datagram | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.address: tuple[str, int] | None = None

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the socket and set up the v3 engine; raises OSError or ValueError (a key variable unset)."""
        from pysnmp.carrier.asyncio.dgram import udp, udp6
        from pysnmp.entity import config, engine
        from pysnmp.proto import rfc1902

        users = [(u, *u.keys(self._environ)) for u in self.settings.v3_users]  # fail early on a missing key
        six = ":" in self.settings.host
        sock = socket.socket(socket.AF_INET6 if six else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.settings.recv_buffer)
            sock.bind((self.settings.host, self.settings.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.address = sock.getsockname()[:2]
        self._udp_drops.watch(UDP_LISTENER, sock)

        engine_id = self.settings.engine_id
        self._engine = engine.SnmpEngine(
            snmpEngineID=rfc1902.OctetString(hexValue=engine_id.lower().removeprefix("0x"))
            if engine_id
            else None
        )
        transport_cls = make_transport_class(udp6.Udp6AsyncioTransport if six else udp.UdpAsyncioTransport)
        transport = transport_cls()
        transport.receiver = self
        domain = udp6.DOMAIN_NAME if six else udp.DOMAIN_NAME
        config.add_transport(self._engine, domain, transport)
        self._transport = transport
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._read_ready)
        for user, auth_key, priv_key in users:
            self._add_user(user, auth_key, priv_key)
        self._engine.message_dispatcher.register_context_engine_id(
            b"", notification_pdu_types(), self._process_v3_pdu
        )
        self._engine.observer.register_observer(self._note_refusal, "rfc3412.prepareDataElements:sm-failure")
        builder = self._engine.get_mib_builder()
        (local_id,) = builder.import_symbols("__SNMP-FRAMEWORK-MIB", "snmpEngineID")
        self._local_engine_id = bytes(local_id.syntax)
        self._schedule_log_flush()
        self._counters = [
            (builder.import_symbols(mod, sym)[0], reason) for mod, sym, reason in ENGINE_COUNTERS
        ]
        log.info(
            "snmp: listening on %s:%d (%d communities, %d v3 users, %d MIB names)",
            self.address[0],
            self.address[1],
            len(self._communities),
            len(users),
            len(self.resolver),
        )

    def _add_user(self, user: V3User, auth_key: str | None, priv_key: str | None) -> None:
        """Register a USM user for the local engine (INFORMs) and for each sender engine it traps from."""
        from pysnmp.entity import config
        from pysnmp.proto import rfc1902

        auth = auth_protocols()[user.auth_protocol]
        priv = priv_protocols()[user.priv_protocol]
        config.add_v3_user(self._engine, user.name, auth, auth_key, priv, priv_key)
        if user.engine_id:
            config.add_v3_user(
                self._engine,
                user.name,
                auth,
                auth_key,
                priv,
                priv_key,
                securityEngineId=rfc1902.OctetString(hexValue=user.engine_id.lower().removeprefix("0x")),
            )

    def _schedule_log_flush(self) -> None:
        """Every log interval, report the refusals whose log lines were suppressed (a burst that stopped)."""
        self._log_limit.flush()
        if self._loop is not None:
            self._flush_timer = self._loop.call_later(self._log_limit.interval, self._schedule_log_flush)

    async def stop(self) -> None:
        """Close the socket and the engine; records already produced stay with the sink."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
            self._log_limit.flush(everything=True)
        if self._sock is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._sock.fileno())
            self._udp_drops.forget(UDP_LISTENER)
            self._sock.close()
            self._sock = None
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.close_dispatcher()
            self._engine = None
        self._transport = None

    # --- datagrams -------------------------------------------------------------------------------------

    def _read_ready(self) -> None:
        """Drain the socket (up to a batch per wake-up: one loop iteration per datagram would halve throughput)."""
        sock = self._sock
        for _ in range(_BATCH):
            if sock is None:
                return
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ECONNREFUSED left by an ICMP error to an earlier reply
                log.debug("snmp: recvfrom: %s", exc)
                continue
            try:
                self._on_datagram(data, addr)
            except Exception:  # the receiver must outlive any bug a peer can trigger
                # a bug, not bad input: its traceback is worth one line per interval
                self._log_limit.log(
                    "snmp: internal_error", logging.ERROR, "snmp: unexpected error on a datagram from %s", addr[:2],
                    exc_info=True,
                )  # fmt: skip
                with contextlib.suppress(Exception):
                    self.metrics.rejected.labels("internal_error").inc()
                    dead_letter(
                        self.sink,
                        str(addr[0]),
                        STAGE,
                        "internal_error",
                        data,
                        {"peer": peer_text((str(addr[0]), int(addr[1]))), "reason": "internal_error"},
                    )

    def _sendto(self, data: bytes, addr: tuple[Any, ...]) -> None:
        """Send an INFORM acknowledgement or a v3 Report; a full socket buffer drops it (the peer retries)."""
        if self._sock is None:
            return
        try:
            self._sock.sendto(data, addr)
        except OSError as exc:
            log.debug("snmp: sendto %s: %s", addr[:2], exc)

    def _on_datagram(self, data: bytes, addr: Any) -> None:
        """Route one datagram: v1/v2c to the fast path, v3 to the engine, the rest to deadletter."""
        peer = (str(addr[0]), int(addr[1]))
        try:
            version = ber.peek_version(data)
        except ber.BerError as exc:
            self._reject("undecodable", f"ber: {exc}", data, peer)
            return
        if version in (0, 1):
            self._fast_path(data, addr, peer)
        elif version == 3:
            self._via_engine(data, addr, peer)
        else:
            self._reject("bad_version", f"SNMP version {version}", data, peer)

    def _fast_path(self, data: bytes, addr: Any, peer: tuple[str, int]) -> None:
        try:
            msg = ber.decode(data)
        except ber.BerError as exc:
            self._reject("undecodable", f"ber: {exc}", data, peer)
            return
        community = community_text(msg.community)
        if community not in self._communities:
            self._reject("unknown_community", "community not in the allow-list", data, peer)
            return
        try:
            if msg.version == 0 and msg.pdu_type == ber.TRAP_V1:
                value = v1_value(
                    enterprise=msg.enterprise,
                    agent_addr=msg.agent_addr,
                    generic=msg.generic,
                    specific=msg.specific,
                    timestamp=msg.timestamp,
                    varbinds=msg.varbinds,
                    community=community,
                    peer=peer,
                    received_at=rfc3339(),
                    resolver=self.resolver,
                )
                pdu = "trap"
            elif msg.version == 1 and msg.pdu_type in (ber.TRAP_V2, ber.INFORM):
                pdu = "inform" if msg.pdu_type == ber.INFORM else "trap"
                value = trap_value(
                    version=1,
                    pdu=pdu,
                    varbinds=msg.varbinds,
                    peer=peer,
                    received_at=rfc3339(),
                    resolver=self.resolver,
                    community=community,
                )
            else:
                name = ber.PDU_NAMES.get(msg.pdu_type, hex(msg.pdu_type))
                self._reject(
                    "unexpected_pdu", f"{name} PDU in an SNMP v{msg.version + 1} message", data, peer
                )
                return
        except TrapError as exc:
            self._reject("malformed_trap", str(exc), data, peer)
            return
        if self._produce(value, "v1" if msg.version == 0 else "v2c", pdu) and pdu == "inform":
            # acknowledged only once the sink took it: a full sink makes the sender retry
            self._sendto(ber.inform_response(msg), addr)

    def _via_engine(self, data: bytes, addr: Any, peer: tuple[str, int]) -> None:
        """Let the pysnmp engine authenticate/decrypt; a message it drops is classified from its counters."""
        from pysnmp.proto import errind

        before = [int(c.syntax) for c, _ in self._counters]
        current = self._current = _Datagram(data, peer)
        try:
            self._transport._callback_function(self._transport, addr, data)
        except Exception as exc:  # pysnmp raising on hostile input
            if current.delivered:
                raise  # raised after delivery: ours, not the peer's (counted as internal_error)
            self._reject("undecodable", f"pysnmp: {type(exc).__name__}", data, peer)
            return
        finally:
            self._current = None
        if current.delivered:
            return
        reasons = [
            reason for (c, reason), b in zip(self._counters, before, strict=True) if int(c.syntax) != b
        ]
        try:
            engine_id, user, _ = ber.v3_header(data)
        except ber.BerError:
            engine_id, user = b"", b""
        if reasons == ["unknown_engine_id"] and not user:
            return  # an engine-ID discovery probe (RFC 3414 4): the engine sent its Report, nothing was lost
        detail = f"user {community_text(user)!r}, engine {engine_id.hex() or '-'}"
        if not reasons and isinstance(current.indication, errind.NotInTimeWindow):
            # pysnmp's own step 7b refuses an authenticated trap whose boots is 2147483647 (uncounted): the
            # message is authentic, so it updates the notion here too (the boots stay latched, RFC 3414 2.3)
            reasons = ["not_in_time_window"]
            with contextlib.suppress(ber.BerError):
                header = ber.v3_security(data)
                refusal = self._v3_refusal(
                    community_text(user), _LEVEL_OF_FLAGS.get(header.flags & 3, 1), header
                )
                if refusal is not None:
                    reasons, detail = [refusal[0]], refusal[1]
        # no counter moved: the engine dropped it for a reason it does not count (a Report or Response to
        # nothing we sent, a scoped PDU missing, ...); still a refused datagram, so counted and kept
        if not reasons:
            reasons = ["refused_by_engine"]
            if current.indication is not None:
                detail = f"{detail}: {current.indication}"
        self._reject(reasons[0], detail, data, peer)

    def _note_refusal(self, snmpEngine: Any, execpoint: str, variables: dict[str, Any], context: Any) -> None:
        """Observer of the engine's security-model failures: keeps why it refused the current datagram."""
        if self._current is not None:
            self._current.indication = variables["statusInformation"].get("errorIndication")

    def _process_v3_pdu(
        self,
        snmpEngine: Any,
        messageProcessingModel: int,
        securityModel: int,
        securityName: Any,
        securityLevel: int,
        contextEngineId: Any,
        contextName: Any,
        pduVersion: int,
        PDU: Any,
        maxSizeResponseScopedPDU: int,
        stateReference: Any,
    ) -> None:
        """Called by the engine for an authenticated v3 notification; INFORMs are answered once the sink took them."""
        from pysnmp.proto import error, rfc3411
        from pysnmp.proto.api import v2c

        current = self._current
        if current is None:  # pragma: no cover - the engine only calls back inside _via_engine
            return
        current.delivered = True
        data, peer = current.data, current.peer
        pdu = "inform" if PDU.tagSet == v2c.InformRequestPDU.tagSet else "trap"
        try:
            header = ber.v3_security(data)
        except ber.BerError as exc:  # pysnmp accepted what our decoder refuses: refuse it too
            self._reject("undecodable", f"ber: {exc}", data, peer)
            return
        engine_id = header.engine_id
        refusal = self._v3_refusal(str(securityName), int(securityLevel), header)
        if refusal is not None:
            reason, detail = refusal
            self._reject(reason, detail, data, peer)
            return
        try:
            value = trap_value(
                version=3,
                pdu=pdu,
                varbinds=from_pysnmp(v2c.apiPDU.get_varbinds(PDU)),
                peer=peer,
                received_at=rfc3339(),
                resolver=self.resolver,
                user=str(securityName),
                attributes={
                    "security_level": _SECURITY_LEVELS.get(int(securityLevel), str(securityLevel)),
                    "engine_id": engine_id.hex(),
                    "context_engine_id": bytes(contextEngineId).hex(),
                    "context_name": str(contextName),
                },
            )
        except TrapError as exc:
            self._reject("malformed_trap", str(exc), data, peer)
            return
        if not self._produce(value, "v3", pdu) or PDU.tagSet not in rfc3411.CONFIRMED_CLASS_PDUS:
            return
        rsp = v2c.apiPDU.get_response(PDU)
        v2c.apiPDU.set_error_status(rsp, 0)
        v2c.apiPDU.set_error_index(rsp, 0)
        v2c.apiPDU.set_varbinds(rsp, v2c.apiPDU.get_varbinds(PDU))
        try:
            snmpEngine.message_dispatcher.return_response_pdu(
                snmpEngine,
                messageProcessingModel,
                securityModel,
                securityName,
                securityLevel,
                contextEngineId,
                contextName,
                pduVersion,
                rsp,
                maxSizeResponseScopedPDU,
                stateReference,
                {},
            )
        except error.StatusInformation as exc:
            log.warning("snmp: could not acknowledge a v3 INFORM from %s:%d: %s", peer[0], peer[1], exc)

    def _v3_refusal(self, user: str, level: int, header: ber.V3Header) -> tuple[str, str] | None:
        """What pysnmp 7.1 lets through for traps: a level below the user's, or a message outside the time window.

        Returns (reason, detail) or None. The time window (RFC 3414 3.2 step 7b) applies to authenticated
        messages from another engine; for INFORMs this receiver is the authoritative engine and pysnmp
        applies step 7a itself.
        """
        wanted = self._user_levels.get(user)
        if wanted is not None and level < wanted:
            return "security_level_too_low", (
                f"user {user!r} sent {_SECURITY_LEVELS.get(level, level)}, configured {_SECURITY_LEVELS[wanted]}"
            )
        if level < 2 or header.engine_id == self._local_engine_id:
            return None
        reason = self.timeline.check(header.engine_id, header.boots, header.time)
        if reason is None:
            return None
        boots, now = self.timeline.notion(header.engine_id) or (0, 0.0)
        return reason, (
            f"engine {header.engine_id.hex()} boots {header.boots} time {header.time}, "
            f"latest seen boots {boots} time {int(now)}"
        )

    # --- output ----------------------------------------------------------------------------------------

    def _produce(self, value: dict[str, Any], version: str, pdu: str) -> bool:
        try:
            self.sink.produce(RAW_TRAPS, dumps(value), key=value["agent_address"].encode())
        except BufferFull:
            self.metrics.dropped.labels(RAW_TRAPS).inc()
            return False
        self.metrics.received.labels(version, pdu).inc()
        return True

    def _reject(self, reason: str, detail: str, data: bytes, peer: tuple[str, int]) -> None:
        """Count and dead-letter a refused datagram with its exact bytes; never raises."""
        self.metrics.rejected.labels(reason).inc()
        origin = {"peer": peer_text(peer), "reason": reason}
        if self.address is not None:
            origin["listener"] = peer_text(self.address)
        try:
            dead_letter(self.sink, peer[0], STAGE, f"{reason}: {detail}", data, origin)
        except BufferFull:
            self.metrics.dropped.labels("deadletter").inc()
        self._log_limit.log(
            f"snmp: refused {reason}",
            logging.WARNING,
            "snmp: refused a datagram from %s: %s: %s",
            peer_text(peer),
            reason,
            detail[:200],
        )


async def run_trap_receiver(
    settings: TrapSettings,
    sink: RecordSink,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Run a TrapReceiver until `stop` is set (or the task is cancelled): the entry point for `vigie up`.

    ready() is called once the socket is bound, so that a trap sent when `vigie up` says ready is received.
    """
    receiver = TrapReceiver(settings, sink, registry)
    await receiver.start()
    if ready is not None:
        ready()
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        await receiver.stop()
