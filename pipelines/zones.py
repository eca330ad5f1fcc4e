"""The time zone of each device's clock, from the configuration: host > site > `[syslog] default_timezone`.

Syslog stamps without a zone (BSD `Mmm dd hh:mm:ss`, Cisco clocks, ISO without offset) are read in the
zone of the device that wrote them: the inventory host the header's hostname names, else the host whose
name or address is the sender's (the inventory's own lookup, Inventory.resolve), else the default. Its
zone is the host's `timezone`, else its site's, else the default. UTC is None throughout, so that a
deployment that configures no zone reads stamps exactly as before (vigie.codecs.timestamps' fast paths).
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from vigie.pipelines.correlate.topology import Inventory

if TYPE_CHECKING:
    from vigie.config import Config

_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Zulu", "Zulu", "Etc/Universal", "Universal"})


def zone(name: str | None) -> tzinfo | None:
    """The zone of an IANA name (checked by the configuration), None for UTC."""
    return None if name is None or name in _UTC_NAMES else ZoneInfo(name)


class ZoneMap:
    """Hostname or sender address -> zone (None: UTC); a vigie.codecs.timestamps.ZoneResolver."""

    __slots__ = ("default", "inventory", "by_host", "uniform")

    def __init__(self, default: tzinfo | None = None, inventory: Inventory | None = None,
                 by_host: dict[str, tzinfo | None] | None = None) -> None:
        self.default = default
        self.inventory = inventory or Inventory()
        self.by_host = {h: z for h, z in (by_host or {}).items() if z != default}  # only the exceptions
        self.uniform = not self.by_host  # every device in the default zone: no lookup at all

    @classmethod
    def from_config(cls, cfg: Config, inventory: Inventory | None = None) -> ZoneMap:
        """The map of a checked configuration; inventory: the one already built from it, if any."""
        inv = cfg.inventory
        if inventory is None:
            inventory = Inventory.from_config(inv)
        default = zone(cfg.syslog.default_timezone)
        sites = {name: zone(site.timezone) for name, site in inv.sites.items() if site.timezone}
        by_host: dict[str, tzinfo | None] = {}
        for name, host in inv.hosts.items():
            if host.timezone:
                by_host[name] = zone(host.timezone)
            elif host.site in sites:
                by_host[name] = sites[host.site]
        return cls(default, inventory, by_host)

    @property
    def active(self) -> bool:
        """Whether any stamp is read otherwise than as UTC (callers skip the map when not)."""
        return self.default is not None or not self.uniform

    def host_of(self, key: str | None) -> str | None:
        """The inventory host a hostname or address names, None when it names none."""
        if not key:
            return None
        host = self.inventory.resolve(key)
        return host if host in self.inventory.hosts else None

    def zone(self, hostname: str | None, sender: str | None) -> tzinfo | None:
        """The zone of the device that wrote a message: by its hostname, else by its sender's address."""
        if self.uniform:
            return self.default
        host = self.host_of(hostname) or self.host_of(sender)
        return self.by_host.get(host, self.default) if host else self.default
