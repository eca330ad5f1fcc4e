"""An inventory that scales like Nagios objects: many files, host templates, host groups, services on a group.

`merge_inventory_dir` folds the `*.toml` files of `[inventory] inventory_dir` into the `[inventory]` table
(a name defined twice is a one-line error naming both files); `resolve` turns the checked inventory into plain
hosts and services — templates applied, group memberships listed on each host, a service on a host group
repeated on each member — so that the plugin runner and the correlator never see groups or templates.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vigie.errors import ConfigError

if TYPE_CHECKING:  # the configuration calls this module to resolve itself: types only, no import back
    from vigie.config import HostConfig, InventoryConfig, ServiceConfig

_TABLES = ("sites", "hosts", "hostgroups", "host_templates", "servicegroups")


def merge_inventory_dir(inventory: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The [inventory] table with the files of folder merged in (sorted by name, so the result is stable)."""
    if not folder.is_dir():
        raise ConfigError(f"config: inventory.inventory_dir: expected a folder, got \"{folder}\"")
    merged: dict[str, Any] = {k: dict(inventory.get(k) or {}) for k in _TABLES}
    origin: dict[tuple[str, str], str] = {(k, n): "the main file" for k in _TABLES for n in merged[k]}
    services = list(inventory.get("services") or [])
    for path in sorted(folder.rglob("*.toml")):
        shown = str(path.relative_to(folder.parent))
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config: {shown}: not valid TOML ({exc})") from None
        for key, value in doc.items():
            if key == "services":
                if not isinstance(value, list):
                    raise ConfigError(f"config: {shown}: services: expected [[services]] tables")
                services.extend(value)
                continue
            if key not in _TABLES or not isinstance(value, dict):
                raise ConfigError(f"config: {shown}: {key}: unknown key (known here: {', '.join((*_TABLES, 'services'))})")
            for name, table in value.items():
                if (key, name) in origin:
                    raise ConfigError(f"config: {shown}: {key}.{name}: already defined in {origin[key, name]}")
                origin[key, name] = shown
                merged[key][name] = table
    out = {k: v for k, v in inventory.items() if k not in (*_TABLES, "services")}
    out.update({k: v for k, v in merged.items() if v})
    if services:
        out["services"] = services
    return out


def _with_template(name: str, host: HostConfig, templates: dict[str, HostConfig]) -> HostConfig:
    if host.use is None:
        return host
    tmpl = templates.get(host.use)
    if tmpl is None:
        raise ConfigError(f"config: inventory.hosts.{name}.use: expected a host template, got \"{host.use}\"")
    blank = type(host)()
    taken = {f.name: getattr(tmpl, f.name) for f in fields(host)
             if f.name not in ("use", "vars") and getattr(host, f.name) == getattr(blank, f.name)}
    return replace(host, **taken, vars={**tmpl.vars, **host.vars})


def resolve(inv: InventoryConfig) -> InventoryConfig:
    """Plain hosts (templates applied, `groups` listing every group of the host) and one service per host."""
    hosts = {name: _with_template(name, h, inv.host_templates) for name, h in inv.hosts.items()}
    members: dict[str, set[str]] = {g: set(grp.members) for g, grp in inv.hostgroups.items()}
    for g, names in members.items():
        for h in sorted(names - set(hosts)):
            raise ConfigError(f"config: inventory.hostgroups.{g}.members: expected known host names, got \"{h}\"")
    for name, host in hosts.items():
        for g in host.groups:
            if g not in members:
                raise ConfigError(f"config: inventory.hosts.{name}.groups: expected a host group, got \"{g}\"")
            members[g].add(name)
    groups_of: dict[str, list[str]] = {name: [] for name in hosts}
    for g in sorted(members):
        for h in members[g]:
            groups_of[h].append(g)
    hosts = {name: replace(h, groups=groups_of[name]) for name, h in hosts.items()}
    services: list[ServiceConfig] = []
    for i, svc in enumerate(inv.services):
        if svc.hostgroup is None:
            on = [svc]
        elif svc.host is not None:
            raise ConfigError(f"config: inventory.services[{i}]: expected host or hostgroup, not both")
        elif svc.hostgroup == "*":
            on = [replace(svc, host=h) for h in sorted(hosts)]
        elif svc.hostgroup not in members:
            raise ConfigError(f"config: inventory.services[{i}].hostgroup: expected a host group, got \"{svc.hostgroup}\"")
        else:
            on = [replace(svc, host=h) for h in sorted(members[svc.hostgroup])]
        for s in on:
            host = hosts.get(s.host) if s.host else None
            if host is not None and s.notification_period is None and host.notification_period is not None:
                s = replace(s, notification_period=host.notification_period)  # Nagios' implied inheritance
            elif s.notification_period == "":
                s = replace(s, notification_period=None)  # none, not even the host's (Nagios' null)
            services.append(s)
    return replace(inv, hosts=hosts, services=services)
