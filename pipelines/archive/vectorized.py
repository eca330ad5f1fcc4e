"""Batch enrichment of raw syslog with pyarrow.compute (RE2 in C++), giving exactly what the per-row parser and extractors give.

The column-wise driver: headers.read_headers reads the syslog header, the formats' column-wise
extractors the connection columns, dispatched in the order of the formats registry
(vigie.pipelines.archive.formats.FORMATS); every row a fast path does not fully understand goes
through the row-wise reference (vigie.codecs.syslog.parse_syslog, connlog.extract_connection).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigie.codecs.syslog import parse_syslog
from vigie.codecs.timestamps import ZoneResolver
from vigie.pipelines.archive.connlog import extract_connection
from vigie.pipelines.archive.device_time import localize
from vigie.pipelines.archive.formats import FORMATS, Format
from vigie.pipelines.archive.formats.columns import (
    CONN_TYPES,
    TS,
    all_true,
    as_type,
    has,
    has_where,
    spread,
    take_ok,
    truth,
    where,
)
from vigie.pipelines.archive.formats.values import CONN_COLUMNS, MAX_LEN
from vigie.pipelines.archive.headers import read_headers, ts_micros
from vigie.schemas.archive import CONNECTION_FIELDS

# The order the guards are tried in (the first that passes decides): the registry's.
GUARD_ORDER = tuple(f.name for f in FORMATS)

Pieces = list[tuple[pa.Array, dict[str, pa.Array]]]  # (row indices, connection columns of those rows)


# --------------------------------------------------------------------------- the reference


def enrich_rowwise(
    raws: list[bytes], reference: datetime, received: pa.Array | None = None, senders: pa.Array | None = None,
    zones: ZoneResolver | None = None,
) -> dict[str, pa.Array]:
    """The per-row enrichment (parse_syslog + extract_connection): the reference the fast path must equal.

    reference chooses the year of year-less stamps; with zones, a zone-less stamp is read in the zone of its
    device (hostname, else the row's sender) and a DST change's two readings decided by the row's receive
    time (received, else reference).
    """
    stamps: list[str | None] = []
    hosts: list[str | None] = []
    apps: list[str | None] = []
    conns: list[dict[str, Any] | None] = []
    n = len(raws)
    snd = senders.to_pylist() if senders is not None else [None] * n
    rec = received.to_pylist() if received is not None else [None] * n
    for i, raw in enumerate(raws):
        p = parse_syslog(raw, reference, zones, snd[i], rec[i])
        stamps.append(p["timestamp"])
        hosts.append(p["hostname"])
        apps.append(p["app_name"])
        conns.append(extract_connection(raw.decode("utf-8", "replace")))
    out: dict[str, pa.Array] = {
        "timestamp": pa.array(stamps, pa.string()).cast(TS),
        "hostname": pa.array(hosts, pa.string()),
        "app_name": pa.array(apps, pa.string()),
    }
    for f in CONNECTION_FIELDS:
        out[f.name] = pa.array([c[f.name] if c else None for c in conns], f.type)
    return out


# --------------------------------------------------------------------------- connection dispatch


_ANY_GUARD = "|".join(f.needs for f in FORMATS)  # a line without any of these passes no guard at all


def _steps() -> tuple[tuple[Format | None, str], ...]:
    """The waterfall's steps, in registry order: (format, its needs) for a format read column-wise, (None,
    an alternation of their needs) for each run of formats read row by row (their rows are left to it)."""
    steps: list[tuple[Format | None, list[str]]] = []
    for f in FORMATS:
        if f.columns is not None:
            steps.append((f, [f.needs]))
        elif steps and steps[-1][0] is None:
            steps[-1][1].append(f.needs)
        else:
            steps.append((None, [f.needs]))
    return tuple((f, "|".join(needs)) for f, needs in steps)


_STEPS = _steps()

# Lanes: rows sent straight to one format's fast extractor, on a hint from the header (its app name, or the
# header dialect). The hint only chooses where to look first: a row is decided in its lane only when the
# extractor accepts it, no guard before its format can pass (none of their needs is in the line) and its
# own guard passes (implied by what the extractor matched, checked apart for the needles a format lists
# in lane_checks, whose extractors also accept lines their guard refuses). Every other row goes through
# _waterfall.
_LANES: tuple[Format, ...] = tuple(f for f in FORMATS if f.columns is not None)
_LANE_APPS = {app: i for i, f in enumerate(_LANES) for app in f.apps}
_HEADER_LANES = {f.header_dialect: i for i, f in enumerate(_LANES) if f.header_dialect}


def _before(fmt: Format) -> tuple[str, tuple[str, ...]]:
    """The searches that show no guard before fmt's passes: the needs that start with a "%" (one alternation,
    run on the lines holding one), and the others: a literal each (RE2 costs ~100 ns a call, about what an
    alternation costs more a line than one literal), or one alternation of many."""
    earlier = FORMATS[: FORMATS.index(fmt)]
    pct = "|".join(f.needs for f in earlier if f.needs.startswith("%"))
    needs = [f.needs for f in earlier if not f.needs.startswith("%")]
    return pct, tuple(needs) if len(needs) <= 3 else ("|".join(needs),)


_BEFORE = {f.name: _before(f) for f in _LANES}
# A lane's mark of the rows it decided (the others: the lane's index, its extractor refused them).
_DECIDED = 100
_LANE_APP_NAMES = pa.array(list(_LANE_APPS), pa.string())
_LANE_OF_APP = pa.array(list(_LANE_APPS.values()), pa.int8())


def _lanes(app: pa.Array, dialects: dict[str, pa.BooleanArray]) -> pa.Array:
    """The lane hint of each row (an index in _LANES, null for none); dialects: read_headers' masks."""
    lane = _LANE_OF_APP.take(pc.index_in(app, value_set=_LANE_APP_NAMES))
    for dialect, mask in dialects.items():
        if dialect in _HEADER_LANES:
            lane = pc.if_else(mask, pa.scalar(_HEADER_LANES[dialect], pa.int8()), lane)
    return lane


def _connections(
    s: pa.StringArray, fast: pa.BooleanArray, lane: pa.Array | None = None, pct: pa.BooleanArray | None = None
) -> tuple[Pieces, pa.BooleanArray]:
    """Connection pieces for the rows decided here, and the mask of those rows.

    A row is decided when no format's guard passes (all null), or when the first guard that
    passes is a vectorised format and its fast extractor accepts the row: in its lane (see _LANES) or in
    _waterfall, where each guard is evaluated exactly on the rows whose decision depends on it. lane: the
    hints (_lanes), pct: the lines holding a "%" (read_headers), both given or both None.
    """
    pieces: Pieces = []
    length = pc.binary_length(s)  # the fast rows are ASCII: bytes are characters
    in_range = all_true(fast, pc.greater(length, 0), pc.less_equal(length, MAX_LEN))
    out_of_range = all_true(fast, pc.invert(in_range))
    pieces.append((where(out_of_range), {}))
    decided = out_of_range
    rest = in_range
    refused = None  # the lane whose extractor refused each row (it would again), -1 for none
    if lane is not None and pct is not None and lane.null_count < len(lane):
        lane = pc.fill_null(lane, -1)
        marks: list[tuple[pa.Array, int]] = []  # (rows, code): rows decided (_DECIDED) or refused by a lane
        for code, fmt in enumerate(_LANES):
            idx = where(all_true(in_range, pc.equal(lane, code)))
            if len(idx) == 0:
                continue
            sub = s.take(idx)
            cols, ok = fmt.columns(sub)
            ok = truth(ok)
            marks.append((idx.filter(pc.invert(ok)), code))
            pct_before, before = _BEFORE[fmt.name]
            if pct_before:  # literals that hold a "%" (ASA's): only those lines are searched
                ok = pc.and_(ok, pc.invert(has_where(sub, all_true(ok, pct.take(idx)), pct_before)))
            for needs in before:
                ok = pc.and_(ok, pc.invert(has_where(sub, ok, needs)))
            for check in fmt.lane_checks:
                ok = has_where(sub, ok, check)
            good = take_ok(ok)
            if good is not None:
                if len(good) == 0:
                    continue
                idx, cols = idx.take(good), {k: v.take(good) for k, v in cols.items()}
            pieces.append((idx, cols))
            marks.append((idx, _DECIDED))
        if marks:
            rows = pa.concat_arrays([as_type(r, pa.int64()) for r, _ in marks])
            codes = pa.concat_arrays([pa.repeat(pa.scalar(c, pa.int8()), len(r)) for r, c in marks])
            state = pc.fill_null(pc.scatter(codes, rows, max_index=len(s) - 1), -1)
            got = pc.equal(state, _DECIDED)
            decided = pc.or_(decided, got)
            rest = pc.and_(rest, pc.invert(got))
            refused = state
    wpieces, wdecided = _waterfall(s, rest, refused)
    return pieces + wpieces, pc.or_(decided, wdecided)


def _waterfall(
    s: pa.StringArray, cand: pa.BooleanArray, refused: pa.Array | None = None
) -> tuple[Pieces, pa.BooleanArray]:
    """Connection pieces of the candidate rows, the formats' guards evaluated in order; the mask of rows decided.

    Each guard is searched only on the rows no earlier guard passes; a row whose first passing guard is a
    format read row by row is left to the per-row code (so is a row a column-wise extractor refuses).
    """
    pieces: Pieces = []
    cidx = where(cand)
    if len(cidx) == 0:
        return pieces, cand
    c = s if len(cidx) == len(s) else s.take(cidx)
    # One pass finds the rows that pass no guard (most lines that are no connection log); the guards
    # below only see the others.
    some = has(c, _ANY_GUARD)
    none_rows = [cidx.filter(pc.invert(some))]
    decided = pc.invert(some)
    remaining = some  # rows no earlier guard passes, nor may pass
    for fmt, needs in _STEPS:
        hit = has_where(c, remaining, needs)
        if fmt is None:  # formats read row by row: their rows (and any that may be theirs) are left to it
            remaining = pc.and_(remaining, pc.invert(hit))
            continue
        mask = hit
        for needle in fmt.needles[1:]:
            mask = has_where(c, mask, needle)
        remaining = pc.and_(remaining, pc.invert(mask))
        if refused is not None:  # refused in its lane: left to the per-row code
            mask = all_true(mask, pc.not_equal(refused.take(cidx), _LANES.index(fmt)))
        idx = where(mask)
        if len(idx) == 0:
            continue
        cols, ok = fmt.columns(c.take(idx))
        good = take_ok(ok)
        if good is not None:
            if len(good) == 0:
                continue
            idx, cols = idx.take(good), {k: v.take(good) for k, v in cols.items()}
        pieces.append((cidx.take(idx), cols))
        decided = pc.or_(decided, spread(mask, ok))
    none_rows.append(cidx.filter(remaining))
    decided = pc.or_(decided, remaining)
    pieces.append((pa.concat_arrays([as_type(r, pa.uint64()) for r in none_rows]), {}))
    return pieces, spread(cand, decided)


# --------------------------------------------------------------------------- enrich


def _decode(raws: Raws) -> tuple[pa.StringArray, pa.BooleanArray]:
    """The batch as UTF-8 strings and the mask of rows the fast paths may read (valid UTF-8, pure ASCII)."""
    b = raws if isinstance(raws, pa.Array) else pa.array(raws, pa.binary())
    try:
        s = b.cast(pa.string())
    except pa.ArrowInvalid:
        good: list[bool] = []
        for raw in _py(raws):
            try:
                raw.decode("utf-8")
                good.append(True)
            except UnicodeDecodeError:
                good.append(False)
        mask = pa.array(good, pa.bool_())
        s = pc.if_else(mask, b, pa.scalar(b"", pa.binary())).cast(pa.string())
        return s, all_true(mask, pc.string_is_ascii(s))
    return s, pc.string_is_ascii(s)


Raws = Sequence[bytes] | pa.BinaryArray  # a batch's raw messages: a list, or the reader's Arrow column


def _py(raws: Raws) -> Sequence[bytes]:
    return raws.to_pylist() if isinstance(raws, pa.Array) else raws


def _raw_at(raws: Raws) -> Callable[[int], bytes]:
    """Row i's bytes, for the few rows the per-row reference handles (no whole-column conversion)."""
    if isinstance(raws, pa.Array):
        return lambda i: raws[i].as_py() or b""
    return raws.__getitem__


def enrich(
    raws: Raws, reference: datetime, received: pa.Array | None = None, senders: pa.Array | None = None,
    zones: ZoneResolver | None = None,
) -> dict[str, pa.Array]:
    """enrich_rowwise, vectorised: RE2 over whole columns, reference functions once per distinct value.

    Rows that are not pure ASCII, or whose header or connection shape a fast path does not fully
    understand, go through parse_syslog / extract_connection, so the result is identical. With zones,
    the fast rows' zone-less stamps are read in their device's zone afterwards (device_time.localize).
    """
    n = len(raws)
    raw_at = _raw_at(raws)
    s, fast = _decode(raws)
    zoned = zones is not None and getattr(zones, "active", True)
    hdr, hdone, forti, pct = read_headers(s, fast, reference, zoned)

    # Header: fast pieces plus per-row parse_syslog for the rest.
    h_rest = where(pc.invert(hdone)).to_pylist()
    stamps, hosts, apps = [], [], []
    for i in h_rest:
        sender = senders[i].as_py() if zoned and senders is not None else None
        arrived = received[i].as_py() if zoned and received is not None else None
        p = parse_syslog(raw_at(i), reference, zones if zoned else None, sender, arrived)
        stamps.append(p["timestamp"])
        hosts.append(p["hostname"])
        apps.append(p["app_name"])
    idx = [*hdr.idx, pa.array(h_rest, pa.int64())]
    order = pc.array_sort_indices(pa.chunked_array(idx, pa.int64()).combine_chunks())
    ts = pa.concat_arrays([*hdr.ts, ts_micros(pa.array(stamps, pa.string()))]).take(order)
    out: dict[str, pa.Array] = {
        "hostname": pa.concat_arrays([*hdr.host, pa.array(hosts, pa.string())]).take(order),
        "app_name": pa.concat_arrays([*hdr.app, pa.array(apps, pa.string())]).take(order),
    }
    if zoned:  # the fallback rows were read in their zone already: the fast ones whose stamp has none now
        assert zones is not None
        local = pa.concat_arrays([*hdr.local, pa.repeat(pa.scalar(False), len(h_rest))]).take(order)
        near = received if received is not None else reference
        ts = localize(ts, local, out["hostname"], senders, near, zones)
    out = {"timestamp": pc.cast(ts, TS), **out}
    cpieces, cdone = _connections(s, fast, _lanes(out["app_name"], {"fortigate": forti}), pct)

    # Connection columns: fast pieces, everything else per row.
    c_rest = where(pc.invert(cdone)).to_pylist()
    rows_py = [extract_connection(raw_at(i).decode("utf-8", "replace")) for i in c_rest]
    cidx = [*(p[0] for p in cpieces), pa.array(c_rest, pa.int64())]
    corder = pc.array_sort_indices(
        pa.chunked_array([as_type(i, pa.int64()) for i in cidx], pa.int64()).combine_chunks()
    )
    for name in CONN_COLUMNS:
        typ = CONN_TYPES[name]
        parts = [cols.get(name, pa.nulls(len(rows), typ)) for rows, cols in cpieces]
        parts = [as_type(v, typ) for v in parts]
        parts.append(pa.array([r[name] if r else None for r in rows_py], typ))
        out[name] = pa.concat_arrays(parts).take(corder)
    assert all(len(v) == n for v in out.values())
    return out


def fallback_share(raws: list[bytes], reference: datetime) -> tuple[float, float]:
    """(header, connection) share of rows that take the per-row code: what the bench reports."""
    if not raws:
        return 0.0, 0.0
    s, fast = _decode(raws)
    _, hdone, _, _ = read_headers(s, fast, reference)
    _, cdone = _connections(s, fast)  # the lanes decide the same rows as the waterfall, only faster
    n = len(raws)
    return 1 - pc.sum(hdone).as_py() / n, (n - pc.sum(cdone).as_py()) / n
