"""Cisco ASA / FTD (and PIX, FWSM): connection, translation, ACL, AAA and VPN messages chosen by message id.

About 600 lines, kept whole as every format is: the row-wise extractor reads some 25 message ids, and its
column-wise twin reads the connection and translation messages (the bulk of a firewall's log) in their
usual form as tokens, without capture regexes; every other ASA message takes the row-wise code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

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
    sum_bytes,
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


_ASA_BUILT = re.compile(
    r"Built (?P<dir>inbound|outbound) (?:Probe )?(?P<proto>TCP|UDP|SCTP) connection (?P<id>\d+) "
    rf"for {_asa_ep('a')} to {_asa_ep('b')}(?:\s+\((?P<user>[^()]*)\))?"
)
_ASA_TEARDOWN = re.compile(
    r"Teardown (?P<proto>TCP|UDP|SCTP) connection (?P<id>\d+) "
    rf"for {_asa_ep('a', False)} to {_asa_ep('b', False)} "
    r"duration (?P<dur>[\d:]+) bytes (?P<bytes>\d+)(?P<rest>.*)"
)
_ASA_ICMP = re.compile(
    r"(?P<ev>Built|Teardown) (?:(?P<dir>inbound|outbound) )?(?P<proto>ICMP|ICMPv6) connection "
    r"(?:(?P<id>\d+) )?for "
    rf"faddr (?P<f>{ADDR})/\d+(?:\s?\((?P<fuser>[^()]*)\))? gaddr (?P<g>{ADDR})/\d+ "
    rf"laddr (?P<l>{ADDR})/\d+(?:\s?\((?P<luser>[^()]*)\))?"
)
_ASA_XLATE = re.compile(
    r"(?P<ev>Built|Teardown) (?:dynamic|static) (?:(?P<proto>TCP|UDP|ICMP|SCTP) )?translation from "
    rf"(?P<aif>[^\s:(]+)(?:\([^)]*\))?\s?:(?P<aip>{ADDR})(?:/(?P<aport>\d+))?(?:\s?\((?P<auser>[^()]*)\))? "
    rf"to (?P<bif>[^\s:(]+)\s?:(?P<bip>{ADDR})(?:/(?P<bport>\d+))?"
)
_ASA_DENY = re.compile(
    r"Deny (?P<proto>protocol \d+|\S+) src "
    rf"(?P<sif>[^\s:]+):(?P<sip>{ADDR})(?:/(?P<sport>\d+))?(?:\s?\((?P<suser>[^()]*)\))? "
    rf"dst (?P<dif>[^\s:]+):(?P<dip>{ADDR})(?:/(?P<dport>\d+))?"
)
_ASA_DENY_FROM = re.compile(
    r"(?:Deny (?:inbound |outbound )?(?P<proto>[A-Za-z]+) (?:\(no connection\) )?"
    r"|(?:Inbound|Outbound) (?P<proto2>TCP|UDP) connection denied )"
    rf"from (?P<sip>{ADDR})/(?P<sport>\d+) to (?P<dip>{ADDR})/(?P<dport>\d+)"
)
_ASA_ACL = re.compile(
    r"access-list (?P<acl>\S+) (?P<act>permitted|denied|est-allowed) (?P<proto>\S+) "
    rf"(?P<sif>[^\s/]+)/(?P<sip>{ADDR})\((?P<sport>\d+)\)(?:\s?\((?P<suser>[^()]*)\))? -> "
    rf"(?P<dif>[^\s/]+)/(?P<dip>{ADDR})\((?P<dport>\d+)\)"
)
_ASA_AAA = re.compile(r"AAA user authentication (?P<res>Successful|Rejected)\b(?P<rest>.*)")
_ASA_AAA_USER = re.compile(r":\s*user = (?P<user>.*?)\s*(?::\s*user IP = (?P<ip>\S+?)\s*)?$")
_ASA_611 = re.compile(
    r"User authentication (?P<res>succeeded|failed):\s*(?:IP(?: address)?\s*[:=,]?\s*)?"
    rf"(?:(?P<ip>{ADDR})\s*[,:]?\s*)?Uname\s*:\s*(?P<user>\S+)"
)
_ASA_VPN = re.compile(
    r"Group <(?P<group>[^>]*)> User <(?P<user>[^>]*)> IP <(?P<ip>[^>]*)>"
    r"(?: IPv[46] (?:A|a)ddress <(?P<assigned>[^>]*)> assigned to session)?"
)
_ASA_113019 = re.compile(
    r"Group = (?P<group>[^,]*), Username = (?P<user>[^,]*), IP = (?P<ip>[^,\s]+), Session disconnected\."
    r".*?Bytes xmt: (?P<tx>\d+), Bytes rcv: (?P<rx>\d+)"
)
_ASA_MGMT_LOGIN = re.compile(
    rf"Login (?P<res>permitted|denied) from (?P<sip>{ADDR})/(?P<sport>\d+) to "
    rf"(?P<dif>[^\s:]+):(?P<dip>{ADDR})/(?P<svc>\S+) for user \"(?P<user>[^\"]*)\""
)
_ASA_VPN_ACTIONS = {
    "716001": "login",
    "113039": "login",
    "722051": "login",
    "716002": "logout",
    "722037": "logout",
    "113019": "logout",
}


def _asa_user(*candidates: str | None) -> str | None:
    """First real user name among the trailing AAA user and the identity-firewall users."""
    for candidate in candidates:
        if candidate:
            value = norm_user(candidate.split(",")[0])
            if value is not None:
                return value
    return None


def _nat(
    real_ip: str | None, real_port: int | None, mip: str | None, mport: str | None
) -> tuple[str | None, int | None]:
    """(nat_ip, nat_port) only when the mapped socket differs from the real one."""
    mapped_ip = valid_ip(mip)
    mapped_port = valid_port(mport)
    if mapped_ip is None or (mapped_ip == real_ip and mapped_port == real_port):
        return None, None
    return mapped_ip, mapped_port


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
            user=_asa_user(m["user"], m[s + "user"], m["buser"] if s == "a" else None),
            action="build",
            session_id=m["id"],
        )
    m = _ASA_TEARDOWN.match(body)
    if m is None:
        return None
    # Teardown does not say who started the connection; the endpoints keep the Built order
    # (outside end first). Assume the usual outbound case unless only the inside end uses a
    # well-known port (a published server); session_id joins back to the Built row.
    a_port, b_port = valid_port(m["aport"]), valid_port(m["bport"])
    inbound = b_port is not None and a_port is not None and b_port < 1024 <= a_port
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
        user=_asa_user(trailing[1] if trailing else None, m[s + "user"]),
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
    if m["dir"] == "inbound":
        src, dst, nat, user = f, local, None, m["fuser"]
    else:  # outbound, or a teardown (direction not logged: assume the inside host pinged out)
        src, dst, nat, user = local, f, (g if g != local else None), m["luser"]
    return conn_row(
        "cisco_asa",
        src_ip=src,
        dst_ip=dst,
        protocol=norm_proto(m["proto"]),
        nat_ip=nat,
        user=_asa_user(user),
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
        user=_asa_user(m["auser"]),
        action="build" if m["ev"] == "Built" else "teardown",
    )


def _asa_endpoints(m: re.Match[str], fmt: str, action: str, proto: str | None) -> Conn:
    """Row for ACL-style messages that name source then destination explicitly."""
    proto = norm_proto(proto)
    ports = proto in PORT_PROTOS
    groups = m.groupdict()
    return conn_row(
        fmt,
        src_ip=valid_ip(m["sip"]),
        src_port=valid_port(m["sport"]) if ports else None,
        dst_ip=valid_ip(m["dip"]),
        dst_port=valid_port(m["dport"]) if ports else None,
        protocol=proto,
        user=_asa_user(groups.get("suser")),
        action=action,
    )


def _asa_auth(msg_id: str, body: str) -> Conn | None:
    """AAA (113004/113005/113015), cut-through proxy (611101/611102) and management logins (605004/605005)."""
    if msg_id in ("113004", "113005", "113015"):
        m = _ASA_AAA.match(body)
        if m is None:
            return None
        u = _ASA_AAA_USER.search(m["rest"])
        if u is None:
            return None
        action = "login" if m["res"] == "Successful" else "login_failed"
        return conn_row("cisco_asa", src_ip=valid_ip(u["ip"]), user=norm_user(u["user"]), action=action)
    if msg_id in ("611101", "611102"):
        m = _ASA_611.match(body)
        if m is None:
            return None
        action = "login" if m["res"] == "succeeded" else "login_failed"
        return conn_row("cisco_asa", src_ip=valid_ip(m["ip"]), user=norm_user(m["user"]), action=action)
    m = _ASA_MGMT_LOGIN.match(body)
    if m is None:
        return None
    return conn_row(
        "cisco_asa",
        src_ip=valid_ip(m["sip"]),
        src_port=valid_port(m["sport"]),
        dst_ip=valid_ip(m["dip"]),
        protocol="tcp",
        user=norm_user(m["user"]),
        action="login" if m["res"] == "permitted" else "login_failed",
    )


def _asa_vpn(msg_id: str, body: str) -> Conn | None:
    """AnyConnect/WebVPN sessions: user, public client address and, when logged, the assigned one."""
    if msg_id == "113019":
        m = _ASA_113019.match(body)
        if m is None:
            return None
        return conn_row(
            "cisco_asa",
            src_ip=valid_ip(m["ip"]),
            user=norm_user(m["user"]),
            action="logout",
            bytes=sum_bytes(m["tx"], m["rx"]),
        )
    m = _ASA_VPN.match(body)
    if m is None:
        return None
    public = valid_ip(m["ip"])
    assigned = valid_ip(m["assigned"])
    if msg_id == "722051" and assigned is None:
        return None
    return conn_row(
        "cisco_asa",
        src_ip=assigned or public,
        nat_ip=public if assigned else None,
        user=norm_user(m["user"]),
        action=_ASA_VPN_ACTIONS[msg_id],
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
    if msg_id == "106023":
        m = _ASA_DENY.match(body)
        return _asa_endpoints(m, "cisco_asa", "deny", m["proto"]) if m else None
    if msg_id in ("106001", "106006", "106007", "106015"):
        m = _ASA_DENY_FROM.match(body)
        return _asa_endpoints(m, "cisco_asa", "deny", m["proto"] or m["proto2"]) if m else None
    if msg_id == "106100":
        m = _ASA_ACL.match(body)
        if m is None:
            return None
        return _asa_endpoints(m, "cisco_asa", "deny" if m["act"] == "denied" else "allow", m["proto"])
    if msg_id in ("113004", "113005", "113015", "611101", "611102", "605004", "605005"):
        return _asa_auth(msg_id, body)
    if msg_id in _ASA_VPN_ACTIONS:
        return _asa_vpn(msg_id, body)
    return None


def _guard_asa(t: str) -> bool:
    return "%ASA-" in t or "%FTD-" in t or "%PIX-" in t or "%FWSM-" in t


# --------------------------------------------------------------------------- column-wise


def _asa_users(*cands: pa.Array) -> pa.Array:
    """_asa_user: the first candidate whose first comma-separated part is a real user name."""
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
    b_user = pick(inbound, f("buser"), pa.nulls(n, pa.string()))
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
        "user": _asa_users(f("user"), s_user, b_user),
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
    inbound = all_true(pc.less(b_port, 1024), pc.greater_equal(a_port, 1024))
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
