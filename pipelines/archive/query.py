"""Auditors' queries over the archive: partition pruning, the footer address index, then a two-phase read that decodes `raw` only where rows match."""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from vigie.pipelines.archive.writer import footer_index, hour_dir, index_mask, read_footer
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


ORDER_COLUMNS = ["received_at", "topic", "partition", "offset"]  # the order of every answer, both engines
_POS = "__pos"


def _workers() -> int:
    """Threads for reading files: pyarrow decodes without the GIL; more threads than cores measured slower."""
    return min(8, os.cpu_count() or 2)


def _index_values(spec: QuerySpec) -> list[str]:
    """The addresses the query requires (ANDed): each must be in a row group for it to hold a match."""
    return [normalise_ip(v) for v in (spec.ip, spec.src_ip, spec.dst_ip, spec.nat_ip) if v is not None]


def index_mask_of(path: str, values: list[str]) -> int | None:
    """Row groups of the file that may hold every value, by the footer index; None when there is no index."""
    if not values:
        return None
    try:
        footer = read_footer(path)
    except OSError:
        return None
    span = footer_index(footer)
    if span is None:
        return None
    mask = -1
    for v in values:
        mask &= index_mask(footer, span, v)
        if not mask:
            return 0
    return mask


def _time_overlaps(md: pq.FileMetaData, rg: int, col: int, start: int, end: int) -> bool:
    """Whether a row group's received_at statistics overlap [start, end) (in microseconds); True when unknown."""
    st = md.row_group(rg).column(col).statistics
    if st is None or not st.has_min_max:
        return True
    lo, hi = st.min, st.max
    lo_us = lo.timestamp() * 1e6 if isinstance(lo, datetime) else lo
    hi_us = hi.timestamp() * 1e6 if isinstance(hi, datetime) else hi
    return not (hi_us < start or lo_us >= end)


@dataclass
class _FileHits:
    """Phase 1's answer for one file: the row groups read and the matching rows' positions among them."""

    path: str
    pf: pq.ParquetFile
    groups: list[int]
    positions: pa.Array  # int64, ascending
    keys: pa.Table | None  # ORDER_COLUMNS of those rows, when a limit needs them before phase 2
    rows: pa.Table | None = None  # the matching rows already read whole (one pass: no phase 2)


def _schema(columns: list[str]) -> pa.Schema:
    """The archive's fields for these columns, so that files written by other tools concatenate alike."""
    return pa.schema([ARCHIVE_SCHEMA.field(c) for c in columns])


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000) if t.tzinfo else int(t.replace(tzinfo=UTC).timestamp() * 1_000_000)


def _mask(t: pa.Table, spec: QuerySpec) -> pa.Array:
    """build_filter's predicate evaluated with compute kernels (no query-engine start-up on each small read)."""

    def eq(col: str, value: object) -> pa.Array:
        return pc.equal(t.column(col), pa.scalar(value, ARCHIVE_SCHEMA.field(col).type))

    ts_type = ARCHIVE_SCHEMA.field("received_at").type
    ts = t.column("received_at")
    m = pc.and_kleene(
        pc.greater_equal(ts, pa.scalar(spec.start, ts_type)), pc.less(ts, pa.scalar(spec.end, ts_type))
    )
    sides = (("src_ip", "src_port"), ("nat_ip", "nat_port"), ("dst_ip", "dst_port"))
    if spec.ip is not None:
        ip = normalise_ip(spec.ip)
        terms = [
            eq(c, ip) if spec.port is None else pc.and_kleene(eq(c, ip), eq(pc_, spec.port))
            for c, pc_ in sides
        ]
        m = pc.and_kleene(m, pc.or_kleene(pc.or_kleene(terms[0], terms[1]), terms[2]))
    elif spec.port is not None:
        terms = [eq(pc_, spec.port) for _, pc_ in sides]
        m = pc.and_kleene(m, pc.or_kleene(pc.or_kleene(terms[0], terms[1]), terms[2]))
    for col, value in _equalities(spec):
        m = pc.and_kleene(m, eq(col, value))
    return pc.fill_null(m, False)


def _equalities(spec: QuerySpec) -> list[tuple[str, str]]:
    """The single-column equality filters of a query, values normalised as the archive stores them."""
    out = []
    for col, value in (
        ("src_ip", spec.src_ip and normalise_ip(spec.src_ip)),
        ("dst_ip", spec.dst_ip and normalise_ip(spec.dst_ip)),
        ("nat_ip", spec.nat_ip and normalise_ip(spec.nat_ip)),
        ("user", spec.user),
        ("hostname", spec.host),
        ("mac", spec.mac and spec.mac.strip().lower().replace("-", ":")),
    ):
        if value is not None:
            out.append((col, value))
    return out


def _filter_columns(spec: QuerySpec) -> list[str]:
    """The columns phase 1 reads: those the predicate looks at."""
    cols = ["received_at"]
    if spec.ip is not None:
        cols += ["src_ip", "nat_ip", "dst_ip"]
    if spec.port is not None:
        cols += ["src_port", "nat_port", "dst_port"]
    cols += [c for c, _ in _equalities(spec)]
    return list(dict.fromkeys(cols))


def _fully_inside(md: pq.FileMetaData, rg: int, col: int, start: int, end: int) -> bool:
    """Whether the statistics prove every received_at of the row group lies in [start, end)."""
    st = md.row_group(rg).column(col).statistics
    if st is None or not st.has_min_max or st.null_count:
        return False
    lo, hi = st.min, st.max
    lo_us = lo.timestamp() * 1e6 if isinstance(lo, datetime) else lo
    hi_us = hi.timestamp() * 1e6 if isinstance(hi, datetime) else hi
    return start <= lo_us and hi_us < end


def _read(pf: pq.ParquetFile, groups: list[int], columns: list[str]) -> pa.Table:
    """Some columns of some row groups, decoded in the calling thread (the pool is the parallelism)."""
    return pf.read_row_groups(groups, columns=columns, use_threads=False)


def _find(path: str, spec: QuerySpec, columns: list[str], keys: bool, out: list[str]) -> _FileHits | None:
    """Phase 1 on one file: index, then statistics, then the filter columns of the row groups left.

    When the index alone all but decides which row groups match (one address, no port, user,
    host or MAC filter, row groups wholly inside the time range), the asked columns are read in
    the same pass: a second open and read of each file would cost more than the rare row group
    read for nothing.
    """
    values = _index_values(spec)
    mask = index_mask_of(path, values)
    if mask == 0:
        return None
    pf = pq.ParquetFile(path, pre_buffer=False)  # small reads: coalescing them costs more than it saves
    md = pf.metadata
    col = pf.schema_arrow.get_field_index("received_at")
    start, end = _us(spec.start), _us(spec.end)
    groups = [
        g
        for g in range(md.num_row_groups)
        if (mask is None or mask >> g & 1) and _time_overlaps(md, g, col, start, end)
    ]
    if not groups:
        return None
    one_pass = (
        mask is not None
        and len(values) == 1
        and spec.port is None
        and not any(c in ("user", "hostname", "mac") for c, _ in _equalities(spec))
        and all(_fully_inside(md, g, col, start, end) for g in groups)
    )
    read = list(dict.fromkeys(columns + (ORDER_COLUMNS if keys else []) + (out if one_pass else [])))
    t = _read(pf, groups, read)
    positions = pc.indices_nonzero(_mask(t, spec))
    if not len(positions):
        return None
    return _FileHits(
        path,
        pf,
        groups,
        positions,
        t.select(ORDER_COLUMNS).take(positions) if keys else None,
        t.select(out).take(positions) if one_pass else None,
    )


def _fetch(hits: _FileHits, columns: list[str]) -> pa.Table:
    """Phase 2 on one file: read the asked columns of only the row groups that hold a match, take the rows."""
    if hits.rows is not None:
        return hits.rows
    md = hits.pf.metadata
    starts = [0]
    for g in hits.groups:
        starts.append(starts[-1] + md.row_group(g).num_rows)
    pos = hits.positions.to_pylist()
    where = [bisect_right(starts, p) - 1 for p in pos]
    needed = sorted(set(where))
    base, shift = 0, {}
    for i in needed:
        shift[i] = base - starts[i]
        base += starts[i + 1] - starts[i]
    local = pa.array([p + shift[i] for p, i in zip(pos, where, strict=True)], pa.int64())
    return _read(hits.pf, [hits.groups[i] for i in needed], columns).take(local)


def query_pyarrow(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    progress: Progress | None = None,
) -> pa.Table:
    """Two-phase query with pyarrow alone: find the matching rows cheaply, then read only their row groups.

    Phase 1 skips files and row groups by the footer address index and the received_at
    statistics, and reads only the filter columns of what is left; phase 2 reads the asked
    columns (with `raw`, the bulk of the data) of the row groups that hold a match. Both run
    on a thread pool, one file per task.
    """
    cols = columns or list(ARCHIVE_SCHEMA.names)
    schema = _schema(cols)
    files = files_in_range(root, spec.start, spec.end)
    fcols = _filter_columns(spec)
    limited = spec.limit is not None
    order = [(c, "ascending") for c in ORDER_COLUMNS]
    found: list[_FileHits] = []
    matched = 0
    if progress and not files:
        progress(0, 0, 0)
    with ThreadPoolExecutor(_workers()) as pool:
        read = list(dict.fromkeys(cols + ORDER_COLUMNS))
        futures = [pool.submit(_find, f, spec, fcols, limited, read) for f in files]
        for done, fut in enumerate(as_completed(futures), 1):
            hit = fut.result()
            if hit is not None:
                found.append(hit)
                matched += len(hit.positions)
            if progress:
                progress(done, len(files), matched)
        if limited and found:
            # Keep the earliest rows before any `raw` is read.
            keys = pa.concat_tables(
                h.keys.cast(_schema(ORDER_COLUMNS))
                .append_column("__file", pa.array([i] * len(h.positions), pa.int32()))
                .append_column(_POS, h.positions)
                for i, h in enumerate(found)
                if h.keys is not None
            )
            keys = keys.take(pc.sort_indices(keys, sort_keys=order)).slice(0, max(spec.limit or 0, 0))
            for i, h in enumerate(found):
                mine = keys.column(_POS).filter(pc.equal(keys.column("__file"), i)).combine_chunks()
                mine = mine.take(pc.array_sort_indices(mine))
                if h.rows is not None:  # read in one pass: keep the rows that made the cut
                    h.rows = h.rows.take(pc.index_in(mine, value_set=h.positions))
                h.positions = mine
        jobs = [pool.submit(_fetch, h, read) for h in found if len(h.positions)]
        parts = [job.result().cast(_schema(read)) for job in jobs]
    if not parts:
        return schema.empty_table()
    table = pa.concat_tables(parts)
    table = table.take(pc.sort_indices(table, sort_keys=order))
    return table.select(cols).cast(schema)


def scan(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    progress: Progress | None = None,
) -> Iterator[pa.RecordBatch]:
    """Matching rows as record batches, in received-time order (pyarrow engine)."""
    yield from query_pyarrow(root, spec, columns, progress).to_batches()


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
    for col, value in _equalities(spec):
        terms.append(f'"{col}" = ?')
        params.append(value)
    return " AND ".join(terms), params


def query_duckdb(root: Path, spec: QuerySpec, columns: list[str] | None = None) -> pa.Table:
    """The same query through DuckDB (statistics and Bloom filters), over the files the address index leaves."""
    import duckdb

    cols = columns or list(ARCHIVE_SCHEMA.names)
    schema = pa.schema([ARCHIVE_SCHEMA.field(c) for c in cols])
    values = _index_values(spec)
    files = [f for f in files_in_range(root, spec.start, spec.end) if index_mask_of(f, values) != 0]
    if not files:
        return schema.empty_table()
    where, params = _sql_filter(spec)
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    select = ", ".join(f'"{c}"' for c in cols)
    limit = f" LIMIT {int(spec.limit)}" if spec.limit is not None else ""
    sql = (
        f"SELECT {select} FROM read_parquet([{listing}]) WHERE {where} "
        f'ORDER BY received_at, topic, "partition", "offset"{limit}'
    )
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


ENGINES = ("auto", "pyarrow", "duckdb")


def query(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    progress: Progress | None = None,
    engine: str = "auto",
) -> pa.Table:
    """All matching rows as one table in (received_at, topic, partition, offset) order.

    Both engines give the same rows in the same order; auto is the two-phase pyarrow engine,
    which needs nothing beyond the runtime dependencies and is the faster on an indexed archive.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown query engine {engine!r} (expected one of {', '.join(ENGINES)})")
    cols = columns or list(ARCHIVE_SCHEMA.names)
    if engine == "duckdb":
        if progress:
            progress(0, 1, 0)
        table = query_duckdb(root, spec, cols)
        if progress:
            progress(1, 1, table.num_rows)
        return table
    return query_pyarrow(root, spec, cols, progress)
