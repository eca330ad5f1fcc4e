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
    q.add_argument(
        "--include-unlisted", action="store_true", help="also read files the manifest does not record (named on stderr)"
    )
    q.add_argument("--bootstrap", help="Kafka bootstrap servers for the audit topic (default: the config's)")
    q.set_defaults(archive_func=query_main)

    e = subparsers.add_parser("export", help="a requisition's rows as Parquet and CSV with a signed summary")
    e.add_argument("--root", help=f"archive root (default ${ROOT_ENV})")
    e.add_argument("--check", metavar="DIR", help="check an export folder instead: signature and every file's SHA-256")
    e.add_argument("--expect-key", metavar="SHA256|PEM", help="with --check: the signer's public key fingerprint or file")
    e.add_argument("--ip", help="address on any side: source, NAT-translated or destination")
    e.add_argument("--from", dest="start", help="start of received time (RFC 3339 or date, UTC)")
    e.add_argument("--to", dest="end", help="end of received time, exclusive")
    e.add_argument("--port", type=int, help="port on any side; with --ip, on the same side as the address")
    e.add_argument("--out", help="the export folder (must not exist or be empty)")
    e.add_argument("--key-env", help="environment variable holding the Ed25519 signing key (default [archive] export_key_env)")
    e.add_argument("--include-unlisted", action="store_true", help="also read files the manifest does not record")
    e.add_argument("--bootstrap", help="Kafka bootstrap servers for the audit topic (default: the config's)")
    e.set_defaults(archive_func=export_main)

    a = subparsers.add_parser("audit", help="who queried the archive, when, what, how many rows")
    a.add_argument("--root", help=f"archive root (default ${ROOT_ENV})")
    a.add_argument("--from", dest="start", help="from this time (RFC 3339 or date, UTC)")
    a.add_argument("--to", dest="end", help="before this time")
    a.add_argument("--format", choices=("table", "json"), default="table")
    a.set_defaults(archive_func=audit_main)

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


def _kafka(args: argparse.Namespace) -> tuple[Any, Any]:
    """(Kafka settings, config): --bootstrap, else the config's [kafka] bootstrap_servers, else the local broker."""
    from vigie.config import kafka_settings, load

    cfg = load(getattr(args, "config", None))
    bootstrap = getattr(args, "bootstrap", None) or cfg.kafka.bootstrap_servers
    if not bootstrap:
        host, port = cfg.kafka.local_listen
        bootstrap = f"{host}:{port}"
    return kafka_settings(cfg, bootstrap), cfg


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

    settings, _ = _kafka(args)
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


# ------------------------------------------------------------------- export


def export_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Write an export folder (audited like a query), or check one with --check."""
    from vigie.pipelines.archive.export import ExportError, check_export

    out = out or sys.stdout
    if getattr(args, "check", None):
        try:
            report = check_export(Path(args.check), getattr(args, "expect_key", None))
        except ExportError as exc:
            raise refuse("export", str(exc)) from exc
        for finding in report.findings:
            out.write(f"FAILED: {finding}\n")
        head = report.summary.get("chain_head") or {}
        if report.ok:
            out.write(
                f"OK: {report.summary.get('rows')} rows, {len(report.summary.get('files') or {})} files as signed by key "
                f"{report.key_fingerprint}; chain head at export: seq {head.get('seq')} {head.get('hash')}\n"
            )
        return 0 if report.ok else 1
    return _export(args, out)


def _export(args: argparse.Namespace, out: TextIO) -> int:
    from vigie.pipelines.archive import answer
    from vigie.pipelines.archive.export import ExportError, load_private_key, write_export
    from vigie.pipelines.archive.manifest import chain_head
    from vigie.schemas.archive import ARCHIVE_SCHEMA

    if not (args.start and args.end and args.out):
        raise refuse("export", "--from, --to and --out are required (or --check DIR)")
    for name in ("src_ip", "dst_ip", "nat_ip", "user", "host", "mac", "limit"):
        setattr(args, name, getattr(args, name, None))
    spec = _spec(args, "export")
    key_env = getattr(args, "key_env", None)
    if key_env is None:
        from vigie.config import load

        key_env = load(getattr(args, "config", None)).archive.export_key_env
    if not key_env or not os.environ.get(key_env):
        raise refuse("export", "no signing key: set [archive] export_key_env (or --key-env) to a variable holding one")
    try:
        key = load_private_key(os.environ[key_env])
    except ExportError as exc:
        raise refuse("export", f"{key_env}: {exc}") from exc
    target = Path(args.out)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise refuse("export", f"{target} exists and is not an empty folder: an export is never written over another")
    root = _existing_root(args, "export")
    head = chain_head(root)
    columns = list(ARCHIVE_SCHEMA.names)
    table, outcome, entry = run_audited(args, "export", spec, columns)
    facts = {"partial": outcome.partial, "unreadable_files": outcome.unreadable, "audit_at": entry["at"],
             "exported_by": entry["user"]}  # fmt: skip
    values = answer.csv_safe(answer.column_values(table, text=True))
    try:
        summary = write_export(target, table, values, entry["question"], head, key, facts)
    except (ExportError, OSError) as exc:
        raise refuse("export", str(exc)) from exc
    out.write(
        f"exported {table.num_rows} rows to {target}: rows.parquet, rows.csv, SHA256SUMS, summary.json signed by key "
        f"{summary['signature']['public_key_sha256']}; chain head seq {head[0]} {head[1]}"
        f"{'' if head[2] else ' (CHAIN BROKEN: run vigie archive verify)'}\n"
    )
    if outcome.partial:
        sys.stderr.write(f"vigie archive export: PARTIAL: {len(outcome.unreadable)} files could not be read\n")
    audit_to_topic(args, "export", entry)
    return EXIT_PARTIAL if outcome.partial else 0


# ------------------------------------------------------------------- audit


def audit_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """List the audit log; exit 1 when a line of it is damaged (named in the output)."""
    import orjson

    from vigie.pipelines.archive.audit import read_log
    from vigie.pipelines.archive.query import parse_time

    out = out or sys.stdout
    root = _existing_root(args, "audit")
    try:
        start = parse_time(args.start) if getattr(args, "start", None) else None
        end = parse_time(args.end) if getattr(args, "end", None) else None
    except ValueError as exc:
        raise refuse("audit", f"bad --from/--to: {exc}") from exc
    entries = list(read_log(root, start, end))
    damaged = [e["error"] for e in entries if "error" in e]
    records = [e for e in entries if "error" not in e]
    if args.format == "json":
        out.write("".join(orjson.dumps(e).decode() + "\n" for e in records))
    else:
        rows = [
            [str(e.get("at", "")), str(e.get("user", "")), str(e.get("action", "")), str(e.get("rows", "")),
             "partial" if e.get("partial") else "",
             " ".join(f"{k}={v}" for k, v in (e.get("question") or {}).items() if k != "root")]
            for e in records
        ]  # fmt: skip
        header = ["at", "user", "action", "rows", "", "question"]
        widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(header))]
        for r in [header, *rows]:
            out.write("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")
        out.write(f"({len(records)} accesses)\n")
    for d in damaged:
        sys.stderr.write(f"vigie archive audit: damaged log: {d}\n")
    return 1 if damaged else 0


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

EXIT_USAGE = 2  # a question that cannot be asked: bad root, address, port, time or count
EXIT_PARTIAL = 3  # answered, but some files could not be read: the answer may lack rows
EXIT_AUDIT = 4  # refused: the access could not be recorded in the archive's audit log
LOCAL_BROKER = "127.0.0.1:9092"  # [kafka] local_listen's default (a test keeps them equal), when no config is named


def refuse(verb: str, message: str, code: int = EXIT_USAGE) -> SystemExit:
    """One line on stderr and the exit status (SystemExit(str) would always exit 1)."""
    sys.stderr.write(f"vigie archive {verb}: {message}\n")
    return SystemExit(code)


def _spec(args: argparse.Namespace, verb: str = "query") -> QuerySpec:
    """The question, every value checked: a mistyped address or time is refused, never answered "(0 rows)"."""
    from vigie.pipelines.archive.query import QuerySpec, normalise_ip, parse_time

    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as exc:
        raise refuse(verb, f"bad --from/--to: {exc}") from exc
    if end <= start:
        raise refuse(verb, "--to must be after --from")
    for flag in ("ip", "src_ip", "dst_ip", "nat_ip"):
        value = getattr(args, flag, None)
        if value is not None:
            try:
                normalise_ip(value)
            except ValueError:
                raise refuse(verb, f"--{flag.replace('_', '-')}: {value!r} is not an IP address") from None
    port, limit = getattr(args, "port", None), getattr(args, "limit", None)
    if port is not None and not 0 <= port <= 65535:
        raise refuse(verb, f"--port: {port} is not a port (0-65535)")
    if limit is not None and limit < 1:
        raise refuse(verb, f"--limit: {limit} is not a positive count of rows")
    return QuerySpec(
        start=start,
        end=end,
        ip=args.ip,
        src_ip=args.src_ip,
        dst_ip=args.dst_ip,
        nat_ip=getattr(args, "nat_ip", None),
        port=port,
        user=args.user,
        host=args.host,
        mac=getattr(args, "mac", None),
        limit=limit,
    )


def _existing_root(args: argparse.Namespace, verb: str) -> Path:
    root = _root(args)
    if not (root / "connlog").is_dir() and not (root / "manifest.jsonl").is_file():
        raise refuse(verb, f"no archive at {root} (neither connlog/ nor manifest.jsonl)")
    return root


def question_of(args: argparse.Namespace, spec: QuerySpec, root: Path) -> dict[str, Any]:
    """The question as the audit records it (pipelines/archive/audit.py, which the console uses too)."""
    from vigie.pipelines.archive.audit import question_of as question

    return question(spec, root, bool(getattr(args, "include_unlisted", False)))


def run_audited(
    args: argparse.Namespace, verb: str, spec: QuerySpec, columns: list[str], progress: Any = None
) -> tuple[Any, Any, dict[str, Any]]:
    """Run the query with the access recorded: (table, outcome, audit record).

    The audit log is opened before the query (a log that cannot be written refuses at once) and the
    record, with the row count, is fsynced before anything of the answer is shown.
    """
    from vigie.pipelines.archive.audit import AuditError, audited_query, os_user

    root = _existing_root(args, verb)
    unlisted = bool(getattr(args, "include_unlisted", False))
    try:
        table, outcome, entry = audited_query(
            root, spec, columns, os_user(), verb, question_of(args, spec, root),
            engine=getattr(args, "engine", "auto"), include_unlisted=unlisted, progress=progress)  # fmt: skip
    except AuditError as exc:
        raise refuse(verb, f"refused: {exc}", EXIT_AUDIT) from exc
    _warn(verb, outcome, not unlisted)
    return table, outcome, entry


def _warn(verb: str, outcome: Any, listing: bool) -> None:
    for item in outcome.unreadable:
        sys.stderr.write(f"vigie archive {verb}: warning: could not read {item}\n")
    if listing and outcome.unlisted:
        shown = ", ".join(outcome.unlisted[:3]) + (" ..." if len(outcome.unlisted) > 3 else "")
        sys.stderr.write(
            f"vigie archive {verb}: warning: skipped {len(outcome.unlisted)} files not in the manifest "
            f"({shown}); --include-unlisted reads them\n"
        )


def audit_to_topic(args: argparse.Namespace, verb: str, entry: dict[str, Any]) -> None:
    """The record to the audit topic, best effort: a line on stderr says when it is in the local log only.

    Without --config or --bootstrap the local broker's port is tried before any config or Kafka module is
    loaded, so a query on a host without a broker waits for nothing.
    """
    from vigie.pipelines.archive.audit import send_to_topic

    named = getattr(args, "config", None) is not None or getattr(args, "bootstrap", None)
    why = send_to_topic(None if named else LOCAL_BROKER, entry, lambda: _kafka(args))
    if why is not None:
        sys.stderr.write(
            f"vigie archive {verb}: the audit topic was not written ({why}); the access is recorded in the "
            f"archive's audit log only\n"
        )


def query_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Answer one question; table for people, csv and json (one object per line) for tools.

    Exit 0 answered; 2 the question is wrong; 3 partial (files named on stderr could not be read);
    4 refused (the access could not be recorded).
    """
    from vigie.pipelines.archive import answer
    from vigie.pipelines.archive.query import TABLE_COLUMNS, stderr_progress
    from vigie.schemas.archive import ARCHIVE_SCHEMA

    command_line = out is None  # the command itself, not a caller that goes on running
    out = out or sys.stdout
    spec = _spec(args)
    fmt = args.format
    columns = list(TABLE_COLUMNS) if fmt == "table" else list(ARCHIVE_SCHEMA.names)
    progress = None if getattr(args, "no_progress", False) else stderr_progress()
    table, outcome, entry = run_audited(args, "query", spec, columns, progress)
    if fmt == "json":
        out.write(answer.json_lines(table, columns))
    elif fmt == "csv":
        values = answer.csv_safe(answer.column_values(table, text=True))
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        w.writerows(zip(*values, strict=True))
    else:
        answer.write_table(out, columns, answer.terminal_safe(answer.column_values(table, text=True)), table.num_rows)
    if outcome.partial:
        if fmt == "table":
            out.write(f"PARTIAL: {len(outcome.unreadable)} files could not be read; rows may be missing\n")
        sys.stderr.write(f"vigie archive query: PARTIAL answer: {len(outcome.unreadable)} files could not be read\n")
    out.flush()
    audit_to_topic(args, "query", entry)
    if command_line:
        import gc

        # The process ends now: keep the interpreter's exit from walking every object of every module
        # (pyarrow's are many) in its last garbage collections, ~0.05 s of an auditor's wait. Only
        # objects alive now are exempted (nothing is left to collect in a process that exits).
        gc.freeze()
    return EXIT_PARTIAL if outcome.partial else 0
