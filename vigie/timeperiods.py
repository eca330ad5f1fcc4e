"""Time periods in Nagios Core 4 syntax, evaluated in a zoneinfo time zone: the one parser used by config
validation (check_timeperiods) and by the correlate worker (parse_timeperiods, contains, next_start).

A period is a TOML table: each key is the "day or date" part of a Nagios timeperiod directive and its value
the "HH:MM-HH:MM[,HH:MM-HH:MM]" part, plus `timezone`, `exclude` and `alias`:

    [timeperiods.workhours]
    timezone = "Europe/Paris"
    "monday..friday" = "08:00-12:00,13:30-18:00"      # Vigie's day range; also monday, mon, friday..monday
    "2026-12-24" = "08:00-12:00"                      # calendar date (also "2026-12-24 - 2027-01-02 / 3")
    "july 14" = ""                                    # month date: not on Bastille Day
    "day -1" = "08:00-10:00"                          # month day: the last day of every month
    "monday 1 september" = "10:00-18:00"              # weekday of a given month
    "thursday -1" = "08:00-16:00"                     # weekday of every month: the last Thursday
    exclude = ["holidays"]                            # a list, or "a,b" as in Nagios

Which ranges apply on a local date D (Nagios Core 4, base/utils.c, `_get_matching_timerange`, called by
`check_time_against_period`, `_get_next_valid_time` and `_get_next_invalid_time`): the exceptions are tried by
type in the order of the DATERANGE_* constants of include/objects.h -- calendar dates (DATERANGE_CALENDAR_DATE),
month dates (DATERANGE_MONTH_DATE, "july 4"), month days (DATERANGE_MONTH_DAY, "day 2"), weekday of a given
month (DATERANGE_MONTH_WEEK_DAY, "monday 3 january"), weekday of every month (DATERANGE_WEEK_DAY,
"monday 3") -- and, within a type, in definition order (Vigie's choice: Nagios' docs do not say, and its
lists are built by prepending); the first exception whose days include D gives D's
ranges, even when the time tested is outside them (`return temp_daterange->times`), so "july 14" = "" or
"00:00-00:00" takes July 14 out of the period. Only when no exception includes D do the plain weekday ranges
apply (`return tperiod->days[test_time_wday]`). Exclusions are tested first: a time inside any excluded
period is outside (`check_time_against_period` returns ERROR when an exclusion returns OK).

Where this module differs from Nagios, on purpose:
- Times are half-open [start, end) in local wall-clock time (Nagios: closed, in seconds elapsed since local
  midnight, so shifted by an hour after a DST change); the repeated autumn hour is inside a range covering it
  both times and the skipped spring hour never happens.
- A range whose end is not after its start wraps past midnight ("22:00-02:00"): the part after midnight
  belongs to the day the range starts, so it applies whatever ranges the next day has; equal ends
  ("00:00-00:00") are empty, as in Nagios. "00:00-24:00" is the whole day.
- A yearly or monthly range that runs over the year's or month's end ("december 24 - january 2",
  "day 25 - 5") covers the days on both sides (Nagios 4 matches only the part before the turn for month
  dates), and a skip "/ N" counts from the start of the occurrence that contains the day.
- Day numbers that cannot exist ("february 30", "day 0", "monday 6") and calendar ranges that end before
  they start are refused with a one-line error instead of being silently skipped; an end that runs past the
  month ("day 1 - 31" in April) ends on its last day, as in Nagios.
- Weekdays may be written as three letters (mon, tue...); the `use`/`name`/`register` template keys of
  Nagios are not supported (TOML has no templates: list the exceptions, or `exclude` a holidays period whose
  days are "00:00-24:00").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december")
_DAY_INDEX = {name: i for i, name in enumerate(WEEKDAYS)} | {name[:3]: i for i, name in enumerate(WEEKDAYS)}
_MONTH_INDEX = {name: i + 1 for i, name in enumerate(MONTHS)}
DAY = 86400
Ranges = tuple[tuple[int, int], ...]  # [start, end) in seconds after local midnight; end > DAY runs into the next day

# exception types, in Nagios' order of precedence (include/objects.h DATERANGE_*)
CALENDAR_DATE, MONTH_DATE, MONTH_DAY, MONTH_WEEK_DAY, WEEK_DAY = range(5)
_RANGE = re.compile(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")
_RANGES_HINT = '"HH:MM-HH:MM[,HH:MM-HH:MM]"'
_W = "|".join(_DAY_INDEX)
_M = "|".join(MONTHS)
_N = r"(-?\d+)"
_SKIP = r"(?:\s*/\s*(\d+))?"
_FORMS = (  # (type, pattern of the key lower-cased with single spaces); plain weekdays are tested before these
    (CALENDAR_DATE, re.compile(rf"(\d{{4}})-(\d{{1,2}})-(\d{{1,2}})(?:\s*-\s*(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}))?{_SKIP}")),
    (MONTH_DATE, re.compile(rf"({_M})\s+{_N}(?:\s*-\s*(?:({_M})\s+)?{_N})?{_SKIP}")),
    (MONTH_DAY, re.compile(rf"day\s+{_N}(?:\s*-\s*(?:day\s+)?{_N})?{_SKIP}")),
    (MONTH_WEEK_DAY, re.compile(rf"({_W})\s+{_N}\s+({_M})(?:\s*-\s*({_W})\s+{_N}\s+({_M}))?{_SKIP}")),
    (WEEK_DAY, re.compile(rf"({_W})\s+{_N}(?:\s*-\s*(?:({_W})\s+)?{_N})?{_SKIP}")),
)


class TimePeriodError(ValueError):
    """A time period that cannot be used; the message is one line that names the period and key."""


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _key_path(where: str, key: str) -> str:
    """`where.key`, quoting keys that are not TOML bare keys ("monday..friday", "july 14")."""
    return f"{where}.{key}" if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'{where}."{key}"'


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise TimePeriodError(f"unknown time zone {_show(name)}") from exc


@dataclass(frozen=True, slots=True)
class DayRef:
    """One end of an exception's days: a day of a month or the nth weekday of a month.

    month 0 means the month being tested (month days, weekday of every month); mday < 0 and nth < 0 count
    from the month's end (-1 = last). Calendar dates use year, month and mday.
    """

    year: int = 0
    month: int = 0
    mday: int = 0
    wday: int = -1  # 0 = monday; -1 when mday is the day
    nth: int = 0

    def counts_back(self) -> bool:
        return self.mday < 0 or self.nth < 0


@dataclass(frozen=True, slots=True)
class DateException:
    """One Nagios exception ("july 14", "day 1 - 15 / 5", ...): on the days it covers, its ranges replace the weekday's."""

    kind: int
    key: str
    start: DayRef
    end: DayRef
    skip: int
    ranges: Ranges


@dataclass(slots=True, eq=False)
class TimePeriod:
    """When notifications (or a recurring maintenance) apply: weekday ranges and exceptions, in one time zone."""

    name: str
    timezone: str = "UTC"
    weekdays: tuple[Ranges, ...] = ((),) * 7
    exceptions: tuple[DateException, ...] = ()  # in precedence order: by type, then definition order
    exclude: tuple[TimePeriod, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)  # as configured, for to_dict()
    alias: str = ""
    # own ranges by local date: routing asks about the same day over and over, and an exception test costs
    # several date computations (measured, 11 exceptions, shared 2-core machine: contains() 5 us with this
    # cache, 77 us without)
    _own: dict[date, Ranges] = field(default_factory=dict, init=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.spec)


# ---- parsing ---------------------------------------------------------------------------------------------


def _parse_ranges(path: str, value: Any) -> Ranges:
    """'06:00-22:00,23:00-24:00' -> second ranges; '22:00-02:00' wraps past midnight; '00:00-00:00' is empty."""
    if not isinstance(value, str):
        raise TimePeriodError(f"{path}: expected ranges {_RANGES_HINT}, got {_show(value)}")
    out: list[tuple[int, int]] = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        m = _RANGE.fullmatch(part)
        if not m:
            raise TimePeriodError(f"{path}: expected ranges {_RANGES_HINT}, got {_show(value)}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        for hour, minute in ((h1, m1), (h2, m2)):
            if hour > 24 or minute > 59 or (hour == 24 and minute):
                raise TimePeriodError(f"{path}: bad time {hour:02d}:{minute:02d} in {_show(part)} (00:00 to 24:00)")
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if end > start:
            out.append((start, end))
        elif end < start:  # runs past midnight into the next day
            out.append((start, end + DAY))
    return tuple(sorted(out))


def _weekday_keys(key: str) -> list[int] | None:
    """'monday', 'mon', 'monday..friday' (wrapping: 'friday..monday') -> weekday indexes; None if not one."""
    if ".." in key:
        first, _, last = (s.strip() for s in key.partition(".."))
        if first not in _DAY_INDEX or last not in _DAY_INDEX:
            return None
        a, b = _DAY_INDEX[first], _DAY_INDEX[last]
        return [(a + i) % 7 for i in range((b - a) % 7 + 1)]
    return [_DAY_INDEX[key]] if key in _DAY_INDEX else None


def _int(text: str | None, default: int = 0) -> int:
    return default if text is None else int(text)


def _check_mday(path: str, mday: int, month: int) -> None:
    """A day of a month (month 0: any month) that exists in at least one year."""
    longest = 31 if month == 0 else (29 if month == 2 else calendar.monthrange(2001, month)[1])
    if mday == 0 or abs(mday) > longest:
        where = f"in {MONTHS[month - 1]}" if month else "in a month"
        raise TimePeriodError(
            f"{path}: day {mday} does not exist {where} (1 to {longest}, or -1 to -{longest} from the end)"
        )


def _check_nth(path: str, nth: int) -> None:
    if nth == 0 or abs(nth) > 5:
        raise TimePeriodError(f"{path}: weekday count {nth} does not exist (1 to 5, or -1 to -5 from the end)")


def _calendar_ref(path: str, y: str, m: str, d: str) -> DayRef:
    try:
        day = date(int(y), int(m), int(d))
    except ValueError:
        raise TimePeriodError(f"{path}: {y}-{m}-{d} is not a date") from None
    return DayRef(year=day.year, month=day.month, mday=day.day)


def _parse_exception(path: str, key: str) -> DateException | None:
    """A Nagios exception key (already lower-cased, spaces collapsed) -> DateException; None if no form matches."""
    found = next(((kind, m) for kind, pattern in _FORMS if (m := pattern.fullmatch(key))), None)
    if found is None:
        return None
    kind, match = found
    g = match.groups()
    if kind == CALENDAR_DATE:
        start = _calendar_ref(path, *g[0:3])
        end = _calendar_ref(path, *g[3:6]) if g[3] else start
        skip_text, single = g[6], g[3] is None
        if (end.year, end.month, end.mday) < (start.year, start.month, start.mday):
            raise TimePeriodError(f"{path}: the range ends before it starts")
    elif kind == MONTH_DATE:
        smon = _MONTH_INDEX[g[0]]
        emon = _MONTH_INDEX[g[2]] if g[2] else smon
        start, end = DayRef(month=smon, mday=int(g[1])), DayRef(month=emon, mday=_int(g[3], int(g[1])))
        _check_mday(path, start.mday, smon)
        _check_mday(path, end.mday, emon)
        skip_text, single = g[4], g[3] is None
    elif kind == MONTH_DAY:
        start, end = DayRef(mday=int(g[0])), DayRef(mday=_int(g[1], int(g[0])))
        _check_mday(path, start.mday, 0)
        _check_mday(path, end.mday, 0)
        skip_text, single = g[2], g[1] is None
    elif kind == MONTH_WEEK_DAY:
        start = DayRef(month=_MONTH_INDEX[g[2]], wday=_DAY_INDEX[g[0]], nth=int(g[1]))
        end = DayRef(month=_MONTH_INDEX[g[5]], wday=_DAY_INDEX[g[3]], nth=int(g[4])) if g[3] else start
        skip_text, single = g[6], g[3] is None
    else:  # WEEK_DAY: "monday 3", "thursday 2 - 4", "monday 3 - thursday 4"
        wday = _DAY_INDEX[g[0]]
        start = DayRef(wday=wday, nth=int(g[1]))
        end = DayRef(wday=_DAY_INDEX[g[2]] if g[2] else wday, nth=_int(g[3], int(g[1])))
        skip_text, single = g[4], g[3] is None
    if kind in (MONTH_WEEK_DAY, WEEK_DAY):
        _check_nth(path, start.nth)
        _check_nth(path, end.nth)
    skip = _int(skip_text, 1)
    if skip < 1:
        raise TimePeriodError(f"{path}: skip interval / {skip}: expected 1 or more days")
    if skip_text is not None and single and kind != CALENDAR_DATE:
        raise TimePeriodError(f"{path}: a skip interval needs a range of days (or a single calendar date)")
    return DateException(kind, key, start, end, skip, ())


def _exclude_names(path: str, value: Any) -> list[str]:
    """`exclude`: a list of names, or one string of comma-separated names as Nagios writes it."""
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    if isinstance(value, list) and all(isinstance(n, str) for n in value):
        return [n.strip() for n in value]
    raise TimePeriodError(f"{path}: expected a list of time period names, got {_show(value)}")


def parse_timeperiod(
    name: str,
    spec: dict[str, Any],
    known: dict[str, TimePeriod] | None = None,
    *,
    where: str | None = None,
    default_timezone: str = "UTC",
) -> TimePeriod:
    """One period, e.g. {timezone = "Europe/Paris", "monday..saturday" = "06:00-22:00", "july 14" = ""}.

    `known` holds the periods `exclude` may name; `where` prefixes error messages (default "timeperiods.NAME").
    Keys set to None are skipped: a schema that fills absent keys with None must not change the period.
    """
    where = where if where is not None else f"timeperiods.{name}"
    if not isinstance(spec, dict):
        raise TimePeriodError(f"{where}: expected a table of day or date keys and ranges, got {_show(spec)}")
    tz_key = "timezone" if "timezone" in spec else "tz"
    tz_name = spec.get(tz_key)
    tz_name = default_timezone if tz_name is None else tz_name
    try:
        zone(tz_name)
    except TimePeriodError as exc:
        raise TimePeriodError(f"{_key_path(where, tz_key)}: {exc}") from None
    alias = spec.get("alias") or ""
    if not isinstance(alias, str):
        raise TimePeriodError(f"{_key_path(where, 'alias')}: expected a string, got {_show(alias)}")
    week: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    exceptions: list[DateException] = []
    excluded: list[TimePeriod] = []
    for key, value in spec.items():
        if value is None or key in ("timezone", "tz", "alias"):
            continue
        path = _key_path(where, key)
        if key == "exclude":
            for ex in _exclude_names(path, value):
                if not known or ex not in known:
                    raise TimePeriodError(f"{path}: unknown time period {_show(ex)}")
                excluded.append(known[ex])
            continue
        normal = " ".join(str(key).lower().split())
        days = _weekday_keys(normal)
        if days is not None:
            ranges = _parse_ranges(path, value)
            for wd in days:
                week[wd].extend(ranges)
            continue
        exc = _parse_exception(path, normal)
        if exc is None:
            raise TimePeriodError(
                f"{path}: unknown key (expected a weekday, a day range such as \"monday..friday\", a Nagios "
                'date such as "2026-12-25", "july 14", "day -1", "monday 1 september" or "thursday -1", '
                "or timezone, exclude, alias)"
            )
        exceptions.append(replace(exc, ranges=_parse_ranges(path, value)))
    return TimePeriod(
        name=name,
        timezone=tz_name,
        weekdays=tuple(tuple(sorted(r)) for r in week),
        exceptions=tuple(sorted(exceptions, key=lambda e: e.kind)),  # stable: definition order within a type
        exclude=tuple(excluded),
        spec=dict(spec),
        alias=alias,
    )


ALWAYS = parse_timeperiod("24x7", {"monday..sunday": "00:00-24:00"})
NEVER = parse_timeperiod("never", {})


def _exclusion_order(table: dict[str, Any], prefix: str) -> list[str]:
    """Period names so that every period comes after those it excludes; a cycle is one error naming its path."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = being visited, 2 = done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = trail[trail.index(name):] + [name]
            raise TimePeriodError(
                f"{prefix}timeperiods.{cycle[0]}.exclude: exclusions form a cycle: {' -> '.join(cycle)}"
            )
        state[name] = 1
        spec = table[name]
        raw = spec.get("exclude") if isinstance(spec, dict) else None
        if raw is not None:
            for dep in _exclude_names(_key_path(f"{prefix}timeperiods.{name}", "exclude"), raw):
                if dep in table:
                    visit(dep, trail + [name])
        state[name] = 2
        order.append(name)

    for name in table:
        visit(name, [])
    return order


def parse_timeperiods(
    table: dict[str, Any] | None, *, prefix: str = "", default_timezone: str = "UTC"
) -> dict[str, TimePeriod]:
    """All periods of the [timeperiods] table (exclusions may name each other in any order), plus 24x7 and never."""
    table = table or {}
    if not isinstance(table, dict):
        raise TimePeriodError(f"{prefix}timeperiods: expected a table of time periods, got {_show(table)}")
    out: dict[str, TimePeriod] = {"24x7": ALWAYS, "never": NEVER}
    for name in _exclusion_order(table, prefix):
        out[name] = parse_timeperiod(
            name, table[name], out, where=f"{prefix}timeperiods.{name}", default_timezone=default_timezone
        )
    return out


def check_timeperiods(table: dict[str, Any] | None, *, default_timezone: str = "UTC") -> dict[str, TimePeriod]:
    """Config validation of the whole [timeperiods] table; errors read `config: timeperiods.NAME.KEY: ...`.

    Returns the parsed periods, with the built-in "24x7" and "never", so callers can check names against it.
    """
    return parse_timeperiods(table, prefix="config: ", default_timezone=default_timezone)


# ---- evaluation ------------------------------------------------------------------------------------------


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _resolve(ref: DayRef, year: int, month: int) -> date | None:
    """The date `ref` names in `year` (and `month` when ref has none); None when that month has no such day."""
    month = ref.month or month
    last = calendar.monthrange(year, month)[1]
    if ref.wday < 0:
        day = ref.mday if ref.mday > 0 else last + 1 + ref.mday
    elif ref.nth > 0:
        day = 1 + (ref.wday - date(year, month, 1).weekday()) % 7 + 7 * (ref.nth - 1)
    else:
        day = last - (date(year, month, last).weekday() - ref.wday) % 7 - 7 * (-ref.nth - 1)
    return date(year, month, day) if 1 <= day <= last else None


def _resolve_end(ref: DayRef, year: int, month: int) -> date | None:
    """Like _resolve, but an end past the month's last day ends on it (Nagios: "slipped past end of month")."""
    day = _resolve(ref, year, month)
    if day is None and not ref.counts_back():
        month = ref.month or month
        day = date(year, month, calendar.monthrange(year, month)[1])
    return day


def _covers(exc: DateException, day: date) -> bool:
    """True when `day` is one of the exception's days (skip interval applied)."""
    if exc.kind == CALENDAR_DATE:
        start = date(exc.start.year, exc.start.month, exc.start.mday)
        end = date(exc.end.year, exc.end.month, exc.end.mday)
        if exc.skip > 1 and start == end:  # "2008-04-01 / 7": every 7 days from then on
            end = date.max
        return start <= day <= end and (day - start).days % exc.skip == 0
    yearly = exc.kind in (MONTH_DATE, MONTH_WEEK_DAY)
    if yearly:  # this year's occurrence, or last year's if it runs over the new year
        bases = [(day.year - 1, 1), (day.year, 1)]
    else:  # this month's occurrence, or last month's if it runs over the month's end
        bases = [(day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1), (day.year, day.month)]
    for year, month in bases:
        if year < 1 or year >= 9999:
            continue
        start = _resolve(exc.start, year, month)
        if start is None or day < start:
            continue
        end = _resolve_end(exc.end, year, month)
        if end is not None and end < start:
            end = _resolve_end(exc.end, *((year + 1, month) if yearly else _next_month(year, month)))
        if end is not None and day <= end and (day - start).days % exc.skip == 0:
            return True
    return False


def own_ranges(period: TimePeriod, day: date) -> Ranges:
    """The ranges defined for local date `day`: the first exception covering it, else its weekday's ranges."""
    ranges = period._own.get(day)
    if ranges is None:
        ranges = next((exc.ranges for exc in period.exceptions if _covers(exc, day)), period.weekdays[day.weekday()])
        if len(period._own) >= 512:  # bounded: next_start walks up to 400 days
            period._own.clear()
        period._own[day] = ranges
    return ranges


def day_ranges(period: TimePeriod, day: date) -> list[tuple[int, int]]:
    """[start, end) second ranges within local date `day`: its own, plus what yesterday's ranges ran past midnight."""
    out = [(start, min(end, DAY)) for start, end in own_ranges(period, day) if start < DAY]
    if day > date.min:
        out += [(0, end - DAY) for _, end in own_ranges(period, day - timedelta(days=1)) if end > DAY]
    return out


def contains(period: TimePeriod, when: float) -> bool:
    """True when epoch second `when` falls in the period (local wall-clock time, exclusions applied)."""
    local = datetime.fromtimestamp(when, zone(period.timezone))
    second = local.hour * 3600 + local.minute * 60 + local.second
    if not any(start <= second < end for start, end in day_ranges(period, local.date())):
        return False
    return not any(contains(ex, when) for ex in period.exclude)


def _midnight(day: date, tz: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def _transitions(lo: float, hi: float, tz: ZoneInfo) -> list[float]:
    """Instants in [lo, hi) where the zone's UTC offset changes (found by bisection to the second)."""
    out: list[float] = []
    if datetime.fromtimestamp(lo, tz).utcoffset() == datetime.fromtimestamp(hi, tz).utcoffset():
        return out  # the usual day: one offset from midnight to midnight
    step = 3 * 3600  # no zone has changed its offset twice within 3 hours
    a = lo
    while a < hi:
        b = min(a + step, hi)
        if datetime.fromtimestamp(a, tz).utcoffset() != datetime.fromtimestamp(b, tz).utcoffset():
            x, y = a, b
            while y - x > 1:
                mid = (x + y) // 2
                if datetime.fromtimestamp(mid, tz).utcoffset() == datetime.fromtimestamp(x, tz).utcoffset():
                    x = mid
                else:
                    y = mid
            out.append(y)
        a = b
    return out


def _candidates(period: TimePeriod, day: date) -> set[float]:
    """Every instant of local date `day` where `period` (without its exclusions) may begin or stop containing
    time: the day's midnight, each range boundary (both instants of a repeated wall time) and DST changes."""
    tz = zone(period.timezone)
    out = {_midnight(day, tz)}
    for start, end in day_ranges(period, day):
        for second in (start, end):
            if second < DAY:
                hour, rest = divmod(second, 3600)
                for fold in (0, 1):
                    wall = datetime(day.year, day.month, day.day, hour, rest // 60, rest % 60, tzinfo=tz, fold=fold)
                    out.add(wall.timestamp())
    out.update(_transitions(_midnight(day, tz), _midnight(day + timedelta(days=1), tz), tz))
    return out


def _with_exclusions(period: TimePeriod) -> list[TimePeriod]:
    out: list[TimePeriod] = []
    stack = [period]
    while stack:
        p = stack.pop()
        if all(p is not q for q in out):
            out.append(p)
            stack.extend(p.exclude)
    return out


def _next_flip(period: TimePeriod, after: float, horizon_days: int, inside: bool) -> float | None:
    """First instant > `after` where contains() is `inside`, looking day by day in the period's zone."""
    tz = zone(period.timezone)
    periods = _with_exclusions(period)
    first = datetime.fromtimestamp(after, tz).date()
    for offset in range(horizon_days):
        day = first + timedelta(days=offset)
        lo, hi = _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
        found: set[float] = set()
        for p in periods:
            ptz = zone(p.timezone)
            pday, plast = datetime.fromtimestamp(lo, ptz).date(), datetime.fromtimestamp(hi, ptz).date()
            while pday <= plast:
                found.update(_candidates(p, pday))
                pday += timedelta(days=1)
        for t in sorted(c for c in found if lo <= c < hi and c > after):
            if contains(period, t) == inside:
                return t
    return None


def next_start(period: TimePeriod, after: float, horizon_days: int = 400) -> float | None:
    """First instant >= `after` inside the period (`after` itself when inside); None if none within the horizon."""
    if contains(period, after):
        return after
    return _next_flip(period, after, horizon_days, inside=True)


def next_end(period: TimePeriod, after: float, horizon_days: int = 400) -> float | None:
    """First instant >= `after` outside the period (when a maintenance window or a shift ends)."""
    if not contains(period, after):
        return after
    return _next_flip(period, after, horizon_days, inside=False)
