"""Archive files, manifest chain, verify, purge and query, without a broker (files written by the writer)."""

from __future__ import annotations

import argparse
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigie.app import archive_cli as cli
from vigie.pipelines.archive.manifest import Manifest, file_entry, load_state, reconcile, verify
from vigie.pipelines.archive.query import QuerySpec, files_in_range, query
from vigie.pipelines.archive.retention import purge
from vigie.pipelines.archive.writer import FileName, iter_files, remove_temporaries, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA, CONNECTION_COLUMNS

TOPIC = "vigie.raw.syslog"


def rows(start: datetime, n: int, first_offset: int, partition: int = 0, **conn: object) -> pa.Table:
    """n rows one second apart, with connection columns from conn (same for every row)."""
    data: dict[str, list] = {name: [None] * n for name in ARCHIVE_SCHEMA.names}
    data["received_at"] = [start + timedelta(seconds=i) for i in range(n)]
    data["raw"] = [f"<13>line {first_offset + i}".encode() for i in range(n)]
    data["topic"] = [TOPIC] * n
    data["partition"] = [partition] * n
    data["offset"] = list(range(first_offset, first_offset + n))
    data["sender"] = ["10.9.0.1"] * n
    data["hostname"] = ["fw01"] * n
    for k, v in conn.items():
        assert k in CONNECTION_COLUMNS
        data[k] = [v] * n
    return pa.table(data, schema=ARCHIVE_SCHEMA)


def archive_file(
    root: Path, manifest: Manifest, hour: datetime, first: int, n: int = 10, **conn: object
) -> str:
    table = rows(hour, n, first, **conn)
    written = write_file(root, table, FileName(TOPIC, 0, first, first + n - 1), hour)
    manifest.append(file_entry(written))
    return written.path


@pytest.fixture()
def archive(tmp_path: Path) -> tuple[Path, list[str]]:
    """Three hours of files with a manifest."""
    root = tmp_path / "a"
    with Manifest(root) as m:
        h = datetime(2024, 5, 1, 10, tzinfo=UTC)
        paths = [archive_file(root, m, h + timedelta(hours=i), i * 10) for i in range(3)]
    return root, paths


def test_file_layout_name_and_content(archive: tuple[Path, list[str]]) -> None:
    root, paths = archive
    assert paths[0] == f"connlog/dt=2024-05-01/hour=10/{TOPIC}+0+0+9.parquet"
    assert [name for _, name in iter_files(root)] == [
        FileName(TOPIC, 0, i * 10, i * 10 + 9) for i in range(3)
    ]
    f = pq.ParquetFile(root / paths[1])
    assert f.schema_arrow.remove_metadata() == ARCHIVE_SCHEMA.remove_metadata()
    assert f.metadata.row_group(0).column(0).compression == "ZSTD"
    assert f.read().column("offset").to_pylist() == list(range(10, 20))
    assert f.schema_arrow.metadata[b"vigie.first_offset"] == b"10"
    assert FileName.parse("x.y+3+5+9.parquet") == FileName("x.y", 3, 5, 9)
    assert FileName.parse(".x+1+2+3.parquet.1.tmp") is None


def test_temporaries_are_removed_and_never_listed(archive: tuple[Path, list[str]]) -> None:
    root, paths = archive
    tmp = (root / paths[0]).parent / f".{TOPIC}+0+10+19.parquet.123.tmp"
    tmp.write_bytes(b"half a file")
    assert len(list(iter_files(root))) == 3
    assert verify(root).ok  # an in-flight temporary is not an extra file
    assert remove_temporaries(root) == [tmp.relative_to(root).as_posix()]
    assert not tmp.exists()


def test_verify_accepts_an_intact_archive(archive: tuple[Path, list[str]]) -> None:
    root, _ = archive
    report = verify(root)
    assert report.ok and report.files_checked == 3 and report.entries == 3


def test_verify_catches_a_corrupted_file(archive: tuple[Path, list[str]]) -> None:
    root, paths = archive
    p = root / paths[1]
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    p.write_bytes(bytes(data))
    report = verify(root)
    assert not report.ok
    assert [a.split(" ")[0] for a in report.altered] == [paths[1]]
    assert not report.missing and not report.extra and not report.chain


def test_verify_catches_a_deleted_file(archive: tuple[Path, list[str]]) -> None:
    root, paths = archive
    (root / paths[2]).unlink()
    report = verify(root)
    assert report.missing == [paths[2]] and not report.altered and not report.extra


def test_verify_catches_an_added_file(archive: tuple[Path, list[str]]) -> None:
    root, paths = archive
    intruder = (root / paths[0]).parent / f"{TOPIC}+0+100+109.parquet"
    intruder.write_bytes((root / paths[0]).read_bytes())
    stray = (root / paths[0]).parent / "notes.txt"
    stray.write_text("hello")
    report = verify(root)
    assert sorted(e.split(" ")[0] for e in report.extra) == sorted(
        p.relative_to(root).as_posix() for p in (intruder, stray)
    )
    assert not report.missing and not report.altered


def test_verify_catches_manifest_edits(archive: tuple[Path, list[str]]) -> None:
    root, _ = archive
    path = root / "manifest.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["rows"] = 9  # a forger changes a figure
    lines[1] = json.dumps(entry).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    assert any("altered" in c for c in verify(root).chain)
    path.write_bytes(b"".join([lines[0], lines[2]]))  # or drops a line (and its file would be "extra")
    report = verify(root)
    assert any("prev does not match" in c for c in report.chain) and report.extra


def test_cli_verify_exit_status(archive: tuple[Path, list[str]]) -> None:
    root, paths = archive
    out = io.StringIO()
    assert cli.verify_main(argparse.Namespace(root=str(root), quiet=False), out) == 0
    assert out.getvalue().startswith("OK: 3 files hashed")
    (root / paths[0]).unlink()
    out = io.StringIO()
    assert cli.verify_main(argparse.Namespace(root=str(root), quiet=True), out) == 1
    assert f"missing: {paths[0]}" in out.getvalue()


def test_torn_manifest_line_is_repaired_and_unlisted_file_reconciled(tmp_path: Path) -> None:
    """A crash between rename and append (file without entry), or during append (torn line)."""
    root = tmp_path / "a"
    hour = datetime(2024, 5, 1, 10, tzinfo=UTC)
    with Manifest(root) as m:
        archive_file(root, m, hour, 0)
        name = FileName(TOPIC, 0, 10, 19)
        write_file(root, rows(hour, 10, 10), name, hour, before_rename=m.intent_recorder(name))  # no entry yet
    with open(root / "manifest.jsonl", "ab") as f:
        f.write(b'{"kind":"file","path":"conn')  # the torn append
    with Manifest(root) as m:
        added = reconcile(root, m)
    assert [e["path"] for e in added] == [f"connlog/dt=2024-05-01/hour=10/{TOPIC}+0+10+19.parquet"]
    assert added[0]["rows"] == 10 and added[0]["min_received_at"] == "2024-05-01T10:00:00.000000Z"
    kinds = [json.loads(line)["kind"] for line in (root / "manifest.jsonl").read_bytes().splitlines()]
    assert kinds == ["file", "intent", "repair", "file"]
    assert verify(root).ok
    assert load_state(root).next_offsets == {(TOPIC, 0): 20}


def test_purge_on_the_boundary_day(tmp_path: Path) -> None:
    """Hours entirely older than now - retention go; the hour holding the cut-off and younger ones stay."""
    root = tmp_path / "a"
    now = datetime(2025, 5, 1, 12, 30, tzinfo=UTC)  # cut-off: 2024-05-01 12:30 (365 days earlier)
    day = datetime(2024, 5, 1, tzinfo=UTC)
    with Manifest(root) as m:
        for i, h in enumerate(
            (
                day - timedelta(hours=1),
                day + timedelta(hours=11),
                day + timedelta(hours=12),
                day + timedelta(hours=13),
            )
        ):
            archive_file(root, m, h, i * 10)
    dry = purge(root, 365, now=now, dry_run=True)
    assert dry.partitions == ["connlog/dt=2024-04-30/hour=23", "connlog/dt=2024-05-01/hour=11"]
    assert len(list(iter_files(root))) == 4  # dry run removes nothing
    report = purge(root, 365, now=now)
    assert report.partitions == dry.partitions and report.rows == 20
    left = sorted(p for p, _ in iter_files(root))
    assert left == [
        f"connlog/dt=2024-05-01/hour=12/{TOPIC}+0+20+29.parquet",
        f"connlog/dt=2024-05-01/hour=13/{TOPIC}+0+30+39.parquet",
    ]
    assert not (root / "connlog/dt=2024-04-30").exists()  # emptied day removed
    assert verify(root).ok  # the purge is in the chain, so the removed files are not "missing"
    last = json.loads((root / "manifest.jsonl").read_bytes().splitlines()[-1])
    assert last["kind"] == "purge" and last["retention_days"] == 365 and len(last["files"]) == 2
    assert purge(root, 365, now=now).partitions == []  # idempotent
    # The next hour, the boundary hour goes too.
    assert purge(root, 365, now=now + timedelta(minutes=30)).partitions == ["connlog/dt=2024-05-01/hour=12"]


def test_cli_purge_dry_run(tmp_path: Path) -> None:
    root = tmp_path / "a"
    with Manifest(root) as m:
        archive_file(root, m, datetime(2020, 1, 1, tzinfo=UTC), 0)
    out = io.StringIO()
    args = argparse.Namespace(root=str(root), retention_days=365, dry_run=True, now=None)
    assert cli.purge_main(args, out) == 0
    assert out.getvalue().startswith("would remove connlog/dt=2020-01-01/hour=00\n")
    assert len(list(iter_files(root))) == 1


@pytest.fixture()
def connections(tmp_path: Path) -> Path:
    root = tmp_path / "a"
    h = datetime(2024, 5, 1, 10, tzinfo=UTC)
    with Manifest(root) as m:
        archive_file(root, m, h, 0, 5, conn_format="cisco_asa", src_ip="10.0.0.5", src_port=50000,
                     nat_ip="81.2.3.4", nat_port=40001, dst_ip="93.184.216.34", dst_port=443, protocol="tcp",
                     action="build", user="alice")  # fmt: skip
        archive_file(root, m, h + timedelta(hours=1), 5, 5, conn_format="cisco_asa", src_ip="10.0.0.6",
                     src_port=50001, nat_ip="81.2.3.4", nat_port=40002, dst_ip="93.184.216.34", dst_port=443,
                     protocol="tcp", action="build", user="bob")  # fmt: skip
        archive_file(root, m, h + timedelta(hours=2), 10, 5, conn_format="dhcp", src_ip="10.0.0.6",
                     mac="00:11:22:33:44:55", action="lease")  # fmt: skip
        archive_file(root, m, h + timedelta(hours=3), 15, 5)  # not connection logs
    return root


@pytest.fixture(params=["pyarrow", "duckdb"])
def engine(request: pytest.FixtureRequest) -> str:
    if request.param == "duckdb":
        pytest.importorskip("duckdb")
    return request.param


def test_query_who_had_public_address_and_port(connections: Path, engine: str) -> None:
    spec = QuerySpec(
        start=datetime(2024, 5, 1, tzinfo=UTC),
        end=datetime(2024, 5, 2, tzinfo=UTC),
        ip="81.2.3.4",
        port=40002,
    )
    t = query(connections, spec, engine=engine)
    assert set(t.column("user").to_pylist()) == {"bob"} and t.num_rows == 5
    assert set(t.column("src_ip").to_pylist()) == {"10.0.0.6"}


def test_query_filters_and_partition_pruning(connections: Path, engine: str) -> None:
    day = datetime(2024, 5, 1, tzinfo=UTC)
    spec = QuerySpec(start=day, end=day + timedelta(days=1), src_ip="10.0.0.6")
    assert sorted(set(query(connections, spec, engine=engine).column("conn_format").to_pylist())) == [
        "cisco_asa",
        "dhcp",
    ]
    spec = QuerySpec(start=day, end=day + timedelta(days=1), mac="00-11-22-33-44-55")
    assert query(connections, spec, engine=engine).num_rows == 5
    spec = QuerySpec(start=day, end=day + timedelta(days=1), user="alice", port=443)
    assert query(connections, spec, engine=engine).num_rows == 5
    spec = QuerySpec(
        start=day, end=day + timedelta(days=1), ip="81.2.3.4", port=443
    )  # 443 is not on the NAT side
    assert query(connections, spec, engine=engine).num_rows == 0
    # Only the hour folders that overlap the range are opened.
    start = day + timedelta(hours=11, minutes=0, seconds=2)
    assert [
        Path(f).parent.name for f in files_in_range(connections, start, start + timedelta(minutes=70))
    ] == [
        "hour=11",
        "hour=12",
    ]
    t = query(
        connections, QuerySpec(start=start, end=start + timedelta(seconds=2), ip="81.2.3.4"), engine=engine
    )
    assert t.column("offset").to_pylist() == [7, 8]


def test_cli_query_formats(connections: Path) -> None:
    base = dict(root=str(connections), start="2024-05-01T10:00:00Z", end="2024-05-01T12:00:00Z", ip=None,
                src_ip=None, dst_ip=None, nat_ip="81.2.3.4", port=40001, user=None, host=None, mac=None,
                limit=None, no_progress=True, engine="auto")  # fmt: skip
    out = io.StringIO()
    cli.query_main(argparse.Namespace(**base, format="table"), out)
    text = out.getvalue().splitlines()
    assert text[0].split()[:3] == ["received_at", "hostname", "conn_format"] and text[-1] == "(5 rows)"
    assert "alice" in text[1] and "mac" not in text[0]  # all-empty columns are left out of the table
    out = io.StringIO()
    cli.query_main(argparse.Namespace(**base, format="json"), out)
    first = json.loads(out.getvalue().splitlines()[0])
    assert first["user"] == "alice" and first["raw"] == "<13>line 0" and first["received_at"].endswith("Z")
    out = io.StringIO()
    cli.query_main(argparse.Namespace(**base, format="csv"), out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("received_at,sender,transport,raw") and len(lines) == 6


def test_manifest_appends_from_several_threads_keep_one_chain(tmp_path: Path) -> None:
    """The sink's writer threads share one Manifest: an flock does not exclude threads, the manifest must."""
    import threading

    with Manifest(tmp_path) as m:
        hour = datetime(2024, 5, 1, 10, tzinfo=UTC)

        def writer(partition: int) -> None:
            for i in range(40):
                table = rows(hour, 2, i * 2, partition=partition)
                written = write_file(tmp_path, table, FileName(TOPIC, partition, i * 2, i * 2 + 1), hour)
                m.append(file_entry(written))

        threads = [threading.Thread(target=writer, args=(p,)) for p in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report = verify(tmp_path)
    assert report.ok, (report.chain, report.missing, report.extra)
    assert report.entries == 120 and report.files_checked == 120
