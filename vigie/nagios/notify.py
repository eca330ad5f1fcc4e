"""Nagios contacts, contact groups and escalations as Vigie time periods, receivers and routes.

- A contact becomes an `email` receiver (its `email`) and an `sms` receiver (its `pager`). Nagios sends
  through commands Vigie does not run, so the e-mail receivers use the local MTA as `/usr/bin/mail` does
  (`localhost:25`, no TLS, from nagios.cfg's `admin_email`) and the SMS receivers a gateway URL to set; the
  report says so.
- Each contact and contact group notified for some hosts becomes a route matching these hosts (`continue`, so
  every contact of a host is told, as Nagios tells them all).
- An escalation becomes two routes. `nagios-escalation-N` matches the escalated hosts (and services) and carries
  `escalate_after` and `escalate_to`; it has no receivers of its own, the contact routes notify as before.
  `nagios-escalation-N-to` holds the escalation's contacts and its `escalation_period` (Vigie escalates once:
  the escalation's `notification_interval`, Nagios' repeat, is reported); it matches `kind = "escalation-only"`, a kind no alert has (the labels a route may
  match are fixed), so it is reached only through `escalate_to`. Nagios escalates at the first_notification-th notification, which it sends
  (first_notification - 1) x notification_interval of the host or service after the first
  (https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/escalations.html); escalated objects
  with different intervals give one `nagios-escalation-N` route per interval (`-2`, `-3`... in interval order).
  N counts host escalations first, then service escalations, each in reading order. An escalation without
  contacts, notification_interval or escalation_period takes the escalated objects' (as Nagios does).
- What Vigie's one-step escalation cannot say (last_notification, escalation_options subsets, an interval of
  0 that never reaches the Nth notification) goes into the report.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from vigie.nagios.resolve import Obj, Objects
from vigie.nagios.tomlwrite import duration, key, table

SMS_GATEWAY = "https://sms-gateway.invalid/send"
_ALL_OPTIONS = {"hostescalation": set("dur"), "serviceescalation": set("wucr")}
_NAGIOS_INTERVAL = "30"  # notification_interval default, minutes (Nagios Core 4's)


def _rx(names: set[str] | list[str]) -> str:
    return "^(" + "|".join(re.escape(n) for n in sorted(names)) + ")$"


def _receivers(objs: Objects, members: list[str]) -> list[str]:
    return [r for m in sorted(set(members)) if m in objs.contacts for r in
            ([m] if objs.contacts[m].get("email") else []) + ([m + "-sms"] if objs.contacts[m].get("pager") else [])]


def _contacts_of(objs: Objects, obj: Obj) -> list[str]:
    """The contacts an object names directly or through its contact groups."""
    names = list(obj.list("contacts"))
    for g in obj.list("contact_groups"):
        names.extend(objs.contactgroup_members.get(g, set()))
    return names


def _hosts_of(objs: Objects, obj: Obj) -> set[str]:
    names = set(obj.list("host_name"))
    if "*" in names:
        names = set(objs.hosts)
    for g in obj.list("hostgroup_name"):
        names |= objs.hostgroup_members.get(g, set())
    return names & set(objs.hosts)


def escalated(objs: Objects, esc: Obj) -> list[tuple[str, str | None, Obj]]:
    """(host, service or None, the escalated object) of one escalation, as Nagios expands it."""
    hosts = _hosts_of(objs, esc)
    if esc.kind == "hostescalation":
        return [(h, None, objs.hosts[h]) for h in sorted(hosts)]
    descs = esc.list("service_description")
    pairs = {k for k in objs.services if k[0] in hosts and ("*" in descs or k[1] in descs)}
    for g in esc.list("servicegroup_name"):
        pairs |= objs.servicegroup_members.get(g, set())
    return [(h, s, objs.services[h, s]) for h, s in sorted(pairs)]


def _common(targets: list[tuple[str, str | None, Obj]], key: str, where: str, report: list[str]) -> str | None:
    """What an escalation without `key` inherits: each escalated object's own value; one route holds one."""
    values = {obj.get(key) for *_, obj in targets}
    if len(values) > 1:
        report.append(f"{where}: the escalated objects have different {key}s and the escalation none: "
                      "not carried over")
        return None
    return values.pop()


def _escalation(objs: Objects, esc: Obj, name: str, interval_length: float, report: list[str]) -> list[str]:
    """The routes of one escalation (none when it escalates nothing Vigie can notify)."""
    where = f"{esc.where}: {esc.kind} {name}"
    targets = escalated(objs, esc)
    # an escalation without contacts notifies the escalated objects' own (xodtemplate_inherit_object_properties)
    own = esc.get("contacts") is not None or esc.get("contact_groups") is not None
    receivers = _receivers(objs, _contacts_of(objs, esc) if own else [c for *_, o in targets for c in _contacts_of(objs, o)])
    if not targets or not receivers:
        report.append(f"{where}: {'no host or service' if not targets else 'no contact with an email or pager'}: "
                      "not carried over")
        return []
    first = int(esc.get("first_notification") or "1")
    last = int(esc.get("last_notification") or "0")
    if last:
        report.append(f"{where}: last_notification {last}: not carried over (a Vigie escalation lasts until the "
                      "problem is acknowledged or resolved)")
    options = set(esc.list("escalation_options"))
    if options and options != _ALL_OPTIONS[esc.kind]:
        report.append(f"{where}: escalation_options {','.join(sorted(options))}: not carried over (a Vigie "
                      "escalation applies to every state)")
    by_after: dict[float, list[tuple[str, str | None]]] = defaultdict(list)
    for host, svc, obj in targets:
        interval = float(obj.get("notification_interval") or _NAGIOS_INTERVAL)
        if interval <= 0 and first > 1:
            report.append(f"{where}: {host}{'/' + svc if svc else ''} notifies once (notification_interval 0): "
                          f"Nagios never reaches its notification {first}; not escalated")
            continue
        by_after[(first - 1) * interval].append((host, svc))
    routes = []
    for i, after in enumerate(sorted(by_after)):
        match = {"host": _rx({h for h, _ in by_after[after]})}
        if esc.kind == "serviceescalation":
            match["service"] = _rx({s for _, s in by_after[after] if s})
        routes.append(table("[[routes]]", {
            "name": name if i == 0 else f"{name}-{i + 1}", "match_re": match,
            "escalate_after": duration(after, interval_length) if after else "0s",
            "escalate_to": f"{name}-to", "continue": True}))
    if not routes:
        return []
    period = esc.get("escalation_period") or _common(targets, "notification_period", where, report)
    repeat = float(esc.get("notification_interval") or _common(targets, "notification_interval", where, report) or _NAGIOS_INTERVAL)
    if repeat > 0:
        report.append(f"{where}: notification_interval {duration(repeat, interval_length)}: not carried over (Vigie "
                      "sends the escalation once, then the end of the problem)")
    routes.append(table("[[routes]]", {
        "name": f"{name}-to", "match": {"kind": "escalation-only"}, "timeperiod": period,
        "receivers": receivers, "continue": True}))
    return routes


def render(objs: Objects, interval_length: float, report: list[str]) -> str:
    """notifications.toml: time periods (Nagios syntax, which vigie/timeperiods.py reads), receivers, routes."""
    parts = ["# Time periods, receivers and routes from Nagios contacts and escalations; loads on its own\n"
             "# (vigie config check notifications.toml). Review the receivers, then append to vigie.toml.\n"]
    for name in sorted(objs.timeperiods):
        tp = objs.timeperiods[name]
        values: dict[str, Any] = {"alias": tp.get("alias")}
        values.update({k: v for k, v in tp.attrs.items() if k not in ("timeperiod_name", "alias", "use", "name", "register", "exclude") and v})
        values["exclude"] = tp.list("exclude")
        parts.append(table(f"[timeperiods.{key(name)}]", values))
    sender = objs.settings.get("admin_email") or "nagios@localhost"
    sms = []
    for name in sorted(objs.contacts):
        c = objs.contacts[name]
        if c.get("email"):
            parts.append(table(f"[receivers.{key(name)}]", {"type": "email", "smarthost": "localhost:25", "tls": "none",
                                                            "from": sender, "to": [c.get("email")]}))
        if c.get("pager"):
            sms.append(name + "-sms")
            parts.append(table(f"[receivers.{key(name + '-sms')}]", {
                "type": "sms", "url": SMS_GATEWAY, "body": "to={to}&message={message}", "to": [c.get("pager")]}))
        if not c.get("email") and not c.get("pager"):
            report.append(f"{c.where}: contact '{name}': no email or pager: no receiver")
    if sms:
        report.append(f"receivers {', '.join(sms)}: Nagios pages through a command; set url and body of your SMS gateway "
                      f"(the import writes {SMS_GATEWAY})")
    hosts_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for obj in (*objs.hosts.values(), *objs.services.values()):
        for g in obj.list("contact_groups"):
            hosts_of["group", g].add(obj.get("host_name") or "")
        for c in obj.list("contacts"):
            hosts_of["contact", c].add(obj.get("host_name") or "")
    for kind, name in sorted(hosts_of):
        members = sorted(objs.contactgroup_members.get(name, set())) if kind == "group" else [name]
        period = next((objs.contacts[m].get("service_notification_period") for m in members if m in objs.contacts), None)
        parts.append(table("[[routes]]", {"name": f"nagios-{kind}-{name}", "match_re": {"host": _rx(hosts_of[kind, name])},
                                          "timeperiod": period, "receivers": _receivers(objs, members), "continue": True}))
    for n, esc in enumerate(objs.escalations, 1):
        parts.extend(_escalation(objs, esc, f"nagios-escalation-{n}", interval_length, report))
    return "\n".join(parts)
