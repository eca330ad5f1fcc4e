"""Squid access.log lines: the native "squid" logformat, and the "common" and "combined" ones Squid defines.

squid.conf (Squid 4 to 6, logformat directive) defines them as:
  squid     %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt
  common    %>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st %Ss:%Sh
  combined  %>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st "%{Referer}>h" "%{User-Agent}>h" %Ss:%Sh
and sites that log the client port write %>a/%>p or %>a:%>p where %>a stands.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import (
    CANON4,
    NS,
    SP,
    all_true,
    any_true,
    arange,
    count_column,
    cut_at,
    grp,
    has,
    list_item,
    list_starts,
    merge_rows,
    per_unique,
    soft_ip_column,
    split_once,
    truth,
)
from vigie.pipelines.archive.formats.values import (
    Conn,
    conn_row,
    norm_user,
    soft_ip,
    valid_count,
    valid_ip,
    valid_port,
)

_SQUID = re.compile(
    r"(?:^|\s)\d{9,10}\.\d{3}\s+-?\d+\s+(?P<client>\S+)\s+(?P<code>[A-Z_]+)/(?P<status>\d{3})\s+"
    r"(?P<bytes>\d+)\s+(?P<method>[A-Za-z_-]+)\s+(?P<url>\S+)\s+(?P<user>\S+)\s+"
    r"(?P<hier>[A-Z_]+)/(?P<peer>\S+)"
)
# common / combined: what follows %>Hs %<st is the optional Referer and User-Agent, then %Ss:%Sh ending the line.
_SQUID_HTTPD = re.compile(
    r"(?:^|\s)(?P<client>[0-9A-Fa-f:.]*[0-9A-Fa-f](?:/\d{1,5})?) (?P<ident>\S+) (?P<user>\S+) \[[^\]]{1,64}\] "
    r'"(?P<method>[A-Za-z_-]+) (?P<url>\S+)(?: HTTP/[\d.]+)?" (?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")? (?P<code>[A-Z_]+):(?P<hier>[A-Z_]+)\s*$'
)
_SQUID_DIRECT = frozenset({"HIER_DIRECT", "DIRECT", "ORIGINAL_DST", "PINNED"})
_SCHEME_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}


def _url_host_port(url: str, method: str) -> tuple[str | None, int | None]:
    """Host and port of a squid URL (absolute URL, or host:port for CONNECT)."""
    scheme = None
    if "://" in url:
        scheme, _, rest = url.partition("://")
        hostport = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    elif method.upper() == "CONNECT":
        hostport = url
    else:
        return None, None
    host, port = hostport, None
    if hostport.startswith("["):
        end = hostport.find("]")
        host = hostport[1:end] if end > 0 else None
        if end > 0 and hostport[end + 1 : end + 2] == ":":
            port = hostport[end + 2 :]
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if port is not None:
        return host, valid_port(port)
    return host, _SCHEME_PORTS.get((scheme or "").lower())


def _client(value: str) -> tuple[str | None, int | None]:
    """%>a, or %>a/%>p or %>a:%>p (IPv4) as sites that log the client port write it."""
    addr, sep, port = value.partition("/")
    if not sep and value.count(":") == 1 and "." in value:
        addr, sep, port = value.partition(":")
    return valid_ip(addr), valid_port(port) if sep else None


def extract_squid(text: str) -> Conn | None:
    """Squid access.log lines; destination from a direct peer address or an IP-literal URL."""
    m = _SQUID.search(text)
    peer = None
    if m is None:
        m = _SQUID_HTTPD.search(text)
        if m is None:
            return None
    elif m["hier"] in _SQUID_DIRECT:
        peer = soft_ip(m["peer"])  # old squids log a host name
    client, client_port = _client(m["client"])
    if client is None:
        return None
    host, port = _url_host_port(m["url"], m["method"])
    dst = peer
    if dst is None and host:
        dst = soft_ip(host)
    code = m["code"]
    if "DENIED" in code:
        action = "deny"
    elif code.startswith(("NONE", "TAG_NONE")) and m["status"] in ("000", "400", "403", "407", "503"):
        action = None
    else:
        action = "allow"
    return conn_row(
        "squid",
        src_ip=client,
        src_port=client_port,
        dst_ip=dst,
        dst_port=port,
        protocol="udp" if code.startswith("UDP_") else "tcp",
        user=norm_user(m["user"]),
        action=action,
        bytes=valid_count(m["bytes"]),
    )


_SQUID_CODES = "TCP_|NONE|UDP_"  # the first half of _guard_squid, in RE2


def _guard_squid(t: str) -> bool:
    return ("TCP_" in t or "NONE" in t or "UDP_" in t) and "/" in t


# --------------------------------------------------------------------------- column-wise


_SQUID_RE2 = (
    rf"(?:^|{SP})[0-9]{{9,10}}\.[0-9]{{3}}{SP}+-?[0-9]+{SP}+(?P<client>{NS}+){SP}+"
    rf"(?P<code>[A-Z_]+)/(?P<status>[0-9]{{3}}){SP}+(?P<bytes>[0-9]+){SP}+(?P<method>[A-Za-z_-]+){SP}+"
    rf"(?P<url>{NS}+){SP}+(?P<user>{NS}+){SP}+(?P<hier>[A-Z_]+)/(?P<peer>{NS}+)"
)


# Where _SQUID_RE2's leftmost match can start (the start of its leftmost match when it matches there: a
# line whose _SQUID_RE2 match starts later fails _SQUID_PLAIN there and takes the capture regex), found by a
# DFA search several times cheaper than one for the whole of _SQUID_RE2; and the form of a line from there on
# whose fields are single-space-separated tokens at fixed places (the peer ending at a space or the end).
_SQUID_AT = rf"(?:^|{SP})[0-9]{{9,10}}\.[0-9]{{3}}{SP}"
_SQUID_PLAIN = (
    rf"^ ?[0-9]{{9,10}}\.[0-9]{{3}} -?[0-9]+ {NS}+ [A-Z_]+/[0-9]{{3}} [0-9]+ [A-Za-z_-]+ {NS}+ {NS}+ "
    rf"[A-Z_]+/{NS}+(?: |$)"
)


def squid_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_squid on a column: plain lines read as tokens (the capture regex costs ~6 µs a line)."""
    n = len(sub)
    at = pc.find_substring_regex(sub, _SQUID_AT)  # -1: no _SQUID_RE2 match
    tail = cut_at(sub, pc.max_element_wise(at, 0)).take(pc.add(pc.multiply(arange(n), 2), 1))
    mask = all_true(pc.greater_equal(at, 0), has(tail, _SQUID_PLAIN))
    k = pc.sum(mask).as_py() or 0
    if k == 0:
        return _squid_rx(sub)
    if k == n:
        return _squid_plain(tail)
    return merge_rows(mask, _squid_plain(tail.filter(mask)), _squid_rx(sub.filter(pc.invert(mask))))


def _squid_plain(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_SQUID_RE2's groups on tails in _SQUID_PLAIN's form: tokens (after the leading space, if any)."""
    n = len(tail)
    toks = pc.split_pattern(tail, " ")
    flat = toks.flatten()
    starts = pc.add(list_starts(toks), pc.cast(truth(pc.starts_with(tail, " ")), pa.int64()))
    client, cs, nbytes, method, url, user, hp = (flat.take(pc.add(starts, i)) for i in (2, 3, 4, 5, 6, 7, 8))
    code, status = split_once(cs, "/")
    hier, peer = split_once(hp, "/")
    g = {"client": client, "code": code, "status": status, "bytes": nbytes, "method": method, "url": url}
    g.update({"user": user, "hier": hier, "peer": peer})
    return _squid_cols(g.__getitem__, n, pa.repeat(pa.scalar(True), n))


def _squid_rx(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(sub, _SQUID_RE2)
    return _squid_cols(partial(grp, m), len(sub), pc.is_valid(m))


_SCHEME_PORT_KEYS = pa.array(list(_SCHEME_PORTS), pa.string())
_SCHEME_PORT_VALUES = pa.array(list(_SCHEME_PORTS.values()), pa.int32())


_CLIENT_TYPE = pa.struct([("ip", pa.string()), ("port", pa.int32())])


def _client_column(arr: pa.Array) -> tuple[pa.Array, pa.Array, pa.BooleanArray]:
    """_client on a column: (ip, port, refused); a canonical IPv4 (the bulk) is kept as is, every other value
    (IPv6, a client port appended) goes through _client once per distinct value."""
    canon = has(arr, rf"^{CANON4}$")
    if arr.null_count == 0 and pc.all(canon).as_py():
        return arr, pa.nulls(len(arr), pa.int32()), pc.invert(canon)
    others = pc.if_else(canon, pa.scalar(None, pa.string()), arr)
    vals, bad = per_unique(
        others, lambda v: dict(zip(("ip", "port"), _client(v), strict=True)) if v is not None else None, _CLIENT_TYPE
    )
    ip = pc.if_else(canon, arr, pc.struct_field(vals, "ip"))
    return ip, pc.struct_field(vals, "port"), all_true(bad, pc.invert(canon))


def _squid_cols(
    f: Callable[[str], pa.Array], n: int, matched: pa.Array
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_squid's columns from _SQUID_RE2's groups (f: group name -> column)."""
    client, client_port, bad_c = _client_column(f("client"))
    # _url_host_port reads a "scheme://" URL up to the first / or ? (whatever the method), a CONNECT
    # target whole, and nothing else: the key below keeps exactly that, so the calls are per distinct key.
    url = f("url")
    scheme, rest = split_once(url, "://")  # null without "://"
    hostport = list_item(pc.split_pattern(list_item(pc.split_pattern(rest, "/", max_splits=1), 0, 1), "?", max_splits=1), 0, 1)
    connect = truth(pc.equal(pc.utf8_upper(f("method")), "CONNECT"))
    plain_hp = all_true(pc.is_valid(rest), pc.invert(has(hostport, r"[\[:@]")))
    key = pc.if_else(
        pc.is_valid(rest),
        pc.binary_join_element_wise(scheme, hostport, "://"),
        pc.if_else(connect, url, pa.scalar(None, pa.string())),
    )
    key = pc.if_else(plain_hp, pa.scalar(None, pa.string()), key)
    hp, bad_h = per_unique(
        key,
        lambda v: dict(zip(("h", "p"), _url_host_port(v, "CONNECT"), strict=True)) if v else None,
        pa.struct([("h", pa.string()), ("p", pa.int32())]),
    )
    # A host without "[", ":" or "@" (the bulk, and often one per line) is read here: the host as is, the
    # scheme's port; only the other keys take _url_host_port.
    host = pc.if_else(plain_hp, hostport, pc.struct_field(hp, "h"))
    scheme_port = _SCHEME_PORT_VALUES.take(pc.index_in(pc.utf8_lower(scheme), value_set=_SCHEME_PORT_KEYS))
    port = pc.if_else(plain_hp, scheme_port, pc.struct_field(hp, "p"))
    bad_p = bad_h
    direct = truth(pc.is_in(f("hier"), value_set=pa.array(sorted(_SQUID_DIRECT))))
    dst = pc.coalesce(pc.if_else(direct, soft_ip_column(f("peer")), pa.scalar(None, pa.string())), soft_ip_column(host))
    code = f("code")
    quiet = all_true(
        any_true(pc.starts_with(code, "NONE"), pc.starts_with(code, "TAG_NONE")),
        pc.is_in(f("status"), value_set=pa.array(["000", "400", "403", "407", "503"])),
    )
    action = pc.if_else(
        truth(pc.match_substring(code, "DENIED")),
        pa.scalar("deny"),
        pc.if_else(quiet, pa.scalar(None, pa.string()), pa.scalar("allow")),
    )
    nbytes, bad_b = count_column(f("bytes"))
    cols = {
        "conn_format": pa.repeat(pa.scalar("squid"), n),
        "src_ip": client,
        "src_port": client_port,
        "dst_ip": dst,
        "dst_port": port,
        "protocol": pc.if_else(truth(pc.starts_with(code, "UDP_")), pa.scalar("udp"), pa.scalar("tcp")),
        "user": per_unique(f("user"), norm_user, pa.string())[0],
        "action": action,
        "bytes": nbytes,
    }
    ok = all_true(matched, pc.is_valid(client), pc.invert(any_true(bad_c, bad_h, bad_p, bad_b)))
    return cols, ok


FORMAT = Format(
    name="squid",
    guard=_guard_squid,
    extract=extract_squid,
    needles=(_SQUID_CODES, "/"),
    columns=squid_columns,
    apps=("squid",),
    lane_checks=(_SQUID_CODES,),  # _SQUID matches result codes of any name ("/" it holds)
)
