"""OpenSSH logins, failures and disconnections."""

from __future__ import annotations

import re

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import ADDR, Conn, conn_row, norm_user, valid_ip, valid_port

_SSHD = re.compile(
    r"(?:(?P<ok>Accepted) \S+ for (?P<u1>\S+)|Failed \S+ for (?:invalid user )?(?P<u2>\S+)"
    r"|Invalid user (?P<u3>\S*)|Disconnected from user (?P<u4>\S+)) "
    rf"(?:from )?(?P<ip>{ADDR}) port (?P<port>\d+)"
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
    return conn_row(
        "sshd",
        src_ip=valid_ip(m["ip"]),
        src_port=valid_port(m["port"]),
        protocol="tcp",
        user=norm_user(user),
        action=action,
    )


def _guard_sshd(t: str) -> bool:
    return " port " in t and (
        "Accepted " in t or "Failed " in t or "Invalid user " in t or "Disconnected from user " in t
    )


FORMAT = Format(
    name="sshd",
    guard=_guard_sshd,
    extract=extract_sshd,
    needles=(" port ", "Accepted |Failed |Invalid user |Disconnected from user "),
)
