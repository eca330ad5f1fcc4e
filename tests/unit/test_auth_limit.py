"""Unit tests of the per-address limit on failed token attempts (a fake clock: nothing is timed)."""

from __future__ import annotations

import pytest

from vigie.producers.checks.auth_limit import FailedAuthLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def test_defaults_are_ten_failures_per_minute():
    clock = FakeClock()
    limiter = FailedAuthLimiter(clock=clock)
    for _ in range(9):
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") is None  # per address


def test_failures_spread_over_more_than_a_window_do_not_block():
    clock = FakeClock()
    limiter = FailedAuthLimiter(max_failures=3, window=60, clock=clock)
    limiter.failed("a")
    limiter.failed("a")
    clock.now += 60  # the window of the first failure has passed: counting starts again
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") is None
    limiter.failed("a")
    assert limiter.retry_after("a") == 60


def test_block_lasts_one_window_and_retry_after_counts_down():
    clock = FakeClock()
    limiter = FailedAuthLimiter(max_failures=2, window=30, clock=clock)
    limiter.failed("a")
    clock.now += 10
    limiter.failed("a")
    clock.now += 29.5
    assert limiter.retry_after("a") == 1
    clock.now += 0.5
    assert limiter.retry_after("a") is None
    assert len(limiter) == 0  # forgotten once stale


def test_success_clears_the_count():
    clock = FakeClock()
    limiter = FailedAuthLimiter(max_failures=3, clock=clock)
    limiter.failed("a")
    limiter.failed("a")
    limiter.succeeded("a")
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.retry_after("a") is None


def test_memory_is_bounded_under_a_flood_of_addresses():
    clock = FakeClock()
    limiter = FailedAuthLimiter(max_failures=2, max_addresses=1000, clock=clock)
    limiter.failed("attacker")
    limiter.failed("attacker")
    for i in range(100_000):
        limiter.failed(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}")
        assert len(limiter) <= 1000
    # The least recently failing addresses are forgotten first (here: the blocked one, the price of the bound).
    assert limiter.retry_after("attacker") is None
    assert limiter.retry_after("10.1.134.159") is None  # the last one has one failure, under the limit


def test_stale_addresses_are_dropped_without_waiting_for_the_bound():
    clock = FakeClock()
    limiter = FailedAuthLimiter(max_addresses=1000, clock=clock)
    for i in range(500):
        limiter.failed(f"a{i}")
    clock.now += 61
    limiter.failed("new")
    assert len(limiter) == 1


def test_zero_turns_the_limit_off():
    limiter = FailedAuthLimiter(max_failures=0, clock=FakeClock())
    for _ in range(100):
        limiter.failed("proxy")
    assert limiter.retry_after("proxy") is None and len(limiter) == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"max_failures": -1}, {"window": 0}, {"max_addresses": 0}],
    ids=["failures", "window", "addresses"],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="auth limit"):
        FailedAuthLimiter(**kwargs)
