"""pfSense / OPNsense web GUI logins, failures and logouts (auth.log, written by php-fpm or audit)."""

from __future__ import annotations

import re

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import ADDR, Conn, conn_row, norm_user, valid_ip

# pfSense's etc/inc/auth.inc writes (log_auth, tag php-fpm, the script in front: "/index.php: "):
#   "Successful login for user '%1$s' from: %2$s" (followed by the auth source: " (Local Database)")
#   "webConfigurator authentication error for user '%1$s' from: %2$s"
#   "User logged out for user '%1$s' from: %2$s", "Session timed out for user '%1$s' from: %2$s"
# OPNsense (audit log) keeps the success and logout wording and writes its failures
#   "Web GUI authentication error for '%s' from %s".
# The address is the browser's: the administrator's workstation.
_GUI = re.compile(
    r"(?P<ev>Successful login|webConfigurator authentication error|Web GUI authentication error"
    r"|User logged out|Session timed out) for (?:user )?'(?P<user>[^']{0,256})' "
    rf"from:? (?P<ip>{ADDR})(?![\w:.])"
)
_GUI_ACTIONS = {
    "Successful login": "login",
    "webConfigurator authentication error": "login_failed",
    "Web GUI authentication error": "login_failed",
    "User logged out": "logout",
    "Session timed out": "logout",
}


def extract_pfsense_gui(text: str) -> Conn | None:
    """Who logged in to (or failed to log in to, or left) the firewall's web GUI, and from where."""
    m = _GUI.search(text)
    if m is None:
        return None
    return conn_row(
        "pfsense_gui",
        src_ip=valid_ip(m["ip"]),
        protocol="tcp",
        user=norm_user(m["user"]),
        action=_GUI_ACTIONS[m["ev"]],
    )


def _guard_gui(t: str) -> bool:
    return "' from" in t


FORMAT = Format(
    name="pfsense_gui",
    guard=_guard_gui,
    extract=extract_pfsense_gui,
    needles=("' from",),
)
