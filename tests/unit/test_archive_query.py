"""Archive query engines: the address index in file footers, row order, and equal answers from every path."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vigie.pipelines.archive.manifest import Manifest, file_entry, verify
from vigie.pipelines.archive.query import ORDER_COLUMNS, QuerySpec, index_mask_of, query
from vigie.pipelines.archive.writer import (
    IP_INDEX_COLUMNS,
    FileName,
    footer_index,
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
        span = footer_index(footer)
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
