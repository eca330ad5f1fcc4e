"""The device's time in the archive, column-wise: zone-less stamps read in their device's zone, and the flag of
rows whose device clock is too far from the receive time.

localize gives exactly what vigie.codecs.syslog gives per row with the same zone map (vigie.codecs.timestamps
states the rule at daylight-saving changes): the zone is looked up once per distinct (hostname, sender) pair,
the zone's offsets once per distinct (zone, wall-clock second), everything else is vector arithmetic.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

import pyarrow as pa
import pyarrow.compute as pc

from vigie.codecs import timestamps as ct
from vigie.codecs.timestamps import ZoneResolver
from vigie.pipelines.archive.formats.columns import all_true, where

_US = 1_000_000
_MIN_US = (1 - ct._EPOCH_ORD) * 86400 * _US  # 0001-01-01T00:00:00Z
_MAX_US = (ct._MAX_ORD + 1 - ct._EPOCH_ORD) * 86400 * _US - 1  # 9999-12-31T23:59:59.999999Z


def _floor_div(values: pa.Array, by: int) -> pa.Array:
    """Integer division rounding down (Arrow's rounds toward zero: stamps before 1970 are negative)."""
    q = pc.divide(values, by)
    return pc.if_else(pc.less(pc.subtract(values, pc.multiply(q, by)), 0), pc.subtract(q, 1), q)


def _zone_codes(hosts: pa.Array, senders: pa.Array, zones: ZoneResolver) -> tuple[pa.Array, list[tzinfo | None]]:
    """Each row's zone as an index into the returned list, one lookup per distinct (hostname, sender)."""
    h = pc.dictionary_encode(hosts, null_encoding="encode")
    s = pc.dictionary_encode(senders, null_encoding="encode")
    width = len(s.dictionary)
    pair = pc.add(pc.multiply(pc.cast(h.indices, pa.int64()), width), pc.cast(s.indices, pa.int64()))
    enc = pc.dictionary_encode(pair)
    hnames, snames = h.dictionary.to_pylist(), s.dictionary.to_pylist()
    found: list[tzinfo | None] = []
    codes: list[int] = []
    for p in enc.dictionary.to_pylist():
        tz = zones.zone(hnames[p // width], snames[p % width])
        if tz not in found:
            found.append(tz)
        codes.append(found.index(tz))
    return pa.array(codes, pa.int64()).take(enc.indices), found


def localize(
    ts: pa.Array, local: pa.Array, hosts: pa.Array, senders: pa.Array | None, near: pa.Array | datetime,
    zones: ZoneResolver,
) -> pa.Array:
    """ts (int64 microseconds, stamps read as UTC) with the rows of `local` (stamps without a zone) read in
    their device's zone instead; near: each row's receive time (timestamp or int64 microseconds), or one for all."""
    rows = where(all_true(local, pc.is_valid(ts)))
    if len(rows) == 0:
        return ts
    wall = ts.take(rows)
    n = len(rows)
    if getattr(zones, "uniform", False):  # one zone for every device (vigie.pipelines.zones.ZoneMap): no lookups
        code, found = pa.repeat(pa.scalar(0, pa.int64()), n), [zones.zone(None, None)]
    else:
        snd = senders.take(rows) if senders is not None else pa.nulls(n, pa.string())
        code, found = _zone_codes(hosts.take(rows), snd, zones)
    keep = pc.not_equal(code, found.index(None)) if None in found else None
    if keep is not None:  # rows whose device is in UTC stay as read
        sel = where(keep)
        if len(sel) == 0:
            return ts
        rows, wall, code = rows.take(sel), wall.take(sel), code.take(sel)
    width = len(found)
    lo, hi = (v.as_py() for v in pc.min_max(wall).values())
    secs_of = pc.divide(wall, _US) if lo >= 0 else _floor_div(wall, _US)  # before 1970: round down
    key = pc.add(pc.multiply(secs_of, width), code) if width > 1 else secs_of
    enc = pc.dictionary_encode(key)
    before: list[int] = []
    after: list[int] = []
    for k in enc.dictionary.to_pylist():
        sec, z = divmod(k, width)
        days, secs = divmod(sec, 86400)
        b, a = ct.zone_offsets(found[z], ct._EPOCH_ORD + days, secs)  # type: ignore[arg-type]
        before.append(b * _US)
        after.append(a * _US)
    got = pc.subtract(wall, pa.array(before, pa.int64()).take(enc.indices))
    if before != after:  # a repeated or skipped local hour in this batch: the reading closest to the receive time
        second = pc.subtract(wall, pa.array(after, pa.int64()).take(enc.indices))
        if isinstance(near, datetime):
            near_us: pa.Array | pa.Scalar = pa.scalar(ct.epoch_us(near), pa.int64())
        else:
            near_us = pc.cast(near, pa.int64()).take(rows)
        closer = pc.less(pc.abs(pc.subtract(second, near_us)), pc.abs(pc.subtract(got, near_us)))
        got = pc.if_else(pc.fill_null(closer, False), second, got)
    # as the per-row code: a time moved past year 1 or 9999 is invalid (offsets are under a day)
    if lo - 86400 * _US < _MIN_US or hi + 86400 * _US > _MAX_US:
        in_range = all_true(pc.greater_equal(got, _MIN_US), pc.less_equal(got, _MAX_US))
        got = pc.if_else(in_range, got, pa.scalar(None, pa.int64()))
    if len(rows) == len(ts):  # every row read here (rows is then 0..n-1)
        return got
    return pc.replace_with_mask(ts, _mask(rows, len(ts)), got)


def _mask(rows: pa.Array, n: int) -> pa.BooleanArray:
    out = pc.scatter(pa.repeat(pa.scalar(True), len(rows)), rows.cast(pa.int64()), max_index=n - 1) if len(rows) else None
    return pc.fill_null(out, False) if out is not None else pa.repeat(pa.scalar(False), n)


def clock_skewed(timestamp: pa.Array, received: pa.Array, max_skew: float) -> pa.Array:
    """Whether the device's time is further than max_skew seconds from the receive time (null: no device time)."""
    gap = pc.abs(pc.subtract(pc.cast(timestamp, pa.int64()), pc.cast(received, pa.int64())))
    return pc.greater(gap, int(max_skew * _US))
