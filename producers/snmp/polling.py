"""What an SNMP poll means, without the network: reading values (ENTITY-SENSOR-MIB scaling, numbers
in strings), thresholds with hysteresis, the plugin-style result, and the schedule that counts late polls.

poller.py does the SNMP requests (pysnmp) and writes the results; everything it decides is here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_WORDS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")

# ENTITY-SENSOR-MIB (RFC 3433): entPhySensorEntry columns, indexed by entPhysicalIndex.
ENT_SENSOR = "1.3.6.1.2.1.99.1.1.1"
ENT_SENSOR_TYPE, ENT_SENSOR_SCALE, ENT_SENSOR_PRECISION, ENT_SENSOR_VALUE, ENT_SENSOR_STATUS = 1, 2, 3, 4, 5
ENT_SENSOR_OK = 1  # entPhySensorOperStatus: ok(1), unavailable(2), nonoperational(3)


def entity_sensor_oids(index: int) -> tuple[str, str, str, str]:
    """(value, scale, precision, status) OIDs of one sensor."""
    return (f"{ENT_SENSOR}.{ENT_SENSOR_VALUE}.{index}", f"{ENT_SENSOR}.{ENT_SENSOR_SCALE}.{index}",
            f"{ENT_SENSOR}.{ENT_SENSOR_PRECISION}.{index}", f"{ENT_SENSOR}.{ENT_SENSOR_STATUS}.{index}")


def entity_sensor_value(value: int, scale: int, precision: int) -> float:
    """RFC 3433: EntitySensorDataScale is 1 (yocto, 10^-24) ... 9 (units) ... 17 (yotta, 10^24), and
    EntitySensorPrecision the number of decimal places in value (-8..9). 245 with precision 1 at units: 24.5."""
    if not 1 <= scale <= 17:
        raise ValueError(f"entPhySensorScale {scale} is not 1..17")
    if not -8 <= precision <= 9:
        raise ValueError(f"entPhySensorPrecision {precision} is not -8..9")
    return value * 10.0 ** (3 * (scale - 9) - precision)


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def number_from(value: object) -> float:
    """A number from what an agent returns: an integer type, or a string holding one (UCD extend and pass
    scripts answer "24.5" or "24.5 C"): the first number in it. ValueError when there is none."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a measurement")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        return float(value)
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    m = _NUMBER.search(text)
    if not m:
        raise ValueError(f"no number in {text[:40]!r}")
    return float(m.group())


@dataclass(frozen=True)
class Thresholds:
    warning: float | None
    critical: float | None
    direction: str = "above"  # "above": high values are bad; "below": low ones
    hysteresis: float = 0.0

    def _level(self, value: float, margin: float) -> int:
        sign = 1.0 if self.direction == "above" else -1.0
        if self.critical is not None and sign * (value - self.critical) >= -margin:
            return CRITICAL
        if self.warning is not None and sign * (value - self.warning) >= -margin:
            return WARNING
        return OK

    def level(self, value: float, previous: int = OK) -> int:
        """The state of a value given the state it had: it rises at once when a threshold is reached, and
        drops back only once the value is `hysteresis` beyond the threshold on the good side. 30.0 with
        warning 30 is WARNING; back to 29.5 with hysteresis 1 it stays WARNING; at 28.9 it is OK."""
        raw = self._level(value, 0.0)
        if previous not in (WARNING, CRITICAL) or raw >= previous:
            return raw
        return min(previous, max(raw, self._level(value, self.hysteresis)))

    def perf(self) -> tuple[str, str]:
        """The warn and crit fields of the performance data (Nagios range syntax: "@" for below)."""
        def field(limit: float | None) -> str:
            if limit is None:
                return ""
            text = f"{limit:g}"
            return f"{text}:" if self.direction == "below" else text
        return field(self.warning), field(self.critical)


@dataclass(frozen=True)
class Reading:
    """One item of one poll: a value, or why there is none."""

    label: str
    value: float | None
    uom: str = ""
    error: str | None = None


def evaluate(readings: list[Reading], thresholds: Thresholds, previous: dict[str, int]) -> tuple[int, dict[str, int]]:
    """The poll's status (the worst item; UNKNOWN when an item could not be read) and each item's new state."""
    states: dict[str, int] = {}
    worst = OK
    for r in readings:
        if r.value is None:
            states[r.label] = previous.get(r.label, OK)  # an unread value keeps its state: it is not "cooler"
            worst = _worse(worst, UNKNOWN)
            continue
        states[r.label] = thresholds.level(r.value, previous.get(r.label, OK))
        worst = _worse(worst, states[r.label])
    return worst, states


def _worse(a: int, b: int) -> int:
    """Nagios' order of badness: CRITICAL > WARNING > UNKNOWN > OK for a service's worst item."""
    rank = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}
    return a if rank[a] >= rank[b] else b


def plugin_output(name: str, status: int, readings: list[Reading], states: dict[str, int],
                  thresholds: Thresholds) -> str:
    """The result as a Nagios plugin would print it: "SNMP WARNING - inlet 31.5 C (WARNING), outlet 27 C
    | inlet=31.5C;30;35 outlet=27C;30;35" (check_result parses it like any plugin's)."""
    parts = []
    perf = []
    warn, crit = thresholds.perf()
    for r in readings:
        if r.value is None:
            parts.append(f"{r.label}: {r.error or 'no value'}")
            continue
        text = f"{r.label} {r.value:.10g}{(' ' + r.uom) if r.uom else ''}"
        if states.get(r.label, OK) != OK:
            text += f" ({STATUS_WORDS[states[r.label]]})"
        parts.append(text)
        perf.append(f"{_perf_label(r.label)}={r.value:.10g}{r.uom};{warn};{crit}")
    line = f"SNMP {STATUS_WORDS[status]} - {name}: " + ", ".join(parts)
    return line + (" | " + " ".join(perf) if perf else "")


def _perf_label(label: str) -> str:
    return f"'{label}'" if re.search(r"[\s=']", label) else label


@dataclass
class Schedule:
    """When one target is polled next. Due times advance by the interval from the first, so the schedule does
    not drift; a poll still running when the next is due, or rounds missed while the process was stalled,
    are counted as late and skipped (never queued: a backlog of stale polls helps no one)."""

    interval: float
    next_due: float
    running: bool = False
    late: int = 0

    def due(self, now: float) -> bool:
        """Whether to start a poll now; advances next_due past now either way once it is reached."""
        if now < self.next_due:
            return False
        missed = int((now - self.next_due) // self.interval)
        self.late += missed
        self.next_due += (missed + 1) * self.interval
        if self.running:
            self.late += 1
            return False
        return True
