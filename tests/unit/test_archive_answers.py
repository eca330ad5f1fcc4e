"""Answers of `vigie archive query` that cannot mislead, and the audit of every access."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.test_archive_store import TOPIC, archive_file, rows
from vigie.app import archive_cli as cli
from vigie.pipelines.archive.answer import csv_safe, terminal_safe
from vigie.pipelines.archive.manifest import Manifest
from vigie.pipelines.archive.query import has_duckdb, hour_dirs_in_range
from vigie.pipelines.archive.writer import FileName, write_file

HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)


def ask(archive_root: Path, **given: object) -> argparse.Namespace:
    base: dict[str, object] = dict(
        root=str(archive_root), start="2024-05-01", end="2024-05-02", ip=None, src_ip=None, dst_ip=None, nat_ip=None,
        port=None, user=None, host=None, mac=None, limit=None, format="json", engine="auto", no_progress=True,
        include_unlisted=False, config=None, bootstrap=None,
    )  # fmt: skip
    base.update(given)
    return argparse.Namespace(**base)


@pytest.fixture()
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0, 5, src_ip="10.0.0.5", user="alice")
        archive_file(root, m, HOUR + timedelta(hours=1), 5, 5, src_ip="10.0.0.5", user="bob")
    return root


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (dict(root="/nonexistent/archive"), "no archive at /nonexistent/archive"),
        (dict(ip="10.0.0.300"), "--ip: '10.0.0.300' is not an IP address"),
        (dict(src_ip="alice"), "--src-ip: 'alice' is not an IP address"),
        (dict(port=-1), "--port: -1 is not a port"),
        (dict(port=70000), "--port: 70000 is not a port"),
        (dict(limit=-5), "--limit: -5 is not a positive count"),
        (dict(start="2024-13-01"), "bad --from/--to"),
        (dict(end="yesterday"), "bad --from/--to"),
        (dict(start="2024-05-02", end="2024-05-01"), "--to must be after --from"),
    ],
)
def test_questions_that_cannot_be_asked_get_one_line_and_exit_2(
    archive: Path, capsys: pytest.CaptureFixture[str], given: dict[str, object], says: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.query_main(ask(archive, **given), io.StringIO())
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err, err


@pytest.mark.parametrize("engine", ["auto", pytest.param("duckdb", marks=pytest.mark.skipif(not has_duckdb(), reason="duckdb"))])
def test_an_unreadable_file_is_named_and_the_answer_is_partial(
    archive: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    """One corrupt file: the other files are answered, the answer says it is partial, exit 3 (both engines)."""
    broken = next((archive / "connlog").rglob("*+0+5+9.parquet"))
    data = bytearray(broken.read_bytes())
    data[8:4000] = b"\xff" * len(data[8:4000])  # pages destroyed, footer intact
    broken.write_bytes(bytes(data))
    out = io.StringIO()
    code = cli.query_main(ask(archive, ip="10.0.0.5", format="table", engine=engine), out)
    assert code == 3
    text = out.getvalue()
    assert "(5 rows)" in text and "PARTIAL: 1 files could not be read" in text
    err = capsys.readouterr().err
    assert f"could not read {broken}" in err and "PARTIAL answer" in err


def test_files_not_in_the_manifest_are_skipped_unless_asked(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extra = write_file(archive, rows(HOUR, 3, 100, src_ip="10.0.0.5"), FileName(TOPIC, 0, 100, 102), HOUR)
    out = io.StringIO()
    assert cli.query_main(ask(archive, ip="10.0.0.5"), out) == 0
    assert len(out.getvalue().splitlines()) == 10
    assert f"skipped 1 files not in the manifest ({extra.path})" in capsys.readouterr().err
    out = io.StringIO()
    assert cli.query_main(ask(archive, ip="10.0.0.5", include_unlisted=True), out) == 0
    assert len(out.getvalue().splitlines()) == 13


def test_a_range_of_centuries_is_answered_from_the_folders_that_exist(archive: Path) -> None:
    start, end = datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
    assert hour_dirs_in_range(archive, start, end) == [
        "connlog/dt=2024-05-01/hour=10",
        "connlog/dt=2024-05-01/hour=11",
    ]
    assert hour_dirs_in_range(archive, HOUR + timedelta(minutes=30), HOUR + timedelta(minutes=31)) == [
        "connlog/dt=2024-05-01/hour=10"
    ]
    out = io.StringIO()
    assert cli.query_main(ask(archive, start="1970-01-01", end="9999-12-31", user="bob"), out) == 0
    assert len(out.getvalue().splitlines()) == 5


def test_csv_cells_cannot_forge_rows_nor_formulas(tmp_path: Path) -> None:
    assert csv_safe([["a\nb", "=HYPERLINK(1)", "+1", "-x", "@SUM(A1)", "ok", "\x1b[31m", "tab\there"]]) == [
        ["a\\nb", "'=HYPERLINK(1)", "'+1", "'-x", "'@SUM(A1)", "ok", "\\x1b[31m", "tab\\there"]
    ]
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0, 2, src_ip="10.0.0.5", user="=cmd|' /C calc'!A0\r\nforged,row")
    out = io.StringIO()
    assert cli.query_main(ask(root, ip="10.0.0.5", format="csv"), out) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "'=cmd|' /C calc'!A0\\r\\nforged,row" in lines[1]


def test_table_cells_cannot_drive_the_terminal_nor_forge_lines(tmp_path: Path) -> None:
    assert terminal_safe([["\x1b[2J", "a\r\nb", "\x9b31m", "abc\u202edcba", "=SUM(1)", "café"]]) == [
        ["\\x1b[2J", "a\\r\\nb", "\\x9b31m", "abc\\u202edcba", "=SUM(1)", "café"]
    ]
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0, 2, src_ip="10.0.0.5", user="\x1b[2J\x1b[Hbob\r\n2025-01-01 10.0.0.9 \u202eevil")
    out = io.StringIO()
    assert cli.query_main(ask(root, ip="10.0.0.5", format="table"), out) == 0
    text = out.getvalue()
    lines = text.splitlines()
    assert len(lines) == 4 and lines[-1] == "(2 rows)"  # the header, two rows: no forged line
    assert not any(c in text for c in "\x1b\r\u202e")
    assert "\\x1b[2J\\x1b[Hbob\\r\\n2025-01-01 10.0.0.9 \\u202eevil" in lines[1]


def test_every_query_is_recorded_and_listed(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.query_main(ask(archive, ip="10.0.0.5", port=None, limit=3), io.StringIO()) == 0
    err = capsys.readouterr().err
    assert "the audit topic was not written" in err and "recorded in the archive's audit log only" in err
    assert cli.query_main(ask(archive, user="nobody"), io.StringIO()) == 0
    lines = [json.loads(line) for line in (archive / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["rows"], e["question"].get("ip")) for e in lines] == [
        ("query", 3, "10.0.0.5"),
        ("query", 0, None),
    ]
    assert lines[0]["user"] and lines[0]["at"].endswith("Z") and lines[0]["question"]["limit"] == 3
    out = io.StringIO()
    assert cli.audit_main(argparse.Namespace(root=str(archive), start=None, end=None, format="table"), out) == 0
    text = out.getvalue()
    assert "ip=10.0.0.5" in text and "user=nobody" in text and text.endswith("(2 accesses)\n")
    out = io.StringIO()
    assert cli.audit_main(argparse.Namespace(root=str(archive), start="2999-01-01", end=None, format="json"), out) == 0
    assert out.getvalue() == ""
    # A line removed from the log shows.
    kept = (archive / "audit.jsonl").read_text().splitlines(keepends=True)[1:]
    (archive / "audit.jsonl").write_text("".join(kept))
    assert cli.audit_main(argparse.Namespace(root=str(archive), start=None, end=None, format="json"), io.StringIO()) == 1
    assert "a line removed or edited" in capsys.readouterr().err


def test_a_query_whose_access_cannot_be_recorded_is_refused(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (archive / "audit.jsonl").mkdir()  # cannot be opened for appending (as root, permissions would not stop it)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exc:
        cli.query_main(ask(archive, ip="10.0.0.5"), out)
    assert exc.value.code == 4 and out.getvalue() == ""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused: cannot open the audit log" in err


def test_the_local_broker_default_matches_the_config() -> None:
    from vigie.config import load

    host, port = load(None).kafka.local_listen
    assert cli.LOCAL_BROKER == f"{host}:{port}"


def test_an_archive_with_a_manifest_only_is_an_archive(tmp_path: Path) -> None:
    root = tmp_path / "a"
    Manifest(root).close()
    assert cli.query_main(ask(root), io.StringIO()) == 0
