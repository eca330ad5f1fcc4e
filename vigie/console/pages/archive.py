"""Archive (auditors only): the question of `vigie archive query` as a form, its answer paged, CSV and Parquet
downloads of that answer, the manifest's chain head and the last `vigie archive verify` run from here.

Every query and every download is recorded as the CLI records a query (pipelines/archive/audit.py: the
hash-linked <root>/audit.jsonl first, then the audit topic), with the console user's name and
`via: console`; a query whose record cannot be written is refused. An answer is computed once, kept in
memory (a few answers, at most MAX_ROWS rows each) and paged from there: turning a page is not a new
access to the archive, a download is (it hands the rows out of the console).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from vigie.console.server import CONSOLE, NavItem, Route, T, error_page, render, user_of
from vigie.pipelines.archive.query import TABLE_COLUMNS, QuerySpec, normalise_ip

log = logging.getLogger("vigie.console")
PAGE_SIZE = 100
# Answers are kept in the console's memory for paging and downloads: bigger ones are `vigie archive export`'s.
MAX_ROWS = 100_000
MAX_ANSWERS = 8  # the least recently used answer is dropped beyond this many
ANSWER_LIFETIME = 3600.0
_IP_FIELDS = ("ip", "src_ip", "dst_ip", "nat_ip")
_TEXT_FIELDS = ("user", "host", "mac")
FORM_FIELDS = ("from", "to", *_IP_FIELDS, "port", *_TEXT_FIELDS, "limit", "include_unlisted")


class FormError(ValueError):
    """A question that cannot be asked, said in one line (the form comes back with it)."""


def local_time(text: str, zone: ZoneInfo, name: str) -> datetime:
    """A time typed in the form (datetime-local "YYYY-MM-DDTHH:MM[:SS]", or a date) in the console's zone;
    one with an explicit offset or Z keeps it. Returned in UTC, as the archive stores times."""
    value = text.strip()
    if not value:
        raise FormError(f"{name}: a time is required")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FormError(f"{name}: {value!r} is not a time (YYYY-MM-DD HH:MM)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _int(form: Mapping[str, str], key: str) -> int | None:
    value = form.get(key, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise FormError(f"{key}: {value!r} is not a whole number") from None


def parse_form(form: Mapping[str, str], zone: ZoneInfo) -> tuple[QuerySpec, bool]:
    """(the question, include unlisted files) with every value checked as `vigie archive query` checks it."""
    start, end = local_time(form.get("from", ""), zone, "from"), local_time(form.get("to", ""), zone, "to")
    if end <= start:
        raise FormError("to must be after from")
    ips: dict[str, str | None] = {}
    for key in _IP_FIELDS:
        value = form.get(key, "").strip()
        if value:
            try:
                normalise_ip(value)
            except ValueError:
                raise FormError(f"{key}: {value!r} is not an IP address") from None
        ips[key] = value or None
    port, limit = _int(form, "port"), _int(form, "limit")
    if port is not None and not 0 <= port <= 65535:
        raise FormError(f"port: {port} is not a port (0-65535)")
    if limit is not None and limit < 1:
        raise FormError(f"limit: {limit} is not a positive count of rows")
    texts = {key: form.get(key, "").strip() or None for key in _TEXT_FIELDS}
    spec = QuerySpec(start=start, end=end, port=port, limit=min(limit or MAX_ROWS, MAX_ROWS), **ips, **texts)
    return spec, bool(form.get("include_unlisted"))


def default_form(now: float, zone: ZoneInfo) -> dict[str, str]:
    """The form as first shown: the last hour, in local time."""
    end = datetime.fromtimestamp(now, zone).replace(second=0, microsecond=0)
    form = dict.fromkeys(FORM_FIELDS, "")
    form["from"], form["to"] = _input_time(end - timedelta(hours=1)), _input_time(end)
    return form


def _input_time(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M")


@dataclass
class Answer:
    """One audited answer, kept for paging and downloads by the user who asked it."""

    owner: str
    table: Any  # pyarrow.Table, every column of the archive
    question: dict[str, Any]
    form: dict[str, str]
    partial: int  # files that could not be read
    audit_at: str
    made: float


class Answers:
    """The last answers, per id (an unguessable token): least recently used dropped first, old ones expire."""

    def __init__(self, capacity: int = MAX_ANSWERS, lifetime: float = ANSWER_LIFETIME) -> None:
        self.capacity, self.lifetime = capacity, lifetime
        self._answers: OrderedDict[str, Answer] = OrderedDict()

    def put(self, answer: Answer) -> str:
        key = secrets.token_urlsafe(12)
        self._answers[key] = answer
        while len(self._answers) > self.capacity:
            self._answers.popitem(last=False)
        return key

    def get(self, key: str, owner: str, now: float) -> Answer | None:
        """The answer, only to the one who asked it, while it lasts."""
        answer = self._answers.get(key)
        if answer is None or answer.owner != owner:
            return None
        if now - answer.made > self.lifetime:
            del self._answers[key]
            return None
        self._answers.move_to_end(key)
        return answer


def page_of(table: Any, page: int, size: int = PAGE_SIZE) -> tuple[list[dict[str, str]], int, int]:
    """(the rows of page `page` (1-based, clamped) as text, that page, the number of pages)."""
    from vigie.pipelines.archive.answer import column_values

    pages = max(1, -(-table.num_rows // size))
    page = min(max(1, page), pages)
    part = table.slice((page - 1) * size, size).select(list(TABLE_COLUMNS))
    columns = column_values(part, text=True)
    return [dict(zip(TABLE_COLUMNS, row, strict=True)) for row in zip(*columns, strict=True)], page, pages


def shown_columns(table: Any) -> list[str]:
    """The table's columns after received_at, without those null on every row of the answer (as the CLI's table)."""
    return [c for c in TABLE_COLUMNS[1:] if table.column(c).null_count < table.num_rows]


def csv_bytes(table: Any) -> bytes:
    """The answer as `vigie archive query --format csv` writes it: every column, cells made spreadsheet-safe."""
    from vigie.pipelines.archive.answer import column_values, csv_safe

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.column_names)
    writer.writerows(zip(*csv_safe(column_values(table, text=True)), strict=True))
    return out.getvalue().encode()


def parquet_bytes(table: Any) -> bytes:
    """The answer as one Parquet file with the archive's schema (what `vigie archive export` puts in rows.parquet)."""
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def _root(request: web.Request) -> Path:
    return Path(request.app[CONSOLE].cfg.archive.root)


def _extras(request: web.Request) -> dict[str, Any]:
    extras = request.app[CONSOLE].extras
    extras.setdefault("archive_answers", Answers())
    extras.setdefault("archive_verify_lock", asyncio.Lock())
    return extras


def _has_archive(root: Path) -> bool:
    return (root / "connlog").is_dir() or (root / "manifest.jsonl").is_file()


def _verify_file(request: web.Request) -> Path:
    return Path(request.app[CONSOLE].cfg.state_dir) / "console" / "archive-verify.json"


def last_verify(path: Path) -> dict[str, Any] | None:
    """The last verify run from the console (kept under the state folder so that it survives a restart)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        return {"ok": False, "summary": f"{path}: unreadable ({exc})", "findings": [], "at": None, "user": ""}


def verify_result(root: Path, user: str, now: float) -> dict[str, Any]:
    """Run `vigie archive verify`'s checks (chain and every file's SHA-256): its summary line and findings."""
    from vigie.pipelines.archive.manifest import verify

    report = verify(root)
    findings = [f"{label}: {item}" for label, items in (
        ("missing", report.missing), ("altered", report.altered), ("extra", report.extra),
        ("chain", report.chain), ("quarantined", report.quarantined)) for item in items]  # fmt: skip
    summary = (f"{report.files_checked} files hashed, {report.entries} manifest entries, {len(report.missing)} missing, "
               f"{len(report.altered)} altered, {len(report.extra)} extra, {len(report.chain)} chain breaks, "
               f"{len(report.quarantined)} quarantined")
    return {"ok": report.ok, "summary": summary, "findings": findings[:50], "more": max(0, len(findings) - 50),
            "head": list(report.head), "at": now, "user": user}


def _save_verify(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


async def _page(request: web.Request, status: int = 200, form: dict[str, str] | None = None, error: str = "",
                answer_id: str = "", answer: Answer | None = None, page: int = 1, notice: str = "") -> web.Response:
    console = request.app[CONSOLE]
    root = _root(request)
    loop = asyncio.get_running_loop()
    head = None
    if _has_archive(root):
        from vigie.pipelines.archive.manifest import chain_head

        head = await loop.run_in_executor(None, chain_head, root)
    context: dict[str, Any] = {"rows": [], "page": 1, "pages": 1, "total": 0, "columns": []}
    if answer is not None:
        rows, page, pages = page_of(answer.table, page)
        zone = console.timezone
        for row in rows:
            row["received_at"] = _local(row["received_at"], zone)
        context = {"rows": rows, "page": page, "pages": pages, "total": answer.table.num_rows,
                   "columns": shown_columns(answer.table)}
    return render(request, "archive.html", status=status, form=form or default_form(console.clock(), console.timezone),
                  error=error, notice=notice, root=str(root), has_archive=head is not None, head=head,
                  verify=last_verify(_verify_file(request)), answer_id=answer_id, answer=answer,
                  max_rows=MAX_ROWS, **context)


def _local(rfc3339: str, zone: ZoneInfo) -> str:
    from vigie.console.i18n import to_datetime

    dt = to_datetime(rfc3339)
    return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if dt else rfc3339


async def archive_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


async def _to_topic(request: web.Request, entry: dict[str, Any]) -> str:
    """The archive's audit record on the audit topic too (as the CLI sends it); "" or why it was not."""
    writer = request.app[CONSOLE].writer
    if writer is None:
        return "no Kafka writer"
    try:
        await asyncio.get_running_loop().run_in_executor(None, writer.audit, entry)
    except (TimeoutError, RuntimeError, OSError) as exc:
        log.warning("console: archive audit record not on the audit topic: %s", exc)
        return str(exc)
    return ""


def _topic_notice(request: web.Request, why: str) -> str:
    if not why:
        return ""
    return request[T].gettext("The audit topic was not written (%(why)s); the access is recorded in the archive's "
                              "audit log only.", why=why)


async def run_query(request: web.Request) -> web.StreamResponse:
    """POST /archive: check the question, run it audited in a worker thread, keep the answer, show page 1."""
    from vigie.pipelines.archive.audit import AuditError, audited_query, question_of
    from vigie.schemas.archive import ARCHIVE_SCHEMA

    console = request.app[CONSOLE]
    t = request[T]
    posted = await request.post()
    form = {key: str(posted.get(key, "")) for key in FORM_FIELDS}
    root = _root(request)
    try:
        spec, unlisted = parse_form(form, console.timezone)
    except FormError as exc:
        return await _page(request, 400, form, str(exc))
    if not _has_archive(root):
        return await _page(request, 400, form, t.gettext("No archive at %(root)s.", root=str(root)))
    user = user_of(request)
    question = question_of(spec, root, unlisted)
    loop = asyncio.get_running_loop()
    try:
        table, outcome, entry = await loop.run_in_executor(None, lambda: audited_query(
            root, spec, list(ARCHIVE_SCHEMA.names), user, "query", question, via="console",
            include_unlisted=unlisted))  # fmt: skip
    except AuditError as exc:
        return await _page(request, 503, form, t.gettext("Refused: the access could not be recorded (%(why)s).",
                                                         why=str(exc)))
    answer = Answer(user, table, question, form, len(outcome.unreadable), entry["at"], console.clock())
    key = _extras(request)["archive_answers"].put(answer)
    notice = _topic_notice(request, await _to_topic(request, entry))
    return await _page(request, 200, form, answer_id=key, answer=answer, notice=notice)


def _answer(request: web.Request) -> Answer | None:
    console = request.app[CONSOLE]
    return _extras(request)["archive_answers"].get(request.match_info["answer"], user_of(request), console.clock())


async def show_answer(request: web.Request) -> web.StreamResponse:
    """GET /archive/answers/{answer}?page=N: another page of a kept answer (not a new access)."""
    answer = _answer(request)
    if answer is None:
        return await _page(request, 404, error=request[T].gettext("This answer is no longer kept: ask the question again."))
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        page = 1
    return await _page(request, 200, answer.form, answer_id=request.match_info["answer"], answer=answer, page=page)


_FORMATS = {"csv": ("text/csv; charset=utf-8", csv_bytes), "parquet": ("application/vnd.apache.parquet", parquet_bytes)}


async def download(request: web.Request) -> web.StreamResponse:
    """GET /archive/answers/{answer}/rows.{csv,parquet}: the whole answer, recorded as an access of its own."""
    from vigie.pipelines.archive.audit import AuditError, AuditLog, record

    answer = _answer(request)
    t = request[T]
    if answer is None:
        return error_page(request, 404, t.gettext("This answer is no longer kept: ask the question again."))
    fmt = request.match_info["fmt"]
    content_type, encode = _FORMATS[fmt]
    root = _root(request)
    entry = record(answer.owner, "download", {**answer.question, "format": fmt}, answer.table.num_rows, via="console",
                   answer_of=answer.audit_at)

    def write() -> tuple[dict[str, Any], bytes]:
        with AuditLog(root) as audit_log:
            appended = audit_log.append(entry)
        return appended, encode(answer.table)

    try:
        entry, body = await asyncio.get_running_loop().run_in_executor(None, write)
    except AuditError as exc:
        return error_page(request, 503, t.gettext("Refused: the access could not be recorded (%(why)s).", why=str(exc)))
    await _to_topic(request, entry)
    stamp = answer.audit_at.replace(":", "").replace("-", "")[:15]
    return web.Response(body=body, content_type=content_type.split(";")[0], charset="utf-8" if fmt == "csv" else None,
                        headers={"Content-Disposition": f'attachment; filename="archive-{stamp}.{fmt}"',
                                 "Cache-Control": "no-store"})


async def run_verify(request: web.Request) -> web.StreamResponse:
    """POST /archive/verify: `vigie archive verify` now (chain and hashes); the result is kept and shown."""
    console = request.app[CONSOLE]
    t = request[T]
    root = _root(request)
    if not _has_archive(root):
        return await _page(request, 400, error=t.gettext("No archive at %(root)s.", root=str(root)))
    lock: asyncio.Lock = _extras(request)["archive_verify_lock"]
    if lock.locked():
        return await _page(request, 409, error=t.gettext("A verify is already running."))
    async with lock:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        result = await loop.run_in_executor(None, verify_result, root, user_of(request), console.clock())
        result["seconds"] = round(time.monotonic() - started, 2)
        await loop.run_in_executor(None, _save_verify, _verify_file(request), result)
    await console.audit(request, "archive verify", str(root), "ok" if result["ok"] else "failed",
                        summary=result["summary"])
    return await _page(request)


ROUTES = [
    Route("GET", "/archive", archive_page, capability="archive"),
    Route("POST", "/archive", run_query, capability="archive"),
    Route("GET", "/archive/answers/{answer}", show_answer, capability="archive"),
    Route("GET", "/archive/answers/{answer}/rows.{fmt:csv|parquet}", download, capability="archive"),
    Route("POST", "/archive/verify", run_verify, capability="archive"),
]
NAV = [NavItem("/archive", "Archive", capability="archive")]
