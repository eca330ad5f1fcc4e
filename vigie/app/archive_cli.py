"""The `vigie archive` verbs (query, verify, purge): argument parsing and output; the work is done in pipelines/archive/.

The sink runs as `vigie service archive` (vigie/app/service_cli.py), the one way `vigie up` and tests start it.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from vigie.pipelines.archive.query import QuerySpec

# Each verb imports what it needs when it runs: an auditor's `vigie archive query` loads neither
# the Kafka client nor the manifest and retention code (verify, purge), nor orjson unless
# the answer is JSON (python -X importtime shows what a verb loads).
ROOT_ENV = "VIGIE_ARCHIVE_ROOT"
DEFAULT_RETENTION_DAYS = 365  # retention.DEFAULT_RETENTION_DAYS (a test keeps them equal), for --help


def _root(args: argparse.Namespace) -> Path:
    root = getattr(args, "root", None) or os.environ.get(ROOT_ENV)
    if not root:
        raise SystemExit(f"vigie archive: no archive root (give --root or set {ROOT_ENV})")
    return Path(root)


def add_arguments(subparsers: Any) -> None:
    """Register query, verify, purge on the subparsers of `vigie archive`."""
    q = subparsers.add_parser("query", help="rows by time range, address, port, user, host")
    q.add_argument("--root", help=f"archive root (default ${ROOT_ENV})")
    q.add_argument(
        "--from", dest="start", required=True, help="start of received time (RFC 3339 or date, UTC)"
    )
    q.add_argument("--to", dest="end", required=True, help="end of received time, exclusive")
    q.add_argument("--ip", help="address on any side: source, NAT-translated or destination")
    q.add_argument("--src-ip")
    q.add_argument("--dst-ip")
    q.add_argument("--nat-ip")
    q.add_argument("--port", type=int, help="port on any side; with --ip, on the same side as the address")
    q.add_argument("--user")
    q.add_argument("--host", help="the device that logged (syslog hostname)")
    q.add_argument("--mac")
    q.add_argument("--limit", type=int)
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.add_argument(
        "--engine",
        choices=("auto", "duckdb", "pyarrow"),
        default="auto",
        help="auto (default): the pyarrow engine with the per-file address index; duckdb: DuckDB, when installed",
    )
    q.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    q.set_defaults(archive_func=query_main)

    v = subparsers.add_parser("verify", help="recompute the manifest chain and every file's SHA-256")
    v.add_argument("--root", help=f"archive root (default ${ROOT_ENV})")
    v.add_argument("--quiet", action="store_true", help="print findings only")
    v.add_argument(
        "--expect-head", metavar="HASH", help="a chain head kept outside the archive: fail unless the chain extends it"
    )
    v.add_argument(
        "--against-topic", action="store_true", help="check every head the sink published to the archive.heads topic"
    )
    v.add_argument("--bootstrap", help="Kafka bootstrap servers for --against-topic (default: the config's)")
    v.set_defaults(archive_func=verify_main)

    p = subparsers.add_parser("purge", help="remove hour partitions older than the retention period")
    p.add_argument("--root", help=f"archive root (default ${ROOT_ENV})")
    p.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help=f"default: [archive] retention_days of the config, else {DEFAULT_RETENTION_DAYS}",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument("--now", help=argparse.SUPPRESS)  # tests and reruns: the reference time
    p.set_defaults(archive_func=purge_main)


# ------------------------------------------------------------------- verify


def kafka_settings_of(args: argparse.Namespace) -> Any:
    """Kafka settings from --bootstrap, else the config ([kafka] bootstrap_servers, or the local broker's address)."""
    from vigie.config import kafka_settings, load

    cfg = load(getattr(args, "config", None))
    bootstrap = getattr(args, "bootstrap", None) or cfg.kafka.bootstrap_servers
    if not bootstrap:
        host, port = cfg.kafka.local_listen
        bootstrap = f"{host}:{port}"
    return kafka_settings(cfg, bootstrap)


def verify_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the findings and the chain head; exit status 1 when any file is missing, altered or extra,
    the chain is broken, or it does not extend the anchored head(s)."""
    from vigie.pipelines.archive.anchor import expect_head_finding
    from vigie.pipelines.archive.manifest import verify

    out = out or sys.stdout
    root = _root(args)
    quiet = getattr(args, "quiet", False)
    if not root.is_dir():
        raise SystemExit(f"vigie archive verify: no archive at {root}")

    def progress(done: int, total: int, path: str) -> None:
        if not quiet and sys.stderr.isatty() and (done % 50 == 0 or done == total):
            sys.stderr.write(f"\rhashed {done}/{total} files")
            if done == total:
                sys.stderr.write("\n")

    report = verify(root, progress)
    anchors: list[str] = []
    expect = getattr(args, "expect_head", None)
    if expect:
        finding = expect_head_finding(report.hashes, expect)
        if finding is not None:
            anchors.append(finding)
    if getattr(args, "against_topic", False):
        anchors += _against_topic(args, root, report.hashes, out if not quiet else None)
    if anchors and report.ok and len(anchors) == 1:
        out.write(f"FAILED: {anchors[0]}\n")  # one line: the chain is sound but not the one anchored
        return 1
    for label, items in (
        ("missing", report.missing),
        ("altered", report.altered),
        ("extra", report.extra),
        ("chain", report.chain),
        ("anchor", anchors),
        ("quarantined", report.quarantined),
    ):
        for item in items:
            out.write(f"{label}: {item}\n")
    ok = report.ok and not anchors
    if not quiet or not ok:
        out.write(
            f"{'OK' if ok else 'FAILED'}: {report.files_checked} files hashed, {report.entries} manifest entries, "
            f"{len(report.missing)} missing, {len(report.altered)} altered, {len(report.extra)} extra, "
            f"{len(report.chain)} chain breaks, {len(anchors)} anchor failures, "
            f"{len(report.quarantined)} quarantined\n"
        )
    if not quiet:
        seq, head = report.head
        out.write(f"head: seq {seq} {head}\n")
    return 0 if ok else 1


def _against_topic(args: argparse.Namespace, root: Path, hashes: dict[str, int], out: TextIO | None) -> list[str]:
    """The findings of checking every head published for this archive against the chain."""
    from confluent_kafka import KafkaException

    from vigie.pipelines.archive.anchor import read_published_heads, topic_findings
    from vigie.topics import ARCHIVE_HEADS

    settings = kafka_settings_of(args)
    topic = settings.topic(ARCHIVE_HEADS)
    try:
        heads, bad = read_published_heads(settings, topic, str(root.resolve()))
    except (TimeoutError, KafkaException) as exc:
        raise SystemExit(f"vigie archive verify: could not read {topic}: {exc}") from exc
    checked, findings = topic_findings(hashes, heads)
    if not checked:
        findings.append(f"no head of {root.resolve()} was ever published to {topic}")
    if out is not None:
        out.write(f"topic: {checked} published heads checked, {bad} unreadable records\n")
    return findings


# ------------------------------------------------------------------- purge


def purge_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Purge (or list, with --dry-run) the partitions past retention."""
    from vigie.pipelines.archive.query import parse_time
    from vigie.pipelines.archive.retention import purge
    from vigie.schemas.codec import rfc3339

    out = out or sys.stdout
    now = parse_time(args.now) if getattr(args, "now", None) else datetime.now(UTC)
    days = args.retention_days or DEFAULT_RETENTION_DAYS
    report = purge(_root(args), days, now=now, dry_run=args.dry_run)
    verb = "would remove" if report.dry_run else "removed"
    for part in report.partitions:
        out.write(f"{verb} {part}\n")
    out.write(
        f"{verb} {len(report.partitions)} partitions, {len(report.files)} files, {report.rows} rows, "
        f"{report.bytes} bytes received before {rfc3339(report.cutoff)}\n"
    )
    return 0


# ------------------------------------------------------------------- query


def _spec(args: argparse.Namespace) -> QuerySpec:
    from vigie.pipelines.archive.query import QuerySpec, parse_time

    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as exc:
        raise SystemExit(f"vigie archive query: bad --from/--to: {exc}") from exc
    if end <= start:
        raise SystemExit("vigie archive query: --to must be after --from")
    return QuerySpec(
        start=start,
        end=end,
        ip=args.ip,
        src_ip=args.src_ip,
        dst_ip=args.dst_ip,
        nat_ip=getattr(args, "nat_ip", None),
        port=args.port,
        user=args.user,
        host=args.host,
        mac=getattr(args, "mac", None),
        limit=getattr(args, "limit", None),
    )


def query_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Answer one question; table for people, csv and json (one object per line) for tools."""
    from vigie.pipelines.archive import answer
    from vigie.pipelines.archive.query import TABLE_COLUMNS, query, stderr_progress
    from vigie.schemas.archive import ARCHIVE_SCHEMA

    command_line = out is None  # the command itself, not a caller that goes on running
    out = out or sys.stdout
    try:
        spec = _spec(args)
    except ValueError as exc:
        raise SystemExit(f"vigie archive query: {exc}") from exc
    fmt = args.format
    columns = list(TABLE_COLUMNS) if fmt == "table" else list(ARCHIVE_SCHEMA.names)
    progress = None if getattr(args, "no_progress", False) else stderr_progress()
    table = query(_root(args), spec, columns, progress, engine=getattr(args, "engine", "auto"))
    if fmt == "json":
        out.write(answer.json_lines(table, columns))
    elif fmt == "csv":
        values = answer.column_values(table, text=True)
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        w.writerows(zip(*values, strict=True))
    else:
        answer.write_table(out, columns, answer.column_values(table, text=True), table.num_rows)
    if command_line:
        import gc

        # The process ends now: keep the interpreter's exit from walking every object of every module
        # (pyarrow's are many) in its last garbage collections, ~0.05 s of an auditor's wait. Only
        # objects alive now are exempted (nothing is left to collect in a process that exits).
        gc.freeze()
    return 0
