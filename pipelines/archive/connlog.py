"""Pure extractors that turn one connection-log syslog message into the archive's typed connection columns.

Conventions shared by every extractor (auditors rely on them):

* ``src_ip``/``src_port`` is the best address the log gives for the user's device; when a log
  gives both an inside and a public address for the same device (VPN: assigned address and
  the client's public address; RADIUS: Framed-IP-Address and an IP Calling-Station-Id),
  ``src_ip`` is the inside one and ``nat_ip`` the public one.
* ``nat_ip``/``nat_port`` is only set when the log shows a translation (mapped differs from real).
* IPs are validated and normalised (IPv6 compressed, IPv4-mapped IPv6 turned into IPv4);
  a matched line whose addresses do not parse is rejected (None), never archived half-wrong.
* Ports are 0..65535 ints, bytes a non-negative int, protocol a lower-case name
  (numbers mapped through IANA; ``icmpv6`` for every ICMPv6 spelling), mac lower case with colons.
* Host names (DHCP client names, squid URL hosts) are never put in ``user``: they do not
  identify a person, and the raw line keeps them anyway.
* action is one of allow, deny, build, teardown, lease, offer, request, release, decline,
  nak, inform, login, login_failed, logout, interim, or a vendor's own lower-case word.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache

CONN_COLUMNS: list[str] = [
    "conn_format",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "protocol",
    "nat_ip",
    "nat_port",
    "user",
    "mac",
    "action",
    "bytes",
    "session_id",
]

Conn = dict[str, str | int | None]


class _Reject(Exception):
    """Raised inside an extractor when a matched line carries an invalid value."""


def empty_connection() -> Conn:
    """All connection columns set to None: the row of a message that is not a connection log."""
    return dict.fromkeys(CONN_COLUMNS)


def _row(fmt: str, **values: str | int | None) -> Conn:
    """One connection row with every column present, whatever the extractor fills."""
    row = dict.fromkeys(CONN_COLUMNS)
    row["conn_format"] = fmt
    row.update(values)
    return row


# --------------------------------------------------------------------------- value checkers

_ADDR = r"[0-9A-Fa-f:.]*[0-9A-Fa-f]"  # an IPv4 or IPv6 literal (validated afterwards)
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"


_CANONICAL_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z"
)


def _ip_or_none(text: str) -> str | None:
    """Normalised IP string, or None; canonical IPv4 (the bulk) skips the ipaddress module, 10x slower."""
    if _CANONICAL_IPV4.match(text):
        return text
    return _ip_parse(text)


@lru_cache(maxsize=65536)
def _ip_parse(text: str) -> str | None:
    """ipaddress-validated and normalised IP (IPv6, odd spellings); cached as addresses repeat all day."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)  # ::ffff:a.b.c.d is the IPv4 host auditors will ask about
    return str(addr)


def _ip(text: str | None) -> str | None:
    """Validated IP, None when absent; rejects the line when present but not an address."""
    if text is None or text == "" or text == "-":
        return None
    value = _ip_or_none(text)
    if value is None:
        raise _Reject(text)
    return value


def _ip_soft(text: str | None) -> str | None:
    """Validated IP, or None when the field holds something else (e.g. a MAC or a name)."""
    if not text or len(text) > 45:
        return None
    return _ip_or_none(text)


def _port(text: str | None) -> int | None:
    """Port number, None when absent; rejects the line when out of range."""
    if text is None or text == "" or text == "-":
        return None
    if len(text) > 5 or not text.isascii() or not text.isdigit():
        raise _Reject(text)
    value = int(text)
    if value > 65535:
        raise _Reject(text)
    return value


def _count(text: str | None) -> int | None:
    """Non-negative byte count; rejects absurd values (Parquet int64)."""
    if text is None or text == "" or text == "-":
        return None
    if len(text) > 18 or not text.isascii() or not text.isdigit():
        raise _Reject(text)
    return int(text)


_MAC_SPLIT = re.compile(r"[:-]")
_HEX = frozenset("0123456789abcdef")


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}\Z")


def _mac(text: str | None) -> str | None:
    """Canonical aa:bb:cc:dd:ee:ff from colon, dash, dotted (Cisco) or unpadded (ISC) forms."""
    if not text:
        return None
    if _CANONICAL_MAC.match(text):
        return text
    return _mac_parse(text)


@lru_cache(maxsize=16384)
def _mac_parse(text: str) -> str | None:
    """The slow path of _mac for every other spelling."""
    text = text.strip().lower()
    if "." in text:  # Cisco aabb.ccdd.eeff
        groups = text.split(".")
        if len(groups) != 3 or any(len(g) != 4 for g in groups):
            return None
        flat = "".join(groups)
        parts = [flat[i : i + 2] for i in range(0, 12, 2)]
    else:
        parts = _MAC_SPLIT.split(text)
        if len(parts) == 1 and len(text) == 12:
            parts = [text[i : i + 2] for i in range(0, 12, 2)]
        if len(parts) != 6 or any(not 1 <= len(p) <= 2 for p in parts):
            return None
        parts = [p.rjust(2, "0") for p in parts]
    if not all(c in _HEX for p in parts for c in p):
        return None
    return ":".join(parts)


_PROTO_NUMBERS = {
    "1": "icmp",
    "2": "igmp",
    "4": "ipip",
    "6": "tcp",
    "17": "udp",
    "41": "ipv6",
    "47": "gre",
    "50": "esp",
    "51": "ah",
    "58": "icmpv6",
    "89": "ospf",
    "103": "pim",
    "112": "vrrp",
    "132": "sctp",
    "136": "udplite",
}
_PROTO_ALIASES = {"icmp6": "icmpv6", "ipv6-icmp": "icmpv6", "ipv6icmp": "icmpv6", "ip": None}
_PORT_PROTOS = frozenset({"tcp", "udp", "sctp", "udplite"})
_PROTO_OK = re.compile(r"[a-z0-9][a-z0-9.+-]{0,15}\Z")


@lru_cache(maxsize=1024)
def _proto(text: str | None) -> str | None:
    """Lower-case protocol name; numbers go through IANA so every vendor reads alike."""
    if not text:
        return None
    value = text.strip().lower()
    if not value.isascii():
        return None
    if value.startswith("protocol "):
        value = value[9:].strip()
    if value.isdigit():
        return _PROTO_NUMBERS.get(value, value if int(value) < 256 else None)
    if value in _PROTO_ALIASES:
        return _PROTO_ALIASES[value]
    return value if _PROTO_OK.match(value) else None


def _user(text: str | None) -> str | None:
    """User name as logged, None for the usual placeholders; control characters are refused."""
    if text is None:
        return None
    value = text.strip().strip('"').strip()
    if value in ("", "-", "(none)", "N/A", "unknown", "UNKNOWN") or value.strip("*") == "":
        return None  # ASA masks rejected names as *****
    if len(value) > 256 or not value.isprintable():
        return None
    return value


def _token(text: str | None) -> str | None:
    """A short printable identifier (session ids), None when absent or suspicious."""
    if not text or len(text) > 128 or not text.isprintable():
        return None
    return text


# --------------------------------------------------------------------------- netfilter

_NF_LINE = re.compile(
    r"(?<![A-Za-z0-9_])IN=\S* OUT=\S* (?:PHYS\S+ )*(?:MAC=(?P<mac>\S*) )?SRC=(?P<src>\S+) DST=(?P<dst>\S+) "
    r"[^\[]{0,256}?PROTO=(?P<proto>\S+)(?: SPT=(?P<spt>\d+) DPT=(?P<dpt>\d+))?"
)
_DENY_WORDS = re.compile(r"(?<![A-Z])(?:DROP|DROPPED|BLOCK|BLOCKED|REJECT|REJECTED|DENY|DENIED)(?![A-Z])")
_ALLOW_WORDS = re.compile(r"(?<![A-Z])(?:ACCEPT|ACCEPTED|ALLOW|ALLOWED|PASS|PERMIT|PERMITTED)(?![A-Z])")
_KERNEL_TS = re.compile(r"^\s*\[\s*\d+\.\d+\]\s*")
_RFC5424_HEAD = re.compile(r"^(?:<\d{1,3}>)?\d{1,2} \S+ \S+ \S+ \S+ \S+ (?:-|\[.*?\])\s?")
_BSD_HEAD = re.compile(r"^(?:<\d{1,3}>)?[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \S+ [^\s:\[]+(?:\[\d+\])?: ")


@lru_cache(maxsize=4096)
def _prefix_action(prefix: str) -> str | None:
    """allow/deny from a firewall log prefix chosen by the admin, None when it says neither."""
    upper = prefix.upper()
    if _DENY_WORDS.search(upper):
        return "deny"
    if _ALLOW_WORDS.search(upper):
        return "allow"
    return None


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
    if raw_mac and len(raw_mac) == 41:  # dst(6):src(6):ethertype(2)
        mac = _mac(raw_mac[18:35])
    proto = _proto(m["proto"])
    ports = proto in _PORT_PROTOS
    return _row(
        "netfilter",
        src_ip=_ip(m["src"]),
        src_port=_port(m["spt"]) if ports else None,
        dst_ip=_ip(m["dst"]),
        dst_port=_port(m["dpt"]) if ports else None,
        protocol=proto,
        mac=mac,
        action=_prefix_action(_log_prefix(text[: m.start()])),
    )


# --------------------------------------------------------------------------- Mikrotik firewall

_MT_FW = re.compile(
    r"(?:src-mac (?P<mac>[0-9a-fA-F:]{17}), )?proto (?P<proto>[A-Za-z0-9-]{1,16})(?: \([^)]{0,64}\))?, "
    rf"(?P<src>{_IPV4})(?::(?P<sport>\d+))?->(?P<dst>{_IPV4})(?::(?P<dport>\d+))?"
    rf"(?:, NAT \((?P<osrc>{_IPV4})(?::(?P<osport>\d+))?->(?P<nsrc>{_IPV4})(?::(?P<nsport>\d+))?\)->)?"
)


def extract_mikrotik_firewall(text: str) -> Conn | None:
    """RouterOS firewall rule logging (`proto TCP (SYN), a:p->b:q, NAT (a:p->n:m)->b:q, len N`); IPv4 only."""
    m = _MT_FW.search(text)
    if m is None or ", len " not in text:
        return None
    proto = _proto(m["proto"])
    ports = proto in _PORT_PROTOS
    nat_ip = nat_port = None
    if m["nsrc"] is not None:
        nat_ip = _ip(m["nsrc"])
        nat_port = _port(m["nsport"]) if ports else None
    head = text[: m.start()]
    return _row(
        "mikrotik",
        src_ip=_ip(m["src"]),
        src_port=_port(m["sport"]) if ports else None,
        dst_ip=_ip(m["dst"]),
        dst_port=_port(m["dport"]) if ports else None,
        protocol=proto,
        nat_ip=nat_ip,
        nat_port=nat_port,
        mac=_mac(m["mac"]),
        action=_prefix_action(head[head.rfind("firewall,") :] if "firewall," in head else head),
    )


# --------------------------------------------------------------------------- Cisco ASA / FTD

_ASA_ID = re.compile(r"%(?:ASA|FTD|PIX|FWSM)-(?:[A-Za-z]+-)?\d-(\d{6}):?\s*")


def _asa_ep(n: str, mapped: bool = True) -> str:
    """One `iface:ip/port (mip/mport) (idfw user)` endpoint of an ASA message, groups prefixed n."""
    ep = rf"(?P<{n}if>[^\s:]+):(?P<{n}ip>{_ADDR})/(?P<{n}port>\d+)"
    if mapped:
        ep += rf" \((?P<{n}mip>{_ADDR})/(?P<{n}mport>\d+)\)"
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
    rf"faddr (?P<f>{_ADDR})/\d+(?:\s?\((?P<fuser>[^()]*)\))? gaddr (?P<g>{_ADDR})/\d+ "
    rf"laddr (?P<l>{_ADDR})/\d+(?:\s?\((?P<luser>[^()]*)\))?"
)
_ASA_XLATE = re.compile(
    r"(?P<ev>Built|Teardown) (?:dynamic|static) (?:(?P<proto>TCP|UDP|ICMP|SCTP) )?translation from "
    rf"(?P<aif>[^\s:(]+)(?:\([^)]*\))?\s?:(?P<aip>{_ADDR})(?:/(?P<aport>\d+))?(?:\s?\((?P<auser>[^()]*)\))? "
    rf"to (?P<bif>[^\s:(]+)\s?:(?P<bip>{_ADDR})(?:/(?P<bport>\d+))?"
)
_ASA_DENY = re.compile(
    r"Deny (?P<proto>protocol \d+|\S+) src "
    rf"(?P<sif>[^\s:]+):(?P<sip>{_ADDR})(?:/(?P<sport>\d+))?(?:\s?\((?P<suser>[^()]*)\))? "
    rf"dst (?P<dif>[^\s:]+):(?P<dip>{_ADDR})(?:/(?P<dport>\d+))?"
)
_ASA_DENY_FROM = re.compile(
    r"(?:Deny (?:inbound |outbound )?(?P<proto>[A-Za-z]+) (?:\(no connection\) )?"
    r"|(?:Inbound|Outbound) (?P<proto2>TCP|UDP) connection denied )"
    rf"from (?P<sip>{_ADDR})/(?P<sport>\d+) to (?P<dip>{_ADDR})/(?P<dport>\d+)"
)
_ASA_ACL = re.compile(
    r"access-list (?P<acl>\S+) (?P<act>permitted|denied|est-allowed) (?P<proto>\S+) "
    rf"(?P<sif>[^\s/]+)/(?P<sip>{_ADDR})\((?P<sport>\d+)\)(?:\s?\((?P<suser>[^()]*)\))? -> "
    rf"(?P<dif>[^\s/]+)/(?P<dip>{_ADDR})\((?P<dport>\d+)\)"
)
_ASA_AAA = re.compile(r"AAA user authentication (?P<res>Successful|Rejected)\b(?P<rest>.*)")
_ASA_AAA_USER = re.compile(r":\s*user = (?P<user>.*?)\s*(?::\s*user IP = (?P<ip>\S+?)\s*)?$")
_ASA_611 = re.compile(
    r"User authentication (?P<res>succeeded|failed):\s*(?:IP(?: address)?\s*[:=,]?\s*)?"
    rf"(?:(?P<ip>{_ADDR})\s*[,:]?\s*)?Uname\s*:\s*(?P<user>\S+)"
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
    rf"Login (?P<res>permitted|denied) from (?P<sip>{_ADDR})/(?P<sport>\d+) to "
    rf"(?P<dif>[^\s:]+):(?P<dip>{_ADDR})/(?P<svc>\S+) for user \"(?P<user>[^\"]*)\""
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
            value = _user(candidate.split(",")[0])
            if value is not None:
                return value
    return None


def _nat(
    real_ip: str | None, real_port: int | None, mip: str | None, mport: str | None
) -> tuple[str | None, int | None]:
    """(nat_ip, nat_port) only when the mapped socket differs from the real one."""
    mapped_ip = _ip(mip)
    mapped_port = _port(mport)
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
        src_ip, src_port = _ip(m[s + "ip"]), _port(m[s + "port"])
        nat_ip, nat_port = _nat(src_ip, src_port, m[s + "mip"], m[s + "mport"])
        return _row(
            "cisco_asa",
            src_ip=src_ip,
            src_port=src_port,
            dst_ip=_ip(m[d + "ip"]),
            dst_port=_port(m[d + "port"]),
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
    a_port, b_port = _port(m["aport"]), _port(m["bport"])
    inbound = b_port is not None and a_port is not None and b_port < 1024 <= a_port
    s, d = ("a", "b") if inbound else ("b", "a")
    rest = m["rest"].rstrip()
    trailing = re.search(r"\(([^()]*)\)$", rest)
    return _row(
        "cisco_asa",
        src_ip=_ip(m[s + "ip"]),
        src_port=_port(m[s + "port"]),
        dst_ip=_ip(m[d + "ip"]),
        dst_port=_port(m[d + "port"]),
        protocol=m["proto"].lower(),
        user=_asa_user(trailing[1] if trailing else None, m[s + "user"]),
        action="teardown",
        bytes=_count(m["bytes"]),
        session_id=m["id"],
    )


def _asa_icmp(body: str) -> Conn | None:
    """302020/302021 ICMP: faddr foreign, gaddr mapped local, laddr real local."""
    m = _ASA_ICMP.match(body)
    if m is None:
        return None
    f, g, local = _ip(m["f"]), _ip(m["g"]), _ip(m["l"])
    if m["dir"] == "inbound":
        src, dst, nat, user = f, local, None, m["fuser"]
    else:  # outbound, or a teardown (direction not logged: assume the inside host pinged out)
        src, dst, nat, user = local, f, (g if g != local else None), m["luser"]
    return _row(
        "cisco_asa",
        src_ip=src,
        dst_ip=dst,
        protocol=_proto(m["proto"]),
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
    proto = _proto(m["proto"]) if m["proto"] else None
    ports = proto in _PORT_PROTOS
    return _row(
        "cisco_asa",
        src_ip=_ip(m["aip"]),
        src_port=_port(m["aport"]) if ports else None,
        protocol=proto,
        nat_ip=_ip(m["bip"]),
        nat_port=_port(m["bport"]) if ports else None,
        user=_asa_user(m["auser"]),
        action="build" if m["ev"] == "Built" else "teardown",
    )


def _asa_endpoints(m: re.Match[str], fmt: str, action: str, proto: str | None) -> Conn:
    """Row for ACL-style messages that name source then destination explicitly."""
    proto = _proto(proto)
    ports = proto in _PORT_PROTOS
    groups = m.groupdict()
    return _row(
        fmt,
        src_ip=_ip(m["sip"]),
        src_port=_port(m["sport"]) if ports else None,
        dst_ip=_ip(m["dip"]),
        dst_port=_port(m["dport"]) if ports else None,
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
        return _row("cisco_asa", src_ip=_ip(u["ip"]), user=_user(u["user"]), action=action)
    if msg_id in ("611101", "611102"):
        m = _ASA_611.match(body)
        if m is None:
            return None
        action = "login" if m["res"] == "succeeded" else "login_failed"
        return _row("cisco_asa", src_ip=_ip(m["ip"]), user=_user(m["user"]), action=action)
    m = _ASA_MGMT_LOGIN.match(body)
    if m is None:
        return None
    return _row(
        "cisco_asa",
        src_ip=_ip(m["sip"]),
        src_port=_port(m["sport"]),
        dst_ip=_ip(m["dip"]),
        protocol="tcp",
        user=_user(m["user"]),
        action="login" if m["res"] == "permitted" else "login_failed",
    )


def _asa_vpn(msg_id: str, body: str) -> Conn | None:
    """AnyConnect/WebVPN sessions: user, public client address and, when logged, the assigned one."""
    if msg_id == "113019":
        m = _ASA_113019.match(body)
        if m is None:
            return None
        return _row(
            "cisco_asa",
            src_ip=_ip(m["ip"]),
            user=_user(m["user"]),
            action="logout",
            bytes=_sum_bytes(m["tx"], m["rx"]),
        )
    m = _ASA_VPN.match(body)
    if m is None:
        return None
    public = _ip(m["ip"])
    assigned = _ip(m["assigned"])
    if msg_id == "722051" and assigned is None:
        return None
    return _row(
        "cisco_asa",
        src_ip=assigned or public,
        nat_ip=public if assigned else None,
        user=_user(m["user"]),
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


# --------------------------------------------------------------------------- key=value (FortiGate, Stormshield)


_KV_ALL = re.compile(r'(?<![^\s,;<>])([A-Za-z_][\w-]*)=("[^"\\]*(?:\\.[^"\\]*)*"|[^\s",;]*)')


def _kv_slow(text: str, keys: frozenset[str]) -> dict[str, str]:
    """Full key=value scan that understands backslash-escaped quotes inside quoted values."""
    out: dict[str, str] = {}
    for key, value in _KV_ALL.findall(text):
        if key in keys and key not in out:
            out[key] = value[1:-1] if value[:1] == '"' else value
    return out


def _kv(text: str, keys: frozenset[str]) -> dict[str, str]:
    """The wanted keys' values (first occurrence, quotes removed), never read from inside a quoted value.

    Splitting on quotes first keeps `srcname="pc srcip=1.2.3.4"` from spoofing the source and is
    about twice as fast as a regex scan; lines with escaped or unbalanced quotes take the regex.
    """
    parts = text.split('"')
    count = len(parts)
    if count % 2 == 0 or '\\"' in text:
        return _kv_slow(text, keys)
    out: dict[str, str] = {}
    for i in range(0, count, 2):  # even parts are outside quotes
        segment = parts[i]
        for token in segment.split():
            key, sep, value = token.partition("=")
            if sep and key in keys and key not in out:
                if not value and i + 1 < count and segment.endswith(token):
                    value = parts[i + 1]  # key="quoted value"
                out[key] = value
    return out


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
_STORMSHIELD_KEYS = frozenset(
    {
        "id",
        "logtype",
        "ipproto",
        "src",
        "srcport",
        "dst",
        "dstport",
        "modsrc",
        "modsrcport",
        "user",
        "srcmac",
        "action",
        "sent",
        "rcvd",
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


def _action_word(value: str | None, table: dict[str, str]) -> str | None:
    """Vendor action mapped to ours; unknown but clean words kept lower-case, rubbish dropped."""
    if not value:
        return None
    value = value.lower()
    if value in table:
        return table[value]
    return value if _PROTO_OK.match(value) else None


def _sum_bytes(*values: str | None) -> int | None:
    """Sum of the byte counters that are present, None when none is."""
    counts = [c for c in (_count(v) for v in values) if c is not None]
    return sum(counts) if counts else None


def extract_fortigate(text: str) -> Conn | None:
    """FortiGate/FortiOS traffic logs (type=traffic), quoted or bare values."""
    f = _kv(text, _FORTI_KEYS)
    if f.get("type") != "traffic" or "srcip" not in f:
        return None
    proto = _proto(f.get("proto"))
    ports = proto in _PORT_PROTOS
    return _row(
        "fortigate",
        src_ip=_ip(f["srcip"]),
        src_port=_port(f.get("srcport")) if ports else None,
        dst_ip=_ip(f.get("dstip")),
        dst_port=_port(f.get("dstport")) if ports else None,
        protocol=proto,
        nat_ip=_ip(f.get("transip")),
        nat_port=_port(f.get("transport")) if ports else None,
        user=_user(f.get("user")) or _user(f.get("unauthuser")),
        mac=_mac(f.get("srcmac")),
        action=_action_word(f.get("action"), _FORTI_ACTIONS),
        bytes=_sum_bytes(f.get("sentbyte"), f.get("rcvdbyte")),
        session_id=_token(f.get("sessionid")),
    )


_STORMSHIELD_TYPES = frozenset({"connection", "filter", "plugin", "web", "ssl", "ftp"})
_STORMSHIELD_ACTIONS = {"pass": "allow", "block": "deny"}


def extract_stormshield(text: str) -> Conn | None:
    """Stormshield SNS audit logs (l_connection, l_filter, l_plugin, l_web...): src, modsrc, sent/rcvd."""
    f = _kv(text, _STORMSHIELD_KEYS)
    if f.get("id") != "firewall" or f.get("logtype") not in _STORMSHIELD_TYPES or "src" not in f:
        return None
    proto = _proto(f.get("ipproto"))
    ports = proto in _PORT_PROTOS or proto is None
    return _row(
        "stormshield",
        src_ip=_ip(f["src"]),
        src_port=_port(f.get("srcport")) if ports else None,
        dst_ip=_ip(f.get("dst")),
        dst_port=_port(f.get("dstport")) if ports else None,
        protocol=proto,
        nat_ip=_ip(f.get("modsrc")),
        nat_port=_port(f.get("modsrcport")) if ports else None,
        user=_user(f.get("user")),
        mac=_mac(f.get("srcmac")),
        action=_action_word(f.get("action"), _STORMSHIELD_ACTIONS),
        bytes=_sum_bytes(f.get("sent"), f.get("rcvd")),
    )


# --------------------------------------------------------------------------- pfSense / OPNsense filterlog

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
    proto_name = _proto(proto)
    ports = proto_name in _PORT_PROTOS and len(f) > rest + 1
    return _row(
        "pfsense",
        src_ip=_ip(src),
        src_port=_port(f[rest]) if ports else None,
        dst_ip=_ip(dst),
        dst_port=_port(f[rest + 1]) if ports else None,
        protocol=proto_name,
        action=_action_word(f[6], _PF_ACTIONS),
    )


# --------------------------------------------------------------------------- Squid

_SQUID = re.compile(
    r"(?:^|\s)\d{9,10}\.\d{3}\s+-?\d+\s+(?P<client>\S+)\s+(?P<code>[A-Z_]+)/(?P<status>\d{3})\s+"
    r"(?P<bytes>\d+)\s+(?P<method>[A-Za-z_-]+)\s+(?P<url>\S+)\s+(?P<user>\S+)\s+"
    r"(?P<hier>[A-Z_]+)/(?P<peer>\S+)"
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
        return host, _port(port)
    return host, _SCHEME_PORTS.get((scheme or "").lower())


def extract_squid(text: str) -> Conn | None:
    """Squid native access.log lines; destination from a direct peer address or an IP-literal URL."""
    m = _SQUID.search(text)
    if m is None:
        return None
    client = _ip(m["client"])
    if client is None:
        return None
    host, port = _url_host_port(m["url"], m["method"])
    dst = _ip_soft(m["peer"]) if m["hier"] in _SQUID_DIRECT else None  # old squids log a host name
    if dst is None and host:
        dst = _ip_soft(host)
    code = m["code"]
    if "DENIED" in code:
        action = "deny"
    elif code.startswith(("NONE", "TAG_NONE")) and m["status"] in ("000", "400", "403", "407", "503"):
        action = None
    else:
        action = "allow"
    return _row(
        "squid",
        src_ip=client,
        dst_ip=dst,
        dst_port=port,
        protocol="udp" if code.startswith("UDP_") else "tcp",
        user=_user(m["user"]),
        action=action,
        bytes=_count(m["bytes"]),
    )


# --------------------------------------------------------------------------- DHCP (ISC dhcpd, dnsmasq)

_DHCP_ACTIONS = {
    "ACK": "lease",
    "REPLY": "lease",
    "OFFER": "offer",
    "REQUEST": "request",
    "RELEASE": "release",
    "DECLINE": "decline",
    "NAK": "nak",
    "INFORM": "inform",
}
_ISC_DHCP = re.compile(
    rf"DHCP(?P<kind>ACK|OFFER|NAK|REQUEST|RELEASE|DECLINE|INFORM) (?:on|for|of|to|from) (?P<ip>{_ADDR})"
    r"(?: \((?P<paren>[^)]{0,64})\))?(?: (?:to|from) (?P<mac>[0-9a-fA-F:]{1,64})(?: \([^)]{0,256}\))?)? via \S"
)
_DNSMASQ_DHCP = re.compile(
    rf"DHCP(?P<kind>[A-Z]{{2,8}})\((?P<iface>[^)\s]{{0,64}})\) (?P<ip>{_ADDR})(?: (?P<mac>[0-9a-fA-F:-]{{1,64}}))?(?:\s|$)"
)

_KEA_DHCP = re.compile(
    r"DHCP[46]_(?P<ev>LEASE_ALLOC|LEASE_REUSE|LEASE_ADVERT|RELEASE|DECLINE)\b"
    r"(?:[^\[]{0,8}\[hwtype=\d+ (?P<mac>[0-9a-fA-F:]{1,64})\])?.{0,400}?tid=0x[0-9a-fA-F]+: "
    rf"(?:lease|address) (?:for (?:address|prefix) )?(?P<ip>{_ADDR})"
)
_KEA_ACTIONS = {
    "LEASE_ALLOC": "lease",
    "LEASE_REUSE": "lease",
    "LEASE_ADVERT": "offer",
    "RELEASE": "release",
    "DECLINE": "decline",
}


def extract_dhcp(text: str) -> Conn | None:
    """ISC dhcpd, ISC Kea and dnsmasq lease events; the client host name is deliberately not kept as user."""
    if "_" in text and (k := _KEA_DHCP.search(text)) is not None:
        return _row(
            "dhcp", src_ip=_ip(k["ip"]), protocol="udp", mac=_mac(k["mac"]), action=_KEA_ACTIONS[k["ev"]]
        )
    m = _ISC_DHCP.search(text)
    if m is not None:
        mac = _mac(m["mac"]) or _mac(m["paren"])  # `DHCPACK to ip (mac) via` answers a DHCPINFORM
        return _row("dhcp", src_ip=_ip(m["ip"]), protocol="udp", mac=mac, action=_DHCP_ACTIONS[m["kind"]])
    m = _DNSMASQ_DHCP.search(text)
    if m is None or m["kind"] not in _DHCP_ACTIONS:
        return None
    ip = _ip_soft(m["ip"])
    if ip is None:  # DHCPDISCOVER(eth0) aa:bb:... carries no address: not a lease
        return None
    return _row("dhcp", src_ip=ip, protocol="udp", mac=_mac(m["mac"]), action=_DHCP_ACTIONS[m["kind"]])


# --------------------------------------------------------------------------- RADIUS, hotspots, captive portals

_FR_AUTH = re.compile(
    r"(?P<res>Login OK|Login incorrect|Invalid user)(?: \([^\[\]]{0,300}?\))?: \[(?P<user>[^\]]{0,256})\]"
    r"(?: \(from client (?P<client>\S+) port (?P<port>\S+)(?: cli (?P<cli>[^\s)]+))?)?"
)
_RADIUS_ATTR = re.compile(
    r"(?<![\w-])(User-Name|Framed-IP-Address|Framed-IPv6-Address|Calling-Station-Id|Acct-Session-Id"
    r"|Acct-Status-Type|Acct-Input-Octets|Acct-Output-Octets|Acct-Input-Gigawords|Acct-Output-Gigawords)"
    r"""\s*(?:=|:)\s*("[^"]*"|'[^']*'|[^\s,;]+)""",
    re.IGNORECASE,
)
_RADIUS_STATUS = {"start": "login", "stop": "logout", "interim-update": "interim", "alive": "interim"}
_RADIUS_CANON = {
    name.lower(): name
    for name in (
        "User-Name",
        "Framed-IP-Address",
        "Framed-IPv6-Address",
        "Calling-Station-Id",
        "Acct-Session-Id",
        "Acct-Status-Type",
        "Acct-Input-Octets",
        "Acct-Output-Octets",
        "Acct-Input-Gigawords",
        "Acct-Output-Gigawords",
    )
}


def _radius_user(value: str) -> str | None:
    """User from FreeRADIUS `[user]`, dropping the `/password` or `/<via ...>` it may append."""
    if value.lower().startswith("host/"):  # machine accounts (802.1X): host/pc01.example.fr
        head, _, rest = value[5:].partition("/")
        return _user("host/" + head)
    return _user(value.split("/", 1)[0])


def _station(value: str | None) -> tuple[str | None, str | None]:
    """(mac, ip) from a Calling-Station-Id / `cli`, which holds either, or a phone number."""
    if not value:
        return None, None
    return _mac(value), _ip_soft(value)


def extract_radius(text: str) -> Conn | None:
    """FreeRADIUS auth lines and RADIUS accounting records written as attribute=value."""
    m = _FR_AUTH.search(text)
    if m is not None:
        mac, ip = _station(m["cli"])
        return _row(
            "radius",
            src_ip=ip,
            user=_radius_user(m["user"]),
            mac=mac,
            action="login" if m["res"] == "Login OK" else "login_failed",
        )
    attrs: dict[str, str] = {}
    for key, value in _RADIUS_ATTR.findall(text):
        name = _RADIUS_CANON[key.lower()]
        if name not in attrs:
            attrs[name] = value[1:-1] if value[:1] in "\"'" else value
    if "Acct-Status-Type" not in attrs and not (
        "User-Name" in attrs and ("Framed-IP-Address" in attrs or "Calling-Station-Id" in attrs)
    ):
        return None
    mac, station_ip = _station(attrs.get("Calling-Station-Id"))
    framed = _ip(attrs.get("Framed-IP-Address"))
    if framed is None and "Framed-IPv6-Address" in attrs:
        framed = _ip(attrs["Framed-IPv6-Address"])
    src, nat = (framed, station_ip) if framed else (station_ip, None)
    octets = None
    if any(
        f"Acct-{part}-{unit}" in attrs for part in ("Input", "Output") for unit in ("Octets", "Gigawords")
    ):
        octets = 0
        for part in ("Input", "Output"):
            octets += _count(attrs.get(f"Acct-{part}-Octets")) or 0
            octets += (_count(attrs.get(f"Acct-{part}-Gigawords")) or 0) << 32
        if octets >= 1 << 63:  # the archive column is int64
            raise _Reject("octets")
    status = attrs.get("Acct-Status-Type", "").lower()
    if src is None and mac is None and "User-Name" not in attrs:
        return None  # Accounting-On/Off: about the NAS, not a device
    return _row(
        "radius",
        src_ip=src,
        nat_ip=nat,
        user=_user(attrs.get("User-Name")),
        mac=mac,
        action=_RADIUS_STATUS.get(status, _action_word(status, {})),
        bytes=octets,
        session_id=_token(attrs.get("Acct-Session-Id")),
    )


_MT_HOTSPOT = re.compile(
    rf"hotspot[\w,]{{0,64}}\s+(?P<user>\S{{1,256}}) \((?P<ip>{_ADDR})\): (?P<ev>logged in|logged out|login failed)"
)
_MT_EVENTS = {"logged in": "login", "logged out": "logout", "login failed": "login_failed"}


def extract_mikrotik_hotspot(text: str) -> Conn | None:
    """RouterOS hotspot log topics: `user (ip): logged in|logged out|login failed`."""
    m = _MT_HOTSPOT.search(text)
    if m is None:
        return None
    user = m["user"]
    mac = _mac(user[2:] if user.startswith("T-") else user)  # trial and MAC-auth users are MACs
    return _row(
        "mikrotik_hotspot", src_ip=_ip(m["ip"]), user=_user(user), mac=mac, action=_MT_EVENTS[m["ev"]]
    )


_PF_PORTAL = re.compile(
    rf"Zone: (?P<zone>\S{{1,64}}) - (?P<ev>[A-Za-z][^:,]{{0,80}}?): (?P<user>[^,]{{0,256}}), "
    rf"(?P<mac>[0-9A-Fa-f:.-]{{11,17}}), (?P<ip>{_ADDR})"
)


def _portal_action(event: str) -> str | None:
    """pfSense captive portal event words to login/logout/login_failed."""
    ev = event.upper()
    if "FAIL" in ev or "ERROR" in ev:
        return "login_failed"
    if any(w in ev for w in ("DISCONNECT", "LOGOUT", "TIMEOUT", "TERMINATING")):
        return "logout"
    if any(w in ev for w in ("ACCEPT", "LOGIN", "REUSING")):
        return "login"
    return None


def extract_pfsense_portal(text: str) -> Conn | None:
    """pfSense captive portal (logportalauth): `Zone: z - ACCEPT: user, mac, ip`."""
    m = _PF_PORTAL.search(text)
    if m is None:
        return None
    return _row(
        "pfsense_portal",
        src_ip=_ip(m["ip"]),
        user=_user(m["user"]) if m["user"] != "unauthenticated" else None,
        mac=_mac(m["mac"]),
        action=_portal_action(m["ev"]),
    )


# --------------------------------------------------------------------------- sshd

_SSHD = re.compile(
    r"(?:(?P<ok>Accepted) \S+ for (?P<u1>\S+)|Failed \S+ for (?:invalid user )?(?P<u2>\S+)"
    r"|Invalid user (?P<u3>\S*)|Disconnected from user (?P<u4>\S+)) "
    rf"(?:from )?(?P<ip>{_ADDR}) port (?P<port>\d+)"
)


def extract_sshd(text: str) -> Conn | None:
    """OpenSSH logins, failures and disconnections: who came from where."""
    m = _SSHD.search(text)
    if m is None:
        return None
    if m["ok"]:
        action, user = "login", m["u1"]
    elif m["u4"] is not None:
        action, user = "logout", m["u4"]
    else:
        action, user = "login_failed", m["u2"] if m["u2"] is not None else m["u3"]
    return _row(
        "sshd",
        src_ip=_ip(m["ip"]),
        src_port=_port(m["port"]),
        protocol="tcp",
        user=_user(user),
        action=action,
    )


# --------------------------------------------------------------------------- dispatch


def _guard_netfilter(t: str) -> bool:
    return "SRC=" in t and "PROTO=" in t


def _guard_asa(t: str) -> bool:
    return "%ASA-" in t or "%FTD-" in t or "%PIX-" in t or "%FWSM-" in t


def _guard_fortigate(t: str) -> bool:
    return "srcip=" in t and "traffic" in t


def _guard_stormshield(t: str) -> bool:
    return "id=firewall" in t and "logtype=" in t


def _guard_pfsense(t: str) -> bool:
    return ",in,4," in t or ",in,6," in t or ",out,4," in t or ",out,6," in t


def _guard_squid(t: str) -> bool:
    return ("TCP_" in t or "NONE" in t or "UDP_" in t) and "/" in t


def _guard_dhcp(t: str) -> bool:
    return "DHCP" in t


def _guard_radius(t: str) -> bool:
    return (
        "Login OK" in t
        or "Login incorrect" in t
        or "Invalid user: [" in t
        or "Acct-" in t
        or "acct-" in t
        or "Framed-IP" in t
    )


def _guard_hotspot(t: str) -> bool:
    return "hotspot" in t and "log" in t


def _guard_portal(t: str) -> bool:
    return "Zone: " in t


def _guard_mikrotik_fw(t: str) -> bool:
    return "proto " in t and "->" in t


def _guard_sshd(t: str) -> bool:
    return " port " in t and (
        "Accepted " in t or "Failed " in t or "Invalid user " in t or "Disconnected from user " in t
    )


# Cheap substring guards first; the regex work only runs for lines that pass one.
EXTRACTORS: list[tuple[str, Callable[[str], bool], Callable[[str], Conn | None]]] = [
    ("cisco_asa", _guard_asa, extract_cisco_asa),
    ("netfilter", _guard_netfilter, extract_netfilter),
    ("fortigate", _guard_fortigate, extract_fortigate),
    ("stormshield", _guard_stormshield, extract_stormshield),
    ("pfsense", _guard_pfsense, extract_pfsense),
    ("dhcp", _guard_dhcp, extract_dhcp),
    ("radius", _guard_radius, extract_radius),
    ("mikrotik_hotspot", _guard_hotspot, extract_mikrotik_hotspot),
    ("pfsense_portal", _guard_portal, extract_pfsense_portal),
    ("mikrotik", _guard_mikrotik_fw, extract_mikrotik_firewall),
    ("squid", _guard_squid, extract_squid),
    ("sshd", _guard_sshd, extract_sshd),
]

_MAX_LEN = 16384


def extract_connection(text: str) -> Conn | None:
    """Connection columns of one syslog message (full line or MSG part), None when not a connection log.

    Never raises: a matched line with an invalid value is treated as not matched.
    """
    if not text or len(text) > _MAX_LEN:
        return None
    for _name, guard, extractor in EXTRACTORS:
        if guard(text):
            try:
                row = extractor(text)
            except (_Reject, ValueError, IndexError, TypeError):
                row = None
            if row is not None:
                return row
    return None
