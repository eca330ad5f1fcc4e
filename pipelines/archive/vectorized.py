"""Batch enrichment of raw syslog with pyarrow.compute (RE2 in C++), giving exactly what the per-row parser and extractors give."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive import connlog as cl
from vigie.pipelines.archive.connlog import CONN_COLUMNS, extract_connection
from vigie.codecs import timestamps as ct
from vigie.codecs.syslog import parse_syslog
from vigie.schemas.archive import CONNECTION_FIELDS

_TS = pa.timestamp("us", tz="UTC")
_CONN_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in CONNECTION_FIELDS}
assert set(CONN_COLUMNS) == set(_CONN_TYPES)

# The fast paths only see pure-ASCII rows, where Python's \s is this class (RE2's \s lacks \v and \x1c-\x1f)
# and \d, \w, \b mean what RE2 means by them; every other row takes the per-row code.
_WS = r"\t-\r\x1c-\x1f "
_SP = f"[{_WS}]"
_NS = f"[^{_WS}]"
_ADDR = r"[0-9A-Fa-f:.]*[0-9A-Fa-f]"
_MAX_LEN = cl._MAX_LEN  # longer lines are not connection logs
# The dispatch below relies on this order of connlog.EXTRACTORS (the first guard that passes decides).
GUARD_ORDER = ("cisco_asa", "netfilter", "fortigate", "stormshield", "pfsense", "dhcp", "radius", "mikrotik_hotspot", "pfsense_portal", "mikrotik", "squid")


class _Fallback(Exception):
    """A value the fast path will not decide: the row goes through the per-row code."""


_REJECTS = (_Fallback, cl._Reject, ValueError, IndexError, TypeError)


# --------------------------------------------------------------------------- the reference


def enrich_rowwise(raws: list[bytes], reference: datetime) -> dict[str, pa.Array]:
    """The per-row enrichment (parse_syslog + extract_connection): the reference the fast path must equal."""
    stamps: list[str | None] = []
    hosts: list[str | None] = []
    apps: list[str | None] = []
    conns: list[dict[str, Any] | None] = []
    for raw in raws:
        p = parse_syslog(raw, reference)
        stamps.append(p["timestamp"])
        hosts.append(p["hostname"])
        apps.append(p["app_name"])
        conns.append(extract_connection(raw.decode("utf-8", "replace")))
    out: dict[str, pa.Array] = {
        "timestamp": pa.array(stamps, pa.string()).cast(_TS),
        "hostname": pa.array(hosts, pa.string()),
        "app_name": pa.array(apps, pa.string()),
    }
    for f in CONNECTION_FIELDS:
        out[f.name] = pa.array([c[f.name] if c else None for c in conns], f.type)
    return out


# --------------------------------------------------------------------------- small vector helpers


def _f(m: pa.StructArray, name: str) -> pa.Array:
    """A group of an extract_regex result, null where the row did not match (StructArray.field ignores that)."""
    return pc.struct_field(m, name)


def _t(mask: pa.Array) -> pa.BooleanArray:
    """A boolean mask with nulls read as false (extract_regex gives null for non-matching rows)."""
    return pc.fill_null(mask, False) if mask.null_count else mask


def _and(*masks: pa.Array) -> pa.BooleanArray:
    out = _t(masks[0])
    for m in masks[1:]:
        out = pc.and_(out, _t(m))
    return out


def _or(*masks: pa.Array) -> pa.BooleanArray:
    out = _t(masks[0])
    for m in masks[1:]:
        out = pc.or_(out, _t(m))
    return out


def _has(arr: pa.Array, regex: str) -> pa.BooleanArray:
    return _t(pc.match_substring_regex(arr, regex))


def _where(mask: pa.Array) -> pa.Array:
    return pc.indices_nonzero(mask)


def _per_unique(
    arr: pa.Array, fn: Callable[[Any], Any], typ: pa.DataType
) -> tuple[pa.Array, pa.BooleanArray]:
    """fn (a reference function) once per distinct value, broadcast back; values repeat all day, rows do not.

    Returns the values and a mask of rows where fn refused the value (_Reject and friends).
    """
    n = len(arr)
    if n == 0:
        return pa.nulls(0, typ), _false(0)
    if arr.null_count == n:  # a group that never matched, a column no line of this shape has
        try:
            return pa.nulls(n, typ) if (v := fn(None)) is None else pa.repeat(pa.scalar(v, typ), n), _false(n)
        except _REJECTS:
            return pa.nulls(n, typ), pa.repeat(pa.scalar(True), n)
    enc = pc.dictionary_encode(arr, null_encoding="encode")  # null is a key of its own: fn(None) once
    vals: list[Any] = []
    rej: list[bool] = []
    for key in enc.dictionary.to_pylist():
        try:
            vals.append(fn(key))
            rej.append(False)
        except _REJECTS:
            vals.append(None)
            rej.append(True)
    out = pa.array(vals, typ).take(enc.indices)
    bad = pa.array(rej, pa.bool_()).take(enc.indices) if any(rej) else _false(n)
    return out, bad


def _false(n: int) -> pa.BooleanArray:
    return pa.repeat(pa.scalar(False), n)


_CANON4 = cl._CANONICAL_IPV4.pattern.replace(r"\d", "[0-9]").replace(r"\Z", "")


def _ips(arr: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """connlog._ip on a column: canonical IPv4 (the bulk) kept as is, everything else per distinct value."""
    canon = _has(arr, rf"^{_CANON4}$")
    if arr.null_count == 0 and pc.all(canon).as_py():
        return arr, pc.invert(canon)
    others = pc.if_else(canon, pa.scalar(None, pa.string()), arr)
    vals, bad = _per_unique(others, cl._ip, pa.string())
    return pc.if_else(canon, arr, vals), _and(bad, pc.invert(canon))


def _ips_n(*arrs: pa.Array) -> list[tuple[pa.Array, pa.BooleanArray]]:
    """_ips on several columns of the same rows: one RE2 call on the values joined by "|" (none holds one
    when canonical) shows the rows where all are canonical IPv4 (RE2 costs ~80 ns a call even on a short
    string, its DFA little more on a longer one); the other rows take _ips column by column."""
    joined = pc.binary_join_element_wise(*arrs, "|")  # null where any is
    canon = _has(joined, "^" + r"\|".join([_CANON4] * len(arrs)) + "$")
    k = pc.sum(canon).as_py() or 0
    if k == len(canon):
        return [(a, pa.repeat(pa.scalar(False), len(a))) for a in arrs]
    other = pc.invert(canon)
    out = []
    for a in arrs:
        vals, bad = _ips(a.filter(other))
        out.append((pc.replace_with_mask(a, other, vals), _spread(other, bad)))
    return out


def _digits(arr: pa.Array, most: int) -> pa.BooleanArray:
    """^[0-9]{1,most}$ without RE2 (its call costs ~90 ns even on a five-byte string; these kernels ~5)."""
    return _and(pc.ascii_is_decimal(arr), pc.less_equal(pc.binary_length(arr), most))


_EMPTY = pa.array([None, "", "-"], pa.string())  # what connlog._port and _count read as absent


def _ports(arr: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """connlog._port on a column: None for absent, '' and '-', refused unless 0..65535 in ASCII digits."""
    digits = _digits(arr, 5)
    nums = pc.cast(pc.if_else(digits, arr, pa.scalar(None, pa.string())), pa.int32())
    good = _and(digits, pc.less_equal(nums, 65535))
    bad = pc.invert(_or(good, pc.is_in(arr, value_set=_EMPTY, skip_nulls=False)))
    return pc.if_else(good, nums, pa.scalar(None, pa.int32())), bad


def _counts(arr: pa.Array) -> tuple[pa.Array, pa.BooleanArray]:
    """connlog._count on a column: ASCII digits, at most 18 of them."""
    digits = _digits(arr, 18)
    nums = pc.cast(pc.if_else(digits, arr, pa.scalar(None, pa.string())), pa.int64())
    return nums, pc.invert(_or(digits, pc.is_in(arr, value_set=_EMPTY, skip_nulls=False)))


def _asa_users(*cands: pa.Array) -> pa.Array:
    """connlog._asa_user: the first candidate whose first comma-separated part is a real user name."""
    outs = [_per_unique(c, lambda v: cl._user(v.split(",")[0]) if v else None, pa.string())[0] for c in cands]
    return pc.coalesce(*outs) if len(outs) > 1 else outs[0]


def _starts(lists: pa.ListArray) -> pa.Array:
    """Where each list starts in lists.values (int64)."""
    return pc.cast(lists.offsets.slice(0, len(lists)), pa.int64())


def _items(lists: pa.ListArray, idxs: Sequence[int], need: int, default: str | None = None) -> list[pa.Array]:
    """Elements idxs of each list that has at least `need` elements, else default (pc.if_else on lists is
    slow); where the lists start is worked out once for all of them (each kernel call costs ~10 µs)."""
    base = pc.if_else(  # null where the list is null or short
        pc.greater_equal(pc.list_value_length(lists), need), _starts(lists), pa.scalar(None, pa.int64())
    )
    outs = []
    for i in idxs:
        out = lists.values.take(pc.add(base, i) if i else base)
        outs.append(out if default is None else pc.fill_null(out, default))
    return outs


def _item(lists: pa.ListArray, i: int, need: int, default: str | None = None) -> pa.Array:
    """Element i of each list that has at least `need` elements, else default."""
    return _items(lists, (i,), need, default)[0]


def _slice(arr: pa.Array, start: int, stop: int | None = None) -> pa.Array:
    """utf8_slice_codeunits on ASCII strings (all the fast paths see), by bytes: several times cheaper."""
    if stop is None and start >= 0:
        stop = 1 << 30  # binary_slice fails on a missing stop after a non-negative start
    return pc.binary_slice(arr.cast(pa.binary()), start, stop).cast(pa.string())


def _as(arr: pa.Array, typ: pa.DataType) -> pa.Array:
    """pc.cast, skipped when arr has the type already (every kernel call costs ~10 µs, whatever it does)."""
    return arr if arr.type == typ else pc.cast(arr, typ)


def _null(n: int, name: str) -> pa.Array:
    return pa.nulls(n, _CONN_TYPES[name])


# --------------------------------------------------------------------------- header


_PRI = r"<[0-9]{1,3}>"
_PRI_OK = r"<(?:[0-9]{1,2}|0[0-9]{2}|1[0-8][0-9]|19[01])>"  # what _fast3164 accepts (<= 191)
# _FAST3164 in two one-pass halves: without the optional year (tried first here, kept when its host is
# not four digits, which the year form would have taken as the year) and with it. Bounded repeats
# ({1,128}) are checked on the captured lengths: RE2 runs them far slower than an unbounded run. The PRI
# bound is checked apart (a DFA match): its alternation makes the capture regex leave RE2's one-pass engine.
_T3164 = r"[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
_TAIL3164 = rf" (?P<host>[^{_WS}\[\]:]+) (?P<tag>[^{_WS}\[\]:]+)(?:\[(?P<pid>[^\]{_WS}]*)\])?:(?:[ \t]|$)"
_H3164 = rf"^{_PRI}(?P<ts>{_T3164}){_TAIL3164}"
_H3164_YEAR = rf"^{_PRI}(?P<ts>{_T3164} [0-9]{{4}}){_TAIL3164}"
_TS3164 = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?: (\d{4}))?")
_BSD_NC = r"[A-Za-z]{3} +[0-9]{1,2}(?: [0-9]{4})? [0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
_CISCO_TAIL = rf"%(?P<fac>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-[0-7]-[A-Za-z0-9_]+{_SP}?:"
# The same languages written so that RE2 can run them one-pass (each byte says which way to go, the only
# engine that is cheap with captures): the year or the hour after the day decided by the digit count,
# the facility with its severity captured as "FAC-SEV" (the last two characters cut off after).
_BSD_1P = r"[A-Za-z]{3} +[0-9]{1,2} [0-9](?:[0-9](?:[0-9]{2} [0-9]{1,2})?)?:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
_CISCO_TAIL_1P = rf"%(?P<facsev>[A-Z][A-Z0-9_]*-(?:[A-Z][A-Z0-9_]*-)*[0-7])-[A-Za-z0-9_]+{_SP}?:"
# "<PRI>Mmm dd [yyyy] hh:mm:ss host : %FAC-SEV-MN:" (ASA relay header), "... host %FAC-SEV-MN:" (IOS) and
# "<PRI>%FAC-SEV-MN:" (no clock): the bulk of Cisco lines, tried first with this smaller regex (cheaper
# than _HCISCO below). The separator "\s(?::\s+|\s*)" is _HCISCO's hsep "\s:\s+|\s+" written one-pass; when
# it is "\s+", the "%" right after shows vigie.codecs.syslog's _CISCO's lookahead held (lead and the middle groups empty).
_HCISCO_RELAY = (
    rf"^{_PRI}(?:(?P<hts>{_BSD_1P}){_SP}+(?P<host>[^{_WS}:]+){_SP}(?::{_SP}+|{_SP}*))?{_CISCO_TAIL_1P}"
)
_D = "[0-9]"
_W = "[A-Za-z0-9_]"
_ISO_NC = rf"{_D}{{4}}-{_D}{{2}}-{_D}{{2}}[Tt ]{_D}{{1,2}}:{_D}{{2}}:{_D}{{2}}(?:[.,]{_D}{{1,9}})?(?:[Zz]|[+-]{_D}{{2}}(?::?{_D}{{2}})?)?"
_CTS_NC = rf"(?:{_D}{{4}} )?{_BSD_NC}(?: [A-Za-z]{{1,6}}| [+-]{_D}{{2}}:?{_D}{{2}})?"
# vigie.codecs.syslog's _CISCO after the PRI, in RE2 with the same groups in the same order (so the same submatches), the
# message left out (".*" always matches) and its one lookahead, after the relay host's "\s+", replaced by
# the groups hsep, lead and seqsp: _header_cisco keeps a row only where they show the lookahead held.
_HCISCO = (
    rf"^{_PRI}(?:(?P<hts>{_BSD_NC}|{_ISO_NC}){_SP}+(?P<hhost>[^{_WS}:]+)(?P<hsep>{_SP}:{_SP}+|{_SP}+))?"
    rf"(?P<lead>:?{_SP}*)"
    rf"(?:(?P<seq>{_D}{{1,10}})(?P<seqsp>{_SP}*):{_SP}+)?"
    rf"(?:(?P<dev>[A-Za-z][A-Za-z0-9_.\-]*):{_SP}+)?"
    r"(?:(?P<node>[A-Za-z0-9]+(?:/[A-Za-z0-9]+)+):)?"
    rf"(?:(?P<mark>[*.])?(?:(?P<cts>{_CTS_NC})|(?P<up>{_D}{{1,2}}:{_D}{{2}}:{_D}{{2}}(?:\.{_D}{{1,6}})?"
    rf"|(?:{_D}{{1,5}}[ywdhm]){{1,3}})){_SP}*:{_SP}*)?"
    rf"(?:(?P<proc>[A-Za-z]{_W}*)\[(?P<pid>{_D}{{1,10}})\]:{_SP}*)?"
    rf"%(?P<fac>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-[0-7]-[A-Za-z0-9_]+{_SP}?:"
)
# The device clock without its fraction (added back as microseconds: every line has its own).
_CTS_SPLIT = (
    rf"^(?P<a>(?:{_D}{{4}} )?[A-Za-z]{{3}} +{_D}{{1,2}}(?: {_D}{{4}})? {_D}{{1,2}}:{_D}{{2}}:(?P<ss>{_D}{{2}}))"
    rf"(?:\.(?P<f>{_D}{{1,9}}))?(?P<z>.*)$"
)
# The stamp is one group (RE2 runs one-pass with at most four), cut into its fixed-width parts after.
_H5424 = (
    rf"^{_PRI}[0-9]{{1,2}} (?:-|(?P<stamp>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2}))) (?P<host>[^ ]*) (?P<app>[^ ]*) "
)
_HFGT = rf"^(?:{_PRI})?date=(?P<d>[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}) time=(?P<t>[0-9]{{1,2}}:[0-9]{{2}}:[0-9]{{2}})"
_HFGT_PY = re.compile(_HFGT.replace("(?P<d>", "(").replace("(?P<t>", "("))
_HFGT_SPAN = 5 + 5 + 10 + 6 + 8  # the longest text _HFGT matches: "<PRI>date=yyyy-mm-dd time=hh:mm:ss"
_FGT_DEV_SPAN = 64
_FGT_TZ = r'(?:^|[^A-Za-z0-9_])tz="?(?P<tz>[+-][0-9]{2}:?[0-9]{2})'
_FGT_DEV = rf'(?:^|[^A-Za-z0-9_])devname="?(?P<dev>[^"{_WS}]+)'


_FGT_DEV_PY = re.compile(_FGT_DEV.replace("(?P<dev>", "("))


def _ts_micros(stamps: pa.Array) -> pa.Array:
    """The reference's own conversion: RFC 3339 strings cast by Arrow, as microseconds."""
    return pc.cast(pc.cast(stamps, _TS), pa.int64())


class _Header:
    """Header columns of the fast rows, gathered as (row indices, values) pieces."""

    def __init__(self) -> None:
        self.idx: list[pa.Array] = []
        self.ts: list[pa.Array] = []
        self.host: list[pa.Array] = []
        self.app: list[pa.Array] = []

    def add(self, idx: pa.Array, ts: pa.Array, host: pa.Array, app: pa.Array) -> None:
        self.idx.append(_as(idx, pa.int64()))
        self.ts.append(_as(ts, pa.int64()))
        self.host.append(_as(host, pa.string()))
        self.app.append(_as(app, pa.string()))


def _four_digits(arr: pa.Array) -> pa.BooleanArray:
    """^[0-9]{4}$ without RE2 (see _digits)."""
    return _and(pc.ascii_is_decimal(arr), pc.equal(pc.binary_length(arr), 4))


def _ends_with_nul(s: pa.StringArray) -> pa.BooleanArray:
    """pc.ends_with(s, "\x00") (false on nulls), read as each row's last byte: ends_with costs ~50 ns a row."""
    n = len(s)
    data = s.buffers()[2]
    if n == 0 or data is None or data.size == 0:
        return pa.repeat(pa.scalar(False), n)
    offs = pa.Array.from_buffers(pa.int32(), n + 1, [None, s.buffers()[1]], offset=s.offset)
    ends = offs.slice(1)
    last = pc.subtract(ends, 1)
    nonempty = pc.greater(ends, offs.slice(0, n))
    byte = pa.Array.from_buffers(pa.uint8(), data.size, [None, data]).take(pc.max_element_wise(last, 0))
    return _and(nonempty, pc.equal(byte, 0), pc.is_valid(s))


def _take_ok(ok: pa.Array) -> pa.Array | None:
    """The indices of the true rows of ok, or None when all are (no take needed)."""
    good = _where(ok)
    return None if len(good) == len(ok) else good


def _header_3164(
    sub: pa.StringArray, ref: datetime, pri_ok: pa.Array | None = None
) -> tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray]:
    """_FAST3164 (no '%' in the line): timestamp per distinct clock value, as _fast3164 computes it.

    pri_ok: whether each line starts with _PRI_OK, when the caller knows it.
    """
    m = pc.extract_regex(sub, _H3164)
    g = {k: _f(m, k) for k in ("ts", "host", "tag", "pid")}
    if pri_ok is None:
        pri_ok = _has(sub, "^" + _PRI_OK)
    g["ok"] = _and(pc.is_valid(m), pri_ok)
    # (?!\d{4}(?:\s|$)) in _FAST3164: a four-digit host is the year of the other form, or refused
    year_host = _four_digits(g["host"])
    retry = _or(pc.invert(g["ok"]), year_host)
    if pc.any(retry).as_py():
        my = pc.extract_regex(sub.filter(retry), _H3164_YEAR)
        g = {
            k: pc.replace_with_mask(v, retry, _f(my, k) if k != "ok" else pc.is_valid(my))
            for k, v in g.items()
        }
        year_host = _four_digits(g["host"])
    ok, ts_tok, host, tag = g["ok"], g["ts"], g["host"], g["tag"]

    def stamp(tok: str | None) -> str | None:
        if tok is None:
            return None
        mon, day, hh, mi, ss, year = _TS3164.fullmatch(tok).groups()  # type: ignore[union-attr]
        month = ct.MONTHS.get(mon.lower())
        if month is None or hh > "23" or mi > "59" or ss > "59":
            raise _Fallback  # _fast3164 declines: the general path decides
        o = ct.day_ordinal(int(year), month, int(day)) if year else ct.closest_day(month, int(day), ref)
        if not o:
            raise _Fallback
        return ct.date_prefix(o) + hh + ":" + mi + ":" + ss + ".000000Z"

    stamps, bad = _per_unique(ts_tok, stamp, pa.string())
    short = _and(
        pc.less_equal(pc.utf8_length(tag), 128),
        _or(pc.is_null(g["pid"]), pc.less_equal(pc.utf8_length(g["pid"]), 128)),
    )
    ok = _and(ok, pri_ok, short, pc.invert(bad), pc.invert(year_host))
    return _ts_micros(stamps), host, tag, ok


def _header_cisco_relay(
    sub: pa.StringArray, ref: datetime
) -> tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray]:
    """_CISCO with a BSD relay clock and host before ' : %FAC-SEV-MN:', or no header at all."""
    m = pc.extract_regex(sub, _HCISCO_RELAY)
    ok = pc.is_valid(m)
    stamps, bad = _per_unique(_f(m, "hts"), lambda v: ct.bsd_or_iso_stamp(v, ref, []) if v else None, pa.string())
    host = _f(m, "host")  # an unmatched group reads "": no relay header means no host
    host = pc.if_else(_t(pc.equal(host, "")), pa.scalar(None, pa.string()), host)
    fac = _slice(_f(m, "facsev"), 0, -2)
    return _ts_micros(stamps), host, fac, _and(ok, pc.invert(bad))


def _header_cisco(sub: pa.StringArray, ref: datetime) -> tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray]:
    """vigie.codecs.syslog's _cisco: IOS, NX-OS, ASA, with or without a relay header, sequence number, origin id or device clock."""
    m = pc.extract_regex(sub, _HCISCO)
    g = partial(_f, m)
    empty = partial(pc.equal, pa.scalar(""))
    # vigie.codecs.syslog's _CISCO's lookahead (?=\d{1,10}:\s|%) after "\s+" (hsep without ":"): shown to hold when
    # nothing but a sequence number written "123: " or nothing at all comes before the "%"
    middle = _and(*(empty(g(k)) for k in ("seq", "dev", "node", "mark", "cts", "up", "proc")))
    seq_next = _and(pc.invert(empty(g("seq"))), empty(g("seqsp")))
    ok = _and(
        pc.is_valid(m),
        _or(empty(g("hts")), _has(g("hsep"), ":"), _and(empty(g("lead")), _or(middle, seq_next))),
    )
    cts = g("cts")
    parts = pc.extract_regex(pc.if_else(_t(empty(cts)), pa.scalar(None, pa.string()), cts), _CTS_SPLIT)
    key = pc.binary_join_element_wise(_f(parts, "a"), _f(parts, "z"), "")
    base, bad_c = _per_unique(key, lambda v: ct.cisco_stamp(v, ref, []) if v else None, pa.string())
    frac = _f(parts, "f")
    fus = pc.cast(_slice(pc.utf8_rpad(pc.fill_null(frac, ""), 6, "0"), 0, 6), pa.int64())
    leap = _t(pc.equal(_f(parts, "ss"), "60"))  # clamped to 59.999999 whatever the fraction
    dev_ts = pc.if_else(leap, _ts_micros(base), pc.add(_ts_micros(base), fus))
    hts = g("hts")
    relay, bad_h = _per_unique(
        pc.if_else(_t(empty(hts)), pa.scalar(None, pa.string()), hts),
        lambda v: ct.bsd_or_iso_stamp(v, ref, []) if v else None,
        pa.string(),
    )
    ts = pc.if_else(pc.is_valid(parts), dev_ts, _ts_micros(relay))
    host = pc.if_else(_t(empty(g("dev"))), g("hhost"), g("dev"))
    host = pc.if_else(_t(empty(host)), pa.scalar(None, pa.string()), host)
    ok = _and(ok, _or(empty(cts), pc.is_valid(parts)), pc.invert(bad_c), pc.invert(bad_h))
    return ts, host, g("fac"), ok


def _header_5424(sub: pa.StringArray, ref: datetime) -> tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray]:
    """RFC 5424 with a strict RFC 3339 stamp or '-': seconds per distinct value, fraction added as a vector."""
    m = pc.extract_regex(sub, _H5424)
    ok = pc.is_valid(m)
    stamp = _f(m, "stamp")  # "" for "-"
    sec = _slice(stamp, 0, 19)
    zulu = _t(pc.ends_with(stamp, "Z"))
    tz = pc.if_else(zulu, _slice(stamp, -1), _slice(stamp, -6))
    tz = pc.if_else(_t(pc.equal(stamp, "")), stamp, tz)
    frac = pc.if_else(
        _t(pc.equal(_slice(stamp, 19, 20), ".")),
        pc.if_else(zulu, _slice(stamp, 20, -1), _slice(stamp, 20, -6)),
        pa.scalar("", pa.string()),
    )
    key = pc.binary_join_element_wise(sec, tz, "")
    base, bad = _per_unique(key, lambda v: ct.rfc3339_stamp(v, ref, []) if v else None, pa.string())
    micros = _ts_micros(base)
    leap = pc.equal(_slice(sec, 17, 19), "60")  # clamped to 59.999999 whatever the fraction
    fus = pc.cast(_slice(pc.utf8_rpad(pc.fill_null(frac, ""), 6, "0"), 0, 6), pa.int64())
    micros = pc.if_else(_t(leap), micros, pc.add(micros, fus))

    def nil(col: pa.Array) -> pa.Array:
        return pc.if_else(_or(pc.equal(col, "-"), pc.equal(col, "")), pa.scalar(None, pa.string()), col)

    return micros, nil(_f(m, "host")), nil(_f(m, "app")), _and(ok, pc.invert(bad))


def _dev_in_head(head: str | None) -> str | None:
    """_FGT_DEV's group in a line's first _FGT_DEV_SPAN characters; _Fallback when the line decides."""
    if head is None:
        return None
    m = _FGT_DEV_PY.search(head)
    if m is None or m.end() == len(head):  # none here (one may come later), or its value may go on
        raise _Fallback
    return m.group(1)


def _header_fortigate(
    sub: pa.StringArray, ref: datetime
) -> tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray]:
    """FortiGate without syslog header: date=, time=, tz= and devname= as vigie.codecs.syslog's _fortigate reads them."""
    # _HFGT reads at most the first _HFGT_SPAN characters: it is run in Python once per distinct such head
    # (the clock changes once a second) rather than by RE2 on every line (~0.4 µs a line with captures).
    head = _slice(sub, 0, _HFGT_SPAN)
    # _FGT_TZ starts with no literal (RE2 walks every byte of a line without it, ~0.8 µs): only the lines
    # holding "tz=" (a literal search, stopped at the first) are searched with it.
    with_tz = _has(sub, "tz=")
    if pc.all(with_tz).as_py():
        tz = _f(pc.extract_regex(sub, _FGT_TZ), "tz")
    else:
        tz = pa.nulls(len(sub), pa.string())
        if pc.any(with_tz).as_py():
            tz = pc.replace_with_mask(tz, with_tz, _f(pc.extract_regex(sub.filter(with_tz), _FGT_TZ), "tz"))
    # devname= comes right after the clock: read in Python once per distinct line start when its value ends
    # there (a leftmost match complete within the start is the line's), by RE2 on the whole line otherwise.
    dev, undecided = _per_unique(_slice(sub, 0, _FGT_DEV_SPAN), _dev_in_head, pa.string())
    if pc.any(undecided).as_py():
        dev = pc.replace_with_mask(dev, undecided, _f(pc.extract_regex(sub.filter(undecided), _FGT_DEV), "dev"))
    key = pc.binary_join_element_wise(head, pc.fill_null(tz, ""), "|")  # a tz holds no "|"

    def stamp(v: str | None) -> str | None:
        if v is None:
            return None
        h, _, z = v.rpartition("|")
        m = _HFGT_PY.match(h)
        if m is None:
            raise _Fallback  # not this route's header
        d, t = m.groups()
        h, mi, s = t.split(":")
        off = ct.offset_seconds(z) if z else 0
        if off is None:
            off = 0
        return ct.utc_stamp(int(d[:4]), int(d[5:7]), int(d[8:10]), int(h), int(mi), int(s), 0, off, ref, [])

    stamps, bad = _per_unique(key, stamp, pa.string())
    return _ts_micros(stamps), dev, pa.nulls(len(sub), pa.string()), _and(pc.is_valid(sub), pc.invert(bad))


# The header routes, read from the line's first 8 bytes: (regex on them, kind) where kind says what
# else the route needs (see _headers). Evaluated once per distinct prefix (a few dozen in a batch).
_ROUTE_5424 = r"^<[0-9]{1,3}>[0-9]"
_ROUTE_3164 = r"^<[0-9]{1,3}>[A-Z]"
_ROUTE_NOT_CISCO = r"^<[0-9]{1,3}>[0-9]{1,2} "
_ROUTE_FGT = r"^(?:<[0-9]{1,3}>)?d"


def _headers(
    s: pa.StringArray, fast: pa.BooleanArray, ref: datetime
) -> tuple[_Header, pa.BooleanArray, pa.BooleanArray, pa.BooleanArray]:
    """Header pieces for the rows a fast path fully understands; returns them, the mask of those rows,
    the mask of the rows whose header is FortiGate's (a hint for the connection step) and the mask of
    the lines holding a "%" (which the connection step reuses)."""
    out = _Header()
    n = len(s)
    done = pa.repeat(pa.scalar(False), n)
    forti = done
    # parse_syslog strips a trailing NUL that RE2 would read
    fast = _and(fast, pc.invert(_ends_with_nul(s)))
    pct = _has(s, "%")  # RE2 finds a byte several times faster than Arrow's literal search
    # The first 8 bytes (the fast rows are ASCII: bytes are characters) take a few dozen values in a
    # batch: the route tests run on those, not on every row (each RE2 call costs ~50 ns however short).
    enc = pc.dictionary_encode(pc.binary_slice(s.cast(pa.binary()), 0, 8))
    heads, codes = enc.dictionary, enc.indices
    lt = pc.starts_with(heads, "<")
    digit_after_pri = _has(heads, _ROUTE_5424)

    def per_row(mask: pa.Array) -> pa.BooleanArray:
        return mask.take(codes)

    # Each route's rows are copied out: RE2 costs about as much per row on a line it rejects at once.
    pri_ok = _has(heads, "^" + _PRI_OK)

    def h3164(sub: pa.StringArray, ref: datetime, idx: pa.Array) -> Any:
        return _header_3164(sub, ref, pri_ok.take(codes.take(idx)))

    routes: list[tuple[pa.Array, Callable[..., Any]]] = [
        (_and(fast, per_row(_and(lt, digit_after_pri))), _header_5424),
        (_and(fast, pc.invert(pct), per_row(_has(heads, _ROUTE_3164))), h3164),
        (_and(fast, pct, per_row(_and(lt, pc.invert(digit_after_pri)))), _header_cisco_relay),
        (_and(fast, pct, per_row(_and(lt, pc.invert(_has(heads, _ROUTE_NOT_CISCO))))), _header_cisco),
        (_and(fast, per_row(_has(heads, _ROUTE_FGT))), _header_fortigate),
    ]
    for mask, fn in routes:
        mask = _and(mask, pc.invert(done))
        idx = _where(mask)
        if len(idx) == 0:
            continue
        ts, host, app, ok = fn(s.take(idx), ref, idx) if fn is h3164 else fn(s.take(idx), ref)
        good = _take_ok(ok)
        if good is None:
            out.add(idx, ts, host, app)
        elif len(good):
            out.add(idx.take(good), ts.take(good), host.take(good), app.take(good))
        else:
            continue
        got = _spread(mask, ok)
        done = pc.or_(done, got)
        if fn is _header_fortigate:
            forti = got
    return out, done, forti, pct


# --------------------------------------------------------------------------- connection: netfilter


# Anchored just after the first "IN=" (the text before it is cut off separately). The head up to DST is
# deterministic; connlog's lazy `[^[]{0,256}?PROTO=` is the first "PROTO=" after it, found by a search
# whose position is checked (after the head, within 256, no "[" before it): RE2 is slow on that repeat.
_NF_HEAD = (
    rf"^(?P<head>{_NS}* OUT={_NS}* (?:PHYS{_NS}+ )*(?:MAC=(?P<mac>{_NS}*) )?"
    rf"SRC=(?P<src>{_NS}+) DST=(?P<dst>{_NS}+) )"
)
_NF_PROTO = rf"PROTO=(?P<proto>{_NS}+)(?: SPT=(?P<spt>[0-9]+) DPT=(?P<dpt>[0-9]+))?"
_KERNEL_TS = rf"^{_SP}*\[{_SP}*[0-9]+\.[0-9]+\]{_SP}*"


# The usual form of the text after "IN=", cut at the first "PROTO=": the head "IN OUT=.. MAC=.. SRC=..
# DST=.. " (MAC given, no PHYS* field), no "[" up to "PROTO=", no whitespace but spaces, and the ports right
# after the protocol. Its groups are then space-separated tokens at fixed places, checked by cheap kernels
# (the capture regexes cost ~1 µs a line, even a DFA match of the head ~0.4).
_NF_GROUPS = ("mac", "src", "dst", "proto", "spt", "dpt")


_KERNEL_TS_HEAD = rf"^{_SP}*\[{_SP}*[0-9]+\.[0-9]+$"  # _KERNEL_TS up to its "]" (the first of the line)


def _strip_kernel_ts(tail: pa.Array) -> pa.Array:
    """replace_substring_regex(tail, _KERNEL_TS, "", max_replacements=1), cut at the first "]" instead
    (the replace kernel costs ~0.3 µs a line, a match on the short head a third of that)."""
    parts = pc.split_pattern(tail, "]", max_splits=1)
    head, rest = _items(parts, (0, 1), 2)
    ts = _has(head, _KERNEL_TS_HEAD)
    return pc.if_else(ts, pc.utf8_ltrim(rest, characters=" \t\n\v\f\r\x1c\x1d\x1e\x1f"), tail)


def _nf_groups_rx(post: pa.StringArray, at: pa.Array) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_NF_HEAD's and _NF_PROTO's groups, and whether they match where connlog's regex does."""
    h = pc.extract_regex(post, _NF_HEAD)
    m = pc.extract_regex(post, _NF_PROTO)
    head_len = pc.utf8_length(_f(h, "head"))
    bracket = pc.find_substring_regex(post, r"\[")  # RE2: several times faster than Arrow's literal search
    ok = _and(
        pc.is_valid(h),
        pc.is_valid(m),
        pc.greater_equal(at, head_len),
        pc.less_equal(pc.subtract(at, head_len), 256),
        _or(pc.equal(bracket, -1), pc.greater(bracket, at)),
    )
    g = {k: _f(h, k) for k in ("mac", "src", "dst")}
    g.update({k: _f(m, k) for k in ("proto", "spt", "dpt")})
    return g, ok


def _drop(arr: pa.Array, k: int) -> pa.StringArray:
    """Each (ASCII) string without its first k characters: several times cheaper than utf8_slice_codeunits."""
    return pc.binary_slice(arr.cast(pa.binary()), k, 1 << 30).cast(pa.string())


def _nf_groups(post: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_nf_groups_rx, lines in the usual form read as tokens."""
    n = len(post)
    at = pc.find_substring_regex(post, f"PROTO={_NS}")
    cut = _cut(post, pc.max_element_wise(at, 0))
    ar = _arange(n)
    head = cut.take(pc.multiply(ar, 2))
    tail = cut.take(pc.add(pc.multiply(ar, 2), 1))
    h = pc.split_pattern(head, " ", max_splits=5)
    t = pc.split_pattern(tail, " ", max_splits=3)
    hk = _items(h, range(6), 6)
    tk = _items(t, range(3), 3)
    g = {
        "mac": _drop(hk[2], 4),
        "src": _drop(hk[3], 4),
        "dst": _drop(hk[4], 4),
        "proto": _drop(tk[0], 6),
        "spt": _drop(tk[1], 4),
        "dpt": _drop(tk[2], 4),
    }
    plain = _and(
        pc.greater_equal(at, 0),
        pc.ascii_is_printable(head),  # no whitespace but spaces (ASCII rows)
        pc.ascii_is_printable(tk[0]),
        *(pc.starts_with(hk[i], key) for i, key in ((1, "OUT="), (2, "MAC="), (3, "SRC="), (4, "DST="))),
        pc.greater(pc.binary_length(g["src"]), 0),
        pc.greater(pc.binary_length(g["dst"]), 0),
        pc.starts_with(tk[1], "SPT="),
        pc.starts_with(tk[2], "DPT="),
        pc.ascii_is_decimal(g["spt"]),
        pc.ascii_is_decimal(g["dpt"]),
    )
    plain = pc.and_(plain, pc.invert(_on(head, plain, r"\[", dense=0.5)))
    k = pc.sum(plain).as_py() or 0
    if k == 0:
        return _nf_groups_rx(post, at)
    head_len = pc.subtract(pc.binary_length(head), pc.binary_length(hk[5]))
    ok = _and(plain, pc.less_equal(pc.subtract(at, head_len), 256))
    if k == n:
        return g, ok
    other = pc.invert(plain)
    go, oko = _nf_groups_rx(post.filter(other), at.filter(other))
    return {key: pc.replace_with_mask(g[key], other, go[key]) for key in _NF_GROUPS}, pc.replace_with_mask(
        ok, other, oko
    )


def _netfilter(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_netfilter on a column, for rows whose first "IN=" (after a non-word character) starts the match."""
    halves = pc.split_pattern(sub, "IN=", max_splits=1)
    pre, post = _items(halves, (0, 1), 2, "")
    g, ok = _nf_groups(post)
    last = _slice(pre, -1)  # [A-Za-z0-9_]$ without RE2
    ok = _and(ok, pc.invert(_or(pc.ascii_is_alnum(last), pc.equal(last, "_"))))
    proto, bad_p = _per_unique(g["proto"], cl._proto, pa.string())
    ports = _t(pc.is_in(proto, value_set=pa.array(sorted(cl._PORT_PROTOS))))
    (src, bad_s), (dst, bad_d) = _ips_n(g["src"], g["dst"])
    spt, bad_sp = _ports(g["spt"])
    dpt, bad_dp = _ports(g["dpt"])
    raw_mac = g["mac"]
    mac_part = pc.if_else(
        _t(pc.equal(pc.binary_length(raw_mac), 41)),  # ASCII rows: bytes are characters
        pc.binary_slice(raw_mac.cast(pa.binary()), 18, 35).cast(pa.string()),
        pa.scalar(None, pa.string()),
    )
    mac, bad_m = _per_unique(mac_part, cl._mac, pa.string())
    # _log_prefix: after the last "kernel: " (kernel clock removed), else the generic header stripping.
    cut = pc.split_pattern(pre, "kernel: ", max_splits=1, reverse=True)
    tail = _item(cut, 1, 2)
    tail = _strip_kernel_ts(tail)
    act_k, bad_ak = _per_unique(tail, lambda v: cl._prefix_action(v) if v is not None else None, pa.string())
    other = pc.if_else(pc.is_valid(tail), pa.scalar(None, pa.string()), pre)
    act_o, bad_ao = _per_unique(
        other, lambda v: cl._prefix_action(cl._log_prefix(v)) if v is not None else None, pa.string()
    )
    action = pc.if_else(pc.is_valid(tail), act_k, act_o)
    bad = _or(bad_p, bad_s, bad_d, _and(ports, _or(bad_sp, bad_dp)), bad_m, bad_ak, bad_ao)
    none_i = pa.scalar(None, pa.int32())
    cols = {
        "conn_format": pa.repeat(pa.scalar("netfilter"), len(sub)),
        "src_ip": src,
        "src_port": pc.if_else(ports, spt, none_i),
        "dst_ip": dst,
        "dst_port": pc.if_else(ports, dpt, none_i),
        "protocol": proto,
        "mac": mac,
        "action": action,
    }
    return cols, _and(ok, pc.invert(bad))


# --------------------------------------------------------------------------- connection: pfSense filterlog


_FILTERLOG = rf"(?:^|[{_WS}:])(?P<f>[0-9]*,[0-9]*,[^,{_WS}]*,[^,{_WS}]*,[^,{_WS}]+,[a-z-]+,[a-z-]+,(?:in|out),[46],{_NS}+)"


_FILTERLOG_AT = _FILTERLOG.replace("(?P<f>", "(?:")
_FILTERLOG_TOKEN = "^" + _FILTERLOG.split("(?P<f>", 1)[1][:-1] + "$"


def _filterlog_blob(sub: pa.StringArray) -> pa.Array:
    r"""_FILTERLOG's group, without its capture regex (~1.3 µs a line) on lines whose last space-separated
    token is the whole group: the group is a run without whitespace ([^,\s], [a-z-], \S+), so no match
    starts before that token when the text before it holds none (a DFA match on a short head), and the
    group is that token when it matches _FILTERLOG_TOKEN (no other whitespace in it). Others: the regex."""
    halves = pc.split_pattern(sub, " ", max_splits=1, reverse=True)
    head, last = _items(halves, (0, 1), 2)
    usual = _and(
        pc.ascii_is_printable(last), _has(last, _FILTERLOG_TOKEN), pc.invert(_has(head, _FILTERLOG_AT))
    )
    blob = pc.if_else(usual, last, pa.scalar(None, pa.string()))
    other = pc.invert(usual)
    if pc.any(other).as_py():
        rx = _f(pc.extract_regex(sub.filter(other), _FILTERLOG), "f")
        blob = pc.replace_with_mask(blob, other, rx)
    return blob


def _pfsense(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_pfsense on a column: the CSV split once, fields taken by position per IP version."""
    n = len(sub)
    blob = _filterlog_blob(sub)
    parts = pc.split_pattern(pc.fill_null(blob, ""), ",")
    length = pc.list_value_length(parts)
    starts = pc.cast(parts.offsets.slice(0, n), pa.int64())
    values = parts.values
    none_s = pa.scalar(None, pa.string())

    def el(i: int) -> pa.Array:
        """Field i of each row's CSV, null where the row has fewer fields."""
        pos = pc.if_else(pc.greater(length, i), pc.add(starts, i), pa.scalar(None, pa.int64()))
        return values.take(pos)

    found = pc.is_valid(blob)
    is4 = pc.equal(el(8), "4")
    v4 = _and(found, is4, pc.greater_equal(length, 20))
    v6 = _and(found, pc.invert(_t(is4)), pc.greater_equal(length, 17))
    ok = _or(v4, v6)

    ok_starts = pc.if_else(ok, starts, pa.scalar(None, pa.int64()))
    v4i = pc.cast(v4, pa.int64())

    def at(i4: int, i6: int) -> pa.Array:
        """Field i4 of IPv4 rows, i6 of IPv6 rows, null elsewhere or past the row's last field."""
        off = pc.add(pc.multiply(v4i, i4 - i6), i6) if i4 != i6 else pa.scalar(i4, pa.int64())
        pos = pc.if_else(pc.greater(length, off), pc.add(ok_starts, off), pa.scalar(None, pa.int64()))
        return values.take(pos)

    proto_raw = at(16, 12)
    proto_raw = pc.if_else(_t(pc.equal(proto_raw, "")), at(15, 13), proto_raw)
    proto, bad_p = _per_unique(proto_raw, cl._proto, pa.string())
    rest = pc.if_else(v4, pa.scalar(20, pa.int32()), pa.scalar(17, pa.int32()))
    ports = _and(
        pc.is_in(proto, value_set=pa.array(sorted(cl._PORT_PROTOS))), pc.greater(length, pc.add(rest, 1))
    )
    (src, bad_s), (dst, bad_d) = _ips_n(at(18, 15), at(19, 16))
    sport, bad_sp = _ports(pc.if_else(ports, at(20, 17), none_s))
    dport, bad_dp = _ports(pc.if_else(ports, at(21, 18), none_s))
    action, bad_a = _per_unique(
        at(6, 6), lambda v: cl._action_word(v, cl._PF_ACTIONS) if v is not None else None, pa.string()
    )
    bad = _or(bad_p, bad_s, bad_d, bad_sp, bad_dp, bad_a)
    cols = {
        "conn_format": pa.repeat(pa.scalar("pfsense"), n),
        "src_ip": src,
        "src_port": sport,
        "dst_ip": dst,
        "dst_port": dport,
        "protocol": proto,
        "action": action,
    }
    return cols, _and(ok, pc.invert(bad))


# --------------------------------------------------------------------------- connection: Cisco ASA




def _asa_ep(n: str, mapped: bool = True) -> str:
    ep = rf"[^{_WS}:]+:(?P<{n}ip>{_ADDR})/(?P<{n}port>[0-9]+)"  # the interface name is not kept
    if mapped:
        ep += rf" \((?P<{n}mip>{_ADDR})/(?P<{n}mport>[0-9]+)\)"
    return ep + rf"(?:{_SP}?\((?P<{n}user>[^()]*)\))?"


_ASA_BUILT = (
    r"^Built (?P<dir>inbound|outbound) (?:Probe )?(?P<proto>TCP|UDP|SCTP) connection (?P<id>[0-9]+) "
    rf"for {_asa_ep('a')} to {_asa_ep('b')}(?:{_SP}+\((?P<user>[^()]*)\))?"
)
_ASA_TEARDOWN = (
    r"^Teardown (?P<proto>TCP|UDP|SCTP) connection (?P<id>[0-9]+) "
    rf"for {_asa_ep('a', False)} to {_asa_ep('b', False)} "
    r"duration [0-9:]+ bytes (?P<bytes>[0-9]+)(?P<rest>.*)"
)
_ASA_TRAILING = rf"\((?P<u>[^()]*)\){_SP}*$"
_ASA_XLATE = (
    r"^(?P<ev>Built|Teardown) (?:dynamic|static) (?:(?P<proto>TCP|UDP|ICMP|SCTP) )?translation from "
    rf"[^{_WS}:(]+(?:\([^)]*\))?{_SP}?:(?P<aip>{_ADDR})(?:/(?P<aport>[0-9]+))?"
    rf"(?:{_SP}?\((?P<auser>[^()]*)\))? "
    rf"to [^{_WS}:(]+{_SP}?:(?P<bip>{_ADDR})(?:/(?P<bport>[0-9]+))?"
)
_ASA_IDS = ("302013", "302014", "302015", "302016", "305009", "305010", "305011", "305012")


def _pick(cond: pa.Array, a: pa.Array, b: pa.Array) -> pa.Array:
    return pc.if_else(_t(cond), a, b)


def _asa_built_rx(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(tail, _ASA_BUILT_TAIL)
    cols, ok = _asa_built_cols(partial(_f, m), len(tail))
    return cols, _and(pc.is_valid(m), ok)


def _asa_built_plain(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_ASA_BUILT on lines in _ASA_BUILT_PLAIN's form: its fields are space-separated tokens at fixed places."""
    n = len(tail)
    direction, proto, sid, a, am, b, bm = _tokens_at(tail, (2, 3, 5, 7, 8, 10, 11))
    groups = {"dir": direction, "proto": proto, "id": sid}
    for name, ep, mapped in (("a", a, am), ("b", b, bm)):
        groups[name + "ip"], groups[name + "port"] = _endpoint(ep)
        groups[name + "mip"], groups[name + "mport"] = _split2(_slice(mapped, 1, -1), "/")
    none = pa.nulls(n, pa.string())  # no user bracket in this form
    return _asa_built_cols(lambda k: groups.get(k, none), n)


def _asa_built(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    return _plain_or_rx(tail, _ASA_BUILT_PLAIN, _asa_built_plain, _asa_built_rx)


def _asa_built_cols(f: Callable[[str], pa.Array], n: int) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_cisco_asa's columns from the groups of _ASA_BUILT (f: group name -> column)."""
    inbound = pc.equal(f("dir"), "inbound")  # s, d = a, b when inbound else b, a
    s_ip, d_ip = _pick(inbound, f("aip"), f("bip")), _pick(inbound, f("bip"), f("aip"))
    s_port, d_port = _pick(inbound, f("aport"), f("bport")), _pick(inbound, f("bport"), f("aport"))
    s_mip, s_mport = _pick(inbound, f("amip"), f("bmip")), _pick(inbound, f("amport"), f("bmport"))
    s_user = _pick(inbound, f("auser"), f("buser"))
    b_user = _pick(inbound, f("buser"), pa.nulls(n, pa.string()))
    (src, bad1), (mip, bad3), (dst, bad5) = _ips_n(s_ip, s_mip, d_ip)
    sport, bad2 = _ports(s_port)
    mport, bad4 = _ports(s_mport)
    dport, bad6 = _ports(d_port)
    same = _and(pc.equal(mip, src), _or(pc.equal(mport, sport), _and(pc.is_null(mport), pc.is_null(sport))))
    no_nat = _or(pc.is_null(mip), same)
    cols = {
        "conn_format": pa.repeat(pa.scalar("cisco_asa"), n),
        "src_ip": src,
        "src_port": sport,
        "dst_ip": dst,
        "dst_port": dport,
        "protocol": pc.utf8_lower(f("proto")),
        "nat_ip": pc.if_else(no_nat, pa.scalar(None, pa.string()), mip),
        "nat_port": pc.if_else(no_nat, pa.scalar(None, pa.int32()), mport),
        "user": _asa_users(f("user"), s_user, b_user),
        "action": pa.repeat(pa.scalar("build"), n),
        "session_id": f("id"),
    }
    return cols, pc.invert(_or(bad1, bad2, bad3, bad4, bad5, bad6))


def _asa_teardown_rx(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(tail, _ASA_TEARDOWN_TAIL)
    f = partial(_f, m)
    trailing = _f(pc.extract_regex(f("rest"), _ASA_TRAILING), "u")
    cols, ok = _asa_teardown_cols(f, trailing, len(tail))
    return cols, _and(pc.is_valid(m), ok)


def _asa_teardown_plain(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_ASA_TEARDOWN on lines in _ASA_TEARDOWN_PLAIN's form (space-separated fields, no user anywhere)."""
    n = len(tail)
    proto, sid, a, b, nbytes = _tokens_at(tail, (2, 4, 6, 8, 12))
    groups = {"proto": proto, "id": sid, "bytes": nbytes}
    groups["aip"], groups["aport"] = _endpoint(a)
    groups["bip"], groups["bport"] = _endpoint(b)
    none = pa.nulls(n, pa.string())
    return _asa_teardown_cols(lambda k: groups.get(k, none), none, n)


def _asa_teardown(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    return _plain_or_rx(tail, _ASA_TEARDOWN_PLAIN, _asa_teardown_plain, _asa_teardown_rx)


def _tokens_at(arr: pa.StringArray, places: tuple[int, ...]) -> list[pa.Array]:
    """The space-separated tokens at these places (every row has them: its form was checked)."""
    toks = pc.split_pattern(arr, " ", max_splits=max(places) + 1)  # the rest of the line left whole
    flat, starts = toks.flatten(), _starts(toks)
    return [flat.take(pc.add(starts, i)) for i in places]


def _split2(arr: pa.Array, sep: str) -> tuple[pa.Array, pa.Array]:
    """(before, after) the first sep of each value (present in each: the form was checked)."""
    parts = pc.split_pattern(arr, sep, max_splits=1)
    before, after = _items(parts, (0, 1), 2)
    return before, after


def _endpoint(tok: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(ip, port) of "iface:ip/port": the interface holds no ":", the address no "/"."""
    addr, port = _split2(tok, "/")
    return _split2(addr, ":")[1], port


def _plain_or_rx(
    tail: pa.StringArray,
    plain_regex: str,
    plain: Callable[[pa.StringArray], tuple[dict[str, pa.Array], pa.BooleanArray]],
    rx: Callable[[pa.StringArray], tuple[dict[str, pa.Array], pa.BooleanArray]],
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """Rows in the plain form (a DFA match) by `plain`, the others by the capture regex, back in order."""
    mask = _has(tail, plain_regex)
    k = pc.sum(mask).as_py() or 0
    if k == 0:
        return rx(tail)
    if k == len(tail):
        return plain(tail)
    return _merge(mask, plain(tail.filter(mask)), rx(tail.filter(pc.invert(mask))))


def _merge(
    mask: pa.BooleanArray,
    first: tuple[dict[str, pa.Array], pa.BooleanArray],
    second: tuple[dict[str, pa.Array], pa.BooleanArray],
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """Columns and ok of the rows where mask holds (first) and of the others (second), back in row order."""
    (c1, ok1), (c2, ok2) = first, second
    order = pc.array_sort_indices(pa.concat_arrays([_where(mask), _where(pc.invert(mask))]))
    cols = {}
    for name in set(c1) | set(c2):
        typ = _CONN_TYPES[name]
        a = _as(c1.get(name, _null(len(ok1), name)), typ)
        b = _as(c2.get(name, _null(len(ok2), name)), typ)
        cols[name] = pa.concat_arrays([a, b]).take(order)
    return cols, pa.concat_arrays([ok1, ok2]).take(order)


def _asa_teardown_cols(
    f: Callable[[str], pa.Array], trailing: pa.Array, n: int
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_cisco_asa's columns from the groups of _ASA_TEARDOWN and the trailing user."""
    a_port, bad1 = _ports(f("aport"))
    b_port, bad2 = _ports(f("bport"))
    inbound = _and(pc.less(b_port, 1024), pc.greater_equal(a_port, 1024))
    (src, bad3), (dst, bad4) = _ips_n(_pick(inbound, f("aip"), f("bip")), _pick(inbound, f("bip"), f("aip")))
    nbytes, bad5 = _counts(f("bytes"))
    cols = {
        "conn_format": pa.repeat(pa.scalar("cisco_asa"), n),
        "src_ip": src,
        "src_port": _pick(inbound, a_port, b_port),
        "dst_ip": dst,
        "dst_port": _pick(inbound, b_port, a_port),
        "protocol": pc.utf8_lower(f("proto")),
        "user": _asa_users(trailing, _pick(inbound, f("auser"), f("buser"))),
        "action": pa.repeat(pa.scalar("teardown"), n),
        "bytes": nbytes,
        "session_id": f("id"),
    }
    return cols, pc.invert(_or(bad1, bad2, bad3, bad4, bad5))


def _asa_xlate(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(tail, _ASA_XLATE_TAIL)
    ok = pc.is_valid(m)
    f = partial(_f, m)
    proto, bad0 = _per_unique(f("proto"), lambda v: cl._proto(v) if v else None, pa.string())
    ports = _t(pc.is_in(proto, value_set=pa.array(sorted(cl._PORT_PROTOS))))
    src, bad1 = _ips(f("aip"))
    sport, bad2 = _ports(f("aport"))
    nat, bad3 = _ips(f("bip"))
    nport, bad4 = _ports(f("bport"))
    none_i = pa.scalar(None, pa.int32())
    cols = {
        "conn_format": pa.repeat(pa.scalar("cisco_asa"), len(tail)),
        "src_ip": src,
        "src_port": pc.if_else(ports, sport, none_i),
        "protocol": proto,
        "nat_ip": nat,
        "nat_port": pc.if_else(ports, nport, none_i),
        "user": _asa_users(f("auser")),
        "action": pc.if_else(pc.equal(f("ev"), "Built"), pa.scalar("build"), pa.scalar("teardown")),
    }
    bad = _or(bad0, bad1, bad3, _and(ports, _or(bad2, bad4)))
    return cols, _and(ok, pc.invert(bad))


# The message after the line's first "%" ("tail", split off without a regex: several times cheaper than
# any RE2 search for the head), its id read from its first characters, then each message regex run on the
# tail with the head in front (connlog runs them on the text after the head: a head regex ending in
# ":?\s*" followed by a body regex that starts with a letter matches the same way). A line whose first
# "%" does not start a head gets no id here and takes the per-row code (_ASA_ID.search finds a later one).
_ASA_T = r"^(?:ASA|FTD|PIX|FWSM)-(?:[A-Za-z]+-)?[0-9]-"
_ASA_TAIL_ID = rf"{_ASA_T}(?P<id>[0-9]{{6}})"
_ASA_ID_SPAN = 40  # the id is read in the tail's first characters (a longer head: the per-row code)


def _on_tail(body_regex: str) -> str:
    """An anchored body regex with the message head in front, for the tail."""
    assert body_regex.startswith(("^Built ", "^Teardown ", "^(?P<ev>Built|Teardown) "))
    return rf"{_ASA_T}[0-9]{{6}}:?{_SP}*" + body_regex[1:]


_ASA_BUILT_TAIL, _ASA_TEARDOWN_TAIL, _ASA_XLATE_TAIL = map(_on_tail, (_ASA_BUILT, _ASA_TEARDOWN, _ASA_XLATE))
# The usual forms, checked by a DFA match (cheap whatever the regex): single spaces, interfaces without
# "/" or brackets, no "Probe", no user bracket anywhere (none after the last endpoint either, nor a "(" in
# a teardown's rest), the head a single token. Their fields are then tokens at fixed places: no capture
# regex (RE2 runs the full ones with BitState, ~2.5 µs a line).
_ASA_IF = rf"[^{_WS}:/()]+:{_ADDR}/[0-9]+"
_ASA_BUILT_PLAIN = (
    rf"{_ASA_T}30201[35]: Built (?:inbound|outbound) (?:TCP|UDP|SCTP) connection [0-9]+ for {_ASA_IF} "
    rf"\({_ADDR}/[0-9]+\) to {_ASA_IF} \({_ADDR}/[0-9]+\){_SP}*(?:$|[^{_WS}(])"
)
_ASA_TEARDOWN_PLAIN = (
    rf"{_ASA_T}30201[46]: Teardown (?:TCP|UDP|SCTP) connection [0-9]+ for {_ASA_IF} to {_ASA_IF} "
    r"duration [0-9:]+ bytes [0-9]+(?: [^(\n]*)?$"
)


_ASA_HEADS = pa.array([f"{t}-{d}-" for t in ("ASA", "FTD", "PIX") for d in range(10)], pa.string())


def _asa_msg_id(tail: pa.StringArray) -> pa.Array:
    """_ASA_TAIL_ID's id: tails that start "ASA-6-" and six digits read by slicing, the others by the regex."""
    num = _slice(tail, 6, 12)
    usual = _and(
        pc.is_in(_slice(tail, 0, 6), value_set=_ASA_HEADS),
        pc.ascii_is_decimal(num),
        pc.equal(pc.binary_length(num), 6),
    )
    msg_id = pc.if_else(usual, num, pa.scalar(None, pa.string()))
    other = pc.invert(usual)
    if pc.any(other).as_py():
        rx = _f(pc.extract_regex(_slice(tail.filter(other), 0, _ASA_ID_SPAN), _ASA_TAIL_ID), "id")
        msg_id = pc.replace_with_mask(msg_id, other, rx)
    return msg_id


def _asa(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_cisco_asa for connection (302013-302016) and translation (305009-305012) messages."""
    n = len(sub)
    tail = _item(pc.split_pattern(sub, "%", max_splits=1), 1, 2, "")
    msg_id = _asa_msg_id(tail)
    cols: dict[str, list[tuple[pa.Array, pa.Array]]] = {}
    idx_all: list[pa.Array] = []
    ok_all: list[pa.Array] = []
    groups = (
        (("302013", "302015"), _asa_built),
        (("302014", "302016"), _asa_teardown),
        (("305009", "305010", "305011", "305012"), _asa_xlate),
    )
    for ids, fn in groups:
        idx = _where(_t(pc.is_in(msg_id, value_set=pa.array(ids))))
        if len(idx) == 0:
            continue
        c, ok = fn(tail.take(idx))
        idx_all.append(idx)
        ok_all.append(ok)
        for name in CONN_COLUMNS:
            cols.setdefault(name, []).append((idx, c.get(name, _null(len(idx), name))))
    rest = _where(pc.invert(_t(pc.is_in(msg_id, value_set=pa.array(_ASA_IDS)))))
    idx_all.append(rest)
    ok_all.append(pa.array([False] * len(rest), pa.bool_()))
    order = pc.array_sort_indices(pa.chunked_array(idx_all, pa.uint64()).combine_chunks())
    out: dict[str, pa.Array] = {}
    for name in CONN_COLUMNS:
        vals = [v for _, v in cols.get(name, [])] + [_null(len(rest), name)]
        out[name] = pa.concat_arrays([_as(v, _CONN_TYPES[name]) for v in vals]).take(order)
    ok_cat = pa.concat_arrays(ok_all).take(order)
    assert len(ok_cat) == n
    return out, ok_cat


# --------------------------------------------------------------------------- connection: FortiGate key=value


_FORTI_KEYS = sorted(cl._FORTI_KEYS)
# connlog._kv reads a key at the start of a whitespace-separated token outside quotes (the line start, after
# whitespace, or right after a closing quote); its value is the rest of the token up to a quote, or the
# quoted part right after "key=". Lines with an odd number of quotes, an escaped quote (both: _kv's full
# scan) or an "=" inside a quoted part (where a key could hide) are left to the per-row code.
_FORTI_QUOTES_BAD = r'^[^"]*(?:"[^"]*"[^"]*)*"[^"]*(?:=|$)|\\"'
# Keys that FortiOS also writes as the end of a longer key (subtype, utmaction, mastersrcmac, unauthuser,
# shaperdropsentbyte...) are searched as " key=": when no wanted key starts a token other than after a
# space, the first " key=" of the line is the one _kv reads. The others are searched as "key=" (RE2 skips to
# their first letter, faster), which is exact when no "key=" of theirs follows anything but a space.
# Lines where either fails take a search for any token start (slower, rare).
_FORTI_SUFFIXED = ("action", "rcvdbyte", "sentbyte", "srcmac", "type", "user")
_FORTI_BARE = tuple(k for k in _FORTI_KEYS if k not in _FORTI_SUFFIXED)
_FORTI_ELSEWHERE = (
    rf'(?:^|[\t-\r\x1c-\x1f"])(?:{"|".join(_FORTI_SUFFIXED)})=|(?:^|[^ ])(?:{"|".join(_FORTI_BARE)})='
)
_FORTI_VALUE = rf'=(?P<v>"[^"]*"|[^"{_WS}]*)'


def _forti_fields_rx(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """connlog._kv on a column: each wanted key's first value outside quotes, one RE2 search per key."""
    n = len(sub)
    odd = _has(sub, _FORTI_QUOTES_BAD + "|" + _FORTI_ELSEWHERE)  # one pass; the rare rows flagged are sorted below
    other = odd
    ok = pa.repeat(pa.scalar(True), n)
    if pc.any(odd).as_py():
        ok = pc.invert(_on(sub, odd, _FORTI_QUOTES_BAD))
        other = _and(odd, ok)
    oidx = _where(other)
    osub = sub.take(oidx) if len(oidx) else None
    out: dict[str, pa.Array] = {}
    for key in _FORTI_KEYS:
        lead = " " if key in _FORTI_SUFFIXED else ""
        v = _f(pc.extract_regex(sub, f"{lead}{key}{_FORTI_VALUE}"), "v")
        if osub is not None:
            vo = _f(pc.extract_regex(osub, rf'(?:^|[{_WS}"]){key}{_FORTI_VALUE}'), "v")
            v = pc.replace_with_mask(v, other, vo)
        ok = _and(ok, pc.invert(_t(pc.equal(v, ""))))  # "key=" with nothing after it: _kv's endswith rule
        quoted = _t(pc.starts_with(v, '"'))
        out[key] = pc.if_else(quoted, _slice(v, 1, -1), v)
    return out, ok


# A plain line: no whitespace but spaces, and quotes only as key="value" whose value holds no whitespace,
# "=", quote or backslash, closed before a space or the line end. Split on spaces, each token of such a
# line is what connlog._kv reads: key=value, or key= followed by its quoted part (no key hides in a quote).
_FORTI_PLAIN = r'^(?:[^"=\t-\r\x1c-\x1f]|=(?:"[^"=\\\t-\r\x1c-\x1f ]*"(?: |$))?)*$'
_FORTI_KEYS_EQ = pa.array([k + "=" for k in _FORTI_KEYS], pa.string())
_ARANGE: list[pa.Array] = [pa.array(range(1 << 16), pa.int64())]


def _arange(n: int) -> pa.Array:
    """0..n-1 (int64), sliced from a cached array: building one per call would cost more than its use."""
    while len(_ARANGE[0]) < n:
        _ARANGE[0] = pa.array(range(2 * len(_ARANGE[0])), pa.int64())
    return _ARANGE[0].slice(0, n)


_INTERLEAVE: list[tuple[pa.Array, pa.Array]] = []


def _interleave(m: int) -> tuple[pa.Array, pa.Array]:
    """(i // 2, i % 2) for i in 0..m-1 (int32), sliced from cached arrays."""
    if not _INTERLEAVE or len(_INTERLEAVE[0][0]) < m:
        size = max(m, 1 << 17)
        ar = _arange(size)
        half, odd = pc.shift_right(ar, 1), pc.bit_wise_and(ar, 1)
        _INTERLEAVE[:] = [(pc.cast(half, pa.int32()), pc.cast(odd, pa.int32()))]
    half, odd = _INTERLEAVE[0]
    return half.slice(0, m), odd.slice(0, m)


def _cut(arr: pa.StringArray, pos: pa.Array) -> pa.StringArray:
    """Each string cut at pos (int32, 0 <= pos <= length): 2n strings, head i at 2i and tail i at 2i+1.

    No copy of the text: only the offsets are rebuilt (Arrow has no per-row slice kernel).
    """
    n = len(arr)
    offs = pa.Array.from_buffers(pa.int32(), n + 1, [None, arr.buffers()[1]], offset=arr.offset)
    starts = offs.slice(0, n)
    half, odd = _interleave(2 * n)
    idx = pc.add(half, pc.multiply(odd, n))  # 0, n, 1, n + 1, ...
    both = pa.concat_arrays([starts, pc.add(starts, pc.cast(pos, pa.int32()))]).take(idx)
    inter = pa.concat_arrays([both, offs.slice(n, 1)])
    return pa.Array.from_buffers(pa.string(), 2 * n, [None, inter.buffers()[1], arr.buffers()[2]])


def _forti_fields_plain(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray, pa.BooleanArray]:
    """connlog._kv on plain lines (_FORTI_PLAIN): split on spaces once, keys looked up in a hash set.

    Several times cheaper than one RE2 search per key over the whole line. Returns the values, the
    mask of rows decided, and the rows where a wanted key comes twice (left to _forti_fields_rx).
    """
    n = len(sub)
    toks = pc.split_pattern(sub, " ")
    flat = toks.flatten()
    eq = pc.find_substring(flat, "=")  # -1 without "=": an empty head, never a key
    halves = _cut(flat, pc.add(eq, 1))  # "key=" and its value
    kid = pc.index_in(halves, value_set=_FORTI_KEYS_EQ)
    pos = _where(pc.is_valid(kid))
    pos = pos.filter(pc.equal(pc.bit_wise_and(pos, 1), 0))  # heads only (a value may read "srcip=")
    rows = pc.list_parent_indices(toks).take(pc.shift_right(pos, 1))
    code = pc.add(pc.multiply(pc.cast(kid.take(pos), pa.int64()), n), rows)  # key-major (key, row) slots
    raw = halves.take(pc.add(pos, 1))
    val = pc.ascii_trim(raw, '"')  # a plain line's value is "..." or has no quote at all
    m = len(code)
    slot = pc.scatter(_arange(m), code, max_index=len(_FORTI_KEYS) * n - 1)  # the token in each slot
    twice = pc.not_equal(slot.take(code), _arange(m))  # a slot written twice: first occurrence unknown
    redo = pa.repeat(pa.scalar(False), n)
    if pc.any(twice).as_py():
        redo = pc.is_in(_arange(n), value_set=rows.filter(twice))
    vals = val.take(slot)
    empty = _t(pc.equal(raw, "")).take(slot)  # "key=" with nothing after it: _kv's endswith rule
    out: dict[str, pa.Array] = {}
    bad = redo
    for j, name in enumerate(_FORTI_KEYS):
        out[name] = vals.slice(j * n, n)
        bad = pc.or_(bad, _t(empty.slice(j * n, n)))
    return out, pc.invert(bad), redo


def _forti_fields(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """connlog._kv on a column: plain lines split into tokens, the others searched key by key."""
    plain = _has(sub, _FORTI_PLAIN)
    if not pc.any(plain).as_py():
        return _forti_fields_rx(sub)
    pidx = _where(plain)
    fp, okp, redo = _forti_fields_plain(sub if len(pidx) == len(sub) else sub.take(pidx))
    if len(pidx) == len(sub) and not pc.any(redo).as_py():
        return fp, okp
    keep = pc.invert(redo)
    pidx, okp = pidx.filter(keep), okp.filter(keep)
    oidx = _where(pc.invert(_spread(plain, keep)))
    fo, oko = _forti_fields_rx(sub.take(oidx))
    order = pc.array_sort_indices(pa.concat_arrays([pidx, oidx]))
    out = {k: pa.concat_arrays([fp[k].filter(keep), fo[k]]).take(order) for k in fp}
    return out, pa.concat_arrays([okp, oko]).take(order)


def _fortigate(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_fortigate on a column."""
    n = len(sub)
    f, ok = _forti_fields(sub)
    ok = _and(ok, pc.equal(f["type"], "traffic"), pc.is_valid(f["srcip"]))
    proto, bad_p = _per_unique(f["proto"], cl._proto, pa.string())
    ports = _t(pc.is_in(proto, value_set=pa.array(sorted(cl._PORT_PROTOS))))
    none_i = pa.scalar(None, pa.int32())
    (src, bad1), (dst, bad3) = _ips_n(f["srcip"], f["dstip"])
    sport, bad2 = _ports(f["srcport"])
    dport, bad4 = _ports(f["dstport"])
    nat, bad5 = _ips(f["transip"])
    nport, bad6 = _ports(f["transport"])
    user = pc.coalesce(
        _per_unique(f["user"], cl._user, pa.string())[0],
        _per_unique(f["unauthuser"], cl._user, pa.string())[0],
    )
    mac, bad7 = _per_unique(f["srcmac"], cl._mac, pa.string())
    action, bad8 = _per_unique(f["action"], lambda v: cl._action_word(v, cl._FORTI_ACTIONS), pa.string())
    sent, bad9 = _counts(f["sentbyte"])
    rcvd, bad10 = _counts(f["rcvdbyte"])
    nbytes = pc.if_else(
        _or(pc.is_valid(sent), pc.is_valid(rcvd)),
        pc.add(pc.fill_null(sent, 0), pc.fill_null(rcvd, 0)),
        pa.scalar(None, pa.int64()),
    )
    sid = f["sessionid"]
    sid = pc.if_else(_has(sid, r"^[\x20-\x7e]{1,128}$"), sid, pa.scalar(None, pa.string()))
    bad = _or(bad_p, bad1, bad3, bad5, bad7, bad8, bad9, bad10, _and(ports, _or(bad2, bad4, bad6)))
    cols = {
        "conn_format": pa.repeat(pa.scalar("fortigate"), n),
        "src_ip": src,
        "src_port": pc.if_else(ports, sport, none_i),
        "dst_ip": dst,
        "dst_port": pc.if_else(ports, dport, none_i),
        "protocol": proto,
        "nat_ip": nat,
        "nat_port": pc.if_else(ports, nport, none_i),
        "user": user,
        "mac": mac,
        "action": action,
        "bytes": nbytes,
        "session_id": sid,
    }
    return cols, _and(ok, pc.invert(bad))


# --------------------------------------------------------------------------- connection: DHCP (ISC dhcpd)


# connlog._ISC_DHCP with its bounded repeats unbounded (RE2 runs those slowly): a match whose parts are
# longer than the bounds is left to the per-row code, so every row decided here matched the same way.
_ISC = (
    rf"DHCP(?P<kind>ACK|OFFER|NAK|REQUEST|RELEASE|DECLINE|INFORM) (?:on|for|of|to|from) (?P<ip>{_ADDR})"
    rf"(?: \((?P<paren>[^)]*)\))?(?: (?:to|from) (?P<mac>[0-9a-fA-F:]+)(?: \((?P<tail>[^)]*)\))?)? via {_NS}"
)


def _dhcp(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_dhcp for ISC dhcpd lines without "_" (which extract_dhcp first tries as Kea)."""
    n = len(sub)
    m = pc.extract_regex(sub, _ISC)
    f = partial(_f, m)
    short = _and(
        pc.less_equal(pc.utf8_length(f("paren")), 64),
        pc.less_equal(pc.utf8_length(f("mac")), 64),
        pc.less_equal(pc.utf8_length(f("tail")), 256),
    )
    ok = _and(pc.is_valid(m), pc.invert(_has(sub, "_")), short)
    src, bad = _ips(f("ip"))
    mac = pc.coalesce(
        _per_unique(f("mac"), cl._mac, pa.string())[0], _per_unique(f("paren"), cl._mac, pa.string())[0]
    )
    action = _per_unique(f("kind"), lambda v: cl._DHCP_ACTIONS[v] if v else None, pa.string())[0]
    cols = {
        "conn_format": pa.repeat(pa.scalar("dhcp"), n),
        "src_ip": src,
        "protocol": pa.repeat(pa.scalar("udp"), n),
        "mac": mac,
        "action": action,
    }
    return cols, _and(ok, pc.is_valid(src), pc.invert(bad))


# --------------------------------------------------------------------------- connection: Squid


_SQUID = (
    rf"(?:^|{_SP})[0-9]{{9,10}}\.[0-9]{{3}}{_SP}+-?[0-9]+{_SP}+(?P<client>{_NS}+){_SP}+"
    rf"(?P<code>[A-Z_]+)/(?P<status>[0-9]{{3}}){_SP}+(?P<bytes>[0-9]+){_SP}+(?P<method>[A-Za-z_-]+){_SP}+"
    rf"(?P<url>{_NS}+){_SP}+(?P<user>{_NS}+){_SP}+(?P<hier>[A-Z_]+)/(?P<peer>{_NS}+)"
)


def _ips_soft(arr: pa.Array) -> pa.Array:
    """connlog._ip_soft on a column: canonical IPv4 kept as is, everything else per distinct value."""
    canon = _has(arr, r"^" + cl._CANONICAL_IPV4.pattern.replace(r"\d", "[0-9]").replace(r"\Z", "$"))
    if arr.null_count == 0 and pc.all(canon).as_py():
        return arr
    others = pc.if_else(canon, pa.scalar(None, pa.string()), arr)
    return pc.if_else(canon, arr, _per_unique(others, cl._ip_soft, pa.string())[0])


# Where _SQUID's leftmost match can start (the start of its leftmost match when it matches there: a
# line whose _SQUID match starts later fails _SQUID_PLAIN there and takes the capture regex), found by a
# DFA search several times cheaper than one for the whole of _SQUID; and the form of a line from there on
# whose fields are single-space-separated tokens at fixed places (the peer ending at a space or the end).
_SQUID_AT = rf"(?:^|{_SP})[0-9]{{9,10}}\.[0-9]{{3}}{_SP}"
_SQUID_PLAIN = (
    rf"^ ?[0-9]{{9,10}}\.[0-9]{{3}} -?[0-9]+ {_NS}+ [A-Z_]+/[0-9]{{3}} [0-9]+ [A-Za-z_-]+ {_NS}+ {_NS}+ "
    rf"[A-Z_]+/{_NS}+(?: |$)"
)


def _squid(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_squid on a column: plain lines read as tokens (the capture regex costs ~6 µs a line)."""
    n = len(sub)
    at = pc.find_substring_regex(sub, _SQUID_AT)  # -1: no _SQUID match
    tail = _cut(sub, pc.max_element_wise(at, 0)).take(pc.add(pc.multiply(_arange(n), 2), 1))
    mask = _and(pc.greater_equal(at, 0), _has(tail, _SQUID_PLAIN))
    k = pc.sum(mask).as_py() or 0
    if k == 0:
        return _squid_rx(sub)
    if k == n:
        return _squid_plain(tail)
    return _merge(mask, _squid_plain(tail.filter(mask)), _squid_rx(sub.filter(pc.invert(mask))))


def _squid_plain(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_SQUID's groups on tails in _SQUID_PLAIN's form: tokens (after the leading space, if any)."""
    n = len(tail)
    toks = pc.split_pattern(tail, " ")
    flat = toks.flatten()
    starts = pc.add(_starts(toks), pc.cast(_t(pc.starts_with(tail, " ")), pa.int64()))
    client, cs, nbytes, method, url, user, hp = (flat.take(pc.add(starts, i)) for i in (2, 3, 4, 5, 6, 7, 8))
    code, status = _split2(cs, "/")
    hier, peer = _split2(hp, "/")
    g = {"client": client, "code": code, "status": status, "bytes": nbytes, "method": method, "url": url}
    g.update({"user": user, "hier": hier, "peer": peer})
    return _squid_cols(g.__getitem__, n, pa.repeat(pa.scalar(True), n))


def _squid_rx(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(sub, _SQUID)
    return _squid_cols(partial(_f, m), len(sub), pc.is_valid(m))


_SCHEME_PORT_KEYS = pa.array(list(cl._SCHEME_PORTS), pa.string())
_SCHEME_PORT_VALUES = pa.array(list(cl._SCHEME_PORTS.values()), pa.int32())


def _squid_cols(
    f: Callable[[str], pa.Array], n: int, matched: pa.Array
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_squid's columns from _SQUID's groups (f: group name -> column)."""
    client, bad_c = _ips(f("client"))
    # _url_host_port reads a "scheme://" URL up to the first / or ? (whatever the method), a CONNECT
    # target whole, and nothing else: the key below keeps exactly that, so the calls are per distinct key.
    url = f("url")
    scheme, rest = _split2(url, "://")  # null without "://"
    hostport = _item(pc.split_pattern(_item(pc.split_pattern(rest, "/", max_splits=1), 0, 1), "?", max_splits=1), 0, 1)
    connect = _t(pc.equal(pc.utf8_upper(f("method")), "CONNECT"))
    plain_hp = _and(pc.is_valid(rest), pc.invert(_has(hostport, r"[\[:@]")))
    key = pc.if_else(
        pc.is_valid(rest),
        pc.binary_join_element_wise(scheme, hostport, "://"),
        pc.if_else(connect, url, pa.scalar(None, pa.string())),
    )
    key = pc.if_else(plain_hp, pa.scalar(None, pa.string()), key)
    hp, bad_h = _per_unique(
        key,
        lambda v: dict(zip(("h", "p"), cl._url_host_port(v, "CONNECT"), strict=True)) if v else None,
        pa.struct([("h", pa.string()), ("p", pa.int32())]),
    )
    # A host without "[", ":" or "@" (the bulk, and often one per line) is read here: the host as is, the
    # scheme's port; only the other keys take _url_host_port.
    host = pc.if_else(plain_hp, hostport, pc.struct_field(hp, "h"))
    scheme_port = _SCHEME_PORT_VALUES.take(pc.index_in(pc.utf8_lower(scheme), value_set=_SCHEME_PORT_KEYS))
    port = pc.if_else(plain_hp, scheme_port, pc.struct_field(hp, "p"))
    bad_p = bad_h
    direct = _t(pc.is_in(f("hier"), value_set=pa.array(sorted(cl._SQUID_DIRECT))))
    dst = pc.coalesce(pc.if_else(direct, _ips_soft(f("peer")), pa.scalar(None, pa.string())), _ips_soft(host))
    code = f("code")
    quiet = _and(
        _or(pc.starts_with(code, "NONE"), pc.starts_with(code, "TAG_NONE")),
        pc.is_in(f("status"), value_set=pa.array(["000", "400", "403", "407", "503"])),
    )
    action = pc.if_else(
        _t(pc.match_substring(code, "DENIED")),
        pa.scalar("deny"),
        pc.if_else(quiet, pa.scalar(None, pa.string()), pa.scalar("allow")),
    )
    nbytes, bad_b = _counts(f("bytes"))
    cols = {
        "conn_format": pa.repeat(pa.scalar("squid"), n),
        "src_ip": client,
        "dst_ip": dst,
        "dst_port": port,
        "protocol": pc.if_else(_t(pc.starts_with(code, "UDP_")), pa.scalar("udp"), pa.scalar("tcp")),
        "user": _per_unique(f("user"), cl._user, pa.string())[0],
        "action": action,
        "bytes": nbytes,
    }
    ok = _and(matched, pc.is_valid(client), pc.invert(_or(bad_c, bad_h, bad_p, bad_b)))
    return cols, ok


# --------------------------------------------------------------------------- connection: RADIUS (FreeRADIUS auth)


# connlog._FR_AUTH with its bounded repeats unbounded (RE2 runs those slowly): a match whose parts are longer
# than the bounds is left to the per-row code, so every row decided here matched the same way.
_FR_AUTH = (
    r"(?P<res>Login OK|Login incorrect|Invalid user)(?: \((?P<paren>[^\[\]]*?)\))?: \[(?P<user>[^\]]*)\]"
    rf"(?: \(from client (?P<client>{_NS}+) port (?P<port>{_NS}+)(?: cli (?P<cli>[^{_WS})]+))?)?"
)


def _radius(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_radius for FreeRADIUS "Login OK/incorrect" lines; accounting attributes take the per-row code."""
    n = len(sub)
    m = pc.extract_regex(sub, _FR_AUTH)
    f = partial(_f, m)
    ok = _and(
        pc.is_valid(m),
        pc.less_equal(pc.utf8_length(f("paren")), 300),
        pc.less_equal(pc.utf8_length(f("user")), 256),
    )
    cli = f("cli")
    cli = pc.if_else(_t(pc.equal(cli, "")), pa.scalar(None, pa.string()), cli)  # unmatched group reads ""
    cols = {
        "conn_format": pa.repeat(pa.scalar("radius"), n),
        "src_ip": _per_unique(cli, cl._ip_soft, pa.string())[0],
        "user": _per_unique(f("user"), lambda v: cl._radius_user(v) if v is not None else None, pa.string())[0],
        "mac": _per_unique(cli, cl._mac, pa.string())[0],
        "action": pc.if_else(_t(pc.equal(f("res"), "Login OK")), pa.scalar("login"), pa.scalar("login_failed")),
    }
    return cols, ok


# --------------------------------------------------------------------------- connection dispatch


# Necessary conditions of the guards that come after pfsense in connlog.EXTRACTORS (a superset, so a row
# that matches none of these and none of the five first guards is certainly not a connection log).
_REST_GUARDS = r"DHCP|Login OK|Login incorrect|Invalid user: \[|Acct-|acct-|Framed-IP|hotspot|Zone: |->|TCP_|NONE|UDP_| port "
_RADIUS_GUARD = r"Login OK|Login incorrect|Invalid user: \[|Acct-|acct-|Framed-IP"  # connlog._guard_radius
# Necessary conditions of the guards between pfsense and squid (stormshield's "logtype=" included): a
# row without any of them, whose squid guard passes, goes to squid first.
_BEFORE_SQUID = r"logtype=|DHCP|Login OK|Login incorrect|Invalid user: \[|Acct-|acct-|Framed-IP|hotspot|Zone: |->"


def _spread(mask: pa.BooleanArray, values: pa.BooleanArray) -> pa.BooleanArray:
    """values (one per true row of mask) put back in place; false where mask is false."""
    return pc.replace_with_mask(mask, mask, _t(values))


def _on(arr: pa.StringArray, mask: pa.BooleanArray, regex: str, dense: float = 0.3) -> pa.BooleanArray:
    """_has(arr, regex) evaluated only where mask holds (false elsewhere): guards cost a pass each.

    Copying rows out costs about 1.5 ns a byte, RE2's DFA 0.6 ns a byte on a literal it can skip to and
    2-3 ns on an alternation: the whole column is searched when more than `dense` of its rows are wanted.
    """
    wanted = pc.sum(mask).as_py() or 0
    if wanted == 0:
        return mask
    if wanted > dense * len(arr):
        return pc.and_(mask, _has(arr, regex))
    return _spread(mask, _has(arr.filter(mask), regex))


# A literal (or small alternation) that every line passing each guard of connlog.EXTRACTORS contains: a
# line without it fails that guard.
_NEEDS = {
    "cisco_asa": r"%(?:ASA|FTD|PIX|FWSM)-",
    "netfilter": "SRC=",
    "fortigate": "srcip=",
    "stormshield": "logtype=",
    "pfsense": r",(?:in|out),[46],",
    "dhcp": "DHCP",
    "radius": _RADIUS_GUARD,
    "mikrotik_hotspot": "hotspot",
    "pfsense_portal": "Zone: ",
    "mikrotik": "->",
    "squid": "TCP_|NONE|UDP_",
    "sshd": " port ",
}
_ANY_GUARD = "|".join(_NEEDS.values())  # a line without any of these passes no guard at all

# Lanes: rows sent straight to one format's fast extractor, on a hint from the header (its app name, or the
# FortiGate header). The hint only chooses where to look first: a row is decided in its lane only when the
# extractor accepts it, no guard before its format can pass (none of their _NEEDS is in the line) and its
# own guard passes (implied by what the extractor matched, checked apart for radius and squid, whose
# extractors also accept lines their guard refuses). Every other row goes through _waterfall.
_LANE_APPS = {
    "ASA": "cisco_asa",
    "FTD": "cisco_asa",
    "PIX": "cisco_asa",
    "FWSM": "cisco_asa",
    "kernel": "netfilter",
    "filterlog": "pfsense",
    "dhcpd": "dhcp",
    "radiusd": "radius",
    "squid": "squid",
}
_OWN_GUARD = {"radius": _RADIUS_GUARD, "squid": _NEEDS["squid"]}  # squid's "/" is in what _SQUID matched


def _extractors() -> dict[str, Callable[[pa.StringArray], tuple[dict[str, pa.Array], pa.BooleanArray]]]:
    return {
        "cisco_asa": _asa,
        "netfilter": _netfilter,
        "fortigate": _fortigate,
        "pfsense": _pfsense,
        "dhcp": _dhcp,
        "radius": _radius,
        "squid": _squid,
    }


def _before(name: str) -> tuple[str, ...]:
    """The searches that show no guard between ASA's and name's passes: a literal each (RE2 costs ~100 ns
    a call, about what an alternation costs more a line than one literal), or one alternation of many."""
    needs = [_NEEDS[g] for g in GUARD_ORDER[1 : GUARD_ORDER.index(name)]]
    return tuple(needs) if len(needs) <= 3 else ("|".join(needs),)


_BEFORE = {name: _before(name) for name in GUARD_ORDER}
_LANES = tuple(k for k in GUARD_ORDER if k in _extractors())
# A lane's mark of the rows it decided (the others: the lane's index, its extractor refused them).
_DECIDED = 100
_LANE_APP_NAMES = pa.array(list(_LANE_APPS), pa.string())
_LANE_OF_APP = pa.array([_LANES.index(v) for v in _LANE_APPS.values()], pa.int8())


def _lanes(app: pa.Array, forti: pa.BooleanArray) -> pa.Array:
    """The lane hint of each row (an index in _LANES, null for none)."""
    lane = _LANE_OF_APP.take(pc.index_in(app, value_set=_LANE_APP_NAMES))
    return pc.if_else(forti, pa.scalar(_LANES.index("fortigate"), pa.int8()), lane)


def _connections(
    s: pa.StringArray, fast: pa.BooleanArray, lane: pa.Array | None = None, pct: pa.BooleanArray | None = None
) -> tuple[list[tuple[pa.Array, dict[str, pa.Array]]], pa.BooleanArray]:
    """Connection pieces for the rows decided here, and the mask of those rows.

    A row is decided when no guard of connlog.EXTRACTORS passes (all null), or when the first guard that
    passes is a vectorised format and its fast extractor accepts the row: in its lane (see _LANES) or in
    _waterfall, where each guard is evaluated exactly on the rows whose decision depends on it. lane: the
    hints (_lanes), pct: the lines holding a "%" (_headers), both given or both None.
    """
    pieces: list[tuple[pa.Array, dict[str, pa.Array]]] = []
    length = pc.binary_length(s)  # the fast rows are ASCII: bytes are characters
    in_range = _and(fast, pc.greater(length, 0), pc.less_equal(length, _MAX_LEN))
    out_of_range = _and(fast, pc.invert(in_range))
    pieces.append((_where(out_of_range), {}))
    decided = out_of_range
    rest = in_range
    refused = None  # the lane whose extractor refused each row (it would again), -1 for none
    if lane is not None and pct is not None and lane.null_count < len(lane):
        fns = _extractors()
        lane = pc.fill_null(lane, -1)
        marks: list[tuple[pa.Array, int]] = []  # (rows, code): rows decided (_DECIDED) or refused by a lane
        for code, name in enumerate(_LANES):
            idx = _where(_and(in_range, pc.equal(lane, code)))
            if len(idx) == 0:
                continue
            sub = s.take(idx)
            cols, ok = fns[name](sub)
            ok = _t(ok)
            marks.append((idx.filter(pc.invert(ok)), code))
            if name != "cisco_asa":  # ASA's literals hold a "%": only those lines are searched
                ok = pc.and_(ok, pc.invert(_on(sub, _and(ok, pct.take(idx)), _NEEDS["cisco_asa"])))
            for before in _BEFORE[name]:
                ok = pc.and_(ok, pc.invert(_on(sub, ok, before)))
            if name in _OWN_GUARD:
                ok = _on(sub, ok, _OWN_GUARD[name])
            good = _take_ok(ok)
            if good is not None:
                if len(good) == 0:
                    continue
                idx, cols = idx.take(good), {k: v.take(good) for k, v in cols.items()}
            pieces.append((idx, cols))
            marks.append((idx, _DECIDED))
        if marks:
            rows = pa.concat_arrays([_as(r, pa.int64()) for r, _ in marks])
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
) -> tuple[list[tuple[pa.Array, dict[str, pa.Array]]], pa.BooleanArray]:
    """Connection pieces of the candidate rows, connlog's guards evaluated in order; the mask of rows decided."""
    pieces: list[tuple[pa.Array, dict[str, pa.Array]]] = []
    cidx = _where(cand)
    if len(cidx) == 0:
        return pieces, cand
    c = s if len(cidx) == len(s) else s.take(cidx)
    # One pass finds the rows that pass no guard (most lines that are no connection log); the guards
    # below only see the others.
    some = _has(c, _ANY_GUARD)
    none_rows = [cidx.filter(pc.invert(some))]
    decided = pc.invert(some)
    g_asa = _on(c, some, _NEEDS["cisco_asa"])
    not_asa = _and(some, pc.invert(g_asa))
    src = _on(c, not_asa, "SRC=")
    g_nf = _on(c, src, "PROTO=")
    after_nf = _and(not_asa, pc.invert(g_nf))
    n_forti = _on(c, after_nf, "srcip=")
    g_forti = _on(c, n_forti, "traffic")
    after_forti = _and(after_nf, pc.invert(n_forti))
    g_pf = _on(c, after_forti, r",(?:in|out),[46],")
    n_storm = _on(c, g_pf, "logtype=")
    pf = _and(g_pf, pc.invert(n_storm))
    rest = _and(after_forti, pc.invert(g_pf))
    later = _on(c, rest, "logtype=|" + _REST_GUARDS, dense=0.65)
    nothing = _and(rest, pc.invert(later))
    none_rows.append(cidx.filter(nothing))
    decided = pc.or_(decided, nothing)
    # Among the rest: DHCP (the first guard after pfsense, stormshield's being false without
    # "logtype="), and squid when no guard between them can pass.
    before_squid = _on(c, later, _BEFORE_SQUID)
    dhcp = _and(_on(c, later, "DHCP"), pc.invert(_on(c, later, "logtype=")))
    squid = _on(c, _and(later, pc.invert(before_squid)), "TCP_|NONE|UDP_")
    # RADIUS: its guard passes, and neither stormshield's nor DHCP's (the only ones between) can
    radius = _on(c, _and(later, pc.invert(_on(c, later, "logtype=|DHCP"))), _RADIUS_GUARD)
    fns = _extractors()
    for mask, name in (
        (g_asa, "cisco_asa"),
        (g_nf, "netfilter"),
        (_and(after_nf, g_forti), "fortigate"),
        (pf, "pfsense"),
        (dhcp, "dhcp"),
        (radius, "radius"),
        (squid, "squid"),
    ):
        if refused is not None:  # refused in its lane: left to the per-row code
            mask = _and(mask, pc.not_equal(refused.take(cidx), _LANES.index(name)))
        idx = _where(mask)
        if len(idx) == 0:
            continue
        cols, ok = fns[name](c.take(idx))
        good = _take_ok(ok)
        if good is not None:
            if len(good) == 0:
                continue
            idx, cols = idx.take(good), {k: v.take(good) for k, v in cols.items()}
        pieces.append((cidx.take(idx), cols))
        decided = pc.or_(decided, _spread(mask, ok))
    pieces.append((pa.concat_arrays([_as(r, pa.uint64()) for r in none_rows]), {}))
    return pieces, _spread(cand, decided)


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
        return s, _and(mask, pc.string_is_ascii(s))
    return s, pc.string_is_ascii(s)


Raws = Sequence[bytes] | pa.BinaryArray  # a batch's raw messages: a list, or the reader's Arrow column


def _py(raws: Raws) -> Sequence[bytes]:
    return raws.to_pylist() if isinstance(raws, pa.Array) else raws


def _raw_at(raws: Raws) -> Callable[[int], bytes]:
    """Row i's bytes, for the few rows the per-row reference handles (no whole-column conversion)."""
    if isinstance(raws, pa.Array):
        return lambda i: raws[i].as_py() or b""
    return raws.__getitem__


def enrich(raws: Raws, reference: datetime) -> dict[str, pa.Array]:
    """enrich_rowwise, vectorised: RE2 over whole columns, reference functions once per distinct value.

    Rows that are not pure ASCII, or whose header or connection shape a fast path does not fully
    understand, go through parse_syslog / extract_connection, so the result is identical.
    """
    n = len(raws)
    raw_at = _raw_at(raws)
    s, fast = _decode(raws)
    hdr, hdone, forti, pct = _headers(s, fast, reference)

    # Header: fast pieces plus per-row parse_syslog for the rest.
    h_rest = _where(pc.invert(hdone)).to_pylist()
    stamps, hosts, apps = [], [], []
    for i in h_rest:
        p = parse_syslog(raw_at(i), reference)
        stamps.append(p["timestamp"])
        hosts.append(p["hostname"])
        apps.append(p["app_name"])
    idx = [*hdr.idx, pa.array(h_rest, pa.int64())]
    order = pc.array_sort_indices(pa.chunked_array(idx, pa.int64()).combine_chunks())
    ts = pa.concat_arrays([*hdr.ts, _ts_micros(pa.array(stamps, pa.string()))]).take(order)
    out: dict[str, pa.Array] = {
        "timestamp": pc.cast(ts, _TS),
        "hostname": pa.concat_arrays([*hdr.host, pa.array(hosts, pa.string())]).take(order),
        "app_name": pa.concat_arrays([*hdr.app, pa.array(apps, pa.string())]).take(order),
    }
    cpieces, cdone = _connections(s, fast, _lanes(out["app_name"], forti), pct)

    # Connection columns: fast pieces, everything else per row.
    c_rest = _where(pc.invert(cdone)).to_pylist()
    rows_py = [extract_connection(raw_at(i).decode("utf-8", "replace")) for i in c_rest]
    cidx = [*(p[0] for p in cpieces), pa.array(c_rest, pa.int64())]
    corder = pc.array_sort_indices(
        pa.chunked_array([_as(i, pa.int64()) for i in cidx], pa.int64()).combine_chunks()
    )
    for name in CONN_COLUMNS:
        typ = _CONN_TYPES[name]
        parts = [cols.get(name, pa.nulls(len(rows), typ)) for rows, cols in cpieces]
        parts = [_as(v, typ) for v in parts]
        parts.append(pa.array([r[name] if r else None for r in rows_py], typ))
        out[name] = pa.concat_arrays(parts).take(corder)
    assert all(len(v) == n for v in out.values())
    return out


def fallback_share(raws: list[bytes], reference: datetime) -> tuple[float, float]:
    """(header, connection) share of rows that take the per-row code: what the bench reports."""
    if not raws:
        return 0.0, 0.0
    s, fast = _decode(raws)
    _, hdone, _, _ = _headers(s, fast, reference)
    _, cdone = _connections(s, fast)  # the lanes decide the same rows as the waterfall, only faster
    n = len(raws)
    return 1 - pc.sum(hdone).as_py() / n, (n - pc.sum(cdone).as_py()) / n
