"""Over-long syslog frames against a real Kafka broker: whatever the size, the dead-letter topic gets a record."""

from __future__ import annotations

import base64
import hashlib
import socket

import pytest

from tests.integration.test_intake_delivery import listening, read_all, until
from vigie.kafka_client import KafkaSettings
from vigie.schemas.codec import loads
from vigie.schemas.validate import validate
from vigie.sink import DEADLETTER_MAX_RAW
from vigie.topics import DEADLETTER, RAW_SYSLOG

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def frame(size: int, seed: bytes) -> bytes:
    """A syslog line of exactly size bytes with neither LF nor NUL inside."""
    body = bytes(range(14, 256))
    return (b"<13>" + seed + b" " + body * (size // len(body) + 1))[:size]


def test_800_kb_and_20_mb_tcp_frames_both_reach_the_dead_letter_topic(kafka: KafkaSettings) -> None:
    """An 800,000-byte frame made a 1,066,668-byte base64 dead letter that Kafka refused (MSG_SIZE_TOO_LARGE):
    it was counted as an error and lost. Now both it and a 20 MB frame leave a dead letter with their first
    DEADLETTER_MAX_RAW bytes, their length and their SHA-256; raw.syslog has their first 64 KiB."""
    medium, huge = frame(800_000, b"medium"), frame(20_000_000, b"huge")
    with listening(kafka, "tcp") as (listener, sink):
        with socket.create_connection(("127.0.0.1", listener.port)) as conn:
            conn.sendall(medium + b"\n" + huge + b"\n<13>after\n")
        stats = listener.stats
        until(lambda: stats.produced + stats.dead_lettered + stats.dropped >= 5, "every record handed over", 60)
        assert sink.flush(30) == 0
        assert (stats.produced, stats.dead_lettered, stats.dropped, stats.errors) == (3, 2, 0, 0)
        assert sink.failed == 0

    landed = read_all(kafka, [RAW_SYSLOG, DEADLETTER])
    assert sorted(m.value() for m in landed[RAW_SYSLOG]) == sorted([medium[:65536], huge[:65536], b"<13>after"])
    letters = sorted((loads(m.value()) for m in landed[DEADLETTER]), key=lambda d: d["raw_size"])
    assert len(letters) == 2
    for letter, original in zip(letters, (medium, huge), strict=True):
        validate(letter)  # deadletter/1 with its optional raw_size and raw_sha256
        assert base64.b64decode(letter["raw"]) == original[:DEADLETTER_MAX_RAW]
        assert letter["raw_size"] == len(original)
        assert letter["raw_sha256"] == hashlib.sha256(original).hexdigest()
        assert letter["origin"]["transport"] == "tcp" and letter["stage"] == "syslog-intake"
