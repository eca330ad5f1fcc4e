"""Unit tests of the active check runner: scheduling (pure, injected clock), command lines, exit-code mapping."""

from __future__ import annotations

import asyncio
import random

import pytest

from vigie.producers.checks.runner import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    CheckRunner,
    CheckState,
    ServiceDef,
    build_argv,
    execute,
    first_due,
    next_state,
)
from vigie.schemas.codec import loads
from vigie.sink import BufferFull, MemorySink
from vigie.topics import RAW_CHECKS

SVC = ServiceDef(
    host="web1",
    service="HTTP",
    command="check_http -H $HOSTADDRESS$",
    check_interval=300,
    retry_interval=60,
    max_check_attempts=3,
)


def simulate(svc: ServiceDef, statuses: list[int], start: float = 1000.0) -> list[CheckState]:
    """Feed results in order, each arriving exactly when the previous state said the check was due."""
    state, now, out = CheckState(next_due=start), start, []
    for status in statuses:
        state = next_state(state, status, now, svc)
        out.append(state)
        now = state.next_due
    return out


# -- scheduling ----------------------------------------------------------------------------------------


def test_ok_runs_at_check_interval():
    states = simulate(SVC, [OK, OK, OK])
    assert [s.next_due for s in states] == [1300, 1600, 1900]
    assert all(s.state_type == "hard" and s.attempt == 1 for s in states)


def test_problem_retries_until_hard_then_check_interval():
    states = simulate(SVC, [OK, CRITICAL, CRITICAL, CRITICAL, CRITICAL])
    assert [(s.status, s.state_type, s.attempt) for s in states] == [
        (OK, "hard", 1),
        (CRITICAL, "soft", 1),
        (CRITICAL, "soft", 2),
        (CRITICAL, "hard", 3),
        (CRITICAL, "hard", 3),
    ]
    # 1000 -> OK, next at 1300; soft problems retry every 60 s; hard goes back to 300 s.
    assert [s.next_due for s in states] == [1300, 1360, 1420, 1720, 2020]


def test_soft_attempts_count_across_problem_states():
    states = simulate(SVC, [CRITICAL, WARNING, UNKNOWN])
    assert [(s.status, s.state_type, s.attempt) for s in states] == [
        (CRITICAL, "soft", 1),
        (WARNING, "soft", 2),
        (UNKNOWN, "hard", 3),
    ]


def test_hard_problem_changing_severity_stays_hard():
    states = simulate(SVC, [CRITICAL, CRITICAL, CRITICAL, WARNING])
    assert (states[-1].status, states[-1].state_type, states[-1].attempt) == (WARNING, "hard", 3)
    assert states[-1].next_due - states[-2].next_due == 300


def test_recovery_resets_and_returns_to_check_interval():
    for history in ([CRITICAL, OK], [CRITICAL, CRITICAL, CRITICAL, OK]):
        last = simulate(SVC, history)[-1]
        assert (last.status, last.state_type, last.attempt) == (OK, "hard", 1)
    states = simulate(SVC, [CRITICAL, OK, CRITICAL])
    assert (states[-1].state_type, states[-1].attempt) == ("soft", 1)  # a new problem starts over


def test_single_attempt_is_hard_at_once():
    svc = ServiceDef(host="h", command="x", max_check_attempts=1, check_interval=120, retry_interval=30)
    (state,) = simulate(svc, [CRITICAL], start=0)
    assert (state.state_type, state.attempt, state.next_due) == ("hard", 1, 120)


def test_first_due_is_jittered_within_one_interval():
    rng = random.Random(42)
    dues = [first_due(500.0, SVC, rng) for _ in range(200)]
    assert all(500.0 <= d <= 800.0 for d in dues)
    assert len({round(d, 3) for d in dues}) > 150  # spread, not all at once


def test_first_due_bounds_with_a_stub_rng():
    class Edge(random.Random):
        def __init__(self, pick_high: bool) -> None:
            super().__init__()
            self.pick_high = pick_high

        def uniform(self, a: float, b: float) -> float:
            return b if self.pick_high else a

    assert first_due(10.0, SVC, Edge(False)) == 10.0
    assert first_due(10.0, SVC, Edge(True)) == 310.0


# -- definitions and command lines ---------------------------------------------------------------------


def test_service_def_validation_and_from_dict():
    svc = ServiceDef.from_dict({"host": "h", "service": "s", "command": ["check_dummy", "0"], "timeout": 5})
    assert svc.command == ("check_dummy", "0") and svc.timeout == 5
    with pytest.raises(ValueError, match="unknown check key"):
        ServiceDef.from_dict({"host": "h", "command": "x", "check_intreval": 5})
    for bad in (
        {"check_interval": 0},
        {"retry_interval": -1},
        {"timeout": 0},
        {"max_check_attempts": 0},
        {"command": ""},
    ):
        with pytest.raises(ValueError):
            ServiceDef(**({"host": "h", "command": "x"} | bad))


def test_build_argv_expands_macros_per_argument(tmp_path):
    plugin = tmp_path / "check_thing"
    plugin.write_text("#!/bin/sh\n")
    svc = ServiceDef(
        host="web 1",
        service="Disk /var",
        address="192.0.2.7",
        command="check_thing -H $HOSTADDRESS$ -n '$HOSTNAME$' -s \"$SERVICEDESC$\" -w $ARG1$ -x $UNKNOWN$ -p 5$$",
        macros={"ARG1": "80%; rm -rf /"},
    )
    argv = build_argv(svc, [str(tmp_path)])
    assert argv == [
        str(plugin),
        "-H",
        "192.0.2.7",
        "-n",
        "web 1",
        "-s",
        "Disk /var",
        "-w",
        "80%; rm -rf /",  # one argument, never a shell command
        "-x",
        "$UNKNOWN$",
        "-p",
        "5$",
    ]


def test_build_argv_user1_and_list_commands(tmp_path):
    svc = ServiceDef(host="h", command=["$USER1$/check_tcp", "-H", "$HOSTADDRESS$", "-p", "22"])
    assert build_argv(svc, [str(tmp_path)]) == [f"{tmp_path}/check_tcp", "-H", "h", "-p", "22"]
    missing = ServiceDef(host="h", command="check_not_installed")
    assert build_argv(missing, [str(tmp_path)])[0] == "check_not_installed"


def test_build_argv_bad_quotes():
    with pytest.raises(ValueError):
        build_argv(ServiceDef(host="h", command="check_x 'unterminated"), [])


# -- exit codes (tiny /bin/sh plugins, no timing) ------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "status", "output"),
    [
        ("echo 'OK - fine|t=1s'; exit 0", OK, "OK - fine|t=1s\n"),
        ("echo 'WARNING - hmm'; exit 1", WARNING, "WARNING - hmm\n"),
        ("echo 'CRITICAL - down'; exit 2", CRITICAL, "CRITICAL - down\n"),
        ("echo 'UNKNOWN - ?'; exit 3", UNKNOWN, "UNKNOWN - ?\n"),
        ("echo 'weird'; exit 4", UNKNOWN, "(Return code of 4 is out of bounds)\nweird\n"),
        ("exit 0", OK, "(No output on stdout)"),
        ("echo oops >&2; exit 2", CRITICAL, "(No output on stdout) stderr: oops"),
        ("kill -TERM $$", UNKNOWN, "(Plugin killed by signal 15)\n(No output on stdout)"),
    ],
)
def test_exit_codes(script, status, output):
    result = asyncio.run(execute(["/bin/sh", "-c", script], timeout=60))
    assert (result.status, result.output) == (status, output)
    assert result.duration >= 0


def test_missing_plugin_is_unknown():
    result = asyncio.run(execute(["/nonexistent/check_foo", "-H", "x"], timeout=60))
    assert result.status == UNKNOWN
    assert result.output.startswith("(Plugin not found: /nonexistent/check_foo)")
    result = asyncio.run(execute(["/bin/sh", "-c", "exit 127"], timeout=60))
    assert result.output.startswith("(Return code of 127 is out of bounds - plugin may be missing")


def test_check_once_writes_an_active_result():
    sink = MemorySink()
    clock = iter([99.0, 100.0, 100.25])  # run start (for scheduling), plugin start, plugin end
    runner = CheckRunner(sink, [], clock=lambda: next(clock), wall=lambda: 1_700_000_000.0)
    svc = ServiceDef(
        host="db1", service="PG", command=["/bin/sh", "-c", "echo 'OK - up|conns=3;80;90;0;100'"]
    )
    value = asyncio.run(runner.check_once(svc))
    (record,) = sink.on(RAW_CHECKS)
    assert record.key == b"db1"
    assert loads(record.value) == value
    assert value["source"] == "active" and value["status"] == OK
    assert value["check_time"] == "2023-11-14T22:13:20.000000Z"
    assert value["duration"] == 0.25
    assert value["perfdata"][0]["max"] == 100.0


def test_check_once_waits_for_room_instead_of_dropping():
    class FullOnce(MemorySink):
        refusals = 0

        def produce(self, topic, value, key=None, headers=()):
            if self.refusals < 2:
                self.refusals += 1
                raise BufferFull("full")
            super().produce(topic, value, key, headers)

    sink = FullOnce()
    runner = CheckRunner(sink, [], full_retry=0)
    asyncio.run(runner.check_once(ServiceDef(host="h", command=["/bin/sh", "-c", "echo OK"])))
    assert sink.refusals == 2 and len(sink.records) == 1


def test_bad_command_line_reports_unknown():
    sink = MemorySink()
    value = asyncio.run(CheckRunner(sink, []).check_once(ServiceDef(host="h", command="check_x 'oops")))
    assert value["status"] == UNKNOWN and value["output"].startswith("(Bad command line:")
