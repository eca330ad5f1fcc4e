"""Replay: normalize + correlate over recorded raw records on a simulated clock, as fast as the machine allows.

How an administrator tries a new rule, inventory or route on last week's records, and how scenario tests run
without waiting in real time. Nothing here talks to Kafka: the records come from a file (or from the raw
topics, read by `vigie replay`), the outputs are returned, nothing is written to the live topics.

A recorded raw record is one JSON object per line:

    {"topic": "raw.syslog", "received_at": "2025-03-01T10:00:00.120Z", "value": "<187>Mar  1 ...", "key": "10.1.0.1"}
    {"topic": "raw.traps",  "received_at": "...", "value": {...the trap value...}}
    {"topic": "raw.checks", "received_at": "...", "value": {"host": "h1", "service": "PING", "status": 2, ...}}
    {"topic": "control",    "received_at": "...", "value": {"schema": "control/1", "kind": "maintenance", ...}}

(`control` lines are the commands of `vigie silence`, `ack` and `maintenance`, applied at their time.)

Time: each record's `received_at` (set by the intake) is the event time, as live. Between records the engine
ticks once per simulated `tick_interval`, so hold-downs, group waits, flap ageing, maintenance ends, repeats
and escalations fire when they would have, whatever the replay's speed. A record whose received_at is before
the clock (out of order) is taken at the clock, as the live worker does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from vigie import topics
from vigie.pipelines.app import normalize_record
from vigie.pipelines.correlate.engine import Engine, Output
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.normalize.normalize import Normalizer
from vigie.pipelines.normalize.rules import RuleSet
from vigie.schemas.codec import parse_rfc3339

if TYPE_CHECKING:
    from vigie.config import Config

RAW = (topics.RAW_SYSLOG, topics.RAW_TRAPS, topics.RAW_CHECKS)
CONTROL = "control"


class ReplayError(ValueError):
    """A recorded line that cannot be replayed; the message names the line."""


@dataclass(slots=True)
class RawRecord:
    """One recorded raw record: its logical topic, value bytes, receive time and key (the syslog peer)."""

    topic: str
    value: bytes
    received_at: float
    received_text: str
    key: bytes | None = None
    origin: dict[str, Any] | None = None


def read_jsonl(lines: Iterable[bytes | str], source: str = "records") -> Iterator[RawRecord]:
    """Recorded raw records, one JSON object per line (blank lines skipped); a bad line is one clear error."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{source}:{n}"
        try:
            d = orjson.loads(line)
            topic, value, received = d["topic"], d["value"], d["received_at"]
            if topic not in RAW and topic != CONTROL:
                raise ReplayError(f"{where}: topic: expected one of {', '.join(RAW)}, {CONTROL}, got {topic!r}")
            at = parse_rfc3339(received).timestamp()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ReplayError):
                raise
            raise ReplayError(f"{where}: expected {{topic, received_at, value[, key]}} with an RFC 3339 received_at ({exc})") from None
        raw = value.encode() if isinstance(value, str) else orjson.dumps(value)
        key = d.get("key")
        yield RawRecord(topic, raw, at, received, key.encode() if isinstance(key, str) else None,
                        {"topic": topic, "partition": 0, "offset": n})


@dataclass(slots=True)
class Result:
    """What a replay produced, in order: the alerts, incidents and notifications a live run would have."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    events: int = 0
    refused: list[str] = field(default_factory=list)  # records normalize refused (dead-lettered live)

    emit: Callable[[str, dict[str, Any]], None] | None = None  # set: outputs are handed over, not kept
    counts: dict[str, int] = field(default_factory=lambda: {"alert": 0, "incident": 0, "notification": 0})

    def add(self, out: Output) -> None:
        counts = self.counts
        counts["alert"] += len(out.alerts)
        counts["incident"] += len(out.incidents)
        counts["notification"] += len(out.notifications)
        emit = self.emit
        if emit is None:
            self.alerts += out.alerts
            self.incidents += out.incidents
            self.notifications += out.notifications
            return
        for kind, values in (("alert", out.alerts), ("incident", out.incidents), ("notification", out.notifications)):
            for value in values:
                emit(kind, value)


class Replay:
    """One partition's normalize + correlate, on the records' clock."""

    def __init__(
        self,
        config: Config,
        tick_interval: float = 1.0,
        emit: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        """`emit(kind, value)` receives each output as it is produced (a long replay then keeps none of them:
        measured, keeping a million records' alerts made the replay three times slower)."""
        rules = RuleSet.load(config.normalize.rules_file) if config.normalize.rules_file else None
        self.normalizer = Normalizer(Inventory.from_config(config.inventory), rules)
        self.engine = Engine.from_config(config)
        self.tick_interval = tick_interval
        self.clock = 0.0  # the simulated now: the latest received_at seen, advanced by ticks
        self._next_tick = 0.0
        self.result = Result(emit=emit)

    def advance(self, until: float) -> None:
        """Tick every tick_interval up to `until` (the simulated clock catching up with the next record)."""
        if self._next_tick <= 0:
            self._next_tick = until
        while self._next_tick <= until:
            self.clock = max(self.clock, self._next_tick)
            self.result.add(self.engine.tick(self._next_tick))
            self._next_tick += self.tick_interval

    def feed(self, record: RawRecord) -> None:
        now = max(record.received_at, self.clock)
        self.advance(now)
        self.clock = now
        self.result.records += 1
        if record.topic == CONTROL:
            out = self.engine.control(orjson.loads(record.value), now, record.key.decode() if record.key else None)
            self.result.refused += [f"{record.origin}: {err}" for err in out.errors]
            self.result.add(out)
            return
        try:
            event = normalize_record(self.normalizer, record.topic, record.value, record.received_text,
                                     record.key, None, record.origin)
        except Exception as exc:  # noqa: BLE001 - as live: one bad record is refused (and counted), never a stop
            self.result.refused.append(f"{record.origin}: {type(exc).__name__}: {exc}")
            return
        if event is not None:
            self.result.events += 1
            self.result.add(self.engine.process(event, now))

    def run(self, records: Iterable[RawRecord], settle: float = 0.0) -> Result:
        """Feed every record, then let `settle` simulated seconds pass (timers due after the last record)."""
        for record in records:
            self.feed(record)
        if settle > 0 and self.clock > 0:
            self.advance(self.clock + settle)
        return self.result
