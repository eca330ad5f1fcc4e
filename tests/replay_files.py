"""Recorded raw records for replay tests and scenarios, built as the intakes write them."""

from __future__ import annotations

from typing import Any

import orjson

from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP
from vigie.schemas.codec import rfc3339


def trap(at: float, agent: str, if_index: int, if_name: str, up: bool) -> dict[str, Any]:
    value = {
        "version": "v2c",
        "trap_oid": LINK_UP if up else LINK_DOWN,
        "agent_address": agent,
        "received_at": rfc3339(at),
        "varbinds": [
            {"oid": f"1.3.6.1.2.1.2.2.1.1.{if_index}", "name": "ifIndex", "type": "Integer", "value": if_index},
            {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{if_index}", "name": "ifName", "type": "OctetString", "value": if_name},
        ],
    }
    return {"topic": "raw.traps", "received_at": rfc3339(at), "value": value}


def syslog(at: float, peer: str, host: str, msg: str) -> dict[str, Any]:
    stamp = rfc3339(at)
    return {"topic": "raw.syslog", "received_at": stamp, "key": peer, "value": f"<187>1 {stamp} {host} - - - - {msg}"}


def check(at: float, host: str, service: str | None, status: int, output: str = "") -> dict[str, Any]:
    value = {"host": host, "service": service, "status": status, "output": output or f"{service or 'HOST'} {status}"}
    return {"topic": "raw.checks", "received_at": rfc3339(at), "value": value}


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in sorted(records, key=lambda r: r["received_at"]))
