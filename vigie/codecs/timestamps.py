"""The timestamp grammar of syslog headers (RFC 5424/RFC 3339, BSD, ISO 8601, Cisco clocks), shared by
every reader of syslog: the per-message parser (vigie.codecs.syslog) and the archive's column-wise one.

Every function returns the same shape: an RFC 3339 string in UTC with microseconds and a Z suffix
("2024-01-15T09:01:02.123000Z", as vigie.schemas.codec.rfc3339 writes), or None, appending what was
malformed or recovered to `errors`. Times without a zone are read in the device's zone when the caller
gives one (`local`, a LocalZone), as UTC otherwise; BSD times without a year take the year that puts
them closest to the reception time (its UTC day: a zone moves a day by less than a day, never the year
chosen for a date within months of it).

Local times at a daylight-saving change: a wall-clock time the zone shows twice (the autumn hour,
02:00-03:00 on 2026-10-25 in Europe/Paris) or never (the spring gap, 02:00-03:00 on 2026-03-29) has
two readings, one with the UTC offset in force before the change and one with the offset after it.
The reading closest to the receive time (LocalZone.near) wins; the offset before the change when both
are as close or the receive time is unknown (for the gap: a clock that has not yet moved forward).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, tzinfo
from typing import NamedTuple, Protocol

MONTHS = {
    m: i + 1
    for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))
}

# Time zone names devices print (Cisco "clock timezone", show-timezone). Ambiguous names
# (IST, CST for China...) take their most common network-gear meaning.
_TZ_NAMES = {
    "UTC": 0, "GMT": 0, "Z": 0, "UT": 0, "WET": 0, "WEST": 1, "BST": 1, "IST": 1,
    "CET": 1, "MET": 1, "CEST": 2, "MEST": 2, "EET": 2, "EEST": 3, "MSK": 3,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10, "AST": -4, "ADT": -3, "NST": -3.5, "NDT": -2.5,
    "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AWST": 8, "ACST": 9.5, "ACDT": 10.5,
    "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13, "RET": 4, "GFT": -3, "NCT": 11,
    "CAT": 2, "EAT": 3, "WAT": 1, "SAST": 2, "BRT": -3, "ART": -3,
}
TZ_OFFSETS = {k: int(v * 3600) for k, v in _TZ_NAMES.items()}

ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?([Zz]|[+-]\d{2}(?::?\d{2})?)?"
)
# The strict RFC 3339 shape RFC 5424 senders use; anything looser goes through ISO.
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)")
# BSD "Mmm dd hh:mm:ss", optionally a year after the day (Cisco/ASA) or after the time (Aruba).
BSD = re.compile(
    r"([A-Za-z]{3}) +(\d{1,2})(?: (\d{4}))? (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?: (\d{4}))?(?=\s|$)"
)
# Cisco clock: NX-OS puts the year first; IOS may show a zone name or offset after the time.
_CTS = re.compile(
    r"(?:(\d{4}) )?([A-Za-z]{3}) +(\d{1,2})(?: (\d{4}))? (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?: ([A-Za-z]{1,6}|[+-]\d{2}:?\d{2}))?"
)
BSD_NC = r"[A-Za-z]{3} +\d{1,2}(?: \d{4})? \d{1,2}:\d{2}:\d{2}(?:\.\d{1,9})?"
ISO_NC = r"\d{4}-\d{2}-\d{2}[Tt ]\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?"
CISCO_CLOCK_NC = r"(?:\d{4} )?" + BSD_NC + r"(?: [A-Za-z]{1,6}| [+-]\d{2}:?\d{2})?"



class LocalZone(NamedTuple):
    """How to read a timestamp that carries no zone: the device's zone, and the receive time that chooses
    between the two readings of a local time repeated or skipped at a daylight-saving change."""

    tz: tzinfo
    near: datetime | None


class ZoneResolver(Protocol):
    """The zone of the device that wrote a message, from its header's hostname or the sender's address."""

    def zone(self, hostname: str | None, sender: str | None) -> tzinfo | None:
        """None means UTC."""
        ...


_OFFSET_CACHE: dict[str, int | None] = {"Z": 0, "z": 0}
_DAY_ORD: dict[int, int] = {}
_PREFIX: dict[int, str] = {}
_DATE_ORD: dict[str, int] = {}
_CLOSEST: dict[int, int] = {}
_CACHE_MAX = 4096
_TWO = tuple(f"{i:02d}" for i in range(100))  # zero-padded 00..99, faster than format specs
_EPOCH_ORD = 719163  # date(1970, 1, 1).toordinal()
_MAX_ORD = 3652059  # date.max.toordinal()


def offset_seconds(tz: str) -> int | None:
    """Numeric offset ("+02:00", "+0200", "-05", "Z") in seconds; None when out of range."""
    if tz in _OFFSET_CACHE:
        return _OFFSET_CACHE[tz]
    digits = tz[1:].replace(":", "")
    hh, mm = int(digits[:2]), int(digits[2:4] or 0)
    res = None if hh > 23 or mm > 59 else (hh * 3600 + mm * 60) * (-1 if tz[0] == "-" else 1)
    if len(_OFFSET_CACHE) < 256:
        _OFFSET_CACHE[tz] = res
    return res


def day_ordinal(year: int, month: int, day: int) -> int:
    """Proleptic ordinal of a calendar day, 0 when the day does not exist (cached: days repeat)."""
    key = year * 10000 + month * 100 + day
    o = _DAY_ORD.get(key)
    if o is None:
        try:
            o = date(year, month, day).toordinal()
        except ValueError:
            o = 0
        if len(_DAY_ORD) > _CACHE_MAX:
            _DAY_ORD.clear()
        _DAY_ORD[key] = o
    return o


def date_prefix(o: int) -> str:
    """"YYYY-MM-DDT" for an ordinal (cached)."""
    p = _PREFIX.get(o)
    if p is None:
        p = date.fromordinal(o).isoformat() + "T"
        if len(_PREFIX) > _CACHE_MAX:
            _PREFIX.clear()
        _PREFIX[o] = p
    return p


def _ref_ord(received_at: datetime | None) -> int:
    """The UTC day of reception as an ordinal (today when not given; naive means UTC)."""
    if received_at is None:
        return int(time.time() // 86400) + _EPOCH_ORD
    tz = received_at.tzinfo
    if tz is not None and tz is not UTC:
        received_at = received_at.astimezone(UTC)
    return received_at.toordinal()


def closest_day(month: int, day: int, received_at: datetime | None) -> int:
    """Ordinal of month/day in the year (previous, same, next) closest to the day of reception."""
    ref = _ref_ord(received_at)
    key = ref * 10000 + month * 100 + day
    o = _CLOSEST.get(key)
    if o is None:
        y = date.fromordinal(ref).year
        o = 0
        for cand in (y, y - 1, y + 1):
            c = day_ordinal(cand, month, day)
            if c and (not o or abs(c - ref) < abs(o - ref)):
                o = c
        if len(_CLOSEST) > _CACHE_MAX:
            _CLOSEST.clear()
        _CLOSEST[key] = o
    return o


_ZONE_OFFSETS: dict[tuple[tzinfo, int, int], tuple[int, int]] = {}


def zone_offsets(tz: tzinfo, o: int, secs: int) -> tuple[int, int]:
    """(before, after): tz's UTC offsets in seconds for the wall-clock time `secs` into day ordinal `o`, with the
    offset in force before a change and after it (equal except in a repeated or skipped hour). Cached."""
    key = (tz, o, secs)
    got = _ZONE_OFFSETS.get(key)
    if got is None:
        hh, rest = divmod(secs, 3600)
        wall = datetime.fromordinal(o).replace(hour=hh, minute=rest // 60, second=rest % 60, tzinfo=tz)
        a, b = wall.utcoffset(), wall.replace(fold=1).utcoffset()
        got = (int(a.total_seconds()) if a else 0, int(b.total_seconds()) if b else 0)
        if len(_ZONE_OFFSETS) > _CACHE_MAX:
            _ZONE_OFFSETS.clear()
        _ZONE_OFFSETS[key] = got
    return got


def epoch_us(t: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (naive means UTC), in integers (no float rounding)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH_DT) // _ONE_US


_EPOCH_DT = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = datetime.resolution


def local_offset(local: LocalZone, o: int, secs: int, us: int) -> int:
    """The offset (seconds) at which a wall-clock time in local.tz is read (see the module's DST rule)."""
    before, after = zone_offsets(local.tz, o, secs)
    if before == after or local.near is None:
        return before
    wall = ((o - _EPOCH_ORD) * 86400 + secs) * 1_000_000 + us
    near = epoch_us(local.near)
    return after if abs(wall - after * 1_000_000 - near) < abs(wall - before * 1_000_000 - near) else before


def _usec(frac: str | None, errors: list[str]) -> int:
    if not frac:
        return 0
    if len(frac) > 6:
        errors.append("fractional seconds truncated to 6 digits")
        frac = frac[:6]
    return int(frac.ljust(6, "0"))


def utc_stamp(
    year: int | None, month: int, day: int, hh: int, mi: int, ss: int, us: int,
    off: int | None, received_at: datetime | None, errors: list[str], local: LocalZone | None = None,
) -> str | None:
    """UTC timestamp string from local fields and an offset in seconds; no year: closest to received_at.

    off None: the stamp carries no zone, and is read in local's zone (UTC without one).
    """
    if hh > 23 or mi > 59 or ss > 60:
        errors.append("invalid timestamp")
        return None
    if ss == 60:  # leap second: kept inside the minute
        ss, us = 59, 999999
        errors.append("leap second clamped")
    o = closest_day(month, day, received_at) if year is None else day_ordinal(year, month, day)
    if not o:
        errors.append("invalid timestamp")
        return None
    if off is None:
        off = 0 if local is None else local_offset(local, o, hh * 3600 + mi * 60 + ss, us)
    if off:
        days, secs = divmod(hh * 3600 + mi * 60 + ss - off, 86400)
        o += days
        hh, secs = divmod(secs, 3600)
        mi, ss = divmod(secs, 60)
        if not 0 < o <= _MAX_ORD:
            errors.append("invalid timestamp")
            return None
    return (
        date_prefix(o) + _TWO[hh] + ":" + _TWO[mi] + ":" + _TWO[ss] + "." + (str(us).zfill(6) if us else "000000") + "Z"
    )


def _date_ord(text: str) -> int:
    """Ordinal of "YYYY-MM-DD" (0 when invalid), cached by the string itself."""
    o = _DATE_ORD.get(text)
    if o is None:
        o = day_ordinal(int(text[:4]), int(text[5:7]), int(text[8:10]))
        if len(_DATE_ORD) > _CACHE_MAX:
            _DATE_ORD.clear()
        _DATE_ORD[text] = o
    return o


def rfc3339_stamp(
    ts: str, received_at: datetime | None, errors: list[str], local: LocalZone | None = None
) -> str | None:
    """RFC 5424 TIMESTAMP; the strict shape without offset arithmetic is a few string operations."""
    m = _RFC3339.fullmatch(ts)
    if m is None:
        m2 = ISO.fullmatch(ts)
        if m2 is None:
            errors.append("invalid timestamp")
            return None
        return iso_stamp(m2, received_at, errors, local)
    day, hh, mi, ss, frac, tz = m.groups()
    o = _date_ord(day)
    if tz == "Z" and o and hh < "24" and mi < "60" and ss < "60":
        return date_prefix(o) + hh + ":" + mi + ":" + ss + "." + (frac.ljust(6, "0") if frac else "000000") + "Z"
    off = offset_seconds(tz)
    if off is None:
        errors.append("invalid offset, assumed UTC")
        off = 0
    return utc_stamp(int(day[:4]), int(day[5:7]), int(day[8:10]), int(hh), int(mi), int(ss),
                  int(frac.ljust(6, "0")) if frac else 0, off, received_at, errors)


def iso_stamp(
    m: re.Match[str], received_at: datetime | None, errors: list[str], local: LocalZone | None = None
) -> str | None:
    """Timestamp from an ISO match; no offset means local's zone (UTC without one)."""
    y, mo, d, h, mi, s, frac, tz = m.groups()
    off: int | None
    if tz is None:
        off = None
        errors.append("timestamp without offset, assumed UTC" if local is None else f"timestamp without offset, read in {local.tz}")
    else:
        off = offset_seconds(tz)
        if off is None:
            errors.append("invalid offset, assumed UTC")
            off = 0
    return utc_stamp(
        int(y), int(mo), int(d), int(h), int(mi), int(s), _usec(frac, errors), off, received_at, errors, local
    )


def bsd_stamp(
    mon: str, day: str, year: str | None, h: str, mi: str, s: str, frac: str | None,
    off: int | None, received_at: datetime | None, errors: list[str], local: LocalZone | None = None,
) -> str | None:
    month = MONTHS.get(mon.lower())
    if month is None:
        errors.append("invalid timestamp")
        return None
    return utc_stamp(
        int(year) if year else None, month, int(day), int(h), int(mi), int(s), _usec(frac, errors),
        off, received_at, errors, local,
    )


def cisco_stamp(
    text: str, received_at: datetime | None, errors: list[str], local: LocalZone | None = None
) -> str | None:
    """Cisco clock with optional year (before or after the day) and zone name or offset; none: local's zone."""
    m = _CTS.match(text)
    if m is None:  # cannot happen: the caller matched the same pattern
        errors.append("invalid timestamp")
        return None
    y1, mon, day, y2, h, mi, s, frac, tz = m.groups()
    off: int | None = None
    if tz:
        off = offset_seconds(tz) if tz[0] in "+-" else TZ_OFFSETS.get(tz.upper())
        if off is None:
            errors.append(f"unknown time zone {tz[:16]}, assumed UTC")
            off = 0
    return bsd_stamp(mon, day, y1 or y2, h, mi, s, frac, off, received_at, errors, local)


def bsd_or_iso_stamp(
    text: str, received_at: datetime | None, errors: list[str], local: LocalZone | None = None
) -> str | None:
    m = BSD.match(text)
    if m:
        mon, day, y1, h, mi, s, frac, y2 = m.groups()
        return bsd_stamp(mon, day, y1 or y2, h, mi, s, frac, None, received_at, errors, local)
    m2 = ISO.match(text)
    if m2:
        return iso_stamp(m2, received_at, errors, local)
    return None
