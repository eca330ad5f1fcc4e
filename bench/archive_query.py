"""Bench: time to answer "every row of one IP" over 30 days of synthetic archive (10 million rows), pyarrow and DuckDB.

Usage: python bench/archive_query.py [--rows 10000000] [--days 30] [--root DIR (kept)]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from vigie.pipelines.archive.query import TABLE_COLUMNS, QuerySpec, has_duckdb, query
from vigie.pipelines.archive.writer import FileName, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA

TARGET = "10.1.2.3"  # planted in 1 row of 5000 addresses of the pool


def pool_table(n: int, seed: int) -> pa.Table:
    """One hour's worth of varied rows; later hours are shuffles of it with new times and offsets."""
    r = random.Random(seed)
    inside = [f"10.{r.randrange(4)}.{r.randrange(256)}.{r.randrange(1, 255)}" for _ in range(5000)]
    src = [r.choice(inside) for _ in range(n)]
    src[n // 2] = TARGET  # the address looked for: once an hour, a rare address as in a real search
    dst = [
        f"{r.randrange(1, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}" for _ in range(n)
    ]
    sport = [r.randrange(1024, 65535) for _ in range(n)]
    dport = [r.choice((53, 80, 443, 8080)) for _ in range(n)]
    nat = [f"81.2.3.{r.randrange(1, 17)}" for _ in range(n)]
    nport = [r.randrange(1024, 65535) for _ in range(n)]
    raw = [
        f"<166>May 01 2024 10:11:12 asa01 : %ASA-6-302013: Built outbound TCP connection {i} for outside:{d}/{dp} "
        f"({d}/{dp}) to inside:{s}/{sp} ({na}/{npt})".encode()
        for i, (s, d, sp, dp, na, npt) in enumerate(zip(src, dst, sport, dport, nat, nport, strict=True))
    ]
    cols = {name: pa.nulls(n, ARCHIVE_SCHEMA.field(name).type) for name in ARCHIVE_SCHEMA.names}
    cols.update(
        sender=pa.array(["10.9.0.1"] * n),
        transport=pa.array(["udp"] * n),
        raw=pa.array(raw, pa.binary()),
        hostname=pa.array(["asa01"] * n),
        app_name=pa.array(["ASA"] * n),
        topic=pa.array(["vigie.raw.syslog"] * n),
        partition=pa.array([0] * n, pa.int32()),
        conn_format=pa.array(["cisco_asa"] * n),
        src_ip=pa.array(src),
        src_port=pa.array(sport, pa.int32()),
        dst_ip=pa.array(dst),
        dst_port=pa.array(dport, pa.int32()),
        protocol=pa.array(["tcp"] * n),
        nat_ip=pa.array(nat),
        nat_port=pa.array(nport, pa.int32()),
        action=pa.array(["build"] * n),
    )
    return pa.table([cols[name] for name in ARCHIVE_SCHEMA.names], schema=ARCHIVE_SCHEMA)


def generate(root: Path, rows: int, days: int, start: datetime) -> int:
    hours = days * 24
    per_hour = rows // hours
    pool = pool_table(per_hour, 1)
    r = random.Random(2)
    offset = 0
    ts_type = ARCHIVE_SCHEMA.field("received_at").type
    step_us = 3_600_000_000 // per_hour
    for h in range(hours):
        hour = start + timedelta(hours=h)
        perm = list(range(per_hour))
        r.shuffle(perm)
        t = pool.take(pa.array(perm))
        base = int(hour.timestamp() * 1_000_000)
        us = pc.add(pc.multiply(pa.array(range(per_hour), pa.int64()), step_us), base)
        t = t.set_column(0, "received_at", us.cast(ts_type))
        t = t.set_column(
            t.schema.get_field_index("offset"),
            "offset",
            pa.array(range(offset, offset + per_hour), pa.int64()),
        )
        write_file(
            root, t.cast(ARCHIVE_SCHEMA), FileName("vigie.raw.syslog", 0, offset, offset + per_hour - 1), hour
        )
        offset += per_hour
    return offset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--root", help="keep the generated archive here (reused when it exists)")
    args = ap.parse_args()
    start = datetime(2024, 4, 1, tzinfo=UTC)
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="vigie-qbench-"))
    try:
        if not (root / "connlog").exists():
            t0 = time.perf_counter()
            n = generate(root, args.rows, args.days, start)
            print(f"generated {n:,} rows in {time.perf_counter() - t0:.1f} s under {root}")
        spec = QuerySpec(start=start, end=start + timedelta(days=args.days), ip=TARGET)
        engines = ["pyarrow"] + (["duckdb"] if has_duckdb() else [])
        best = {}
        for engine in engines:
            for label, cols in (
                ("table columns (no raw)", list(TABLE_COLUMNS)),
                ("all columns with raw", None),
            ):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    table = query(root, spec, cols, engine=engine)
                    times.append(time.perf_counter() - t0)
                best[(engine, label)] = min(times)
                print(
                    f"{engine:8s} one IP over {args.days} days, {label:24s}: {table.num_rows} rows in {min(times):.3f} s (best of 3)"
                )
        hour = start + timedelta(days=10, hours=3)
        t0 = time.perf_counter()
        t2 = query(root, QuerySpec(start=hour, end=hour + timedelta(hours=1), ip="81.2.3.5", port=40000))
        print(
            f"auto     NAT address+port within one hour: {t2.num_rows} rows in {time.perf_counter() - t0:.3f} s"
        )
        fastest = min(best.values())
        print(f"target <= 1 s: {'yes' if fastest <= 1.0 else 'no'} (fastest {fastest:.3f} s)")
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
