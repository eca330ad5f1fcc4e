"""`vigie state export` then `import` on a real broker: the control objects deleted in between (tombstones) come
back identical under the same keys, importing twice changes nothing, the console accounts come back 0600, and the
frozen file of the first format restores its records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tools import kafka_table
from vigie.app.state_cli import control_records, export_state, import_state, read_document
from vigie.app.views import latest
from vigie.config import validate
from vigie.console.accounts import AccountStore
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.pipelines.correlate.silences import command_value
from vigie.schemas.codec import dumps
from vigie.topics import CONTROL

pytestmark = pytest.mark.integration
FROZEN = Path(__file__).resolve().parents[1] / "data" / "state" / "vigie-state-1.json"
NOW = 1796000000.0


def write(kafka: KafkaSettings, records: dict[bytes, dict | None]) -> None:
    sink = KafkaSink(kafka, linger_ms=0)
    for key, value in records.items():
        if value is None:
            sink.tombstone(CONTROL, key)
        else:
            sink.produce(CONTROL, dumps(value), key=key)
    assert sink.close(timeout=15) == 0


def test_export_delete_import_gives_the_same_objects(kafka: KafkaSettings, tmp_path: Path) -> None:
    cfg = validate({"state_dir": str(tmp_path / "state"),
                    "inventory": {"hosts": {"rtr-mairie": {"site": "mairie", "address": "10.1.0.1"}}}})
    commands = [
        command_value("silence", "alice", "firmware", NOW, start=NOW, end=NOW + 7200, matchers=["site=mairie"]),
        command_value("maintenance", "bob", "UPS", NOW, start=NOW, end=NOW + 3600, hosts=["rtr-mairie"]),
        command_value("acknowledge", "carol", "ticket 4121", NOW, matchers=["host=rtr-mairie"]),
        {"schema": "control/1", "kind": "comment", "id": "comment-1", "author": "carol", "target": "inc-1",
         "text": "ISP called"},
    ]
    write(kafka, {c["id"].encode(): c for c in commands})
    expired = command_value("silence", "alice", "withdrawn", NOW, start=NOW, end=NOW + 60, matchers=["host=x"])
    write(kafka, {expired["id"].encode(): expired})
    write(kafka, {expired["id"].encode(): None})  # withdrawn before the export: not in it
    AccountStore.under(cfg.state_dir).add("alice", "operator", "correct horse battery")
    before = latest(kafka, CONTROL)
    assert len(before) == 4

    doc = read_document(json.dumps(export_state(kafka, cfg)), "export")
    assert [key for key, _ in control_records(doc)] == sorted(before)
    accounts_file = AccountStore.under(cfg.state_dir).path
    accounts_before = accounts_file.read_text()
    write(kafka, dict.fromkeys(before))
    accounts_file.unlink()
    assert latest(kafka, CONTROL) == {}

    lines = import_state(kafka, cfg, doc)
    assert latest(kafka, CONTROL) == before
    assert accounts_file.read_text() == accounts_before and accounts_file.stat().st_mode & 0o777 == 0o600
    assert lines[-1] == "inventory: the config's is the saved one"
    import_state(kafka, cfg, doc)  # idempotent: same keys, same values
    assert latest(kafka, CONTROL) == before

    moved = validate({"state_dir": str(tmp_path / "state"), "inventory": {"hosts": {"rtr-ecole": {}}}})
    assert import_state(kafka, moved, doc)[-1] == ("inventory: the config's differs from the saved one: "
                                                   "hosts missing: rtr-mairie; hosts added: rtr-ecole")


def test_the_frozen_first_format_file_restores_its_records(kafka: KafkaSettings, tmp_path: Path) -> None:
    doc = read_document(FROZEN.read_text(), str(FROZEN))
    import_state(kafka, validate({"state_dir": str(tmp_path)}), doc)
    assert latest(kafka, CONTROL) == dict(control_records(doc))


def test_the_command_line_round_trip(kafka: KafkaSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vigie.app.cli import main

    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path}/state"\n{kafka_table(kafka)}')
    silence = command_value("silence", "alice", "firmware", NOW, start=NOW, end=NOW + 60, matchers=["host=a"])
    write(kafka, {silence["id"].encode(): silence})
    out = tmp_path / "backup.json"
    assert main(["state", "export", "--config", str(conf), "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600
    assert capsys.readouterr().out == f"wrote {out}: 1 control records, 0 hosts, 0 console accounts\n"
    write(kafka, {silence["id"].encode(): None})
    assert main(["state", "import", str(out), "--config", str(conf)]) == 0
    assert latest(kafka, CONTROL) == {silence["id"].encode(): silence}
    future = tmp_path / "future.json"
    future.write_text(json.dumps({**json.loads(out.read_text()), "schema": "vigie-state/2"}))
    assert main(["state", "import", str(future), "--config", str(conf)]) == 2
    assert capsys.readouterr().err == (f"vigie state import: {future}: schema 'vigie-state/2' is not one this Vigie "
                                       "reads (vigie-state/1)\n")
