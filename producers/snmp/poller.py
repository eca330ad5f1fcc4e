"""SNMP polling (`[[inventory.pollers]]`): GET each host's items at an interval with pysnmp's asyncio API and
write one check result per poll to raw.checks, so measurements flow through correlation like any check.

One SnmpEngine for every target (v2c communities and v3 USM users registered once); at most `concurrency`
requests in flight; a target whose previous poll is still running when the next is due is counted late
and skipped (polling.Schedule). What a value means (scaling, thresholds, hysteresis) is in polling.py.
Measured here against Debian's snmpd: ~4 ms of CPU per GET of several OIDs, v2c or v3 authPriv.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pysnmp.error import PySnmpError

from vigie.producers.checks.plugin_output import check_result
from vigie.producers.snmp.polling import (
    UNKNOWN,
    Reading,
    Schedule,
    Thresholds,
    entity_sensor_oids,
    entity_sensor_value,
    evaluate,
    number_from,
    plugin_output,
)
from vigie.schemas.codec import dumps
from vigie.sink import BufferFull, RecordSink
from vigie.topics import RAW_CHECKS

if TYPE_CHECKING:
    from vigie.config import Config, PollerConfig, SnmpUserConfig

log = logging.getLogger("vigie.snmp.poller")


@dataclass
class Target:
    """One host polled by one poller, and what the last polls left (each item's state, for hysteresis)."""

    host: str
    address: str
    poller: PollerConfig
    thresholds: Thresholds
    schedule: Schedule
    states: dict[str, int] = field(default_factory=dict)

    def oids(self) -> list[str]:
        out: list[str] = []
        for item in self.poller.items:
            out.extend(entity_sensor_oids(item.entity_sensor) if item.entity_sensor is not None else [item.oid.lstrip(".")])
        return out


def targets_of(cfg: Config, now: float, rng: random.Random) -> list[Target]:
    """Every (poller, host) pair, first polls spread over one interval (a restart does not poll all at once)."""
    out: list[Target] = []
    hosts = cfg.inventory.hosts
    for p in cfg.inventory.pollers:
        names = set(p.hosts) | {h for h, conf in hosts.items() if set(conf.groups) & set(p.hostgroups)}
        th = Thresholds(p.warning, p.critical, p.direction, p.hysteresis)
        for name in sorted(names):
            address = hosts[name].address or name
            out.append(Target(name, address, p, th, Schedule(p.interval, now + rng.uniform(0, p.interval))))
    return out


def readings_from(target: Target, values: dict[str, Any], error: str | None) -> list[Reading]:
    """Each item's reading from the varbinds answered (OID -> value, absent when noSuch*), or the error for all."""
    out: list[Reading] = []
    for item in target.poller.items:
        if error is not None:
            out.append(Reading(item.label, None, item.uom, error))
            continue
        try:
            if item.entity_sensor is not None:
                value_oid, scale_oid, precision_oid, status_oid = entity_sensor_oids(item.entity_sensor)
                if int(values.get(status_oid, 1)) != 1:
                    raise ValueError(f"sensor status {int(values[status_oid])} (not ok)")
                raw = entity_sensor_value(int(values[value_oid]), int(values[scale_oid]), int(values[precision_oid]))
            else:
                raw = number_from(values[item.oid.lstrip(".")])
            out.append(Reading(item.label, raw * item.multiplier, item.uom))
        except KeyError:
            out.append(Reading(item.label, None, item.uom, "no such object"))
        except (ValueError, TypeError) as exc:
            out.append(Reading(item.label, None, item.uom, str(exc)))
    return out


class Poller:
    """Polls every target on its schedule until stop(); results go to the sink as check_result/1 values."""

    def __init__(self, sink: RecordSink, cfg: Config, *, concurrency: int = 32,
                 clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
                 environ: dict[str, str] | None = None, metrics: Any = None) -> None:
        self._sink = sink
        self._cfg = cfg
        self._clock = clock
        self._sem = asyncio.Semaphore(concurrency)
        self._env = os.environ if environ is None else environ
        self._metrics = metrics
        self.targets = targets_of(cfg, clock(), rng or random.Random())
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.polls = 0
        self.lateness: deque[float] = deque(maxlen=100_000)  # seconds from due to the request's start (bench)
        self._engine: Any = None
        self._auth: dict[str, Any] = {}
        self._transports: dict[tuple[str, int, float, int], Any] = {}

    def _auth_for(self, p: PollerConfig) -> Any:
        """CommunityData or UsmUserData of a poller (secrets from the environment), made once."""
        if p.name in self._auth:
            return self._auth[p.name]
        from pysnmp.hlapi.v3arch.asyncio import CommunityData, UsmUserData

        from vigie.producers.snmp.usm import auth_protocols, priv_protocols

        if p.version == "2c":
            community = self._env.get(p.community_env or "")
            if not community:
                raise ValueError(f"poller {p.name}: ${p.community_env} is not set")
            auth = CommunityData(community, mpModel=1)
        else:
            user: SnmpUserConfig = next(u for u in self._cfg.snmp.users if u.name == p.user)
            auth_key = self._env.get(user.auth_key_env or "") or None
            priv_key = self._env.get(user.priv_key_env or "") or None
            auth = UsmUserData(user.name, authKey=auth_key, privKey=priv_key,
                               authProtocol=auth_protocols()[user.auth_protocol],
                               privProtocol=priv_protocols()[user.priv_protocol])
        self._auth[p.name] = auth
        return auth

    def check_secrets(self) -> None:
        """Every poller's community or keys are in the environment: one line at start-up otherwise."""
        for p in self._cfg.inventory.pollers:
            self._auth_for(p)

    async def _get(self, target: Target) -> tuple[dict[str, Any], str | None]:
        from pysnmp.hlapi.v3arch.asyncio import (
            ContextData,
            ObjectIdentity,
            ObjectType,
            UdpTransportTarget,
            get_cmd,
        )
        from pysnmp.proto.rfc1905 import EndOfMibView, NoSuchInstance, NoSuchObject

        p = target.poller
        where = (target.address, p.port, p.timeout, p.retries)
        made = self._transports.get(where)
        if made is None:
            # One per agent address, made once: pysnmp registers a target's transport under its address, so a
            # second target for the same agent (another poller, or one made per request) replaces the first
            # and answers arriving on the first's socket are dropped as "Unregistered transport".
            # The task itself is kept, so that two first polls of one agent at the same moment share it.
            made = asyncio.ensure_future(
                UdpTransportTarget.create((target.address, p.port), timeout=p.timeout, retries=p.retries))
            self._transports[where] = made
        try:
            transport = await made
        except BaseException:
            self._transports.pop(where, None)  # a name that did not resolve is tried again at the next poll
            raise
        error_indication, error_status, error_index, var_binds = await get_cmd(
            self._engine, self._auth_for(p), transport, ContextData(),
            *[ObjectType(ObjectIdentity(oid)) for oid in target.oids()])
        if error_indication:
            return {}, str(error_indication)
        if error_status:
            return {}, f"{error_status.prettyPrint()} at {error_index}"
        values: dict[str, Any] = {}
        for name, value in var_binds:
            if isinstance(value, NoSuchObject | NoSuchInstance | EndOfMibView):
                continue
            values[str(name)] = value.asOctets() if hasattr(value, "asOctets") else int(value)
        return values, None

    async def poll_once(self, target: Target, due: float | None = None) -> dict[str, Any]:
        """One poll of one target, written to raw.checks; returns the topic value."""
        check_time = time.time()
        started = self._clock()
        async with self._sem:
            if due is not None:
                self.lateness.append(self._clock() - due)
            try:
                values, error = await self._get(target)
            except (OSError, ValueError, PySnmpError) as exc:  # unresolvable address, socket error
                values, error = {}, str(exc) or type(exc).__name__
        readings = readings_from(target, values, error)
        status, target.states = evaluate(readings, target.thresholds, target.states)
        output = plugin_output(target.poller.name, status, readings, target.states, target.thresholds)
        value = check_result(target.host, target.poller.name, status, output, "active", check_time,
                             round(self._clock() - started, 6))
        await self._produce(value)
        self.polls += 1
        if self._metrics is not None:
            self._metrics.observe(status, status == UNKNOWN and error is not None)
        return value

    async def _produce(self, value: dict[str, Any]) -> None:
        data, key = dumps(value), value["host"].encode("utf-8")
        while True:
            try:
                self._sink.produce(RAW_CHECKS, data, key=key)
                return
            except BufferFull:
                await asyncio.sleep(0.5)

    async def _run_target(self, target: Target, due: float) -> None:
        try:
            await self.poll_once(target, due)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in one poll must not stop the schedule
            log.exception("poll of %s/%s failed", target.host, target.poller.name)
        finally:
            target.schedule.running = False

    @property
    def late(self) -> int:
        return sum(t.schedule.late for t in self.targets)

    async def run(self) -> None:
        from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

        self._engine = SnmpEngine()
        try:
            while not self._stopping.is_set():
                now = self._clock()
                late_before = self.late
                for target in self.targets:
                    due = target.schedule.next_due
                    if target.schedule.due(now):
                        target.schedule.running = True
                        task = asyncio.create_task(self._run_target(target, due))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
                if self._metrics is not None and self.late > late_before:
                    self._metrics.skipped(self.late - late_before)
                wake = min((t.schedule.next_due for t in self.targets), default=now + 3600)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), max(0.0, wake - self._clock()))
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._engine.close_dispatcher()

    def stop(self) -> None:
        self._stopping.set()
