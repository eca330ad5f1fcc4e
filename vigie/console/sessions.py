"""Console sessions, CSRF tokens and the login rate limit: pure, the clock passed in.

A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie; the server keeps only its
SHA-256 (a copy of the file does not log anyone in), with its user, expiry and CSRF token, in a 0600
file so that a restart of the console does not log the wall screen out. Logging out or disabling the
account ends it: the account is looked up again at every request (server.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    user: str
    created_at: float
    expires_at: float
    csrf: str


class SessionStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._by_digest: dict[str, Session] = {}
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text())
                self._by_digest = {d: Session(**s) for d, s in data.get("sessions", {}).items()}
            except (ValueError, TypeError):
                self._by_digest = {}  # an unreadable file logs everyone out, nothing worse

    def _save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"sessions": {d: asdict(s) for d, s in self._by_digest.items()}}, out)
        os.replace(tmp, self.path)

    def create(self, user: str, now: float, lifetime: float) -> tuple[str, Session]:
        """A new session id (for the cookie) and its record; expired ones are dropped on the way."""
        self._by_digest = {d: s for d, s in self._by_digest.items() if s.expires_at > now}
        sid = secrets.token_urlsafe(32)
        session = Session(user, now, now + lifetime, secrets.token_urlsafe(32))
        self._by_digest[_digest(sid)] = session
        self._save()
        return sid, session

    def get(self, sid: str | None, now: float) -> Session | None:
        if not sid:
            return None
        session = self._by_digest.get(_digest(sid))
        if session is None or session.expires_at <= now:
            return None
        return session

    def end(self, sid: str | None) -> None:
        if sid and self._by_digest.pop(_digest(sid), None) is not None:
            self._save()

    def end_user(self, user: str) -> int:
        """End every session of one user (password changed, account disabled)."""
        before = len(self._by_digest)
        self._by_digest = {d: s for d, s in self._by_digest.items() if s.user != user}
        if len(self._by_digest) != before:
            self._save()
        return before - len(self._by_digest)


def csrf_ok(session: Session | None, token: str | None) -> bool:
    return session is not None and bool(token) and hmac.compare_digest(session.csrf, token or "")


class LoginLimiter:
    """At most `max_failures` failed logins per client address and per user name within `window` seconds."""

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures, self.window = max_failures, window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def blocked_for(self, address: str, user: str, now: float) -> float:
        """Seconds until a login from this address for this user may be tried again (0: now)."""
        wait = 0.0
        for key in (f"a:{address}", f"u:{user}"):
            q = self._recent(key, now)
            if len(q) >= self.max_failures:
                wait = max(wait, q[0] + self.window - now)
        return wait

    def failed(self, address: str, user: str, now: float) -> None:
        for key in (f"a:{address}", f"u:{user}"):
            self._recent(key, now).append(now)
        if len(self._failures) > 100_000:  # a spray of names cannot grow this without end
            self._failures = {k: q for k, q in self._failures.items() if q and q[-1] > now - self.window}

    def succeeded(self, address: str, user: str) -> None:
        self._failures.pop(f"u:{user}", None)
