"""pfSense captive portal (logportalauth) logins and logouts."""

from __future__ import annotations

import re

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import ADDR, Conn, conn_row, norm_mac, norm_user, valid_ip

_PF_PORTAL = re.compile(
    rf"Zone: (?P<zone>\S{{1,64}}) - (?P<ev>[A-Za-z][^:,]{{0,80}}?): (?P<user>[^,]{{0,256}}), "
    rf"(?P<mac>[0-9A-Fa-f:.-]{{11,17}}), (?P<ip>{ADDR})"
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
    return conn_row(
        "pfsense_portal",
        src_ip=valid_ip(m["ip"]),
        user=norm_user(m["user"]) if m["user"] != "unauthenticated" else None,
        mac=norm_mac(m["mac"]),
        action=_portal_action(m["ev"]),
    )


def _guard_portal(t: str) -> bool:
    return "Zone: " in t


FORMAT = Format(
    name="pfsense_portal",
    guard=_guard_portal,
    extract=extract_pfsense_portal,
    needles=("Zone: ",),
)
