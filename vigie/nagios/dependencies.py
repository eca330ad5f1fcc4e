"""Nagios service dependencies expanded as Nagios Core 4 does (xodtemplate_duplicate_servicedependencies), into
one (master service, dependent service) pair per definition, host and service.

- Masters: each host of `host_name` / `hostgroup_name` (with `*` and `!`) with each service of
  `service_description` on it (`*`: all its services), plus the members of `servicegroup_name`.
- Dependents: likewise from the `dependent_` directives; with none of `dependent_host_name`,
  `dependent_hostgroup_name`, `dependent_servicegroup_name`, the dependent services are on the master's own
  host (one pair per host, never across hosts).
- A service never depends on itself; a definition with neither notification nor execution failure criteria is
  ignored, as Nagios ignores a "lame" dependency.
The peer test compares the pairs with what `nagios4 -vp` writes (tests/integration/test_nagios_peer.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from vigie.nagios.resolve import Obj, Objects, pick

# Nagios' letters for service states in dependency criteria, and the Vigie alert severity of each failing one
SEVERITY_OF = {"w": "warning", "u": "unknown", "c": "critical"}


@dataclass(frozen=True)
class ServiceDependency:
    """One expanded pair: the dependent service is affected while the master is in a state of the criteria."""

    master: tuple[str, str]  # (host, service)
    dependent: tuple[str, str]
    notification: frozenset[str]  # letters of notification_failure_criteria (o, w, u, c, p; n or none: empty)
    execution: frozenset[str]  # letters of execution_failure_criteria
    inherits_parent: bool
    definition: Obj


def _letters(value: str | None) -> frozenset[str]:
    letters = frozenset(x.strip() for x in (value or "").split(",") if x.strip())
    return frozenset() if "n" in letters else letters


def _services_on(on_host: dict[str, set[str]], host: str, wanted: list[str]) -> set[tuple[str, str]]:
    """(host, service) for the service descriptions on host (`*`: all of them; `!name` excluded)."""
    services = on_host.get(host, set())
    yes, no = pick(wanted, services)
    return {(host, s) for s in yes - no if s in services}


def _side(objs: Objects, on_host: dict[str, set[str]], dep: Obj, prefix: str) -> tuple[set[tuple[str, str]], set[str]]:
    """The services of one side (prefix "" or "dependent_"), and the hosts it names."""
    hosts_named, groups_named = dep.list(f"{prefix}host_name"), dep.list(f"{prefix}hostgroup_name")
    yes_h, no_h = pick(hosts_named, set(objs.hosts))
    yes_g, no_g = pick(groups_named, set(objs.hostgroups))
    hosts = yes_h | {h for g in yes_g for h in objs.hostgroup_members.get(g, set())}
    hosts -= no_h | {h for g in no_g for h in objs.hostgroup_members.get(g, set())}
    wanted = dep.list(f"{prefix}service_description")
    services = {pair for h in hosts for pair in _services_on(on_host, h, wanted)} if wanted else set()
    for g in dep.list(f"{prefix}servicegroup_name"):
        services |= objs.servicegroup_members.get(g, set())
    return services, hosts


def expand(objs: Objects) -> tuple[list[ServiceDependency], list[str]]:
    """Every service dependency pair, in reading order then by name; and report lines for what Nagios would not
    register (unknown services, no criteria)."""
    pairs: list[ServiceDependency] = []
    notes: list[str] = []
    on_host: dict[str, set[str]] = {}
    for h, s in objs.services:
        on_host.setdefault(h, set()).add(s)
    for dep in objs.dependencies:
        if dep.kind != "servicedependency":
            continue
        notification = _letters(dep.get("notification_failure_criteria"))
        execution = _letters(dep.get("execution_failure_criteria"))
        if not notification and not execution:
            notes.append(f"{dep.where}: servicedependency without failure criteria: ignored, as Nagios ignores it")
            continue
        masters, master_hosts = _side(objs, on_host, dep, "")
        same_host = not any(dep.list(f"dependent_{k}") for k in ("host_name", "hostgroup_name", "servicegroup_name"))
        if same_host:
            wanted = dep.list("dependent_service_description")
            dependents = {pair for h in master_hosts | {h for h, _ in masters} for pair in _services_on(on_host, h, wanted)}
        else:
            dependents, _ = _side(objs, on_host, dep, "dependent_")
        if not masters or not dependents:
            notes.append(f"{dep.where}: servicedependency: no {'master' if not masters else 'dependent'} service "
                         "found: not carried over (Nagios refuses it)")
            continue
        inherit = dep.get("inherits_parent") == "1"
        for m in sorted(masters):
            for d in sorted(dependents):
                if d != m and (not same_host or d[0] == m[0]):
                    pairs.append(ServiceDependency(m, d, notification, execution, inherit, dep))
    return pairs, notes
