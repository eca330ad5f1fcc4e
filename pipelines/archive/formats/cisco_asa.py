"""Cisco ASA / FTD (and PIX, FWSM): connection, translation, ACL, AAA and VPN messages chosen by message id.

About 600 lines, kept whole as every format is: the row-wise extractor reads the connection (302xxx) and
translation (305xxx) messages here and the other ids in asa_messages.py, and its column-wise twin reads the
connection and translation messages (the bulk of a firewall's log) in their usual form as tokens, without
capture regexes; every other ASA message takes the row-wise code.

Direction, from Cisco's "Cisco Secure Firewall ASA Series Syslog Messages" guide: the connection messages
write the two ends in a fixed order, the lower-security ("outside", foreign) end after "for" and the
higher-security ("inside", local) end after "to", whoever started the connection; the Built message's
direction word tells who did: "If inbound is specified, the original control connection was initiated from
the outside [...] If outbound is specified, the original control connection was initiated from the inside."
So `outbound` => the source is the `to` end and the destination the `for` end; `inbound` => the source is
the `for` end and the destination the `to` end. A user browsing out reads
"Built outbound TCP connection 1234 for outside:93.184.216.34/443 (93.184.216.34/443) to
inside:10.0.0.5/51234 (203.0.113.5/51234)": source 10.0.0.5:51234, seen outside as 203.0.113.5:51234.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.asa_messages import asa_user, extract_other
from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import (
    CONN_TYPES,
    SP,
    WS,
    all_true,
    any_true,
    as_type,
    ascii_slice,
    count_column,
    grp,
    ip_column,
    ip_columns,
    list_item,
    null_column,
    per_unique,
    pick,
    plain_or_rx,
    port_column,
    split_once,
    tokens_at,
    truth,
    where,
)
from vigie.pipelines.archive.formats.values import (
    ADDR,
    CONN_COLUMNS,
    PORT_PROTOS,
    Conn,
    conn_row,
    norm_proto,
    norm_user,
    valid_count,
    valid_ip,
    valid_port,
)

_ASA_ID = re.compile(r"%(?:ASA|FTD|PIX|FWSM)-(?:[A-Za-z]+-)?\d-(\d{6}):?\s*")


def _asa_ep(n: str, mapped: bool = True) -> str:
    """One `iface:ip/port (mip/mport) (idfw user)` endpoint of an ASA message, groups prefixed n."""
    ep = rf"(?P<{n}if>[^\s:]+):(?P<{n}ip>{ADDR})/(?P<{n}port>\d+)"
    if mapped:
        ep += rf" \((?P<{n}mip>{ADDR})/(?P<{n}mport>\d+)\)"
    return ep + rf"(?:\s?\((?P<{n}user>[^()]*)\))?"


# 302013: "Built {inbound|outbound} TCP connection_id for interface:real-address/real-port
# (mapped-address/mapped-port) [(idfw_user)] to interface:real-address/real-port (mapped-address/mapped-port)
# [(idfw_user)] [(user)]"; 302015: "Built {inbound|outbound} UDP connection number for
# interface_name:real_address/real_port (mapped_address/mapped_port) [(idfw_user)] to
# interface_name:real_address/real_port (mapped_address/mapped_port)[(idfw_user)] [(user)]": initiator as the
# module docstring says (inbound: the "for" end; outbound: the "to" end); "(user)" is the AAA user of the
# connection (cut-through proxy), who started it; an idfw_user names whoever is logged on at that end.
_ASA_BUILT = re.compile(
    r"Built (?P<dir>inbound|outbound) (?:Probe )?(?P<proto>TCP|UDP|SCTP) connection (?P<id>\d+) "
    rf"for {_asa_ep('a')} to {_asa_ep('b')}(?:\s+\((?P<user>[^()]*)\))?"
)
# 302014: "Teardown TCP connection id for interface:real-address/real-port [(idfw_user)] to
# interface:real-address/real-port [(idfw_user)] duration hh:mm:ss bytes bytes [reason] [(user)]"; 302016:
# "Teardown UDP connection number for interface:real-address/real-port [(idfw_user)] to
# interface:real-address/real-port [(idfw_user)] duration hh:mm:ss bytes bytes [(user)]": the ends in the
# Built message's order ("for" the outside end, "to" the inside one) but no direction word: see
# _teardown_inbound.
_ASA_TEARDOWN = re.compile(
    r"Teardown (?P<proto>TCP|UDP|SCTP) connection (?P<id>\d+) "
    rf"for {_asa_ep('a', False)} to {_asa_ep('b', False)} "
    r"duration (?P<dur>[\d:]+) bytes (?P<bytes>\d+)(?P<rest>.*)"
)
# 302020: "Built {in | out}bound ICMP connection for faddr {faddr | icmp_seq_num} [(idfw_user)] gaddr {gaddr |
# cmp_type} laddr laddr [(idfw_user)] type {type} code {code}"; 302021: "Teardown ICMP connection for faddr
# {faddr | icmp_seq_num} [(idfw_user)] gaddr {gaddr | cmp_type} laddr laddr [(idfw_user)] type {type} code
# {code}": faddr is the foreign (outside) host, laddr the local (inside) one, gaddr laddr's mapped (global)
# address; inbound: faddr started it, outbound: laddr did. The number after each address is, as the ASA
# keeps ICMP flows, the echo identifier on the initiator's side and 0 on the responder's ("faddr 8.8.8.8/0
# gaddr 203.0.113.5/1 laddr 10.0.0.5/1" outbound, "faddr 198.51.100.7/1 gaddr 203.0.113.10/0 laddr
# 10.1.1.10/0" inbound). The teardown has no direction word: it is read as inbound when only faddr carries
# an identifier, as outbound (an inside host pinging out, the usual case) otherwise.
_ASA_ICMP = re.compile(
    r"(?P<ev>Built|Teardown) (?:(?P<dir>inbound|outbound) )?(?P<proto>ICMP|ICMPv6) connection "
    r"(?:(?P<id>\d+) )?for "
    rf"faddr (?P<f>{ADDR})/(?P<fid>\d+)(?:\s?\((?P<fuser>[^()]*)\))? gaddr (?P<g>{ADDR})/\d+ "
    rf"laddr (?P<l>{ADDR})/(?P<lid>\d+)(?:\s?\((?P<luser>[^()]*)\))?"
)
# 305011: "Built {static|dynamic} {TCP|UDP|ICMP} translation from interface_name:real_address/real_port
# [(idfw_user)] to interface_name:mapped_address/mapped_port"; 305012: "Teardown {static|dynamic} {TCP|UDP|ICMP}
# translation from interface_name [(acl-name)]:real_address/{real_port|real_ICMP_ID} [(idfw_user)] to
# interface_name:mapped_address/{mapped_port|mapped_ICMP_ID} duration time"; 305009: "Built {dynamic|static}
# translation from interface_name [(acl-name)]:real_address to interface_name:mapped_address"; 305010:
# "Teardown {dynamic|static} translation from interface_name:real_address to interface_name:mapped_address
# duration time": no connection, the binding of a real (inside) socket to its mapped (public) one: src is the
# real socket, nat the mapped one, no destination.
_ASA_XLATE = re.compile(
    r"(?P<ev>Built|Teardown) (?:dynamic|static) (?:(?P<proto>TCP|UDP|ICMP|SCTP) )?translation from "
    rf"(?P<aif>[^\s:(]+)(?:\([^)]*\))?\s?:(?P<aip>{ADDR})(?:/(?P<aport>\d+))?(?:\s?\((?P<auser>[^()]*)\))? "
    rf"to (?P<bif>[^\s:(]+)\s?:(?P<bip>{ADDR})(?:/(?P<bport>\d+))?"
)
def _nat(
    real_ip: str | None, real_port: int | None, mip: str | None, mport: str | None
) -> tuple[str | None, int | None]:
    """(nat_ip, nat_port) only when the mapped socket differs from the real one."""
    mapped_ip = valid_ip(mip)
    mapped_port = valid_port(mport)
    if mapped_ip is None or (mapped_ip == real_ip and mapped_port == real_port):
        return None, None
    return mapped_ip, mapped_port


EPHEMERAL = 32768  # the lowest port Linux hands out as a client port (Windows: 49152, BSD: 49152)


def _teardown_inbound(a_port: int | None, b_port: int | None) -> bool:
    """Whether a teardown (which has no direction word) is read as inbound: the outside ("for") end started it.

    The ends keep the Built message's order (outside first), so the direction is all that is missing:
    the connection is read as inbound when the inside port is a service's and the outside one a client's,
    i.e. the inside port is below 1024 and the outside one is not, or the inside port is below the
    ephemeral range and the outside one in it (a published server on a high port: 3389, 8443); otherwise
    as outbound, the usual case. session_id joins the row to its Built row, which says for certain.
    """
    if a_port is None or b_port is None or a_port < 1024:
        return False
    return b_port < 1024 or (b_port < EPHEMERAL <= a_port)


def _asa_connection(msg_id: str, body: str) -> Conn | None:
    """302013-302016: Built/Teardown TCP/UDP with direction-aware source/destination."""
    if msg_id in ("302013", "302015"):
        m = _ASA_BUILT.match(body)
        if m is None:
            return None
        s, d = ("a", "b") if m["dir"] == "inbound" else ("b", "a")  # outbound: the inside end started it
        src_ip, src_port = valid_ip(m[s + "ip"]), valid_port(m[s + "port"])
        nat_ip, nat_port = _nat(src_ip, src_port, m[s + "mip"], m[s + "mport"])
        return conn_row(
            "cisco_asa",
            src_ip=src_ip,
            src_port=src_port,
            dst_ip=valid_ip(m[d + "ip"]),
            dst_port=valid_port(m[d + "port"]),
            protocol=m["proto"].lower(),
            nat_ip=nat_ip,
            nat_port=nat_port,
            user=asa_user(m["user"], m[s + "user"]),  # the initiator's: never the responder's idfw user
            action="build",
            session_id=m["id"],
        )
    m = _ASA_TEARDOWN.match(body)
    if m is None:
        return None
    a_port, b_port = valid_port(m["aport"]), valid_port(m["bport"])
    inbound = _teardown_inbound(a_port, b_port)
    s, d = ("a", "b") if inbound else ("b", "a")
    rest = m["rest"].rstrip()
    trailing = re.search(r"\(([^()]*)\)$", rest)
    return conn_row(
        "cisco_asa",
        src_ip=valid_ip(m[s + "ip"]),
        src_port=valid_port(m[s + "port"]),
        dst_ip=valid_ip(m[d + "ip"]),
        dst_port=valid_port(m[d + "port"]),
        protocol=m["proto"].lower(),
        user=asa_user(trailing[1] if trailing else None, m[s + "user"]),
        action="teardown",
        bytes=valid_count(m["bytes"]),
        session_id=m["id"],
    )


def _asa_icmp(body: str) -> Conn | None:
    """302020/302021 ICMP: faddr foreign, gaddr mapped local, laddr real local."""
    m = _ASA_ICMP.match(body)
    if m is None:
        return None
    f, g, local = valid_ip(m["f"]), valid_ip(m["g"]), valid_ip(m["l"])
    inbound = m["dir"] == "inbound" or (m["dir"] is None and int(m["fid"]) != 0 and int(m["lid"]) == 0)
    if inbound:
        src, dst, nat, user = f, local, None, m["fuser"]
    else:
        src, dst, nat, user = local, f, (g if g != local else None), m["luser"]
    return conn_row(
        "cisco_asa",
        src_ip=src,
        dst_ip=dst,
        protocol=norm_proto(m["proto"]),
        nat_ip=nat,
        user=asa_user(user),
        action="build" if m["ev"] == "Built" else "teardown",
        session_id=m["id"],
    )


def _asa_xlate(body: str) -> Conn | None:
    """305009-305012: NAT/PAT translation built or torn down (real inside -> mapped outside)."""
    m = _ASA_XLATE.match(body)
    if m is None:
        return None
    proto = norm_proto(m["proto"]) if m["proto"] else None
    ports = proto in PORT_PROTOS
    return conn_row(
        "cisco_asa",
        src_ip=valid_ip(m["aip"]),
        src_port=valid_port(m["aport"]) if ports else None,
        protocol=proto,
        nat_ip=valid_ip(m["bip"]),
        nat_port=valid_port(m["bport"]) if ports else None,
        user=asa_user(m["auser"]),
        action="build" if m["ev"] == "Built" else "teardown",
    )


def extract_cisco_asa(text: str) -> Conn | None:
    """Cisco ASA / FTD connection, translation, ACL, AAA and VPN messages, chosen by message id."""
    head = _ASA_ID.search(text)
    if head is None:
        return None
    msg_id = head[1]
    body = text[head.end() :]
    if msg_id in ("302013", "302014", "302015", "302016"):
        return _asa_connection(msg_id, body)
    if msg_id in ("302020", "302021"):
        return _asa_icmp(body)
    if msg_id in ("305009", "305010", "305011", "305012"):
        return _asa_xlate(body)
    return extract_other(msg_id, body)


def _guard_asa(t: str) -> bool:
    return "%ASA-" in t or "%FTD-" in t or "%PIX-" in t or "%FWSM-" in t


# --------------------------------------------------------------------------- column-wise


def _asa_users(*cands: pa.Array) -> pa.Array:
    """asa_user: the first candidate whose first comma-separated part is a real user name."""
    outs = [per_unique(c, lambda v: norm_user(v.split(",")[0]) if v else None, pa.string())[0] for c in cands]
    return pc.coalesce(*outs) if len(outs) > 1 else outs[0]


def _asa_ep_re2(n: str, mapped: bool = True) -> str:
    ep = rf"[^{WS}:]+:(?P<{n}ip>{ADDR})/(?P<{n}port>[0-9]+)"  # the interface name is not kept
    if mapped:
        ep += rf" \((?P<{n}mip>{ADDR})/(?P<{n}mport>[0-9]+)\)"
    return ep + rf"(?:{SP}?\((?P<{n}user>[^()]*)\))?"


_ASA_BUILT_RE2 = (
    r"^Built (?P<dir>inbound|outbound) (?:Probe )?(?P<proto>TCP|UDP|SCTP) connection (?P<id>[0-9]+) "
    rf"for {_asa_ep_re2('a')} to {_asa_ep_re2('b')}(?:{SP}+\((?P<user>[^()]*)\))?"
)
_ASA_TEARDOWN_RE2 = (
    r"^Teardown (?P<proto>TCP|UDP|SCTP) connection (?P<id>[0-9]+) "
    rf"for {_asa_ep_re2('a', False)} to {_asa_ep_re2('b', False)} "
    r"duration [0-9:]+ bytes (?P<bytes>[0-9]+)(?P<rest>.*)"
)
_ASA_TRAILING = rf"\((?P<u>[^()]*)\){SP}*$"
_ASA_XLATE_RE2 = (
    r"^(?P<ev>Built|Teardown) (?:dynamic|static) (?:(?P<proto>TCP|UDP|ICMP|SCTP) )?translation from "
    rf"[^{WS}:(]+(?:\([^)]*\))?{SP}?:(?P<aip>{ADDR})(?:/(?P<aport>[0-9]+))?"
    rf"(?:{SP}?\((?P<auser>[^()]*)\))? "
    rf"to [^{WS}:(]+{SP}?:(?P<bip>{ADDR})(?:/(?P<bport>[0-9]+))?"
)
_ASA_IDS = ("302013", "302014", "302015", "302016", "305009", "305010", "305011", "305012")


def _asa_built_rx(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(tail, _ASA_BUILT_TAIL)
    cols, ok = _asa_built_cols(partial(grp, m), len(tail))
    return cols, all_true(pc.is_valid(m), ok)


def _asa_built_plain(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_ASA_BUILT_RE2 on lines in _ASA_BUILT_PLAIN's form: its fields are space-separated tokens at fixed places."""
    n = len(tail)
    direction, proto, sid, a, am, b, bm = tokens_at(tail, (2, 3, 5, 7, 8, 10, 11))
    groups = {"dir": direction, "proto": proto, "id": sid}
    for name, ep, mapped in (("a", a, am), ("b", b, bm)):
        groups[name + "ip"], groups[name + "port"] = _endpoint(ep)
        groups[name + "mip"], groups[name + "mport"] = split_once(ascii_slice(mapped, 1, -1), "/")
    none = pa.nulls(n, pa.string())  # no user bracket in this form
    return _asa_built_cols(lambda k: groups.get(k, none), n)


def _asa_built(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    return plain_or_rx(tail, _ASA_BUILT_PLAIN, _asa_built_plain, _asa_built_rx)


def _asa_built_cols(f: Callable[[str], pa.Array], n: int) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_cisco_asa's columns from the groups of _ASA_BUILT_RE2 (f: group name -> column)."""
    inbound = pc.equal(f("dir"), "inbound")  # s, d = a, b when inbound else b, a
    s_ip, d_ip = pick(inbound, f("aip"), f("bip")), pick(inbound, f("bip"), f("aip"))
    s_port, d_port = pick(inbound, f("aport"), f("bport")), pick(inbound, f("bport"), f("aport"))
    s_mip, s_mport = pick(inbound, f("amip"), f("bmip")), pick(inbound, f("amport"), f("bmport"))
    s_user = pick(inbound, f("auser"), f("buser"))
    (src, bad1), (mip, bad3), (dst, bad5) = ip_columns(s_ip, s_mip, d_ip)
    sport, bad2 = port_column(s_port)
    mport, bad4 = port_column(s_mport)
    dport, bad6 = port_column(d_port)
    same = all_true(pc.equal(mip, src), any_true(pc.equal(mport, sport), all_true(pc.is_null(mport), pc.is_null(sport))))
    no_nat = any_true(pc.is_null(mip), same)
    cols = {
        "conn_format": pa.repeat(pa.scalar("cisco_asa"), n),
        "src_ip": src,
        "src_port": sport,
        "dst_ip": dst,
        "dst_port": dport,
        "protocol": pc.utf8_lower(f("proto")),
        "nat_ip": pc.if_else(no_nat, pa.scalar(None, pa.string()), mip),
        "nat_port": pc.if_else(no_nat, pa.scalar(None, pa.int32()), mport),
        "user": _asa_users(f("user"), s_user),
        "action": pa.repeat(pa.scalar("build"), n),
        "session_id": f("id"),
    }
    return cols, pc.invert(any_true(bad1, bad2, bad3, bad4, bad5, bad6))


def _asa_teardown_rx(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(tail, _ASA_TEARDOWN_TAIL)
    f = partial(grp, m)
    trailing = grp(pc.extract_regex(f("rest"), _ASA_TRAILING), "u")
    cols, ok = _asa_teardown_cols(f, trailing, len(tail))
    return cols, all_true(pc.is_valid(m), ok)


def _asa_teardown_plain(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """_ASA_TEARDOWN_RE2 on lines in _ASA_TEARDOWN_PLAIN's form (space-separated fields, no user anywhere)."""
    n = len(tail)
    proto, sid, a, b, nbytes = tokens_at(tail, (2, 4, 6, 8, 12))
    groups = {"proto": proto, "id": sid, "bytes": nbytes}
    groups["aip"], groups["aport"] = _endpoint(a)
    groups["bip"], groups["bport"] = _endpoint(b)
    none = pa.nulls(n, pa.string())
    return _asa_teardown_cols(lambda k: groups.get(k, none), none, n)


def _asa_teardown(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    return plain_or_rx(tail, _ASA_TEARDOWN_PLAIN, _asa_teardown_plain, _asa_teardown_rx)


def _endpoint(tok: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(ip, port) of "iface:ip/port": the interface holds no ":", the address no "/"."""
    addr, port = split_once(tok, "/")
    return split_once(addr, ":")[1], port


def _asa_teardown_cols(
    f: Callable[[str], pa.Array], trailing: pa.Array, n: int
) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_cisco_asa's columns from the groups of _ASA_TEARDOWN_RE2 and the trailing user."""
    a_port, bad1 = port_column(f("aport"))
    b_port, bad2 = port_column(f("bport"))
    inbound = all_true(  # _teardown_inbound
        pc.greater_equal(a_port, 1024),
        any_true(pc.less(b_port, 1024), all_true(pc.less(b_port, EPHEMERAL), pc.greater_equal(a_port, EPHEMERAL))),
    )
    (src, bad3), (dst, bad4) = ip_columns(pick(inbound, f("aip"), f("bip")), pick(inbound, f("bip"), f("aip")))
    nbytes, bad5 = count_column(f("bytes"))
    cols = {
        "conn_format": pa.repeat(pa.scalar("cisco_asa"), n),
        "src_ip": src,
        "src_port": pick(inbound, a_port, b_port),
        "dst_ip": dst,
        "dst_port": pick(inbound, b_port, a_port),
        "protocol": pc.utf8_lower(f("proto")),
        "user": _asa_users(trailing, pick(inbound, f("auser"), f("buser"))),
        "action": pa.repeat(pa.scalar("teardown"), n),
        "bytes": nbytes,
        "session_id": f("id"),
    }
    return cols, pc.invert(any_true(bad1, bad2, bad3, bad4, bad5))


def _asa_xlate_columns(tail: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    m = pc.extract_regex(tail, _ASA_XLATE_TAIL)
    ok = pc.is_valid(m)
    f = partial(grp, m)
    proto, bad0 = per_unique(f("proto"), lambda v: norm_proto(v) if v else None, pa.string())
    ports = truth(pc.is_in(proto, value_set=pa.array(sorted(PORT_PROTOS))))
    src, bad1 = ip_column(f("aip"))
    sport, bad2 = port_column(f("aport"))
    nat, bad3 = ip_column(f("bip"))
    nport, bad4 = port_column(f("bport"))
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
    bad = any_true(bad0, bad1, bad3, all_true(ports, any_true(bad2, bad4)))
    return cols, all_true(ok, pc.invert(bad))


# The message after the line's first "%" ("tail", split off without a regex: several times cheaper than
# any RE2 search for the head), its id read from its first characters, then each message regex run on the
# tail with the head in front (extract_cisco_asa runs them on the text after the head: a head regex ending in
# ":?\s*" followed by a body regex that starts with a letter matches the same way). A line whose first
# "%" does not start a head gets no id here and takes the per-row code (_ASA_ID.search finds a later one).
_ASA_T = r"^(?:ASA|FTD|PIX|FWSM)-(?:[A-Za-z]+-)?[0-9]-"
_ASA_TAIL_ID = rf"{_ASA_T}(?P<id>[0-9]{{6}})"
_ASA_ID_SPAN = 40  # the id is read in the tail's first characters (a longer head: the per-row code)


def _on_tail(body_regex: str) -> str:
    """An anchored body regex with the message head in front, for the tail."""
    assert body_regex.startswith(("^Built ", "^Teardown ", "^(?P<ev>Built|Teardown) "))
    return rf"{_ASA_T}[0-9]{{6}}:?{SP}*" + body_regex[1:]


_ASA_BUILT_TAIL, _ASA_TEARDOWN_TAIL, _ASA_XLATE_TAIL = map(_on_tail, (_ASA_BUILT_RE2, _ASA_TEARDOWN_RE2, _ASA_XLATE_RE2))
# The usual forms, checked by a DFA match (cheap whatever the regex): single spaces, interfaces without
# "/" or brackets, no "Probe", no user bracket anywhere (none after the last endpoint either, nor a "(" in
# a teardown's rest), the head a single token. Their fields are then tokens at fixed places: no capture
# regex (RE2 runs the full ones with BitState, ~2.5 µs a line).
_ASA_IF = rf"[^{WS}:/()]+:{ADDR}/[0-9]+"
_ASA_BUILT_PLAIN = (
    rf"{_ASA_T}30201[35]: Built (?:inbound|outbound) (?:TCP|UDP|SCTP) connection [0-9]+ for {_ASA_IF} "
    rf"\({ADDR}/[0-9]+\) to {_ASA_IF} \({ADDR}/[0-9]+\){SP}*(?:$|[^{WS}(])"
)
_ASA_TEARDOWN_PLAIN = (
    rf"{_ASA_T}30201[46]: Teardown (?:TCP|UDP|SCTP) connection [0-9]+ for {_ASA_IF} to {_ASA_IF} "
    r"duration [0-9:]+ bytes [0-9]+(?: [^(\n]*)?$"
)


_ASA_HEADS = pa.array([f"{t}-{d}-" for t in ("ASA", "FTD", "PIX") for d in range(10)], pa.string())


def _asa_msg_id(tail: pa.StringArray) -> pa.Array:
    """_ASA_TAIL_ID's id: tails that start "ASA-6-" and six digits read by slicing, the others by the regex."""
    num = ascii_slice(tail, 6, 12)
    usual = all_true(
        pc.is_in(ascii_slice(tail, 0, 6), value_set=_ASA_HEADS),
        pc.ascii_is_decimal(num),
        pc.equal(pc.binary_length(num), 6),
    )
    msg_id = pc.if_else(usual, num, pa.scalar(None, pa.string()))
    other = pc.invert(usual)
    if pc.any(other).as_py():
        rx = grp(pc.extract_regex(ascii_slice(tail.filter(other), 0, _ASA_ID_SPAN), _ASA_TAIL_ID), "id")
        msg_id = pc.replace_with_mask(msg_id, other, rx)
    return msg_id


def asa_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_cisco_asa for connection (302013-302016) and translation (305009-305012) messages."""
    n = len(sub)
    tail = list_item(pc.split_pattern(sub, "%", max_splits=1), 1, 2, "")
    msg_id = _asa_msg_id(tail)
    cols: dict[str, list[tuple[pa.Array, pa.Array]]] = {}
    idx_all: list[pa.Array] = []
    ok_all: list[pa.Array] = []
    groups = (
        (("302013", "302015"), _asa_built),
        (("302014", "302016"), _asa_teardown),
        (("305009", "305010", "305011", "305012"), _asa_xlate_columns),
    )
    for ids, fn in groups:
        idx = where(truth(pc.is_in(msg_id, value_set=pa.array(ids))))
        if len(idx) == 0:
            continue
        c, ok = fn(tail.take(idx))
        idx_all.append(idx)
        ok_all.append(ok)
        for name in CONN_COLUMNS:
            cols.setdefault(name, []).append((idx, c.get(name, null_column(len(idx), name))))
    rest = where(pc.invert(truth(pc.is_in(msg_id, value_set=pa.array(_ASA_IDS)))))
    idx_all.append(rest)
    ok_all.append(pa.array([False] * len(rest), pa.bool_()))
    order = pc.array_sort_indices(pa.chunked_array(idx_all, pa.uint64()).combine_chunks())
    out: dict[str, pa.Array] = {}
    for name in CONN_COLUMNS:
        vals = [v for _, v in cols.get(name, [])] + [null_column(len(rest), name)]
        out[name] = pa.concat_arrays([as_type(v, CONN_TYPES[name]) for v in vals]).take(order)
    ok_cat = pa.concat_arrays(ok_all).take(order)
    assert len(ok_cat) == n
    return out, ok_cat


FORMAT = Format(
    name="cisco_asa",
    guard=_guard_asa,
    extract=extract_cisco_asa,
    needles=(r"%(?:ASA|FTD|PIX|FWSM)-",),
    columns=asa_columns,
    apps=("ASA", "FTD", "PIX", "FWSM"),
)
