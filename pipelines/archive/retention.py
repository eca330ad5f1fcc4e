"""Retention: removes the archive's hour partitions whose whole hour is older than the retention period.

An hour partition holds only rows received within that hour (the sink guarantees it), so a
partition whose end is at or before the cut-off (now - retention_days) holds nothing younger
than the period; the partition that straddles the cut-off is kept until its hour is past.
The purge is recorded in the manifest before anything is deleted, so an interrupted purge
shows up in verify as files "purged but still on disk" and the next purge finishes it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from vigie.pipelines.archive.manifest import Manifest
from vigie.pipelines.archive.writer import CONNLOG, fsync_dir, iter_hour_dirs
from vigie.schemas.codec import rfc3339

log = logging.getLogger(__name__)

DEFAULT_RETENTION_DAYS = 365


@dataclass
class PurgeReport:
    """What a purge removed (or, with dry_run, would remove)."""

    cutoff: datetime
    partitions: list[str] = field(default_factory=list)  # "connlog/dt=.../hour=.." relative to the root
    files: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    dry_run: bool = False


def cutoff_for(now: datetime, retention_days: int) -> datetime:
    """The oldest received time that must still be kept."""
    return now.astimezone(UTC) - timedelta(days=retention_days)


def expired_partitions(root: Path, cutoff: datetime) -> list[tuple[datetime, Path]]:
    """Hour partitions whose hour ends at or before the cut-off, oldest first."""
    return [(h, p) for h, p in iter_hour_dirs(Path(root)) if h + timedelta(hours=1) <= cutoff]


def purge(
    root: Path,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeReport:
    """Remove expired hour partitions (and emptied day folders), recording the purge in the manifest first."""
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    root = Path(root)
    now = now or datetime.now(UTC)
    report = PurgeReport(cutoff=cutoff_for(now, retention_days), dry_run=dry_run)
    expired = expired_partitions(root, report.cutoff)
    for _, hdir in expired:
        report.partitions.append(hdir.relative_to(root).as_posix())
        for f in sorted(hdir.iterdir()):
            if not f.is_file():
                continue
            rel = f.relative_to(root).as_posix()
            report.files.append(rel)
            report.bytes += f.stat().st_size
            if f.suffix == ".parquet" and not f.name.startswith("."):
                try:
                    report.rows += pq.read_metadata(f).num_rows
                except Exception:  # noqa: BLE001 - a damaged file is removed all the same, rows unknown
                    log.warning("purge: cannot read the row count of %s", rel)
    if dry_run or not expired:
        return report
    with Manifest(root) as manifest:
        manifest.append(
            {
                "kind": "purge",
                "retention_days": retention_days,
                "cutoff": rfc3339(report.cutoff),
                "partitions": report.partitions,
                "files": report.files,
                "rows": report.rows,
                "bytes": report.bytes,
            }
        )
    days: set[Path] = set()
    for _, hdir in expired:
        for f in hdir.iterdir():
            if f.is_file():
                f.unlink()
        fsync_dir(hdir)
        hdir.rmdir()
        fsync_dir(hdir.parent)
        days.add(hdir.parent)
    for day in sorted(days):
        try:
            day.rmdir()  # only when empty: the day may keep younger hours
            fsync_dir(day.parent)
        except OSError:
            pass
    log.info(
        "purge: removed %d partitions, %d files, %d rows older than %s",
        len(expired),
        len(report.files),
        report.rows,
        report.cutoff,
    )
    return report


class RetentionJob:
    """The daily purge under `vigie up`: run(stop_event) purges at start and then every interval seconds."""

    def __init__(
        self, root: Path, retention_days: int = DEFAULT_RETENTION_DAYS, interval: float = 86400.0
    ) -> None:
        self.root = Path(root)
        self.retention_days = retention_days
        self.interval = interval
        self.last: PurgeReport | None = None

    def run(self, stop_event: threading.Event) -> None:
        while not stop_event.is_set():
            if (self.root / CONNLOG).is_dir():
                try:
                    self.last = purge(self.root, self.retention_days)
                except OSError as exc:
                    log.error("archive purge failed: %s", exc)
            stop_event.wait(self.interval)

    def close(self) -> None:
        """Nothing to release; present so `vigie up` treats every job alike."""
