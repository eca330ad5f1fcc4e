"""Nagios macros in command lines: `name!arg1!arg2` check commands, $ARGn$, $USERn$, host and service macros.

Nagios (common/macros.c) replaces a known $NAME$ by its value, leaves an unknown one as written and turns
`$$` into `$`. The importer expands only what does not depend on the host a check runs on ($ARGn$, $USERn$,
the service's own macros) and leaves $HOSTADDRESS$, $HOSTNAME$, $_HOSTX$ ... to Vigie's plugin runner, which
expands them the same way per argument; values it inserts have their `$` doubled so that the runner's pass
gives them back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from vigie.nagios.resolve import Obj, Objects

_MACRO = re.compile(r"\$([^$\s]*)\$")
_SHELL = re.compile(r"[|&;<>`]|\$\(")


def split_check_command(check_command: str) -> tuple[str, list[str]]:
    """'check_ping!100,20%!500,60%' -> ('check_ping', ['100,20%', '500,60%']); `\\!` is a literal `!`."""
    parts = re.split(r"(?<!\\)!", check_command)
    return parts[0].strip(), [p.replace("\\!", "!") for p in parts[1:]]


def expand(text: str, values: Mapping[str, str], *, for_runner: bool = False) -> str:
    """Replace the $NAME$ that values knows. for_runner: leave `$$` and unknown macros for the runner's pass
    (and double the `$` of inserted values); otherwise `$$` becomes `$` as Nagios does."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "":
            return "$$" if for_runner else "$"
        if name in values:
            return values[name].replace("$", "$$") if for_runner else values[name]
        return m.group(0)

    return _MACRO.sub(sub, text)


def host_macros(host_name: str, host: Obj) -> dict[str, str]:
    """The host's own macros (what Nagios would give a check on this host)."""
    out = {"HOSTNAME": host_name, "HOSTADDRESS": host.get("address") or host_name,
           "HOSTALIAS": host.get("alias") or host_name, "HOSTDISPLAYNAME": host.get("display_name") or host_name}
    out.update({f"_HOST{k}": v for k, v in host.custom.items()})
    return out


def service_macros(svc: Obj) -> dict[str, str]:
    desc = svc.get("service_description") or ""
    out = {"SERVICEDESC": desc, "SERVICEDISPLAYNAME": svc.get("display_name") or desc}
    out.update({f"_SERVICE{k}": v for k, v in svc.custom.items()})
    return out


def command_line(objs: Objects, check_command: str, values: Mapping[str, str], *, for_runner: bool = False) -> str:
    """The command line of a check command with $ARGn$ and the given macros replaced; KeyError: unknown command.

    The arguments themselves may hold macros ($USER1$, $HOSTADDRESS$): they are expanded first, as Nagios does.
    """
    name, args = split_check_command(check_command)
    cmd = objs.commands[name]
    all_values = {**objs.user_macros, **values}
    argv = {f"ARG{i}": expand(a, all_values) for i, a in enumerate(args, 1)}
    for i in range(len(args) + 1, 33):
        argv[f"ARG{i}"] = ""  # Nagios: an $ARGn$ not given is empty
    return expand(cmd.get("command_line") or "", {**all_values, **argv}, for_runner=for_runner)


def needs_shell(line: str) -> bool:
    """Nagios runs such a command line with /bin/sh; Vigie's runner runs plugins without a shell."""
    return bool(_SHELL.search(line))
