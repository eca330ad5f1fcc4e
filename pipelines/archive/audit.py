"""Every access to the archive recorded: who asked what, when, and how many rows the answer held.

Access to connection data must be traceable. Each query appends one record to <root>/audit.jsonl
(append-only JSON lines, flocked and fsynced: the archive's own log, which the query cannot do
without) and, best effort, to the `audit` topic (a copy off the archive host). Records are chained
like the manifest ("prev" is the SHA-256 of the previous line), so a removed or edited line shows.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from vigie.errors import ConfigError
from vigie.schemas.codec import rfc3339

AUDIT_LOG = "audit.jsonl"
AUDIT_SCHEMA = "archive-audit/1"
GENESIS = "0" * 64


class AuditError(Exception):
    """The local audit log cannot be written: the query must not be answered."""


def os_user() -> str:
    """The user the query runs as, and the one who ran sudo when it was sudo (both are recorded)."""
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        name = f"uid {os.geteuid()}"
    sudo = os.environ.get("SUDO_USER")
    return f"{name} (sudo by {sudo})" if sudo and sudo != name else name


def record(user: str, action: str, question: dict[str, Any], rows: int, via: str = "cli",
           **facts: Any) -> dict[str, Any]:
    """One audit record (without its chain fields, which AuditLog.append adds); via: "cli" or "console"."""
    return {
        "schema": AUDIT_SCHEMA,
        "at": rfc3339(),
        "user": user,
        "via": via,
        "host": socket.gethostname(),
        "action": action,
        "question": question,
        "rows": rows,
        **facts,
    }


class AuditLog:
    """<root>/audit.jsonl, opened before the query runs so that a log that cannot be written refuses it early."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / AUDIT_LOG
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror}") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Chain, write and fsync one record (under an exclusive flock: several auditors at once)."""
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                tail = os.pread(self._fd, min(size, 64 * 1024), max(0, size - 64 * 1024))
                last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1] if tail.strip() else b""
                entry = {**entry, "prev": hashlib.sha256(last).hexdigest() if last else GENESIS}
                data = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS) + b"\n"
                if size and not tail.endswith(b"\n"):
                    data = b"\n" + data  # a torn line left by a crash stays visible, on its own line
                view = memoryview(data)
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
                os.fsync(self._fd)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror}") from exc
        return entry


def question_of(spec: Any, root: Path, include_unlisted: bool = False) -> dict[str, Any]:
    """The question as the audit records it: every filter given, times in RFC 3339."""
    q: dict[str, Any] = {"root": str(Path(root).resolve()), "from": rfc3339(spec.start), "to": rfc3339(spec.end)}
    for k in ("ip", "src_ip", "dst_ip", "nat_ip", "port", "user", "host", "mac", "limit"):
        if getattr(spec, k) is not None:
            q[k] = getattr(spec, k)
    if include_unlisted:
        q["include_unlisted"] = True
    return q


def audited_query(root: Path, spec: Any, columns: list[str], user: str, verb: str, question: dict[str, Any],
                  *, via: str = "cli", engine: str = "auto", include_unlisted: bool = False,
                  progress: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """Run a query with the access recorded: (table, outcome, chained audit record); AuditError refuses it.

    The log is opened before the query (a log that cannot be written refuses at once) and the record,
    with the row count, is fsynced before the caller shows anything of the answer. The CLI and the
    console both ask through here, so their records are the same but for `user` and `via`.
    """
    from vigie.pipelines.archive.query import Outcome, manifest_paths, query

    with AuditLog(root) as log:
        listed = None if include_unlisted else manifest_paths(root)
        outcome = Outcome()
        table = query(root, spec, columns, progress, engine=engine, listed=listed, outcome=outcome)
        facts = {"partial": outcome.partial, "unreadable_files": len(outcome.unreadable),
                 "unlisted_files_skipped": 0 if listed is None else len(outcome.unlisted)}  # fmt: skip
        entry = log.append(record(user, verb, question, table.num_rows, via=via, **facts))
    return table, outcome, entry


def read_log(root: Path, start: datetime | None = None, end: datetime | None = None) -> Iterator[dict[str, Any]]:
    """The records of <root>/audit.jsonl whose time is in [start, end); unreadable lines as {"error": ...}."""
    path = Path(root) / AUDIT_LOG
    if not path.exists():
        return
    lo = rfc3339(start) if start else ""
    hi = rfc3339(end) if end else "~"
    prev = GENESIS
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            raw = line.rstrip(b"\n")
            try:
                entry = orjson.loads(raw)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
            except ValueError:
                yield {"error": f"line {lineno}: not a JSON object"}
                prev = hashlib.sha256(raw).hexdigest()
                continue
            if entry.get("prev") != prev:
                yield {"error": f"line {lineno}: prev does not match the line before (a line removed or edited)"}
            prev = hashlib.sha256(raw).hexdigest()
            if lo <= str(entry.get("at", "")) < hi:
                yield entry


def _port_open(bootstrap: str, timeout: float) -> str | None:
    """None when the first bootstrap server accepts a TCP connection, else why not."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return f"broker {bootstrap} unreachable: {exc}"


def send_to_topic(probe: str | None, entry: dict[str, Any], kafka: Callable[[], tuple[Any, Any]]) -> str | None:
    """Produce the record to the audit topic; None when the broker took it, else why not (one line).

    probe: a bootstrap address to try first with a bare TCP connect (a down broker is then known
    at once, before the config and the Kafka client are loaded); kafka() gives (settings, config).
    """
    if probe is not None and (why := _port_open(probe, 1.0)) is not None:
        return why
    from confluent_kafka import KafkaException, Producer

    from vigie.topics import AUDIT

    try:
        settings, cfg = kafka()
    except ConfigError as exc:  # the local broker's credentials not readable by this user, say
        return str(exc)
    timeout = cfg.archive.audit_topic_timeout
    if probe is None and (why := _port_open(settings.bootstrap_servers, min(timeout, 1.0))) is not None:
        return why
    errors: list[str] = []
    try:
        producer = Producer({**settings.librdkafka(), "message.timeout.ms": max(1, int(timeout * 1000))})
        producer.produce(
            settings.topic(AUDIT),
            orjson.dumps(entry),
            str(entry["user"]).encode(),
            on_delivery=lambda err, _msg: errors.append(str(err)) if err is not None else None,
        )
        left = producer.flush(timeout)
    except (KafkaException, BufferError) as exc:
        return str(exc)
    if left:
        return f"not acknowledged within {timeout:g} s"
    return errors[0] if errors else None
