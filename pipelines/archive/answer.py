"""Answers of the archive's queries as text: aligned table, CSV cells, JSON lines; built column by column.

Pure formatting of Arrow tables (no Kafka, no files), used by `vigie archive query` and its tests.
Each function imports pyarrow when it runs: an auditor's command pays only for what its format needs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TextIO


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        from vigie.schemas.codec import rfc3339

        return rfc3339(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


_CONTROL = re.compile("[\x00-\x1f\x7f]")
# What a terminal acts on besides C0 and DEL: C1 controls (U+009B is a one-character CSI on 8-bit terminals)
# and the bidirectional overrides and isolates, which show a line's characters in another order than stored.
_TERMINAL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
FORMULA_PREFIXES = ("=", "+", "-", "@")  # what a spreadsheet reads as a formula (OWASP "CSV injection")


def _escape(m: Any) -> str:
    c = m.group()
    return _ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def csv_safe(values: list[list[str]]) -> list[list[str]]:
    """Text cells made safe for a spreadsheet and a terminal: control characters written as escapes
    (\\n, \\t, \\xNN: a device's message cannot forge rows nor terminal sequences), and a cell that
    starts as a formula prefixed with a quote, as OWASP advises."""

    def safe(v: str) -> str:
        if _CONTROL.search(v):
            v = _CONTROL.sub(_escape, v)
        return "'" + v if v.startswith(FORMULA_PREFIXES) else v

    return [[safe(v) for v in column] for column in values]


def terminal_safe(values: list[list[str]]) -> list[list[str]]:
    """Text cells made safe to print on a terminal (the table): control characters, C1 ones and bidirectional
    overrides written as escapes (\\n, \\x1b, \\u202e), so that a device's message can neither move the
    cursor, clear the screen, forge lines of the answer nor show its characters in another order."""

    def safe(v: str) -> str:
        return _TERMINAL.sub(_escape, v) if _TERMINAL.search(v) else v

    return [[safe(v) for v in column] for column in values]


def column_values(table: Any, text: bool) -> list[list[Any]]:
    """Each column as a Python list, converted column by column (Arrow kernels, not one call per cell).

    Times are RFC 3339 UTC with microseconds, `raw` is text (undecodable bytes escaped); with text,
    every value is a string and null is "" (table, csv), else numbers stay numbers and null is None (json).
    """
    import pyarrow as pa

    from vigie.pipelines.archive.query import call_function

    out: list[list[Any]] = []
    for col in table.columns:
        t = col.type
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Z"):
            v = _rfc3339(col)
        elif pa.types.is_timestamp(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            cells = [None if x is None else cell(x) for x in col.to_pylist()]
            out.append(["" if x is None else x for x in cells] if text else cells)
            continue
        elif text and not pa.types.is_string(t):
            v = call_function("cast", [col], _cast_options(pa.string()))
        else:
            v = col
        # A typed scalar: an untyped one makes pyarrow set up its type inference (it imports dateutil).
        out.append((call_function("coalesce", [v, pa.scalar("", pa.string())]) if text else v).to_pylist())
    return out


def _rfc3339(col: Any) -> Any:
    """A UTC timestamp column as RFC 3339 text with microseconds (strftime's "%Y-%m-%dT%H:%M:%SZ"),
    assembled from its fields: Arrow's strftime takes ~3 µs a value, a third of the time of a big answer."""
    import pyarrow as pa

    from vigie.pipelines.archive.query import call_function

    t = col.type
    us = call_function("cast", [col], _cast_options(pa.int64()))
    low = call_function("min_max", [us])["min"].as_py() if len(col) else None
    if t.unit != "us" or (low is not None and low < 0):  # before 1970: strftime's way
        return call_function("strftime", [col], _strftime_options())
    naive = call_function("cast", [col], _cast_options(pa.timestamp("us")))
    second = pa.scalar(1_000_000, pa.int64())
    micros = call_function(
        "subtract", [us, call_function("multiply", [call_function("divide", [us, second]), second])]
    )

    def padded(values: Any, width: int) -> Any:
        text = call_function("cast", [values], _cast_options(pa.string()))
        return call_function("utf8_lpad", [text], _pad_options(width))

    fields = [call_function(f, [naive]) for f in ("year", "month", "day", "hour", "minute", "second")]
    parts = [padded(fields[0], 4)]
    for sep, values in zip("--T::", fields[1:], strict=True):
        parts += [_text(sep), padded(values, 2)]
    parts += [_text("."), padded(micros, 6), _text("Z")]
    return call_function("binary_join_element_wise", [*parts, _text("")])


def json_lines(table: Any, columns: list[str]) -> str:
    """One JSON object per row (as orjson.dumps of the row's dict writes it), assembled column by column:
    strings are encoded once per distinct value, numbers and times by Arrow kernels."""
    import orjson
    import pyarrow as pa

    from vigie.pipelines.archive.query import call_function

    if table.num_rows == 0:
        return ""
    null = _text("null")
    parts: list[Any] = []
    for i, (name, col) in enumerate(zip(columns, table.columns, strict=True)):
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        t = col.type
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Z"):
            text = _rfc3339(col)
            values = call_function(
                "binary_join_element_wise",
                [_text('"'), text, _text('"'), _text("")],
            )
        elif pa.types.is_integer(t):
            values = call_function("cast", [col], _cast_options(pa.string()))
        elif pa.types.is_string(t):
            enc = call_function("dictionary_encode", [col])
            encoded = pa.array([orjson.dumps(v).decode() for v in enc.dictionary.to_pylist()], pa.string())
            values = call_function("take", [encoded, enc.indices])
        else:  # raw bytes (undecodable ones escaped) and other times as the table shows them; the rest as is
            values = pa.array(
                [
                    None
                    if v is None
                    else orjson.dumps(cell(v) if isinstance(v, bytes | datetime) else v).decode()
                    for v in col.to_pylist()
                ],
                pa.string(),
            )
        parts += [_text(("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":")]
        parts += [call_function("coalesce", [values, null])]
    parts.append(_text("}"))
    rows = call_function("binary_join_element_wise", [*parts, _text("")])
    return "\n".join(rows.to_pylist()) + "\n"


def _text(value: str) -> Any:
    """A typed string scalar (an untyped one sets up pyarrow's type inference, which imports dateutil)."""
    import pyarrow as pa

    return pa.scalar(value, pa.string())


def _pad_options(width: int) -> Any:
    try:
        from pyarrow._compute import PadOptions
    except ImportError:  # pragma: no cover
        from pyarrow.compute import PadOptions
    return PadOptions(width, "0")


def _strftime_options() -> Any:
    try:
        from pyarrow._compute import StrftimeOptions
    except ImportError:  # pragma: no cover
        from pyarrow.compute import StrftimeOptions
    return StrftimeOptions("%Y-%m-%dT%H:%M:%SZ")


def _cast_options(to: Any) -> Any:
    try:
        from pyarrow._compute import CastOptions
    except ImportError:  # pragma: no cover
        from pyarrow.compute import CastOptions
    return CastOptions.safe(to)


def write_table(out: TextIO, columns: list[str], values: list[list[str]], n: int) -> None:
    """Aligned columns; those empty on every row are left out (received_at always shown)."""
    keep = [i for i, c in enumerate(columns) if c == "received_at" or any(values[i])]
    widths = [max(len(columns[i]), max(map(len, values[i]), default=0)) for i in keep]
    out.write("  ".join(columns[i].ljust(w) for i, w in zip(keep, widths, strict=True)).rstrip() + "\n")
    padded = [[v.ljust(w) for v in values[i]] for i, w in zip(keep, widths, strict=True)]
    out.write("".join("  ".join(row).rstrip() + "\n" for row in zip(*padded, strict=True)))
    out.write(f"({n} rows)\n")
