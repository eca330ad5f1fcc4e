"""Bench: CPU µs per row of writer.write_file (sort, footer address index, Parquet encoding, fsync), no Kafka.

Usage: python bench/archive_write.py [--rows 500000] [--reps 7] [--batch 20000] [--against OLD_WRITER.py] [--phases]

Rows are built like archive_sink.direct_write (sample_lines -> enrich -> table), in the sink's consume
batches (--batch; 0: one chunk). --against takes another copy of writer.py (e.g. `git show
HEAD:pipelines/archive/writer.py > /tmp/writer_old.py`) and runs both alternately on the same rows, so
a shared, busy machine slows both alike; the minimum over the runs is the figure to compare (CPU time is
time.process_time of this process, wall is perf_counter), the median shows the spread, and the median of
the per-rep ratios (each rep runs both, in alternating order) is the steadiest figure on a loaded machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.compute as pc
from _common import machine
from archive_sink import sample_lines

from vigie.pipelines.archive import writer
from vigie.pipelines.archive.vectorized import enrich
from vigie.schemas.archive import ARCHIVE_SCHEMA


def rows(n: int, batch: int, seed: int = 1) -> pa.Table:
    """The sink's table for n sample messages: enriched in consume batches, one chunk per batch."""
    lines = sample_lines(n, seed)
    now = datetime.now(UTC)
    step = batch or max(n, 1)
    tables = []
    for lo in range(0, n, step):
        part = lines[lo : lo + step]
        m = len(part)
        base = {
            "received_at": pa.array([now] * m, ARCHIVE_SCHEMA.field("received_at").type),
            "sender": pa.array(["10.9.0.1"] * m),
            "transport": pa.array(["udp"] * m),
            "raw": pa.array(part, pa.binary()),
            "topic": pa.array(["t"] * m),
            "partition": pa.array([0] * m, pa.int32()),
            "offset": pa.array(range(lo, lo + m), pa.int64()),
        }
        cols = enrich(part, now)
        tables.append(pa.table({**base, **cols}).select(ARCHIVE_SCHEMA.names).cast(ARCHIVE_SCHEMA))
    return pa.concat_tables(tables)


def load_writer(path: str) -> ModuleType:
    """Another copy of writer.py, imported under its own name so both versions run in one process."""
    spec = importlib.util.spec_from_file_location("writer_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_once(w: ModuleType, table: pa.Table, root: Path) -> tuple[float, float, int]:
    """(CPU s, wall s, bytes) of one write_file of the whole table, into a fresh directory."""
    shutil.rmtree(root, ignore_errors=True)
    hour = datetime(2024, 5, 1, 10, tzinfo=UTC)
    name = w.FileName("t", 0, 0, max(table.num_rows - 1, 0))
    c0, t0 = time.process_time(), time.perf_counter()
    written = w.write_file(root, table, name, hour)
    return time.process_time() - c0, time.perf_counter() - t0, written.size


def phases(table: pa.Table) -> None:
    """CPU µs/row of write_file's steps in the current writer (best of 3), and of its encoding options."""
    import pyarrow.parquet as pq

    n = table.num_rows
    rg = writer.group_rows(n, writer.ROW_GROUP_ROWS)

    def best(label: str, f):  # noqa: ANN001, ANN202 - a bench helper
        cpu, out = float("inf"), None
        for _ in range(3):
            c0 = time.process_time()
            out = f()
            cpu = min(cpu, time.process_time() - c0)
        print(f"  {label:44s} {cpu / n * 1e6:6.2f} µs/row")
        return out

    addresses = best("addresses (dictionary, bytewise rank)", lambda: writer._Addresses.of(table))
    order = best("row order", lambda: writer._row_order(table, addresses))
    ordered = best("take (rows in order)", lambda: table.take(order))
    best("index (footer text)", lambda: addresses.index(order, rg))
    best(
        "table.take (sort order, reference)",
        lambda: table.take(pc.sort_indices(table, sort_keys=writer.SORT_KEYS)),
    )

    def encode(**changes: object) -> int:
        options: dict[str, object] = {
            "compression": "zstd",
            "compression_level": writer.COMPRESSION_LEVEL,
            "use_dictionary": [c for c in ordered.column_names if c not in writer.NO_DICTIONARY],
            "write_statistics": True,
            "write_page_index": True,
            "bloom_filter_options": {
                col: {"ndv": max(writer.BLOOM_MIN_NDV, int(min(rg, n) * share)), "fpp": 0.01}
                for col, share in writer.BLOOM_COLUMNS.items()
            },
        }
        options.update(changes)
        sink = pa.BufferOutputStream()
        with pq.ParquetWriter(sink, ordered.schema, **options) as w:
            for start in range(0, n, rg):
                w.write_table(ordered.slice(start, rg), row_group_size=rg)
        return sink.getvalue().size

    # What each encoding setting costs (the writer keeps them all; sizes exclude the footer index).
    for label, changes in {
        "encode (as write_file)": {},
        "encode, zstd level 3": {"compression_level": 3},
        "encode without bloom filters": {"bloom_filter_options": None},
        "encode without page index": {"write_page_index": False},
        "encode without statistics": {"write_statistics": False},
        "encode without dictionaries": {"use_dictionary": False},
        "encode uncompressed": {"compression": "none", "compression_level": None},
    }.items():
        size = best(label, lambda changes=changes: encode(**changes))
        print(f"  {'':44s} {size / n:6.1f} B/row")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument(
        "--batch",
        type=int,
        default=20_000,
        help="rows per chunk, as the sink's consume batches (0: one chunk)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--against", default="", help="another writer.py to run alternately on the same rows")
    ap.add_argument(
        "--phases",
        action="store_true",
        help="also time the steps of write_file and its encoding options alone",
    )
    args = ap.parse_args()
    table = rows(args.rows, args.batch, args.seed)
    print(
        f"{machine()}; {table.num_rows:,} rows in {table.column(0).num_chunks} chunks, {table.nbytes / table.num_rows:.0f} B/row in memory"
    )
    writers = {"current": writer}
    if args.against:
        writers["against"] = load_writer(args.against)
    work = Path(tempfile.mkdtemp(prefix="vigie-bench-write-"))
    runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in writers}
    try:
        for rep in range(args.reps):
            # Each rep in the other order too: the one that runs second finds the memory the first freed.
            for label, w in list(writers.items())[:: 1 if rep % 2 == 0 else -1]:
                runs[label].append(write_once(w, table, work / label))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = table.num_rows
    for label, rs in runs.items():
        cpu = [r[0] / n * 1e6 for r in rs]
        wall = [r[1] / n * 1e6 for r in rs]
        print(
            f"{label:8s} write_file CPU {min(cpu):5.2f} µs/row (median {statistics.median(cpu):5.2f}), "
            f"wall {min(wall):5.2f} µs/row (median {statistics.median(wall):5.2f}), "
            f"{rs[0][2] / 1e6:.2f} MB ({rs[0][2] / n:.1f} B/row)"
        )
    if "against" in runs:
        # Paired: the two writers of one rep ran back to back, under the same load from other processes.
        ratios = [c[0] / a[0] for c, a in zip(runs["current"], runs["against"], strict=True)]
        print(
            f"current/against CPU per rep: median {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
        )
    if args.phases:
        phases(table)


if __name__ == "__main__":
    main()
