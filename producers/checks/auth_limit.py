"""Per-address limit on failed token attempts, so the intake's token cannot be guessed at line rate."""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

# fail2ban's defaults are 5 failures in 10 minutes; an intake sits behind scripts that may retry a
# wrong token a few times after a key rotation, so 10 failures in one minute, then one minute of 429.
DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW = 60.0
# ~200 bytes per tracked address: 10,000 addresses stay under a few megabytes whatever the flood.
DEFAULT_MAX_ADDRESSES = 10_000


@dataclass
class _Failures:
    first: float  # when the counting window of this address opened
    last: float  # last failure (or the failure that started the block)
    count: int
    blocked_until: float = 0.0


class FailedAuthLimiter:
    """Counts failed authentications per source address; blocks an address for `window` once it has too many.

    Addresses are kept in the order of their last failure, so stale ones are dropped from the front and,
    when `max_addresses` is reached, the address that failed least recently is forgotten first: memory
    stays bounded however many source addresses a flood uses. `max_failures` 0 turns the limit off
    (for an intake behind a proxy, where every request carries the proxy's address).
    """

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: float = DEFAULT_WINDOW,
        max_addresses: int = DEFAULT_MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 0 or window <= 0 or max_addresses < 1:
            raise ValueError(
                "auth limit: max_failures must be >= 0, window > 0 s and max_addresses >= 1, "
                f"not {max_failures}, {window}, {max_addresses}"
            )
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self._clock = clock
        self._by_address: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_address)

    def retry_after(self, address: str) -> int | None:
        """Seconds until `address` may try again, or None when it is not blocked."""
        if not self.max_failures:
            return None
        now = self._clock()
        self._forget_stale(now)
        entry = self._by_address.get(address)
        if entry is None or entry.blocked_until <= now:
            return None
        return max(1, math.ceil(entry.blocked_until - now))

    def failed(self, address: str) -> None:
        """Count one failed authentication from `address`; the one that reaches the limit starts the block."""
        if not self.max_failures:
            return
        now = self._clock()
        self._forget_stale(now)
        entry = self._by_address.get(address)
        if entry is None or (now - entry.first >= self.window and entry.blocked_until <= now):
            entry = _Failures(first=now, last=now, count=0)
        entry.count += 1
        entry.last = now
        if entry.count >= self.max_failures and entry.blocked_until <= now:
            entry.blocked_until = now + self.window
            log.warning(
                "check intake: %d failed token attempts from %s within %.0f s; refusing it for %.0f s",
                entry.count,
                address,
                self.window,
                self.window,
            )
        self._by_address[address] = entry
        self._by_address.move_to_end(address)
        while len(self._by_address) > self.max_addresses:
            self._by_address.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """A good token clears the address's count: one stale client behind a NAT does not block the others."""
        self._by_address.pop(address, None)

    def _forget_stale(self, now: float) -> None:
        """Drop addresses whose last failure (hence any block it started) is a whole window old."""
        while self._by_address:
            oldest = next(iter(self._by_address.values()))
            if now - oldest.last < self.window:
                break
            self._by_address.popitem(last=False)
