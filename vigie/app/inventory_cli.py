"""`vigie inventory show [--host H] --format table|json`: the inventory as the runner and the correlator see it.

Templates, host groups and services on a group are resolved (vigie/inventory.py); intervals are in seconds;
`argv` is what the plugin runner would execute ($HOSTADDRESS$, $_HOSTX$ ... expanded).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from vigie.config import Config


def resolved(cfg: Config, host: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """{"hosts": [...], "services": [...]}, sorted by name (the JSON shape of issue 16)."""
    from vigie.app.services import host_check_def, service_def
    from vigie.producers.checks.runner import build_argv

    inv = cfg.inventory
    dirs = (cfg.checks.plugin_dir,)
    default_mca = cfg.correlation.max_check_attempts
    hosts = [
        {"name": name, "address": h.address or name, "site": h.site, "parents": list(h.parents), "groups": list(h.groups),
         "max_check_attempts": h.max_check_attempts or default_mca,
         "check_interval": h.check_interval, "retry_interval": h.retry_interval,
         "check_period": h.check_period, "notification_period": h.notification_period,
         "check_command": h.check_command,
         "argv": build_argv(host_check_def(name, h, default_mca), dirs) if h.command is not None else None}
        for name, h in sorted(inv.hosts.items()) if host is None or name == host
    ]
    never = {"check_interval": 1.0, "retry_interval": 1.0}  # a passive service's 0 interval does not change its argv
    services = [
        {"host": s.host, "name": s.name, "check_command": s.check_command, "argv": build_argv(service_def(inv, s, **never), dirs),
         "max_check_attempts": s.max_check_attempts, "check_interval": s.check_interval,
         "retry_interval": s.retry_interval, "check_period": s.check_period,
         "notification_period": s.notification_period,
         "depends_on": [{"host": d.host or s.host, "service": d.service, "states": list(d.states), "inherit": d.inherit}
                        for d in s.depends_on],
         "servicegroups": list(s.servicegroups)}
        for s in inv.services if host is None or s.host == host
    ]
    services.sort(key=lambda s: (s["host"], s["name"]))
    return {"hosts": hosts, "services": services}


def run(cfg: Config, args: argparse.Namespace) -> int:
    data = resolved(cfg, args.host)
    if args.format == "json":
        json.dump(data, sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    for h in data["hosts"]:
        print(f"{h['name']:30} {h['address']:20} site={h['site'] or '-'} groups={','.join(h['groups']) or '-'} "
              f"parents={','.join(h['parents']) or '-'}")
        if h["argv"] is not None:
            print(f"    {'(host check)':30} every {h['check_interval'] or 300:g}s  {h['check_command'] or ' '.join(h['argv'])}")
        for s in data["services"]:
            if s["host"] == h["name"]:
                print(f"    {s['name']:30} every {s['check_interval']:g}s  {s['check_command'] or ' '.join(s['argv'])}")
    return 0
