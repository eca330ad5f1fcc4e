"""The dead-letter value builder: whole input up to a limit, beyond it the first bytes, the length and the SHA-256."""

from __future__ import annotations

import base64
import hashlib

import pytest

from vigie.schemas.codec import loads
from vigie.schemas.validate import validate
from vigie.sink import DEADLETTER_MAX_RAW, deadletter_value

# librdkafka's message.max.bytes default, which Vigie's producer keeps: a larger record is refused.
PRODUCER_MAX_MESSAGE = 1_000_000


def test_input_within_the_limit_is_kept_whole_without_size_fields() -> None:
    value = loads(deadletter_value("syslog-intake", "too long", b"<13>abc", {"peer": "h"}, max_raw=7))
    validate(value)
    assert base64.b64decode(value["raw"]) == b"<13>abc"
    assert "raw_size" not in value and "raw_sha256" not in value


def test_input_over_the_limit_keeps_its_first_bytes_its_length_and_its_digest() -> None:
    raw = bytes(range(256)) * 40
    value = loads(deadletter_value("syslog-intake", "too long", raw, max_raw=1000))
    validate(value)
    assert base64.b64decode(value["raw"]) == raw[:1000]
    assert value["raw_size"] == 10240 and value["raw_sha256"] == hashlib.sha256(raw).hexdigest()


def test_a_prefix_of_a_longer_input_carries_the_whole_length_and_the_given_digest() -> None:
    digest = hashlib.sha256(b"x" * 5000).hexdigest()
    value = loads(deadletter_value("s", "e", b"x" * 2000, max_raw=1000, raw_size=5000, raw_sha256=digest))
    validate(value)
    assert base64.b64decode(value["raw"]) == b"x" * 1000
    assert (value["raw_size"], value["raw_sha256"]) == (5000, digest)


def test_a_prefix_without_a_digest_says_its_length_only() -> None:
    """A frame the peer left short: what arrived is all there is, its digest would not be the whole's."""
    value = loads(deadletter_value("s", "e", b"y" * 10, raw_size=100))
    validate(value)
    assert value["raw_size"] == 100 and "raw_sha256" not in value and base64.b64decode(value["raw"]) == b"y" * 10


def test_the_default_limit_keeps_any_input_under_the_producer_message_limit() -> None:
    origin = {"listener": "l" * 200, "transport": "tcp", "peer": "[2001:db8::1]:65535", "received_at": "t" * 30}
    error = "\x01" * 1000  # the longest error once JSON escapes it (6 bytes a character)
    for size in (DEADLETTER_MAX_RAW, 800_000, 20_000_000):
        value = deadletter_value("syslog-intake", error, b"\xff" * size, origin)
        assert len(value) < PRODUCER_MAX_MESSAGE - 10_000, size  # room for key, headers, record overhead
        assert len(base64.b64decode(loads(value)["raw"])) == DEADLETTER_MAX_RAW


def test_a_limit_below_one_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="max_raw"):
        deadletter_value("s", "e", b"x", max_raw=0)
