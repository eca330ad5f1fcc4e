"""TOML as the import writes it: sorted by the caller, one value per line, readable by a person."""

from __future__ import annotations

import json
from typing import Any


def duration(minutes: float, interval_length: float) -> str:
    """Nagios interval units as a Vigie duration ("5m", "90s", "500ms")."""
    seconds = minutes * interval_length
    if seconds == int(seconds):
        s = int(seconds)
        return f"{s // 3600}h" if s and s % 3600 == 0 else f"{s // 60}m" if s and s % 60 == 0 else f"{s}s"
    return f"{round(seconds * 1000)}ms"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    return json.dumps(str(v), ensure_ascii=False)


def key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() and k.isascii() else json.dumps(k, ensure_ascii=False)


def table(header: str, values: dict[str, Any]) -> str:
    """A TOML table; None and empty lists or tables are left out (TOML has no null), "" is kept."""
    lines = [header] + [f"{key(k)} = {_value(v)}" for k, v in values.items() if v not in (None, [], {})]
    return "\n".join(lines) + "\n"
