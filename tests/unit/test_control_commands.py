"""The control/1 builder shared by `vigie ack|silence|maintenance` and the console, and the `comment` kind."""

from __future__ import annotations

import argparse

import pytest

from tests.unit.test_engine import T, check, make
from vigie.app.control_cli import build_command
from vigie.control_commands import COMMENT_MAX, acknowledge_command, comment_command
from vigie.schemas.validate import SchemaError, validate


def cli_args(kind: str, **given: object) -> argparse.Namespace:
    base = dict(control_kind=kind, id=None, author="alice", reason="planned", start=None, end=None, duration=None,
                match=[], fingerprint=None, host=None, service=None, only_hosts=False, recurrence=None,
                recurrence_days="monday,tuesday", timezone="Europe/Paris")
    base.update(given)
    return argparse.Namespace(**base)


def test_the_cli_builds_the_same_commands_through_the_shared_builder() -> None:
    ack = build_command(cli_args("acknowledge", host="rtr1", match=["site=mairie"], id="ack-1"), now=T)
    assert ack == {"schema": "control/1", "kind": "acknowledge", "id": "ack-1", "author": "alice", "reason": "planned",
                   "created_at": "2025-03-01T10:00:00.000000Z", "start": "2025-03-01T10:00:00.000000Z",
                   "matchers": ["site=mairie", "host=rtr1"]}
    silence = build_command(cli_args("silence", match=["host=rtr1"], duration="1h"), now=T)
    assert (silence["start"], silence["end"], silence["matchers"]) == (
        "2025-03-01T10:00:00.000000Z", "2025-03-01T11:00:00.000000Z", ["host=rtr1"])
    assert silence["id"].startswith("silence-")
    window = build_command(cli_args("maintenance", host=["rtr1"], duration="2h", recurrence="22:00-23:00"), now=T)
    assert window["hosts"] == ["rtr1"] and window["include_children"] is True
    assert window["recurrence"] == {"timezone": "Europe/Paris", "monday": "22:00-23:00", "tuesday": "22:00-23:00"}
    with pytest.raises(ValueError, match="give --duration or --end"):
        build_command(cli_args("silence", match=["host=rtr1"]), now=T)
    with pytest.raises(ValueError, match="fingerprint or matchers"):
        build_command(cli_args("acknowledge"), now=T)
    with pytest.raises(ValueError, match="label 'colour'"):  # the worker's own parser still runs
        build_command(cli_args("silence", match=["colour=red"], duration="1h"), now=T)


def test_the_console_builds_an_ack_from_plain_values() -> None:
    ack = acknowledge_command("operator", "on it", T, fingerprint="rtr1|trap|Gi0/3")
    assert ack["fingerprint"] == "rtr1|trap|Gi0/3" and ack["author"] == "operator" and "matchers" not in ack
    for bad in (dict(fingerprint=None), dict(fingerprint="fp", reason=" "), dict(fingerprint="fp", author="")):
        with pytest.raises(ValueError):
            acknowledge_command(**{"author": "operator", "reason": "on it", "now": T, **bad})


def test_a_comment_is_a_valid_control_value_and_a_bad_one_is_refused() -> None:
    note = comment_command("operator", "  called the town hall  ", "inc-1", T)
    validate(note)
    assert (note["kind"], note["target"], note["text"]) == ("comment", "inc-1", "called the town hall")
    assert "reason" not in note and note["id"].startswith("comment-")
    for text, target in (("", "inc-1"), ("x" * (COMMENT_MAX + 1), "inc-1"), ("fine", "")):
        with pytest.raises(ValueError):
            comment_command("operator", text, target, T)
    with pytest.raises(SchemaError, match="target"):
        validate({"schema": "control/1", "kind": "comment", "id": "c", "author": "a", "text": "t"})
    with pytest.raises(SchemaError, match="reason"):  # every other kind still needs its reason
        validate({"schema": "control/1", "kind": "silence", "id": "s", "author": "a"})


def test_the_correlation_engine_accepts_a_comment_and_ignores_it() -> None:
    norm, eng = make()
    before = eng.process(check(norm, "lone", 2), T)
    assert before.alerts
    out = eng.control(comment_command("operator", "called the town hall", "inc-1", T + 1), T + 1)
    assert (out.errors, out.alerts, out.incidents, out.notifications) == ([], [], [], [])
    assert eng.controls.to_dict() == {"silences": [], "maintenances": []}
    bad = eng.control({"schema": "control/1", "kind": "comment", "id": "c", "author": "a"}, T + 2)
    assert bad.errors == ["comment.target: required, a non-empty string"]
