"""KafkaSink without a broker: records queue in librdkafka, so batching, accounting and the buffer limit show."""

from __future__ import annotations

import pytest

from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.sink import BufferFull
from vigie.topics import RAW_SYSLOG

HEADERS = [("received_at", b"2024-05-01T10:00:00.123000Z"), ("peer", b"127.0.0.1:4000"),
           ("transport", b"tcp"), ("listener", b"t")]


@pytest.fixture
def sink():
    # Nothing listens on port 1: every record stays queued, nothing is acknowledged.
    made: list[KafkaSink] = []

    def make(**extra):
        s = KafkaSink(KafkaSettings(bootstrap_servers="127.0.0.1:1"), extra={"log_level": 0, **extra})
        made.append(s)
        return s

    yield make
    for s in made:
        s._producer.purge()
        s.close(timeout=0)


def test_produce_many_queues_every_value_and_counts_them(sink):
    s = sink()
    values = [b"<13>m%d" % i for i in range(1500)]
    assert s.produce_many(RAW_SYSLOG, values, b"127.0.0.1", HEADERS) == 1500
    assert s.produce_many(RAW_SYSLOG, values, b"127.0.0.1", HEADERS, start=1000) == 1500
    # len(Producer) also counts librdkafka's own events (e.g. "connection refused" errors): at least 2000,
    # and delivered() stays at 0 rather than dipping below it
    assert s.produced == 2000 and s.pending() >= 2000 and s.delivered() == 0
    # latency samples: one per batch, at the last multiple of SAMPLE_EVERY (512) the batch crosses
    assert [n for n, _, topic in s._samples] == [1024, 1536] and all(t == RAW_SYSLOG for *_, t in s._samples)


def test_produce_many_stops_where_the_buffer_is_full(sink):
    s = sink(**{"queue.buffering.max.messages": 10})
    values = [b"<13>m%d" % i for i in range(25)]
    assert s.produce_many(RAW_SYSLOG, values, b"k", HEADERS) == 10
    assert s.produced == 10 and not s.has_room()
    with pytest.raises(BufferFull):  # what the caller learns by producing the record it stopped at
        s.produce(RAW_SYSLOG, values[10], b"k", HEADERS)
    assert s.produce_many(RAW_SYSLOG, values, b"k", HEADERS, start=10) == 10  # still full: nothing queued


def test_produce_many_stops_at_a_record_the_client_refuses(sink):
    s = sink(**{"message.max.bytes": 10_000})
    values = [b"a", b"b", b"x" * 20_000, b"c"]
    assert s.produce_many(RAW_SYSLOG, values, b"k") == 2
    assert s.has_room()
    with pytest.raises(Exception, match="too large|MSG_SIZE_TOO_LARGE"):
        s.produce(RAW_SYSLOG, values[2], b"k")
    assert s.produce_many(RAW_SYSLOG, values, b"k", start=3) == 4
    assert s.produced == 3


def test_produce_and_produce_many_accept_no_headers(sink):
    s = sink()
    s.produce(RAW_SYSLOG, b"one", None)
    assert s.produce_many(RAW_SYSLOG, [b"two", b"three"]) == 2
    assert s.produced == 3


def test_delivered_never_goes_back_when_librdkafka_queues_its_own_events(sink):
    s = sink()
    real = s._producer

    class Queue:
        n = 3

        def __len__(self) -> int:
            return self.n

    fake = Queue()
    s._producer, s.produced = fake, 10
    try:
        assert s.delivered() == 7
        fake.n = 5  # two error events queued by the client: not two records taken back
        assert s.delivered() == 7
        fake.n = 0
        assert s.delivered() == 10
    finally:
        s._producer, s.produced = real, 0


def test_close_with_records_for_an_unreachable_broker_returns_what_remains_and_does_not_hang():
    import time

    s = KafkaSink(KafkaSettings(bootstrap_servers="127.0.0.1:1"), extra={"log_level": 0})
    assert s.produce_many(RAW_SYSLOG, [b"<13>a", b"<13>b", b"<13>c"], b"127.0.0.1", HEADERS) == 3
    t0 = time.monotonic()
    assert s.close(timeout=0.5) >= 3, "what was never delivered is reported"
    assert time.monotonic() - t0 < 10
    assert s.delivered() == 0


def test_librdkafka_lines_for_a_closed_port_are_rate_limited(monkeypatch, capfd, caplog):
    """A producer against a closed port for 3 s: librdkafka tries to reconnect every few hundred ms and
    logged each failure to stderr (17 lines in 4 s measured, 31,903 in an 8-minute broker outage)."""
    import logging
    import time

    from vigie import kafka_client
    from vigie.log_limit import LimitedLogger, LogLimiter

    limited = LimitedLogger(LogLimiter(logging.getLogger("vigie.librdkafka"), 60.0))
    monkeypatch.setattr(kafka_client, "LIBRDKAFKA_LOG", limited)
    caplog.set_level(logging.DEBUG, logger="vigie.librdkafka")
    s = KafkaSink(KafkaSettings(bootstrap_servers="127.0.0.1:1"))
    try:
        s.produce(RAW_SYSLOG, b"<13>m", b"k")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        s._producer.purge()
        s.close(timeout=0)
    assert "Connection refused" not in capfd.readouterr().err  # nothing straight to stderr any more
    refused = [r for r in caplog.records if "Connection refused" in r.getMessage()]
    assert len(refused) == 1, [r.getMessage() for r in caplog.records]
    assert refused[0].levelno == logging.ERROR
    assert limited.limiter.suppressed("librdkafka FAIL") >= 3  # the reconnect attempts held back
    assert len(caplog.records) <= 5


def test_records_purged_at_close_are_not_logged_one_by_one(caplog):
    import logging

    caplog.set_level(logging.INFO, logger="vigie.kafka_client")
    s = KafkaSink(KafkaSettings(bootstrap_servers="127.0.0.1:1"), extra={"log_level": 0})
    values = [b"<13>m%d" % i for i in range(1000)]
    assert s.produce_many(RAW_SYSLOG, values, b"k") == 1000
    assert s.close(timeout=0) == 1000
    lines = [r.getMessage() for r in caplog.records]
    assert s.failed == 1000
    assert lines == [
        "1000 records undelivered when the producer closed",
        'delivery to vigie.raw.syslog failed: KafkaError{code=_PURGE_QUEUE,val=-152,str="Local: Purged in queue"}',
        "delivery failed: _PURGE_QUEUE: 999 similar lines suppressed in the last 0 s",
    ]
