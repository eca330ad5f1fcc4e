"""Windows Network Policy Server (NPS) audit events 6272-6278, as syslog agents (NXLog, Snare) forward them.

Microsoft documents the events ("6272(S): Network Policy Server granted access to a user.", and 6273,
6274, 6276, 6278 likewise, https://learn.microsoft.com/windows/security/threat-protection/auditing/event-6272):
the message names the user ("User:" block, "Account Name:") and the device ("Client Machine:" block,
"Calling Station Identifier:": the MAC of an 802.1X/Wi-Fi client, the public address of a VPN one). The
"Client IP Address" and "NAS IPv4 Address" are the RADIUS client (the switch, the access point), not the
user's device, and are not taken. Agents flatten the message's tabs and line breaks into spaces (Snare)
or keep them (NXLog): the fields are read whatever the whitespace between them.
"""

from __future__ import annotations

import re

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import Conn, conn_row, norm_mac, norm_user, soft_ip

_NPS = re.compile(
    r"Network Policy Server (?P<ev>granted access|granted full access|denied access|discarded the request"
    r"|quarantined) (?:to|for) a user\b"
)
_NPS_ACTIONS = {
    "granted access": "login",  # 6272
    "granted full access": "login",  # 6278: the host met the health policy
    "quarantined": "login",  # 6276: granted, restricted
    "denied access": "login_failed",  # 6273
    "discarded the request": "login_failed",  # 6274
}
# The User block's Account Name comes first (the Client Machine block's comes after it); an empty value
# would read the next label, which the lookahead refuses.
_ACCOUNT = re.compile(r"\bAccount Name:\s+(?!Account Domain:)(?P<user>\S{1,256})")
_CALLING = re.compile(r"\bCalling Station Identifier:\s+(?P<cli>[^\s]{1,64})")


def extract_nps(text: str) -> Conn | None:
    """User and calling station (MAC, or a VPN client's address) of an NPS grant or denial."""
    m = _NPS.search(text)
    if m is None:
        return None
    rest = text[m.end() :]
    account = _ACCOUNT.search(rest)
    calling = _CALLING.search(rest)
    station = calling["cli"] if calling else None
    user = norm_user(account["user"]) if account else None
    mac, ip = norm_mac(station), soft_ip(station)
    if user is None and mac is None and ip is None:
        return None
    return conn_row("nps", src_ip=ip, user=user, mac=mac, action=_NPS_ACTIONS[m["ev"]])


def _guard_nps(t: str) -> bool:
    return "Network Policy Server " in t


FORMAT = Format(
    name="nps",
    guard=_guard_nps,
    extract=extract_nps,
    needles=("Network Policy Server ",),
)
