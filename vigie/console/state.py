"""What the console shows, folded from the topics: the latest alert per fingerprint, incident per id,
control command per id, the messages sent per incident, and the last check results of each host and
service (the Host page's outputs and performance data). Pure: feed.py applies records to it.

Every change of alerts, incidents, control or messages bumps `version` and tells the listeners (the live
pages) which kind of thing changed and its key, so a page re-renders only what it shows. Check results do
neither: they arrive every few minutes per service and no live page shows them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigie.topics import ALERTS, CONTROL, INCIDENTS, NOTIFICATIONS, RAW_CHECKS

Listener = Callable[[str, str], None]  # (logical topic, key)
MESSAGES_PER_INCIDENT = 200  # the Incident page lists the last ones; a storm cannot grow memory without end
CHECKS_PER_SERVICE = 100  # the Host page's chart and outputs: the last results of each (host, service)
CHECK_SERIES_MAX = 20_000  # (host, service) pairs kept; beyond, the longest-silent host's are dropped


@dataclass
class ConsoleState:
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    control: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)  # incident id or fingerprint -> sent
    checks: dict[str, dict[str, deque[dict[str, Any]]]] = field(default_factory=dict)  # host -> service -> results
    check_series: int = 0  # (host, service) pairs in `checks`
    version: int = 0
    caught_up: bool = False  # the history of every topic read once (feed.py sets it)
    listeners: list[Listener] = field(default_factory=list)

    def apply(self, logical: str, key: str, value: dict[str, Any] | None) -> None:
        """One record of a topic; None is a tombstone (compacted topics: the thing is gone)."""
        if logical == RAW_CHECKS:
            if isinstance(value, dict):
                self.add_check(value)
            return
        if logical == ALERTS:
            self._put(self.alerts, key, value)
        elif logical == INCIDENTS:
            self._put(self.incidents, key, value)
        elif logical == CONTROL:
            self._put(self.control, key, value)
        elif logical == NOTIFICATIONS and value is not None:
            about = _subject(value)
            if not about:
                return
            key = about
            self.messages.setdefault(about, deque(maxlen=MESSAGES_PER_INCIDENT)).append(value)
        else:
            return
        self.version += 1
        for listener in list(self.listeners):
            listener(logical, key)

    def add_check(self, result: dict[str, Any]) -> None:
        """A check_result/1 into its (host, service) ring ("" is the host check); a malformed one is skipped."""
        host, service = result.get("host"), result.get("service") or ""
        if not isinstance(host, str) or not host or not isinstance(service, str):
            return
        # popped and re-inserted: the dict stays ordered by each host's last result, the silent ones first
        services = self.checks.pop(host, None) or {}
        self.checks[host] = services
        ring = services.get(service)
        if ring is None:
            ring = services[service] = deque(maxlen=CHECKS_PER_SERVICE)
            self.check_series += 1
            while self.check_series > CHECK_SERIES_MAX and len(self.checks) > 1:
                _silent, dropped = next(iter(self.checks.items()))
                del self.checks[_silent]
                self.check_series -= len(dropped)
        ring.append(result)

    @staticmethod
    def _put(table: dict[str, dict[str, Any]], key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def _subject(message: dict[str, Any]) -> str | None:
    """The incident id (or the lone alert's fingerprint) a notification message is about."""
    incident = message.get("incident")
    if isinstance(incident, dict) and incident.get("id"):
        return str(incident["id"])
    alert = message.get("alert")
    if isinstance(alert, dict) and alert.get("fingerprint"):
        return str(alert["fingerprint"])
    return None
