"""Nagios' state files (status.dat, retention.dat) as Vigie control commands: the day of the switch, what was
acknowledged or in downtime in Nagios stays so in Vigie.

Both files are blocks `NAME {` ... `}` of `key=value` lines (base/xsddefault.c, xrddefault.c): status.dat has
`hoststatus`/`servicestatus`, retention.dat `host`/`service`; both have `hostcomment`, `servicecomment`,
`hostdowntime`, `servicedowntime`. Mapping (pure; the app writes the values to the control topic):
- an acknowledged problem (`problem_has_been_acknowledged=1`) -> `acknowledge` with matchers host (and service,
  or `service=""` for a host problem), author and text from its acknowledgement comment (entry_type 4);
- a host downtime -> `maintenance` of that host (its children not included: Nagios schedules child downtimes
  separately, and they are in the file too); a service downtime -> `silence` of host and service. A flexible
  downtime (fixed=0) is carried as its whole window: Vigie has no "starts when the problem does";
- a user comment (entry_type 1) -> `comment` on the alert of that host's check or service (its fingerprint,
  `host|check|service`), shown on the console's pages of that alert.
Ids are derived from Nagios' (`nagios-downtime-ID`, `nagios-ack-HOST[-SERVICE]`), so importing twice writes the
same keys of the compacted topic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def check_fingerprint(host: str, service: str | None) -> str:
    """The fingerprint correlate gives the alert of a check (pipelines/fingerprints.py; held equal by a test:
    what every part uses imports no pipeline)."""
    return f"{host}|check|{service}" if service else f"{host}|check"


class StateFileError(ValueError):
    """A state file that cannot be read, in one line."""


def read_blocks(path: str | Path) -> list[tuple[str, dict[str, str]]]:
    """(block name, its key=value pairs) in file order."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise StateFileError(f"{path}: cannot read ({exc.strerror})") from None
    out: list[tuple[str, dict[str, str]]] = []
    current: dict[str, str] | None = None
    for n, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if current is None:
            if not line.endswith("{"):
                raise StateFileError(f"{path}:{n}: expected 'NAME {{', got {line!r}")
            current = {}
            out.append((line[:-1].strip(), current))
        elif line == "}":
            current = None
        else:
            key, _, value = line.partition("=")
            current[key] = value
    if current is not None:
        raise StateFileError(f"{path}: last block not closed with '}}'")
    return out


def _time(epoch: str) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matchers(host: str, service: str | None) -> list[Any]:
    return [f"host={host}", {"name": "service", "op": "=", "value": service or ""}]


def commands(blocks: list[tuple[str, dict[str, str]]], now: float) -> tuple[list[dict[str, Any]], list[str]]:
    """The control/1 values, and notes on what was not carried over or only approximately, and why."""
    created = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    ack_comment: dict[tuple[str, str | None], dict[str, str]] = {}
    out: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name, b in blocks:
        if name in ("hostcomment", "servicecomment"):
            key = (b.get("host_name", ""), b.get("service_description") if name == "servicecomment" else None)
            if b.get("entry_type") == "4":
                if int(b.get("entry_time", "0")) >= int(ack_comment.get(key, {}).get("entry_time", "0")):
                    ack_comment[key] = b
            elif b.get("entry_type") == "1" and (b.get("comment_data") or "").strip():
                out.append({"schema": "control/1", "kind": "comment", "id": f"nagios-comment-{b.get('comment_id')}",
                            "author": b.get("author") or "nagios", "created_at": _time(b.get("entry_time", "0")),
                            "target": check_fingerprint(*key), "text": b["comment_data"].strip()})
    for name, b in blocks:
        host = b.get("host_name", "")
        if name in ("hoststatus", "servicestatus", "host", "service") and b.get("problem_has_been_acknowledged") == "1":
            service = b.get("service_description") if name in ("servicestatus", "service") else None
            note = ack_comment.get((host, service), {})
            out.append({"schema": "control/1", "kind": "acknowledge",
                        "id": "nagios-ack-" + "-".join(filter(None, (host, service))).replace(" ", "_"),
                        "author": note.get("author") or "nagios", "reason": note.get("comment_data") or "acknowledged in Nagios",
                        "created_at": created, "start": created, "matchers": _matchers(host, service)})
        elif name in ("hostdowntime", "servicedowntime"):
            start, end = b.get("start_time", "0"), b.get("end_time", "0")
            if int(end) <= now:
                skipped.append(f"downtime {b.get('downtime_id')} on {host}: ended at {_time(end)}")
                continue
            value: dict[str, Any] = {"schema": "control/1", "id": f"nagios-downtime-{b.get('downtime_id')}",
                                     "author": b.get("author") or "nagios", "reason": b.get("comment") or "downtime in Nagios",
                                     "created_at": created, "start": _time(start), "end": _time(end)}
            if name == "hostdowntime":
                value.update(kind="maintenance", hosts=[host], include_children=False)
            else:
                value.update(kind="silence", matchers=_matchers(host, b.get("service_description")))
            if b.get("fixed") == "0":
                skipped.append(f"downtime {b.get('downtime_id')} on {host}: flexible ({b.get('duration')} s when a problem "
                               f"starts); carried as its whole window")
            out.append(value)
    return out, skipped
