"""Stormshield SNS audit logs (key=value)."""

from __future__ import annotations

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import (
    PORT_PROTOS,
    Conn,
    action_word,
    conn_row,
    kv_endpoints,
    kv_fields,
    norm_mac,
    norm_proto,
    norm_user,
    sum_bytes,
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


_STORMSHIELD_TYPES = frozenset({"connection", "filter", "plugin", "web", "ssl", "ftp"})
_STORMSHIELD_ACTIONS = {"pass": "allow", "block": "deny"}


def extract_stormshield(text: str) -> Conn | None:
    """Stormshield SNS audit logs (l_connection, l_filter, l_plugin, l_web...): src, modsrc, sent/rcvd."""
    f = kv_fields(text, _STORMSHIELD_KEYS)
    if f.get("id") != "firewall" or f.get("logtype") not in _STORMSHIELD_TYPES or "src" not in f:
        return None
    proto = norm_proto(f.get("ipproto"))
    ports = proto in PORT_PROTOS or proto is None
    return conn_row(
        "stormshield",
        **kv_endpoints(f, src="src", dst="dst", nat="modsrc", nat_port="modsrcport", ports=ports),
        protocol=proto,
        user=norm_user(f.get("user")),
        mac=norm_mac(f.get("srcmac")),
        action=action_word(f.get("action"), _STORMSHIELD_ACTIONS),
        bytes=sum_bytes(f.get("sent"), f.get("rcvd")),
    )


def _guard_stormshield(t: str) -> bool:
    return "id=firewall" in t and "logtype=" in t


FORMAT = Format(
    name="stormshield",
    guard=_guard_stormshield,
    extract=extract_stormshield,
    needles=("logtype=", "id=firewall"),
)
