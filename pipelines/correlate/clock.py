"""One partition's correlation clock: event time, with timers fired on a fixed grid (Flink's and Kafka Streams'
event-time timers, Flink's idleness for a partition with nothing to read).

Why: the engine's decisions depend on `now` (an incident's id hashes its opening time, a message id its
incident's). If timers fired whenever the wall clock said, a worker restarted after a SIGKILL, re-reading the
events after its last snapshot, would fire them at other times than the first run did and decide differently
(other incident ids, so other message ids: pages told twice), and `vigie replay` could not give what the live
worker gave. So `now` is only ever an event's time or a grid point:

- an event's time is its record's timestamp (the intake's receive time), never before the clock (a late record
  is taken at the clock: the clock is monotone);
- the engine ticks at grid points, multiples of `tick_interval` since the epoch; before an event at `t`, every
  grid point <= t not yet fired is (the watermark is the latest event time);
- a partition with nothing left to read (caught up with its head, or silent for IDLE_AFTER seconds) fires the
  grid points <= wall clock - `allowed_lateness` (the watermark advances with the wall clock, as for Flink's
  idle sources); the wall clock decides *when* they fire, never the `now` they carry.

So the sequence of (event, tick) with their times is a function of the partition's records alone, whoever reads
them and however fast: a catching-up worker, a restarted one and a replay decide as the live worker did. The one
exception is a record that reaches the worker after a grid point its time precedes has fired on the wall clock:
live it is taken at the clock, re-read it would be taken at its own time (a message id could differ).

That is why an event's time is the intake's receive time only while normalize keeps up: normalize stamps a raw
record received more than half the allowed lateness ago (its own backlog, e.g. after a restart) with "now minus
half the allowed lateness" (event_time_floor) instead. Without it, every restart made late records: the correlate
side, caught up with its own input, follows the wall clock while normalize is still reading the raw records
received while the worker was down; a second SIGKILL then re-read them at their receive times and told a page
again under another id. With it a record is late only when normalize -> correlate took more than half the
allowed lateness. The cost: what was received while no normalize ran is timed as it is read, not as received
(`vigie replay` of those records times them as received, so there it can differ from what the worker decided).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

# a gap without events is ticked through point by point (an idle tick costs ~5 us with 2,000 alerts firing, measured:
# 0.4 s per day of gap), up to this many points; the timers of a longer gap (a worker stopped for a week) fire late,
# at the first point of its last MAX_GAP_TICKS
MAX_GAP_TICKS = 7 * 86400
IDLE_AFTER = 5.0  # seconds without a record from a partition said to be behind: treat it as caught up


class EventClock:
    """`now` (the latest event time or fired grid point) and the next grid point to fire."""

    __slots__ = ("tick_interval", "now", "next_tick")

    def __init__(self, tick_interval: float = 1.0, now: float = 0.0, next_tick: float = 0.0) -> None:
        if tick_interval <= 0:
            raise ValueError("tick_interval must be > 0")
        self.tick_interval = tick_interval
        self.now = now
        self.next_tick = next_tick

    def _grid(self, t: float) -> float:
        """The first grid point at or after t."""
        return math.ceil(t / self.tick_interval) * self.tick_interval

    def ticks(self, until: float) -> Iterator[float]:
        """The grid points <= until not fired yet, in order (the clock moves to each as it is yielded)."""
        if until <= 0:
            return
        step = self.tick_interval
        if self.next_tick <= 0:
            self.next_tick = self._grid(max(self.now, until))
        elif until - self.next_tick > MAX_GAP_TICKS * step:
            self.next_tick = self._grid(until - MAX_GAP_TICKS * step)
        n = round(self.next_tick / step)
        while n * step <= until:
            at = n * step
            self.now = max(self.now, at)
            n += 1
            self.next_tick = n * step
            yield at

    def event(self, t: float) -> float:
        """The `now` of an event whose record says `t` (fire ticks(t) first)."""
        if t > self.now:
            self.now = t
        return self.now


def event_time_floor(wall: float, allowed_lateness: float) -> int:
    """The earliest timestamp (ms) normalize gives an event at wall-clock `wall`: a record received before it is late
    for correlate's clock, so it is timed here, where the worker's log keeps the time (a restart re-reads it)."""
    return int((wall - allowed_lateness / 2) * 1000)
