"""The `vigie archive` verbs (query, verify, purge, sink): argument parsing and output; the work is done elsewhere."""

from __future__ import annotations

import argparse
import csv
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from vigie.topics import RAW_SYSLOG

if TYPE_CHECKING:
    from vigie.pipelines.archive.query import QuerySpec

# Each verb imports what it needs when it runs: an auditor's `vigie archive query` loads neither
# the Kafka client (sink) nor the manifest and retention code (verify, purge), nor orjson unless
# the answer is JSON (python -X importtime shows what a verb loads).
ROOT_ENV = "VIGIE_ARCHIVE_ROOT"
DEFAULT_RETENTION_DAYS = 365  # retention.DEFAULT_RETENTION_DAYS (a test keeps them equal), for --help


def _root(args: argparse.Namespace) -> Path:
    root = getattr(args, "root", None) or os.environ.get(ROOT_ENV)
    if not root:
        raise SystemExit(f"vigie archive: no archive root (give --root or set {ROOT_ENV})")
    return Path(root)


def add_arguments(subparsers: Any) -> None:
    """Register query, verify, purge and sink on the subparsers of `vigie archive`."""
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

    s = subparsers.add_parser("sink", help="run the archive sink alone (Kafka → Parquet)")
    add_sink_arguments(s)
    s.set_defaults(archive_func=sink_main)


def add_sink_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--root", help=f"archive root (default ${ROOT_ENV})")
    s.add_argument("--bootstrap", default=os.environ.get("VIGIE_BOOTSTRAP", "127.0.0.1:9092"))
    s.add_argument("--prefix", default="vigie.", help="topic prefix")
    s.add_argument("--topic", action="append", help=f"logical raw topic (repeatable; default {RAW_SYSLOG})")
    s.add_argument("--group", default="vigie-archive")
    s.add_argument(
        "--instance-id", help="static group membership: a restart takes the partitions back at once"
    )
    s.add_argument("--max-rows", type=int, default=500_000)
    s.add_argument("--idle-timeout", type=float, default=60.0)
    s.add_argument("--max-age", type=float, default=None)
    s.add_argument("--batch-size", type=int, default=50_000)
    s.add_argument(
        "--session-timeout", type=float, default=None,
        help="seconds without heartbeat before the group gives this member's partitions to another",
    )  # fmt: skip
    s.add_argument("--log-level", default="INFO")


# ------------------------------------------------------------------- verify


def verify_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the findings; exit status 1 when any file is missing, altered or extra, or the chain is broken."""
    from vigie.pipelines.archive.manifest import verify

    out = out or sys.stdout
    root = _root(args)
    quiet = getattr(args, "quiet", False)

    def progress(done: int, total: int, path: str) -> None:
        if not quiet and sys.stderr.isatty() and (done % 50 == 0 or done == total):
            sys.stderr.write(f"\rhashed {done}/{total} files")
            if done == total:
                sys.stderr.write("\n")

    report = verify(root, progress)
    for label, items in (
        ("missing", report.missing),
        ("altered", report.altered),
        ("extra", report.extra),
        ("chain", report.chain),
    ):
        for item in items:
            out.write(f"{label}: {item}\n")
    if not quiet or not report.ok:
        status = "OK" if report.ok else "FAILED"
        out.write(
            f"{status}: {report.files_checked} files hashed, {report.entries} manifest entries, "
            f"{len(report.missing)} missing, {len(report.altered)} altered, {len(report.extra)} extra, "
            f"{len(report.chain)} chain breaks\n"
        )
    return 0 if report.ok else 1


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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        from vigie.schemas.codec import rfc3339

        return rfc3339(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def query_main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Answer one question; table for people, csv and json (one object per line) for tools."""
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
        out.write(_json_lines(table, columns))
    elif fmt == "csv":
        values = _column_values(table, text=True)
        w = csv.writer(out, lineterminator="\n")
        w.writerow(columns)
        w.writerows(zip(*values, strict=True))
    else:
        _table(out, columns, _column_values(table, text=True), table.num_rows)
    if command_line:
        import gc

        # The process ends now: keep the interpreter's exit from walking every object of every module
        # (pyarrow's are many) in its last garbage collections, ~0.05 s of an auditor's wait. Only
        # objects alive now are exempted (nothing is left to collect in a process that exits).
        gc.freeze()
    return 0


def _column_values(table: Any, text: bool) -> list[list[Any]]:
    """Each column as a Python list, converted column by column (Arrow kernels, not one call per cell).

    Times are RFC 3339 UTC with microseconds, `raw` is text (undecodable bytes escaped); with text,
    every value is a string and null is "" (table, csv), else numbers stay numbers and null is None (json).
    """
    import pyarrow as pa

    from vigie.pipelines.archive.query import call_function

    out: list[list[Any]] = []
    for col in table.columns:
        t = col.type
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Z"):
            v = _rfc3339(col)
        elif pa.types.is_timestamp(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            cells = [None if x is None else _cell(x) for x in col.to_pylist()]
            out.append(["" if x is None else x for x in cells] if text else cells)
            continue
        elif text and not pa.types.is_string(t):
            v = call_function("cast", [col], _cast_options(pa.string()))
        else:
            v = col
        # A typed scalar: an untyped one makes pyarrow set up its type inference (it imports dateutil).
        out.append((call_function("coalesce", [v, pa.scalar("", pa.string())]) if text else v).to_pylist())
    return out


def _rfc3339(col: Any) -> Any:
    """A UTC timestamp column as RFC 3339 text with microseconds (strftime's "%Y-%m-%dT%H:%M:%SZ"),
    assembled from its fields: Arrow's strftime takes ~3 µs a value, a third of the time of a big answer."""
    import pyarrow as pa

    from vigie.pipelines.archive.query import call_function

    t = col.type
    us = call_function("cast", [col], _cast_options(pa.int64()))
    low = call_function("min_max", [us])["min"].as_py() if len(col) else None
    if t.unit != "us" or (low is not None and low < 0):  # before 1970: strftime's way
        return call_function("strftime", [col], _strftime_options())
    naive = call_function("cast", [col], _cast_options(pa.timestamp("us")))
    second = pa.scalar(1_000_000, pa.int64())
    micros = call_function(
        "subtract", [us, call_function("multiply", [call_function("divide", [us, second]), second])]
    )

    def padded(values: Any, width: int) -> Any:
        text = call_function("cast", [values], _cast_options(pa.string()))
        return call_function("utf8_lpad", [text], _pad_options(width))

    fields = [call_function(f, [naive]) for f in ("year", "month", "day", "hour", "minute", "second")]
    parts = [padded(fields[0], 4)]
    for sep, values in zip("--T::", fields[1:], strict=True):
        parts += [_text(sep), padded(values, 2)]
    parts += [_text("."), padded(micros, 6), _text("Z")]
    return call_function("binary_join_element_wise", [*parts, _text("")])


def _json_lines(table: Any, columns: list[str]) -> str:
    """One JSON object per row (as orjson.dumps of the row's dict writes it), assembled column by column:
    strings are encoded once per distinct value, numbers and times by Arrow kernels."""
    import orjson
    import pyarrow as pa

    from vigie.pipelines.archive.query import call_function

    if table.num_rows == 0:
        return ""
    null = _text("null")
    parts: list[Any] = []
    for i, (name, col) in enumerate(zip(columns, table.columns, strict=True)):
        col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        t = col.type
        if pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00", "Z"):
            text = _rfc3339(col)
            values = call_function(
                "binary_join_element_wise",
                [_text('"'), text, _text('"'), _text("")],
            )
        elif pa.types.is_integer(t):
            values = call_function("cast", [col], _cast_options(pa.string()))
        elif pa.types.is_string(t):
            enc = call_function("dictionary_encode", [col])
            encoded = pa.array([orjson.dumps(v).decode() for v in enc.dictionary.to_pylist()], pa.string())
            values = call_function("take", [encoded, enc.indices])
        else:  # raw bytes (undecodable ones escaped) and other times as the table shows them; the rest as is
            values = pa.array(
                [
                    None
                    if v is None
                    else orjson.dumps(_cell(v) if isinstance(v, bytes | datetime) else v).decode()
                    for v in col.to_pylist()
                ],
                pa.string(),
            )
        parts += [_text(("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":")]
        parts += [call_function("coalesce", [values, null])]
    parts.append(_text("}"))
    rows = call_function("binary_join_element_wise", [*parts, _text("")])
    return "\n".join(rows.to_pylist()) + "\n"


def _text(value: str) -> Any:
    """A typed string scalar (an untyped one sets up pyarrow's type inference, which imports dateutil)."""
    import pyarrow as pa

    return pa.scalar(value, pa.string())


def _pad_options(width: int) -> Any:
    try:
        from pyarrow._compute import PadOptions
    except ImportError:  # pragma: no cover
        from pyarrow.compute import PadOptions
    return PadOptions(width, "0")


def _strftime_options() -> Any:
    try:
        from pyarrow._compute import StrftimeOptions
    except ImportError:  # pragma: no cover
        from pyarrow.compute import StrftimeOptions
    return StrftimeOptions("%Y-%m-%dT%H:%M:%SZ")


def _cast_options(to: Any) -> Any:
    try:
        from pyarrow._compute import CastOptions
    except ImportError:  # pragma: no cover
        from pyarrow.compute import CastOptions
    return CastOptions.safe(to)


def _table(out: TextIO, columns: list[str], values: list[list[str]], n: int) -> None:
    """Aligned columns; those empty on every row are left out (received_at always shown)."""
    keep = [i for i, c in enumerate(columns) if c == "received_at" or any(values[i])]
    widths = [max(len(columns[i]), max(map(len, values[i]), default=0)) for i in keep]
    out.write("  ".join(columns[i].ljust(w) for i, w in zip(keep, widths, strict=True)).rstrip() + "\n")
    padded = [[v.ljust(w) for v in values[i]] for i, w in zip(keep, widths, strict=True)]
    out.write("".join("  ".join(row).rstrip() + "\n" for row in zip(*padded, strict=True)))
    out.write(f"({n} rows)\n")


# ------------------------------------------------------------------- sink


def sink_main(args: argparse.Namespace) -> int:
    """Run the sink in the foreground until SIGTERM or SIGINT, then flush and commit."""
    from vigie.kafka_client import KafkaSettings
    from vigie.pipelines.archive.sink import ArchiveSink, SinkConfig

    logging.basicConfig(
        level=getattr(logging, str(getattr(args, "log_level", "INFO")).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=args.prefix)
    config = SinkConfig(
        root=_root(args),
        topics=tuple(args.topic or (RAW_SYSLOG,)),
        group_id=args.group,
        max_rows=args.max_rows,
        idle_timeout=args.idle_timeout,
        max_age=args.max_age,
        batch_size=args.batch_size,
        consumer_overrides=_consumer_overrides(args),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    sink = ArchiveSink(settings, config)
    sink.run(stop)
    logging.getLogger(__name__).info(
        "archive sink stopped: %d files, %d rows; first message taken at %s, last file written at %s (epoch s)",
        sink.files_written, sink.rows_written, sink.first_consumed_at, sink.last_written_at,
    )  # fmt: skip
    return 0


def _consumer_overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if getattr(args, "instance_id", None):
        out["group.instance.id"] = args.instance_id
    if getattr(args, "session_timeout", None):
        out["session.timeout.ms"] = int(args.session_timeout * 1000)
        out["heartbeat.interval.ms"] = max(100, int(args.session_timeout * 1000) // 6)
    return out


def sink_standalone(argv: list[str] | None = None) -> int:
    """`python -m vigie.pipelines.archive.sink --bootstrap ... --prefix ... --root ... --group ...`."""
    parser = argparse.ArgumentParser(prog="vigie-archive-sink")
    add_sink_arguments(parser)
    return sink_main(parser.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    """`vigie archive ...` until the lead wires it into vigie/cli.py."""
    parser = argparse.ArgumentParser(prog="vigie archive")
    sub = parser.add_subparsers(dest="verb", required=True)
    add_arguments(sub)
    args = parser.parse_args(argv)
    return args.archive_func(args)


if __name__ == "__main__":
    raise SystemExit(main())
