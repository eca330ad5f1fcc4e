"""Nagios flap detection, as flapping.c computes it: 21 states, linearly weighted changes, two thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

HISTORY_SIZE = 21  # Nagios MAX_STATE_HISTORY_ENTRIES: 21 states hold 20 possible changes
LOW_CURVE = 0.75  # weight of the oldest change
HIGH_CURVE = 1.25  # weight of the newest change
OK = "o"
# Nagios fills a new object's history with OK (objects.c); an absent alert is an all-OK history
INITIAL_HISTORY = OK * HISTORY_SIZE
_WEIGHTS = tuple(
    (x - 1) * (HIGH_CURVE - LOW_CURVE) / (HISTORY_SIZE - 2) + LOW_CURVE for x in range(1, HISTORY_SIZE)
)
# one character per state keeps the history a short immutable string (cheap to store and compare)
STATE_CHARS = {"ok": OK, "info": "i", "warning": "w", "critical": "c", "unknown": "u"}


@dataclass(slots=True, frozen=True)
class FlapConfig:
    """Thresholds in percent (Nagios defaults: low 5.0, high 20.0)."""

    low_threshold: float = 5.0
    high_threshold: float = 20.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_threshold <= self.high_threshold <= 100.0:
            raise ValueError("flapping: expected 0 <= low_threshold <= high_threshold <= 100")


def percent_state_change(history: str) -> float:
    """Weighted percent of state changes in a history ordered oldest first (0.0 .. 100.0)."""
    n = len(history)
    if n < 2 or history.count(history[0]) == n:
        return 0.0
    changes = 0.0
    previous = history[0]
    for x in range(1, n):
        current = history[x]
        if current != previous:
            changes += _WEIGHTS[x - 1]
        previous = current
    return changes * 100.0 / (HISTORY_SIZE - 1)


# a pure function of a 21-character history over a handful of states: the distinct histories repeat a lot
_percent_cached = lru_cache(maxsize=8192)(percent_state_change)


def record(history: str, state: str) -> str:
    """History with one more state (a one-character code) appended, the oldest dropped."""
    return (history + state)[-HISTORY_SIZE:]


def is_flapping(percent: float, was_flapping: bool, config: FlapConfig) -> bool:
    """Hysteresis: start at >= high, stop at <= low, keep the previous verdict in between."""
    if percent >= config.high_threshold:
        return True
    if percent <= config.low_threshold:
        return False
    return was_flapping


def update(history: str, was_flapping: bool, severity: str, config: FlapConfig) -> tuple[str, float, bool]:
    """Record one check result; returns (history, percent_state_change, flapping)."""
    history = (history + STATE_CHARS.get(severity, "u"))[-HISTORY_SIZE:]
    percent = _percent_cached(history)
    if not config.enabled:
        return history, percent, False
    return history, percent, is_flapping(percent, was_flapping, config)


def age(history: str, was_flapping: bool, state: str, samples: int, config: FlapConfig) -> tuple[str, float, bool]:
    """The clock's share of flap detection: `samples` intervals passed with no event, the alert still in `state`
    (a one-character code), so each counts as one more result in that state, as a Nagios check that keeps
    returning the same result would. Traps and syslog lines only arrive on changes: without this, an
    interface that flapped and then settled kept its last percent (and `flapping`) forever."""
    history = (history + state * min(samples, HISTORY_SIZE))[-HISTORY_SIZE:]
    percent = _percent_cached(history)
    if not config.enabled:
        return history, percent, False
    return history, percent, is_flapping(percent, was_flapping, config)
