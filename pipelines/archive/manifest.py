"""The archive's hash-chained manifest (JSON lines): what files exist, their SHA-256, and every purge.

Each line is one entry; its "hash" is the SHA-256 of its canonical JSON without "hash", and
its "prev" is the hash of the line before (64 zeros for the first), so altering, removing
or inserting a line breaks the chain. Writers append under an exclusive flock, so the sink
and a purge run from the command line can share one manifest.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from vigie.pipelines.archive.writer import (
    CONNLOG,
    TMP_SUFFIX,
    FileName,
    WrittenFile,
    fsync_dir,
    sha256_file,
)
from vigie.schemas.codec import rfc3339

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
GENESIS = "0" * 64
QUARANTINE = "quarantine"  # files found in the archive that the sink did not write: moved here, never served


def canonical(entry: dict[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, compact, UTF-8."""
    return orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)


def entry_hash(entry: dict[str, Any]) -> str:
    """The hash of an entry: SHA-256 of its canonical form without the "hash" key (prev is included)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def file_entry(written: WrittenFile, reconciled: bool = False) -> dict[str, Any]:
    """The manifest body that records one archive file."""
    body: dict[str, Any] = {
        "kind": "file",
        "path": written.path,
        "sha256": written.sha256,
        "size": written.size,
        "rows": written.rows,
        "topic": written.name.topic,
        "partition": written.name.partition,
        "first_offset": written.name.first,
        "last_offset": written.name.last,
        "min_received_at": written.min_received_at,
        "max_received_at": written.max_received_at,
    }
    if reconciled:
        body["reconciled"] = True
    return body


def intent_entry(path: str, sha256: str, size: int, name: FileName) -> dict[str, Any]:
    """The manifest body the sink appends before making a file visible: what it is about to rename.

    After a crash between the rename and the file's entry, reconcile adopts an unlisted file only
    when an intent names its path and SHA-256; a file dropped in from outside has none.
    """
    return {
        "kind": "intent",
        "path": path,
        "sha256": sha256,
        "size": size,
        "topic": name.topic,
        "partition": name.partition,
        "first_offset": name.first,
        "last_offset": name.last,
    }


class Manifest:
    """Appends entries to <root>/manifest.jsonl, each fsynced, continuing the chain whoever wrote last."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / MANIFEST
        self.root.mkdir(parents=True, exist_ok=True)
        existed = self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed:
            fsync_dir(self.root)
        self._known_size = -1
        self._last_hash = GENESIS
        self._seq = 0
        self._thread_lock = threading.Lock()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Manifest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry this process wrote or saw before its last append."""
        with self._thread_lock:
            return self._seq, self._last_hash

    def intent_recorder(self, name: FileName) -> Callable[[str, str, int], None]:
        """The before_rename callback of writer.write_file that records the sink's intent for this file."""
        return lambda path, sha256, size: self.append(intent_entry(path, sha256, size, name))

    def append(self, body: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and fsync one entry; returns it with seq, at, prev and hash."""
        return self.append_many([body])[0]

    def append_many(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append several entries under one lock and one fsync (thread-safe: the sink writes files from
        several threads, and an flock does not exclude threads sharing the descriptor)."""
        with self._thread_lock:
            return self._append_many(bodies)

    def _append_many(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            self._sync_tail()
            out = []
            lines = []
            for body in bodies:
                entry = {
                    **body,
                    "seq": self._seq + 1,
                    "at": body.get("at") or rfc3339(),
                    "prev": self._last_hash,
                }
                entry["hash"] = entry_hash(entry)
                self._seq += 1
                self._last_hash = entry["hash"]
                lines.append(canonical(entry) + b"\n")
                out.append(entry)
            data = b"".join(lines)
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
            self._known_size = os.fstat(self._fd).st_size
            return out
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _sync_tail(self) -> None:
        """Learn the last hash and seq if someone else appended; drop a torn last line (a crash mid-write)."""
        size = os.fstat(self._fd).st_size
        if size == self._known_size:
            return
        if size == 0:
            self._last_hash, self._seq, self._known_size = GENESIS, 0, 0
            return
        tail = _read_tail(self._fd, size)
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n") + 1
            keep = size - (len(tail) - cut)
            log.warning("manifest: dropping a torn last line of %d bytes (crash during append)", size - keep)
            os.ftruncate(self._fd, keep)
            os.fsync(self._fd)
            torn = size - keep
            size = keep
            tail = tail[:cut]
            self._known_size = -1
            if size == 0:
                self._last_hash, self._seq = GENESIS, 0
            else:
                self._set_last(tail)
            # Say in the chain itself that a torn line was dropped.
            entry = {
                "kind": "repair",
                "dropped_bytes": torn,
                "seq": self._seq + 1,
                "at": rfc3339(),
                "prev": self._last_hash,
            }
            entry["hash"] = entry_hash(entry)
            os.write(self._fd, canonical(entry) + b"\n")
            os.fsync(self._fd)
            self._seq, self._last_hash = entry["seq"], entry["hash"]
            self._known_size = os.fstat(self._fd).st_size
            return
        self._set_last(tail)
        self._known_size = size

    def _set_last(self, tail: bytes) -> None:
        last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        try:
            entry = orjson.loads(last)
            self._last_hash, self._seq = entry["hash"], int(entry["seq"])
        except (ValueError, KeyError, TypeError):
            # A damaged last line: chain on its bytes so verify shows the damage, not a new break.
            self._last_hash = hashlib.sha256(last).hexdigest()
            self._seq += 1


def _read_tail(fd: int, size: int) -> bytes:
    """Enough of the end of the file to hold the last complete line and a torn one after it."""
    chunk = 64 * 1024
    pos = size
    data = b""
    while pos > 0:
        start = max(0, pos - chunk)
        data = os.pread(fd, pos - start, start) + data
        pos = start
        if data.count(b"\n") >= 3:
            break
    return data


def read_entries(root: Path) -> Iterator[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw line, parsed entry or None when unreadable) for every line of the manifest."""
    path = Path(root) / MANIFEST
    if not path.exists():
        return
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            try:
                entry = orjson.loads(line)
                yield lineno, line, entry if isinstance(entry, dict) else None
            except orjson.JSONDecodeError:
                yield lineno, line, None


def chain_head(root: Path) -> tuple[int, str, bool]:
    """(seq, hash) of the manifest's last entry, and whether every link up to it holds (files are not hashed)."""
    prev, seq, intact = GENESIS, 0, True
    for _, line, e in read_entries(root):
        if e is None:
            intact, prev = False, hashlib.sha256(line.rstrip(b"\n")).hexdigest()
            continue
        intact = intact and e.get("prev") == prev and e.get("hash") == entry_hash(e)
        prev, seq = str(e.get("hash", "")), int(e.get("seq", seq + 1))
    return seq, prev, intact


@dataclass
class ManifestState:
    """What the manifest says now: live files, purged paths, and the next offset of each partition."""

    live: dict[str, dict[str, Any]] = field(default_factory=dict)
    purged: set[str] = field(default_factory=set)
    intents: dict[str, set[str]] = field(default_factory=dict)  # path -> SHA-256s the sink was about to rename
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    entries: int = 0


def load_state(root: Path) -> ManifestState:
    """Replay the manifest (without checking the chain: that is verify's job)."""
    state = ManifestState()
    for _, _, e in read_entries(root):
        if e is None:
            continue
        state.entries += 1
        kind = e.get("kind")
        if kind == "file":
            path = e["path"]
            state.live[path] = e
            state.purged.discard(path)
            key = (e["topic"], int(e["partition"]))
            nxt = int(e["last_offset"]) + 1
            if nxt > state.next_offsets.get(key, -1):
                state.next_offsets[key] = nxt
        elif kind == "intent" and isinstance(e.get("path"), str):
            state.intents.setdefault(e["path"], set()).add(str(e.get("sha256")))
        elif kind == "purge":
            for path in e.get("files", ()):
                state.live.pop(path, None)
                state.purged.add(path)
    return state


def _file_facts(root: Path, rel: str, name: FileName) -> WrittenFile:
    """Recompute what the manifest records for a file found on disk without an entry."""
    path = root / rel
    digest, size = sha256_file(path)
    md = pq.read_metadata(path)
    lo = hi = ""
    idx = md.schema.to_arrow_schema().get_field_index("received_at")
    for rg in range(md.num_row_groups):
        st = md.row_group(rg).column(idx).statistics
        if st is not None and st.has_min_max:
            a, b = rfc3339(st.min), rfc3339(st.max)
            lo = a if not lo or a < lo else lo
            hi = b if not hi or b > hi else hi
    return WrittenFile(rel, digest, size, md.num_rows, name, lo, hi)


def reconcile(
    root: Path, manifest: Manifest, keys: set[tuple[str, int]] | None = None
) -> list[dict[str, Any]]:
    """Adopt the sink's own files that lack an entry (a crash between rename and append); quarantine the rest.

    A file on disk without an entry is the sink's only when an intent entry names its path and its
    SHA-256 (written before the rename, see intent_entry); any other file (dropped in, or altered
    since) is moved to <root>/quarantine/ and never registered, so neither verify nor the resume
    point of its partition trusts it. Files named in a purge entry are left for the next purge.
    With keys, only those (topic, partition)s are looked at: the ones whose lock the caller holds,
    since another sink process may be between the rename and the append of its own partitions' files.
    Files whose names no sink writes are quarantined whatever the keys.
    """
    state = load_state(root)
    added = []
    for rel in _disk_files(root):
        if rel in state.live or rel in state.purged:
            continue
        name = FileName.parse(rel.rsplit("/", 1)[-1])
        if name is not None and keys is not None and (name.topic, name.partition) not in keys:
            continue
        digests = state.intents.get(rel)
        if name is not None and digests:
            facts = _file_facts(root, rel, name)
            if facts.sha256 in digests:
                added.append(file_entry(facts, reconciled=True))
                log.warning("manifest: registering %s, written before a crash (its intent matches)", rel)
                continue
        moved = quarantine(root, rel)
        log.error("manifest: %s is not a file the sink wrote; moved to %s", rel, moved)
    if added:
        manifest.append_many(added)
    return added


def quarantine(root: Path, rel: str) -> str:
    """Move <root>/rel to <root>/quarantine/rel (a suffix if that exists); the new relative path."""
    target = Path(QUARANTINE) / rel
    n = 0
    while (root / target).exists():
        n += 1
        target = Path(QUARANTINE) / f"{rel}.{n}"
    (root / target).parent.mkdir(parents=True, exist_ok=True)
    os.rename(root / rel, root / target)
    fsync_dir((root / target).parent)
    fsync_dir((root / rel).parent)
    return target.as_posix()


def quarantined(root: Path) -> list[str]:
    """The files under <root>/quarantine/ (relative to the root)."""
    base = Path(root) / QUARANTINE
    if not base.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())


@dataclass
class VerifyReport:
    """The outcome of verify: each list holds human-readable findings; ok when all are empty."""

    files_checked: int = 0
    entries: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # reported, not a failure: they are out of the archive
    head: tuple[int, str] = (0, GENESIS)  # seq and hash of the last entry
    hashes: dict[str, int] = field(default_factory=dict)  # every entry's hash -> its seq (anchors are checked in it)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.altered or self.extra or self.chain)


def _disk_files(root: Path) -> list[str]:
    """Every regular file under connlog/ (relative paths), except in-flight temporaries."""
    base = root / CONNLOG
    out = []
    if not base.is_dir():
        return out
    for dirpath, _, files in os.walk(base):
        for name in files:
            if name.startswith(".") and name.endswith(TMP_SUFFIX):
                continue
            out.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(out)


def verify(root: Path, progress: Callable[[int, int, str], None] | None = None) -> VerifyReport:
    """Recompute the chain and every file's SHA-256; report missing, altered and extra files and chain breaks."""
    root = Path(root)
    report = VerifyReport()
    # List the disk before reading the manifest: a file the sink renames meanwhile then has its entry.
    on_disk = _disk_files(root)
    live: dict[str, dict[str, Any]] = {}
    purged: set[str] = set()
    prev = GENESIS
    expected_seq = 1
    for lineno, line, e in read_entries(root):
        report.entries += 1
        if e is None:
            report.chain.append(f"manifest line {lineno}: not a JSON object")
            prev = hashlib.sha256(line.rstrip(b"\n")).hexdigest()
            expected_seq += 1
            continue
        if e.get("prev") != prev:
            report.chain.append(f"manifest line {lineno}: prev does not match the previous entry's hash")
        if e.get("hash") != entry_hash(e):
            report.chain.append(f"manifest line {lineno}: hash does not match the entry (altered)")
        if e.get("seq") != expected_seq:
            report.chain.append(
                f"manifest line {lineno}: seq {e.get('seq')} where {expected_seq} was expected"
            )
        prev = e.get("hash", "")
        if isinstance(e.get("seq"), int) and isinstance(prev, str):
            report.hashes[prev] = e["seq"]
            report.head = (e["seq"], prev)
        expected_seq = (e.get("seq") if isinstance(e.get("seq"), int) else expected_seq) + 1
        kind = e.get("kind")
        if kind == "file" and isinstance(e.get("path"), str):
            live[e["path"]] = e
            purged.discard(e["path"])
        elif kind == "purge":
            for p in e.get("files", ()):
                live.pop(p, None)
                purged.add(p)
    report.quarantined = quarantined(root)
    disk = set(on_disk)
    for p in sorted(set(live) - disk):
        report.missing.append(p)
    for p in on_disk:
        if p not in live:
            why = "purged in the manifest but still on disk" if p in purged else "not in the manifest"
            report.extra.append(f"{p} ({why})")
    checked = [p for p in on_disk if p in live]
    for i, p in enumerate(checked, 1):
        e = live[p]
        try:
            digest, size = sha256_file(root / p)
        except OSError as exc:
            report.missing.append(f"{p} ({exc.strerror})")
            continue
        if size != e.get("size"):
            report.altered.append(f"{p} (size {size}, manifest says {e.get('size')})")
        elif digest != e.get("sha256"):
            report.altered.append(f"{p} (SHA-256 differs from the manifest)")
        report.files_checked += 1
        if progress:
            progress(i, len(checked), p)
    return report


class ManifestAgeCollector(Collector):
    """Seconds since the archive manifest's head (last entry) was written, read from the file at scrape time.

    The manifest is append-only, so its modification time is when its head was written; measured here in
    the parent, it keeps growing when the sink processes are dead or stuck. No sample before the first file.
    """

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / MANIFEST

    def describe(self) -> Iterator:
        yield GaugeMetricFamily("vigie_archive_manifest_head_age_seconds",
                                "Seconds since the archive manifest's last entry was written")

    def collect(self) -> Iterator:
        family = GaugeMetricFamily("vigie_archive_manifest_head_age_seconds",
                                   "Seconds since the archive manifest's last entry was written")
        try:
            family.add_metric([], max(0.0, time.time() - self.path.stat().st_mtime))
        except FileNotFoundError:
            pass  # no archive file yet: no sample rather than an age from nothing
        yield family
