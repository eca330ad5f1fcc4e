"""Control commands (silences, acknowledgements, maintenance windows, topology updates): parsing and matching."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vigie.pipelines.correlate.topology import Inventory
from vigie.schemas.codec import parse_rfc3339, rfc3339
from vigie.schemas.validate import validate
from vigie.timeperiods import TimePeriod, TimePeriodError, contains, parse_timeperiod

CONTROL_SCHEMA = "control/1"
KINDS = ("silence", "acknowledge", "maintenance", "topology", "comment")  # comment: a person's note, not acted on
_KIND_ALIASES = {"ack": "acknowledge", "acknowledgement": "acknowledge", "downtime": "maintenance"}
LABELS = ("host", "site", "component", "severity", "service", "kind", "alertname", "servicegroups")
_MATCHER_TEXT = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$")


class ControlError(ValueError):
    """A control command that cannot be applied; the message names the field and what is expected."""


@dataclass(slots=True, frozen=True)
class Matcher:
    """One Alertmanager label matcher: name, operator (=, !=, =~, !~) and value (regexes anchored)."""

    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name) or ""
        op = self.op
        if op == "=":
            return actual == self.value
        if op == "!=":
            return actual != self.value
        hit = self.regex.fullmatch(actual) is not None  # type: ignore[union-attr]
        return hit if op == "=~" else not hit

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}


def parse_matcher(spec: Any, where: str = "matchers") -> Matcher:
    """A matcher from {name, op, value} or the text form 'host=~sw-.*'."""
    if isinstance(spec, str):
        m = _MATCHER_TEXT.match(spec)
        if not m:
            raise ControlError(f"{where}: cannot read matcher {spec!r}, expected e.g. 'host=~sw-.*'")
        name, op, value = m["name"], m["op"], m["value"].strip("\"'")
    elif isinstance(spec, dict):
        name, op, value = spec.get("name"), spec.get("op", "="), spec.get("value")
    else:
        raise ControlError(f"{where}: a matcher is a string or a {{name, op, value}} table")
    if name not in LABELS:
        raise ControlError(f"{where}: label {name!r} is not one of {', '.join(LABELS)}")
    if op not in ("=", "!=", "=~", "!~"):
        raise ControlError(f"{where}: operator {op!r} is not one of =, !=, =~, !~")
    if not isinstance(value, str):
        raise ControlError(f"{where}: value of {name} must be a string")
    regex = None
    if op in ("=~", "!~"):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise ControlError(
                f"{where}: {name}{op}{value!r} is not a valid regular expression: {exc}"
            ) from exc
    return Matcher(name, op, value, regex)


def parse_matchers(value: Any, where: str = "matchers") -> tuple[Matcher, ...]:
    """A list of matchers, or a {label: value} table meaning equality."""
    if isinstance(value, dict):
        return tuple(parse_matcher({"name": k, "op": "=", "value": v}, where) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(parse_matcher(v, f"{where}[{i}]") for i, v in enumerate(value))
    raise ControlError(f"{where}: expected a list of matchers or a {{label = value}} table")


def matches_all(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    for m in matchers:  # a plain loop: no generator on the per-alert path
        if not m.matches(labels):
            return False
    return True


def _time(value: Any, field_name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ControlError(f"{field_name}: expected an RFC 3339 time or epoch seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ControlError(f"{field_name}: the time must carry a time zone")
        return value.timestamp()
    if isinstance(value, str):
        try:
            parsed = parse_rfc3339(value)
        except ValueError:
            raise ControlError(f"{field_name}: {value!r} is not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            raise ControlError(f"{field_name}: {value!r} lacks a time zone (add Z or +01:00)")
        return parsed.timestamp()
    raise ControlError(f"{field_name}: expected an RFC 3339 time or epoch seconds")


@dataclass(slots=True)
class Command:
    """One parsed control value: the common fields plus the kind-specific ones in typed form."""

    id: str
    kind: str
    author: str
    reason: str
    start: float | None
    end: float | None
    matchers: tuple[Matcher, ...] = ()
    fingerprint: str | None = None
    hosts: tuple[str, ...] = ()
    include_children: bool = True
    recurrence: TimePeriod | None = None
    topology: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def active(self, now: float) -> bool:
        """In force at `now`: within [start, end) and, for a recurring window, inside its recurrence."""
        if self.start is not None and now < self.start:
            return False
        if self.end is not None and now >= self.end:
            return False
        return self.recurrence is None or contains(self.recurrence, now)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


def parse_command(value: dict[str, Any], key: str | None = None, now: float | None = None) -> Command:
    """Validate a `control` topic value; `now` fills start for acks and topology updates that omit it."""
    if not isinstance(value, dict):
        raise ControlError("control: expected a JSON object")
    kind = value.get("kind")
    kind = _KIND_ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise ControlError(f"control.kind: expected one of {', '.join(KINDS)}, got {value.get('kind')!r}")
    ident = value.get("id") or key
    if not isinstance(ident, str) or not ident:
        raise ControlError(f"{kind}.id: required (the object key on the control topic)")
    author = value.get("author")
    if not isinstance(author, str) or not author.strip():
        raise ControlError(f"{kind}.author: required, who issues the command")
    if kind == "comment":
        return _comment(value, ident, author, now)
    reason = value.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ControlError(f"{kind}.reason: required, why (shown to whoever is on call)")
    start = _time(value.get("start"), f"{kind}.start")
    end = _time(value.get("end"), f"{kind}.end")
    if kind in ("silence", "maintenance"):
        if start is None or end is None:
            raise ControlError(f"{kind}: start and end are both required")
    elif start is None:
        start = now
    if start is not None and end is not None and end <= start:
        raise ControlError(f"{kind}.end: must be after start")
    cmd = Command(ident, kind, author, reason, start, end, raw=dict(value, kind=kind, id=ident))
    if kind == "silence":
        if "matchers" not in value:
            raise ControlError('silence.matchers: required, e.g. ["host=~sw-.*", "severity!=critical"]')
        cmd.matchers = parse_matchers(value["matchers"], "silence.matchers")
        if not cmd.matchers:
            raise ControlError("silence.matchers: at least one matcher is required")
    elif kind == "acknowledge":
        fp = value.get("fingerprint")
        if fp is not None and not isinstance(fp, str):
            raise ControlError("acknowledge.fingerprint: expected a string")
        cmd.fingerprint = fp
        if value.get("matchers") is not None:
            cmd.matchers = parse_matchers(value["matchers"], "acknowledge.matchers")
        if not fp and not cmd.matchers:
            raise ControlError("acknowledge: give a fingerprint or matchers")
    elif kind == "maintenance":
        hosts = value.get("hosts")
        if isinstance(hosts, str):
            hosts = [hosts]
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            raise ControlError("maintenance.hosts: required, a non-empty list of host names")
        cmd.hosts = tuple(hosts)
        cmd.include_children = bool(value.get("include_children", True))
        rec = value.get("recurrence")
        if rec is not None:
            try:
                cmd.recurrence = parse_timeperiod(f"maintenance {ident}", rec)
            except TimePeriodError as exc:
                raise ControlError(f"maintenance.recurrence: {exc}") from None
    else:
        topo = value.get("hosts")
        if not isinstance(topo, dict):
            raise ControlError(
                "topology.hosts: required, a table of host name -> {site, parents, ...} (null removes)"
            )
        cmd.topology = {"hosts": topo}
    return cmd


def command_value(kind: str, author: str, reason: str, now: float, *, id: str | None = None,
                  start: float | None = None, end: float | None = None, matchers: list[str] | None = None,
                  fingerprint: str | None = None, hosts: list[str] | None = None, include_children: bool = True,
                  recurrence: dict[str, str] | None = None) -> dict[str, Any]:
    """The control/1 value of one command from plain values (epoch seconds), checked by parse_command and
    the JSON schema: `vigie silence|ack|maintenance` and the console write exactly what the worker reads.

    Raises ValueError (ControlError, SchemaError) with a one-line message naming the field."""
    value: dict[str, Any] = {
        "schema": "control/1",
        "kind": kind,
        "id": id or f"{kind}-{uuid.uuid4().hex[:12]}",
        "author": author,
        "reason": reason,
        "created_at": rfc3339(now),
    }
    if kind in ("silence", "maintenance"):
        if start is None or end is None:
            raise ValueError(f"{kind}: give a start and an end (or a duration)")
        value["start"], value["end"] = rfc3339(start), rfc3339(end)
    if kind == "silence":
        value["matchers"] = list(matchers or [])
    elif kind == "acknowledge":
        value["start"] = rfc3339(now if start is None else start)
        if fingerprint:
            value["fingerprint"] = fingerprint
        if matchers:
            value["matchers"] = list(matchers)
    elif kind == "maintenance":
        value["hosts"] = list(hosts or [])
        value["include_children"] = include_children
        if recurrence:
            value["recurrence"] = dict(recurrence)
    parse_command(value, now=now)
    validate(value)
    return value
def _comment(value: dict[str, Any], ident: str, author: str, now: float | None) -> Command:
    """A note people wrote in the console about an incident or an alert (`target`); kept, never acted on."""
    for name in ("target", "text"):
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise ControlError(f"comment.{name}: required, a non-empty string")
    return Command(ident, "comment", author, "", now, None, raw=dict(value, id=ident))


@dataclass(slots=True)
class ControlState:
    """Silences and maintenance windows in force or to come, with the hosts each window covers."""

    silences: dict[str, Command] = field(default_factory=dict)
    maintenances: dict[str, Command] = field(default_factory=dict)
    covered: dict[str, frozenset[str]] = field(default_factory=dict)  # maintenance id -> hosts

    def to_dict(self) -> dict[str, Any]:
        return {
            "silences": [c.to_dict() for c in self.silences.values()],
            "maintenances": [c.to_dict() for c in self.maintenances.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], inventory: Inventory) -> ControlState:
        state = cls()
        for raw in data.get("silences", []) + data.get("maintenances", []):
            state.add(parse_command(raw), inventory)
        return state

    def add(self, cmd: Command, inventory: Inventory) -> None:
        if cmd.kind == "silence":
            self.silences[cmd.id] = cmd
        elif cmd.kind == "maintenance":
            self.maintenances[cmd.id] = cmd
            self.covered[cmd.id] = covered_hosts(cmd, inventory)

    def remove(self, ident: str) -> bool:
        """Drop a command (a tombstone on the compacted topic, or an expiry)."""
        self.covered.pop(ident, None)
        return self.silences.pop(ident, None) is not None or self.maintenances.pop(ident, None) is not None

    def recompute(self, inventory: Inventory) -> None:
        """After a topology update: maintenance windows cover the new children."""
        self.covered = {i: covered_hosts(c, inventory) for i, c in self.maintenances.items()}

    def expire(self, now: float) -> list[str]:
        """Forget commands whose end has passed; returns their ids."""
        gone = [
            i for i, c in (self.silences | self.maintenances).items() if c.end is not None and now >= c.end
        ]
        for ident in gone:
            self.remove(ident)
        return gone

    def suppression(self, host: str, labels: dict[str, str], now: float) -> dict[str, Any] | None:
        """{kind, ref} of the maintenance window or silence hiding an alert at `now`, else None."""
        if self.maintenances:
            for ident in sorted(self.maintenances):
                if host in self.covered.get(ident, ()) and self.maintenances[ident].active(now):
                    return {"kind": "maintenance", "ref": ident}
        if self.silences:
            for ident in sorted(self.silences):
                cmd = self.silences[ident]
                if cmd.active(now) and matches_all(cmd.matchers, labels):
                    return {"kind": "silence", "ref": ident}
        return None


def covered_hosts(cmd: Command, inventory: Inventory) -> frozenset[str]:
    """The window's hosts and, unless include_children is false, everything behind them."""
    hosts = {inventory.resolve(h) or h for h in cmd.hosts}
    if cmd.include_children:
        for h in list(hosts):
            hosts.update(inventory.descendants(h))
    return frozenset(hosts)
