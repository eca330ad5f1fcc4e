"""Escalation on the replay clock: a problem not acknowledged `escalate_after` after its first message goes to
`escalate_to` at that simulated time, and one acknowledged with the CLI's own command (`vigie ack`) before then
never does."""

from __future__ import annotations

import argparse

from tests.replay_files import check, jsonl
from vigie.app.control_cli import build_command
from vigie.config import validate
from vigie.pipelines.replay import Replay, read_jsonl
from vigie.schemas.codec import rfc3339

T = 1_740_823_200.0  # Saturday 2025-03-01 10:00 UTC
CONFIG = {
    "correlation": {"max_check_attempts": 1},
    "inventory": {"hosts": {"r1": {"site": "paris", "address": "10.1.0.1"},
                            "r2": {"site": "lyon", "address": "10.2.0.1"}}},
    "routes": [{"name": "staff", "escalate_after": "30m", "escalate_to": "boss"},
               {"name": "boss", "match": {"site": "nowhere"}}],
}


def ack(at: float, host: str) -> dict:
    """The control record `vigie ack --host HOST --reason ...` writes, as recorded on the control topic."""
    args = argparse.Namespace(control_kind="acknowledge", id=f"ack-{host}", author="astreinte", reason="on it",
                              fingerprint=None, host=host, service=None, match=[])
    return {"topic": "control", "received_at": rfc3339(at), "key": f"ack-{host}", "value": build_command(args, now=at)}


def told(records: list[dict]) -> list[tuple[str, str, str, str]]:
    result = Replay(validate(CONFIG)).run(read_jsonl(jsonl(records).splitlines()), settle=3600)
    assert result.refused == []
    return [(n["route"], n["reason"], n["alert"]["host"] if n.get("alert") else n["alerts"][0]["host"], n["at"][11:19])
            for n in result.notifications]


def test_an_unacknowledged_problem_escalates_at_escalate_after_on_the_simulated_clock() -> None:
    notes = told([check(T, "r1", "PING", 2)])
    assert notes == [("staff", "new", "r1", "10:00:10"),  # group_wait
                     ("boss", "escalated", "r1", "10:30:10")]  # 30 min after the first message, to the tick


def test_an_acknowledgement_from_the_cli_stops_the_escalation() -> None:
    notes = told([check(T, "r1", "PING", 2), check(T, "r2", "PING", 2), ack(T + 300, "r2")])
    assert ("boss", "escalated", "r1", "10:30:10") in notes
    assert [n for n in notes if n[2] == "r2"] == [("staff", "new", "r2", "10:00:10")]  # nothing after the ack
