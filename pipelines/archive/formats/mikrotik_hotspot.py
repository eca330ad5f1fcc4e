"""MikroTik RouterOS hotspot logins and logouts."""

from __future__ import annotations

import re

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import ADDR, Conn, conn_row, norm_mac, norm_user, valid_ip

_MT_HOTSPOT = re.compile(
    rf"hotspot[\w,]{{0,64}}\s+(?P<user>\S{{1,256}}) \((?P<ip>{ADDR})\): (?P<ev>logged in|logged out|login failed)"
)
_MT_EVENTS = {"logged in": "login", "logged out": "logout", "login failed": "login_failed"}


def extract_mikrotik_hotspot(text: str) -> Conn | None:
    """RouterOS hotspot log topics: `user (ip): logged in|logged out|login failed`."""
    m = _MT_HOTSPOT.search(text)
    if m is None:
        return None
    user = m["user"]
    mac = norm_mac(user[2:] if user.startswith("T-") else user)  # trial and MAC-auth users are MACs
    return conn_row(
        "mikrotik_hotspot", src_ip=valid_ip(m["ip"]), user=norm_user(user), mac=mac, action=_MT_EVENTS[m["ev"]]
    )


def _guard_hotspot(t: str) -> bool:
    return "hotspot" in t and "log" in t


FORMAT = Format(
    name="mikrotik_hotspot",
    guard=_guard_hotspot,
    extract=extract_mikrotik_hotspot,
    needles=("hotspot", "log"),
)
