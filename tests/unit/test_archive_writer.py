"""The writer's row order and footer address index, against straightforward reference implementations."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from vigie.pipelines.archive.writer import IP_INDEX_BEGIN, IP_INDEX_END, SORT_KEYS, ip_index, sort_rows


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
        r.choice([f"10.0.{r.randrange(256)}.{r.randrange(256)}", f"2001:db8::{r.randrange(65536):x}", "é.1", "0"])
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
    ("seed", "n", "group_rows"), [(0, 0, 10), (1, 1, 10), (2, 100, 10), (3, 1000, 7), (4, 3000, 40), (5, 700, 1)]
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
