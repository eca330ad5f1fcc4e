"""Nagios-like time periods (weekday and date ranges, exclusions) evaluated in a zoneinfo time zone, DST-correct."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.config import parse_duration as config_duration

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_INDEX = {name: i for i, name in enumerate(WEEKDAYS)} | {name[:3]: i for i, name in enumerate(WEEKDAYS)}
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DAY = 86400
Ranges = tuple[tuple[int, int], ...]  # [start, end) in seconds of the local day


class TimePeriodError(ValueError):
    """A time period that cannot be used; the message names the period and key."""


def parse_duration(value: Any, what: str = "duration") -> float:
    """Seconds from a number or a string like '90s', '30m', '4h', '1h30m'."""
    if isinstance(value, bool):
        raise TimePeriodError(f"{what}: expected seconds or a string such as '30m'")
    if isinstance(value, int | float):
        if value < 0:
            raise TimePeriodError(f"{what}: must not be negative")
        return float(value)
    if isinstance(value, str):
        try:
            return config_duration(value)
        except ValueError:
            pass
    raise TimePeriodError(f"{what}: expected seconds or a string such as '30m', '4h', '1h30m', got {value!r}")


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimePeriodError(f"unknown time zone {name!r}") from exc


@dataclass(slots=True, eq=False)
class TimePeriod:
    """When notifications (or a recurring maintenance) apply: ranges per weekday or date, in one time zone."""

    name: str
    timezone: str = "UTC"
    weekdays: tuple[Ranges, ...] = ((),) * 7
    dates: dict[str, Ranges] = field(default_factory=dict)  # ISO date -> ranges, overriding the weekday
    exclude: tuple[TimePeriod, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)  # as configured, for to_dict()

    def to_dict(self) -> dict[str, Any]:
        return dict(self.spec)


def _parse_ranges(period: str, key: str, value: Any) -> list[tuple[int, int]]:
    """'06:00-22:00,23:00-24:00' -> second ranges; a range like 22:00-02:00 wraps past midnight."""
    if not isinstance(value, str):
        raise TimePeriodError(f"timeperiods.{period}.{key}: expected 'HH:MM-HH:MM[,HH:MM-HH:MM]'")
    out: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        m = _RANGE.match(part)
        if not m:
            raise TimePeriodError(f"timeperiods.{period}.{key}: bad range {part!r}, expected HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59 or (h1 == 24 and m1) or (h2 == 24 and m2):
            raise TimePeriodError(f"timeperiods.{period}.{key}: bad time in {part!r}")
        out.append((h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60))
    return out


def _day_keys(period: str, key: str) -> list[int]:
    """'monday', 'mon', 'monday..friday' (wrapping, e.g. 'friday..monday') -> weekday indexes."""
    lowered = key.lower()
    if ".." in lowered:
        first, _, last = lowered.partition("..")
        if first not in _DAY_INDEX or last not in _DAY_INDEX:
            raise TimePeriodError(f"timeperiods.{period}: bad day range {key!r}")
        a, b = _DAY_INDEX[first], _DAY_INDEX[last]
        return [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    if lowered in _DAY_INDEX:
        return [_DAY_INDEX[lowered]]
    raise TimePeriodError(
        f"timeperiods.{period}: unknown key {key!r} (expected a weekday, a day range such as "
        "'monday..saturday', a date YYYY-MM-DD, timezone, exclude or alias)"
    )


def parse_timeperiod(
    name: str, spec: dict[str, Any], known: dict[str, TimePeriod] | None = None
) -> TimePeriod:
    """One period from config, e.g. {timezone = "Europe/Paris", "monday..saturday" = "06:00-22:00"}."""
    if not isinstance(spec, dict):
        raise TimePeriodError(f"timeperiods.{name}: expected a table")
    tz_name = spec.get("timezone", spec.get("tz", "UTC"))
    if not isinstance(tz_name, str):
        raise TimePeriodError(f"timeperiods.{name}.timezone: expected a zone name such as 'Europe/Paris'")
    try:
        zone(tz_name)
    except TimePeriodError as exc:
        raise TimePeriodError(f"timeperiods.{name}.timezone: {exc}") from None
    week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    dates: dict[str, list[tuple[int, int]]] = {}
    excluded: list[TimePeriod] = []
    for key, value in spec.items():
        if key in ("timezone", "tz", "alias"):
            continue
        if key == "exclude":
            names = [value] if isinstance(value, str) else value
            for ex in names:
                if not known or ex not in known:
                    raise TimePeriodError(f"timeperiods.{name}.exclude: unknown time period {ex!r}")
                excluded.append(known[ex])
            continue
        if _DATE.match(key):
            try:
                day = date.fromisoformat(key)
            except ValueError:
                raise TimePeriodError(f"timeperiods.{name}: bad date {key!r}") from None
            for start, end in _parse_ranges(name, key, value):
                if end > start:
                    dates.setdefault(key, []).append((start, end))
                else:  # wraps past midnight into the next date
                    dates.setdefault(key, []).append((start, DAY))
                    dates.setdefault((day + timedelta(days=1)).isoformat(), []).append((0, end))
            dates.setdefault(key, [])
            continue
        for wd in _day_keys(name, key):
            for start, end in _parse_ranges(name, key, value):
                if end > start:
                    week[wd].append((start, end))
                elif end < start or start == end == 0:
                    week[wd].append((start, DAY))
                    if end:
                        week[(wd + 1) % 7].append((0, end))
    return TimePeriod(
        name=name,
        timezone=tz_name,
        weekdays=tuple(tuple(sorted(r)) for r in week),
        dates={k: tuple(sorted(v)) for k, v in dates.items()},
        exclude=tuple(excluded),
        spec=dict(spec),
    )


ALWAYS = parse_timeperiod("24x7", {"monday..sunday": "00:00-24:00"})
NEVER = parse_timeperiod("never", {})


def parse_timeperiods(table: dict[str, Any] | None) -> dict[str, TimePeriod]:
    """All periods of the [timeperiods] table (exclusions may name each other in any order), plus 24x7."""
    table = table or {}
    out: dict[str, TimePeriod] = {"24x7": ALWAYS, "never": NEVER}
    pending = dict(table)
    while pending:
        progressed = False
        for name, spec in list(pending.items()):
            deps = spec.get("exclude", []) if isinstance(spec, dict) else []
            deps = [deps] if isinstance(deps, str) else deps
            if all(d in out or d not in pending for d in deps):
                out[name] = parse_timeperiod(name, spec, out)
                del pending[name]
                progressed = True
        if not progressed:
            raise TimePeriodError(f"timeperiods: exclusions form a cycle among {', '.join(sorted(pending))}")
    return out


def _ranges_at(period: TimePeriod, local: datetime) -> Ranges:
    if period.dates:
        ranges = period.dates.get(local.date().isoformat())
        if ranges is not None:
            return ranges
    return period.weekdays[local.weekday()]


def contains(period: TimePeriod, when: float) -> bool:
    """True when epoch second `when` falls in the period (local wall-clock time, exclusions applied)."""
    local = datetime.fromtimestamp(when, zone(period.timezone))
    second = local.hour * 3600 + local.minute * 60 + local.second
    inside = False
    for start, end in _ranges_at(period, local):
        if start <= second < end:
            inside = True
            break
    if not inside:
        return False
    return not any(contains(ex, when) for ex in period.exclude)


def _boundaries(period: TimePeriod, day: date) -> list[float]:
    """Epoch seconds of every range start and end of `period` on local date `day`."""
    tz = zone(period.timezone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    ranges = period.dates.get(day.isoformat()) if period.dates else None
    if ranges is None:
        ranges = period.weekdays[day.weekday()]
    out = []
    for start, end in ranges:
        out.append((midnight + timedelta(seconds=start)).timestamp())
        out.append((midnight + timedelta(seconds=end)).timestamp())
    return out


def next_start(period: TimePeriod, after: float, horizon_days: int = 400) -> float | None:
    """First instant >= `after` inside the period (`after` itself when inside); None if none within the horizon."""
    if contains(period, after):
        return after
    first = datetime.fromtimestamp(after, zone(period.timezone)).date()
    others: list[TimePeriod] = []
    stack = list(period.exclude)
    while stack:
        ex = stack.pop()
        others.append(ex)
        stack.extend(ex.exclude)
    for offset in range(horizon_days):
        day = first + timedelta(days=offset)
        candidates = _boundaries(period, day)
        for ex in others:
            for shift in (-1, 0, 1):
                candidates.extend(_boundaries(ex, day + timedelta(days=shift)))
        for t in sorted(c for c in candidates if c > after):
            if contains(period, t):
                return t
    return None


def next_end(period: TimePeriod, after: float, horizon_days: int = 400) -> float | None:
    """First instant >= `after` outside the period (when a maintenance window or a shift ends)."""
    if not contains(period, after):
        return after
    first = datetime.fromtimestamp(after, zone(period.timezone)).date()
    for offset in range(horizon_days):
        day = first + timedelta(days=offset)
        candidates = _boundaries(period, day)
        for ex in period.exclude:
            for shift in (-1, 0, 1):
                candidates.extend(_boundaries(ex, day + timedelta(days=shift)))
        for t in sorted(c for c in candidates if c > after):
            if not contains(period, t):
                return t
    return None
