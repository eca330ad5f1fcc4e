"""The writer's row order and footer address index, against straightforward reference implementations."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from vigie.pipelines.archive.writer import (
    BLOOM_COLUMNS,
    BLOOM_MIN_NDV,
    COMPRESSION_LEVEL,
    IP_INDEX_BEGIN,
    IP_INDEX_END,
    IP_INDEX_KEY,
    NO_DICTIONARY,
    SORT_KEYS,
    FileName,
    group_rows,
    ip_index,
    sort_rows,
    write_file,
)
from vigie.schemas.archive import ARCHIVE_SCHEMA, SCHEMA_VERSION


def reference_index(table: pa.Table, row_group_rows: int) -> str:
    """The index as the format describes it, one row at a time."""
    masks: dict[str, int] = {}
    for col in ("src_ip", "nat_ip", "dst_ip"):
        for i, v in enumerate(table.column(col).to_pylist()):
            if v is not None:
                masks[v] = masks.get(v, 0) | (1 << (i // row_group_rows))
    if any("\t" in v or "\n" in v for v in masks):
        return ""
    body = "".join(f"{v}\t{m:x}\n" for v, m in sorted(masks.items()))
    return IP_INDEX_BEGIN.decode() + body + IP_INDEX_END.decode()


def addresses(r: random.Random, n: int, distinct: int, nulls: float) -> list[str | None]:
    pool = [
        r.choice(
            [f"10.0.{r.randrange(256)}.{r.randrange(256)}", f"2001:db8::{r.randrange(65536):x}", "é.1", "0"]
        )
        for _ in range(distinct)
    ]
    return [None if r.random() < nulls else r.choice(pool) for _ in range(n)]


def table(seed: int, n: int, distinct: int = 50) -> pa.Table:
    r = random.Random(seed)
    offsets = list(range(1000, 1000 + n))
    r.shuffle(offsets)
    return pa.table(
        {
            "src_ip": pa.array(addresses(r, n, distinct, 0.3), pa.string()),
            "nat_ip": pa.array(addresses(r, n, distinct, 0.8), pa.string()),
            "dst_ip": pa.array(addresses(r, n, distinct * 3, 0.3), pa.string()),
            "offset": pa.array(offsets, pa.int64()),
        }
    )


@pytest.mark.parametrize(
    ("seed", "n", "group_rows"),
    [(0, 0, 10), (1, 1, 10), (2, 100, 10), (3, 1000, 7), (4, 3000, 40), (5, 700, 1)],
)
def test_ip_index_matches_the_reference(seed: int, n: int, group_rows: int) -> None:
    t = table(seed, n)
    assert ip_index(t, group_rows) == reference_index(t, group_rows)


def test_ip_index_refuses_values_that_are_not_line_safe() -> None:
    t = pa.table({c: pa.array(["1.2.3.4", "a\tb"], pa.string()) for c in ("src_ip", "nat_ip", "dst_ip")})
    assert ip_index(t, 1) == ""


@pytest.mark.parametrize(("seed", "n"), [(0, 0), (1, 1), (2, 2), (3, 500), (4, 5000)])
def test_sort_rows_is_the_sort_on_src_ip_then_offset(seed: int, n: int) -> None:
    t = table(seed, n, distinct=n // 3 + 1)
    want = t.take(pc.sort_indices(t, sort_keys=SORT_KEYS)) if n > 1 else t
    assert sort_rows(t).equals(want)


def test_ip_index_refuses_a_newline_too() -> None:
    t = pa.table({c: pa.array(["1.2.3.4", None], pa.string()) for c in ("src_ip", "nat_ip", "dst_ip")})
    t = t.set_column(2, "dst_ip", pa.array(["1.2.3.4", "5.6.7.8\n"], pa.string()))
    assert ip_index(t, 1) == ""


@pytest.mark.parametrize("n", [63, 64, 65, 130])
def test_ip_index_masks_up_to_and_past_64_groups(n: int) -> None:
    """One row per group: an address in every row sets every bit (the top one included), others one each."""
    t = pa.table(
        {
            "src_ip": pa.array(["10.0.0.1"] * n, pa.string()),
            "nat_ip": pa.array([None] * n, pa.string()),
            "dst_ip": pa.array([f"192.0.2.{i}" if i % 2 else "" for i in range(n)], pa.string()),
            "offset": pa.array(range(n), pa.int64()),
        }
    )
    got = ip_index(t, 1)
    assert got == reference_index(t, 1)
    assert f"10.0.0.1\t{(1 << n) - 1:x}\n" in got


def test_ip_index_of_columns_without_any_address() -> None:
    t = pa.table({c: pa.array([None, None], pa.string()) for c in ("src_ip", "nat_ip", "dst_ip")})
    assert ip_index(t, 1) == reference_index(t, 1) == IP_INDEX_BEGIN.decode() + IP_INDEX_END.decode()


def test_sort_rows_with_ascending_offsets_ties_and_chunks() -> None:
    """The sink's case: offsets ascend, many rows share an address, the table comes in chunks."""
    r = random.Random(9)
    n = 3000
    t = pa.table(
        {
            "src_ip": pa.array(addresses(r, n, 20, 0.2), pa.string()),
            "nat_ip": pa.array(addresses(r, n, 5, 0.9), pa.string()),
            "dst_ip": pa.array(addresses(r, n, 200, 0.1), pa.string()),
            "offset": pa.array(range(n), pa.int64()),
            "sender": pa.array([r.choice(["a", "b", None]) for _ in range(n)], pa.string()),
        }
    )
    chunked = pa.concat_tables([t.slice(lo, 700) for lo in range(0, n, 700)])
    want = t.take(pc.sort_indices(t, sort_keys=SORT_KEYS))
    assert sort_rows(chunked).equals(want)
    assert sort_rows(t).equals(want)


def test_sort_rows_without_inverse_permutation(monkeypatch: pytest.MonkeyPatch) -> None:
    """pyarrow < 20 has no inverse_permutation: the fallback ranks the same."""
    t = table(6, 800, distinct=300)
    want = sort_rows(t)
    monkeypatch.delattr(pc, "inverse_permutation", raising=False)
    assert sort_rows(t).equals(want)


def archive_rows(seed: int, n: int) -> pa.Table:
    """Rows of the archive schema with the address edge cases: nulls, empty strings, IPv6, non-ASCII."""
    r = random.Random(seed)
    offsets = list(range(100, 100 + n))
    if seed % 2:
        r.shuffle(offsets)
    cols: dict[str, pa.Array] = {}
    for f in ARCHIVE_SCHEMA:
        if f.name in ("src_ip", "nat_ip", "dst_ip"):
            cols[f.name] = pa.array(
                [v if r.random() > 0.05 else "" for v in addresses(r, n, n // 4 + 1, 0.3)], pa.string()
            )
        elif f.name == "offset":
            cols[f.name] = pa.array(offsets, pa.int64())
        elif f.name == "raw":
            cols[f.name] = pa.array([f"<13>line {i} {r.random()}".encode() for i in range(n)], pa.binary())
        elif f.name in ("received_at", "timestamp"):
            cols[f.name] = pa.array([r.randrange(10**15, 2 * 10**15) for _ in range(n)], pa.int64()).cast(
                f.type
            )
        elif pa.types.is_integer(f.type):
            cols[f.name] = pa.array([r.randrange(1000) for _ in range(n)], f.type)
        elif pa.types.is_boolean(f.type):
            cols[f.name] = pa.array([r.choice([True, False, None]) for _ in range(n)], f.type)
        else:
            cols[f.name] = pa.array([r.choice(["udp", "tcp", "x", None]) for _ in range(n)], f.type)
    cols["topic"] = pa.array(["t"] * n, pa.string())
    return pa.table(cols, schema=ARCHIVE_SCHEMA)


@pytest.mark.parametrize(
    ("seed", "n", "cap"), [(1, 0, 100), (2, 1, 100), (3, 2500, 100), (4, 5000, 100_000), (5, 300, 3)]
)
def test_write_file_holds_the_sorted_rows_their_groups_and_their_index(
    tmp_path: Path, seed: int, n: int, cap: int
) -> None:
    t = archive_rows(seed, n)
    chunked = pa.concat_tables([t.slice(lo, 999) for lo in range(0, n, 999)]) if n else t
    written = write_file(
        tmp_path,
        chunked,
        FileName("t", 0, 100, 100 + max(n - 1, 0)),
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        row_group_rows=cap,
    )
    path = tmp_path / written.path
    want = t.take(pc.sort_indices(t, sort_keys=SORT_KEYS)) if n > 1 else t
    got = pq.read_table(path)
    assert got.select(ARCHIVE_SCHEMA.names).cast(ARCHIVE_SCHEMA).equals(want)
    meta = pq.read_metadata(path)
    rg = group_rows(n, cap)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        min(rg, n - lo) for lo in range(0, n, rg)
    ] or (n == 0 and meta.num_row_groups <= 1)
    assert meta.metadata[IP_INDEX_KEY.encode()].decode() == reference_index(want, rg)
    for i in range(meta.num_row_groups if n else 0):
        for j in range(meta.num_columns):
            col = meta.row_group(i).column(j)
            assert col.compression == "ZSTD"
            assert col.is_stats_set
            assert col.has_dictionary_page == (col.path_in_schema not in NO_DICTIONARY), col.path_in_schema


def hard_addresses(r: random.Random, n: int, nulls: float) -> list[str | None]:
    """Addresses that stress the bytewise order: long IPv6 sharing their first 16 bytes, NULs, non-ASCII."""
    pool = [
        "",
        "0",
        "10.0.0.9",
        "10.0.0.10",
        "10.0.0.1",
        "10.0.0.1\0",
        "a\0b",
        "é.1",
        "ÿ",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7335",
        "2001:0db8:85a3:0",
        "2001:0db8:85a3:00",
        "2001:0db8:85a3:0\0",
        *(f"2001:db8::{r.randrange(65536):x}" for _ in range(40)),
        *(f"10.{r.randrange(4)}.{r.randrange(256)}.{r.randrange(256)}" for _ in range(200)),
    ]
    return [None if r.random() < nulls else r.choice(pool) for _ in range(n)]


def old_write(path: Path, t: pa.Table, rg: int, level: int) -> None:
    """The file as the writer made it before its speed-ups: the plain sort, the reference index, pyarrow's writer."""
    want = t.take(pc.sort_indices(t, sort_keys=SORT_KEYS)) if t.num_rows > 1 else t
    want = want.replace_schema_metadata(
        {
            **(ARCHIVE_SCHEMA.metadata or {}),
            b"vigie.schema": SCHEMA_VERSION.encode(),
            b"vigie.topic": b"t",
            b"vigie.partition": b"0",
            b"vigie.first_offset": b"100",
            b"vigie.last_offset": str(100 + max(t.num_rows - 1, 0)).encode(),
        }
    )
    n = t.num_rows
    with pq.ParquetWriter(
        path,
        want.schema,
        compression="zstd",
        compression_level=level,
        use_dictionary=[c for c in want.column_names if c not in NO_DICTIONARY],
        write_statistics=True,
        write_page_index=True,
        bloom_filter_options={
            c: {"ndv": max(BLOOM_MIN_NDV, int(min(rg, n) * share)), "fpp": 0.01}
            for c, share in BLOOM_COLUMNS.items()
        },
    ) as w:
        for start in range(0, max(n, 1), rg):
            w.write_table(want.slice(start, rg), row_group_size=rg)
        w.add_key_value_metadata({IP_INDEX_KEY: reference_index(want, rg)})


@pytest.mark.parametrize(
    ("seed", "n", "cap"), [(11, 0, 100), (12, 1, 100), (13, 4000, 300), (14, 6000, 100_000)]
)
def test_write_file_makes_the_file_the_plain_algorithm_makes(
    tmp_path: Path, seed: int, n: int, cap: int
) -> None:
    """Rows in order, row groups, index, key-value metadata, schema and per-group statistics are those of
    the straightforward writer, on a table in chunks with nulls, IPv6, repeated and missing addresses."""
    r = random.Random(seed)
    t = archive_rows(seed, n)
    for name, nulls in (("src_ip", 0.2), ("nat_ip", 0.7), ("dst_ip", 0.1)):
        t = t.set_column(
            t.schema.get_field_index(name), name, pa.array(hard_addresses(r, n, nulls), pa.string())
        )
    if n > 10:  # addresses seen only on the destination side, and a run of rows without a source
        t = t.set_column(
            t.schema.get_field_index("dst_ip"),
            "dst_ip",
            pa.concat_arrays(
                [t.column("dst_ip").combine_chunks().slice(0, n - 5), pa.array(["192.0.2.1"] * 5)]
            ),
        )
        t = t.set_column(
            t.schema.get_field_index("src_ip"),
            "src_ip",
            pa.concat_arrays([pa.nulls(7, pa.string()), t.column("src_ip").combine_chunks().slice(7)]),
        )
    chunked = pa.concat_tables([t.slice(lo, 1234) for lo in range(0, n, 1234)]) if n else t
    assert n < 1234 or chunked.column("raw").num_chunks > 1
    written = write_file(
        tmp_path / "new",
        chunked,
        FileName("t", 0, 100, 100 + max(n - 1, 0)),
        datetime(2024, 5, 1, 10, tzinfo=UTC),
        row_group_rows=cap,
    )
    new_path = tmp_path / "new" / written.path
    old_path = tmp_path / "old.parquet"
    old_write(old_path, t, group_rows(n, cap), COMPRESSION_LEVEL)
    new, old = pq.ParquetFile(new_path), pq.ParquetFile(old_path)
    assert new.schema_arrow.equals(old.schema_arrow, check_metadata=True)
    assert new.metadata.metadata == old.metadata.metadata  # the index, vigie.*, ARROW:schema
    assert new.read().equals(old.read())
    assert new.metadata.num_row_groups == old.metadata.num_row_groups
    for i in range(new.metadata.num_row_groups):
        a, b = new.metadata.row_group(i), old.metadata.row_group(i)
        assert a.num_rows == b.num_rows
        for j in range(a.num_columns):
            ca, cb = a.column(j), b.column(j)
            assert (ca.statistics is None) == (cb.statistics is None)
            if ca.statistics is not None:
                assert ca.statistics.to_dict() == cb.statistics.to_dict(), ca.path_in_schema
            assert ca.encodings == cb.encodings, ca.path_in_schema
            assert ca.has_dictionary_page == cb.has_dictionary_page
            assert (ca.has_column_index, ca.has_offset_index) == (cb.has_column_index, cb.has_offset_index)
            assert (ca.bloom_filter_offset is None) == (cb.bloom_filter_offset is None), ca.path_in_schema
    assert written.size == new_path.stat().st_size
    if n:
        assert (
            new.metadata.row_group(0).column(ARCHIVE_SCHEMA.get_field_index("dst_ip")).bloom_filter_offset
        ) is not None


def test_bytewise_rank_without_the_integer_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the 16-byte integer keys are unavailable (big-endian host), the plain string sort ranks the same."""
    r = random.Random(15)
    n = 2000
    t = pa.table(
        {
            "src_ip": pa.array(hard_addresses(r, n, 0.2), pa.string()),
            "nat_ip": pa.array(hard_addresses(r, n, 0.8), pa.string()),
            "dst_ip": pa.array(hard_addresses(r, n, 0.1), pa.string()),
            "offset": pa.array(range(n), pa.int64()),
        }
    )
    rows, index = sort_rows(t), ip_index(t, 100)
    assert index == reference_index(t, 100)
    monkeypatch.setattr(sys, "byteorder", "big")
    assert sort_rows(t).equals(rows)
    assert ip_index(t, 100) == index
