"""`vigie import nagios`: a host's check_command becomes the host check Vigie's runner runs, and its results give
the host's UP, DOWN and UNREACHABLE as Nagios does (plugin OK/WARNING: UP, CRITICAL/UNKNOWN: DOWN, DOWN behind
parents that are all down: UNREACHABLE), SOFT then HARD after max_check_attempts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay_files import check, jsonl
from tests.unit.test_nagios_import import SYNTHETIC, _tree
from vigie.app.inventory_cli import resolved
from vigie.app.nagios_cli import render
from vigie.app.services import host_check_defs, service_defs
from vigie.config import Config, ConfigError, load, validate
from vigie.nagios.reader import read_main
from vigie.nagios.resolve import resolve
from vigie.pipelines.replay import Replay, read_jsonl
from vigie.producers.checks.runner import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    CheckState,
    ServiceDef,
    build_argv,
    next_state,
)


def _write(files: dict[str, str], out: Path) -> Config:
    for rel, text in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    return load(out / "vigie.toml")


def test_host_check_commands_become_host_checks_with_the_hosts_intervals(tmp_path: Path) -> None:
    cfg = _write(render(resolve(read_main(SYNTHETIC)), None, "nagios.cfg"), tmp_path)
    defs = {d.host: d for d in host_check_defs(cfg.inventory, cfg.correlation.max_check_attempts)}
    assert sorted(defs) == sorted(cfg.inventory.hosts)  # generic-host's check-host-alive, inherited by all
    db1 = defs["db1"]
    assert (db1.service, db1.check_interval, db1.retry_interval, db1.max_check_attempts) == (None, 600.0, 120.0, 5)
    assert build_argv(db1, ("/usr/lib/nagios/plugins",)) == [
        "/usr/lib/nagios/plugins/check_ping", "-H", "10.1.0.10", "-w", "3000.0,80%", "-c", "5000.0,100%", "-p", "1"]
    assert defs["web1"].max_check_attempts == 3  # site-a's, listed first
    shown = resolved(cfg, "db1")["hosts"][0]
    assert shown["check_command"] == "check-host-alive" and shown["argv"][2] == "10.1.0.10"
    assert not any(d.service is None for d in service_defs(cfg.inventory))  # services stay services


def test_host_checks_not_run_are_reported_with_the_reason(tmp_path: Path) -> None:
    main = _tree(tmp_path, "define command{\n command_name alive\n command_line /bin/alive -H $HOSTADDRESS$ -n $_HOSTN$\n}\n"
                           "define command{\n command_name piped\n command_line /bin/alive | /bin/cat\n}\n"
                           "define host{\n host_name run\n max_check_attempts 2\n check_command alive\n _N 7\n}\n"
                           "define host{\n host_name fed\n max_check_attempts 2\n check_command alive\n active_checks_enabled 0\n}\n"
                           "define host{\n host_name never\n max_check_attempts 2\n check_command alive\n check_interval 0\n}\n"
                           "define host{\n host_name typo\n max_check_attempts 2\n check_command alve\n}\n"
                           "define host{\n host_name shell\n max_check_attempts 2\n check_command piped\n}\n"
                           "define host{\n host_name none\n max_check_attempts 2\n}\n")
    files = render(resolve(read_main(main)), None, "n")
    report = files["import-report.txt"]
    assert "host 'fed': active_checks_enabled 0: its host check is not run" in report
    assert "host 'never': check_interval 0: Nagios checks it only on demand" in report
    assert "host 'typo': unknown command in check_command 'alve': no host check" in report
    assert "host 'shell': the host check's command line uses the shell" in report
    assert "'none'" not in report  # no check_command: nothing to carry, as Nagios (always UP) has nothing to run
    assert "host directive 'check_command'" not in report
    cfg = _write(files, tmp_path / "out")
    defs = host_check_defs(cfg.inventory, cfg.correlation.max_check_attempts)
    assert [d.host for d in defs] == ["run", "shell"]
    assert build_argv(defs[0], ()) == ["/bin/alive", "-H", "run", "-n", "7"]
    assert (cfg.inventory.hosts["fed"].check_command, cfg.inventory.hosts["fed"].command) == ("alive", None)  # shown, not run
    assert (defs[0].check_interval, defs[0].retry_interval) == (300.0, 60.0)  # Nagios 4's defaults


def test_a_host_checks_warning_is_up_for_the_schedule() -> None:
    """Nagios 4 (without aggressive host checking) takes a host plugin's WARNING as UP: no retries for it;
    CRITICAL and UNKNOWN are DOWN, retried at retry_interval until HARD."""
    host = ServiceDef(host="h", command="x", check_interval=300, retry_interval=60, max_check_attempts=2)
    service = ServiceDef(host="h", service="S", command="x", check_interval=300, retry_interval=60, max_check_attempts=2)
    assert next_state(CheckState(), WARNING, 0.0, host) == CheckState(WARNING, "hard", 1, 300.0)
    assert next_state(CheckState(), WARNING, 0.0, service) == CheckState(WARNING, "soft", 1, 60.0)
    soft = next_state(CheckState(WARNING), CRITICAL, 0.0, host)  # UP (WARNING) then DOWN: a new problem
    assert soft == CheckState(CRITICAL, "soft", 1, 60.0)
    assert next_state(soft, UNKNOWN, 60.0, host) == CheckState(UNKNOWN, "hard", 2, 360.0)
    assert next_state(soft, OK, 60.0, host) == CheckState(OK, "hard", 1, 360.0)


def test_imported_host_checks_give_down_and_unreachable_as_nagios(tmp_path: Path) -> None:
    """The import's output, fed host check results as the runner writes them: core1 DOWN (HARD after its 5
    attempts), db2 behind it (parent and host dependency) UNREACHABLE, a symptom of core1's incident; web1's
    WARNING is UP (no alert)."""
    cfg = _write(render(resolve(read_main(SYNTHETIC)), None, "nagios.cfg"), tmp_path)
    records = [check(1000 + 60 * i, "core1", None, CRITICAL, "PING CRITICAL") for i in range(5)]
    records += [check(1010 + 60 * i, "db2", None, UNKNOWN, "PING UNKNOWN") for i in range(5)]
    records += [check(1020 + 60 * i, "web1", None, WARNING, "PING WARNING - RTA 900 ms") for i in range(5)]
    result = Replay(cfg).run(read_jsonl(jsonl(records).splitlines()), settle=120)
    assert {a["host"] for a in result.alerts} == {"core1", "db2"}
    core1 = [(a["state_type"], a["attempt"]) for a in result.alerts if a["host"] == "core1"]
    assert core1 == [("soft", 1), ("soft", 2), ("soft", 3), ("soft", 4), ("hard", 5)]
    last = result.incidents[-1]
    assert last["root_cause"]["host"] == "core1" and last["symptoms"] == ["db2|check"]


def test_an_imported_host_check_runs_and_its_result_is_the_hosts_state(tmp_path: Path) -> None:
    """From the Nagios command to the event: the runner runs the imported host check (a plugin printing its
    argv and exiting with the code the host's custom variable says) and normalize reads the result as the
    host's state: WARNING is UP, CRITICAL is DOWN (the host's liveness)."""
    import asyncio
    import stat

    from vigie.pipelines.app import normalize_record
    from vigie.pipelines.correlate.topology import Inventory
    from vigie.pipelines.normalize.normalize import Normalizer
    from vigie.producers.checks.runner import CheckRunner
    from vigie.sink import MemorySink
    from vigie.topics import RAW_CHECKS

    plugin = tmp_path / "check_fake"
    plugin.write_text('#!/bin/sh\necho "FAKE $1 $2 - exit $3"\nexit "$3"\n')
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    main = _tree(tmp_path, f"define command{{\n command_name alive\n command_line {plugin} -H $HOSTADDRESS$ $_HOSTCODE$\n}}\n"
                           "define host{\n host_name up\n address 192.0.2.1\n max_check_attempts 1\n check_command alive\n _CODE 1\n}\n"
                           "define host{\n host_name down\n address 192.0.2.2\n max_check_attempts 1\n check_command alive\n _CODE 2\n}\n")
    cfg = _write(render(resolve(read_main(main)), None, "n"), tmp_path / "out")
    sink = MemorySink()
    runner = CheckRunner(sink, [])
    for check_def in host_check_defs(cfg.inventory, cfg.correlation.max_check_attempts):
        asyncio.run(runner.check_once(check_def))
    normalizer = Normalizer(Inventory.from_config(cfg.inventory))
    events = {}
    for record in sink.on(RAW_CHECKS):
        event = normalize_record(normalizer, RAW_CHECKS, record.value, None, record.key, None, None)
        events[event["host"]] = (event["severity"], event["summary"], event["attributes"].get("category"))
    assert events == {"up": ("ok", "FAKE -H 192.0.2.1 - exit 1", "liveness"),
                      "down": ("critical", "FAKE -H 192.0.2.2 - exit 2", "liveness")}


@pytest.mark.parametrize("command", ["", " ", [], [1], 5])
def test_a_host_command_that_is_no_command_line_is_one_line(command: object) -> None:
    with pytest.raises(ConfigError, match=r"^config: inventory.hosts.h.command: expected a command line or a list of arguments"):
        validate({"inventory": {"hosts": {"h": {"command": command}}}})


def test_inventory_show_lists_the_host_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from vigie.app import cli

    _write(render(resolve(read_main(SYNTHETIC)), None, "nagios.cfg"), tmp_path)
    assert cli.main(["inventory", "show", "-c", str(tmp_path / "vigie.toml"), "--host", "db1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["(host", "check)", "every", "600s", "check-host-alive"]
