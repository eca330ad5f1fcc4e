"""Syslog stamps without a zone read in the device's zone (host > site > [syslog] default_timezone), DST changes included."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from vigie.codecs.syslog import parse_syslog, parse_unguarded
from vigie.config import ConfigError, validate
from vigie.kafka_client import KafkaSettings
from vigie.pipelines.app import NormalizeStage, WorkerOptions
from vigie.pipelines.zones import ZoneMap, zone

PARIS = ZoneMap(zone("Europe/Paris"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stamp(line: str, received: str | None, zones: Any = PARIS, sender: str | None = None) -> str | None:
    """The timestamp parse_syslog gives, checked equal on the RFC 3164 fast path and the general one."""
    rec = at(received) if received else None
    fast = parse_unguarded(line, rec, True, zones, sender)
    slow = parse_unguarded(line, rec, False, zones, sender)
    assert fast == slow
    assert parse_syslog(line, rec, zones, sender) == fast
    return fast["timestamp"]


@pytest.mark.parametrize(
    ("line", "received", "want"),
    [
        # RFC 3164, winter (+01:00) and summer (+02:00)
        ("<13>Jan 15 10:00:00 fw01 app: x", "2026-01-15T09:00:03Z", "2026-01-15T09:00:00.000000Z"),
        ("<13>Jul 15 10:00:00 fw01 app: x", "2026-07-15T08:00:03Z", "2026-07-15T08:00:00.000000Z"),
        # RFC 3164 with a year (Cisco/ASA relay header) and Cisco's device clock with milliseconds
        ("<166>Jan 15 2026 10:01:02 asa01 : %ASA-6-302013: Built", "2026-01-15T09:01:05Z", "2026-01-15T09:01:02.000000Z"),
        ("<189>12: *Mar  1 12:00:00.123: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
         "2026-03-01T11:00:01Z", "2026-03-01T11:00:00.123000Z"),
        # ISO 8601 without offset, and FortiGate without tz=
        ("<13>2026-07-15T10:00:00 srv01 app: x", "2026-07-15T08:00:01Z", "2026-07-15T08:00:00.000000Z"),
        ('date=2026-07-15 time=10:00:00 devname="fgt01" type="traffic"', "2026-07-15T08:00:01Z",
         "2026-07-15T08:00:00.000000Z"),
        # stamps that carry their zone are not moved
        ("<13>1 2026-07-15T10:00:00+00:00 srv01 app - - - x", "2026-07-15T10:00:01Z", "2026-07-15T10:00:00.000000Z"),
        ("<13>2026-07-15T10:00:00Z srv01 app: x", "2026-07-15T10:00:01Z", "2026-07-15T10:00:00.000000Z"),
        ("<189>12: *Mar  1 12:00:00.123 UTC: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
         "2026-03-01T12:00:01Z", "2026-03-01T12:00:00.123000Z"),
        ('date=2026-07-15 time=10:00:00 devname="fgt01" tz="+0000"', "2026-07-15T10:00:01Z",
         "2026-07-15T10:00:00.000000Z"),
    ],
)
def test_zoneless_stamps_are_read_in_the_default_zone(line: str, received: str, want: str) -> None:
    assert stamp(line, received) == want
    assert parse_syslog(line, at(received))["timestamp"] == parse_syslog(line, at(received), ZoneMap())["timestamp"]


def test_without_a_zone_stamps_read_as_utc_as_before() -> None:
    line = "<13>Jul 15 10:00:00 fw01 app: x"
    assert stamp(line, "2026-07-15T10:00:01Z", None) == "2026-07-15T10:00:00.000000Z"
    assert stamp(line, "2026-07-15T10:00:01Z", ZoneMap()) == "2026-07-15T10:00:00.000000Z"
    assert not ZoneMap().active and PARIS.active


@pytest.mark.parametrize(
    ("received", "want"),
    [
        # 02:30 happens twice on 2026-10-25 in Paris: at 00:30Z (+02:00) and at 01:30Z (+01:00)
        ("2026-10-25T00:30:04Z", "2026-10-25T00:30:00.000000Z"),
        ("2026-10-25T01:30:04Z", "2026-10-25T01:30:00.000000Z"),
        ("2026-10-25T01:00:00Z", "2026-10-25T00:30:00.000000Z"),  # equally close: the offset before the change
        ("2026-10-25T01:05:00Z", "2026-10-25T01:30:00.000000Z"),
    ],
)
def test_the_repeated_autumn_hour_takes_the_reading_closest_to_the_receive_time(received: str, want: str) -> None:
    assert stamp("<13>Oct 25 02:30:00 fw01 app: x", received) == want
    assert stamp("<13>2026-10-25T02:30:00 fw01 app: x", received) == want


@pytest.mark.parametrize(
    ("received", "want"),
    [
        # 02:30 never happens on 2026-03-29 in Paris (02:00 +01:00 is 03:00 +02:00): a clock not yet moved
        # forward says it at 01:30Z (+01:00, the offset before the change); read with +02:00 it is 00:30Z
        ("2026-03-29T01:30:02Z", "2026-03-29T01:30:00.000000Z"),
        ("2026-03-29T00:30:02Z", "2026-03-29T00:30:00.000000Z"),
        ("2026-03-29T01:00:00Z", "2026-03-29T01:30:00.000000Z"),  # equally close: the offset before the change
    ],
)
def test_the_spring_gap_takes_the_reading_closest_to_the_receive_time(received: str, want: str) -> None:
    assert stamp("<13>Mar 29 02:30:00 fw01 app: x", received) == want


def test_an_unknown_receive_time_takes_the_offset_before_the_change() -> None:
    autumn = parse_syslog("<13>2026-10-25T02:30:00 fw01 app: x", None, PARIS)
    assert autumn["timestamp"] == "2026-10-25T00:30:00.000000Z"
    assert autumn["errors"] == ["timestamp without offset, read in Europe/Paris"]
    assert parse_syslog("<13>2026-03-29T02:30:00 fw01 app: x", None, PARIS)["timestamp"] == "2026-03-29T01:30:00.000000Z"


def test_arrived_chooses_the_reading_when_received_at_chooses_the_year() -> None:
    line = "<13>Oct 25 02:30:00 fw01 app: x"
    ref = at("2026-10-25T00:00:00Z")  # the archive: one reference per batch for the year
    assert parse_syslog(line, ref, PARIS, arrived=at("2026-10-25T01:31:00Z"))["timestamp"] == "2026-10-25T01:30:00.000000Z"
    assert parse_syslog(line, ref, PARIS)["timestamp"] == "2026-10-25T00:30:00.000000Z"


@pytest.mark.parametrize(
    ("tz", "line", "received", "want"),
    [
        # the local new year comes before (east) or after (west) the UTC one: the year stays right
        ("Europe/Paris", "<13>Jan  1 00:30:00 fw01 app: x", "2026-12-31T23:30:01Z", "2026-12-31T23:30:00.000000Z"),
        ("Europe/Paris", "<13>Dec 31 23:30:00 fw01 app: x", "2026-12-31T22:30:01Z", "2026-12-31T22:30:00.000000Z"),
        ("Pacific/Auckland", "<13>Jan  1 00:30:00 fw01 app: x", "2026-12-31T11:30:01Z", "2026-12-31T11:30:00.000000Z"),
        ("America/Los_Angeles", "<13>Dec 31 23:30:00 fw01 app: x", "2027-01-01T07:30:01Z", "2027-01-01T07:30:00.000000Z"),
        ("America/Los_Angeles", "<189>3: *Dec 31 23:59:59.900: %SYS-5-CONFIG_I: Configured",
         "2027-01-01T08:00:00.100Z", "2027-01-01T07:59:59.900000Z"),
    ],
)
def test_year_less_stamps_take_the_right_year_across_new_year_in_a_zone(tz: str, line: str, received: str, want: str) -> None:
    assert stamp(line, received, ZoneMap(zone(tz))) == want


INVENTORY = {
    "syslog": {"default_timezone": "Europe/Paris"},
    "inventory": {
        "sites": {"cayenne": {"timezone": "America/Cayenne"}, "lyon": {}},
        "hosts": {
            "fw-cay": {"site": "cayenne", "address": "10.9.0.1"},
            "fw-nyc": {"site": "cayenne", "timezone": "America/New_York"},
            "sw-lyon": {"site": "lyon", "address": "10.1.0.2"},
            "gw-utc": {"timezone": "UTC", "address": "10.7.0.1"},
        },
    },
}


@pytest.mark.parametrize(
    ("line", "sender", "want"),
    [
        ("<13>Jul 15 10:00:00 fw-cay app: x", None, "2026-07-15T13:00:00.000000Z"),  # site zone (-03:00)
        ("<13>Jul 15 10:00:00 FW-CAY.example.org app: x", None, "2026-07-15T13:00:00.000000Z"),  # as the inventory resolves
        ("<13>Jul 15 10:00:00 fw-nyc app: x", None, "2026-07-15T14:00:00.000000Z"),  # host over site (-04:00)
        ("<13>Jul 15 10:00:00 sw-lyon app: x", None, "2026-07-15T08:00:00.000000Z"),  # site without zone: default
        ("<13>Jul 15 10:00:00 gw-utc app: x", None, "2026-07-15T10:00:00.000000Z"),  # a UTC host in a Paris default
        ("<13>Jul 15 10:00:00 unknown app: x", None, "2026-07-15T08:00:00.000000Z"),  # unknown: default
        ("<13>Jul 15 10:00:00 unknown app: x", "10.9.0.1", "2026-07-15T13:00:00.000000Z"),  # by the sender's address
        ("<13>Jul 15 10:00:00 app[12]: x", "10.9.0.1", "2026-07-15T13:00:00.000000Z"),  # no hostname: the sender
        ("<13>Jul 15 10:00:00 fw-nyc app: x", "10.9.0.1", "2026-07-15T14:00:00.000000Z"),  # the hostname wins
        ("<189>5: *Jul 15 10:00:00.5: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down", "10.7.0.1",
         "2026-07-15T10:00:00.500000Z"),
    ],
)
def test_hosts_in_different_zones(line: str, sender: str | None, want: str) -> None:
    zones = ZoneMap.from_config(validate(INVENTORY))
    assert stamp(line, "2026-07-15T12:00:00Z", zones, sender) == want


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"syslog": {"default_timezone": "Paris"}}, "syslog.default_timezone"),
        ({"inventory": {"sites": {"s": {"timezone": "Europe"}}}}, "inventory.sites.s.timezone"),
        ({"inventory": {"hosts": {"h": {"timezone": 1}}}}, "inventory.hosts.h.timezone"),
        ({"archive": {"max_clock_skew": "5 minutes"}}, "archive.max_clock_skew"),
    ],
)
def test_bad_zones_and_skews_are_one_line_errors(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate(raw)
    assert str(err.value).startswith(f"config: {key}: expected ") and "\n" not in str(err.value)


class _Message:
    def __init__(self, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        self._v, self._k, self._h = value, key, headers

    def key(self) -> bytes | None:
        return self._k

    def headers(self) -> list[tuple[str, bytes]]:
        return self._h


def test_normalize_gives_events_the_device_time_in_utc() -> None:
    stage = NormalizeStage(validate(INVENTORY), KafkaSettings(), WorkerOptions())
    raw = b"<187>45: *Jul 15 10:00:00.250: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down"
    headers = [("received_at", b"2026-07-15T13:00:01Z"), ("peer", b"10.9.0.1:514")]
    origin = {"topic": "raw.syslog", "partition": 0, "offset": 1}
    event = stage.normalize("raw.syslog", _Message(raw, b"10.9.0.1", headers), raw, origin)
    assert event is not None and event["host"] == "fw-cay"
    assert event["ts"] == "2026-07-15T13:00:00.250000Z"  # 10:00 in Cayenne (-03:00), by the sender's address
    plain = NormalizeStage(validate({}), KafkaSettings(), WorkerOptions())
    event = plain.normalize("raw.syslog", _Message(raw, None, headers), raw, origin)
    assert event is not None and event["ts"] == "2026-07-15T10:00:00.250000Z"  # no zone configured: UTC, as before
