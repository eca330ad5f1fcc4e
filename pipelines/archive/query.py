"""Auditors' queries over the archive: partition pruning, the footer address index, then a two-phase read that decodes `raw` only where rows match.

Over 600 lines because the fast path (plan, per-file search, fetch) and its references (pyarrow.dataset
and DuckDB, which tests hold equal to it) are one algorithm read together; the footer index is apart.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

# The compute kernels without pyarrow.compute, whose Python wrappers take ~0.06 s to build at start-up
# (so no Table.cast nor ChunkedArray.cast either: they import it; see _conform).
try:
    from pyarrow._compute import CastOptions, SetLookupOptions, SortOptions, call_function
except ImportError:  # pragma: no cover - pyarrow.compute re-exports them
    from pyarrow.compute import CastOptions, SetLookupOptions, SortOptions, call_function
try:  # the Parquet reader without pyarrow.parquet, which also loads pyarrow.fs (and ssl): ~0.03 s at start-up
    from pyarrow._parquet import ParquetReader
except ImportError:  # pragma: no cover - pyarrow.parquet re-exports it
    from pyarrow.parquet import ParquetReader

from vigie.pipelines.archive.footer_index import index_mask_of
from vigie.pipelines.archive.writer import CONNLOG, hour_of_dir
from vigie.schemas.archive import ARCHIVE_SCHEMA

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from pyarrow._parquet import FileMetaData, Statistics

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


@dataclass
class Outcome:
    """What a query could not use: files it could not read ("path: why") and files not in the manifest."""

    unreadable: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.unreadable)


def manifest_paths(root: Path) -> set[str]:
    """The files the manifest records as live (relative paths): the only ones a query reads by default.

    Read here rather than with manifest.load_state, which a query does not load (it would also
    import the writer's Parquet side): a file entry adds its path, a purge entry removes its files.
    """
    import orjson

    live: set[str] = set()
    try:
        f = open(os.path.join(os.fspath(root), "manifest.jsonl"), "rb")
    except FileNotFoundError:
        return live
    with f:
        for line in f:
            try:
                e = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            kind = e.get("kind") if isinstance(e, dict) else None
            if kind == "file" and isinstance(e.get("path"), str):
                live.add(e["path"])
            elif kind == "purge":
                live.difference_update(p for p in e.get("files", ()) if isinstance(p, str))
    return live


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
    """Partition pruning: the files of only the hour folders that overlap [start, end), by hour then name.

    Temporary files (a dot first) and anything not ending in .parquet are left out.
    """
    return [path for hour in _hour_files(root, start, end) for path in hour]


def hour_dirs_in_range(root: Path, start: datetime, end: datetime) -> list[str]:
    """The dt=/hour= folders that exist and overlap [start, end), oldest first (relative to the root).

    Listed, not built from the range: 1970-9999 would be ~70 M names to probe, the folders are a few thousand.
    """
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    base = os.path.join(os.fspath(root), CONNLOG)
    out = []
    try:
        days = sorted(d for d in os.listdir(base) if d.startswith("dt="))
    except (FileNotFoundError, NotADirectoryError):
        return out
    lo_day, hi_day = f"dt={first:%Y-%m-%d}", f"dt={end.astimezone(UTC):%Y-%m-%d}"
    for day in days:
        if not lo_day <= day <= hi_day:
            continue
        try:
            hours = sorted(h for h in os.listdir(os.path.join(base, day)) if h.startswith("hour="))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for hour in hours:
            try:
                t = hour_of_dir(day[3:], hour[5:])
            except ValueError:
                continue
            if first <= t < end:
                out.append(f"{CONNLOG}/{day}/{hour}")
    return out


def _hour_files(
    root: Path,
    start: datetime,
    end: datetime,
    listed: set[str] | None = None,
    outcome: Outcome | None = None,
    dirs: list[str] | None = None,
) -> Iterator[list[str]]:
    """files_in_range one hour folder at a time, so that reading can start before the listing ends.

    With listed (relative paths the manifest records), other files are left out and named in outcome.unlisted.
    """
    base = os.fspath(root)
    for rel in hour_dirs_in_range(root, start, end) if dirs is None else dirs:
        d = os.path.join(base, rel)
        try:
            with os.scandir(d) as it:
                names = sorted(
                    e.name
                    for e in it
                    if e.name.endswith(".parquet") and not e.name.startswith(".") and e.is_file()
                )
        except (FileNotFoundError, NotADirectoryError):
            continue
        if listed is not None:
            unlisted = [n for n in names if f"{rel}/{n}" not in listed]
            if unlisted:
                names = [n for n in names if f"{rel}/{n}" in listed]
                if outcome is not None:
                    outcome.unlisted += [f"{rel}/{n}" for n in unlisted]
        yield [os.path.join(d, n) for n in names]


def build_filter(spec: QuerySpec) -> ds.Expression:
    """The predicate as a pyarrow.dataset expression, for callers that scan with pyarrow.dataset."""
    import pyarrow.dataset as ds
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
_BATCH = 8  # files per pool task: fewer tasks, less Python overhead, still a fair split on 2 cores


def _workers() -> int:
    """Threads for reading files: pyarrow decodes without the GIL; more threads than cores measured slower."""
    return min(8, os.cpu_count() or 2)


def _index_values(spec: QuerySpec) -> list[str]:
    """The addresses the query requires (ANDed): each must be in a row group for it to hold a match."""
    return [normalise_ip(v) for v in (spec.ip, spec.src_ip, spec.dst_ip, spec.nat_ip) if v is not None]


def _schema(columns: list[str]) -> pa.Schema:
    """The archive's fields for these columns, so that files written by other tools concatenate alike."""
    return pa.schema([ARCHIVE_SCHEMA.field(c) for c in columns])


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000) if t.tzinfo else int(t.replace(tzinfo=UTC).timestamp() * 1_000_000)


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


_SIDES = (("src_ip", "src_port"), ("nat_ip", "nat_port"), ("dst_ip", "dst_port"))


def _and(a: pa.Array, b: pa.Array) -> pa.Array:
    return call_function("and_kleene", [a, b])


def _or(a: pa.Array, b: pa.Array) -> pa.Array:
    return call_function("or_kleene", [a, b])


def _take(data: pa.Table, indices: pa.Array) -> pa.Table:
    return call_function("take", [data, indices])


def _conform(t: pa.Table, target: pa.Schema) -> pa.Table:
    """t with the target's types (dictionaries decoded, any other difference cast), one kernel call
    per column that differs (Table.cast would import pyarrow.compute)."""
    if t.schema.equals(target):
        return t
    columns = [
        c if c.type == f.type else call_function("cast", [c], CastOptions.safe(f.type))
        for f in target
        for c in (t.column(f.name),)
    ]
    return pa.Table.from_arrays(columns, schema=target)


def _assemble(parts: list[pa.Table], target: pa.Schema) -> pa.Table:
    """The parts (one per file) as one table of the target's types, in one piece.

    Parts read alike (same columns, same types) are put together first and made contiguous (their
    dictionaries merged), so that decoding is one kernel call per column rather than one per column
    and file (the calls, not the few rows, would cost), and the sort that follows takes from whole
    arrays, not from hundreds of chunks. Schema metadata (each file's own) does not matter.
    """
    alike: dict[tuple[tuple[str, pa.DataType, bool], ...], list[pa.Table]] = {}
    for p in parts:
        alike.setdefault(tuple((f.name, f.type, f.nullable) for f in p.schema), []).append(p)
    tables = [_conform(pa.concat_tables(group).combine_chunks(), target) for group in alike.values()]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables).combine_chunks()


def _equal(column: pa.ChunkedArray, value: pa.Scalar) -> pa.ChunkedArray:
    """column == value, nulls giving null; a dictionary column is compared through its dictionaries
    (each entry once, then a take by the indices), which spares decoding every row's text."""
    if not pa.types.is_dictionary(column.type):
        return call_function("equal", [column, value])
    return pa.chunked_array(
        [call_function("take", [call_function("equal", [c.dictionary, value]), c.indices]) for c in column.chunks],
        pa.bool_(),
    )


class _Plan:
    """What every file's reading needs, worked out once per query (addresses parsed once, not per file)."""

    def __init__(self, spec: QuerySpec, columns: list[str]) -> None:
        self.spec = spec
        self.start, self.end = _us(spec.start), _us(spec.end)  # [start, end) in microseconds
        self.equalities = _equalities(spec)
        self.values = _index_values(spec)  # addresses looked up in the footer index
        self.fcols = _filter_columns(spec)  # phase 1's columns
        self.out = list(dict.fromkeys(columns + ORDER_COLUMNS))  # the answer's columns, and the order's
        self.keys = spec.limit is not None  # phase 1 keeps the ORDER_COLUMNS of its matches
        # One address and nothing else: the index all but says which rows match, so read the answer at once.
        self.index_decides = (
            len(self.values) == 1 and spec.port is None and not {"user", "hostname", "mac"} & {c for c, _ in self.equalities}
        )
        # The predicate's constants, as Arrow scalars once (not once per file).
        def scalar(col: str, value: object) -> pa.Scalar:
            return pa.scalar(value, ARCHIVE_SCHEMA.field(col).type)

        self.times = (scalar("received_at", spec.start), scalar("received_at", spec.end))
        ip = normalise_ip(spec.ip) if spec.ip is not None else None
        self.sides = [
            (c, None if ip is None else scalar(c, ip), p, None if spec.port is None else scalar(p, spec.port))
            for c, p in _SIDES
        ]
        self.ip = ip
        self.eq_scalars = [(c, scalar(c, v)) for c, v in self.equalities]

    def mask(self, t: pa.Table, times: bool) -> pa.Array | None:
        """The predicate with compute kernels (None: every row); times=False when statistics already
        prove every received_at of t is inside the range. Nulls count as no match."""

        def eq(col: str, value: pa.Scalar) -> pa.Array:
            return _equal(t.column(col), value)

        terms: list[pa.Array] = []
        if times:
            ts = t.column("received_at")
            terms.append(call_function("greater_equal", [ts, self.times[0]]))
            terms.append(call_function("less", [ts, self.times[1]]))
        if self.ip is not None or self.spec.port is not None:
            sides = []
            for c, ip, p, port in self.sides:
                if ip is None:
                    sides.append(eq(p, port))
                else:
                    sides.append(eq(c, ip) if port is None else _and(eq(c, ip), eq(p, port)))
            terms.append(_or(_or(sides[0], sides[1]), sides[2]))
        terms += [eq(col, value) for col, value in self.eq_scalars]
        if not terms:
            return None
        m = terms[0]
        for term in terms[1:]:
            m = _and(m, term)
        return m


# Text columns of few distinct values read as dictionaries (indices into each column chunk's own
# dictionary, as the file stores them): decoding them is cheaper than making every row's text, and
# only the matching rows are turned into text, in one kernel call per column (see _assemble).
# Comparisons go through the dictionary (see _equal). Addresses, users, MACs and sessions have many
# values (a dictionary saves nothing there) and `raw` is unique per row: they are read as text.
_DICTIONARY = ["sender", "transport", "hostname", "app_name", "topic", "conn_format", "protocol", "action"]
_UNKNOWN = object()


class _File:
    """One archive file and its metadata (kept when the file is closed, for phase 2)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.reader: ParquetReader | None = None
        self.md: FileMetaData | None = None
        self.dictionary: list[str] | None = _DICTIONARY
        self.open()
        assert self.reader is not None
        self.md = self.reader.metadata
        # Leaf columns under each top-level name (several only for nested columns, which other tools may write).
        self.leaves: dict[str, list[int]] = {}
        for i, path_in_schema in enumerate(self.reader.column_paths):
            self.leaves.setdefault(path_in_schema[0], []).append(i)
        self.col = {n: ix[0] for n, ix in self.leaves.items() if len(ix) == 1}
        self._ts_scale: float | None | object = _UNKNOWN

    def open(self) -> None:
        """The Parquet reader itself (pyarrow.parquet.ParquetFile adds nothing used here but Python overhead).

        An OSFile skips the filesystem resolution of a path; a second open (phase 2) reuses the metadata.
        Small reads: pre-buffering (coalescing them) costs more than it saves.
        """
        reader = ParquetReader()
        try:
            reader.open(pa.OSFile(self.path), pre_buffer=False, metadata=self.md, read_dictionary=self.dictionary)
        except KeyError:  # a file without every text column of the archive (another tool's): no dictionaries
            self.dictionary = None
            reader = ParquetReader()
            reader.open(pa.OSFile(self.path), pre_buffer=False, metadata=self.md)
        self.reader = reader

    def close(self) -> None:
        """Let go of the file (its descriptor): a year of hourly files would pass the open-file limit."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def stats(self, g: int, col: str) -> Statistics | None:
        i = self.col.get(col)
        return None if i is None else self.md.row_group(g).column(i).statistics

    def time_bounds(self, g: int) -> tuple[float, float, bool] | None:
        """received_at's min and max in a row group (microseconds), and whether it has nulls; None when unknown."""
        st = self.stats(g, "received_at")
        if st is None or not st.has_min_max:
            return None
        scale = self.ts_scale(st)
        if scale is not None:  # the raw integers: no datetime (nor time zone) per row group
            lo_us, hi_us = st.min_raw * scale, st.max_raw * scale
        else:
            lo, hi = st.min, st.max
            lo_us = lo.timestamp() * 1e6 if isinstance(lo, datetime) else lo
            hi_us = hi.timestamp() * 1e6 if isinstance(hi, datetime) else hi
        return lo_us, hi_us, not st.has_null_count or st.null_count > 0

    def ts_scale(self, st: Statistics) -> float | None:
        """Microseconds per unit of received_at when stored as a UTC timestamp in int64, else None.

        Worked out from the statistics' column descriptor, not from metadata.schema: that one is a
        reference cycle in pyarrow (FileMetaData <-> ParquetSchema), which keeps every file's decoded
        footer alive until a garbage collection, at the latest the one at interpreter exit.
        """
        if self._ts_scale is _UNKNOWN:
            self._ts_scale = None
            lt = st.logical_type
            if st.physical_type == "INT64" and lt.type == "TIMESTAMP" and '"isAdjustedToUTC":true' in lt.to_json():
                units = {"milliseconds": 1000.0, "microseconds": 1.0, "nanoseconds": 0.001}
                self._ts_scale = next((v for k, v in units.items() if f'"timeUnit":"{k}"' in lt.to_json()), None)
        return self._ts_scale  # type: ignore[return-value]

    def all_null(self, groups: list[int], col: str) -> bool:
        """Whether the statistics prove the column null in every one of these row groups."""
        i = self.col.get(col)
        if i is None:
            return False
        for g in groups:
            rg = self.md.row_group(g)
            st = rg.column(i).statistics
            if st is None or not st.has_null_count or st.null_count != rg.num_rows:
                return False
        return True

    def read(self, groups: list[int], columns: list[str], skippable: frozenset[str] = frozenset()) -> pa.Table:
        """Some columns of some row groups, decoded in the calling thread (the pool is the parallelism).

        Columns of `skippable` that statistics prove null are not read but made of nulls (on
        connection logs, user, MAC and session often are): each column chunk read costs, even tiny.
        """
        if self.reader is None:
            self.open()
        assert self.reader is not None
        # a column the file lacks (added to the schema after it was written) reads as nulls too
        nulls = {c for c in columns if c not in self.leaves or (c in skippable and self.all_null(groups, c))}
        indices = [i for c in columns if c not in nulls for i in self.leaves.get(c, ())]
        t = self.reader.read_row_groups(groups, column_indices=indices, use_threads=False)
        if not nulls:
            return t
        n = sum(self.md.row_group(g).num_rows for g in groups)
        fields = [ARCHIVE_SCHEMA.field(c) if c in nulls else t.schema.field(c) for c in columns]
        arrays = [pa.nulls(n, f.type) if f.name in nulls else t.column(f.name) for f in fields]
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class _FileHits:
    """Phase 1's answer for one file: the row groups read and the matching rows' positions among them."""

    __slots__ = ("file", "groups", "positions", "keys", "rows")

    def __init__(
        self, file: _File | None, groups: list[int], positions: pa.Array, keys: pa.Table | None, rows: pa.Table | None
    ) -> None:
        # The file, for phase 2 only: its decoded footer is big (freeing it is ~1 ms of a thread), so it
        # is let go in the thread that read the file (None: read in one pass, or phase 2 done).
        self.file = file
        self.groups = groups
        self.positions = positions  # int64, ascending
        self.keys = keys  # ORDER_COLUMNS of those rows, when a limit needs them before phase 2
        self.rows = rows  # the matching rows already read whole (one pass: no phase 2)


def _find(path: str, plan: _Plan) -> _FileHits | None:
    """Phase 1 on one file: index, then statistics, then the filter columns of the row groups left.

    When the index alone all but decides which row groups match (one address, no port, user,
    host or MAC filter), the answer's columns are read in the same pass: a second open and read
    of each file would cost more than the rare row group read for nothing.
    """
    mask = index_mask_of(path, plan.values)
    if mask == 0:
        return None
    f = _File(path)
    try:
        groups, inside = [], True
        for g in range(f.md.num_row_groups):
            if mask is not None and not mask >> g & 1:
                continue
            b = f.time_bounds(g)
            if b is not None and (b[1] < plan.start or b[0] >= plan.end):
                continue
            groups.append(g)
            if b is None or b[2] or not (plan.start <= b[0] and b[1] < plan.end):
                inside = False
        if not groups:
            return None
        one_pass = mask is not None and plan.index_decides
        if one_pass:
            read = list(dict.fromkeys(plan.fcols + plan.out))
            skippable = frozenset(plan.out) - frozenset(plan.fcols) - frozenset(ORDER_COLUMNS)
        else:
            read = plan.fcols + ([c for c in ORDER_COLUMNS if c not in plan.fcols] if plan.keys else [])
            skippable = frozenset()
        t = f.read(groups, read, skippable)
    finally:
        f.close()
    m = plan.mask(t, times=not inside)
    positions = pa.array(range(t.num_rows), pa.int64()) if m is None else call_function("indices_nonzero", [m])
    if not len(positions):
        return None
    rows = None
    if one_pass:
        rows = t.select(plan.out) if len(positions) == t.num_rows else _take(t.select(plan.out), positions)
    keys = _take(t.select(ORDER_COLUMNS), positions) if plan.keys else None
    return _FileHits(None if one_pass else f, groups, positions, keys, rows)


def _fetch(hits: _FileHits, plan: _Plan) -> pa.Table:
    """Phase 2 on one file: read the asked columns of only the row groups that hold a match, take the rows."""
    if hits.rows is not None:
        return hits.rows
    f, hits.file = hits.file, None  # freed in this thread when done (see _FileHits)
    assert f is not None and f.md is not None
    md = f.md
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
    try:
        t = f.read([hits.groups[i] for i in needed], plan.out, frozenset(plan.out) - frozenset(ORDER_COLUMNS))
    finally:
        f.close()
    return _take(t, local)


_READ_ERRORS = (OSError, pa.ArrowException)  # a file cut short, corrupt pages, a footer that is not Parquet


def _find_batch(paths: list[str], plan: _Plan, outcome: Outcome) -> list[_FileHits | None]:
    """Phase 1 on a few files; a file that cannot be read is named in outcome, the others are answered."""
    out: list[_FileHits | None] = []
    for p in paths:
        try:
            out.append(_find(p, plan))
        except _READ_ERRORS as exc:
            outcome.unreadable.append(f"{p}: {exc}")  # list.append is atomic: the pool's threads share it
            out.append(None)
    return out


def _fetch_or_none(hits: _FileHits, plan: _Plan, outcome: Outcome) -> pa.Table | None:
    """Phase 2 on one file; None (and the file named in outcome) when it cannot be read now."""
    path = hits.file.path if hits.file is not None else "?"
    try:
        return _fetch(hits, plan)
    except _READ_ERRORS as exc:
        outcome.unreadable.append(f"{path}: {exc}")
        return None


def query_pyarrow(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    progress: Progress | None = None,
    listed: set[str] | None = None,
    outcome: Outcome | None = None,
) -> pa.Table:
    """Two-phase query with pyarrow alone: find the matching rows cheaply, then read only their row groups.

    Phase 1 skips files and row groups by the footer address index and the received_at
    statistics, and reads only the filter columns of what is left; phase 2 reads the asked
    columns (with `raw`, the bulk of the data) of the row groups that hold a match. Both run
    on a thread pool, a few files per task. Files that cannot be read are named in outcome.unreadable
    (the answer is then partial); with listed, files the manifest does not record are skipped.
    """
    cols = columns or list(ARCHIVE_SCHEMA.names)
    schema = _schema(cols)
    plan = _Plan(spec, cols)
    outcome = outcome if outcome is not None else Outcome()
    order = [(c, "ascending") for c in ORDER_COLUMNS]
    found: list[_FileHits] = []
    matched = done = 0
    workers = _workers()
    # Batches small enough that every thread gets work (and progress moves) even over few hours.
    dirs = hour_dirs_in_range(root, spec.start, spec.end)
    size = max(1, min(_BATCH, -(-len(dirs) // (4 * workers))))
    with ThreadPoolExecutor(workers) as pool:
        # The listing overlaps the reading: batches go to the pool as the hour folders are listed.
        futures: dict[Future[list[_FileHits | None]], int] = {}
        batch: list[str] = []
        for names in _hour_files(root, spec.start, spec.end, listed, outcome, dirs):
            batch.extend(names)
            while len(batch) >= size:
                futures[pool.submit(_find_batch, batch[:size], plan, outcome)] = size
                del batch[:size]
        if batch:
            futures[pool.submit(_find_batch, batch, plan, outcome)] = len(batch)
        total = sum(futures.values())
        if progress and not total:
            progress(0, 0, 0)
        for fut in as_completed(futures):
            for hit in fut.result():
                if hit is not None:
                    found.append(hit)
                    matched += len(hit.positions)
            done += futures[fut]
            if progress:
                progress(done, total, matched)
        if plan.keys and found:
            # Keep the earliest rows before any `raw` is read (kernels called directly: no pyarrow.compute).
            keys = pa.concat_tables(
                _conform(h.keys, _schema(ORDER_COLUMNS))
                .append_column("__file", pa.array([i] * len(h.positions), pa.int32()))
                .append_column(_POS, h.positions)
                for i, h in enumerate(found)
                if h.keys is not None
            )
            keys = _take(keys, call_function("sort_indices", [keys], SortOptions(order)))
            keys = keys.slice(0, max(spec.limit or 0, 0))
            for i, h in enumerate(found):
                of_file = call_function("equal", [keys.column("__file"), pa.scalar(i, pa.int32())])
                mine = call_function("filter", [keys.column(_POS), of_file]).combine_chunks()
                mine = call_function("take", [mine, call_function("array_sort_indices", [mine])])
                if h.rows is not None:  # read in one pass: keep the rows that made the cut
                    h.rows = _take(h.rows, call_function("index_in", [mine], SetLookupOptions(h.positions)))
                h.positions = mine
        pending = [h for h in found if len(h.positions)]
        if any(h.rows is None for h in pending):
            parts = [t for t in pool.map(lambda h: _fetch_or_none(h, plan, outcome), pending) if t is not None]
        else:
            parts = [h.rows for h in pending]
    if not parts:
        return schema.empty_table()
    target = _schema(plan.out)
    table = _assemble(parts, target)
    if table.num_rows > 1:
        table = _take(table, call_function("sort_indices", [table], SortOptions(order)))
    return table.select(cols).replace_schema_metadata(None)


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


def query_duckdb(
    root: Path,
    spec: QuerySpec,
    columns: list[str] | None = None,
    listed: set[str] | None = None,
    outcome: Outcome | None = None,
) -> pa.Table:
    """The same query through DuckDB (statistics and Bloom filters), over the files the address index leaves.

    DuckDB reads the files in one statement; when a file cannot be read, the files are read one by one
    so that the bad ones are named in outcome.unreadable and the others still answered.
    """
    import duckdb

    cols = columns or list(ARCHIVE_SCHEMA.names)
    schema = pa.schema([ARCHIVE_SCHEMA.field(c) for c in cols])
    values = _index_values(spec)
    candidates = [p for hour in _hour_files(root, spec.start, spec.end, listed, outcome) for p in hour]
    files = [f for f in candidates if index_mask_of(f, values) != 0]
    if not files:
        return schema.empty_table()
    try:
        return _duckdb_read(files, spec, cols).cast(schema)
    except duckdb.Error:
        parts = []
        for f in files:
            try:
                parts.append(_duckdb_read([f], spec, cols).cast(schema))
            except duckdb.Error as exc:
                if outcome is not None:
                    outcome.unreadable.append(f"{f}: {str(exc).splitlines()[0]}")
        table = pa.concat_tables([schema.empty_table(), *parts])
        order = [(c, "ascending") for c in ORDER_COLUMNS if c in cols]
        if order and table.num_rows > 1:
            table = _take(table, call_function("sort_indices", [table], SortOptions(order)))
        return table.slice(0, spec.limit) if spec.limit is not None else table


def _duckdb_read(files: list[str], spec: QuerySpec, cols: list[str]) -> pa.Table:
    import duckdb

    where, params = _sql_filter(spec)
    listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    source = f"read_parquet([{listing}], union_by_name = true)"  # files written before a column was added lack it
    limit = f" LIMIT {int(spec.limit)}" if spec.limit is not None else ""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        present = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        select = ", ".join(f'"{c}"' if c in present else f'NULL AS "{c}"' for c in cols)
        sql = f'SELECT {select} FROM {source} WHERE {where} ORDER BY received_at, topic, "partition", "offset"{limit}'
        rel = con.sql(sql, params=params)
        # DuckDB 1.x has fetch_arrow_table(), 2.x to_arrow_table().
        return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()
    finally:
        con.close()


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
    listed: set[str] | None = None,
    outcome: Outcome | None = None,
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
        table = query_duckdb(root, spec, cols, listed, outcome)
        if progress:
            progress(1, 1, table.num_rows)
        return table
    return query_pyarrow(root, spec, cols, progress, listed, outcome)
