"""Linux netfilter LOG/NFLOG lines (iptables, nftables, ufw, firewalld, shorewall)."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import (
    NS,
    SP,
    all_true,
    any_true,
    arange,
    ascii_drop,
    ascii_slice,
    cut_at,
    grp,
    has,
    has_where,
    ip_columns,
    list_item,
    list_items,
    per_unique,
    port_column,
    truth,
)
from vigie.pipelines.archive.formats.values import (
    PORT_PROTOS,
    Conn,
    conn_row,
    norm_mac,
    norm_proto,
    prefix_action,
    valid_ip,
    valid_port,
)

_NF_LINE = re.compile(
    r"(?<![A-Za-z0-9_])IN=\S* OUT=\S* (?:PHYS\S+ )*(?:MAC=(?P<mac>\S*) )?SRC=(?P<src>\S+) DST=(?P<dst>\S+) "
    r"[^\[]{0,256}?PROTO=(?P<proto>\S+)(?: SPT=(?P<spt>\d+) DPT=(?P<dpt>\d+))?"
)
# MAC= is the link-layer header the kernel received, in hex: destination (6 bytes), source (6), EtherType (2)
# ("dd:dd:dd:dd:dd:dd:ss:ss:ss:ss:ss:ss:08:00", 41 characters); on a VLAN interface whose NIC does not strip
# the tag, 18 bytes: the 802.1Q/802.1ad tag (81:00 or 88:a8 and two bytes of TCI) before the EtherType. Any
# other length (ppp, tunnels: empty or another header) carries no Ethernet source.
_VLAN_TPIDS = frozenset({"81:00", "88:a8"})
_KERNEL_TS = re.compile(r"^\s*\[\s*\d+\.\d+\]\s*")
_RFC5424_HEAD = re.compile(r"^(?:<\d{1,3}>)?\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|\[.*?\])\s?")
_BSD_HEAD = re.compile(r"^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: ")


def _log_prefix(left: str) -> str:
    """The admin's log prefix: what stands between the syslog header/tag and the log fields."""
    pos = left.rfind("kernel: ")
    if pos >= 0:
        left = left[pos + 8 :]
    elif (pos := left.find("]: ")) >= 0:
        left = left[pos + 3 :]
    else:
        left = _RFC5424_HEAD.sub("", left, count=1)
        left = _BSD_HEAD.sub("", left, count=1)
    return _KERNEL_TS.sub("", left)


def extract_netfilter(text: str) -> Conn | None:
    """Linux netfilter LOG/NFLOG lines (iptables, nftables, ufw, firewalld, shorewall)."""
    m = _NF_LINE.search(text)  # `[^[]` keeps the packet quoted by an ICMP error out of the match
    if m is None:
        return None
    mac = None
    raw_mac = m["mac"]
    if raw_mac and (len(raw_mac) == 41 or (len(raw_mac) == 53 and raw_mac[36:41] in _VLAN_TPIDS)):
        mac = norm_mac(raw_mac[18:35])  # the source: bytes 7-12
    proto = norm_proto(m["proto"])
    ports = proto in PORT_PROTOS
    return conn_row(
        "netfilter",
        src_ip=valid_ip(m["src"]),
        src_port=valid_port(m["spt"]) if ports else None,
        dst_ip=valid_ip(m["dst"]),
        dst_port=valid_port(m["dpt"]) if ports else None,
        protocol=proto,
        mac=mac,
        action=prefix_action(_log_prefix(text[: m.start()])),
    )


def _guard_netfilter(t: str) -> bool:
    return "SRC=" in t and "PROTO=" in t


# --------------------------------------------------------------------------- column-wise


# Anchored just after the first "IN=" (the text before it is cut off separately). The head up to DST is
# deterministic; _NF_LINE's lazy `[^[]{0,256}?PROTO=` is the first "PROTO=" after it, found by a search
# whose position is checked (after the head, within 256, no "[" before it): RE2 is slow on that repeat.
_NF_HEAD = (
    rf"^(?P<head>{NS}* OUT={NS}* (?:PHYS{NS}+ )*(?:MAC=(?P<mac>{NS}*) )?"
    rf"SRC=(?P<src>{NS}+) DST=(?P<dst>{NS}+) )"
)
_NF_PROTO = rf"PROTO=(?P<proto>{NS}+)(?: SPT=(?P<spt>[0-9]+) DPT=(?P<dpt>[0-9]+))?"
_KERNEL_TS_RE2 = rf"^{SP}*\[{SP}*[0-9]+\.[0-9]+\]{SP}*"


# The usual form of the text after "IN=", cut at the first "PROTO=": the head "IN OUT=.. MAC=.. SRC=..
# DST=.. " (MAC given, no PHYS* field), no "[" up to "PROTO=", no whitespace but spaces, and the ports right
# after the protocol. Its groups are then space-separated tokens at fixed places, checked by cheap kernels
# (the capture regexes cost ~1 µs a line, even a DFA match of the head ~0.4).
_NF_GROUPS = ("mac", "src", "dst", "proto", "spt", "dpt")


_KERNEL_TS_HEAD = rf"^{SP}*\[{SP}*[0-9]+\.[0-9]+$"  # _KERNEL_TS_RE2 up to its "]" (the first of the line)


def _strip_kernel_ts(tail: pa.Array) -> pa.Array:
    """replace_substring_regex(tail, _KERNEL_TS_RE2, "", max_replacements=1), cut at the first "]" instead
    (the replace kernel costs ~0.3 µs a line, a match on the short head a third of that)."""
    parts = pc.split_pattern(tail, "]", max_splits=1)
    head, rest = list_items(parts, (0, 1), 2)
    ts = has(head, _KERNEL_TS_HEAD)
    return pc.if_else(ts, pc.utf8_ltrim(rest, characters=" \t\n\v\f\r\x1c\x1d\x1e\x1f"), tail)


def _nf_groups_rx(post: pa.StringArray, at: pa.Array) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_NF_HEAD's and _NF_PROTO's groups, and whether they match where _NF_LINE does."""
    h = pc.extract_regex(post, _NF_HEAD)
    m = pc.extract_regex(post, _NF_PROTO)
    head_len = pc.utf8_length(grp(h, "head"))
    bracket = pc.find_substring_regex(post, r"\[")  # RE2: several times faster than Arrow's literal search
    ok = all_true(
        pc.is_valid(h),
        pc.is_valid(m),
        pc.greater_equal(at, head_len),
        pc.less_equal(pc.subtract(at, head_len), 256),
        any_true(pc.equal(bracket, -1), pc.greater(bracket, at)),
    )
    g = {k: grp(h, k) for k in ("mac", "src", "dst")}
    g.update({k: grp(m, k) for k in ("proto", "spt", "dpt")})
    return g, ok


def _nf_groups(post: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_nf_groups_rx, lines in the usual form read as tokens."""
    n = len(post)
    at = pc.find_substring_regex(post, f"PROTO={NS}")
    cut = cut_at(post, pc.max_element_wise(at, 0))
    ar = arange(n)
    head = cut.take(pc.multiply(ar, 2))
    tail = cut.take(pc.add(pc.multiply(ar, 2), 1))
    h = pc.split_pattern(head, " ", max_splits=5)
    t = pc.split_pattern(tail, " ", max_splits=3)
    hk = list_items(h, range(6), 6)
    tk = list_items(t, range(3), 3)
    g = {
        "mac": ascii_drop(hk[2], 4),
        "src": ascii_drop(hk[3], 4),
        "dst": ascii_drop(hk[4], 4),
        "proto": ascii_drop(tk[0], 6),
        "spt": ascii_drop(tk[1], 4),
        "dpt": ascii_drop(tk[2], 4),
    }
    plain = all_true(
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
    plain = pc.and_(plain, pc.invert(has_where(head, plain, r"\[", dense=0.5)))
    k = pc.sum(plain).as_py() or 0
    if k == 0:
        return _nf_groups_rx(post, at)
    head_len = pc.subtract(pc.binary_length(head), pc.binary_length(hk[5]))
    ok = all_true(plain, pc.less_equal(pc.subtract(at, head_len), 256))
    if k == n:
        return g, ok
    other = pc.invert(plain)
    go, oko = _nf_groups_rx(post.filter(other), at.filter(other))
    return {key: pc.replace_with_mask(g[key], other, go[key]) for key in _NF_GROUPS}, pc.replace_with_mask(
        ok, other, oko
    )


def netfilter_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_netfilter on a column, for rows whose first "IN=" (after a non-word character) starts the match."""
    halves = pc.split_pattern(sub, "IN=", max_splits=1)
    pre, post = list_items(halves, (0, 1), 2, "")
    g, ok = _nf_groups(post)
    last = ascii_slice(pre, -1)  # [A-Za-z0-9_]$ without RE2
    ok = all_true(ok, pc.invert(any_true(pc.ascii_is_alnum(last), pc.equal(last, "_"))))
    proto, bad_p = per_unique(g["proto"], norm_proto, pa.string())
    ports = truth(pc.is_in(proto, value_set=pa.array(sorted(PORT_PROTOS))))
    (src, bad_s), (dst, bad_d) = ip_columns(g["src"], g["dst"])
    spt, bad_sp = port_column(g["spt"])
    dpt, bad_dp = port_column(g["dpt"])
    raw_mac = g["mac"]
    mac_len = pc.binary_length(raw_mac)  # ASCII rows: bytes are characters
    tagged = all_true(
        pc.equal(mac_len, 53),
        pc.is_in(ascii_slice(raw_mac, 36, 41), value_set=pa.array(sorted(_VLAN_TPIDS), pa.string())),
    )
    mac_part = pc.if_else(
        any_true(pc.equal(mac_len, 41), tagged),
        pc.binary_slice(raw_mac.cast(pa.binary()), 18, 35).cast(pa.string()),
        pa.scalar(None, pa.string()),
    )
    mac, bad_m = per_unique(mac_part, norm_mac, pa.string())
    # _log_prefix: after the last "kernel: " (kernel clock removed), else the generic header stripping.
    cut = pc.split_pattern(pre, "kernel: ", max_splits=1, reverse=True)
    tail = list_item(cut, 1, 2)
    tail = _strip_kernel_ts(tail)
    act_k, bad_ak = per_unique(tail, lambda v: prefix_action(v) if v is not None else None, pa.string())
    other = pc.if_else(pc.is_valid(tail), pa.scalar(None, pa.string()), pre)
    act_o, bad_ao = per_unique(
        other, lambda v: prefix_action(_log_prefix(v)) if v is not None else None, pa.string()
    )
    action = pc.if_else(pc.is_valid(tail), act_k, act_o)
    bad = any_true(bad_p, bad_s, bad_d, all_true(ports, any_true(bad_sp, bad_dp)), bad_m, bad_ak, bad_ao)
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
    return cols, all_true(ok, pc.invert(bad))


FORMAT = Format(
    name="netfilter",
    guard=_guard_netfilter,
    extract=extract_netfilter,
    needles=("SRC=", "PROTO="),
    columns=netfilter_columns,
    apps=("kernel",),
)
