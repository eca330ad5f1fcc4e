"""Service dependencies (Nagios' servicedependency, notification side): a dependent service's alert is suppressed
while one of its masters fails, hard, in a state its dependency names, or, with `inherit`, while that master
is itself suppressed by its own dependencies (Nagios' check_service_dependencies with inherits_parent).

Built from the configuration (`depends_on` of `[[inventory.services]]`), like the routes: not part of the
engine's snapshot. The engine asks `verdict` for each firing check alert of a service, and `dependents` for the
alerts to look at again when a master's alert changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vigie.pipelines.fingerprints import check_fingerprint

if TYPE_CHECKING:
    from vigie.config import InventoryConfig
    from vigie.pipelines.correlate.alerts import AlertState

_MAX_DEPTH = 32  # inherit chains longer than this are cut (a loop of dependencies must not recurse forever)


@dataclass(frozen=True, slots=True)
class Dependency:
    master: tuple[str, str]  # (host, service)
    states: frozenset[str]  # master severities that suppress
    inherit: bool


class Dependencies:
    """Each dependent service's masters, and each master's dependents (by fingerprint)."""

    __slots__ = ("masters", "_dependents")

    def __init__(self, masters: Mapping[tuple[str, str], list[Dependency]] | None = None) -> None:
        self.masters: dict[tuple[str, str], list[Dependency]] = dict(masters or {})
        dependents: dict[str, list[tuple[str, str]]] = {}
        for dependent, deps in sorted(self.masters.items()):
            for dep in deps:
                dependents.setdefault(check_fingerprint(*dep.master), []).append(dependent)
        self._dependents = dependents

    @classmethod
    def from_config(cls, inventory: InventoryConfig) -> Dependencies:
        """From the resolved inventory (a service on a host group is one service per host by now)."""
        masters: dict[tuple[str, str], list[Dependency]] = {}
        for svc in inventory.services:
            for d in svc.depends_on:
                masters.setdefault((svc.host, svc.name), []).append(
                    Dependency((d.host or svc.host, d.service), frozenset(d.states), d.inherit))
        return cls(masters)

    def __bool__(self) -> bool:
        return bool(self.masters)

    def verdict(self, host: str, service: str, alerts: Mapping[str, AlertState]) -> dict[str, str] | None:
        """{"kind": "dependency", "ref": "HOST/SERVICE"} of the first failing master, or None."""
        master = self._failing_master((host, service), alerts, 0)
        return None if master is None else {"kind": "dependency", "ref": f"{master[0]}/{master[1]}"}

    def _failing_master(self, dependent: tuple[str, str], alerts: Mapping[str, AlertState],
                        depth: int) -> tuple[str, str] | None:
        if depth >= _MAX_DEPTH:
            return None
        for dep in self.masters.get(dependent, ()):
            a = alerts.get(check_fingerprint(*dep.master))
            if a is not None and a.status == "firing" and a.state_type == "hard" and a.severity in dep.states:
                return dep.master
            if dep.inherit and self._failing_master(dep.master, alerts, depth + 1) is not None:
                return dep.master
        return None

    def dependents(self, fingerprint: str) -> Iterator[str]:
        """Fingerprints of the services depending on this alert's service, directly or through inherit chains."""
        seen: set[str] = {fingerprint}
        queue = [fingerprint]
        while queue:
            for host, service in self._dependents.get(queue.pop(), ()):
                fp = check_fingerprint(host, service)
                if fp not in seen:
                    seen.add(fp)
                    queue.append(fp)
                    yield fp
