"""Row-wise value checkers shared by every format, and the connection row they fill.

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


class Reject(Exception):
    """Raised inside an extractor when a matched line carries an invalid value."""


def empty_connection() -> Conn:
    """All connection columns set to None: the row of a message that is not a connection log."""
    return dict.fromkeys(CONN_COLUMNS)


def conn_row(fmt: str, **values: str | int | None) -> Conn:
    """One connection row with every column present, whatever the extractor fills."""
    row = dict.fromkeys(CONN_COLUMNS)
    row["conn_format"] = fmt
    row.update(values)
    return row


def kv_endpoints(f: dict[str, str], *, src: str, dst: str, nat: str, nat_port: str, ports: bool) -> dict:
    """The address columns of a key=value firewall log, named by the vendor's keys (srcport and dstport are
    the same key everywhere); ports only where the protocol has them."""
    return {
        "src_ip": valid_ip(f.get(src)),
        "src_port": valid_port(f.get("srcport")) if ports else None,
        "dst_ip": valid_ip(f.get(dst)),
        "dst_port": valid_port(f.get("dstport")) if ports else None,
        "nat_ip": valid_ip(f.get(nat)),
        "nat_port": valid_port(f.get(nat_port)) if ports else None,
    }


ADDR = r"[0-9A-Fa-f:.]*[0-9A-Fa-f]"  # an IPv4 or IPv6 literal (validated afterwards)
IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"


CANONICAL_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\Z"
)


def _ip_or_none(text: str) -> str | None:
    """Normalised IP string, or None; canonical IPv4 (the bulk) skips the ipaddress module, 10x slower."""
    if CANONICAL_IPV4.match(text):
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


def valid_ip(text: str | None) -> str | None:
    """Validated IP, None when absent; rejects the line when present but not an address."""
    if text is None or text == "" or text == "-":
        return None
    value = _ip_or_none(text)
    if value is None:
        raise Reject(text)
    return value


def soft_ip(text: str | None) -> str | None:
    """Validated IP, or None when the field holds something else (e.g. a MAC or a name)."""
    if not text or len(text) > 45:
        return None
    return _ip_or_none(text)


def valid_port(text: str | None) -> int | None:
    """Port number, None when absent; rejects the line when out of range."""
    if text is None or text == "" or text == "-":
        return None
    if len(text) > 5 or not text.isascii() or not text.isdigit():
        raise Reject(text)
    value = int(text)
    if value > 65535:
        raise Reject(text)
    return value


def valid_count(text: str | None) -> int | None:
    """Non-negative byte count; rejects absurd values (Parquet int64)."""
    if text is None or text == "" or text == "-":
        return None
    if len(text) > 18 or not text.isascii() or not text.isdigit():
        raise Reject(text)
    return int(text)


_MAC_SPLIT = re.compile(r"[:-]")
_HEX = frozenset("0123456789abcdef")


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}\Z")


def norm_mac(text: str | None) -> str | None:
    """Canonical aa:bb:cc:dd:ee:ff from colon, dash, dotted (Cisco) or unpadded (ISC) forms."""
    if not text:
        return None
    if _CANONICAL_MAC.match(text):
        return text
    return _mac_parse(text)


@lru_cache(maxsize=16384)
def _mac_parse(text: str) -> str | None:
    """The slow path of norm_mac for every other spelling."""
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
PORT_PROTOS = frozenset({"tcp", "udp", "sctp", "udplite"})
PROTO_OK = re.compile(r"[a-z0-9][a-z0-9.+-]{0,15}\Z")


@lru_cache(maxsize=1024)
def norm_proto(text: str | None) -> str | None:
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
    return value if PROTO_OK.match(value) else None


def norm_user(text: str | None) -> str | None:
    """User name as logged, None for the usual placeholders; control characters are refused."""
    if text is None:
        return None
    value = text.strip().strip('"').strip()
    if value in ("", "-", "(none)", "N/A", "unknown", "UNKNOWN") or value.strip("*") == "":
        return None  # ASA masks rejected names as *****
    if len(value) > 256 or not value.isprintable():
        return None
    return value


def norm_token(text: str | None) -> str | None:
    """A short printable identifier (session ids), None when absent or suspicious."""
    if not text or len(text) > 128 or not text.isprintable():
        return None
    return text


_DENY_WORDS = re.compile(r"(?<![A-Z])(?:DROP|DROPPED|BLOCK|BLOCKED|REJECT|REJECTED|DENY|DENIED)(?![A-Z])")
_ALLOW_WORDS = re.compile(r"(?<![A-Z])(?:ACCEPT|ACCEPTED|ALLOW|ALLOWED|PASS|PERMIT|PERMITTED)(?![A-Z])")


@lru_cache(maxsize=4096)
def prefix_action(prefix: str) -> str | None:
    """allow/deny from a firewall log prefix chosen by the admin, None when it says neither."""
    upper = prefix.upper()
    if _DENY_WORDS.search(upper):
        return "deny"
    if _ALLOW_WORDS.search(upper):
        return "allow"
    return None


_KV_ALL = re.compile(r'(?<![^\s,;<>])([A-Za-z_][\w-]*)=("[^"\\]*(?:\\.[^"\\]*)*"|[^\s",;]*)')


def _kv_slow(text: str, keys: frozenset[str]) -> dict[str, str]:
    """Full key=value scan that understands backslash-escaped quotes inside quoted values."""
    out: dict[str, str] = {}
    for key, value in _KV_ALL.findall(text):
        if key in keys and key not in out:
            out[key] = value[1:-1] if value[:1] == '"' else value
    return out


def kv_fields(text: str, keys: frozenset[str]) -> dict[str, str]:
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


def action_word(value: str | None, table: dict[str, str]) -> str | None:
    """Vendor action mapped to ours; unknown but clean words kept lower-case, rubbish dropped."""
    if not value:
        return None
    value = value.lower()
    if value in table:
        return table[value]
    return value if PROTO_OK.match(value) else None


def sum_bytes(*values: str | None) -> int | None:
    """Sum of the byte counters that are present, None when none is."""
    counts = [c for c in (valid_count(v) for v in values) if c is not None]
    return sum(counts) if counts else None


MAX_LEN = 16384  # longer messages are not connection logs (extract_connection returns None at once)
