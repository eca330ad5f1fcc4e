"""The shared rate-limited logger: one line per key per interval, suppressed lines counted, no sleeping."""

from __future__ import annotations

import logging

import pytest

from vigie.log_limit import LimitedLogger, LogLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_one_line_per_key_per_interval_then_the_suppressed_count(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    limiter = LogLimiter(logging.getLogger("t.limit"), interval=10, clock=clock)
    assert limiter.log("bad", logging.WARNING, "bad datagram from %s", "a")
    for _ in range(1999):
        assert not limiter.log("bad", logging.WARNING, "bad datagram from %s", "b")
    assert limiter.log("other", logging.WARNING, "other reason")  # keys are independent
    assert limiter.suppressed("bad") == 1999
    clock.now += 9.9
    assert not limiter.log("bad", logging.WARNING, "bad datagram from %s", "c")
    clock.now += 0.1
    assert limiter.log("bad", logging.WARNING, "bad datagram from %s", "d")
    assert lines(caplog) == [
        "bad datagram from a",
        "other reason",
        "bad datagram from d (2000 similar lines suppressed in the last 10 s)",
    ]
    assert limiter.suppressed("bad") == 0


def test_flush_reports_a_burst_that_stopped(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    limiter = LogLimiter(logging.getLogger("t.flush"), interval=60, clock=clock)
    for _ in range(5):
        limiter.log("undecodable", logging.WARNING, "refused")
    limiter.log("quiet", logging.WARNING, "once")
    assert limiter.flush() == 0  # interval not over: nothing to say yet
    clock.now += 60
    assert limiter.flush() == 1  # "quiet" suppressed nothing: no line for it
    assert lines(caplog) == ["refused", "once", "undecodable: 4 similar lines suppressed in the last 60 s"]
    assert caplog.records[-1].levelno == logging.WARNING
    assert limiter.log("undecodable", logging.WARNING, "refused")  # a fresh interval starts
    assert limiter.flush() == 0
    clock.now += 5
    limiter.log("undecodable", logging.WARNING, "refused")
    assert limiter.flush(everything=True) == 1  # at shutdown: whatever is pending, interval over or not
    assert lines(caplog)[-1] == "undecodable: 1 similar lines suppressed in the last 5 s"


def test_a_traceback_is_kept_for_the_line_let_through(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    limiter = LogLimiter(logging.getLogger("t.exc"), interval=60, clock=clock)
    for _ in range(3):
        try:
            raise RuntimeError("bug")
        except RuntimeError:
            limiter.log("internal", logging.ERROR, "unexpected error", exc_info=True)
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None


def test_many_distinct_keys_do_not_grow_without_bound(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    limiter = LogLimiter(logging.getLogger("t.keys"), interval=60, clock=clock, max_keys=100)
    for i in range(10_000):
        limiter.log(i, logging.INFO, "key %d", i)
    assert len(limiter._windows) <= 100


def test_disabled_level_writes_nothing_but_still_limits(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    limiter = LogLimiter(logging.getLogger("t.level"), interval=60, clock=clock)
    limiter.log("k", logging.DEBUG, "debug line")
    assert not limiter.log("k", logging.DEBUG, "debug line")
    assert not caplog.records


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        LogLimiter(logging.getLogger("t"), interval=0)


def test_limited_logger_keys_librdkafka_lines_by_level_and_facility(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The call confluent-kafka makes for each librdkafka line (seen on confluent-kafka 2.16)."""
    caplog.set_level(logging.INFO)
    adapter = LimitedLogger(LogLimiter(logging.getLogger("t.rdkafka"), interval=30, clock=clock))
    refused = "[thrd:127.0.0.1:9/bootstrap]: 127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed"
    for _ in range(500):
        adapter.log(logging.ERROR, "%s [%s] %s", "FAIL", "rdkafka#producer-1", refused)
    adapter.log(logging.ERROR, "%s [%s] %s", "ERROR", "rdkafka#producer-1", "1/1 brokers are down")
    assert lines(caplog) == [
        f"FAIL [rdkafka#producer-1] {refused}",
        "ERROR [rdkafka#producer-1] 1/1 brokers are down",
    ]
