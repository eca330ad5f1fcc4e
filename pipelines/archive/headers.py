"""The syslog header (timestamp, hostname, app name) read column-wise: RE2 over the batch, the timestamp grammar
of vigie.codecs.timestamps once per distinct clock value, giving exactly what vigie.codecs.syslog gives per row.

Rows a route does not fully understand are left to the caller, which parses them one by one. Stamps are read
as UTC here; each route also says (when asked: `zoned`) which rows' stamps carry no zone, so that the caller
can read those in their device's zone (device_time.localize), as vigie.codecs.syslog does per row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vigie.codecs import timestamps as ct
from vigie.pipelines.archive.formats.columns import (
    SP,
    TS,
    WS,
    Fallback,
    all_true,
    any_true,
    as_type,
    ascii_slice,
    grp,
    has,
    per_unique,
    spread,
    take_ok,
    truth,
    where,
)

_PRI = r"<[0-9]{1,3}>"
_PRI_OK = r"<(?:[0-9]{1,2}|0[0-9]{2}|1[0-8][0-9]|19[01])>"  # what vigie.codecs.syslog._fast3164 accepts (<= 191)
# vigie.codecs.syslog._FAST3164 in two one-pass halves: without the optional year (tried first here, kept when its host is
# not four digits, which the year form would have taken as the year) and with it. Bounded repeats
# ({1,128}) are checked on the captured lengths: RE2 runs them far slower than an unbounded run. The PRI
# bound is checked apart (a DFA match): its alternation makes the capture regex leave RE2's one-pass engine.
_T3164 = r"[A-Z][a-z]{2} {1,2}[0-9]{1,2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
_TAIL3164 = rf" (?P<host>[^{WS}\[\]:]+) (?P<tag>[^{WS}\[\]:]+)(?:\[(?P<pid>[^\]{WS}]*)\])?:(?:[ \t]|$)"
_H3164 = rf"^{_PRI}(?P<ts>{_T3164}){_TAIL3164}"
_H3164_YEAR = rf"^{_PRI}(?P<ts>{_T3164} [0-9]{{4}}){_TAIL3164}"
_TS3164 = re.compile(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?: (\d{4}))?")
_BSD_NC = r"[A-Za-z]{3} +[0-9]{1,2}(?: [0-9]{4})? [0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
_CISCO_TAIL = rf"%(?P<fac>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-[0-7]-[A-Za-z0-9_]+{SP}?:"
# The same languages written so that RE2 can run them one-pass (each byte says which way to go, the only
# engine that is cheap with captures): the year or the hour after the day decided by the digit count,
# the facility with its severity captured as "FAC-SEV" (the last two characters cut off after).
_BSD_1P = r"[A-Za-z]{3} +[0-9]{1,2} [0-9](?:[0-9](?:[0-9]{2} [0-9]{1,2})?)?:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
_CISCO_TAIL_1P = rf"%(?P<facsev>[A-Z][A-Z0-9_]*-(?:[A-Z][A-Z0-9_]*-)*[0-7])-[A-Za-z0-9_]+{SP}?:"
# "<PRI>Mmm dd [yyyy] hh:mm:ss host : %FAC-SEV-MN:" (ASA relay header), "... host %FAC-SEV-MN:" (IOS) and
# "<PRI>%FAC-SEV-MN:" (no clock): the bulk of Cisco lines, tried first with this smaller regex (cheaper
# than _HCISCO below). The separator "\s(?::\s+|\s*)" is _HCISCO's hsep "\s:\s+|\s+" written one-pass; when
# it is "\s+", the "%" right after shows vigie.codecs.syslog's _CISCO's lookahead held (lead and the middle groups empty).
_HCISCO_RELAY = (
    rf"^{_PRI}(?:(?P<hts>{_BSD_1P}){SP}+(?P<host>[^{WS}:]+){SP}(?::{SP}+|{SP}*))?{_CISCO_TAIL_1P}"
)
_D = "[0-9]"
_W = "[A-Za-z0-9_]"
_ISO_NC = rf"{_D}{{4}}-{_D}{{2}}-{_D}{{2}}[Tt ]{_D}{{1,2}}:{_D}{{2}}:{_D}{{2}}(?:[.,]{_D}{{1,9}})?(?:[Zz]|[+-]{_D}{{2}}(?::?{_D}{{2}})?)?"
_CTS_NC = rf"(?:{_D}{{4}} )?{_BSD_NC}(?: [A-Za-z]{{1,6}}| [+-]{_D}{{2}}:?{_D}{{2}})?"
# vigie.codecs.syslog's _CISCO after the PRI, in RE2 with the same groups in the same order (so the same submatches), the
# message left out (".*" always matches) and its one lookahead, after the relay host's "\s+", replaced by
# the groups hsep, lead and seqsp: _header_cisco keeps a row only where they show the lookahead held.
_HCISCO = (
    rf"^{_PRI}(?:(?P<hts>{_BSD_NC}|{_ISO_NC}){SP}+(?P<hhost>[^{WS}:]+)(?P<hsep>{SP}:{SP}+|{SP}+))?"
    rf"(?P<lead>:?{SP}*)"
    rf"(?:(?P<seq>{_D}{{1,10}})(?P<seqsp>{SP}*):{SP}+)?"
    rf"(?:(?P<dev>[A-Za-z][A-Za-z0-9_.\-]*):{SP}+)?"
    r"(?:(?P<node>[A-Za-z0-9]+(?:/[A-Za-z0-9]+)+):)?"
    rf"(?:(?P<mark>[*.])?(?:(?P<cts>{_CTS_NC})|(?P<up>{_D}{{1,2}}:{_D}{{2}}:{_D}{{2}}(?:\.{_D}{{1,6}})?"
    rf"|(?:{_D}{{1,5}}[ywdhm]){{1,3}})){SP}*:{SP}*)?"
    rf"(?:(?P<proc>[A-Za-z]{_W}*)\[(?P<pid>{_D}{{1,10}})\]:{SP}*)?"
    rf"%(?P<fac>[A-Z][A-Z0-9_]*(?:-[A-Z][A-Z0-9_]*)*)-[0-7]-[A-Za-z0-9_]+{SP}?:"
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
_FGT_DEV = rf'(?:^|[^A-Za-z0-9_])devname="?(?P<dev>[^"{WS}]+)'


_FGT_DEV_PY = re.compile(_FGT_DEV.replace("(?P<dev>", "("))


def ts_micros(stamps: pa.Array) -> pa.Array:
    """The reference's own conversion: RFC 3339 strings cast by Arrow, as microseconds."""
    return pc.cast(pc.cast(stamps, TS), pa.int64())


class Header:
    """Header columns of the fast rows, gathered as (row indices, values) pieces; local: whether each row's
    stamp carries no zone (only when read_headers is asked, else empty)."""

    def __init__(self) -> None:
        self.idx: list[pa.Array] = []
        self.ts: list[pa.Array] = []
        self.host: list[pa.Array] = []
        self.app: list[pa.Array] = []
        self.local: list[pa.Array] = []

    def add(self, idx: pa.Array, ts: pa.Array, host: pa.Array, app: pa.Array, local: pa.Array | None) -> None:
        self.idx.append(as_type(idx, pa.int64()))
        self.ts.append(as_type(ts, pa.int64()))
        self.host.append(as_type(host, pa.string()))
        self.app.append(as_type(app, pa.string()))
        if local is not None:
            self.local.append(local)


Route = tuple[pa.Array, pa.Array, pa.Array, pa.BooleanArray, pa.Array | None]  # ts, host, app, ok, local


def _all(n: int, zoned: bool, value: bool) -> pa.Array | None:
    """A route's local mask when every one of its stamps has (or lacks) a zone; None when not asked."""
    return pa.repeat(pa.scalar(value), n) if zoned else None


# An ISO stamp that ends with its zone (a BSD stamp never has one); the relay clock of a Cisco line.
_ZONED_ISO = r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)$"


def _four_digits(arr: pa.Array) -> pa.BooleanArray:
    """^[0-9]{4}$ without RE2 (see digits_upto)."""
    return all_true(pc.ascii_is_decimal(arr), pc.equal(pc.binary_length(arr), 4))


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
    return all_true(nonempty, pc.equal(byte, 0), pc.is_valid(s))


def _header_3164(
    sub: pa.StringArray, ref: datetime, pri_ok: pa.Array | None = None, zoned: bool = False
) -> Route:
    """_FAST3164 (no '%' in the line): timestamp per distinct clock value, as _fast3164 computes it.

    pri_ok: whether each line starts with _PRI_OK, when the caller knows it.
    """
    m = pc.extract_regex(sub, _H3164)
    g = {k: grp(m, k) for k in ("ts", "host", "tag", "pid")}
    if pri_ok is None:
        pri_ok = has(sub, "^" + _PRI_OK)
    g["ok"] = all_true(pc.is_valid(m), pri_ok)
    # (?!\d{4}(?:\s|$)) in _FAST3164: a four-digit host is the year of the other form, or refused
    year_host = _four_digits(g["host"])
    retry = any_true(pc.invert(g["ok"]), year_host)
    if pc.any(retry).as_py():
        my = pc.extract_regex(sub.filter(retry), _H3164_YEAR)
        g = {
            k: pc.replace_with_mask(v, retry, grp(my, k) if k != "ok" else pc.is_valid(my))
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
            raise Fallback  # _fast3164 declines: the general path decides
        o = ct.day_ordinal(int(year), month, int(day)) if year else ct.closest_day(month, int(day), ref)
        if not o:
            raise Fallback
        return ct.date_prefix(o) + hh + ":" + mi + ":" + ss + ".000000Z"

    stamps, bad = per_unique(ts_tok, stamp, pa.string())
    short = all_true(
        pc.less_equal(pc.utf8_length(tag), 128),
        any_true(pc.is_null(g["pid"]), pc.less_equal(pc.utf8_length(g["pid"]), 128)),
    )
    ok = all_true(ok, pri_ok, short, pc.invert(bad), pc.invert(year_host))
    return ts_micros(stamps), host, tag, ok, _all(len(sub), zoned, True)


def _header_cisco_relay(sub: pa.StringArray, ref: datetime, zoned: bool = False) -> Route:
    """_CISCO with a BSD relay clock and host before ' : %FAC-SEV-MN:', or no header at all."""
    m = pc.extract_regex(sub, _HCISCO_RELAY)
    ok = pc.is_valid(m)
    stamps, bad = per_unique(grp(m, "hts"), lambda v: ct.bsd_or_iso_stamp(v, ref, []) if v else None, pa.string())
    host = grp(m, "host")  # an unmatched group reads "": no relay header means no host
    host = pc.if_else(truth(pc.equal(host, "")), pa.scalar(None, pa.string()), host)
    fac = ascii_slice(grp(m, "facsev"), 0, -2)
    return ts_micros(stamps), host, fac, all_true(ok, pc.invert(bad)), _all(len(sub), zoned, True)  # BSD only


def _header_cisco(sub: pa.StringArray, ref: datetime, zoned: bool = False) -> Route:
    """vigie.codecs.syslog's _cisco: IOS, NX-OS, ASA, with or without a relay header, sequence number, origin id or device clock."""
    m = pc.extract_regex(sub, _HCISCO)
    g = partial(grp, m)
    empty = partial(pc.equal, pa.scalar(""))
    # vigie.codecs.syslog's _CISCO's lookahead (?=\d{1,10}:\s|%) after "\s+" (hsep without ":"): shown to hold when
    # nothing but a sequence number written "123: " or nothing at all comes before the "%"
    middle = all_true(*(empty(g(k)) for k in ("seq", "dev", "node", "mark", "cts", "up", "proc")))
    seq_next = all_true(pc.invert(empty(g("seq"))), empty(g("seqsp")))
    ok = all_true(
        pc.is_valid(m),
        any_true(empty(g("hts")), has(g("hsep"), ":"), all_true(empty(g("lead")), any_true(middle, seq_next))),
    )
    cts = g("cts")
    parts = pc.extract_regex(pc.if_else(truth(empty(cts)), pa.scalar(None, pa.string()), cts), _CTS_SPLIT)
    key = pc.binary_join_element_wise(grp(parts, "a"), grp(parts, "z"), "")
    base, bad_c = per_unique(key, lambda v: ct.cisco_stamp(v, ref, []) if v else None, pa.string())
    frac = grp(parts, "f")
    fus = pc.cast(ascii_slice(pc.utf8_rpad(pc.fill_null(frac, ""), 6, "0"), 0, 6), pa.int64())
    leap = truth(pc.equal(grp(parts, "ss"), "60"))  # clamped to 59.999999 whatever the fraction
    dev_ts = pc.if_else(leap, ts_micros(base), pc.add(ts_micros(base), fus))
    hts = g("hts")
    relay, bad_h = per_unique(
        pc.if_else(truth(empty(hts)), pa.scalar(None, pa.string()), hts),
        lambda v: ct.bsd_or_iso_stamp(v, ref, []) if v else None,
        pa.string(),
    )
    ts = pc.if_else(pc.is_valid(parts), dev_ts, ts_micros(relay))
    host = pc.if_else(truth(empty(g("dev"))), g("hhost"), g("dev"))
    host = pc.if_else(truth(empty(host)), pa.scalar(None, pa.string()), host)
    ok = all_true(ok, any_true(empty(cts), pc.is_valid(parts)), pc.invert(bad_c), pc.invert(bad_h))
    local = None
    if zoned:  # the device clock without a zone name or offset, or else a relay clock that is BSD or ISO without one
        local = pc.if_else(pc.is_valid(parts), empty(grp(parts, "z")), pc.invert(has(hts, _ZONED_ISO)))
    return ts, host, g("fac"), ok, local


def _header_5424(sub: pa.StringArray, ref: datetime, zoned: bool = False) -> Route:
    """RFC 5424 with a strict RFC 3339 stamp or '-': seconds per distinct value, fraction added as a vector."""
    m = pc.extract_regex(sub, _H5424)
    ok = pc.is_valid(m)
    stamp = grp(m, "stamp")  # "" for "-"
    sec = ascii_slice(stamp, 0, 19)
    zulu = truth(pc.ends_with(stamp, "Z"))
    tz = pc.if_else(zulu, ascii_slice(stamp, -1), ascii_slice(stamp, -6))
    tz = pc.if_else(truth(pc.equal(stamp, "")), stamp, tz)
    frac = pc.if_else(
        truth(pc.equal(ascii_slice(stamp, 19, 20), ".")),
        pc.if_else(zulu, ascii_slice(stamp, 20, -1), ascii_slice(stamp, 20, -6)),
        pa.scalar("", pa.string()),
    )
    key = pc.binary_join_element_wise(sec, tz, "")
    base, bad = per_unique(key, lambda v: ct.rfc3339_stamp(v, ref, []) if v else None, pa.string())
    micros = ts_micros(base)
    leap = pc.equal(ascii_slice(sec, 17, 19), "60")  # clamped to 59.999999 whatever the fraction
    fus = pc.cast(ascii_slice(pc.utf8_rpad(pc.fill_null(frac, ""), 6, "0"), 0, 6), pa.int64())
    micros = pc.if_else(truth(leap), micros, pc.add(micros, fus))

    def nil(col: pa.Array) -> pa.Array:
        return pc.if_else(any_true(pc.equal(col, "-"), pc.equal(col, "")), pa.scalar(None, pa.string()), col)

    return micros, nil(grp(m, "host")), nil(grp(m, "app")), all_true(ok, pc.invert(bad)), _all(len(sub), zoned, False)


def _dev_in_head(head: str | None) -> str | None:
    """_FGT_DEV's group in a line's first _FGT_DEV_SPAN characters; Fallback when the line decides."""
    if head is None:
        return None
    m = _FGT_DEV_PY.search(head)
    if m is None or m.end() == len(head):  # none here (one may come later), or its value may go on
        raise Fallback
    return m.group(1)


def _header_fortigate(sub: pa.StringArray, ref: datetime, zoned: bool = False) -> Route:
    """FortiGate without syslog header: date=, time=, tz= and devname= as vigie.codecs.syslog's fortigate_columns reads them."""
    # _HFGT reads at most the first _HFGT_SPAN characters: it is run in Python once per distinct such head
    # (the clock changes once a second) rather than by RE2 on every line (~0.4 µs a line with captures).
    head = ascii_slice(sub, 0, _HFGT_SPAN)
    # _FGT_TZ starts with no literal (RE2 walks every byte of a line without it, ~0.8 µs): only the lines
    # holding "tz=" (a literal search, stopped at the first) are searched with it.
    with_tz = has(sub, "tz=")
    if pc.all(with_tz).as_py():
        tz = grp(pc.extract_regex(sub, _FGT_TZ), "tz")
    else:
        tz = pa.nulls(len(sub), pa.string())
        if pc.any(with_tz).as_py():
            tz = pc.replace_with_mask(tz, with_tz, grp(pc.extract_regex(sub.filter(with_tz), _FGT_TZ), "tz"))
    # devname= comes right after the clock: read in Python once per distinct line start when its value ends
    # there (a leftmost match complete within the start is the line's), by RE2 on the whole line otherwise.
    dev, undecided = per_unique(ascii_slice(sub, 0, _FGT_DEV_SPAN), _dev_in_head, pa.string())
    if pc.any(undecided).as_py():
        dev = pc.replace_with_mask(dev, undecided, grp(pc.extract_regex(sub.filter(undecided), _FGT_DEV), "dev"))
    key = pc.binary_join_element_wise(head, pc.fill_null(tz, ""), "|")  # a tz holds no "|"

    def stamp(v: str | None) -> str | None:
        if v is None:
            return None
        h, _, z = v.rpartition("|")
        m = _HFGT_PY.match(h)
        if m is None:
            raise Fallback  # not this route's header
        d, t = m.groups()
        h, mi, s = t.split(":")
        off = ct.offset_seconds(z) if z else 0  # read as UTC here: the caller reads zone-less rows in their zone
        if off is None:
            off = 0
        return ct.utc_stamp(int(d[:4]), int(d[5:7]), int(d[8:10]), int(h), int(mi), int(s), 0, off, ref, [])

    stamps, bad = per_unique(key, stamp, pa.string())
    ok = all_true(pc.is_valid(sub), pc.invert(bad))
    return ts_micros(stamps), dev, pa.nulls(len(sub), pa.string()), ok, pc.is_null(tz) if zoned else None


# The header routes, read from the line's first 8 bytes: (regex on them, kind) where kind says what
# else the route needs (see read_headers). Evaluated once per distinct prefix (a few dozen in a batch).
_ROUTE_5424 = r"^<[0-9]{1,3}>[0-9]"
_ROUTE_3164 = r"^<[0-9]{1,3}>[A-Z]"
_ROUTE_NOT_CISCO = r"^<[0-9]{1,3}>[0-9]{1,2} "
_ROUTE_FGT = r"^(?:<[0-9]{1,3}>)?d"


def read_headers(
    s: pa.StringArray, fast: pa.BooleanArray, ref: datetime, zoned: bool = False
) -> tuple[Header, pa.BooleanArray, pa.BooleanArray, pa.BooleanArray]:
    """Header pieces for the rows a fast path fully understands; returns them, the mask of those rows,
    the mask of the rows whose header is FortiGate's (a hint for the connection step) and the mask of
    the lines holding a "%" (which the connection step reuses). zoned: fill Header.local too."""
    out = Header()
    n = len(s)
    done = pa.repeat(pa.scalar(False), n)
    forti = done
    # parse_syslog strips a trailing NUL that RE2 would read
    fast = all_true(fast, pc.invert(_ends_with_nul(s)))
    pct = has(s, "%")  # RE2 finds a byte several times faster than Arrow's literal search
    # The first 8 bytes (the fast rows are ASCII: bytes are characters) take a few dozen values in a
    # batch: the route tests run on those, not on every row (each RE2 call costs ~50 ns however short).
    enc = pc.dictionary_encode(pc.binary_slice(s.cast(pa.binary()), 0, 8))
    heads, codes = enc.dictionary, enc.indices
    lt = pc.starts_with(heads, "<")
    digit_after_pri = has(heads, _ROUTE_5424)

    def per_row(mask: pa.Array) -> pa.BooleanArray:
        return mask.take(codes)

    # Each route's rows are copied out: RE2 costs about as much per row on a line it rejects at once.
    pri_ok = has(heads, "^" + _PRI_OK)

    def h3164(sub: pa.StringArray, ref: datetime, idx: pa.Array) -> Any:
        return _header_3164(sub, ref, pri_ok.take(codes.take(idx)), zoned)

    routes: list[tuple[pa.Array, Callable[..., Any]]] = [
        (all_true(fast, per_row(all_true(lt, digit_after_pri))), _header_5424),
        (all_true(fast, pc.invert(pct), per_row(has(heads, _ROUTE_3164))), h3164),
        (all_true(fast, pct, per_row(all_true(lt, pc.invert(digit_after_pri)))), _header_cisco_relay),
        (all_true(fast, pct, per_row(all_true(lt, pc.invert(has(heads, _ROUTE_NOT_CISCO))))), _header_cisco),
        (all_true(fast, per_row(has(heads, _ROUTE_FGT))), _header_fortigate),
    ]
    for mask, fn in routes:
        mask = all_true(mask, pc.invert(done))
        idx = where(mask)
        if len(idx) == 0:
            continue
        ts, host, app, ok, local = fn(s.take(idx), ref, idx) if fn is h3164 else fn(s.take(idx), ref, zoned)
        good = take_ok(ok)
        if good is None:
            out.add(idx, ts, host, app, local)
        elif len(good):
            out.add(idx.take(good), ts.take(good), host.take(good), app.take(good), None if local is None else local.take(good))
        else:
            continue
        got = spread(mask, ok)
        done = pc.or_(done, got)
        if fn is _header_fortigate:
            forti = got
    return out, done, forti, pct
