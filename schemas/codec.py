"""The one JSON codec every stage shares: orjson, UTC timestamps, bytes never silently coerced."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> bytes:
    """Encode a topic value (dict) as compact UTF-8 JSON."""
    return orjson.dumps(value, option=_OPTIONS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Decode JSON bytes; raises orjson.JSONDecodeError (a ValueError) on bad input."""
    return orjson.loads(data)


def rfc3339(ts: datetime | float | None = None) -> str:
    """RFC 3339 UTC timestamp with microseconds and a Z suffix (now when ts is None)."""
    if ts is None:
        dt = datetime.now(UTC)
    elif isinstance(ts, datetime):
        dt = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    else:
        dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (Z or offset) into an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
