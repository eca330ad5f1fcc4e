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
ticks on the live worker's grid (multiples of `tick_interval`, pipelines/correlate/clock.py), so hold-downs,
group waits, flap ageing, maintenance ends, repeats and escalations fire when, and as, they did live, whatever
the replay's speed. A record whose received_at is before the clock (out of order) is taken at the clock, as the
live worker does.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from vigie import topics
from vigie.pipelines.app import normalize_record
from vigie.pipelines.correlate.clock import EventClock
from vigie.pipelines.correlate.engine import Engine, Output
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.normalize.normalize import Normalizer
from vigie.pipelines.normalize.rules import RuleSet
from vigie.schemas.codec import parse_rfc3339, rfc3339

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
        # the simulated now: the latest received_at seen, advanced by ticks on the live worker's grid
        self.event_clock = EventClock(tick_interval)
        self.result = Result(emit=emit)

    @property
    def clock(self) -> float:
        return self.event_clock.now

    def advance(self, until: float) -> None:
        """Fire the grid ticks up to `until` (the simulated clock catching up with the next record)."""
        for at in self.event_clock.ticks(until):
            self.result.add(self.engine.tick(at))

    def feed(self, record: RawRecord) -> None:
        self.advance(record.received_at)
        now = self.event_clock.event(record.received_at)
        self.result.records += 1
        if record.topic == CONTROL:
            out = self.engine.control(orjson.loads(record.value) if record.value else None, now, record.key.decode() if record.key else None)
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


# --- records read from the raw topics (the Kafka adapter is pipelines/replay_kafka.py) --------------------------


def kafka_record(
    topic: str,
    value: bytes | None,
    key: bytes | None,
    headers: list[tuple[str, bytes]] | None,
    timestamp_ms: int,
    partition: int,
    offset: int,
) -> RawRecord:
    """A raw topic's record as a RawRecord. Its time is the intake's `received_at` header (syslog, checks), else
    the `received_at` of a trap's value, else the record's Kafka timestamp (control, checks of older intakes)."""
    received = None
    for name, text in headers or ():
        if name == "received_at" and text:
            received = text.decode(errors="replace")
    if received is None and topic == topics.RAW_TRAPS and value:
        try:
            stamp = orjson.loads(value).get("received_at")
        except (orjson.JSONDecodeError, AttributeError):
            stamp = None  # normalize refuses it, as live; its time is the broker's
        received = stamp if isinstance(stamp, str) else None
    at = None
    if received is not None:
        try:
            at = parse_rfc3339(received).timestamp()
        except ValueError:
            received = None
    if at is None:
        at = timestamp_ms / 1000.0
        received = rfc3339(at)
    return RawRecord(topic, value or b"", at, received, key, {"topic": topic, "partition": partition, "offset": offset})


def merge_received(streams: Iterable[Iterable[RawRecord]]) -> Iterator[RawRecord]:
    """Partitions' records merged by received_at, each partition's own (receive) order kept."""
    return heapq.merge(*streams, key=lambda r: r.received_at)


def in_range(records: Iterable[RawRecord], start: float, end: float) -> Iterator[RawRecord]:
    """The records received in [start, end); the control commands of before `start` are applied at `start` (the
    state the live worker had then, as it reads the whole control table when it starts)."""
    for r in records:
        if r.received_at >= end:
            continue
        if r.received_at < start:
            if r.topic != CONTROL:
                continue
            r.received_at, r.received_text = start, rfc3339(start)
        yield r


# --- a replay against what the live worker produced (`vigie replay --from/--to --diff live`) ---------------------

# When the engine decided, not what: live, "now" is an event's timestamp (the raw record's, set by the intake as
# it wrote received_at, or normalize's reading time for a record of its backlog: pipelines/correlate/clock.py),
# replayed it is the record's received_at, so these can differ by a few ms whenever the decisions are the same. A notification's id
# hashes its incident's id, itself hashing the opening time; incident ids are renamed instead (_incident_names).
PROCESSING_TIMES = frozenset({"at", "first_seen", "last_seen", "resolved_at", "opened_at", "updated_at"})


def _incident_names(incidents: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Each incident id -> a name both runs give it: its site, the alert that opened it and which time that alert
    opened one at this site (its id hashes the opening time, which differs by milliseconds between runs)."""
    names: dict[str, str] = {}
    opened: dict[str, int] = {}
    for inc in incidents:
        if inc is None or inc.get("id") in names:
            continue
        first = next((e.get("alert") for e in inc.get("explain") or () if e.get("decision") == "open"), None)
        base = f"{inc.get('site')}/{first or (inc.get('root_cause') or {}).get('host')}"
        opened[base] = opened.get(base, 0) + 1
        names[inc["id"]] = f"{base}#{opened[base]}"
    return names


def _comparable(value: Any, names: dict[str, str], ids: re.Pattern[str] | None) -> Any:
    """`value` without its processing times, incident ids renamed wherever they appear (a group key holds one)."""
    if isinstance(value, dict):
        return {k: _comparable(v, names, ids) for k, v in value.items() if k not in PROCESSING_TIMES}
    if isinstance(value, list):
        return [_comparable(v, names, ids) for v in value]
    if isinstance(value, str) and ids is not None:
        return ids.sub(lambda m: names[m.group(0)], value)
    return value


def comparable_outputs(outputs: dict[str, list[tuple[str, Any]]]) -> dict[str, Any]:
    """One run's outputs as compared: the last value of each alert and incident (the live worker folds a
    batch's updates into one, so the updates in between are not comparable), every notification (by route)."""
    names = _incident_names(v for _k, v in outputs.get("incident", ()))
    ids = re.compile("|".join(re.escape(i) for i in sorted(names, key=len, reverse=True))) if names else None
    latest: dict[str, dict[str, bytes]] = {"alert": {}, "incident": {}}
    for kind in latest:
        for key, value in outputs.get(kind, ()):
            latest[kind][names.get(key, key)] = orjson.dumps(_comparable(value, names, ids), option=orjson.OPT_SORT_KEYS)
    notes = [(route, orjson.dumps(_comparable({k: v for k, v in value.items() if k != "id"}, names, ids),
                                  option=orjson.OPT_SORT_KEYS))
             for route, value in outputs.get("notification", ()) if value is not None]
    return {**latest, "notification": notes}


def result_outputs(result: Result) -> dict[str, list[tuple[str, Any]]]:
    """A replay's outputs keyed as the live topics key them (alert: fingerprint, incident: id, notification: route)."""
    return {
        "alert": [(a["fingerprint"], a) for a in result.alerts],
        "incident": [(i["id"], i) for i in result.incidents],
        "notification": [(n["route"], n) for n in result.notifications],
    }


def live_diff(live: dict[str, list[tuple[str, Any]]], replayed: dict[str, list[tuple[str, Any]]]) -> list[bytes]:
    """What differs: "- " lines only live, "+ " lines only replayed, each {"kind", "key", "value"} as compared
    (alerts and incidents: their last value; a value gone live, a tombstone, is left out of the comparison)."""
    left, right = comparable_outputs(live), comparable_outputs(replayed)
    lines: list[bytes] = []

    def line(sign: bytes, kind: str, key: str, value: bytes) -> bytes:
        return sign + b'{"kind":"' + kind.encode() + b'","key":' + orjson.dumps(key) + b',"value":' + value + b"}"

    for kind in ("alert", "incident"):
        for key in sorted(left[kind].keys() | right[kind].keys()):
            was, now = left[kind].get(key), right[kind].get(key)
            if was == now or was == b"null":
                continue
            if was is not None:
                lines.append(line(b"- ", kind, key, was))
            if now is not None:
                lines.append(line(b"+ ", kind, key, now))
    gone, new = Counter(left["notification"]), Counter(right["notification"])
    common = gone & new
    for sign, side, counts in ((b"- ", left["notification"], gone - common), (b"+ ", right["notification"], new - common)):
        for route, value in side:
            if counts[(route, value)] > 0:
                counts[(route, value)] -= 1
                lines.append(line(sign, "notification", route, value))
    return lines
