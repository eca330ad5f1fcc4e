"""Local console accounts: `vigie user add|passwd|disable`, one JSON file under the state folder (0600).

Passwords are hashed with scrypt from the standard library (RFC 7914; n=2**15, r=8, p=1: ~50 ms and
32 MiB per check here, so a stolen file costs an attacker as much per guess), salted per account.
The file is rewritten whole through a temporary file and a rename, so a crash leaves the old or the
new file, never half of one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROLES = ("viewer", "operator", "auditor", "admin")
# What each role may do; a page or an action names the capability it needs (server.py checks it).
CAPABILITIES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "operator": frozenset({"view", "act"}),
    "auditor": frozenset({"view", "archive"}),
    "admin": frozenset({"view", "act", "admin"}),
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSWORD = 10
SCHEMA = "console-accounts/1"


class AccountError(ValueError):
    """A refused account operation, said in one line."""


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password: str  # "scrypt$n$r$p$salt_hex$hash_hex"
    disabled: bool = False
    created_at: float = 0.0
    changed_at: float = 0.0

    def can(self, capability: str) -> bool:
        return not self.disabled and capability in CAPABILITIES.get(self.role, frozenset())


def hash_password(password: str, salt: bytes | None = None, n: int = _SCRYPT["n"], r: int = _SCRYPT["r"],
                  p: int = _SCRYPT["p"]) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        again = hash_password(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(again.rsplit("$", 1)[1], digest)


# Checked when a name is unknown, so that a wrong name costs as long as a wrong password (no user enumeration).
_DUMMY = hash_password("not a password of anyone", salt=b"\0" * 16)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise AccountError(f"{name!r}: a user name is 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"{role!r}: a role is one of {', '.join(ROLES)}")
    return role


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    return password


def _document(accounts: dict[str, Account]) -> dict[str, object]:
    return {"schema": SCHEMA, "accounts": [asdict(a) for a in accounts.values()]}


def parse_document(document: object) -> dict[str, Account]:
    """The accounts of a saved accounts document, checked (AccountError: one line)."""
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise AccountError(f"console accounts: expected a {SCHEMA} document")
    try:
        accounts = {a["name"]: Account(**a) for a in document.get("accounts", [])}
    except (TypeError, KeyError) as exc:
        raise AccountError(f"console accounts: not a list of accounts ({exc})") from None
    for account in accounts.values():
        check_name(account.name)
        check_role(account.role)
    return accounts


class AccountStore:
    """The accounts file, read at each lookup when it changed (so `vigie user` applies to a running console)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._accounts: dict[str, Account] = {}
        self._stamp: tuple[int, int] | None = None

    @classmethod
    def under(cls, state_dir: str | Path) -> AccountStore:
        return cls(Path(state_dir) / "console" / "users.json")

    def _load(self) -> dict[str, Account]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._accounts, self._stamp = {}, None
            return self._accounts
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            try:
                data = json.loads(self.path.read_text())
                self._accounts = {a["name"]: Account(**a) for a in data.get("accounts", [])}
            except (ValueError, TypeError, KeyError) as exc:
                raise AccountError(f"{self.path}: not a Vigie accounts file ({exc})") from None
            self._stamp = stamp
        return self._accounts

    def accounts(self) -> list[Account]:
        return sorted(self._load().values(), key=lambda a: a.name)

    def get(self, name: str) -> Account | None:
        return self._load().get(name)

    def authenticate(self, name: str, password: str) -> Account | None:
        """The enabled account whose password this is, else None (same work for unknown names)."""
        account = self._load().get(name)
        if account is None:
            check_password(password, _DUMMY)
            return None
        if not check_password(password, account.password) or account.disabled:
            return None
        return account

    def document(self) -> dict[str, object] | None:
        """The file's content as written (`vigie state export`), None when there is no accounts file."""
        if not self.path.exists():
            return None
        return _document(self._load())

    def restore(self, document: object) -> int:
        """Replace the accounts with a backup's (`vigie state import`), checked first; returns how many."""
        accounts = parse_document(document)
        self._save(accounts)
        return len(accounts)

    def _save(self, accounts: dict[str, Account]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(_document(accounts), out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._stamp = None

    def add(self, name: str, role: str, password: str, now: float | None = None) -> Account:
        accounts = dict(self._load())
        check_name(name)
        check_role(role)
        check_new_password(password)
        if name in accounts:
            raise AccountError(f"user {name} exists (vigie user passwd or vigie user role to change it)")
        now = time.time() if now is None else now
        accounts[name] = Account(name, role, hash_password(password), False, now, now)
        self._save(accounts)
        return accounts[name]

    def _change(self, name: str, **changes: object) -> Account:
        accounts = dict(self._load())
        if name not in accounts:
            raise AccountError(f"no user {name}")
        accounts[name] = replace(accounts[name], changed_at=time.time(), **changes)
        self._save(accounts)
        return accounts[name]

    def passwd(self, name: str, password: str) -> Account:
        return self._change(name, password=hash_password(check_new_password(password)))

    def set_role(self, name: str, role: str) -> Account:
        return self._change(name, role=check_role(role))

    def disable(self, name: str) -> Account:
        return self._change(name, disabled=True)

    def enable(self, name: str) -> Account:
        return self._change(name, disabled=False)
