"""Turns a table of archive rows into one Parquet file that appears on disk only when complete and durable."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from vigie.schemas.archive import ARCHIVE_SCHEMA, SCHEMA_VERSION
from vigie.schemas.codec import rfc3339

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

CONNLOG = "connlog"
TMP_SUFFIX = ".tmp"
# Row groups are small, so a query decodes `raw` (the bulk of a file) only around its matches
# (rows are sorted by source address, so one device's rows of a file share one or two groups),
# yet few enough per file (MAX_ROW_GROUPS) that the footer stays small for big files.
ROW_GROUP_ROWS = 128 * 1024  # the cap
MIN_ROW_GROUP_ROWS = 2048  # DuckDB's vector size: smaller groups slow it down
MAX_ROW_GROUPS = 64
# zstd level 1 (its "fast" strategy): on the sink bench's mix it is both smaller than level 3 (`raw`, the
# bulk of a file, compresses 7% smaller; all columns 43.1 B/row against 44.5) and cheaper (encoding
# takes ~15% less CPU). A dict {column: level} is accepted too (pyarrow takes one level per column).
COMPRESSION_LEVEL = 1
# Within a file, rows are ordered by source address then offset (the file name still gives the
# offset range; the offset column gives each row's place in the Kafka partition).
SORT_KEYS = [("src_ip", "ascending", "at_end"), ("offset", "ascending", "at_end")]
# Footer key holding the address index: a header line, then one line per address seen on any
# side (src_ip, nat_ip, dst_ip), "<address>\t<hex bit mask of the row groups that hold it>", then an
# end line. It is inside the file, so the file's SHA-256 in the manifest covers it and verify, purge
# and reconcile are unchanged; the markers let a query find it in the raw footer bytes without
# decoding the footer (see query.index_span, which trusts only the real one).
IP_INDEX_KEY = "vigie.ip_index"
IP_INDEX_BEGIN = b"#vigie.ip_index/1\n"
IP_INDEX_END = b"#end\n"
IP_INDEX_COLUMNS = ("src_ip", "nat_ip", "dst_ip")
# Bloom filters on the columns auditors look up by equality: a reader (DuckDB) skips the row
# groups where a value cannot be, which statistics cannot do for unsorted columns. src_ip needs
# none: rows are sorted by it, so its min/max statistics already prune. Shares are of the rows.
BLOOM_COLUMNS = {"dst_ip": 0.5, "nat_ip": 0.1, "user": 0.1, "mac": 0.1}
BLOOM_MIN_NDV = 128
# Columns whose values are (nearly) all distinct within a row group: a dictionary there is hashing
# for nothing, and PLAIN pages compress smaller under zstd (measured: 9% smaller files, less CPU).
# clock_skewed: Parquet bit-packs booleans and writes no dictionary for them whatever is asked.
NO_DICTIONARY = frozenset({"raw", "offset", "received_at", "session_id", "bytes", "src_port", "nat_port", "clock_skewed"})

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
    compression_level: int | dict[str, int] = COMPRESSION_LEVEL,
    before_rename: Callable[[str, str, int], None] | None = None,
) -> WrittenFile:
    """Write the table as <root>/connlog/dt=/hour=/<name>: temporary file, fsync, rename, fsync of the folder.

    The bytes are encoded in memory first so that the SHA-256 the manifest records is that of
    exactly what was written, without reading the file back. before_rename(path, sha256, size) runs
    once the temporary file is durable and before it becomes visible: the sink records its intent
    there, so that after a crash it can tell its own unlisted files from files dropped by others.
    """
    import pyarrow.compute as pc  # here, not at the top: `vigie archive query` never writes

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
    row_group_rows = group_rows(table.num_rows, row_group_rows)
    # One dictionary of the addresses gives both the row order and the footer index.
    addresses = _Addresses.of(table)
    order = _row_order(table, addresses) if table.num_rows > 1 else None
    if order is not None:
        table = table.take(order)  # one gather per column, chunks and all (no concatenation first)
    index = addresses.index(order, row_group_rows)
    import pyarrow.parquet as pq  # here, not at the top: `vigie archive query` imports this module, never writes

    with pq.ParquetWriter(
        sink,
        table.schema,
        compression="zstd",
        compression_level=compression_level,
        use_dictionary=[c for c in table.column_names if c not in NO_DICTIONARY],
        write_statistics=True,
        write_page_index=True,
        bloom_filter_options={
            col: {"ndv": max(BLOOM_MIN_NDV, int(min(row_group_rows, table.num_rows) * share)), "fpp": 0.01}
            for col, share in BLOOM_COLUMNS.items()
        },
    ) as writer:
        # One call per row group, so the index below and the file agree on the boundaries.
        for start in range(0, max(table.num_rows, 1), row_group_rows):
            writer.write_table(table.slice(start, row_group_rows), row_group_size=row_group_rows)
        writer.add_key_value_metadata({IP_INDEX_KEY: index})
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
    if before_rename is not None:
        before_rename(f"{rel_dir}/{name.name}", digest, data.size)
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


def group_rows(n: int, cap: int) -> int:
    """Rows per row group for a file of n rows: MIN_ROW_GROUP_ROWS, more for big files, never over cap."""
    return max(1, min(cap, max(MIN_ROW_GROUP_ROWS, -(-n // MAX_ROW_GROUPS))))


def sort_rows(table: pa.Table) -> pa.Table:
    """Rows by source address then offset, so one address's rows of a file fall in few row groups."""
    if table.num_rows < 2:
        return table
    return table.take(_row_order(table, _Addresses.of(table)))


def ip_index(table: pa.Table, row_group_rows: int) -> str:
    """The footer index: each address of src_ip, nat_ip or dst_ip, and the row groups it appears in."""
    return _Addresses.of(table).index(None, row_group_rows)


_U64 = pa.uint64()
_ZEROS = pa.scalar(b"\0" * 16, pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())


class _Addresses:
    """The addresses of the indexed columns as one dictionary, its entries ranked in bytewise order.

    One hash pass and one sort of the distinct addresses serve both the row order (src_ip compares as
    an integer rank instead of a string) and the footer index (whose lines are the sorted entries).
    """

    def __init__(self, n: int, ranks: list[pa.Array], values: pa.Array) -> None:
        self.n = n
        self.ranks = ranks  # per IP_INDEX_COLUMNS: each row's rank in `values` (int32, null: no address)
        self.values = values  # the distinct addresses, sorted bytewise (as Arrow sorts strings)

    @classmethod
    def of(cls, table: pa.Table) -> _Addresses:
        import pyarrow.compute as pc  # here, not at the top: `vigie archive query` never writes

        n = table.num_rows
        chunks = [chunk for c in IP_INDEX_COLUMNS for chunk in table.column(c).chunks]  # one copy, not two
        empty = pa.array([], table.schema.field(IP_INDEX_COLUMNS[0]).type)
        enc = pc.dictionary_encode(pa.concat_arrays(chunks) if chunks else empty)
        order = _bytewise_order(enc.dictionary).cast(pa.int64())
        if hasattr(pc, "inverse_permutation"):  # recent pyarrow; the project allows >= 16
            rank = pc.inverse_permutation(order, output_type=pa.int32())
        else:
            rank = pc.sort_indices(order).cast(pa.int32())
        ranks = rank.take(enc.indices)
        sides = [ranks.slice(k * n, n) for k in range(len(IP_INDEX_COLUMNS))]
        return cls(n, sides, enc.dictionary.take(order))

    def index(self, order: pa.Array | None, row_group_rows: int) -> str:
        """The index of the table once its rows are taken in `order` (None: as they are)."""
        import pyarrow.compute as pc  # here, not at the top: `vigie archive query` never writes

        n, m = self.n, len(self.values)
        head, tail = IP_INDEX_BEGIN.decode(), IP_INDEX_END.decode()
        if m == 0:
            return head + tail
        groups = -(-n // row_group_rows)
        bits = max(1, (groups - 1).bit_length())
        ends = [*range(row_group_rows, n, row_group_rows), n]
        group = pc.run_end_decode(
            pa.RunEndEncodedArray.from_arrays(pa.array(ends, pa.int64()), pa.array(range(len(ends)), _U64))
        )
        # (rank, group) pairs as one integer each, rank in the high bits: sorting them sorts by address.
        keys = []
        for ranks in self.ranks:
            if order is not None:
                ranks = ranks.take(order)
            k = pc.bit_wise_or(pc.shift_left(ranks.cast(_U64), pa.scalar(bits, _U64)), group)
            keys.append(k.drop_null() if k.null_count else k)
        # Sorted, then each run of equal pairs kept once: cheaper than hashing them (unique) then sorting
        # (the src_ip part, taken in the file's order, is already sorted: the sort runs through it fast).
        pairs = pa.concat_arrays(keys)
        pairs = pairs.take(pc.array_sort_indices(pairs))
        if len(pairs) > 1:
            new = pc.not_equal(pairs.slice(1), pairs.slice(0, len(pairs) - 1))
            pairs = pa.concat_arrays([pairs.slice(0, 1), pairs.slice(1).filter(new)])
        rank = pc.shift_right(pairs, pa.scalar(bits, _U64))
        group = pc.bit_wise_and(pairs, pa.scalar((1 << bits) - 1, _U64))
        if groups > 64:  # masks wider than an integer column: Python ints (never with the default sizes)
            masks: list[int] = [0] * m
            for r, g in zip(rank.to_pylist(), group.to_pylist(), strict=True):
                masks[r] |= 1 << g
            hexes = pa.array([f"{x:x}" for x in masks], pa.string())
        else:
            # The pairs are distinct, so a rank's mask is the sum of its bits: a difference of running
            # sums (modulo 2**64) at the last pair of each rank. Every rank has at least one pair.
            total = pc.cumulative_sum(pc.shift_left(pa.scalar(1, _U64), group))
            last = pc.indices_nonzero(pc.not_equal(rank.slice(1), rank.slice(0, len(rank) - 1)))
            at = pa.concat_arrays([last.cast(pa.int64()), pa.array([len(rank) - 1], pa.int64())])
            total = total.take(at)
            mask = pa.concat_arrays([total.slice(0, 1), pc.subtract(total.slice(1), total.slice(0, m - 1))])
            hexes = _hex(mask)
        whole = pa.array([0, m], pa.int32())
        flat = pc.binary_join(pa.ListArray.from_arrays(whole, self.values), "")[0].as_buffer().to_pybytes()
        if b"\t" in flat or b"\n" in flat:  # scanning the addresses alone: faster than counting in the text
            return ""  # not a line-safe value: no index, so readers scan the whole file
        lines = pc.binary_join_element_wise(self.values, hexes, "\t")
        body = pc.binary_join(pa.ListArray.from_arrays(whole, lines), "\n")[0]
        return head + body.as_buffer().to_pybytes().decode() + "\n" + tail


def _bytewise_order(values: pa.Array) -> pa.Array:
    """pc.sort_indices(values) for distinct strings, by their first 16 bytes as integers first.

    Two integer keys (bytes 0-7 and 8-15, big-endian, zero-padded) order every address of up to 16
    bytes (all IPv4) without comparing strings; the string itself only breaks their ties (longer IPv6
    sharing 16 bytes, a trailing NUL). Padding with the smallest byte keeps the keys in the strings'
    order, so the result is the plain sort's. Measured: about a third less CPU than sorting the strings.
    """
    import pyarrow.compute as pc  # here, not at the top: `vigie archive query` never writes

    if len(values) < 2 or sys.byteorder != "little":  # the keys read the bytes as little-endian words
        return pc.sort_indices(values)
    try:
        head = pc.binary_slice(values.cast(pa.binary()), 0, 16)
        fixed = pc.binary_reverse(pc.binary_slice(pc.binary_join_element_wise(head, _ZEROS, _EMPTY), 0, 16))
        fixed = fixed.cast(pa.binary(16))
    except (pa.ArrowNotImplementedError, AttributeError):  # an older pyarrow without one of these
        return pc.sort_indices(values)
    # Reversed, byte 15 comes first: the little-endian words are then bytes 8-15 and 0-7, big-endian.
    words = pa.Array.from_buffers(_U64, 2 * len(fixed), [None, fixed.buffers()[1]], offset=2 * fixed.offset)
    pairs = pa.FixedSizeListArray.from_arrays(words, 2)
    keys = pa.record_batch([pc.list_element(pairs, 1), pc.list_element(pairs, 0), values], ["hi", "lo", "s"])
    return pc.sort_indices(keys, sort_keys=[("hi", "ascending"), ("lo", "ascending"), ("s", "ascending")])


def _hex(masks: pa.Array) -> pa.Array:
    """f"{mask:x}" of each mask: Python formats each distinct mask once (files have few distinct ones)."""
    import pyarrow.compute as pc  # here, not at the top: `vigie archive query` never writes

    enc = pc.dictionary_encode(masks)
    return pa.array([f"{x:x}" for x in enc.dictionary.to_pylist()], pa.string()).take(enc.indices)


def _row_order(table: pa.Table, addresses: _Addresses) -> pa.Array:
    """The indices that sort the rows as SORT_KEYS says, src_ip compared through its rank.

    Arrow's sort is stable, so when the offsets already ascend (a sink's file always does) the
    rank alone gives the same order as (src_ip, offset).
    """
    import pyarrow.compute as pc  # here, not at the top: `vigie archive query` never writes

    src = addresses.ranks[0]
    offset = table.column("offset").combine_chunks()
    if (
        offset.null_count == 0
        and pc.all(pc.less_equal(offset.slice(0, len(offset) - 1), offset.slice(1))).as_py()
    ):
        return pc.array_sort_indices(src, null_placement="at_end")
    keys = pa.table({"src": src, "offset": offset})
    return pc.sort_indices(
        keys, sort_keys=[("src", "ascending", "at_end"), ("offset", "ascending", "at_end")]
    )


def read_footer(path: str | Path) -> bytes:
    """The raw Parquet footer (its Thrift bytes), b"" when the file does not end like Parquet: one open,
    two small reads (the length, then exactly the footer). The query reads every candidate file's footer
    through it, so it avoids a buffered file object."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < 12:
            return b""
        tail = os.pread(fd, 8, size - 8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or length > size - 12:
            return b""
        return os.pread(fd, length, size - 8 - length)
    finally:
        os.close(fd)


def index_mask(footer: bytes, span: tuple[int, int], value: str) -> int:
    """The bit mask of the row groups where value appears on an indexed side (0: nowhere in the file).

    The lines are sorted by address (bytewise), so this is a binary search over the raw bytes.
    """
    key = value.encode()
    lo, hi = span[0] + 1, span[1]  # each a line start
    while lo < hi:
        mid = (lo + hi) // 2
        start = footer.rfind(b"\n", span[0], mid + 1) + 1
        tab = footer.index(b"\t", start)
        end = footer.index(b"\n", tab)
        here = footer[start:tab]
        if here == key:
            return int(footer[tab + 1 : end], 16)
        if here < key:
            lo = end + 1
        else:
            hi = start
    return 0


def _iso(us: int | None) -> str:
    """Microseconds since the epoch as the manifest's RFC 3339 text ("" for none); integer microseconds
    go through a datetime, exact where a float of seconds would round."""
    if us is None:
        return ""
    return rfc3339(_EPOCH + timedelta(microseconds=us))


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
