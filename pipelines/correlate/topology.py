"""The inventory: which site each host belongs to, its parents (the Nagios topology), address and services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vigie.config import InventoryConfig

DEFAULT_SITE = "default"


class InventoryError(ValueError):
    """A malformed [inventory] table or topology update; the message names the key."""


@dataclass(slots=True)
class HostInfo:
    """One monitored host as the inventory describes it."""

    name: str
    site: str
    parents: tuple[str, ...] = ()
    address: str | None = None
    max_check_attempts: int | None = None
    # service name -> max_check_attempts override (None: host or global default)
    services: dict[str, int | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "parents": list(self.parents),
            "address": self.address,
            "max_check_attempts": self.max_check_attempts,
            "services": {name: ({"max_check_attempts": m} if m else {}) for name, m in self.services.items()},
        }


def _host_from_dict(name: str, spec: dict[str, Any], default_site: str) -> HostInfo:
    """Validate one host of a topology command (control topic input, not the config file); services as a list
    of names or a table of options."""
    if not isinstance(spec, dict):
        raise InventoryError(f"inventory.hosts.{name}: expected a table, got {type(spec).__name__}")
    parents = spec.get("parents", ())
    if isinstance(parents, str):
        parents = (parents,)
    if not all(isinstance(p, str) and p for p in parents):
        raise InventoryError(f"inventory.hosts.{name}.parents: expected a list of host names")
    if name in parents:
        raise InventoryError(f"inventory.hosts.{name}.parents: a host cannot be its own parent")
    mca = spec.get("max_check_attempts")
    if mca is not None and (not isinstance(mca, int) or mca < 1):
        raise InventoryError(f"inventory.hosts.{name}.max_check_attempts: expected an integer >= 1")
    raw_services = spec.get("services", {})
    services: dict[str, int | None] = {}
    if isinstance(raw_services, list):
        services = {str(s): None for s in raw_services}
    elif isinstance(raw_services, dict):
        for sname, sopt in raw_services.items():
            smca = (sopt or {}).get("max_check_attempts") if isinstance(sopt, dict) else None
            if smca is not None and (not isinstance(smca, int) or smca < 1):
                raise InventoryError(
                    f"inventory.hosts.{name}.services.{sname}.max_check_attempts: expected an integer >= 1"
                )
            services[str(sname)] = smca
    else:
        raise InventoryError(f"inventory.hosts.{name}.services: expected a list or a table")
    site = spec.get("site", default_site)
    if not isinstance(site, str) or not site:
        raise InventoryError(f"inventory.hosts.{name}.site: expected a non-empty string")
    address = spec.get("address")
    if address is not None and not isinstance(address, str):
        raise InventoryError(f"inventory.hosts.{name}.address: expected a string")
    return HostInfo(name, site, tuple(parents), address, mca, services)


class Inventory:
    """Hosts, sites and parents, with the lookups normalize and correlate need on every event."""

    __slots__ = ("hosts", "default_site", "servicegroups", "_by_key", "_children")

    def __init__(self, hosts: dict[str, HostInfo] | None = None, default_site: str = DEFAULT_SITE,
                 servicegroups: dict[tuple[str, str], str] | None = None) -> None:
        self.hosts: dict[str, HostInfo] = dict(hosts or {})
        self.default_site = default_site
        # (host, service) -> its service groups, sorted and joined by commas: the `servicegroups` label normalize
        # gives check events (from the configuration; not in the engine's snapshot, which never labels events)
        self.servicegroups: dict[tuple[str, str], str] = dict(servicegroups or {})
        self._index()

    def _index(self) -> None:
        """Precompute name/address lookups and the reverse (children) graph once, not per event."""
        by_key: dict[str, str] = {}
        children: dict[str, list[str]] = {}
        for name, info in self.hosts.items():
            by_key[name] = name
            by_key.setdefault(name.lower(), name)
            if info.address:
                by_key.setdefault(info.address, name)
            for parent in info.parents:
                children.setdefault(parent, []).append(name)
        # short names last, so an exact name always wins over a domain-stripped one
        for name in self.hosts:
            by_key.setdefault(name.split(".", 1)[0].lower(), name)
        self._by_key = by_key
        self._children = {p: tuple(sorted(c)) for p, c in children.items()}

    @classmethod
    def from_config(cls, config: InventoryConfig, default_site: str = DEFAULT_SITE) -> Inventory:
        """From the checked [inventory] section (vigie.config validated it: nothing is checked again)."""
        services: dict[str, dict[str, int | None]] = {}
        for svc in config.services:  # [[inventory.services]]: per-service max_check_attempts
            services.setdefault(svc.host, {})[svc.name] = svc.max_check_attempts
        for poller in config.pollers:  # [[inventory.pollers]]: their results are checks of service `name`
            for name, spec in config.hosts.items():
                if name in poller.hosts or set(spec.groups) & set(poller.hostgroups):
                    services.setdefault(name, {})[poller.name] = poller.max_check_attempts
        hosts = {
            name: HostInfo(
                name,
                spec.site or default_site,
                tuple(spec.parents),
                spec.address,
                spec.max_check_attempts,
                services.get(name, {}),
            )
            for name, spec in config.hosts.items()
        }
        groups = {(s.host, s.name): ",".join(sorted(set(s.servicegroups))) for s in config.services if s.servicegroups}
        return cls(hosts, default_site, groups)

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Inventory:
        """Restore to_dict() (the engine's own snapshot, written by this code: not checked again)."""
        hosts = {
            name: HostInfo(
                name,
                spec["site"],
                tuple(spec["parents"]),
                spec.get("address"),
                spec.get("max_check_attempts"),
                {s: (opt or {}).get("max_check_attempts") for s, opt in spec.get("services", {}).items()},
            )
            for name, spec in data.get("hosts", {}).items()
        }
        return cls(hosts, data.get("default_site", DEFAULT_SITE))

    def to_dict(self) -> dict[str, Any]:
        return {"default_site": self.default_site, "hosts": {n: h.to_dict() for n, h in self.hosts.items()}}

    def resolve(self, name_or_address: str | None) -> str | None:
        """Canonical host name for a syslog hostname, FQDN or trap agent address (as given if unknown)."""
        if not name_or_address:
            return None
        found = self._by_key.get(name_or_address)
        if found is not None:
            return found
        lowered = name_or_address.lower()
        found = self._by_key.get(lowered) or self._by_key.get(lowered.split(".", 1)[0])
        return found or name_or_address

    def site_of(self, host: str | None) -> str:
        info = self.hosts.get(host) if host else None
        return info.site if info else self.default_site

    def parents_of(self, host: str) -> tuple[str, ...]:
        info = self.hosts.get(host)
        return info.parents if info else ()

    def children_of(self, host: str) -> tuple[str, ...]:
        return self._children.get(host, ())

    def descendants(self, host: str) -> list[str]:
        """Every host behind `host` (children, grandchildren...), breadth first, cycles ignored."""
        seen: set[str] = {host}
        out: list[str] = []
        queue = list(self.children_of(host))
        while queue:
            h = queue.pop(0)
            if h in seen:
                continue
            seen.add(h)
            out.append(h)
            queue.extend(self.children_of(h))
        return out

    def is_behind(self, host: str, ancestor: str) -> bool:
        """True when `ancestor` is a parent, grandparent... of `host`."""
        seen: set[str] = set()
        stack = list(self.parents_of(host))
        while stack:
            p = stack.pop()
            if p == ancestor:
                return True
            if p not in seen:
                seen.add(p)
                stack.extend(self.parents_of(p))
        return False

    def max_check_attempts(self, host: str, service: str | None) -> int | None:
        """The per-service, then per-host max_check_attempts override, or None for the global default."""
        info = self.hosts.get(host)
        if info is None:
            return None
        if service is not None:
            override = info.services.get(service)
            if override:
                return override
        return info.max_check_attempts

    def updated(self, update: dict[str, Any]) -> Inventory:
        """A new inventory with a topology update applied: {hosts: {name: {...} or None to remove}}."""
        hosts_raw = update.get("hosts")
        if not isinstance(hosts_raw, dict):
            raise InventoryError("topology.hosts: expected a table of host name -> options (null removes)")
        hosts = dict(self.hosts)
        for name, spec in hosts_raw.items():
            if spec is None:
                hosts.pop(name, None)
            else:
                merged = hosts[name].to_dict() if name in hosts else {}
                merged.update(spec)
                hosts[name] = _host_from_dict(name, merged, self.default_site)
        return Inventory(hosts, update.get("default_site", self.default_site), self.servicegroups)
