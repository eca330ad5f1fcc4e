"""Bench: time to answer "every row of one IP" over 30 days of synthetic archive (10 million rows).

Each question is timed in process (the query function) and end to end (`vigie archive query` as a new
process, start to exit: what an auditor waits for), median of --runs, with CPU time, against references
measured in the same run: DuckDB alone over the same hive-partitioned files (without Vigie's footer
index; --pyarrow-scan adds a pyarrow.dataset scan). Every answer is checked equal to the references'.

The synthetic archive is shaped like a municipal network: 1,500 staff devices (10.10-15.x.x, active on
weekday office hours, some always on, activity log-normal), a public Wi-Fi pool of 1,000 addresses
(172.20.x.x, a different crowd every hour), PAT behind a few public addresses, destinations drawn
from a Zipf law over 20,000 addresses, a day/night and weekday/weekend volume curve, and 3 % of
messages that are not connection logs. A typical staff device then has a few thousand rows over
30 days, a Wi-Fi address hundreds to a few thousand, and the busiest device over a hundred thousand
(timed too, as a stress case outside the target).

Usage: python bench/archive_query.py [--rows 10000000] [--days 30] [--root DIR (kept)] [--runs 7]
       [--ref-runs 3] [--no-reference] [--pyarrow-scan] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from _common import missing_modules, preflight

from vigie.pipelines.archive.audit import AUDIT_LOG
from vigie.pipelines.archive.manifest import Manifest, file_entry
from vigie.pipelines.archive.query import ORDER_COLUMNS, TABLE_COLUMNS, QuerySpec, has_duckdb, query
from vigie.pipelines.archive.writer import FileName, hour_dir, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA

TOPIC = "vigie.raw.syslog"
# Relative volume per hour of the day (UTC here; the shape is what matters).
HOURLY = [0.2, 0.15, 0.12, 0.1, 0.1, 0.15, 0.4, 1.0, 2.2, 2.6, 2.7, 2.5,
          2.0, 2.4, 2.6, 2.5, 2.2, 1.5, 1.0, 0.8, 0.7, 0.6, 0.5, 0.3]  # fmt: skip
WEEKEND = 0.3
PORTS = (443,) * 14 + (80, 80, 53, 53, 123, 993, 8080, 22)


@dataclass
class Population:
    """Who talks on the network: staff devices with their activity, the Wi-Fi pool, the destinations."""

    staff: list[str]
    weights: list[float]
    always_on: list[bool]
    wifi: list[str]
    dests: list[str]
    dest_cum: list[float]

    def typical(self) -> str:
        """A staff device of median activity that is not always on."""
        office = sorted(
            (w, ip) for ip, w, on in zip(self.staff, self.weights, self.always_on, strict=True) if not on
        )
        return office[len(office) // 2][1]

    def heavy(self) -> str:
        """The busiest staff device."""
        return max(zip(self.weights, self.staff, strict=True))[1]


def population(seed: int = 1) -> Population:
    r = random.Random(seed)
    staff = [f"10.{10 + i // 250}.{(i % 250) // 10}.{(i % 10) * 20 + 11}" for i in range(1500)]
    weights = [r.lognormvariate(0, 0.8) for _ in staff]
    always_on = [r.random() < 0.15 for _ in staff]
    wifi = [f"172.20.{i // 250}.{i % 250 + 2}" for i in range(1000)]
    dests = [
        f"{r.randrange(1, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        for _ in range(20000)
    ]
    cum, acc = [], 0.0
    for k in range(len(dests)):
        acc += 1.0 / (k + 1) ** 1.1
        cum.append(acc)
    return Population(staff, weights, always_on, wifi, dests, cum)


def hour_table(pop: Population, hour: datetime, n: int, first_offset: int, r: random.Random) -> pa.Table:
    """One hour of firewall logs: ASA build (with NAT) and teardown messages, a few system messages."""
    office = hour.weekday() < 5 and 7 <= hour.hour < 19
    wifi_share = 0.25 if office else 0.45
    active = [i for i, on in enumerate(pop.always_on) if office or on]
    staff_w = [pop.weights[i] for i in active]
    wifi_now = r.sample(pop.wifi, r.randrange(50, 400))
    base = int(hour.timestamp() * 1_000_000)
    times = sorted(int(r.random() * 3_600_000_000) for _ in range(n))
    n_wifi = int(n * wifi_share)
    srcs = [pop.staff[i] for i in r.choices(active, staff_w, k=n - n_wifi)] + r.choices(wifi_now, k=n_wifi)
    r.shuffle(srcs)
    dsts = r.choices(pop.dests, cum_weights=pop.dest_cum, k=n)
    cols: dict[str, list] = {c: [] for c in ("raw", "conn_format", "src_ip", "src_port", "dst_ip", "dst_port",
                                               "protocol", "nat_ip", "nat_port", "action")}  # fmt: skip
    stamp = f"{hour:%b %d %Y %H}"
    rnd = r.random
    for i in range(n):
        us = times[i]
        clock = f"{stamp}:{us // 60_000_000:02d}:{us // 1_000_000 % 60:02d}"
        s, d = srcs[i], dsts[i]
        sp, dp = 1024 + int(rnd() * 64511), PORTS[int(rnd() * len(PORTS))]
        proto = "udp" if dp in (53, 123) else "tcp"
        conn = first_offset + i
        roll = rnd()
        if roll < 0.03:
            raw = f"<165>{clock} asa01 : %ASA-5-111008: User 'enable_15' executed the 'show conn' command."
            vals = (None,) * 9
        elif roll < 0.6:
            na = f"81.2.3.{(1 + int(rnd() * 4)) if s[1] == '0' else (10 + int(rnd() * 2))}"
            npt = 1024 + int(rnd() * 64511)
            raw = (f"<166>{clock} asa01 : %ASA-6-302013: Built outbound {proto.upper()} connection {conn} for "
                   f"outside:{d}/{dp} ({d}/{dp}) to inside:{s}/{sp} ({na}/{npt})")  # fmt: skip
            vals = ("cisco_asa", s, sp, d, dp, proto, na, npt, "build")
        else:
            raw = (f"<166>{clock} asa01 : %ASA-6-302014: Teardown {proto.upper()} connection {conn} for "
                   f"outside:{d}/{dp} to inside:{s}/{sp} duration 0:00:{int(rnd() * 60):02d} "
                   f"bytes {100 + int(rnd() * 999_900)} TCP FINs")  # fmt: skip
            vals = ("cisco_asa", s, sp, d, dp, proto, None, None, "teardown")
        cols["raw"].append(raw.encode())
        for k, v in zip(list(cols)[1:], vals, strict=True):
            cols[k].append(v)
    data = {name: pa.nulls(n, ARCHIVE_SCHEMA.field(name).type) for name in ARCHIVE_SCHEMA.names}
    data.update({k: pa.array(v, ARCHIVE_SCHEMA.field(k).type) for k, v in cols.items()})
    data.update(
        received_at=pa.array([base + t for t in times], pa.int64()).cast(
            ARCHIVE_SCHEMA.field("received_at").type
        ),
        sender=pa.array(["10.9.0.1"] * n),
        transport=pa.array(["udp"] * n),
        hostname=pa.array(["asa01"] * n),
        app_name=pa.array([None] * n, pa.string()),
        topic=pa.array([TOPIC] * n),
        partition=pa.array([0] * n, pa.int32()),
        offset=pa.array(range(first_offset, first_offset + n), pa.int64()),
    )
    return pa.table([data[name] for name in ARCHIVE_SCHEMA.names], schema=ARCHIVE_SCHEMA)


def generate(root: Path, rows: int, days: int, start: datetime, pop: Population) -> int:
    """Write days x 24 hourly files (one Kafka partition) holding about `rows` rows in all."""
    hours = [start + timedelta(hours=h) for h in range(days * 24)]
    shape = [HOURLY[h.hour] * (1.0 if h.weekday() < 5 else WEEKEND) for h in hours]
    total = sum(shape)
    r = random.Random(2)
    offset = 0
    with Manifest(root) as manifest:  # `vigie archive query` reads only the files the manifest records
        for hour, s in zip(hours, shape, strict=True):
            n = max(1, round(rows * s / total))
            t = hour_table(pop, hour, n, offset, r)
            manifest.append(file_entry(write_file(root, t, FileName(TOPIC, 0, offset, offset + n - 1), hour)))
            offset += n
    return offset


def nat_sample(root: Path, hour: datetime) -> tuple[str, int, datetime]:
    """A NAT address, port and time really in the archive: the website's side of the question."""
    path = sorted((root / hour_dir(hour)).glob("*.parquet"))[0]
    t = pq.read_table(path, columns=["received_at", "nat_ip", "nat_port"]).filter(
        pa.compute.is_valid(pa.compute.field("nat_ip"))
    )
    row = t.slice(t.num_rows // 2, 1).to_pylist()[0]
    return row["nat_ip"], row["nat_port"], row["received_at"]


@dataclass
class Timing:
    """Medians (and minimum) of repeated runs: wall seconds and CPU seconds (all threads or the child process)."""

    rows: int
    wall: float
    wall_min: float
    cpu: float

    @classmethod
    def of(cls, runs: list[tuple[float, float, int]]) -> Timing:
        rows = {n for _, _, n in runs}
        assert len(rows) == 1, f"runs disagree on the row count: {rows}"
        return cls(
            rows.pop(),
            statistics.median(w for w, _, _ in runs),
            min(w for w, _, _ in runs),
            statistics.median(c for _, c, _ in runs),
        )

    def __str__(self) -> str:
        return f"{self.wall:6.3f} s (min {self.wall_min:.3f}, cpu {self.cpu:.3f})"


def in_process(fn: Callable[[], pa.Table], runs: int) -> tuple[Timing, pa.Table]:
    """fn timed in this process: wall clock and process CPU time (every thread's)."""
    out = []
    table = None
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        table = fn()
        out.append((time.perf_counter() - t0, time.process_time() - c0, table.num_rows))
    assert table is not None
    return Timing.of(out), table


def vigie_command() -> list[str]:
    """The console script an auditor runs (python -m vigie.app.cli when it is not installed next to python)."""
    script = Path(sys.executable).with_name("vigie")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vigie.app.cli"]


def end_to_end(root: Path, spec: QuerySpec, fmt: str, runs: int) -> Timing:
    """`vigie archive query` as a new process, start to exit (output read from a pipe): what an auditor waits."""
    args = [*vigie_command(), "archive", "query", "--root", str(root), "--no-progress", "--format", fmt,
            "--from", spec.start.isoformat(), "--to", spec.end.isoformat()]  # fmt: skip
    for flag, value in (("--ip", spec.ip), ("--port", spec.port), ("--src-ip", spec.src_ip)):
        if value is not None:
            args += [flag, str(value)]
    # As installed (pip compiles the bytecode): the command may cache its modules' bytecode even where this
    # shell sets PYTHONDONTWRITEBYTECODE; one unmeasured run writes it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(args, capture_output=True, cwd=tempfile.gettempdir(), check=True, env=env)
    audit = root / AUDIT_LOG
    audited = len(audit.read_bytes().splitlines())
    out = []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, cwd=tempfile.gettempdir(), check=True, env=env)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
        lines = proc.stdout.decode().splitlines()
        rows = int(lines[-1].strip("()").split()[0]) if fmt == "table" else len(lines) - (fmt == "csv")
        out.append((wall, cpu, rows))
    # Each run appended (and fsynced) its audit record before answering: the time above includes it.
    assert len(audit.read_bytes().splitlines()) == audited + runs, "every run wrote its audit record"
    return Timing.of(out)


def bytecode_note() -> str | None:
    """A warning when the command must compile Vigie's own modules at every start (no cached bytecode:
    PYTHONDONTWRITEBYTECODE, as in some development shells, or a read-only tree), which an installed
    package does not: ~0.04 s of every end-to-end figure."""
    import importlib.util

    import vigie.pipelines.archive.query as q

    if os.path.exists(importlib.util.cache_from_source(q.__file__)):
        return None
    why = "PYTHONDONTWRITEBYTECODE is set" if sys.dont_write_bytecode else "no __pycache__ next to the sources"
    return (f"note: no cached bytecode for Vigie's modules here ({why}); the end-to-end runs drop "
            "PYTHONDONTWRITEBYTECODE so that the command caches it, as an installed package has it")


def duckdb_hive(root: Path, spec: QuerySpec, cols: list[str]) -> pa.Table:
    """The reference: DuckDB alone over the same files, hive partitions pruned by dt, no Vigie index."""
    import duckdb

    ip = spec.ip
    sel = ", ".join(f'"{c}"' for c in cols)
    days = [(spec.start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range((spec.end - spec.start).days + 2)]
    sides = f"(src_ip = '{ip}' OR nat_ip = '{ip}' OR dst_ip = '{ip}')" if spec.port is None else (
        f"((src_ip = '{ip}' AND src_port = {spec.port}) OR (nat_ip = '{ip}' AND nat_port = {spec.port}) "
        f"OR (dst_ip = '{ip}' AND dst_port = {spec.port}))"
    )  # fmt: skip
    sql = (
        f"SELECT {sel} FROM read_parquet('{root}/connlog/*/*/*.parquet', hive_partitioning = true) "
        f"WHERE dt IN ({', '.join(repr(d) for d in days)}) AND received_at >= ? AND received_at < ? AND {sides} "
        'ORDER BY received_at, topic, "partition", "offset"'
    )
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rel = con.sql(sql, params=[spec.start, spec.end])
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()
    finally:
        con.close()


def pyarrow_scan(root: Path, spec: QuerySpec, cols: list[str]) -> pa.Table:
    """The other reference: a pyarrow.dataset scan over the hive-partitioned files (statistics, no index)."""
    import pyarrow.dataset as ds

    from vigie.pipelines.archive.query import build_filter

    d = ds.dataset(root / "connlog", format="parquet", partitioning="hive")
    t = d.to_table(columns=cols + [c for c in ORDER_COLUMNS if c not in cols], filter=build_filter(spec))
    return t.sort_by([(c, "ascending") for c in ORDER_COLUMNS]).select(cols)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--root", help="keep the generated archive here (reused when it exists)")
    ap.add_argument("--runs", type=int, default=7, help="runs per measurement (medians are reported)")
    ap.add_argument("--ref-runs", type=int, default=3, help="runs of the reference scans (slower)")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference scans")
    ap.add_argument("--pyarrow-scan", action="store_true", help="also a pyarrow.dataset scan as a reference (slow)")
    ap.add_argument("--quick", action="store_true", help="2 runs each, no busiest device: check the bench works")
    args = ap.parse_args()
    runs, ref_runs = (2, 1) if args.quick else (args.runs, args.ref_runs)
    preflight("bench/archive_query.py", missing_modules("duckdb"))
    start = datetime(2024, 4, 1, tzinfo=UTC)
    root = Path(args.root) if args.root else Path(tempfile.mkdtemp(prefix="vigie-qbench-"))
    pop = population()
    try:
        if not (root / "connlog").exists():
            t0 = time.perf_counter()
            n = generate(root, args.rows, args.days, start, pop)
            print(f"generated {n:,} rows in {time.perf_counter() - t0:.1f} s under {root}")
        files = list((root / "connlog").glob("*/*/*.parquet"))
        size = sum(f.stat().st_size for f in files)
        nrows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        load0 = os.getloadavg()
        print(f"{len(files)} files, {nrows:,} rows, {size / 2**20:.0f} MiB; {os.cpu_count()} CPUs, "
              f"load average {' '.join(f'{x:.2f}' for x in load0)} at start")  # fmt: skip
        end = start + timedelta(days=args.days)
        nat_ip, nat_port, at = nat_sample(root, start + timedelta(days=9, hours=10))
        questions = [
            ("typical staff device", QuerySpec(start=start, end=end, ip=pop.typical()), True),
            ("one Wi-Fi address", QuerySpec(start=start, end=end, ip=pop.wifi[7]), True),
            ("NAT address+port, 10 min",
             QuerySpec(start=at - timedelta(minutes=5), end=at + timedelta(minutes=5), ip=nat_ip, port=nat_port), True),
            ("busiest staff device", QuerySpec(start=start, end=end, ip=pop.heavy()), False),
        ]  # fmt: skip
        if args.quick:
            questions = questions[:3]
        idle = end_to_end(root, QuerySpec(start=start, end=start + timedelta(hours=1), ip="192.0.2.1"), "table", runs)
        print(f"start-up floor (vigie archive query, 1 hour, no match): {idle}")
        note = bytecode_note()
        if note:
            print(note)
        table_cols = list(TABLE_COLUMNS)
        worst_e2e = worst_in = 0.0
        print(f"{'question':26s} {'rows':>7s}  {'what':37s} median wall (min, cpu)   x reference")
        for label, spec, target in questions:
            vigie, got = in_process(lambda s=spec: query(root, s, table_cols), runs)
            vigie_raw, _ = in_process(lambda s=spec: query(root, s, None), runs)
            cli = end_to_end(root, spec, "table", runs)
            cli_json = end_to_end(root, spec, "json", runs)
            assert cli.rows == vigie.rows == cli_json.rows == vigie_raw.rows
            lines = [
                ("vigie, in process (table columns)", vigie),
                ("vigie, in process (all + raw)", vigie_raw),
                ("vigie archive query (table), e2e", cli),
                ("vigie archive query --format json", cli_json),
            ]
            refs = []
            if not args.no_reference:
                if has_duckdb():
                    ref, ref_t = in_process(lambda s=spec: duckdb_hive(root, s, table_cols), ref_runs)
                    assert ref_t.cast(got.schema).equals(got), "DuckDB and Vigie disagree"
                    refs.append(("ref: DuckDB hive scan, in process", ref))
                    lines.append(("vigie --engine duckdb, in process",
                                  in_process(lambda s=spec: query(root, s, table_cols, engine="duckdb"), ref_runs)[0]))  # fmt: skip
                if args.pyarrow_scan:
                    ref, ref_t = in_process(lambda s=spec: pyarrow_scan(root, s, table_cols), ref_runs)
                    assert ref_t.cast(got.schema).equals(got), "pyarrow scan and Vigie disagree"
                    refs.append(("ref: pyarrow.dataset scan, in process", ref))
            best_ref = min((r for _, r in refs), key=lambda r: r.wall, default=None)
            for what, t in lines + refs:
                ratio = f"{best_ref.wall / t.wall:6.1f}x" if best_ref else ""
                print(f"{label:26s} {t.rows:7d}  {what:37s} {t}  {ratio}")
            if target:
                worst_e2e, worst_in = max(worst_e2e, cli.wall), max(worst_in, vigie.wall)
        verdict = "met" if worst_e2e <= 1.0 else "NOT met"
        print(f"slowest target question: {worst_e2e:.3f} s end to end ({worst_in:.3f} s in process): "
              f"target <= 1 s {verdict} (busiest device apart)")  # fmt: skip
        print(f"(median of file sizes {statistics.median(f.stat().st_size for f in files) / 1024:.0f} KiB)")
        print(f"load average: {' '.join(f'{x:.2f}' for x in load0)} at start, "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at end, on {os.cpu_count()} CPUs")  # fmt: skip
    finally:
        if not args.root:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
