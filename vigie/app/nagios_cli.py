"""`vigie import nagios PATH/nagios.cfg --out DIR`: a Nagios Core 4 configuration as Vigie configuration.

DIR receives `vigie.toml` (loads as it is: `[inventory] inventory_dir`), `inventory/*.toml` (sites, hosts,
host groups, services: a service defined on one host group in Nagios stays one service on that group),
`notifications.toml` (time periods, receivers and routes from contacts and escalations,
vigie/nagios/notify.py: it loads on its own and appended to vigie.toml; the import checks both) and `import-report.txt`, which lists what was not carried
over and why. Every list is sorted, so re-importing a changed Nagios tree changes only what changed
(`--diff` prints the difference with what DIR held).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from vigie.nagios import dependencies, notify
from vigie.nagios.macros import command_line, needs_shell, service_macros
from vigie.nagios.reader import NagiosConfigError, read_main
from vigie.nagios.resolve import Obj, Objects, resolve, split_list
from vigie.nagios.tomlwrite import duration as _duration
from vigie.nagios.tomlwrite import key as _key
from vigie.nagios.tomlwrite import table as _table

# Directives Vigie carries over (the others are listed in the report with their counts).
_CARRIED = {
    "host": {"host_name", "alias", "address", "parents", "hostgroups", "max_check_attempts", "check_interval",
             "retry_interval", "check_period", "notification_period", "contacts", "contact_groups", "use", "name",
             "register", "check_command", "active_checks_enabled"},
    "service": {"host_name", "hostgroup_name", "service_description", "check_command", "max_check_attempts",
                "check_interval", "retry_interval", "check_period", "notification_period", "contacts",
                "contact_groups", "use", "name", "register", "servicegroups", "active_checks_enabled"},
}
_DEFAULTS = {"check_interval": 5.0, "retry_interval": 1.0}  # minutes, Nagios 4's defaults


class Importer:
    """One import: the resolved Nagios objects, the site rule, and what goes into the report."""

    def __init__(self, objs: Objects, site_from: str | None) -> None:
        self.objs = objs
        self.site_from = site_from
        self.interval_length = float(objs.settings.get("interval_length", "60"))
        self.report: list[str] = [f"{where}: {what}" for where, what in objs.notes]
        self.sites: set[str] = set()

    def site_of(self, name: str, host: Obj) -> str | None:
        if not self.site_from:
            return None
        kind, _, arg = self.site_from.partition(":")
        if kind == "var":
            site = host.custom.get(arg.lstrip("_").upper())
        else:
            groups = sorted(g for g, m in self.objs.hostgroup_members.items() if name in m and g.startswith(arg))
            site = groups[0][len(arg):] if groups else None
        if site is None:
            self.report.append(f"{host.where}: host '{name}': no site from {self.site_from}")
        else:
            self.sites.add(site)
        return site

    def _minutes(self, obj: Obj, key: str) -> str:
        value = obj.get(key)
        return _duration(float(value) if value else _DEFAULTS[key], self.interval_length)

    def parents(self) -> dict[str, set[str]]:
        """Each host's parents: its own, plus the masters of host dependencies (topology in Vigie)."""
        out = {n: set(h.list("parents")) for n, h in self.objs.hosts.items()}
        added: dict[str, str] = {}
        for dep in self.objs.dependencies:
            if dep.kind != "hostdependency":
                continue
            self._unsupported_criteria(dep, "d,u", "of the host")
            masters = self._hosts_of(dep, "host_name", "hostgroup_name")
            for dependent in self._hosts_of(dep, "dependent_host_name", "dependent_hostgroup_name"):
                out[dependent] |= masters - {dependent}
                added[dependent] = dep.where
        for dependent, where in sorted(added.items()):
            if len(out[dependent]) > 1:
                self.report.append(f"{where}: hostdependency: the masters of '{dependent}' are among its parents "
                                   f"({', '.join(sorted(out[dependent]))}): Vigie suppresses its alerts when all of "
                                   "them are down, Nagios its notifications when one master fails")
        return out

    def _unsupported_criteria(self, dep: Obj, kept: str, states: str) -> None:
        """Report what of a dependency Vigie does not carry: execution criteria, a period, other states."""
        execution = dep.get("execution_failure_criteria")
        if execution and execution.strip() != "n":
            self.report.append(f"{dep.where}: {dep.kind}: execution_failure_criteria {execution}: not carried over "
                               "(Vigie runs the dependent checks anyway; only notifications are suppressed)")
        if dep.get("dependency_period"):
            self.report.append(f"{dep.where}: {dep.kind}: dependency_period {dep.get('dependency_period')}: not "
                               "carried over (the dependency holds at all times)")
        other = sorted(set(split_list(dep.get("notification_failure_criteria"))) - set(kept.split(",")) - {"n"})
        if other:
            self.report.append(f"{dep.where}: {dep.kind}: notification_failure_criteria {','.join(other)}: not "
                               f"carried over (Vigie suppresses on the failing states {kept} {states} only)")

    def service_dependencies(self, sites: dict[str, str | None],
                             carried: set[tuple[str, str]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Each dependent service's `depends_on` (the master's host left out when it is the same host), from
        Nagios' notification_failure_criteria, on the `carried` services; what Vigie cannot honour is in the
        report."""
        pairs, notes = dependencies.expand(self.objs)
        self.report += notes
        for dep in {id(p.definition): p.definition for p in pairs}.values():
            self._unsupported_criteria(dep, "w,u,c", "of the master")
        out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for p in pairs:
            states = sorted(dependencies.SEVERITY_OF[x] for x in p.notification if x in dependencies.SEVERITY_OF)
            if not states:
                continue
            if p.master not in carried:
                self.report.append(f"{p.definition.where}: servicedependency of '{p.dependent[1]}' on "
                                   f"'{p.dependent[0]}': its master '{p.master[1]}' on '{p.master[0]}' is not carried "
                                   "over (above): neither is the dependency")
                continue
            if sites.get(p.master[0]) != sites.get(p.dependent[0]):
                self.report.append(f"{p.definition.where}: servicedependency of '{p.dependent[1]}' on "
                                   f"'{p.dependent[0]}' on '{p.master[1]}' on '{p.master[0]}': the hosts are at "
                                   "different sites, whose alerts the correlator sees apart: it has no effect")
            entry: dict[str, Any] = {"service": p.master[1]}
            if p.master[0] != p.dependent[0]:
                entry["host"] = p.master[0]
            entry["states"] = states
            if p.inherits_parent:
                entry["inherit"] = True
            if entry not in out[p.dependent]:
                out[p.dependent].append(entry)
        for entries in out.values():
            entries.sort(key=lambda e: (e.get("host", ""), e["service"]))
        return out

    def _hosts_of(self, obj: Obj, hosts_key: str, groups_key: str) -> set[str]:
        names = set(obj.list(hosts_key))
        for g in obj.list(groups_key):
            names |= self.objs.hostgroup_members.get(g, set())
        return names & set(self.objs.hosts)

    def hosts(self) -> dict[str, dict[str, Any]]:
        parents = self.parents()
        out: dict[str, dict[str, Any]] = {}
        for name in sorted(self.objs.hosts):
            h = self.objs.hosts[name]
            mca = h.get("max_check_attempts")
            out[name] = {
                "site": self.site_of(name, h), "address": self.address(name, h),
                "description": h.get("alias") if h.get("alias") != name else None,
                "parents": sorted(parents[name]),
                "max_check_attempts": int(mca) if mca else None,
                "check_interval": self._minutes(h, "check_interval"), "retry_interval": self._minutes(h, "retry_interval"),
                "check_period": h.get("check_period"), "notification_period": h.get("notification_period"),
                "vars": dict(sorted(h.custom.items())),
                **self.host_check(name, h),
            }
        return out

    def host_check(self, name: str, host: Obj) -> dict[str, str]:
        """The host's check_command as the host check Vigie's runner runs ({} without one), the reason in the
        report when it is not run: $HOSTADDRESS$, $HOSTNAME$, $_HOSTX$ are left to the runner."""
        cc = host.get("check_command")
        if not cc:
            return {}
        where = f"{host.where}: host '{name}'"
        try:
            line = command_line(self.objs, cc, {}, for_runner=True)
        except KeyError:
            self.report.append(f"{where}: unknown command in check_command '{cc}': no host check")
            return {"check_command": cc}
        if host.get("active_checks_enabled") == "0":
            self.report.append(f"{where}: active_checks_enabled 0: its host check is not run (results come from senders)")
            return {"check_command": cc}
        if float(host.get("check_interval") or "5") <= 0:
            self.report.append(f"{where}: check_interval 0: Nagios checks it only on demand; Vigie has no on-demand "
                               "host checks: its host check is not run")
            return {"check_command": cc}
        if needs_shell(line):
            self.report.append(f"{where}: the host check's command line uses the shell (Nagios runs it with /bin/sh); "
                               "Vigie runs plugins without a shell: review it")
        return {"check_command": cc, "command": line}

    def address(self, name: str, host: Obj) -> str | None:
        """The host's address when Vigie accepts it (an IP address or a DNS name), else None and a report line."""
        from vigie.config import ConfigError, host_name

        address = host.get("address")
        if address is None:
            return None
        try:
            return host_name()(address.strip(), "address")
        except ConfigError:
            self.report.append(f"{host.where}: host '{name}': address {address!r} is not an IP address or DNS name: "
                               "not carried over ($HOSTADDRESS$ is the host name until you set one)")
            return None

    def service(self, svc: Obj) -> dict[str, Any] | None:
        """One Vigie service (without host) or None, with the reason in the report."""
        cc = svc.get("check_command")
        where = f"{svc.where}: service '{svc.get('service_description')}' on '{svc.get('host_name')}'"
        if not cc:
            self.report.append(f"{where}: no check_command: not carried over (passive only)")
            return None
        try:
            line = command_line(self.objs, cc, service_macros(svc), for_runner=True)
        except KeyError:
            self.report.append(f"{where}: unknown command in '{cc}': not carried over")
            return None
        if needs_shell(line):
            self.report.append(f"{where}: the command line uses the shell (Nagios runs it with /bin/sh); Vigie runs plugins without a shell: review it")
        mca = int(svc.get("max_check_attempts") or "3")
        if not 1 <= mca <= 100:
            self.report.append(f"{where}: max_check_attempts {mca} is outside 1-100: 3 is used")
            mca = 3
        # Nagios never schedules these: their results come from senders (NSCA, NRDP)
        passive = svc.get("active_checks_enabled") == "0" or float(svc.get("check_interval") or "5") <= 0
        return {"name": svc.get("service_description"), "check_command": cc, "command": line,
                "check_interval": self._minutes(svc, "check_interval"),
                "retry_interval": self._minutes(svc, "retry_interval"),
                "max_check_attempts": mca, "active": False if passive else None,
                "check_period": svc.get("check_period"), "notification_period": svc.get("notification_period")}

    def services(self, sites: dict[str, str | None]) -> list[dict[str, Any]]:
        """Services, one per group when a Nagios definition on one host group gave the same service to all its members."""
        by_def: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        defs: dict[str, Obj] = {}
        built = {key: self.service(svc) for key, svc in sorted(self.objs.services.items())}
        depends_on = self.service_dependencies(sites, {key for key, vs in built.items() if vs is not None})
        groups_of: dict[tuple[str, str], list[str]] = defaultdict(list)
        for g, members in sorted(self.objs.servicegroup_members.items()):
            for key in members:
                groups_of[key].append(g)
        for (host, desc), svc in sorted(self.objs.services.items()):
            vs = built[host, desc]
            if vs is None:
                if (host, desc) in depends_on:
                    self.report.append(f"{svc.where}: the dependencies of service '{desc}' on '{host}': not carried "
                                       "over with it")
                continue
            vs["depends_on"] = depends_on.get((host, desc), [])
            vs["servicegroups"] = groups_of.get((host, desc), [])
            host_period = self.objs.hosts[host].get("notification_period")
            if vs["notification_period"] == host_period:
                vs["notification_period"] = None  # implied from the host, as Vigie does too
            elif vs["notification_period"] is None and host_period is not None:
                vs["notification_period"] = ""  # `null` in Nagios: none, not even the host's
            key = f"{svc.where}|{vs['name']}"
            by_def[key].append((host, vs))
            defs[key] = svc.definition or svc
        out: list[dict[str, Any]] = []
        for key, items in by_def.items():
            groups = defs[key].list("hostgroup_name")
            hosts = {h for h, _ in items}
            same = all(v == items[0][1] for _, v in items)
            if same and not groups and defs[key].list("host_name") == ["*"] and hosts == set(self.objs.hosts):
                out.append({"hostgroup": "*", **items[0][1]})
            elif (len(groups) == 1 and not defs[key].list("host_name") and same
                    and self.objs.hostgroup_members.get(groups[0]) == hosts):
                out.append({"hostgroup": groups[0], **items[0][1]})
            else:
                out.extend({"host": h, **v} for h, v in items)
        return sorted(out, key=lambda s: (s.get("hostgroup") or "", s.get("host") or "", s["name"]))

    def unused_directives(self) -> None:
        for kind, objs in (("host", self.objs.hosts.values()), ("service", self.objs.services.values())):
            counts = Counter(k for o in objs for k, v in o.attrs.items() if k not in _CARRIED[kind] and v is not None)
            for k, n in sorted(counts.items()):
                self.report.append(f"{kind} directive '{k}' (on {n} {kind}s): not carried over (no equivalent in Vigie)")
        for obj in self.objs.other:
            self.report.append(f"{obj.where}: {obj.kind}: not carried over (display only)")


def notifications(imp: Importer) -> str:
    """The notifications draft (vigie/nagios/notify.py), a configuration that loads on its own."""
    return notify.render(imp.objs, imp.interval_length, imp.report)


def render(objs: Objects, site_from: str | None, source: str) -> dict[str, str]:
    """File name (relative to DIR) -> content."""
    imp = Importer(objs, site_from)
    hosts = imp.hosts()
    services = imp.services({name: h["site"] for name, h in hosts.items()})
    head = f"# Imported by `vigie import nagios {source}`; see import-report.txt.\n"
    files = {"vigie.toml": head + "\n[inventory]\ninventory_dir = \"inventory\"\n"}
    files["inventory/hosts.toml"] = head + "".join("\n" + _table(f"[hosts.{_key(n)}]", v) for n, v in hosts.items())
    groups = "".join("\n" + _table(f"[hostgroups.{_key(g)}]", {"description": objs.hostgroups[g].get("alias"),
                                                               "members": sorted(objs.hostgroup_members[g])})
                     for g in sorted(objs.hostgroups))
    files["inventory/hostgroups.toml"] = head + groups
    if objs.servicegroups:
        files["inventory/servicegroups.toml"] = head + "".join(
            "\n" + _table(f"[servicegroups.{_key(g)}]", {"description": objs.servicegroups[g].get("alias")})
            for g in sorted(objs.servicegroups))
    files["inventory/services.toml"] = head + "".join("\n" + _table("[[services]]", s) for s in services)
    if imp.sites:
        files["inventory/sites.toml"] = head + "".join(f"\n[sites.{_key(s)}]\n" for s in sorted(imp.sites))
    files["notifications.toml"] = notifications(imp)
    imp.unused_directives()
    checks = sum(1 for h in hosts.values() if "command" in h)
    depends = sum(len(s["depends_on"]) for s in services)
    files["import-report.txt"] = (f"Import of {source}: {len(hosts)} hosts ({checks} with a host check), "
                                  f"{len(objs.services)} services ({len(services)} Vigie service entries, {depends} "
                                  f"master services in depends_on), {len(objs.hostgroups)} host groups, "
                                  f"{len(objs.servicegroups)} service groups.\n"
                                  "Not carried over, and why:\n" + "".join(f"- {line}\n" for line in imp.report))
    return files


def check_output(out: Path, files: dict[str, str]) -> None:
    """Raise ConfigError unless notifications.toml loads on its own and vigie.toml with it appended loads with
    the written inventory: the import's promise that its output is a configuration, not a sketch."""
    import tomllib

    from vigie.config import ConfigError, validate
    from vigie.inventory import merge_inventory_dir

    validate(tomllib.loads(files["notifications.toml"]))
    raw = tomllib.loads(files["vigie.toml"] + "\n" + files["notifications.toml"])
    cfg = validate({**raw, "inventory": merge_inventory_dir(raw["inventory"], out / raw["inventory"]["inventory_dir"])})
    from vigie.pipelines.correlate.routing import Router
    from vigie.pipelines.correlate.silences import ControlError

    try:
        Router.from_config(cfg.routes, cfg.timeperiods)  # what `vigie up` builds from the routes
    except (ControlError, ValueError) as exc:
        raise ConfigError(f"config: {exc}") from None


def run(args: argparse.Namespace) -> int:
    if args.site_from and not (args.site_from.startswith("hostgroup:") or args.site_from.startswith("var:_")):
        print("vigie import nagios: --site-from: expected hostgroup:PREFIX or var:_NAME", file=sys.stderr)
        return 2
    try:
        objs = resolve(read_main(args.path))
    except NagiosConfigError as exc:
        print(f"vigie import nagios: {exc}", file=sys.stderr)
        return 1
    out = Path(args.out)
    files = render(objs, args.site_from, args.path)
    for rel, text in sorted(files.items()):
        path = out / rel
        old = path.read_text(encoding="utf-8") if path.is_file() else ""
        if args.diff and old != text:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True), f"a/{rel}", f"b/{rel}"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    from vigie.config import ConfigError

    try:
        check_output(out, files)
    except ConfigError as exc:
        print(f"vigie import nagios: the written configuration does not load: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} files to {out} ({len(objs.hosts)} hosts, {len(objs.services)} services); "
          f"see {out / 'import-report.txt'}", file=sys.stderr)
    return 0


def run_state(args: argparse.Namespace) -> int:
    """`vigie import nagios-state FILE`: acknowledgements and downtimes to the control topic."""
    import time

    from vigie.nagios.state import StateFileError, commands, read_blocks
    from vigie.pipelines.correlate.silences import ControlError, parse_command
    from vigie.schemas.codec import dumps
    from vigie.schemas.validate import validate

    now = time.time()
    try:
        values, notes = commands(read_blocks(args.path), now)
        for value in values:
            parse_command(value, now=now)
            validate(value)
    except (StateFileError, ControlError, ValueError) as exc:
        print(f"vigie import nagios-state: {exc}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.dry_run:
        for value in values:
            sys.stdout.write(dumps(value).decode() + "\n")
        return 0
    from vigie.app.control_cli import settings_for
    from vigie.kafka_client import KafkaSink
    from vigie.topics import CONTROL

    sink = KafkaSink(settings_for(args, "operator"), linger_ms=0)  # control commands
    for value in values:
        sink.produce(CONTROL, dumps(value), key=value["id"].encode())
    if sink.close(timeout=15):
        print("vigie import nagios-state: the broker did not acknowledge the commands", file=sys.stderr)
        return 1
    print(f"wrote {len(values)} control commands ({', '.join(sorted({v['kind'] for v in values})) or 'none'})")
    return 0


def add_arguments(sub: Any, with_config: Any) -> None:
    imp = sub.add_parser("import", help="turn another tool's configuration into Vigie's")
    imp_sub = imp.add_subparsers(dest="import_kind", required=True)
    p = imp_sub.add_parser("nagios", help="a Nagios Core 4 configuration (its main nagios.cfg)")
    p.add_argument("path", help="the main configuration file, e.g. /etc/nagios4/nagios.cfg")
    p.add_argument("--out", required=True, help="folder receiving vigie.toml, inventory/ and import-report.txt")
    p.add_argument("--site-from", help="hostgroup:PREFIX (site = group name after PREFIX) or var:_SITE (a host custom variable)")
    p.add_argument("--diff", action="store_true", help="print what changes in the folder's files")
    p.set_defaults(func=run)
    st = with_config(imp_sub.add_parser("nagios-state", help="acknowledgements and downtimes of status.dat or retention.dat, to the control topic"))
    st.add_argument("path", help="Nagios' status.dat or retention.dat")
    st.add_argument("--dry-run", action="store_true", help="print the commands (JSON lines) instead of writing them")
    st.add_argument("--bootstrap", help="bootstrap servers (default: from the config, else the local broker)")
    st.set_defaults(func=run_state)
