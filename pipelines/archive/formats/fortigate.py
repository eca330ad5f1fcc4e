"""FortiGate / FortiOS traffic logs (key=value, no syslog header of their own)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import (
    WS,
    all_true,
    any_true,
    arange,
    ascii_slice,
    count_column,
    cut_at,
    grp,
    has,
    has_where,
    ip_column,
    ip_columns,
    per_unique,
    port_column,
    spread,
    truth,
    where,
)
from vigie.pipelines.archive.formats.values import (
    PORT_PROTOS,
    Conn,
    action_word,
    conn_row,
    kv_endpoints,
    kv_fields,
    norm_mac,
    norm_proto,
    norm_token,
    norm_user,
    sum_bytes,
)

_FORTI_KEYS = frozenset(
    {
        "type",
        "srcip",
        "srcport",
        "dstip",
        "dstport",
        "proto",
        "transip",
        "transport",
        "user",
        "unauthuser",
        "srcmac",
        "action",
        "sentbyte",
        "rcvdbyte",
        "sessionid",
    }
)


_FORTI_ACTIONS = {
    "accept": "allow",
    "start": "build",
    "close": "teardown",
    "timeout": "teardown",
    "client-rst": "teardown",
    "server-rst": "teardown",
    "deny": "deny",
    "dropped": "deny",
    "blocked": "deny",
    "ip-conn": "deny",
}


def extract_fortigate(text: str) -> Conn | None:
    """FortiGate/FortiOS traffic logs (type=traffic), quoted or bare values."""
    f = kv_fields(text, _FORTI_KEYS)
    if f.get("type") != "traffic" or "srcip" not in f:
        return None
    proto = norm_proto(f.get("proto"))
    ports = proto in PORT_PROTOS
    return conn_row(
        "fortigate",
        **kv_endpoints(f, src="srcip", dst="dstip", nat="transip", nat_port="transport", ports=ports),
        protocol=proto,
        user=norm_user(f.get("user")) or norm_user(f.get("unauthuser")),
        mac=norm_mac(f.get("srcmac")),
        action=action_word(f.get("action"), _FORTI_ACTIONS),
        bytes=sum_bytes(f.get("sentbyte"), f.get("rcvdbyte")),
        session_id=norm_token(f.get("sessionid")),
    )


def _guard_fortigate(t: str) -> bool:
    return "srcip=" in t and "traffic" in t


# --------------------------------------------------------------------------- column-wise


_FORTI_KEY_LIST = sorted(_FORTI_KEYS)
# kv_fields reads a key at the start of a whitespace-separated token outside quotes (the line start, after
# whitespace, or right after a closing quote); its value is the rest of the token up to a quote, or the
# quoted part right after "key=". Lines with an odd number of quotes, an escaped quote (both: kv_fields's full
# scan) or an "=" inside a quoted part (where a key could hide) are left to the per-row code.
_FORTI_QUOTES_BAD = r'^[^"]*(?:"[^"]*"[^"]*)*"[^"]*(?:=|$)|\\"'
# Keys that FortiOS also writes as the end of a longer key (subtype, utmaction, mastersrcmac, unauthuser,
# shaperdropsentbyte...) are searched as " key=": when no wanted key starts a token other than after a
# space, the first " key=" of the line is the one kv_fields reads. The others are searched as "key=" (RE2 skips to
# their first letter, faster), which is exact when no "key=" of theirs follows anything but a space.
# Lines where either fails take a search for any token start (slower, rare).
_FORTI_SUFFIXED = ("action", "rcvdbyte", "sentbyte", "srcmac", "type", "user")
_FORTI_BARE = tuple(k for k in _FORTI_KEY_LIST if k not in _FORTI_SUFFIXED)
_FORTI_ELSEWHERE = (
    rf'(?:^|[\t-\r\x1c-\x1f"])(?:{"|".join(_FORTI_SUFFIXED)})=|(?:^|[^ ])(?:{"|".join(_FORTI_BARE)})='
)
_FORTI_VALUE = rf'=(?P<v>"[^"]*"|[^"{WS}]*)'


def _forti_fields_rx(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """kv_fields on a column: each wanted key's first value outside quotes, one RE2 search per key."""
    n = len(sub)
    odd = has(sub, _FORTI_QUOTES_BAD + "|" + _FORTI_ELSEWHERE)  # one pass; the rare rows flagged are sorted below
    other = odd
    ok = pa.repeat(pa.scalar(True), n)
    if pc.any(odd).as_py():
        ok = pc.invert(has_where(sub, odd, _FORTI_QUOTES_BAD))
        other = all_true(odd, ok)
    oidx = where(other)
    osub = sub.take(oidx) if len(oidx) else None
    out: dict[str, pa.Array] = {}
    for key in _FORTI_KEY_LIST:
        lead = " " if key in _FORTI_SUFFIXED else ""
        v = grp(pc.extract_regex(sub, f"{lead}{key}{_FORTI_VALUE}"), "v")
        if osub is not None:
            vo = grp(pc.extract_regex(osub, rf'(?:^|[{WS}"]){key}{_FORTI_VALUE}'), "v")
            v = pc.replace_with_mask(v, other, vo)
        ok = all_true(ok, pc.invert(truth(pc.equal(v, ""))))  # "key=" with nothing after it: kv_fields's endswith rule
        quoted = truth(pc.starts_with(v, '"'))
        out[key] = pc.if_else(quoted, ascii_slice(v, 1, -1), v)
    return out, ok


# A plain line: no whitespace but spaces, and quotes only as key="value" whose value holds no whitespace,
# "=", quote or backslash, closed before a space or the line end. Split on spaces, each token of such a
# line is what kv_fields reads: key=value, or key= followed by its quoted part (no key hides in a quote).
_FORTI_PLAIN = r'^(?:[^"=\t-\r\x1c-\x1f]|=(?:"[^"=\\\t-\r\x1c-\x1f ]*"(?: |$))?)*$'
_FORTI_KEYS_EQ = pa.array([k + "=" for k in _FORTI_KEY_LIST], pa.string())


def _forti_fields_plain(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray, pa.BooleanArray]:
    """kv_fields on plain lines (_FORTI_PLAIN): split on spaces once, keys looked up in a hash set.

    Several times cheaper than one RE2 search per key over the whole line. Returns the values, the
    mask of rows decided, and the rows where a wanted key comes twice (left to _forti_fields_rx).
    """
    n = len(sub)
    toks = pc.split_pattern(sub, " ")
    flat = toks.flatten()
    eq = pc.find_substring(flat, "=")  # -1 without "=": an empty head, never a key
    halves = cut_at(flat, pc.add(eq, 1))  # "key=" and its value
    kid = pc.index_in(halves, value_set=_FORTI_KEYS_EQ)
    pos = where(pc.is_valid(kid))
    pos = pos.filter(pc.equal(pc.bit_wise_and(pos, 1), 0))  # heads only (a value may read "srcip=")
    rows = pc.list_parent_indices(toks).take(pc.shift_right(pos, 1))
    code = pc.add(pc.multiply(pc.cast(kid.take(pos), pa.int64()), n), rows)  # key-major (key, row) slots
    raw = halves.take(pc.add(pos, 1))
    val = pc.ascii_trim(raw, '"')  # a plain line's value is "..." or has no quote at all
    m = len(code)
    slot = pc.scatter(arange(m), code, max_index=len(_FORTI_KEY_LIST) * n - 1)  # the token in each slot
    twice = pc.not_equal(slot.take(code), arange(m))  # a slot written twice: first occurrence unknown
    redo = pa.repeat(pa.scalar(False), n)
    if pc.any(twice).as_py():
        redo = pc.is_in(arange(n), value_set=rows.filter(twice))
    vals = val.take(slot)
    empty = truth(pc.equal(raw, "")).take(slot)  # "key=" with nothing after it: kv_fields's endswith rule
    out: dict[str, pa.Array] = {}
    bad = redo
    for j, name in enumerate(_FORTI_KEY_LIST):
        out[name] = vals.slice(j * n, n)
        bad = pc.or_(bad, truth(empty.slice(j * n, n)))
    return out, pc.invert(bad), redo


def _forti_fields(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """kv_fields on a column: plain lines split into tokens, the others searched key by key."""
    plain = has(sub, _FORTI_PLAIN)
    if not pc.any(plain).as_py():
        return _forti_fields_rx(sub)
    pidx = where(plain)
    fp, okp, redo = _forti_fields_plain(sub if len(pidx) == len(sub) else sub.take(pidx))
    if len(pidx) == len(sub) and not pc.any(redo).as_py():
        return fp, okp
    keep = pc.invert(redo)
    pidx, okp = pidx.filter(keep), okp.filter(keep)
    oidx = where(pc.invert(spread(plain, keep)))
    fo, oko = _forti_fields_rx(sub.take(oidx))
    order = pc.array_sort_indices(pa.concat_arrays([pidx, oidx]))
    out = {k: pa.concat_arrays([fp[k].filter(keep), fo[k]]).take(order) for k in fp}
    return out, pa.concat_arrays([okp, oko]).take(order)


def fortigate_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_fortigate on a column."""
    n = len(sub)
    f, ok = _forti_fields(sub)
    ok = all_true(ok, pc.equal(f["type"], "traffic"), pc.is_valid(f["srcip"]))
    proto, bad_p = per_unique(f["proto"], norm_proto, pa.string())
    ports = truth(pc.is_in(proto, value_set=pa.array(sorted(PORT_PROTOS))))
    none_i = pa.scalar(None, pa.int32())
    (src, bad1), (dst, bad3) = ip_columns(f["srcip"], f["dstip"])
    sport, bad2 = port_column(f["srcport"])
    dport, bad4 = port_column(f["dstport"])
    nat, bad5 = ip_column(f["transip"])
    nport, bad6 = port_column(f["transport"])
    user = pc.coalesce(
        per_unique(f["user"], norm_user, pa.string())[0],
        per_unique(f["unauthuser"], norm_user, pa.string())[0],
    )
    mac, bad7 = per_unique(f["srcmac"], norm_mac, pa.string())
    action, bad8 = per_unique(f["action"], lambda v: action_word(v, _FORTI_ACTIONS), pa.string())
    sent, bad9 = count_column(f["sentbyte"])
    rcvd, bad10 = count_column(f["rcvdbyte"])
    nbytes = pc.if_else(
        any_true(pc.is_valid(sent), pc.is_valid(rcvd)),
        pc.add(pc.fill_null(sent, 0), pc.fill_null(rcvd, 0)),
        pa.scalar(None, pa.int64()),
    )
    sid = f["sessionid"]
    sid = pc.if_else(has(sid, r"^[\x20-\x7e]{1,128}$"), sid, pa.scalar(None, pa.string()))
    bad = any_true(bad_p, bad1, bad3, bad5, bad7, bad8, bad9, bad10, all_true(ports, any_true(bad2, bad4, bad6)))
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
    return cols, all_true(ok, pc.invert(bad))


FORMAT = Format(
    name="fortigate",
    guard=_guard_fortigate,
    extract=extract_fortigate,
    needles=("srcip=", "traffic"),
    columns=fortigate_columns,
    header_dialect="fortigate",
)
