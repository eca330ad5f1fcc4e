"""Exports for a requisition: the matching rows as Parquet and CSV, and a signed summary to check them by later.

An export folder holds rows.parquet, rows.csv, SHA256SUMS (for `sha256sum -c`), summary.json (the
query, the row count, the manifest chain head at export time, each file's SHA-256 and size, the
signer's public key), summary.json.sig (the Ed25519 signature of summary.json's exact bytes) and
public_key.pem. Every piece can be checked with sha256sum and openssl alone (docs/archive.md).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from vigie.schemas.codec import rfc3339

EXPORT_SCHEMA = "archive-export/1"
ROWS_PARQUET = "rows.parquet"
ROWS_CSV = "rows.csv"
SUMS = "SHA256SUMS"
SUMMARY = "summary.json"
SIGNATURE = "summary.json.sig"
PUBLIC_KEY = "public_key.pem"


class ExportError(Exception):
    """An export that cannot be made or checked as asked (one line for the command)."""


def load_private_key(text: str) -> Any:
    """An Ed25519 private key from PEM text or 64 hex digits (the 32-byte seed)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    text = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ExportError("the signing key is neither an Ed25519 PEM private key nor 64 hex digits") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ExportError("the signing key is not an Ed25519 key")
    return key


def public_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public_key_pem: bytes) -> str:
    """SHA-256 of the public key's PEM text: what an auditor compares with the one the operator published."""
    return hashlib.sha256(public_key_pem).hexdigest()


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def _durable(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def write_export(
    out: Path,
    table: Any,
    csv_values: list[list[str]],
    question: dict[str, Any],
    head: tuple[int, str, bool],
    key: Any,
    facts: dict[str, Any],
) -> dict[str, Any]:
    """Write the export folder (which must not exist or be empty); the summary as signed."""
    import pyarrow.parquet as pq

    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} is not empty: an export is never written over another")
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / ROWS_PARQUET, compression="zstd")
    with open(out / ROWS_CSV, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(table.column_names)
        w.writerows(zip(*csv_values, strict=True))
        f.flush()
        os.fsync(f.fileno())
    files = {}
    for name in (ROWS_PARQUET, ROWS_CSV):
        digest, size = _sha256(out / name)
        files[name] = {"sha256": digest, "size": size}
    _durable(out / SUMS, "".join(f"{v['sha256']}  {k}\n" for k, v in files.items()).encode())
    pem = public_pem(key)
    seq, chain_hash, chain_ok = head
    summary = {
        "schema": EXPORT_SCHEMA,
        "created_at": rfc3339(),
        "query": question,
        "rows": table.num_rows,
        "chain_head": {"seq": seq, "hash": chain_hash, "chain_intact": chain_ok},
        "files": files,
        "csv": "control characters written as \\n, \\r, \\t, \\xNN; cells starting with = + - @ prefixed with '",
        "signature": {"algorithm": "Ed25519", "file": SIGNATURE, "public_key": PUBLIC_KEY,
                      "public_key_sha256": fingerprint(pem)},  # fmt: skip
        **facts,
    }
    data = orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    _durable(out / SUMMARY, data)
    _durable(out / SIGNATURE, key.sign(data))
    _durable(out / PUBLIC_KEY, pem)
    return summary


@dataclass
class CheckReport:
    findings: list[str]
    summary: dict[str, Any]
    key_fingerprint: str

    @property
    def ok(self) -> bool:
        return not self.findings


def check_export(folder: Path, expected_key: str | None = None) -> CheckReport:
    """Check the signature of summary.json and every file's SHA-256 and size against it.

    expected_key: the signer's public key fingerprint (SHA-256 of its PEM) or PEM file, as the
    operator published it; without it the key in the folder is used and its fingerprint reported
    (a forger could have re-signed with a key of their own: compare it with the published one).
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    findings: list[str] = []
    try:
        data = (folder / SUMMARY).read_bytes()
        signature = (folder / SIGNATURE).read_bytes()
        pem = (folder / PUBLIC_KEY).read_bytes()
    except OSError as exc:
        raise ExportError(f"{folder}: not an export ({exc.filename}: {exc.strerror})") from exc
    try:
        summary = orjson.loads(data)
        public = serialization.load_pem_public_key(pem)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise ExportError(f"{folder}: summary or public key unreadable ({exc})") from exc
    fp = fingerprint(pem)
    if expected_key is not None:
        wanted = expected_key.strip().lower()
        if os.path.isfile(expected_key):
            wanted = fingerprint(Path(expected_key).read_bytes())
        if fp != wanted:
            findings.append(f"signed by key {fp[:16]}…, not the expected {wanted[:16]}…")
    try:
        public.verify(signature, data)  # type: ignore[union-attr]
    except InvalidSignature:
        findings.append("summary.json: the signature does not match (summary altered or signed by another key)")
    for name, facts in (summary.get("files") or {}).items():
        path = folder / name
        if not path.is_file():
            findings.append(f"{name}: missing")
            continue
        digest, size = _sha256(path)
        if digest != facts.get("sha256") or size != facts.get("size"):
            findings.append(f"{name}: SHA-256 or size differs from the signed summary (altered)")
    return CheckReport(findings, summary, fp)
