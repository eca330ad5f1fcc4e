"""control/1 values built from plain values: what `vigie ack|silence|maintenance` and the console write.

Shared by the command line (vigie/app/control_cli.py, which also runs the correlation worker's own parser
over the result) and the console (which may not import the pipelines or the command line). Every value
is checked against its JSON Schema before it is returned, so neither can write what the worker refuses
by contract.
"""

from __future__ import annotations

import uuid
from typing import Any

from vigie.schemas.codec import rfc3339
from vigie.schemas.validate import validate

COMMENT_MAX = 4000  # characters of a comment: a note, not a log file


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def control_command(kind: str, author: str, reason: str | None, now: float, ident: str | None = None,
                    **fields: Any) -> dict[str, Any]:
    """A control/1 value of `kind`; `fields` whose value is None are left out. Raises ValueError when the
    author is blank or the value breaks the contract (SchemaError is a ValueError)."""
    if not author or not author.strip():
        raise ValueError(f"{kind}: the author is required (who gives the command)")
    value: dict[str, Any] = {"schema": "control/1", "kind": kind, "id": ident or new_id(kind), "author": author,
                             "reason": reason, "created_at": rfc3339(now)}
    value.update({k: v for k, v in fields.items() if v is not None})
    if value["reason"] is None:
        del value["reason"]
    validate(value)
    return value


def acknowledge_command(author: str, reason: str, now: float, fingerprint: str | None = None,
                        matchers: list[str] | None = None, ident: str | None = None) -> dict[str, Any]:
    """A sticky acknowledgement of one alert (fingerprint) or of those the matchers select, from now on."""
    if not fingerprint and not matchers:
        raise ValueError("acknowledge: give a fingerprint or matchers")
    if not reason or not reason.strip():
        raise ValueError("acknowledge: the reason is required (it is shown to whoever is on call)")
    return control_command("acknowledge", author, reason, now, ident, start=rfc3339(now), fingerprint=fingerprint,
                           matchers=list(matchers) if matchers else None)


def comment_command(author: str, text: str, target: str, now: float, ident: str | None = None) -> dict[str, Any]:
    """A person's note about an incident or a lone alert (`target`: its id or fingerprint), kept on the
    compacted control topic under its own id; the correlation worker ignores it."""
    text = (text or "").strip()
    if not text:
        raise ValueError("comment: the text is empty")
    if len(text) > COMMENT_MAX:
        raise ValueError(f"comment: at most {COMMENT_MAX} characters, got {len(text)}")
    if not target:
        raise ValueError("comment: the target (incident id or alert fingerprint) is required")
    return control_command("comment", author, None, now, ident, target=target, text=text)
