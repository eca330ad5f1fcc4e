"""The `vigie state` file: what export writes is what import reads, a file of an unknown schema or with a value the
worker would refuse is refused whole, and a file of today's format (frozen in tests/data/state/) stays readable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigie.app.state_cli import (
    SCHEMA,
    StateFileError,
    build_document,
    control_records,
    inventory_differences,
    read_document,
    write_private,
)
from vigie.console.accounts import AccountStore

FROZEN = Path(__file__).resolve().parents[1] / "data" / "state" / "vigie-state-1.json"
SILENCE = {"schema": "control/1", "kind": "silence", "id": "s1", "author": "alice", "reason": "works",
           "created_at": "2026-12-01T10:00:00Z", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T12:00:00Z",
           "matchers": ["host=rtr1"]}
INVENTORY = {"hosts": [{"name": "rtr1", "site": "mairie"}], "services": [{"host": "rtr1", "name": "ping"}]}


def document(**changes: object) -> dict:
    doc = build_document({b"s1": SILENCE}, INVENTORY, None, 1796000000.0)
    doc.update(changes)
    return doc


def test_a_written_document_reads_back() -> None:
    doc = read_document(json.dumps(document()), "f.json")
    assert doc["schema"] == SCHEMA and doc["exported_at"] == "2026-11-30T00:53:20Z"
    assert control_records(doc) == [(b"s1", SILENCE)]


def test_a_key_that_is_not_utf8_survives() -> None:
    doc = read_document(json.dumps(build_document({b"\xff\x00": dict(SILENCE, id="x")}, INVENTORY, None, 0)), "f")
    assert control_records(doc)[0][0] == b"\xff\x00"


@pytest.mark.parametrize(("doc", "message"), [
    ("not json", "not JSON"),
    (json.dumps([1]), "schema None is not one this Vigie reads"),
    (json.dumps(document(schema="vigie-state/2")), "schema 'vigie-state/2' is not one this Vigie reads"),
    (json.dumps(document(control={})), "expected a control list"),
    (json.dumps(document(control=[{"key": "s1", "value": dict(SILENCE, end="2026-12-01T09:00:00Z")}])),
     r"control\[0\] \(s1\): silence.end: must be after start"),
    (json.dumps(document(control=[{"value": SILENCE}])), r"control\[0\]: expected"),
    (json.dumps(document(control=[{"key_b64": "@@", "value": SILENCE}])), r"control\[0\].key_b64: not base64"),
    (json.dumps(document(inventory={"hosts": [{"site": "x"}], "services": []})), "inventory.hosts"),
    (json.dumps(document(console_accounts={"schema": "console-accounts/9"})), "console-accounts/1"),
    (json.dumps(document(console_accounts={"schema": "console-accounts/1", "accounts": [{"name": "a"}]})),
     "not a list of accounts"),
])
def test_a_file_that_cannot_be_restored_is_refused_in_one_line(doc: str, message: str) -> None:
    with pytest.raises(StateFileError, match=message) as info:
        read_document(doc, "f.json")
    assert "\n" not in str(info.value)


def test_the_frozen_file_of_the_first_format_is_read() -> None:
    doc = read_document(FROZEN.read_text(), str(FROZEN))
    kinds = {key: value["kind"] for key, value in control_records(doc)}
    assert kinds == {b"silence-mairie-switches": "silence", b"maintenance-ups": "maintenance",
                     b"ack-rtr-ecole": "acknowledge", b"comment-1": "comment"}
    assert [h["name"] for h in doc["inventory"]["hosts"]] == ["rtr-mairie"]


def test_the_frozen_accounts_restore_with_mode_0600_and_their_passwords(tmp_path: Path) -> None:
    doc = read_document(FROZEN.read_text(), str(FROZEN))
    store = AccountStore.under(tmp_path)
    assert store.restore(doc["console_accounts"]) == 1
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert store.authenticate("alice", "correct horse battery").role == "operator"
    assert store.document() == doc["console_accounts"]


def test_inventory_differences_name_what_is_missing_added_and_changed() -> None:
    current = {"hosts": [{"name": "rtr1", "site": "ecole"}, {"name": "sw2"}], "services": []}
    assert inventory_differences(INVENTORY, current) == ["hosts added: sw2", "hosts changed: rtr1",
                                                         "services missing: rtr1/ping"]
    assert inventory_differences(INVENTORY, INVENTORY) == []


def test_the_export_is_written_0600(tmp_path: Path) -> None:
    out = tmp_path / "state.json"
    out.write_text("old")
    out.chmod(0o644)
    write_private(out, "{}")
    assert out.read_text() == "{}" and out.stat().st_mode & 0o777 == 0o600
