"""Delivering one message to its receivers: skip those that have it, retry the others with exponential
back-off, give up past the give-up age (counted from the first attempt, across restarts).

Pure logic over the Channel interface and the DeliveryState table; the clock and the wait are
passed in, so that it is tested without a network, a broker or real time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vigie.pipelines.notify.base import Channel, Permanent
from vigie.pipelines.notify.state import FAILED, SENT, StateStore

log = logging.getLogger("vigie.notify")


@dataclass(frozen=True)
class RetryPolicy:
    """First wait, longest wait, and the age after which a failing delivery is given up."""

    min_backoff: float = 1.0
    max_backoff: float = 60.0
    give_up_after: float = 600.0
    jitter: float = 0.2  # +-20 %: receivers coming back are not hit by every notifier at once


@dataclass
class Outcome:
    """What became of one message: receivers that got it, those given up (old and new) with the reason."""

    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    stopped: bool = False


class Observer:
    """What deliver() reports as it goes (metrics and dead letters hang here); does nothing by itself."""

    def sent(self, channel: Channel, seconds: float) -> None:
        """The receiver accepted the message after `seconds` (this attempt's duration)."""

    def retry(self, channel: Channel, error: str) -> None:
        """An attempt failed and another will follow."""

    def gave_up(self, channel: Channel, error: str) -> None:
        """Called before the failure is recorded: a crash in between repeats this call, never skips it."""


def deliver(message_id: str, notification: dict[str, Any], channels: list[Channel], state: StateStore,
            policy: RetryPolicy, *, clock: Callable[[], float], wait: Callable[[float], bool],
            observer: Observer | None = None, monotonic: Callable[[], float] | None = None) -> Outcome:
    """Deliver to every channel that has not had the message; wait(seconds) returns True when stopping."""
    obs = observer or Observer()
    tick = monotonic or clock
    out = Outcome()
    pending: list[Channel] = []
    first: dict[str, float] = {}
    for ch in channels:
        row = state.begin(message_id, ch.receiver, clock())
        if row.status == SENT:
            out.sent.append(ch.receiver)
        elif row.status == FAILED:
            out.failed[ch.receiver] = row.error
        else:
            pending.append(ch)
            first[ch.receiver] = row.first_attempt
    due = {ch.receiver: 0.0 for ch in pending}
    backoff = {ch.receiver: policy.min_backoff for ch in pending}
    while pending:
        for ch in list(pending):
            now = clock()
            if due[ch.receiver] > now:
                continue
            started = tick()
            try:
                ch.send(notification)
            except Permanent as exc:
                _give_up(ch, str(exc), message_id, state, obs, out, clock())
                pending.remove(ch)
                continue
            except OSError as exc:
                now = clock()
                if now + backoff[ch.receiver] > first[ch.receiver] + policy.give_up_after:
                    age = now - first[ch.receiver]
                    _give_up(ch, f"gave up after {age:.0f} s: {exc}", message_id, state, obs, out, now)
                    pending.remove(ch)
                else:
                    state.attempted(message_id, ch.receiver, str(exc), now)
                    obs.retry(ch, str(exc))
                    log.warning("receiver %s failed (%s); retrying in %.1f s", ch.receiver, exc, backoff[ch.receiver])
                    spread = 1 + policy.jitter * (2 * random.random() - 1)
                    due[ch.receiver] = now + backoff[ch.receiver] * spread
                    backoff[ch.receiver] = min(policy.max_backoff, backoff[ch.receiver] * 2)
                continue
            state.finish(message_id, ch.receiver, SENT, "", clock())
            obs.sent(ch, tick() - started)
            out.sent.append(ch.receiver)
            pending.remove(ch)
        if pending:
            pause = max(0.0, min(due[ch.receiver] for ch in pending) - clock())
            if wait(pause):
                out.stopped = True
                return out
    return out


def _give_up(ch: Channel, error: str, message_id: str, state: StateStore, obs: Observer, out: Outcome,
             now: float) -> None:
    log.error("receiver %s: message %s given up: %s", ch.receiver, message_id, error)
    obs.gave_up(ch, error)
    state.finish(message_id, ch.receiver, FAILED, error, now)
    out.failed[ch.receiver] = error
