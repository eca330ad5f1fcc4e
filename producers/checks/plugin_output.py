"""Parse Nagios plugin output (text, long output, performance data) and build raw.checks values."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from vigie.schemas.codec import parse_rfc3339, rfc3339

SCHEMA = "check_result/1"
SOURCES = ("active", "passive", "nrdp")
STATUS_NAMES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}

_VALUE_RE = re.compile(r"^([-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?)(.*)$")
_MAX_ERRORS = 50


def unescape_newlines(text: str) -> str:
    """Turn the escaped `\\n` and `\\\\` of passive results into what the plugin printed, as Nagios does."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "n\\":
            out.append("\n" if text[i + 1] == "n" else "\\")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _number(text: str) -> float | None:
    """A perfdata number with a dot or comma decimal; None when it is not one."""
    m = _VALUE_RE.match(text)
    if not m or m.group(2):
        return None
    value = float(m.group(1).replace(",", "."))
    return value if math.isfinite(value) else None


def _threshold(text: str) -> str | None:
    """A warn/crit range kept as text (e.g. "10:", "~:20", "@5:10"); a comma decimal becomes a dot."""
    text = text.strip()
    return text.replace(",", ".") if text else None


def _parse_datum(label: str, data: str, errors: list[str]) -> dict[str, Any] | None:
    """One `value[UOM];warn;crit;min;max` after `label=`; None (with an error) when the value is unusable."""
    fields = data.split(";")
    if len(fields) > 5:
        if any(f.strip() for f in fields[5:]):
            errors.append(f"perfdata '{label}': extra fields after max ignored: {';'.join(fields[5:])!r}")
        fields = fields[:5]
    fields += [""] * (5 - len(fields))
    raw_value, warn, crit, raw_min, raw_max = fields
    value: float | None
    if raw_value == "U":
        value, uom = None, None
    else:
        m = _VALUE_RE.match(raw_value)
        if not m:
            errors.append(f"perfdata '{label}': value {raw_value!r} is not a number")
            return None
        value = float(m.group(1).replace(",", "."))
        if not math.isfinite(value):
            errors.append(f"perfdata '{label}': value {raw_value!r} is not finite")
            return None
        uom = m.group(2) or None
    bounds: list[float | None] = []
    for name, raw in (("min", raw_min), ("max", raw_max)):
        raw = raw.strip()
        if not raw:
            bounds.append(None)
            continue
        number = _number(raw)
        if number is None:
            errors.append(f"perfdata '{label}': {name} {raw!r} is not a number")
        bounds.append(number)
    return {
        "label": label,
        "value": value,
        "uom": uom,
        "warn": _threshold(warn),
        "crit": _threshold(crit),
        "min": bounds[0],
        "max": bounds[1],
    }


def parse_perfdata(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Parse space-separated `'label'=value[UOM];warn;crit;min;max` items; bad items are skipped with an error."""
    items: list[dict[str, Any]] = []
    errors: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] == "'":
            # Quoted label: '' stands for one quote; the closing quote must be followed by '='.
            i += 1
            chars: list[str] = []
            closed = False
            while i < n:
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        chars.append("'")
                        i += 2
                        continue
                    closed = True
                    i += 1
                    break
                chars.append(text[i])
                i += 1
            label = "".join(chars)
            if not closed:
                errors.append(f"perfdata: unterminated quoted label {text[start:]!r}")
                break
            if i >= n or text[i] != "=":
                end = _token_end(text, i)
                errors.append(f"perfdata: label '{label}' is not followed by '=' in {text[start:end]!r}")
                i = end
                continue
            i += 1
        else:
            end = _token_end(text, i)
            token = text[i:end]
            eq = token.find("=")
            if eq < 0:
                errors.append(f"perfdata: {token!r} has no '='")
                i = end
                continue
            label = token[:eq]
            i += eq + 1
        end = _token_end(text, i)
        data = text[i:end]
        i = end
        if not label:
            errors.append(f"perfdata: empty label in {text[start:end]!r}")
            continue
        if not data:
            errors.append(f"perfdata '{label}': no value")
            continue
        datum = _parse_datum(label, data, errors)
        if datum is not None:
            items.append(datum)
    return items, errors[:_MAX_ERRORS]


def _token_end(text: str, i: int) -> int:
    """Index of the next whitespace at or after i (perfdata values hold no spaces)."""
    n = len(text)
    while i < n and not text[i].isspace():
        i += 1
    return i


def parse_plugin_output(raw: str | bytes | None) -> dict[str, Any]:
    """Split plugin output into output, long_output, perfdata and errors, following Nagios' own reading; never raises."""
    errors: list[str] = []
    try:
        if raw is None:
            raw = ""
        if isinstance(raw, bytes | bytearray | memoryview):
            data = bytes(raw)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                text = data.decode("utf-8", errors="replace")
                errors.append("output is not valid UTF-8; undecodable bytes replaced")
        else:
            text = str(raw)
        if "\x00" in text:
            text = text.replace("\x00", "")
            errors.append("output contained NUL characters; removed")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        first, rest = lines[0], lines[1:]
        perf_parts: list[str] = []
        output, sep, perf = first.partition("|")
        if sep:
            perf_parts.append(perf)
        long_lines: list[str] = []
        in_perf = False
        for line in rest:
            if in_perf:
                perf_parts.append(line)
            elif "|" in line:
                before, _, after = line.partition("|")
                long_lines.append(before)
                perf_parts.append(after)
                in_perf = True
            else:
                long_lines.append(line)
        output = output.strip()
        long_output = "\n".join(long_lines).strip("\n").rstrip()
        if not output and not long_output and not perf_parts:
            errors.append("empty plugin output")
        perfdata, perf_errors = parse_perfdata(" ".join(perf_parts))
        errors.extend(perf_errors)
        return {"output": output, "long_output": long_output, "perfdata": perfdata, "errors": errors}
    except Exception as exc:  # the parser is fed by devices; it must not take the intake down
        errors.append(f"internal parser error: {type(exc).__name__}: {exc}")
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
        return {"output": text.split("\n", 1)[0][:4096], "long_output": "", "perfdata": [], "errors": errors}


def _timestamp(check_time: datetime | float | int | str | None) -> str:
    """RFC 3339 UTC for a datetime, an epoch number or an RFC 3339 text; now when None."""
    if isinstance(check_time, str):
        return rfc3339(parse_rfc3339(check_time))
    return rfc3339(check_time)


def check_result(
    host: str,
    service: str | None,
    status: int,
    raw_output: str | bytes | None,
    source: str,
    check_time: datetime | float | int | str | None = None,
    duration: float | None = None,
) -> dict[str, Any]:
    """The raw.checks value (check_result/1) for one result; raises ValueError on a caller's mistake."""
    if not isinstance(host, str) or not host.strip():
        raise ValueError("host must be a non-empty string")
    if service is not None and (not isinstance(service, str) or not service.strip()):
        raise ValueError("service must be a non-empty string or None for a host check")
    if isinstance(status, bool) or not isinstance(status, int) or status not in STATUS_NAMES:
        raise ValueError(f"status must be 0, 1, 2 or 3, not {status!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    parsed = parse_plugin_output(raw_output)
    return {
        "schema": SCHEMA,
        "host": host.strip(),
        "service": service.strip() if service is not None else None,
        "status": status,
        "output": parsed["output"],
        "long_output": parsed["long_output"],
        "perfdata": parsed["perfdata"],
        "check_time": _timestamp(check_time),
        "source": source,
        "duration": None if duration is None else round(float(duration), 6),
    }
