"""Every topic contract is a valid JSON Schema, accepts a well-formed value and refuses malformed ones."""

from __future__ import annotations

import base64
import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from vigie.schemas.codec import dumps, loads, rfc3339
from vigie.schemas.validate import SchemaError, names, validate
from vigie.sink import deadletter_value

NOW = "2026-11-29T10:00:00.000000Z"

GOOD = {
    "trap/1": {"schema": "trap/1", "version": "v2c", "community": "public", "user": None,
               "trap_oid": "1.3.6.1.6.3.1.1.5.3", "trap_name": "IF-MIB::linkDown", "agent_address": "10.1.0.1",
               "uptime": 1234, "varbinds": [{"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "IF-MIB::ifIndex.3",
                                              "type": "Integer", "value": 3}],
               "received_at": NOW, "peer": "10.1.0.1:50123"},
    "check_result/1": {"schema": "check_result/1", "host": "web1", "service": "HTTP", "status": 2,
                       "output": "HTTP CRITICAL", "long_output": None,
                       "perfdata": [{"label": "time", "value": 0.5, "uom": "s", "warn": "1", "crit": "2",
                                     "min": 0, "max": None}],
                       "check_time": NOW, "source": "active", "duration": 0.51},
    "event/1": {"schema": "event/1", "id": "e1", "ts": NOW, "kind": "trap", "host": "rtr1", "site": "mairie",
                "component": "ifIndex=3", "severity": "critical", "fingerprint": "rtr1|linkDown|3", "clears": None,
                "summary": "link down", "attributes": {}, "origin": {"topic": "raw.traps", "partition": 0, "offset": 7}},
    "alert/1": {"schema": "alert/1", "fingerprint": "f", "status": "firing", "severity": "critical", "host": "h",
                "site": "s", "component": None, "summary": "x", "first_seen": NOW, "last_seen": NOW, "count": 3,
                "state_type": "hard", "flapping": False, "suppressed_by": {"kind": "incident", "ref": "i1"},
                "incident_id": "i1", "sources": ["trap"]},
    "incident/1": {"schema": "incident/1", "id": "i1", "status": "open", "opened_at": NOW, "updated_at": NOW,
                   "resolved_at": None, "severity": "critical", "site": "mairie",
                   "root_cause": {"host": "rtr1", "component": "ifIndex=3", "reason": "link down"},
                   "alerts": ["f"], "explain": ["grouped f: same site within 120 s"]},
    "notification/1": {"schema": "notification/1", "route": "staff", "reason": "new", "alert": {"fingerprint": "f"},
                       "incident": None, "at": NOW},
    "control/1": {"schema": "control/1", "kind": "silence", "id": "s1", "author": "ops", "reason": "works",
                  "start": NOW, "end": NOW, "matchers": [{"name": "host", "op": "=", "value": "rtr1"}]},
    "report/1": {"schema": "report/1", "kind": "maintenance_end", "ref": "m1", "still_failing": ["h|check|DISK"],
                 "at": NOW},
    "action/1": {"schema": "action/1", "action": "shutdown-room1", "step": "countdown", "at": NOW,
                 "id": "shutdown-room1-20261129T100000Z", "armed": True, "deadline": NOW, "targets": ["srv1"],
                 "sources": {"agree": ["probe-a", "probe-b"], "ok": [], "stale": [], "rising": []}},
    "raw_syslog_headers/1": {"schema": "raw_syslog_headers/1", "received_at": NOW, "peer": "10.0.0.1:514",
                             "transport": "udp", "listener": "udp"},
}

BAD = [
    ("trap/1", {"auth_key": "secret"}, "should not be valid"),
    ("trap/1", {"trap_oid": "linkDown"}, "trap_oid"),
    ("check_result/1", {"status": 4}, "status"),
    ("check_result/1", {"check_time": "yesterday"}, "check_time"),
    ("event/1", {"severity": "major"}, "severity"),
    ("alert/1", {"count": 0}, "count"),
    ("notification/1", {"alert": None}, "any of the given schemas"),
    ("raw_syslog_headers/1", {"transport": "sctp"}, "transport"),
    ("action/1", {"step": "exploded"}, "step"),
]


def test_every_schema_is_valid_and_has_a_good_example() -> None:
    assert set(GOOD) | {"deadletter/1"} == set(names())
    for name in names():
        text = resources.files("vigie.schemas").joinpath("json", name.replace("/", "-") + ".schema.json").read_text()
        Draft202012Validator.check_schema(json.loads(text))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_values_pass(name: str) -> None:
    validate(loads(dumps(GOOD[name])))


@pytest.mark.parametrize(("name", "change", "needle"), BAD)
def test_bad_values_fail_naming_the_field(name: str, change: dict, needle: str) -> None:
    value = {**GOOD[name], **change}
    with pytest.raises(SchemaError) as err:
        validate(value)
    assert name in str(err.value) and needle in str(err.value)


def test_deadletter_value_matches_its_contract() -> None:
    value = loads(deadletter_value("syslog", "message over 65536 bytes", b"\x00\xff<13>x", {"peer": "1.2.3.4:9"}))
    validate(value)
    assert base64.b64decode(value["raw"]) == b"\x00\xff<13>x"


def test_value_without_schema_name_is_refused() -> None:
    with pytest.raises(SchemaError, match="no 'schema' field"):
        validate({"host": "x"})
    with pytest.raises(SchemaError, match="unknown schema"):
        validate({"schema": "nope/9"})


def test_codec_round_trip_and_timestamps() -> None:
    assert loads(dumps({"a": 1, "b": [None, "é"]})) == {"a": 1, "b": [None, "é"]}
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"


def test_the_intake_receive_clock_writes_what_rfc3339_writes(monkeypatch) -> None:
    """One formatter: received_at from the listeners' per-millisecond clock equals codec.rfc3339."""
    import time as time_mod

    from vigie.producers.syslog.base import ReceiveClock
    from vigie.schemas.codec import rfc3339

    clock = ReceiveClock()
    for now in (0.0, 1_700_000_000.123, 1_700_000_000.999, 1_700_000_001.0005, 4_102_444_799.5):
        monkeypatch.setattr(time_mod, "time", lambda now=now: now)
        ms = int(now * 1000)
        assert clock.now() == rfc3339(ms / 1000).encode()
