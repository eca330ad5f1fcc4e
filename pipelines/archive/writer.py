"""Turns a table of archive rows into one Parquet file that appears on disk only when complete and durable."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from vigie.schemas.archive import ARCHIVE_SCHEMA, SCHEMA_VERSION

CONNLOG = "connlog"
TMP_SUFFIX = ".tmp"
ROW_GROUP_ROWS = 128 * 1024  # big enough for zstd and statistics, small enough to skip by statistics
COMPRESSION_LEVEL = 3
# Bloom filters on the columns auditors look up by equality: a reader (DuckDB) skips the row
# groups where an address cannot be, which statistics cannot do for unsorted addresses.
BLOOM_COLUMNS = {"src_ip": 1.0, "dst_ip": 1.0, "nat_ip": 0.25, "user": 0.25, "mac": 0.25}

_NAME = re.compile(
    r"^(?P<topic>[A-Za-z0-9._-]+)\+(?P<partition>\d+)\+(?P<first>\d+)\+(?P<last>\d+)\.parquet$"
)


@dataclass(frozen=True)
class FileName:
    """What a file name says: the Kafka partition and the contiguous offset range the file holds."""

    topic: str
    partition: int
    first: int
    last: int

    @property
    def name(self) -> str:
        return f"{self.topic}+{self.partition}+{self.first}+{self.last}.parquet"

    @classmethod
    def parse(cls, name: str) -> FileName | None:
        m = _NAME.match(name)
        if m is None:
            return None
        return cls(m["topic"], int(m["partition"]), int(m["first"]), int(m["last"]))


@dataclass(frozen=True)
class WrittenFile:
    """A file made visible: its place relative to the archive root, and what the manifest records."""

    path: str  # relative to the root, with forward slashes
    sha256: str
    size: int
    rows: int
    name: FileName
    min_received_at: str
    max_received_at: str


def hour_dir(hour_start: datetime) -> str:
    """The hive partition path (relative to the root) of one UTC hour."""
    h = hour_start.astimezone(UTC)
    return f"{CONNLOG}/dt={h:%Y-%m-%d}/hour={h:%H}"


def hour_of_dir(dt: str, hour: str) -> datetime:
    """The start of the UTC hour a partition directory holds."""
    return datetime.strptime(f"{dt} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def hour_start_from_us(us: int) -> datetime:
    """The UTC hour that contains a timestamp in microseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(hours=us // 3_600_000_000)


def iter_hour_dirs(root: Path) -> Iterator[tuple[datetime, Path]]:
    """Every dt=/hour= directory under the root, oldest first."""
    base = root / CONNLOG
    if not base.is_dir():
        return
    for day in sorted(base.iterdir()):
        if not day.is_dir() or not day.name.startswith("dt="):
            continue
        for hour in sorted(day.iterdir()):
            if hour.is_dir() and hour.name.startswith("hour="):
                try:
                    yield hour_of_dir(day.name[3:], hour.name[5:]), hour
                except ValueError:
                    continue


def iter_files(root: Path) -> Iterator[tuple[str, FileName]]:
    """Every complete archive file (relative path, parsed name); temporary files are skipped."""
    for _, hdir in iter_hour_dirs(root):
        rel = hdir.relative_to(root).as_posix()
        with os.scandir(hdir) as it:
            names = sorted(e.name for e in it if e.is_file())
        for name in names:
            parsed = FileName.parse(name)
            if parsed is not None:
                yield f"{rel}/{name}", parsed


def remove_temporaries(root: Path) -> list[str]:
    """Delete what a crash left half-written; such files were never visible, so nothing is lost."""
    removed = []
    for _, hdir in iter_hour_dirs(root):
        for p in hdir.iterdir():
            if p.name.startswith(".") and p.name.endswith(TMP_SUFFIX):
                p.unlink(missing_ok=True)
                removed.append(p.relative_to(root).as_posix())
    return removed


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new child, an unlink) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(root: Path, rel: str) -> Path:
    """Create rel under root, fsyncing each parent that gained a child so the new path survives a crash."""
    path = root / rel
    if path.is_dir():
        return path
    missing = []
    p = path
    while not p.is_dir():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            pass
        fsync_dir(d.parent)
    return path


def write_file(
    root: Path,
    table: pa.Table,
    name: FileName,
    hour_start: datetime,
    *,
    row_group_rows: int = ROW_GROUP_ROWS,
    compression_level: int = COMPRESSION_LEVEL,
) -> WrittenFile:
    """Write the table as <root>/connlog/dt=/hour=/<name>: temporary file, fsync, rename, fsync of the folder.

    The bytes are encoded in memory first so that the SHA-256 the manifest records is that of
    exactly what was written, without reading the file back.
    """
    if table.schema != ARCHIVE_SCHEMA:
        table = table.cast(ARCHIVE_SCHEMA)
    sink = pa.BufferOutputStream()
    meta = {
        "vigie.schema": SCHEMA_VERSION,
        "vigie.topic": name.topic,
        "vigie.partition": str(name.partition),
        "vigie.first_offset": str(name.first),
        "vigie.last_offset": str(name.last),
    }
    table = table.replace_schema_metadata(
        {**(ARCHIVE_SCHEMA.metadata or {}), **{k.encode(): v.encode() for k, v in meta.items()}}
    )
    pq.write_table(
        table,
        sink,
        row_group_size=row_group_rows,
        compression="zstd",
        compression_level=compression_level,
        use_dictionary=True,
        write_statistics=True,
        write_page_index=True,
        bloom_filter_options={
            col: {"ndv": max(1024, int(min(row_group_rows, table.num_rows) * share)), "fpp": 0.01}
            for col, share in BLOOM_COLUMNS.items()
        },
    )
    data = sink.getvalue()
    digest = hashlib.sha256(memoryview(data)).hexdigest()
    rel_dir = hour_dir(hour_start)
    directory = ensure_dir(root, rel_dir)
    final = directory / name.name
    tmp = directory / f".{name.name}.{os.getpid()}{TMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, final)
    fsync_dir(directory)
    ts = table.column("received_at")
    lo, hi = pc.min_max(ts).values()
    return WrittenFile(
        path=f"{rel_dir}/{name.name}",
        sha256=digest,
        size=data.size,
        rows=table.num_rows,
        name=name,
        min_received_at=_iso(lo.value),
        max_received_at=_iso(hi.value),
    )


def _iso(us: int | None) -> str:
    if us is None:
        return ""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_file(path: Path, chunk: int = 4 * 1024 * 1024) -> tuple[str, int]:
    """SHA-256 and size of a file on disk, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
