"""Archive query engines: the address index in file footers, row order, and equal answers from every path."""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigie.app import archive_cli
from vigie.pipelines.archive import answer
from vigie.pipelines.archive.footer_index import _INDEX_HEAD, _varint, index_mask_of, index_span
from vigie.pipelines.archive.manifest import Manifest, file_entry, verify
from vigie.pipelines.archive.query import (
    ORDER_COLUMNS,
    TABLE_COLUMNS,
    QuerySpec,
    _File,
    files_in_range,
    query,
)
from vigie.pipelines.archive.retention import DEFAULT_RETENTION_DAYS
from vigie.pipelines.archive.writer import (
    IP_INDEX_BEGIN,
    IP_INDEX_COLUMNS,
    IP_INDEX_END,
    FileName,
    index_mask,
    iter_files,
    read_footer,
    write_file,
)
from vigie.schemas.archive import ARCHIVE_SCHEMA

TOPIC = "vigie.raw.syslog"
DAY = datetime(2024, 5, 1, tzinfo=UTC)
INSIDE = [f"10.0.0.{i}" for i in range(1, 9)] + ["2001:db8::5"]
PUBLIC = ["81.2.3.4", "81.2.3.5"]
OUTSIDE = [
    "93.184.216.34",
    "10.0.0.3",
    "2001:db8::5",
    "1.1.1.1",
]  # some inside addresses are also destinations
ENGINES = ["pyarrow", "duckdb"]


def random_rows(r: random.Random, hour: datetime, n: int, first: int, partition: int) -> pa.Table:
    """n rows in one hour, many sharing a received time, with nulls and repeated addresses on every side."""
    data: dict[str, list] = {name: [None] * n for name in ARCHIVE_SCHEMA.names}
    data["received_at"] = sorted(hour + timedelta(seconds=r.randrange(0, 3600, 60)) for _ in range(n))
    data["raw"] = [f"<13>p{partition} o{first + i} {r.random()}".encode() for i in range(n)]
    data["topic"] = [TOPIC] * n
    data["partition"] = [partition] * n
    data["offset"] = list(range(first, first + n))
    data["hostname"] = [r.choice(["fw01", "fw02"]) for _ in range(n)]
    for i in range(n):
        if r.random() < 0.1:
            continue  # not a connection log: every connection column null
        data["src_ip"][i] = r.choice(INSIDE)
        data["src_port"][i] = r.choice([50000, 50001, 53])
        data["dst_ip"][i] = r.choice(OUTSIDE)
        data["dst_port"][i] = r.choice([443, 53])
        if r.random() < 0.7:
            data["nat_ip"][i] = r.choice(PUBLIC)
            data["nat_port"][i] = r.choice([40001, 40002, 50000])
        data["user"][i] = r.choice(["alice", "bob", None])
        data["mac"][i] = r.choice(["00:11:22:33:44:55", None])
    return pa.table(data, schema=ARCHIVE_SCHEMA)


@pytest.fixture(scope="module")
def random_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """Six hours, two Kafka partitions, several files per hour, row groups of 16 rows; and every row."""
    root = tmp_path_factory.mktemp("q") / "a"
    r = random.Random(7)
    tables = []
    offsets = {0: 0, 1: 0}
    with Manifest(root) as m:
        for h in range(6):
            hour = DAY + timedelta(hours=h)
            for _ in range(2):
                p = r.choice([0, 1])
                n = r.randrange(1, 90)
                t = random_rows(r, hour, n, offsets[p], p)
                written = write_file(
                    root, t, FileName(TOPIC, p, offsets[p], offsets[p] + n - 1), hour, row_group_rows=16
                )
                m.append(file_entry(written))
                offsets[p] += n
                tables.append(t)
    return root, pa.concat_tables(tables)


def expected(all_rows: pa.Table, spec: QuerySpec, columns: list[str] | None) -> pa.Table:
    """The answer computed row by row in Python, independently of both engines."""

    def side(row: dict, ip_col: str, port_col: str) -> bool:
        return row[ip_col] == spec.ip and (spec.port is None or row[port_col] == spec.port)

    keep = []
    for row in all_rows.to_pylist():
        if not spec.start <= row["received_at"] < spec.end:
            continue
        if spec.ip is not None and not any(
            side(row, *s) for s in (("src_ip", "src_port"), ("nat_ip", "nat_port"), ("dst_ip", "dst_port"))
        ):
            continue
        if (
            spec.ip is None
            and spec.port is not None
            and spec.port not in (row["src_port"], row["nat_port"], row["dst_port"])
        ):
            continue
        if any(
            v is not None and row[c] != v
            for c, v in (("src_ip", spec.src_ip), ("dst_ip", spec.dst_ip), ("nat_ip", spec.nat_ip),
                         ("user", spec.user), ("hostname", spec.host), ("mac", spec.mac))
        ):  # fmt: skip
            continue
        keep.append(row)
    keep.sort(key=lambda row: tuple(row[c] for c in ORDER_COLUMNS))
    if spec.limit is not None:
        keep = keep[: spec.limit]
    cols = columns or list(ARCHIVE_SCHEMA.names)
    schema = pa.schema([ARCHIVE_SCHEMA.field(c) for c in cols])
    return pa.Table.from_pylist([{c: row[c] for c in cols} for row in keep], schema=schema)


def random_specs(n: int, seed: int) -> list[QuerySpec]:
    r = random.Random(seed)
    specs = []
    for _ in range(n):
        start = DAY + timedelta(minutes=r.randrange(0, 6 * 60, 7))
        spec = QuerySpec(start=start, end=start + timedelta(minutes=r.choice([10, 90, 6 * 60])))
        kind = r.randrange(6)
        if kind == 0:
            spec.ip = r.choice(INSIDE + PUBLIC + OUTSIDE + ["192.0.2.1"])
        elif kind == 1:
            spec.ip, spec.port = r.choice(PUBLIC + INSIDE), r.choice([40001, 40002, 50000, 53])
        elif kind == 2:
            spec.src_ip, spec.user = r.choice(INSIDE), r.choice(["alice", None])
        elif kind == 3:
            spec.dst_ip, spec.nat_ip = r.choice(OUTSIDE), r.choice(PUBLIC)
        elif kind == 4:
            spec.port, spec.host = r.choice([53, 443, 40002]), r.choice(["fw01", None])
        else:
            spec.mac = "00:11:22:33:44:55"
        if r.random() < 0.3:
            spec.limit = r.randrange(0, 20)
        specs.append(spec)
    return specs


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_give_the_row_by_row_answer(random_archive: tuple[Path, pa.Table], engine: str) -> None:
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    root, all_rows = random_archive
    for spec in random_specs(40, seed=3):
        columns = random.Random(repr(spec)).choice([None, ["received_at", "src_ip", "raw"], ["raw"]])
        got = query(root, spec, columns, engine=engine)
        assert got.equals(expected(all_rows, spec, columns)), spec


def test_auto_is_pyarrow_and_progress_is_reported(random_archive: tuple[Path, pa.Table]) -> None:
    root, _ = random_archive
    spec = QuerySpec(start=DAY, end=DAY + timedelta(hours=6), ip="10.0.0.3")
    calls: list[tuple[int, int, int]] = []
    auto = query(root, spec, progress=lambda *a: calls.append(a))
    assert auto.equals(query(root, spec, engine="pyarrow")) and auto.num_rows > 0
    assert calls[-1] == (12, 12, auto.num_rows)
    with pytest.raises(ValueError):
        query(root, spec, engine="spark")


def test_files_are_sorted_by_source_and_indexed_exactly(random_archive: tuple[Path, pa.Table]) -> None:
    """The footer index lists every address of every indexed side, with exactly its row groups."""
    root, _ = random_archive
    for rel, name in iter_files(root):
        pf = pq.ParquetFile(root / rel)
        t = pf.read()
        assert pf.metadata.row_group(0).num_rows == min(16, t.num_rows)
        keys = [
            (s is None, s or "", o)
            for s, o in zip(t.column("src_ip").to_pylist(), t.column("offset").to_pylist(), strict=True)
        ]
        assert keys == sorted(keys)  # by source address (nulls last), then offset
        assert sorted(t.column("offset").to_pylist()) == list(range(name.first, name.last + 1))
        truth: dict[str, int] = {}
        for g in range(pf.num_row_groups):
            rg = pf.read_row_group(g, columns=list(IP_INDEX_COLUMNS))
            for c in IP_INDEX_COLUMNS:
                for v in rg.column(c).to_pylist():
                    if v is not None:
                        truth[v] = truth.get(v, 0) | 1 << g
        footer = read_footer(root / rel)
        span = index_span(footer)
        assert span is not None
        for v in INSIDE + PUBLIC + OUTSIDE + ["192.0.2.1", "10.0.0.1/", "0.0.0.1"]:
            assert index_mask(footer, span, v) == truth.get(v, 0), (rel, v)


def test_the_index_is_covered_by_verify(tmp_path: Path) -> None:
    """The index lives in the file, so changing one bit of it is an altered file for verify."""
    root = tmp_path / "a"
    with Manifest(root) as m:
        t = random_rows(random.Random(1), DAY, 40, 0, 0)
        m.append(file_entry(write_file(root, t, FileName(TOPIC, 0, 0, 39), DAY, row_group_rows=8)))
    assert verify(root).ok and sorted(p.name for p in (root / "connlog").rglob("*") if p.is_file()) == [
        f"{TOPIC}+0+0+39.parquet"
    ]  # no sidecar file
    path = next((root / "connlog").rglob("*.parquet"))
    data = bytearray(path.read_bytes())
    at = data.find(b"\n10.0.0.3\t") + 1
    data[at + len("10.0.0.3\t")] ^= 0x01  # flips the mask of 10.0.0.3: a forger hiding rows
    path.write_bytes(bytes(data))
    report = verify(root)
    assert [a.split(" ")[0] for a in report.altered] == [path.relative_to(root).as_posix()]


@pytest.mark.parametrize("engine", ENGINES)
def test_files_without_index_are_read_whole(tmp_path: Path, engine: str) -> None:
    """Files written before the index (or by another tool), and values the index cannot hold."""
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    root = tmp_path / "a"
    t = random_rows(random.Random(2), DAY, 50, 0, 0)
    old = root / "connlog/dt=2024-05-01/hour=00"
    old.mkdir(parents=True)
    pq.write_table(t, old / f"{TOPIC}+0+0+49.parquet", row_group_size=8)
    odd = random_rows(random.Random(3), DAY, 5, 50, 0)
    odd = odd.set_column(odd.schema.get_field_index("dst_ip"), "dst_ip", pa.array(["a\tb"] * 5))
    write_file(root, odd, FileName(TOPIC, 0, 50, 54), DAY, row_group_rows=8)
    files = sorted(str(p) for p in old.glob("*.parquet"))
    assert [index_mask_of(f, ["10.0.0.3"]) for f in files] == [None, None]
    spec = QuerySpec(start=DAY, end=DAY + timedelta(hours=1), ip="10.0.0.3")
    assert query(root, spec, engine=engine).equals(expected(pa.concat_tables([t, odd]), spec, None))


def test_a_file_without_the_address_is_not_opened(random_archive: tuple[Path, pa.Table]) -> None:
    root, _ = random_archive
    files = [str(root / rel) for rel, _ in iter_files(root)]
    assert all(index_mask_of(f, ["192.0.2.1"]) == 0 for f in files)
    assert all(index_mask_of(f, []) is None for f in files)
    assert query(root, QuerySpec(start=DAY, end=DAY + timedelta(hours=6), ip="192.0.2.1")).num_rows == 0


# ---------------------------------------------------------------- crossing hours and days; file reading


@pytest.fixture(scope="module")
def midnight_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pa.Table]:
    """22:00 to 02:00 across a day boundary, two partitions, several files an hour, 16-row groups."""
    root = tmp_path_factory.mktemp("m") / "a"
    r = random.Random(11)
    tables, offsets = [], {0: 0, 1: 0}
    first = DAY + timedelta(hours=22)
    for h in range(4):
        hour = first + timedelta(hours=h)
        for p in (0, 1, r.choice([0, 1])):
            n = r.randrange(20, 70)
            t = random_rows(r, hour, n, offsets[p], p)
            write_file(root, t, FileName(TOPIC, p, offsets[p], offsets[p] + n - 1), hour, row_group_rows=16)
            offsets[p] += n
            tables.append(t)
    return root, pa.concat_tables(tables)


def test_queries_across_hours_and_days(midnight_archive: tuple[Path, pa.Table]) -> None:
    """Ranges that start and end inside an hour, span midnight, or cover everything, on every path."""
    root, all_rows = midnight_archive
    first = DAY + timedelta(hours=22)
    assert {Path(p).parent.parent.name for p in files_in_range(root, first, first + timedelta(hours=4))} == {
        "dt=2024-05-01",
        "dt=2024-05-02",
    }
    r = random.Random(5)
    for i in range(60):
        start = first + timedelta(minutes=r.randrange(0, 4 * 60, 7)) - timedelta(minutes=30)
        spec = QuerySpec(start=start, end=start + timedelta(minutes=r.choice([1, 59, 60, 61, 150, 300])))
        if i == 0:
            spec.start, spec.end = first - timedelta(days=1), first + timedelta(days=1)  # everything
        kind = i % 5
        if kind == 0:
            spec.ip = r.choice(INSIDE + PUBLIC + OUTSIDE)  # the one-pass path (the index decides)
        elif kind == 1:
            spec.ip, spec.port = r.choice(PUBLIC), r.choice([40001, 40002, 50000])  # NAT: address and port
        elif kind == 2:
            spec.src_ip, spec.mac = r.choice(INSIDE), "00:11:22:33:44:55"  # DHCP-like: device and MAC
        elif kind == 3:
            spec.port = 53
        else:
            spec.user = r.choice(["alice", "bob"])
        if r.random() < 0.3:
            spec.limit = r.randrange(0, 30)
        columns = r.choice([None, list(TABLE_COLUMNS), ["raw", "received_at"]])
        got = query(root, spec, columns)
        assert got.equals(expected(all_rows, spec, columns)), spec
        assert got.schema.metadata is None
    # Every file the writer made has an index the query trusts (else it would be right but slow).
    assert all(
        index_span(read_footer(f)) is not None
        for f in files_in_range(root, first, first + timedelta(hours=4))
    )


def test_columns_null_in_every_row_group_read_are_made_not_read(tmp_path: Path) -> None:
    """A column null in the row groups that match is answered as nulls without decoding it."""
    root = tmp_path / "a"
    t = random_rows(random.Random(4), DAY, 64, 0, 0)
    src = ["10.0.0.1"] * 32 + ["10.0.0.2"] * 32  # rows stay in this order: sorted by source already
    users = [None] * 32 + ["carol"] * 32
    t = t.set_column(t.schema.get_field_index("src_ip"), "src_ip", pa.array(src))
    t = t.set_column(t.schema.get_field_index("user"), "user", pa.array(users, pa.string()))
    t = t.set_column(t.schema.get_field_index("dst_ip"), "dst_ip", pa.array(["1.1.1.1"] * 64))
    t = t.set_column(t.schema.get_field_index("nat_ip"), "nat_ip", pa.nulls(64, pa.string()))
    write_file(root, t, FileName(TOPIC, 0, 0, 63), DAY, row_group_rows=16)
    [path] = files_in_range(root, DAY, DAY + timedelta(hours=1))
    f = _File(path)
    assert f.all_null([0, 1], "user") and not f.all_null([1, 2], "user") and not f.all_null([0], "src_ip")
    for ip in ("10.0.0.1", "10.0.0.2"):
        spec = QuerySpec(start=DAY, end=DAY + timedelta(hours=1), ip=ip)
        got = query(root, spec, list(TABLE_COLUMNS))
        assert got.equals(expected(t, spec, list(TABLE_COLUMNS))) and got.num_rows == 32
        assert got.column("user").type == pa.string()


# ---------------------------------------------------------------- the footer index cannot be forged


def _forged_index(value: str) -> bytes:
    """A message shaped like the footer's index, saying `value` is in no row group."""
    body = IP_INDEX_BEGIN + value.encode() + b"\t0\n" + IP_INDEX_END
    return b"\x00" + _INDEX_HEAD + _varint(len(body)) + body + b"\x00"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("framed", [False, True])
def test_a_look_alike_index_in_a_message_does_not_hide_rows(
    tmp_path: Path, engine: str, framed: bool
) -> None:
    """Messages are stored as sent, and the smallest and largest of each row group land in the footer
    as statistics: a device sending an index look-alike must not make a query skip the file."""
    if engine == "duckdb":
        pytest.importorskip("duckdb")
    root = tmp_path / "a"
    t = random_rows(random.Random(6), DAY, 40, 0, 0)
    forged = _forged_index("10.0.0.3") if framed else IP_INDEX_BEGIN + IP_INDEX_END
    raw = t.column("raw").to_pylist()
    raw[7] = forged  # the smallest raw value of its row group: it is in the footer
    t = t.set_column(t.schema.get_field_index("raw"), "raw", pa.array(raw, pa.binary()))
    write_file(root, t, FileName(TOPIC, 0, 0, 39), DAY, row_group_rows=8)
    old = root / "connlog/dt=2024-05-01/hour=01"  # and a file written without an index
    old.mkdir(parents=True)
    t2 = random_rows(random.Random(8), DAY + timedelta(hours=1), 30, 40, 0)
    raw2 = t2.column("raw").to_pylist()
    raw2[3] = forged
    t2 = t2.set_column(t2.schema.get_field_index("raw"), "raw", pa.array(raw2, pa.binary()))
    pq.write_table(t2, old / f"{TOPIC}+0+40+69.parquet", row_group_size=8)
    new_file, old_file = files_in_range(root, DAY, DAY + timedelta(hours=2))
    assert (
        read_footer(new_file).count(IP_INDEX_BEGIN) == 2 and read_footer(old_file).count(IP_INDEX_BEGIN) == 1
    )
    assert index_mask_of(new_file, ["10.0.0.3"]) != 0
    assert index_mask_of(old_file, ["10.0.0.3"]) is None  # no index to trust: the file is read whole
    spec = QuerySpec(start=DAY, end=DAY + timedelta(hours=2), ip="10.0.0.3")
    both = pa.concat_tables([t, t2])
    got = query(root, spec, engine=engine)
    assert got.num_rows > 0 and got.equals(expected(both, spec, None))
    assert index_span(read_footer(new_file)) is not None


# ---------------------------------------------------------------- the command line


def test_cli_values_match_the_cell_by_cell_rendering(random_archive: tuple[Path, pa.Table]) -> None:
    """Column-at-a-time rendering (table, csv, json) equals rendering each cell in Python."""
    root, all_rows = random_archive
    table = all_rows.slice(0, 200)
    cli_text = answer.column_values(table, text=True)
    cli_json = answer.column_values(table, text=False)
    for i, row in enumerate(table.to_pylist()):
        for j, c in enumerate(table.column_names):
            assert cli_text[j][i] == answer.cell(row[c]), (c, row[c])
            v = row[c]
            assert cli_json[j][i] == (answer.cell(v) if isinstance(v, datetime | bytes) else v)
    assert archive_cli.DEFAULT_RETENTION_DAYS == DEFAULT_RETENTION_DAYS


def _json_reference(table: pa.Table) -> str:
    """The JSON lines as orjson writes each row's dict of Python values (times and bytes as the table shows them)."""
    import orjson

    def value(v: object) -> object:
        return answer.cell(v) if isinstance(v, datetime | bytes) else v

    return "".join(
        orjson.dumps({k: value(v) for k, v in row.items()}).decode() + "\n" for row in table.to_pylist()
    )


def test_cli_json_lines_equal_orjson_row_by_row(random_archive: tuple[Path, pa.Table]) -> None:
    """The column-at-a-time JSON equals orjson on each row's dict, on odd strings, nulls, times and chunks."""
    _, all_rows = random_archive
    sample = all_rows.slice(0, 300)
    assert answer.json_lines(sample, sample.column_names) == _json_reference(sample)
    odd = [
        'q"uote',
        "back\\slash",
        "ctl\x00\x01\x1f\x7f",
        "\u2028line\u2029",
        "é😀",
        "",
        None,
        "tab\tnew\nline",
    ]
    n = len(odd)
    ts = pa.timestamp("us", tz="UTC")
    times = [
        datetime(2024, 5, 1, 10, 11, 12, 123456, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        None,
        datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ]
    odd_table = pa.table(
        {
            "received_at": pa.chunked_array([pa.array(times[:3], ts), pa.array(times[3:], ts)]),
            "user": pa.chunked_array([pa.array(odd[:5]), pa.array(odd[5:])]),
            "raw": pa.array([b"\xff\xfe bad", b'{"a": 1}', None, b"", b"\x00", "é".encode(), b"\\", b"x"]),
            "src_port": pa.array([0, None, 65535, -1, 7, None, 1, 2], pa.int32()),
            "bytes": pa.array([2**62, None, 0, 1, -(2**40), 5, 6, 7], pa.int64()),
            "flag": pa.array([True, False, None, True, True, False, None, True]),
            "naive": pa.array(times, pa.timestamp("us")),
            "nothing": pa.nulls(n),
        }
    )
    assert answer.json_lines(odd_table, odd_table.column_names) == _json_reference(odd_table)
    lines = answer.json_lines(odd_table, odd_table.column_names).split("\n")  # not splitlines: U+2028
    assert lines[-1] == "" and [json.loads(x)["user"] for x in lines[:-1]] == odd
    before_1970 = pa.table(
        {"received_at": pa.array([datetime(1969, 12, 31, 23, 59, 59, 5, tzinfo=UTC), None], ts)}
    )
    assert answer.json_lines(before_1970, ["received_at"]) == _json_reference(before_1970)
    assert answer.json_lines(odd_table.slice(0, 0), odd_table.column_names) == ""


def test_cli_query_end_to_end_loads_no_kafka_client(tmp_path: Path) -> None:
    """`vigie archive query` from process start: the answer, and none of the heavy modules it does not need."""
    root = tmp_path / "a"
    t = random_rows(random.Random(9), DAY + timedelta(hours=23), 50, 0, 0)
    written = write_file(root, t, FileName(TOPIC, 0, 0, 49), DAY + timedelta(hours=23), row_group_rows=16)
    with Manifest(root) as m:
        m.append(file_entry(written))
    # pyarrow.compute: its Python wrappers take ~0.06 s to build (Table.cast and .take import it);
    # dateutil: what an untyped pa.scalar() makes pyarrow load for its type inference.
    heavy = ["confluent_kafka", "duckdb", "jsonschema", "pyarrow.dataset", "vigie.config", "vigie.kafka_client",
             "vigie.app.control_cli", "vigie.pipelines.archive.manifest", "pyarrow.compute", "dateutil"]  # fmt: skip
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['vigie'] + sys.argv[1:]\n"
        "try:\n    runpy.run_module('vigie.app.cli', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        f"print('LOADED', [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)\n"
    )
    args = ["archive", "query", "--root", str(root), "--from", "2024-05-01T23:30:00Z", "--to", "2024-05-02",
            "--ip", "81.2.3.4", "--port", "40002", "--format", "json", "--no-progress"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "VIGIE_ARCHIVE_ROOT"}
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr
    spec = QuerySpec(
        start=DAY + timedelta(hours=23, minutes=30), end=DAY + timedelta(days=1), ip="81.2.3.4", port=40002
    )
    want = expected(t, spec, None)
    got = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["offset"] for r in got] == want.column("offset").to_pylist() and got
    assert all(r["nat_ip"] == "81.2.3.4" and r["nat_port"] == 40002 for r in got)
    # The one-pass path (an address alone) with a limit and the table: the same modules stay out.
    args = ["archive", "query", "--root", str(root), "--from", "2024-05-01", "--to", "2024-05-02",
            "--ip", "10.0.0.3", "--limit", "2", "--no-progress"]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr and proc.stdout.splitlines()[-1] == "(2 rows)"


# ---------------------------------------------------------------- reading: memory, other tools' files


def test_decoded_footers_are_freed_without_the_garbage_collector(
    random_archive: tuple[Path, pa.Table],
) -> None:
    """No reference cycle keeps a file's decoded footer alive (pyarrow's metadata.schema makes one):
    else every footer read would stay in memory until a collection, at the latest at exit."""
    root, _ = random_archive
    spec = QuerySpec(start=DAY, end=DAY + timedelta(hours=6), ip="10.0.0.3")
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        assert query(root, spec, list(TABLE_COLUMNS)).num_rows > 0
        assert query(root, QuerySpec(start=DAY, end=DAY + timedelta(hours=6), port=53, limit=5)).num_rows == 5
        gc.collect()
        kept = {type(o).__name__ for o in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert not kept & {"FileMetaData", "ParquetSchema", "_File", "_FileHits"}, kept


def test_files_of_other_tools_without_some_text_columns(tmp_path: Path) -> None:
    """Text columns are read as dictionaries when the file has them all; a file written by another
    tool without some of them is read as it is (the columns asked for must be there)."""
    root = tmp_path / "a"
    t = random_rows(random.Random(12), DAY, 40, 0, 0)
    write_file(root, t, FileName(TOPIC, 0, 0, 39), DAY, row_group_rows=8)
    t2 = random_rows(random.Random(13), DAY + timedelta(hours=1), 30, 40, 0)
    other = root / "connlog/dt=2024-05-01/hour=01"
    other.mkdir(parents=True)
    pq.write_table(
        t2.drop_columns(["app_name", "sender"]), other / f"{TOPIC}+0+40+69.parquet", row_group_size=8
    )
    cols = ["received_at", "hostname", "src_ip", "dst_ip", "action"]
    for spec in (
        QuerySpec(start=DAY, end=DAY + timedelta(hours=2), ip="10.0.0.3"),
        QuerySpec(start=DAY, end=DAY + timedelta(hours=2), port=53, host="fw01"),
        QuerySpec(start=DAY, end=DAY + timedelta(hours=2), src_ip="10.0.0.1", limit=3),
    ):
        got = query(root, spec, cols)
        assert got.num_rows > 0 and got.equals(expected(pa.concat_tables([t, t2]), spec, cols)), spec
        assert got.schema == pa.schema([ARCHIVE_SCHEMA.field(c) for c in cols])  # text, not dictionaries


def test_only_the_command_freezes_the_garbage_collector(
    random_archive: tuple[Path, pa.Table], capsys
) -> None:
    """The command skips the interpreter's last collections (gc.freeze when done); a caller that goes on
    running (out given) keeps its collector as it was."""
    root, _ = random_archive
    args = argparse.Namespace(
        root=str(root), start="2024-05-01", end="2024-05-02", ip="10.0.0.3", src_ip=None, dst_ip=None,
        nat_ip=None, port=None, user=None, host=None, mac=None, limit=None, format="csv", engine="auto",
        no_progress=True,
    )  # fmt: skip
    frozen = gc.get_freeze_count()
    out = io.StringIO()
    assert archive_cli.query_main(args, out) == 0 and gc.get_freeze_count() == frozen
    try:
        assert archive_cli.query_main(args) == 0 and gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
    assert capsys.readouterr().out == out.getvalue()
