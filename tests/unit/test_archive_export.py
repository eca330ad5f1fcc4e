"""`vigie archive export`: rows as Parquet and CSV with a signed summary, checkable with and without Vigie."""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.unit.test_archive_store import archive_file
from vigie.app import archive_cli as cli
from vigie.pipelines.archive.manifest import Manifest

HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)
SEED = "11" * 32


def export_args(root: Path, out: Path, **given: object) -> argparse.Namespace:
    base: dict[str, object] = dict(root=str(root), start="2024-05-01", end="2024-05-02", ip="10.0.0.5", port=None,
                                   out=str(out), key_env="TEST_EXPORT_KEY", include_unlisted=False, config=None,
                                   bootstrap=None, check=None, expect_key=None)  # fmt: skip
    base.update(given)
    return argparse.Namespace(**base)


@pytest.fixture()
def exported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    monkeypatch.setenv("TEST_EXPORT_KEY", SEED)
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, HOUR, 0, 4, src_ip="10.0.0.5", user="alice")
        archive_file(root, m, HOUR, 4, 3, src_ip="10.0.0.6", user="bob")
        _, head = m.head()
    out = io.StringIO()
    assert cli.export_main(export_args(root, tmp_path / "req-42"), out) == 0
    assert f"exported 4 rows to {tmp_path / 'req-42'}" in out.getvalue() and head in out.getvalue()
    return root, tmp_path / "req-42", head


def test_an_export_holds_the_rows_and_a_signed_summary(exported: tuple[Path, Path, str]) -> None:
    root, folder, head = exported
    assert sorted(p.name for p in folder.iterdir()) == [
        "SHA256SUMS", "public_key.pem", "rows.csv", "rows.parquet", "summary.json", "summary.json.sig"
    ]  # fmt: skip
    assert pq.read_table(folder / "rows.parquet").column("user").to_pylist() == ["alice"] * 4
    assert len((folder / "rows.csv").read_text().splitlines()) == 5
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["rows"] == 4 and summary["chain_head"]["hash"] == head and summary["chain_head"]["chain_intact"]
    assert summary["query"]["ip"] == "10.0.0.5" and summary["query"]["from"] == "2024-05-01T00:00:00.000000Z"
    audit = [json.loads(line) for line in (root / "audit.jsonl").read_text().splitlines()]
    assert [(a["action"], a["rows"]) for a in audit] == [("export", 4)]
    out = io.StringIO()
    assert cli.export_main(argparse.Namespace(check=str(folder), expect_key=None), out) == 0
    assert out.getvalue().startswith("OK: 4 rows, 2 files as signed by key ")


def test_an_altered_export_fails_its_check(exported: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, folder, _ = exported
    csv_file = folder / "rows.csv"
    csv_file.write_text(csv_file.read_text().replace("alice", "mallory"))
    out = io.StringIO()
    assert cli.export_main(argparse.Namespace(check=str(folder), expect_key=None), out) == 1
    assert "rows.csv: SHA-256 or size differs from the signed summary" in out.getvalue()
    summary = folder / "summary.json"
    summary.write_text(summary.read_text().replace('"rows": 4', '"rows": 3'))
    out = io.StringIO()
    assert cli.export_main(argparse.Namespace(check=str(folder), expect_key=None), out) == 1
    assert "the signature does not match" in out.getvalue()


def test_an_export_re_signed_with_another_key_fails_against_the_published_key(
    exported: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, folder, _ = exported
    published = (folder / "public_key.pem").read_bytes()
    (tmp_path / "published.pem").write_bytes(published)
    monkeypatch.setenv("TEST_EXPORT_KEY", "22" * 32)
    assert cli.export_main(export_args(root, tmp_path / "forged"), io.StringIO()) == 0
    out = io.StringIO()
    args = argparse.Namespace(check=str(tmp_path / "forged"), expect_key=str(tmp_path / "published.pem"))
    assert cli.export_main(args, out) == 1 and "not the expected" in out.getvalue()


def test_an_export_is_never_written_over_another_nor_without_a_key(
    exported: tuple[Path, Path, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root, folder, _ = exported
    with pytest.raises(SystemExit) as exc:
        cli.export_main(export_args(root, folder), io.StringIO())
    assert exc.value.code == 2 and "never written over another" in capsys.readouterr().err
    monkeypatch.delenv("TEST_EXPORT_KEY")
    with pytest.raises(SystemExit) as exc:
        cli.export_main(export_args(root, folder.parent / "other"), io.StringIO())
    assert exc.value.code == 2 and "no signing key" in capsys.readouterr().err


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("sha256sum")), reason="openssl, sha256sum")
def test_an_export_checks_without_vigie(exported: tuple[Path, Path, str]) -> None:
    """The commands docs/archive.md gives an auditor: sha256sum -c, openssl pkeyutl -verify."""
    _, folder, _ = exported
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert sums.returncode == 0, sums.stdout + sums.stderr
    verify = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem", "-rawin", "-in", "summary.json",
         "-sigfile", "summary.json.sig"],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0 and "Signature Verified Successfully" in verify.stdout, verify.stderr
