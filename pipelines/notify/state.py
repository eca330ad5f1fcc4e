"""The delivery-state table: one row per (message id, receiver), kept in SQLite so that it survives a SIGKILL.

Why: the notifier commits Kafka offsets once per consumed batch, so a restart reads again the
messages after the last commit; this table says which receivers already have each of them, and a
receiver is sent a message again only if the notifier died between the receiver's acceptance and
the row's update (a few milliseconds: at most once "in practice"). The row also keeps the time of
the first attempt, so that the give-up age counts across restarts. WAL with synchronous=FULL: a
committed row is on disk before the next request goes out.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class Row:
    status: str
    first_attempt: float
    attempts: int
    error: str


def stored_row(row: Row, partition: int, now: float) -> dict[str, Any]:
    """A row as the Faust notifier's Table holds it: the row, when it last changed, and the changelog partition
    its records go to (where a tombstone must go when it expires)."""
    return {**asdict(row), "updated": now, "partition": partition}


def row_of(stored: dict[str, Any]) -> Row:
    return Row(stored["status"], stored["first_attempt"], stored["attempts"], stored["error"])


def expired(items: Iterable[tuple[str, dict[str, Any]]], older_than: float) -> list[tuple[str, int]]:
    """Keys and changelog partitions of the Table rows last changed before older_than, whatever their status:
    a row older than the notifications topic's retention belongs to a message that is never read again."""
    out = []
    for key, stored in items:
        changed = stored.get("updated", stored.get("first_attempt", 0.0))
        if changed < older_than and isinstance(stored.get("partition"), int):
            out.append((key, stored["partition"]))
    return out


class StateStore(Protocol):
    """What deliver() needs of a delivery-state table (SQLite here, a Faust Table in faust_app.py)."""

    def begin(self, message_id: str, receiver: str, now: float) -> Row: ...

    def attempted(self, message_id: str, receiver: str, error: str, now: float) -> None: ...

    def finish(self, message_id: str, receiver: str, status: str, error: str, now: float) -> None: ...


class MemoryRows:
    """Rows of one message in a dict, each change also handed to on_write: the Faust notifier fills it from
    its Table before a delivery and copies every change back to the Table as it happens."""

    def __init__(self, rows: dict[tuple[str, str], Row] | None = None,
                 on_write: Callable[[tuple[str, str], Row], None] | None = None) -> None:
        self.rows = dict(rows or {})
        self.on_write = on_write

    def get(self, message_id: str, receiver: str) -> Row | None:
        return self.rows.get((message_id, receiver))

    def _write(self, key: tuple[str, str], row: Row) -> Row:
        self.rows[key] = row
        if self.on_write is not None:
            self.on_write(key, row)
        return row

    def begin(self, message_id: str, receiver: str, now: float) -> Row:
        row = self.rows.get((message_id, receiver))
        return row if row is not None else self._write((message_id, receiver), Row(PENDING, now, 0, ""))

    def attempted(self, message_id: str, receiver: str, error: str, now: float) -> None:
        row = self.begin(message_id, receiver, now)
        self._write((message_id, receiver), replace(row, attempts=row.attempts + 1, error=error))

    def finish(self, message_id: str, receiver: str, status: str, error: str, now: float) -> None:
        row = self.begin(message_id, receiver, now)
        self._write((message_id, receiver), replace(row, status=status, attempts=row.attempts + 1, error=error))


def _set_wal(db: sqlite3.Connection, attempts: int = 50, pause: float = 0.2) -> None:
    """Switch the file to WAL, waiting out another connection doing the same: SQLite answers "database is
    locked" at once to a journal-mode change while another holds the file (its busy timeout does not apply),
    and two routes' threads opening the state together killed one of them (seen under load)."""
    for attempt in range(attempts):
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(pause)


class DeliveryState:
    """(message id, receiver) -> status, first attempt (Unix time), attempts, last error."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path) if path is not None else ":memory:", timeout=30, isolation_level=None,
                                  check_same_thread=False)
        _set_wal(self.db)
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS delivery (message_id TEXT NOT NULL, receiver TEXT NOT NULL,"
                        " status TEXT NOT NULL, first_attempt REAL NOT NULL, attempts INTEGER NOT NULL,"
                        " updated REAL NOT NULL, error TEXT NOT NULL DEFAULT '',"
                        " PRIMARY KEY (message_id, receiver))")

    def get(self, message_id: str, receiver: str) -> Row | None:
        found = self.db.execute("SELECT status, first_attempt, attempts, error FROM delivery"
                                " WHERE message_id = ? AND receiver = ?", (message_id, receiver)).fetchone()
        return Row(*found) if found else None

    def begin(self, message_id: str, receiver: str, now: float) -> Row:
        """The row, created pending at `now` if the receiver never saw an attempt of this message."""
        self.db.execute("INSERT OR IGNORE INTO delivery (message_id, receiver, status, first_attempt, attempts,"
                        " updated) VALUES (?, ?, ?, ?, 0, ?)", (message_id, receiver, PENDING, now, now))
        row = self.get(message_id, receiver)
        assert row is not None
        return row

    def attempted(self, message_id: str, receiver: str, error: str, now: float) -> None:
        self.db.execute("UPDATE delivery SET attempts = attempts + 1, error = ?, updated = ?"
                        " WHERE message_id = ? AND receiver = ?", (error, now, message_id, receiver))

    def finish(self, message_id: str, receiver: str, status: str, error: str, now: float) -> None:
        self.db.execute("UPDATE delivery SET status = ?, attempts = attempts + 1, error = ?, updated = ?"
                        " WHERE message_id = ? AND receiver = ?", (status, error, now, message_id, receiver))

    def purge(self, older_than: float, *, pending_too: bool = False) -> int:
        """Forget finished rows last updated before older_than (their messages are long committed), and pending
        ones too if asked (past the notifications topic's retention, their message is never read again)."""
        if pending_too:
            return self.db.execute("DELETE FROM delivery WHERE updated < ?", (older_than,)).rowcount
        cur = self.db.execute("DELETE FROM delivery WHERE status != ? AND updated < ?", (PENDING, older_than))
        return cur.rowcount

    def close(self) -> None:
        self.db.close()

