"""RADIUS: FreeRADIUS auth lines and accounting records written as attribute=value."""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.columns import NS, WS, bounded_match, per_unique, truth
from vigie.pipelines.archive.formats.values import (
    Conn,
    Reject,
    action_word,
    conn_row,
    norm_mac,
    norm_token,
    norm_user,
    soft_ip,
    valid_count,
    valid_ip,
)

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
        return norm_user("host/" + head)
    return norm_user(value.split("/", 1)[0])


def _station(value: str | None) -> tuple[str | None, str | None]:
    """(mac, ip) from a Calling-Station-Id / `cli`, which holds either, or a phone number."""
    if not value:
        return None, None
    return norm_mac(value), soft_ip(value)


def extract_radius(text: str) -> Conn | None:
    """FreeRADIUS auth lines and RADIUS accounting records written as attribute=value."""
    m = _FR_AUTH.search(text)
    if m is not None:
        mac, ip = _station(m["cli"])
        return conn_row(
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
    framed = valid_ip(attrs.get("Framed-IP-Address"))
    if framed is None and "Framed-IPv6-Address" in attrs:
        framed = valid_ip(attrs["Framed-IPv6-Address"])
    src, nat = (framed, station_ip) if framed else (station_ip, None)
    octets = None
    if any(
        f"Acct-{part}-{unit}" in attrs for part in ("Input", "Output") for unit in ("Octets", "Gigawords")
    ):
        octets = 0
        for part in ("Input", "Output"):
            octets += valid_count(attrs.get(f"Acct-{part}-Octets")) or 0
            octets += (valid_count(attrs.get(f"Acct-{part}-Gigawords")) or 0) << 32
        if octets >= 1 << 63:  # the archive column is int64
            raise Reject("octets")
    status = attrs.get("Acct-Status-Type", "").lower()
    if src is None and mac is None and "User-Name" not in attrs:
        return None  # Accounting-On/Off: about the NAS, not a device
    return conn_row(
        "radius",
        src_ip=src,
        nat_ip=nat,
        user=norm_user(attrs.get("User-Name")),
        mac=mac,
        action=_RADIUS_STATUS.get(status, action_word(status, {})),
        bytes=octets,
        session_id=norm_token(attrs.get("Acct-Session-Id")),
    )


# _guard_radius as one RE2 alternation
RADIUS_GUARD = r"Login OK|Login incorrect|Invalid user: \[|Acct-|acct-|Framed-IP"


def _guard_radius(t: str) -> bool:
    return (
        "Login OK" in t
        or "Login incorrect" in t
        or "Invalid user: [" in t
        or "Acct-" in t
        or "acct-" in t
        or "Framed-IP" in t
    )


# --------------------------------------------------------------------------- column-wise


# _FR_AUTH for bounded_match (its bounds: paren 300, user 256).
_FR_AUTH_RE2 = (
    r"(?P<res>Login OK|Login incorrect|Invalid user)(?: \((?P<paren>[^\[\]]*?)\))?: \[(?P<user>[^\]]*)\]"
    rf"(?: \(from client (?P<client>{NS}+) port (?P<port>{NS}+)(?: cli (?P<cli>[^{WS})]+))?)?"
)


def radius_columns(sub: pa.StringArray) -> tuple[dict[str, pa.Array], pa.BooleanArray]:
    """extract_radius for FreeRADIUS "Login OK/incorrect" lines; accounting attributes take the per-row code."""
    n = len(sub)
    f, ok = bounded_match(sub, _FR_AUTH_RE2, {"paren": 300, "user": 256})
    cli = f("cli")
    cli = pc.if_else(truth(pc.equal(cli, "")), pa.scalar(None, pa.string()), cli)  # unmatched group reads ""
    cols = {
        "conn_format": pa.repeat(pa.scalar("radius"), n),
        "src_ip": per_unique(cli, soft_ip, pa.string())[0],
        "user": per_unique(f("user"), lambda v: _radius_user(v) if v is not None else None, pa.string())[0],
        "mac": per_unique(cli, norm_mac, pa.string())[0],
        "action": pc.if_else(truth(pc.equal(f("res"), "Login OK")), pa.scalar("login"), pa.scalar("login_failed")),
    }
    return cols, ok


FORMAT = Format(
    name="radius",
    guard=_guard_radius,
    extract=extract_radius,
    needles=(RADIUS_GUARD,),
    columns=radius_columns,
    apps=("radiusd",),
    lane_checks=(RADIUS_GUARD,),  # _FR_AUTH also matches "Invalid user (...): [", which the guard refuses
)
