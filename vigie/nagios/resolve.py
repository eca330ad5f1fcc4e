"""Resolve Nagios object definitions as Nagios Core 4 does (xdata/xodtemplate.c), into plain objects.

- Templates: a definition with `name` is a template of its kind; `use a,b` resolves a (depth first, its own
  templates first) then b, and a directive is taken from the first template that has it: the object's own
  value wins, then a's, then b's. `name`, `register` and `use` are not inherited. `null` clears a directive
  and stops its inheritance, for the objects that use a template saying null too (Nagios 4 sets it to
  NULL and marks it as had, and "had" is what is inherited). A list directive whose value starts
  with `+` is appended to the inherited value (xodtemplate_get_inherited_string_value); a `+` left when no
  template had a value is dropped (xodtemplate_clean_additive_strings). Custom variables are inherited by
  name, the object's own first.
- Objects with `register 0` are templates only.
- Host groups: `members` (with `*` and `!host`), hosts' own `hostgroups`, `hostgroup_members` (recursive).
- Services: one per host of `host_name` (with `*` and `!host`) and of the members of `hostgroup_name` (with
  `*` and `!group`), exclusions applied to both. Of two definitions of one service on one host, Nagios 4.4
  keeps the one its lists put first (xodtemplate_duplicate_services, established with nagios4 -vp, see
  _duplicate_rank); every duplicate is listed in the import report.
- Implied inheritance (xodtemplate_inherit_object_properties): a service with neither contacts nor
  contact_groups takes its host's; notification_interval and notification_period too when it has none.
- Service groups: `members` (host,service pairs), services' `servicegroups`, `servicegroup_members`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vigie.nagios.reader import Definition, MainConfig, NagiosConfigError

NOT_INHERITED = {"name", "register", "use"}
OWN_NAME = {"host": "host_name", "hostgroup": "hostgroup_name", "servicegroup": "servicegroup_name",
            "contact": "contact_name", "contactgroup": "contactgroup_name", "timeperiod": "timeperiod_name",
            "command": "command_name"}
_DEP = ("host_name", "hostgroup_name", "dependent_host_name", "dependent_hostgroup_name", "service_description",
        "dependent_service_description", "servicegroup_name", "dependent_servicegroup_name")
ADDITIVE: dict[str, set[str]] = {
    "host": {"parents", "hostgroups", "contact_groups", "contacts"},
    "service": {"host_name", "hostgroup_name", "servicegroups", "contact_groups", "contacts", "parents"},
    "hostgroup": {"members", "hostgroup_members"},
    "servicegroup": {"members", "servicegroup_members"},
    "contactgroup": {"members", "contactgroup_members"},
    "contact": {"contactgroups", "host_notification_commands", "service_notification_commands"},
    "hostdependency": set(_DEP), "servicedependency": set(_DEP),
    "hostescalation": {"contact_groups", "contacts", "host_name", "hostgroup_name"},
    "serviceescalation": {"contact_groups", "contacts", "host_name", "hostgroup_name", "service_description",
                          "servicegroup_name"},
}


@dataclass
class Obj:
    """A resolved definition: directives (None: `null`), custom variables, where it was defined."""

    kind: str
    attrs: dict[str, str | None]
    custom: dict[str, str]
    where: str
    definition: Obj | None = None  # a service on one host: the definition it came from (its host lists as written)

    def get(self, key: str, default: str | None = None) -> str | None:
        v = self.attrs.get(key)
        return default if v is None else v

    def list(self, key: str) -> list[str]:
        return split_list(self.attrs.get(key))


@dataclass
class Objects:
    """Everything Nagios would register, resolved; `notes` are the warnings and skips, with where."""

    hosts: dict[str, Obj] = field(default_factory=dict)
    services: dict[tuple[str, str], Obj] = field(default_factory=dict)
    hostgroups: dict[str, Obj] = field(default_factory=dict)
    hostgroup_members: dict[str, set[str]] = field(default_factory=dict)
    servicegroups: dict[str, Obj] = field(default_factory=dict)
    servicegroup_members: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    commands: dict[str, Obj] = field(default_factory=dict)
    contacts: dict[str, Obj] = field(default_factory=dict)
    contactgroups: dict[str, Obj] = field(default_factory=dict)
    contactgroup_members: dict[str, set[str]] = field(default_factory=dict)
    timeperiods: dict[str, Obj] = field(default_factory=dict)
    dependencies: list[Obj] = field(default_factory=list)
    escalations: list[Obj] = field(default_factory=list)
    other: list[Obj] = field(default_factory=list)  # hostextinfo, serviceextinfo
    user_macros: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)


def split_list(value: str | None) -> list[str]:
    """A comma-separated Nagios list, blanks dropped."""
    if not value:
        return []
    return [x.strip() for x in value.split(",") if x.strip()]


class _Templates:
    """Template lookup and memoised resolution, per kind."""

    def __init__(self, defs: list[Definition]) -> None:
        self.by_name: dict[tuple[str, str], Definition] = {}
        for d in defs:
            name = d.attrs.get("name")
            if name is not None:
                self.by_name.setdefault((d.kind, name), d)
        self.done: dict[int, Obj] = {}
        self.active: set[int] = set()

    def resolve(self, d: Definition) -> Obj:
        key = id(d)
        if key in self.done:
            return self.done[key]
        if key in self.active:
            raise NagiosConfigError(f"{d.where}: circular template inheritance in {d.kind} 'use {d.attrs.get('use')}'")
        self.active.add(key)
        attrs: dict[str, str | None] = {k: (None if v == "null" else v) for k, v in d.attrs.items()}
        custom = {k: v for k, v in d.custom.items() if v != "null"}
        additive = ADDITIVE.get(d.kind, set())
        never = NOT_INHERITED | ({OWN_NAME[d.kind]} if d.kind in OWN_NAME and d.kind != "command" else set())
        for tname in split_list(d.attrs.get("use")):
            tdef = self.by_name.get((d.kind, tname))
            if tdef is None:
                raise NagiosConfigError(f"{d.where}: template '{tname}' specified in {d.kind} definition could not be found")
            tmpl = self.resolve(tdef)
            for k, v in tmpl.attrs.items():
                if k in never:
                    continue
                mine = attrs.get(k, ...)
                if mine is ...:
                    attrs[k] = v  # a template's null too: the object then "has" it, empty (xod_inherit_str)
                elif k in additive and v is not None and mine is not None and mine.startswith("+"):
                    attrs[k] = v + "," + mine[1:]
            for k, v in tmpl.custom.items():
                if k not in d.custom and k not in custom:  # the first template that has it wins
                    custom[k] = v
        self.active.discard(key)
        obj = Obj(d.kind, attrs, custom, d.where)
        self.done[key] = obj
        return obj


def _clean(obj: Obj) -> Obj:
    for k in ADDITIVE.get(obj.kind, ()):
        v = obj.attrs.get(k)
        if v is not None and v.startswith("+"):
            obj.attrs[k] = v[1:]
    return obj


def pick(names: list[str], universe: list[str] | set[str]) -> tuple[set[str], set[str]]:
    """Accepted and rejected names of a list with `*` and `!name`."""
    yes: set[str] = set()
    no: set[str] = set()
    for n in names:
        if n == "*":
            yes.update(universe)
        elif n.startswith("!"):
            no.add(n[1:])
        else:
            yes.add(n)
    return yes, no


def resolve(main: MainConfig) -> Objects:
    """All registered objects of a configuration read by reader.read_main."""
    tpl = _Templates(main.definitions)
    out = Objects(user_macros=dict(main.user_macros), settings=dict(main.settings))
    regs: dict[str, list[Obj]] = {}
    for d in main.definitions:
        if d.attrs.get("register", "1").strip() == "0":
            continue
        regs.setdefault(d.kind, []).append(_clean(tpl.resolve(d)))
    _named(out, regs, "command", out.commands)
    _named(out, regs, "timeperiod", out.timeperiods)
    _named(out, regs, "contact", out.contacts)
    _named(out, regs, "contactgroup", out.contactgroups)
    _named(out, regs, "host", out.hosts)
    _named(out, regs, "hostgroup", out.hostgroups)
    _named(out, regs, "servicegroup", out.servicegroups)
    _hostgroups(out)
    _contactgroups(out)
    _services(out, regs.get("service", []))
    _servicegroups(out)
    _implied_inheritance(out)
    out.dependencies = regs.get("hostdependency", []) + regs.get("servicedependency", [])
    out.escalations = regs.get("hostescalation", []) + regs.get("serviceescalation", [])
    out.other = regs.get("hostextinfo", []) + regs.get("serviceextinfo", [])
    return out


def _named(out: Objects, regs: dict[str, list[Obj]], kind: str, into: dict[str, Obj]) -> None:
    for obj in regs.get(kind, []):
        name = obj.get(OWN_NAME[kind])
        if not name:
            out.notes.append((obj.where, f"{kind} without {OWN_NAME[kind]}: skipped (Nagios refuses it)"))
        elif name in into:
            out.notes.append((obj.where, f"duplicate {kind} '{name}': the first definition ({into[name].where}) is kept"))
        else:
            into[name] = obj


def _closure(direct: dict[str, set[str]], subgroups: dict[str, list[str]], what: str,
             excluded: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Members of each group including those of its sub-groups (recursively), less the group's own
    exclusions; a loop is an error."""
    done: dict[str, set[str]] = {}

    def walk(name: str, stack: tuple[str, ...]) -> set[str]:
        if name in done:
            return done[name]
        if name in stack:
            raise NagiosConfigError(f"{what} '{name}': circular {what}_members")
        members = set(direct.get(name, set()))
        for sub in subgroups.get(name, []):
            if sub not in direct:
                raise NagiosConfigError(f"{what} '{name}': unknown {what} '{sub}' in {what}_members")
            members |= walk(sub, (*stack, name))
        done[name] = members - (excluded or {}).get(name, set())
        return members

    for name in direct:
        walk(name, ())
    return done


def _hostgroups(out: Objects) -> None:
    direct: dict[str, set[str]] = {}
    excluded: dict[str, set[str]] = {}
    for name, grp in out.hostgroups.items():
        yes, no = pick(grp.list("members"), out.hosts)
        for h in sorted(yes - set(out.hosts)):
            raise NagiosConfigError(f"{grp.where}: hostgroup '{name}': unknown host '{h}' in members")
        direct[name], excluded[name] = yes, no
    for hname, host in out.hosts.items():
        for g in host.list("hostgroups"):
            if g not in direct:
                raise NagiosConfigError(f"{host.where}: host '{hname}': unknown hostgroup '{g}'")
            direct[g].add(hname)
    subs = {n: g.list("hostgroup_members") for n, g in out.hostgroups.items()}
    # a group's `!host` wins over the host's own `hostgroups` and over its sub-groups' members
    out.hostgroup_members = _closure(direct, subs, "hostgroup", excluded)


def _contactgroups(out: Objects) -> None:
    direct: dict[str, set[str]] = {n: set(g.list("members")) for n, g in out.contactgroups.items()}
    for cname, contact in out.contacts.items():
        for g in contact.list("contactgroups"):
            if g in direct:
                direct[g].add(cname)
    subs = {n: g.list("contactgroup_members") for n, g in out.contactgroups.items()}
    out.contactgroup_members = _closure(direct, subs, "contactgroup")


def service_hosts(out: Objects, svc: Obj) -> set[str]:
    """The hosts a service definition applies to (xodtemplate_expand_hostgroups_and_hosts)."""
    groups_yes, groups_no = pick(svc.list("hostgroup_name"), out.hostgroups)
    hosts_yes, hosts_no = pick(svc.list("host_name"), out.hosts)
    for g in sorted((groups_yes | groups_no) - set(out.hostgroups)):
        raise NagiosConfigError(f"{svc.where}: service '{svc.get('service_description')}': unknown hostgroup '{g}'")
    for h in sorted(hosts_yes - set(out.hosts)):
        raise NagiosConfigError(f"{svc.where}: service '{svc.get('service_description')}': unknown host '{h}'")
    accept = set(hosts_yes)
    reject = set(hosts_no)
    for g in groups_yes:
        accept |= out.hostgroup_members[g]
    for g in groups_no:
        reject |= out.hostgroup_members[g]
    return accept - reject


def _prepended(items: list[str], hosts: list[str]) -> list[str]:
    """A host list as Nagios builds it from a written list (xodtemplate_expand_hosts): each name, and for `*`
    each host of its host list (kept in reverse reading order), is prepended; `!name` adds nothing."""
    added: list[str] = []
    for item in items:
        if item == "*":
            added.extend(reversed(hosts))
        elif not item.startswith("!"):
            added.append(item)
    return added[::-1]


def _member_order(out: Objects) -> dict[str, list[str]]:
    """Each host group's member list in Nagios' order: its members' hosts, then the hosts naming it in
    `hostgroups` (in reverse reading order), then its sub-groups' members (last written first), each
    prepended once. Only the order differs from hostgroup_members, which says who is in."""
    hosts = list(out.hosts)
    done: dict[str, list[str]] = {}

    def order(name: str) -> list[str]:
        if name not in done:
            done[name] = []  # a loop was refused by _closure already
            grp = out.hostgroups[name]
            added: list[str] = []
            for h in (*_prepended(grp.list("members"), hosts),
                      *(h for h in reversed(hosts) if name in out.hosts[h].list("hostgroups")),
                      *(m for sub in reversed(grp.list("hostgroup_members")) if sub in out.hostgroups for m in order(sub))):
                if h in out.hostgroup_members[name] and h not in added:
                    added.append(h)
            done[name] = added[::-1]
        return done[name]

    for name in out.hostgroups:
        order(name)
    return done


def _original_host(out: Objects, svc: Obj, accepted: set[str], members: dict[str, list[str]]) -> str | None:
    """The host the definition itself keeps (the others get copies): the last one Nagios walks, if it was not
    rejected or met before. Nagios walks the written host list (prepended), then the groups, the last written
    first, each in member order."""
    groups = [g for g in svc.list("hostgroup_name") if not g.startswith("!")]
    direct = _prepended(svc.list("host_name"), list(out.hosts))
    if groups:
        walked = members.get(groups[0], [])
        last = walked[-1] if walked else None
        before = set(direct) | {h for g in groups[1:] for h in members.get(g, [])}
    else:
        last = direct[-1] if direct else None
        before = set()
    return last if last in accepted and last not in before else None


def _duplicate_rank(index: int, host: str, original: str | None, direct: set[str]) -> tuple[int, int]:
    """Lower wins: how Nagios 4.4 chooses between definitions of one service on one host. Copies are
    prepended to the service list, which holds definitions in reverse reading order, then inserted first
    those not from a host group (the definitions themselves count as not), the first inserted kept. So: a
    copy for a host named in host_name, the earliest definition first; then the definitions' own hosts, the
    latest first; then copies for host group members, the earliest first."""
    if host == original:
        return (1, -index)
    return (0, index) if host in direct else (2, index)


def _services(out: Objects, defs: list[Obj]) -> None:
    members = _member_order(out)
    best: dict[tuple[str, str], tuple[tuple[int, int], Obj]] = {}
    for index, svc in enumerate(defs):
        desc = svc.get("service_description")
        if not desc:
            out.notes.append((svc.where, "service without service_description: skipped (Nagios refuses it)"))
            continue
        hosts = service_hosts(out, svc)
        if not hosts:
            out.notes.append((svc.where, f"service '{desc}' applies to no host: skipped"))
            continue
        original = _original_host(out, svc, hosts, members)
        direct = pick(svc.list("host_name"), out.hosts)[0]
        for h in sorted(hosts):
            rank = _duplicate_rank(index, h, original, direct)
            attrs = dict(svc.attrs)
            attrs["host_name"] = h
            obj = Obj("service", attrs, dict(svc.custom), svc.where, svc)
            kept = best.get((h, desc))
            if kept is not None:
                first, later = kept[1], obj  # definitions come in reading order
                keeps = "later" if rank < kept[0] else "earlier"
                out.notes.append((first.where, f"service '{desc}' on host '{h}' is defined again at {later.where}, "
                                  f"which Nagios keeps (the {keeps} definition wins)" if keeps == "later" else
                                  f"service '{desc}' on host '{h}' is defined again at {later.where}; Nagios keeps "
                                  f"this one (the {keeps} definition wins)"))
                if rank > kept[0]:
                    continue
            best[h, desc] = (rank, obj)
    out.services = {key: obj for key, (_, obj) in best.items()}


def _servicegroups(out: Objects) -> None:
    direct: dict[str, set[tuple[str, str]]] = {}
    for name, grp in out.servicegroups.items():
        items = grp.list("members")
        if len(items) % 2:
            raise NagiosConfigError(f"{grp.where}: servicegroup '{name}': members must be host,service pairs")
        pairs = set(zip(items[::2], items[1::2], strict=True))
        for pair in sorted(pairs - set(out.services)):
            raise NagiosConfigError(f"{grp.where}: servicegroup '{name}': unknown service '{pair[1]}' on host '{pair[0]}'")
        direct[name] = pairs
    for key, svc in out.services.items():
        for g in svc.list("servicegroups"):
            if g not in direct:
                raise NagiosConfigError(f"{svc.where}: service '{key[1]}': unknown servicegroup '{g}'")
            direct[g].add(key)
    subs = {n: g.list("servicegroup_members") for n, g in out.servicegroups.items()}
    out.servicegroup_members = _closure(direct, subs, "servicegroup")  # type: ignore[arg-type]


def _implied_inheritance(out: Objects) -> None:
    for (hname, _), svc in out.services.items():
        host = out.hosts[hname]
        if "contacts" not in svc.attrs and "contact_groups" not in svc.attrs:
            for k in ("contacts", "contact_groups"):
                if host.attrs.get(k) is not None:
                    svc.attrs[k] = host.attrs[k]
        for k in ("notification_interval", "notification_period"):
            if k not in svc.attrs and host.attrs.get(k) is not None:
                svc.attrs[k] = host.attrs[k]
