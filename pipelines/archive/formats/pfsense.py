"""pfSense / OPNsense filterlog CSV lines."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import (
    NS,
    WS,
    all_true,
    any_true,
    grp,
    has,
    ip_columns,
    list_items,
    per_unique,
    port_column,
    truth,
)
from vigie.pipelines.archive.formats.values import (
    PORT_PROTOS,
    Conn,
    action_word,
    conn_row,
    norm_proto,
    valid_ip,
    valid_port,
)

_FILTERLOG = re.compile(r"(?:^|[\s:])(\d*,\d*,[^,\s]*,[^,\s]*,[^,\s]+,[a-z-]+,[a-z-]+,(?:in|out),[46],\S+)")
_PF_ACTIONS = {"pass": "allow", "block": "deny", "reject": "deny"}


def extract_pfsense(text: str) -> Conn | None:
    """pfSense/OPNsense filterlog CSV, IPv4 and IPv6, with ports for TCP/UDP/SCTP."""
    m = _FILTERLOG.search(text)
    if m is None:
        return None
    f = m[1].split(",")
    if f[8] == "4":
        if len(f) < 20:
            return None
        proto, src, dst, rest = f[16], f[18], f[19], 20
        if not proto:
            proto = f[15]
    else:
        if len(f) < 17:
            return None
        proto, src, dst, rest = f[12], f[15], f[16], 17
        if not proto:
            proto = f[13]
    proto_name = norm_proto(proto)
    ports = proto_name in PORT_PROTOS and len(f) > rest + 1
    return conn_row(
        "pfsense",
        src_ip=valid_ip(src),
        src_port=valid_port(f[rest]) if ports else None,
        dst_ip=valid_ip(dst),
        dst_port=valid_port(f[rest + 1]) if ports else None,
        protocol=proto_name,
        action=action_word(f[6], _PF_ACTIONS),
    )


def _guard_pfsense(t: str) -> bool:
    return ",in,4," in t or ",in,6," in t or ",out,4," in t or ",out,6," in t


# --------------------------------------------------------------------------- column-wise


_FILTERLOG_RE2 = rf"(?:^|[{WS}:])(?P<f>[0-9]*,[0-9]*,[^,{WS}]*,[^,{WS}]*,[^,{WS}]+,[a-z-]+,[a-z-]+,(?:in|out),[46],{NS}+)"


_FILTERLOG_AT = _FILTERLOG_RE2.replace("(?P<f>", "(?:")
_FILTERLOG_TOKEN = "^" + _FILTERLOG_RE2.split("(?P<f>", 1)[1][:-1] + "$"


def _filterlog_blob(sub: pa.StringArray) -> pa.Array:
    r"""_FILTERLOG_RE2's group, without its capture regex (~1.3 µs a line) on lines whose last space-separated
    token is the whole group: the group is a run without whitespace ([^,\s], [a-z-], \S+), so no match
    starts before that token when the text before it holds none (a DFA match on a short head), and the
    group is that token when it matches _FILTERLOG_TOKEN (no other whitespace in it). Others: the regex."""
    halves = pc.split_pattern(sub, " ", max_splits=1, reverse=True)
    head, last = list_items(halves, (0, 1), 2)
    usual = all_true(
        pc.ascii_is_printable(last), has(last, _FILTERLOG_TOKEN), pc.invert(has(head, _FILTERLOG_AT))
    )
    blob = pc.if_else(usual, last, pa.scalar(None, pa.string()))
    other = pc.invert(usual)
    if pc.any(other).as_py():
        rx = grp(pc.extract_regex(sub.filter(other), _FILTERLOG_RE2), "f")
        blob = pc.replace_with_mask(blob, other, rx)
    return blob


def pfsense_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
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
    v4 = all_true(found, is4, pc.greater_equal(length, 20))
    v6 = all_true(found, pc.invert(truth(is4)), pc.greater_equal(length, 17))
    ok = any_true(v4, v6)

    ok_starts = pc.if_else(ok, starts, pa.scalar(None, pa.int64()))
    v4i = pc.cast(v4, pa.int64())

    def at(i4: int, i6: int) -> pa.Array:
        """Field i4 of IPv4 rows, i6 of IPv6 rows, null elsewhere or past the row's last field."""
        off = pc.add(pc.multiply(v4i, i4 - i6), i6) if i4 != i6 else pa.scalar(i4, pa.int64())
        pos = pc.if_else(pc.greater(length, off), pc.add(ok_starts, off), pa.scalar(None, pa.int64()))
        return values.take(pos)

    proto_raw = at(16, 12)
    proto_raw = pc.if_else(truth(pc.equal(proto_raw, "")), at(15, 13), proto_raw)
    proto, bad_p = per_unique(proto_raw, norm_proto, pa.string())
    rest = pc.if_else(v4, pa.scalar(20, pa.int32()), pa.scalar(17, pa.int32()))
    ports = all_true(
        pc.is_in(proto, value_set=pa.array(sorted(PORT_PROTOS))), pc.greater(length, pc.add(rest, 1))
    )
    (src, bad_s), (dst, bad_d) = ip_columns(at(18, 15), at(19, 16))
    sport, bad_sp = port_column(pc.if_else(ports, at(20, 17), none_s))
    dport, bad_dp = port_column(pc.if_else(ports, at(21, 18), none_s))
    action, bad_a = per_unique(
        at(6, 6), lambda v: action_word(v, _PF_ACTIONS) if v is not None else None, pa.string()
    )
    bad = any_true(bad_p, bad_s, bad_d, bad_sp, bad_dp, bad_a)
    cols = {
        "conn_format": pa.repeat(pa.scalar("pfsense"), n),
        "src_ip": src,
        "src_port": sport,
        "dst_ip": dst,
        "dst_port": dport,
        "protocol": proto,
        "action": action,
    }
    return cols, all_true(ok, pc.invert(bad))


FORMAT = Format(
    name="pfsense",
    guard=_guard_pfsense,
    extract=extract_pfsense,
    needles=(r",(?:in|out),[46],",),
    columns=pfsense_columns,
    apps=("filterlog",),
)
