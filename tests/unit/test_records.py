"""vigie.schemas.records cannot drift from schemas/json: one class per schema, one field per property and
none beside, required properties without a default; values round-trip through the classes unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigie.schemas.codec import dumps
from vigie.schemas.records import RECORDS, Alert, Notification, decode, record_class, to_record
from vigie.schemas.validate import SchemaError

SCHEMAS = sorted((Path(__file__).resolve().parents[2] / "schemas" / "json").glob("*.schema.json"))


def test_one_record_class_per_schema() -> None:
    assert sorted(RECORDS) == sorted(json.loads(p.read_text())["title"] for p in SCHEMAS)


@pytest.mark.parametrize("path", SCHEMAS, ids=lambda p: p.stem)
def test_fields_are_the_schema_properties(path: Path) -> None:
    schema = json.loads(path.read_text())
    cls = RECORDS[schema["title"]]
    fields = cls._options.fields
    assert set(fields) == set(schema["properties"])
    defaults = cls._options.defaults
    assert set(schema["properties"]) - set(schema["required"]) <= set(defaults)  # optional: None when absent
    # Required: no default, except a nullable one (Faust gives every X | None field a None default).
    assert {f for f in schema["required"] if f in defaults} <= {f for f in schema["required"]
                                                                if _nullable(schema["properties"][f])}


def _nullable(prop: dict) -> bool:
    kinds = prop.get("type")
    return (isinstance(kinds, list) and "null" in kinds) or None in prop.get("enum", []) or "type" not in prop


ALERT = {"schema": "alert/1", "fingerprint": "rtr1|check|PING", "status": "firing", "severity": "critical",
         "host": "rtr1", "site": "mairie", "component": "PING", "summary": "down", "first_seen": "2026-12-07T10:00:00Z",
         "last_seen": "2026-12-07T10:00:00Z", "count": 1, "state_type": "hard", "flapping": False, "suppressed_by": None,
         "incident_id": None, "sources": ["check"]}


def test_a_value_round_trips_through_its_record() -> None:
    record = to_record(ALERT)
    assert isinstance(record, Alert) and record.host == "rtr1"
    assert json.loads(record.dumps()) == ALERT  # no Faust metadata, nothing added
    assert Alert.loads(dumps(ALERT)) == record


def test_optional_properties_default_to_none_and_are_kept_when_present() -> None:
    note = {"schema": "notification/1", "route": "ops", "reason": "new", "at": "2026-12-07T10:00:00Z", "alert": ALERT}
    record = record_class(note)(**note)
    assert isinstance(record, Notification) and record.incident is None and record.alert["host"] == "rtr1"


def test_plain_dict_decoder() -> None:
    assert decode(dumps(ALERT)) == ALERT
    assert decode(None) is None  # a tombstone on a compacted topic
    with pytest.raises(SchemaError):
        decode(dumps({**ALERT, "severity": 3}), check=True)
