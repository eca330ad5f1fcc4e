"""Rate-limited logging for lines that outside input can repeat at will (bad datagrams, a broker that is down).

A peer sending 2,000 bad datagrams, or librdkafka retrying a closed port for minutes, must not write a
log line each time: 2,000 tracebacks were 2 MB of log, a broker down for 8 minutes 31,903 lines. A
LogLimiter lets the first line of each key through, then suppresses that key for `interval` seconds
and counts what it held back; the next line let through (or flush(), called from a periodic task)
says how many were suppressed. Pure apart from the logger it writes to; the clock is injectable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any


class LogLimiter:
    """At most one log line per key per `interval` seconds, with a count of the lines suppressed in between.

    Thread-safe (librdkafka's lines arrive on a client thread). At most `max_keys` keys are tracked: past
    that, the keys whose interval is over are forgotten first, then all of them (a flood of distinct
    keys must not grow memory; the worst it costs is one more line per key).
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        # key -> [start of the current interval, lines suppressed since, level and logger of the last one]
        self._windows: dict[Hashable, list[Any]] = {}
        self._lock = threading.Lock()

    def log(self, key: Hashable, level: int, msg: str, *args: Any, exc_info: Any = None) -> bool:
        """Log `msg % args` unless `key` already logged within the interval.

        True when the line was let through (and written, if the logger's level allows it), False when suppressed.
        """
        now = self.clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window[0] < self.interval:
                window[1] += 1
                window[2] = level
                return False
            suppressed, since = (window[1], now - window[0]) if window is not None else (0, 0.0)
            if window is None and len(self._windows) >= self.max_keys:
                self._forget(now)
            self._windows[key] = [now, 0, level]
        if not self.logger.isEnabledFor(level):
            return True
        if suppressed:
            msg = f"{msg} ({suppressed} similar lines suppressed in the last {since:.0f} s)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def flush(self, everything: bool = False) -> int:
        """Report the keys whose interval is over (all of them with `everything`, at shutdown) and that
        suppressed lines; returns how many lines that wrote.

        Call it now and then so that a burst that stopped is still accounted for.
        """
        now = self.clock()
        report: list[tuple[Hashable, int, int, float]] = []
        with self._lock:
            for key, window in list(self._windows.items()):
                if now - window[0] < self.interval and not everything:
                    continue
                if window[1]:
                    report.append((key, window[1], window[2], now - window[0]))
                del self._windows[key]
        for key, count, level, since in report:
            self.logger.log(level, "%s: %d similar lines suppressed in the last %.0f s", key, count, since)
        return len(report)

    def suppressed(self, key: Hashable) -> int:
        """Lines of `key` held back in its current interval (for tests and metrics)."""
        with self._lock:
            window = self._windows.get(key)
            return window[1] if window is not None else 0

    def _forget(self, now: float) -> None:
        expired = [k for k, w in self._windows.items() if now - w[0] >= self.interval and not w[1]]
        for key in expired:
            del self._windows[key]
        if len(self._windows) >= self.max_keys:
            self._windows.clear()


class LimitedLogger:
    """A logger-shaped object for librdkafka (confluent-kafka's `logger` setting): its lines go through a LogLimiter.

    confluent-kafka calls `logger.log(level, fmt, *args)` with librdkafka's facility as the first
    argument (e.g. "FAIL" for a refused connection); the facility is the key, so a broker
    that stays down gives one line per interval and facility, not one per reconnect attempt.
    """

    def __init__(self, limiter: LogLimiter) -> None:
        self.limiter = limiter

    def log(self, level: int, msg: str, *args: Any, **_: Any) -> None:
        facility = args[0] if args else msg
        self.limiter.log(f"librdkafka {facility}", level, msg, *args)
