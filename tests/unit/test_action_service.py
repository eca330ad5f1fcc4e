"""The actions service's own logic without Kafka: nothing executes before the broker holds "running", commands
run without a shell with their results recorded, maintenance windows of the control topic cover hosts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from vigie.config import validate
from vigie.pipelines.actions.service import (
    NotAcknowledged,
    build_guards,
    execute,
    maintenance_hosts,
    run_acknowledged,
)
from vigie.pipelines.correlate.topology import Inventory
from vigie.schemas.codec import rfc3339

T0 = 1_800_000_000.0
CFG = {"inventory": {"hosts": {"probe-a": {}, "probe-b": {}, "srv1": {"address": "10.0.0.5"}, "srv2": {}},
                     "hostgroups": {"room1": {"members": ["probe-a", "probe-b"]}}},
       "actions": [{"name": "shutdown-room1", "command": ["ssh", "$HOSTADDRESS$", "poweroff"], "hosts": ["srv1", "srv2"],
                    "service": "room-temp", "sources": ["room1"], "armed": True, "for": "0s"}]}


class FakeSink:
    """What run_acknowledged asks of the producer: flush's remainder and the failed-delivery count."""

    def __init__(self, remaining: int, fail: bool = False) -> None:
        self.remaining, self.fail, self.failed = remaining, fail, 0

    def flush(self, timeout: float) -> int:
        if self.fail:
            self.failed += 1
        return self.remaining


def running_guard():
    guard = build_guards(validate(CFG))["shutdown-room1"]
    guard.apply({"step": "countdown", "id": "c1", "deadline": rfc3339(T0), "at": rfc3339(T0 - 300)})
    alerts = [{"host": h, "component": "room-temp", "status": "firing", "severity": "critical", "state_type": "hard",
               "last_seen": rfc3339(T0)} for h in ("probe-a", "probe-b")]
    recs = guard.step(T0, alerts)
    assert recs[-1]["step"] == "running"
    return guard, recs[-1]


def test_the_targets_address_is_expanded_in_the_command() -> None:
    guard, running = running_guard()
    assert running["commands"] == [{"host": "srv1", "argv": ["ssh", "10.0.0.5", "poweroff"]},
                                   {"host": "srv2", "argv": ["ssh", "srv2", "poweroff"]}]


@pytest.mark.parametrize("sink", [FakeSink(remaining=1), FakeSink(remaining=0, fail=True)])
def test_nothing_runs_unless_the_broker_acknowledged_running(sink: FakeSink) -> None:
    guard, running = running_guard()
    calls: list[Any] = []
    with pytest.raises(NotAcknowledged, match="not executed"):
        run_acknowledged(sink, guard, running, lambda: T0, run=lambda *a: calls.append(a) or [])
    assert calls == []


def test_an_acknowledged_run_executes_once_and_records_ran() -> None:
    guard, running = running_guard()
    calls: list[Any] = []

    def fake_run(commands, timeout, action, ident):
        calls.append((commands, action, ident))
        return [{"host": c["host"], "ok": True, "exit_code": 0} for c in commands]

    ran = run_acknowledged(FakeSink(remaining=0), guard, running, lambda: T0 + 1, run=fake_run)
    assert len(calls) == 1 and calls[0][2] == "c1"
    assert ran["step"] == "ran" and ran["ok"] is True and guard.state.phase == "ran"


def test_execute_records_exit_codes_output_and_failures(tmp_path: Path) -> None:
    marker = tmp_path / "x; touch injected"
    results = execute([
        {"host": "a", "argv": [sys.executable, "-c", "import sys; print('bye'); sys.exit(3)"]},
        {"host": "b", "argv": ["touch", str(marker)]},  # one argument, no shell: the ; is part of the name
        {"host": "c", "argv": [str(tmp_path / "missing-program")]},
    ], timeout=30, action="t", ident="c1")
    assert results[0] == {"host": "a", "ok": False, "exit_code": 3, "output": "bye\n"}
    assert results[1]["ok"] is True and marker.exists() and not (tmp_path / "injected").exists()
    assert results[2]["ok"] is False and results[2]["error"].startswith("cannot run:")


def test_maintenance_windows_of_the_control_topic_cover_their_hosts() -> None:
    cfg = validate({**CFG, "inventory": {**CFG["inventory"],
                                         "hosts": {**CFG["inventory"]["hosts"], "pdu1": {"parents": ["srv1"]}}}})
    inv = Inventory.from_config(cfg.inventory)
    control = {
        b"m1": {"schema": "control/1", "kind": "maintenance", "id": "m1", "author": "ops", "reason": "works",
                "start": rfc3339(T0 - 60), "end": rfc3339(T0 + 3600), "hosts": ["srv1"]},
        b"m2": {"schema": "control/1", "kind": "maintenance", "id": "m2", "author": "ops", "reason": "later",
                "start": rfc3339(T0 + 7200), "end": rfc3339(T0 + 9000), "hosts": ["srv2"]},
        b"bad": {"kind": "maintenance"},
        b"s1": {"schema": "control/1", "kind": "silence", "id": "s1", "author": "ops", "reason": "x",
                "start": rfc3339(T0 - 60), "end": rfc3339(T0 + 60), "matchers": ["host=srv2"]},
    }
    assert maintenance_hosts(control, inv, T0) == frozenset({"srv1", "pdu1"})
    assert maintenance_hosts(control, inv, T0 + 8000) == frozenset({"srv2"})
