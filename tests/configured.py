"""Correlation objects built as the worker builds them: through vigie.config.validate, never from raw dicts.

The tests describe inventories and routes in the short shapes they always used (a host's `services`, a
`default_site`, matchers written "label=value"); these helpers turn them into the config file's tables, so
what a test runs has passed the same checks as a real config file.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vigie.config import Config, validate
from vigie.pipelines.correlate.alerts import AlertConfig
from vigie.pipelines.correlate.incident_model import IncidentConfig
from vigie.pipelines.correlate.routing import Router
from vigie.pipelines.correlate.topology import DEFAULT_SITE, Inventory


def config(**tables: Any) -> Config:
    return validate(tables)


def inventory_table(data: dict[str, Any] | None) -> tuple[dict[str, Any], str]:
    """The [inventory] table of a test's inventory dict, and its default site."""
    data = dict(data or {})
    default_site = data.pop("default_site", DEFAULT_SITE)
    services = [dict(s, command=s.get("command", "check_dummy")) for s in data.pop("services", [])]
    hosts: dict[str, Any] = {}
    for name, spec in data.pop("hosts", {}).items():
        spec = dict(spec)
        listed = spec.pop("services", {})
        if isinstance(spec.get("parents"), str):
            spec["parents"] = [spec["parents"]]
        for sname, opt in ({n: {} for n in listed} if isinstance(listed, list) else listed).items():
            # a service without its own max_check_attempts changes nothing: the config's [[inventory.services]]
            # default (3) would, so it is left out
            if (opt or {}).get("max_check_attempts"):
                services.append({"host": name, "name": sname, "command": "check_dummy", **opt})
        hosts[name] = spec
    return {**data, "hosts": hosts, "services": services}, default_site


def inventory(data: dict[str, Any] | None = None) -> Inventory:
    table, default_site = inventory_table(data)
    return Inventory.from_config(config(inventory=table).inventory, default_site)


def _match_table(match: Any) -> dict[str, str]:
    if isinstance(match, dict):
        return match
    return dict(m.split("=", 1) for m in match)


def router(routes: list[dict[str, Any]], periods: dict[str, Any] | None = None) -> Router:
    """A Router from [[routes]] and [timeperiods] tables; a route's `receiver` (a name other than its own,
    which the config file does not have) is set on the built route. Unless a route says otherwise, it has no
    group_wait: tests written before notification groups see an incident's first message at once."""
    receivers = {r["name"]: r["receiver"] for r in routes if "receiver" in r}
    tables = [
        {
            "group_wait": "0s",
            **{k: v for k, v in r.items() if k != "receiver"},
            **({"match": _match_table(r["match"])} if "match" in r else {}),
        }
        for r in routes
    ]
    cfg = config(routes=tables, timeperiods=periods or {})
    built = Router.from_config(cfg.routes, cfg.timeperiods)
    if not receivers:
        return built
    return Router([replace(r, receiver=receivers.get(r.name, r.receiver)) for r in built.routes], built.periods)


def correlation(table: dict[str, Any]) -> tuple[AlertConfig, IncidentConfig]:
    section = config(correlation=table).correlation
    return AlertConfig.from_config(section), IncidentConfig.from_config(section)
