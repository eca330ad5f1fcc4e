"""DHCP lease events: ISC dhcpd, ISC Kea, dnsmasq."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import (
    NS,
    all_true,
    bounded_match,
    has,
    ip_column,
    per_unique,
)
from vigie.pipelines.archive.formats.values import ADDR, Conn, conn_row, norm_mac, soft_ip, valid_ip

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
    rf"DHCP(?P<kind>ACK|OFFER|NAK|REQUEST|RELEASE|DECLINE|INFORM) (?:on|for|of|to|from) (?P<ip>{ADDR})"
    r"(?: \((?P<paren>[^)]{0,64})\))?(?: (?:to|from) (?P<mac>[0-9a-fA-F:]{1,64})(?: \([^)]{0,256}\))?)? via \S"
)
_DNSMASQ_DHCP = re.compile(
    rf"DHCP(?P<kind>[A-Z]{{2,8}})\((?P<iface>[^)\s]{{0,64}})\) (?P<ip>{ADDR})(?: (?P<mac>[0-9a-fA-F:-]{{1,64}}))?(?:\s|$)"
)

# Kea's lease messages (kea-messages: DHCP4_LEASE_ALLOC "%1: lease %2 has been allocated for %3 seconds", ...),
# %1 the client: "[hwtype=1 <mac>], cid=[...], tid=0x..." (DHCPv4), "duid=[...], [hwtype=1 <mac>], tid=0x..."
# or "duid=[...], [no hwaddr info], tid=0x..." (DHCPv6).
_KEA_DHCP = re.compile(
    r"DHCP[46]_(?P<ev>LEASE_ALLOC|LEASE_REUSE|LEASE_ADVERT|RELEASE|DECLINE)\b"
    r"(?:(?:[^\[]{0,8}|\s+duid=\[[0-9a-fA-F:]{0,400}\],\s*)\[hwtype=\d+ (?P<mac>[0-9a-fA-F:]{1,64})\])?"
    r".{0,400}?tid=0x[0-9a-fA-F]+: "
    rf"(?:lease|address) (?:for (?:address|prefix) )?(?P<ip>{ADDR})"
)
# Kea's DHCP4_DECLINE_LEASE ("Received DHCPDECLINE for addr %1 from client %2. The lease will be unavailable
# for %3 seconds.", %2 the client's "[hwtype=1 mac], cid=[...], tid=0x..."): the client refused the address.
_KEA_DECLINE = re.compile(
    rf"DHCP4_DECLINE_LEASE Received DHCPDECLINE for addr (?P<ip>{ADDR}) from client "
    r"\[hwtype=\d+ (?P<mac>[0-9a-fA-F:]{1,64})\]"
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
        return conn_row(
            "dhcp", src_ip=valid_ip(k["ip"]), protocol="udp", mac=norm_mac(k["mac"]), action=_KEA_ACTIONS[k["ev"]]
        )
    if "_" in text and (k := _KEA_DECLINE.search(text)) is not None:
        return conn_row("dhcp", src_ip=valid_ip(k["ip"]), protocol="udp", mac=norm_mac(k["mac"]), action="decline")
    m = _ISC_DHCP.search(text)
    if m is not None:
        mac = norm_mac(m["mac"]) or norm_mac(m["paren"])  # `DHCPACK to ip (mac) via` answers a DHCPINFORM
        return conn_row("dhcp", src_ip=valid_ip(m["ip"]), protocol="udp", mac=mac, action=_DHCP_ACTIONS[m["kind"]])
    m = _DNSMASQ_DHCP.search(text)
    if m is None or m["kind"] not in _DHCP_ACTIONS:
        return None
    ip = soft_ip(m["ip"])
    if ip is None:  # DHCPDISCOVER(eth0) aa:bb:... carries no address: not a lease
        return None
    return conn_row("dhcp", src_ip=ip, protocol="udp", mac=norm_mac(m["mac"]), action=_DHCP_ACTIONS[m["kind"]])


def _guard_dhcp(t: str) -> bool:
    return "DHCP" in t


# --------------------------------------------------------------------------- column-wise


# _ISC_DHCP for bounded_match (its bounds: paren 64, mac 64, tail 256).
_ISC = (
    rf"DHCP(?P<kind>ACK|OFFER|NAK|REQUEST|RELEASE|DECLINE|INFORM) (?:on|for|of|to|from) (?P<ip>{ADDR})"
    rf"(?: \((?P<paren>[^)]*)\))?(?: (?:to|from) (?P<mac>[0-9a-fA-F:]+)(?: \((?P<tail>[^)]*)\))?)? via {NS}"
)


def dhcp_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_dhcp for ISC dhcpd lines without "_" (which extract_dhcp first tries as Kea)."""
    n = len(sub)
    f, matched = bounded_match(sub, _ISC, {"paren": 64, "mac": 64, "tail": 256})
    ok = all_true(matched, pc.invert(has(sub, "_")))
    src, bad = ip_column(f("ip"))
    mac = pc.coalesce(
        per_unique(f("mac"), norm_mac, pa.string())[0], per_unique(f("paren"), norm_mac, pa.string())[0]
    )
    action = per_unique(f("kind"), lambda v: _DHCP_ACTIONS[v] if v else None, pa.string())[0]
    cols = {
        "conn_format": pa.repeat(pa.scalar("dhcp"), n),
        "src_ip": src,
        "protocol": pa.repeat(pa.scalar("udp"), n),
        "mac": mac,
        "action": action,
    }
    return cols, all_true(ok, pc.is_valid(src), pc.invert(bad))


FORMAT = Format(
    name="dhcp",
    guard=_guard_dhcp,
    extract=extract_dhcp,
    needles=("DHCP",),
    columns=dhcp_columns,
    apps=("dhcpd",),
)
