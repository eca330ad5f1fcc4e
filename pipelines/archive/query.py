"""Auditors' queries over the archive: time range and address/port/user/host filters, pruned by partition and pushed down to Parquet."""

from __future__ import annotations

import ipaddress
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from vigie.pipelines.archive.writer import hour_dir
from vigie.schemas.archive import ARCHIVE_SCHEMA

TABLE_COLUMNS = (
    "received_at",
    "hostname",
    "conn_format",
    "action",
    "protocol",
    "src_ip",
    "src_port",
    "nat_ip",
    "nat_port",
    "dst_ip",
    "dst_port",
    "user",
    "mac",
    "session_id",
)


@dataclass
class QuerySpec:
    """One auditor's question: [start, end) in received time, and optional equality filters."""

    start: datetime
    end: datetime
    ip: str | None = None  # any side: source, translated (NAT) or destination
    src_ip: str | None = None
    dst_ip: str | None = None
    nat_ip: str | None = None
    port: int | None = None  # paired with ip when both are given (same side)
    user: str | None = None
    host: str | None = None
    mac: str | None = None
    limit: int | None = None


def parse_time(text: str) -> datetime:
    """RFC 3339 or a date (YYYY-MM-DD, meaning midnight); a time without zone is UTC."""
    t = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    dt = datetime.fromisoformat(t)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def normalise_ip(text: str) -> str:
    """The form the archive stores (IPv6 compressed, IPv4-mapped IPv6 as IPv4)."""
    addr = ipaddress.ip_address(text.strip())
    if addr.version == 6 and addr.ipv4_mapped is not None:  # type: ignore[union-attr]
        return str(addr.ipv4_mapped)  # type: ignore[union-attr]
    return str(addr)


def files_in_range(root: Path, start: datetime, end: datetime) -> list[str]:
    """Partition pruning: only the hour folders that overlap [start, end) are listed."""
    out: list[str] = []
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    root = Path(root)
    while hour < end:
        d = root / hour_dir(hour)
        if d.is_dir():
            out.extend(str(p) for p in sorted(d.glob("*.parquet")) if not p.name.startswith("."))
        hour += timedelta(hours=1)
    return out


def build_filter(spec: QuerySpec) -> ds.Expression:
    """The predicate pushed down to the Parquet reader (row-group statistics, then row filtering)."""
    f = (ds.field("received_at") >= pa.scalar(spec.start, ARCHIVE_SCHEMA.field("received_at").type)) & (
        ds.field("received_at") < pa.scalar(spec.end, ARCHIVE_SCHEMA.field("received_at").type)
    )
    sides = (("src_ip", "src_port"), ("nat_ip", "nat_port"), ("dst_ip", "dst_port"))
    if spec.ip is not None:
        ip = normalise_ip(spec.ip)
        terms = []
        for ip_col, port_col in sides:
            t = ds.field(ip_col) == ip
            if spec.port is not None:
                t = t & (ds.field(port_col) == spec.port)
            terms.append(t)
        f = f & (terms[0] | terms[1] | terms[2])
    elif spec.port is not None:
        f = f & (
            (ds.field("src_port") == spec.port)
            | (ds.field("nat_port") == spec.port)
            | (ds.field("dst_port") == spec.port)
        )
    if spec.src_ip is not None:
        f = f & (ds.field("src_ip") == normalise_ip(spec.src_ip))
    if spec.dst_ip is not None:
        f = f & (ds.field("dst_ip") == normalise_ip(spec.dst_ip))
    if spec.nat_ip is not None:
        f = f & (ds.field("nat_ip") == normalise_ip(spec.nat_ip))
    if spec.user is not None:
        f = f & (ds.field("user") == spec.user)
    if spec.host is not None:
        f = f & (ds.field("hostname") == spec.host)
    if spec.mac is not None:
        f = f & (ds.field("mac") == spec.mac.strip().lower().replace("-", ":"))
    return f


Progress = Callable[[int, int, int], None]  # files done, files total, rows matched


def stderr_progress(min_interval: float = 0.5) -> Progress:
    """A progress line on stderr, refreshed at most every min_interval seconds, only for long scans."""
    state = {"last": 0.0, "t0": time.monotonic(), "shown": False}

    def report(done: int, total: int, matched: int) -> None:
        now = time.monotonic()
        final = done == total
        if now - state["t0"] < 1.0 and not state["shown"]:
            return  # short scans stay silent
        if not final and now - state["last"] < min_interval:
            return
        state["last"], state["shown"] = now, True
        sys.stderr.write(f"\rscanned {done}/{total} files, {matched} rows match")
        if final:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


# Columns a filter can touch: the first pass reads only these, so `raw` is decompressed only
# in the files that hold a match.
FILTER_COLUMNS = [
    "received_at", "src_ip", "src_port", "dst_ip", "dst_port", "nat_ip", "nat_port", "user", "hostname", "mac",
]  # fmt: skip


def _scanner(files: list[str], spec: QuerySpec, columns: list[str]) -> ds.Scanner:
    dataset = ds.dataset(files, schema=ARCHIVE_SCHEMA, format="parquet")
    return dataset.scanner(columns=columns, filter=build_filter(spec), use_threads=True, batch_size=64 * 1024)


def scan(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    progress: Progress | None = None,
) -> Iterator[pa.RecordBatch]:
    """Matching rows as record batches (pyarrow engine): a narrow pass finds the files, a full pass reads them."""
    files = files_in_range(root, spec.start, spec.end)
    if not files:
        if progress:
            progress(0, 0, 0)
        return
    seen: set[str] = set()
    hits: set[str] = set()
    found = 0
    for tagged in _scanner(files, spec, FILTER_COLUMNS).scan_batches():
        seen.add(tagged.fragment.path)
        if tagged.record_batch.num_rows:
            hits.add(tagged.fragment.path)
            found += tagged.record_batch.num_rows
        if progress:
            progress(len(seen), len(files), found)
    if progress:
        progress(len(files), len(files), found)
    if not hits:
        return
    remaining = spec.limit
    for batch in _scanner(
        [f for f in files if f in hits], spec, columns or list(ARCHIVE_SCHEMA.names)
    ).to_batches():
        if not batch.num_rows:
            continue
        if remaining is not None:
            batch = batch.slice(0, remaining)
            remaining -= batch.num_rows
        yield batch
        if remaining is not None and remaining <= 0:
            break


def _sql_filter(spec: QuerySpec) -> tuple[str, list[object]]:
    """The same predicate as build_filter, as DuckDB SQL with parameters."""
    terms = ["received_at >= ?", "received_at < ?"]
    params: list[object] = [spec.start, spec.end]
    sides = (("src_ip", "src_port"), ("nat_ip", "nat_port"), ("dst_ip", "dst_port"))
    if spec.ip is not None:
        ip = normalise_ip(spec.ip)
        alts = []
        for ip_col, port_col in sides:
            if spec.port is not None:
                alts.append(f"({ip_col} = ? AND {port_col} = ?)")
                params += [ip, spec.port]
            else:
                alts.append(f"{ip_col} = ?")
                params.append(ip)
        terms.append("(" + " OR ".join(alts) + ")")
    elif spec.port is not None:
        terms.append("(src_port = ? OR nat_port = ? OR dst_port = ?)")
        params += [spec.port] * 3
    for col, value in (
        ("src_ip", spec.src_ip and normalise_ip(spec.src_ip)),
        ("dst_ip", spec.dst_ip and normalise_ip(spec.dst_ip)),
        ("nat_ip", spec.nat_ip and normalise_ip(spec.nat_ip)),
        ('"user"', spec.user),
        ("hostname", spec.host),
        ("mac", spec.mac and spec.mac.strip().lower().replace("-", ":")),
    ):
        if value is not None:
            terms.append(f"{col} = ?")
            params.append(value)
    return " AND ".join(terms), params


def query_duckdb(root: Path, spec: QuerySpec, columns: list[str] | None = None) -> pa.Table:
    """The same query through DuckDB, which also skips row groups by the Parquet Bloom filters."""
    import duckdb

    cols = columns or list(ARCHIVE_SCHEMA.names)
    schema = pa.schema([ARCHIVE_SCHEMA.field(c) for c in cols])
    files = files_in_range(root, spec.start, spec.end)
    if not files:
        return schema.empty_table()
    where, params = _sql_filter(spec)
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    select = ", ".join(f'"{c}"' for c in cols)
    limit = f" LIMIT {int(spec.limit)}" if spec.limit is not None else ""
    sql = f'SELECT {select} FROM read_parquet([{listing}]) WHERE {where} ORDER BY received_at, topic, "partition", "offset"{limit}'
    if "topic" not in cols or "partition" not in cols or "offset" not in cols:
        sql = f"SELECT {select} FROM read_parquet([{listing}]) WHERE {where} ORDER BY received_at{limit}"
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rel = con.sql(sql, params=params)
        # DuckDB 1.x has fetch_arrow_table(), 2.x to_arrow_table().
        table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()
    finally:
        con.close()
    return table.cast(schema)


def has_duckdb() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def query(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    progress: Progress | None = None,
    engine: str = "auto",
) -> pa.Table:
    """All matching rows as one table sorted by received time; engine auto uses DuckDB when installed."""
    cols = columns or list(ARCHIVE_SCHEMA.names)
    if engine == "duckdb" or (engine == "auto" and has_duckdb()):
        if progress:
            progress(0, 1, 0)
        table = query_duckdb(root, spec, cols)
        if progress:
            progress(1, 1, table.num_rows)
        return table
    batches = list(scan(root, spec, cols, progress))
    schema = pa.schema([ARCHIVE_SCHEMA.field(c) for c in cols])
    table = pa.Table.from_batches(batches, schema=schema)
    if "received_at" in cols and table.num_rows:
        table = table.take(pc.sort_indices(table, sort_keys=[("received_at", "ascending")]))
    return table
