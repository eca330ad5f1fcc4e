"""What the console shows, folded from the topics: the latest alert per fingerprint, incident per id,
control command per id, and the messages sent per incident. Pure: feed.py applies records to it.

Every change bumps `version` and tells the listeners (the live pages) which kind of thing changed and
its key, so a page re-renders only what it shows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigie.topics import ALERTS, CONTROL, INCIDENTS, NOTIFICATIONS

Listener = Callable[[str, str], None]  # (logical topic, key)
MESSAGES_PER_INCIDENT = 200  # the Incident page lists the last ones; a storm cannot grow memory without end


@dataclass
class ConsoleState:
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    control: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)  # incident id or fingerprint -> sent
    version: int = 0
    caught_up: bool = False  # the history of every topic read once (feed.py sets it)
    listeners: list[Listener] = field(default_factory=list)

    def apply(self, logical: str, key: str, value: dict[str, Any] | None) -> None:
        """One record of a topic; None is a tombstone (compacted topics: the thing is gone)."""
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
