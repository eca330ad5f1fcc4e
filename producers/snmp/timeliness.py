"""RFC 3414 timeliness for v3 traps: the receiver's notion of each sending engine's snmpEngineBoots and snmpEngineTime.

For a trap the sender is the authoritative engine, so the receiver must keep, per msgAuthoritativeEngineID,
the latest boots and time it saw in authentic messages and refuse what is older (RFC 3414 3.2 step 7b).
pysnmp 7.1 does not: its USM overwrites that notion with every message's own values before comparing
(step 3.2.6, "synchronize time with authed peer"), so a lower engineBoots, a time far behind, or a trap
captured and replayed after the sender rebooted all passed. Pure; the clock is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_BOOTS = 2147483647  # snmpEngineBoots latched at its maximum: the engine must be re-keyed (RFC 3414 2.2.2)
TIME_WINDOW = 150  # seconds (RFC 3414 2.2.3)

SECURITY_LEVELS = {
    "noAuthNoPriv": 1,
    "authNoPriv": 2,
    "authPriv": 3,
}  # msgFlags auth/priv bits, as pysnmp numbers them


@dataclass(slots=True)
class _Notion:
    boots: int  # snmpEngineBoots
    time: int  # snmpEngineTime as of `at`
    latest: int  # latestReceivedEngineTime
    at: float  # local clock when `time` was set: the notion of time advances with it (RFC 3414 2.3)


class EngineTimeline:
    """Per remote authoritative engine, its boots and time as RFC 3414 2.3 asks a non-authoritative engine to keep.

    At most `max_engines` engines are remembered; past that the one updated longest ago is forgotten (entries
    come only from authentic messages, i.e. from holders of a configured user's keys).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_engines: int = 10_000) -> None:
        self.clock = clock
        self.max_engines = max_engines
        self._engines: dict[bytes, _Notion] = {}

    def check(self, engine_id: bytes, boots: int, engine_time: int) -> str | None:
        """Apply RFC 3414 3.2 step 7b to an authentic message: update the notion, then judge the message.

        Returns None when the message is in the time window, else the refusal reason: `engine_boots_max`
        (the notion of boots is 2147483647), `engine_boots_behind` (msgAuthoritativeEngineBoots lower than
        the notion) or `engine_time_behind` (same boots, time more than 150 s behind the notion of time).
        """
        now = self.clock()
        notion = self._engines.get(engine_id)
        if notion is None:
            if len(self._engines) >= self.max_engines:
                del self._engines[next(iter(self._engines))]
            notion = self._engines[engine_id] = _Notion(0, 0, 0, now)
        # 7b.1: a later boots, or the same boots with a time later than any received, becomes the notion
        if boots > notion.boots or (boots == notion.boots and engine_time > notion.latest):
            notion.boots, notion.time, notion.latest, notion.at = boots, engine_time, engine_time, now
            self._engines[engine_id] = self._engines.pop(engine_id)  # most recently updated last
        # 7b.2
        if notion.boots == MAX_BOOTS:
            return "engine_boots_max"
        if boots < notion.boots:
            return "engine_boots_behind"
        if engine_time < notion.time + (now - notion.at) - TIME_WINDOW:
            return "engine_time_behind"
        return None

    def notion(self, engine_id: bytes) -> tuple[int, float] | None:
        """(snmpEngineBoots, snmpEngineTime) the receiver currently believes `engine_id` is at, or None."""
        notion = self._engines.get(engine_id)
        if notion is None:
            return None
        return notion.boots, notion.time + (self.clock() - notion.at)
