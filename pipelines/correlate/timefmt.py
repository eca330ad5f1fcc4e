"""RFC 3339 formatting of epoch seconds, identical to schemas.codec.rfc3339 but cheap on the hot path.

Every alert, incident, explain entry and notification carries timestamps; datetime.strftime costs a few
microseconds each time. Here the date-and-time part is cached per whole second and only the microseconds
are formatted, after splitting the float exactly as datetime.fromtimestamp does (round half to even).
"""

from __future__ import annotations

from datetime import UTC, datetime
from math import modf
from typing import Any

from vigie.schemas.codec import rfc3339

_SECONDS: dict[int, str] = {}
_SECONDS_MAX = 4096  # distinct seconds kept; cleared when full (timestamps move forward)
_RECENT: dict[float, str] = {}
_RECENT_MAX = 16384


def rfc3339_utc(ts: float) -> str:
    """'2025-03-01T10:00:00.123456Z' for epoch seconds, as codec.rfc3339(ts) gives it."""
    frac, whole = modf(ts)
    us = round(frac * 1e6)  # datetime.fromtimestamp's rounding (_PyTime_ROUND_HALF_EVEN)
    if us >= 1000000:
        whole += 1.0
        us -= 1000000
    elif us < 0:
        whole -= 1.0
        us += 1000000
    sec = int(whole)
    head = _SECONDS.get(sec)
    if head is None:
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        head = _SECONDS[sec] = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{us:06d}Z"


def iso(ts: Any) -> str:
    """codec.rfc3339(ts): the fast way for epoch seconds, codec's own for datetimes (and None: now).

    Recent values are remembered: one call stamps everything with the same `now`, and an alert's
    first_seen or an incident's opened_at come back on every update.
    """
    text = _RECENT.get(ts)
    if text is not None:
        return text
    if not isinstance(ts, float | int):
        return rfc3339(ts)
    if len(_RECENT) >= _RECENT_MAX:
        _RECENT.clear()
    text = _RECENT[ts] = rfc3339_utc(ts)
    return text
