"""Nagios service dependencies: expanded as Nagios does (vigie/nagios/dependencies.py), written as `depends_on`
by the import, and honoured by the correlator: a dependent service's alert is suppressed, and notifies nobody,
while its master fails in a state its dependency names (pipelines/correlate/dependencies.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay_files import check, jsonl
from tests.unit.test_nagios_host_checks import _write
from tests.unit.test_nagios_import import _tree
from vigie.app.nagios_cli import render
from vigie.config import ConfigError, validate
from vigie.nagios.dependencies import expand
from vigie.nagios.reader import read_main
from vigie.nagios.resolve import resolve
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.replay import Replay, read_jsonl

DEPENDENCIES = Path(__file__).parent.parent / "data" / "nagios" / "dependencies" / "nagios.cfg"


def test_same_host_dependencies_on_a_host_group_pair_each_host_with_itself() -> None:
    pairs, notes = expand(resolve(read_main(DEPENDENCIES)))
    first = {(p.master, p.dependent) for p in pairs if p.definition.where.endswith(":74")}
    assert first == {((h, "NRPE"), (h, s)) for h in "ab" for s in ("DISK", "LOAD")}
    assert all(p.inherits_parent and p.notification == {"u", "c"} and p.execution == {"w"}
               for p in pairs if p.definition.where.endswith(":74"))
    # dependent_host_name a, services *,!LOAD,!NRPE: every master host's NRPE, a's DISK only
    second = {(p.master, p.dependent) for p in pairs if p.definition.where.endswith(":93")}
    assert second == {(("a", "NRPE"), ("a", "DISK")), (("b", "NRPE"), ("a", "DISK"))}
    assert notes == [f"{DEPENDENCIES.parent / 'objects.cfg'}:82: servicedependency without failure criteria: "
                     "ignored, as Nagios ignores it"]


def test_the_import_writes_depends_on_and_reports_what_it_cannot_honour(tmp_path: Path) -> None:
    files = render(resolve(read_main(DEPENDENCIES)), None, "nagios.cfg")
    report = files["import-report.txt"]
    assert "objects.cfg:74: servicedependency: execution_failure_criteria w: not carried over" in report
    assert "objects.cfg:100: servicedependency: notification_failure_criteria o,p: not carried over" in report
    assert "servicedependency: not carried over (Vigie's topology is between hosts)" not in report
    cfg = _write(files, tmp_path)
    deps = {(s.host, s.name): [(d.host, d.service, d.states, d.inherit) for d in s.depends_on] for s in cfg.inventory.services}
    assert deps[("a", "LOAD")] == [(None, "NRPE", ["critical", "unknown"], True), ("b", "DISK", ["critical"], False)]
    assert deps[("b", "NRPE")] == []


def test_dependencies_across_sites_are_reported(tmp_path: Path) -> None:
    main = _tree(tmp_path, "define command{\n command_name c\n command_line /bin/c\n}\n"
                           "define host{\n host_name a\n max_check_attempts 1\n _SITE x\n}\n"
                           "define host{\n host_name b\n max_check_attempts 1\n _SITE y\n}\n"
                           "define service{\n host_name a,b\n service_description S\n check_command c\n}\n"
                           "define servicedependency{\n host_name a\n service_description S\n dependent_host_name b\n"
                           " dependent_service_description S\n notification_failure_criteria c\n dependency_period never\n}\n")
    report = render(resolve(read_main(main)), "var:_SITE", "n")["import-report.txt"]
    assert "servicedependency of 'S' on 'b' on 'S' on 'a': the hosts are at different sites" in report
    assert "servicedependency: dependency_period never: not carried over" in report


def test_depends_on_names_a_known_service() -> None:
    services = [{"host": "a", "name": "S", "command": "x", "depends_on": [{"service": "T"}]}]
    with pytest.raises(ConfigError, match=r"^config: inventory.services\[0\].depends_on\[0\]: expected a service of the "
                                          r"inventory, got \"T\" on \"a\"$"):
        validate({"inventory": {"hosts": {"a": {}}, "services": services}})
    services[0]["depends_on"] = [{"service": "S"}]
    with pytest.raises(ConfigError, match="a service cannot depend on itself"):
        validate({"inventory": {"hosts": {"a": {}}, "services": services}})


def _engine(depends_on: list[dict], extra: list[dict] | None = None) -> Engine:
    services = [{"host": "a", "name": "NRPE", "command": "x", "max_check_attempts": 1},
                {"host": "a", "name": "DISK", "command": "x", "max_check_attempts": 1, "depends_on": depends_on},
                *(extra or [])]
    return Engine.from_config(validate({"inventory": {"hosts": {"a": {}}, "services": services},
                                        "routes": [{"name": "all", "webhook": "http://127.0.0.1:9/", "group_wait": "0s"}]}))


def _feed(engine: Engine, records: list[dict]) -> list[tuple[str, dict | None, list[str]]]:
    """Per alert published: (service, suppressed_by, the services notified firing in the next 400 s)."""
    from vigie.pipelines.app import normalize_record
    from vigie.pipelines.normalize.normalize import Normalizer

    normalizer, got = Normalizer(engine.inventory), []
    for r in read_jsonl(jsonl(records).splitlines()):
        event = normalize_record(normalizer, r.topic, r.value, r.received_text, r.key, None, r.origin)
        out = engine.process(event, r.received_at)
        notes = out.notifications + [n for k in range(1, 400, 5) for n in engine.tick(r.received_at + k).notifications]
        told = sorted(a["service"] for n in notes for a in n["alerts"] if a["status"] == "firing")
        got += [(a["service"], a["suppressed_by"], told) for a in out.alerts]
    return got


def test_a_failing_master_suppresses_its_dependents_notifications_until_it_recovers() -> None:
    engine = _engine([{"service": "NRPE", "states": ["critical", "unknown"]}])
    got = _feed(engine, [check(100, "a", "NRPE", 2), check(1000, "a", "DISK", 2), check(2000, "a", "NRPE", 0)])
    assert got == [("NRPE", None, ["NRPE"]),
                   ("DISK", {"kind": "dependency", "ref": "a/NRPE"}, []),  # suppressed: nobody told
                   ("NRPE", None, ["DISK"]), ("DISK", None, ["DISK"])]  # master recovered: DISK still fails, notifies
    without = _feed(_engine([]), [check(100, "a", "NRPE", 2), check(1000, "a", "DISK", 2)])
    assert without[1] == ("DISK", None, ["DISK"])


def test_only_the_states_of_the_dependency_suppress_and_inherit_follows_the_chain() -> None:
    engine = _engine([{"service": "NRPE", "states": ["critical"]}])
    got = _feed(engine, [check(100, "a", "NRPE", 1), check(110, "a", "DISK", 2)])
    assert got[1][:2] == ("DISK", None)  # NRPE in WARNING: not a failing state of this dependency
    chain = [{"host": "a", "name": "LOAD", "command": "x", "max_check_attempts": 1,
              "depends_on": [{"service": "DISK", "states": ["critical"], "inherit": True}]}]
    engine = _engine([{"service": "NRPE", "states": ["critical"]}], chain)
    got = _feed(engine, [check(100, "a", "NRPE", 2), check(105, "a", "LOAD", 2)])
    assert got[1][:2] == ("LOAD", {"kind": "dependency", "ref": "a/DISK"})  # DISK OK but suppressed by NRPE
    got = _feed(engine, [check(1000, "a", "NRPE", 0)])
    assert ("LOAD", None) in [g[:2] for g in got]  # published again when the chain's root recovers
    no_inherit = _engine([{"service": "NRPE", "states": ["critical"]}], [{**chain[0], "depends_on": [{"service": "DISK"}]}])
    assert _feed(no_inherit, [check(100, "a", "NRPE", 2), check(105, "a", "LOAD", 2)])[1][:2] == ("LOAD", None)


def test_imported_dependencies_suppress_in_a_replay(tmp_path: Path) -> None:
    cfg = _write(render(resolve(read_main(DEPENDENCIES)), None, "nagios.cfg"), tmp_path)
    records = [check(100, "b", "NRPE", 3), check(110, "b", "DISK", 2), check(120, "a", "DISK", 2)]
    result = Replay(cfg).run(read_jsonl(jsonl(records).splitlines()), settle=30)
    last = {a["fingerprint"]: a["suppressed_by"] for a in result.alerts}
    assert last == {"b|check|NRPE": None, "b|check|DISK": {"kind": "dependency", "ref": "b/NRPE"}, "a|check|DISK": None}


def test_a_dependency_on_a_service_not_carried_over_is_reported_not_written(tmp_path: Path) -> None:
    main = _tree(tmp_path, "define command{\n command_name c\n command_line /bin/c\n}\n"
                           "define host{\n host_name a\n max_check_attempts 1\n}\n"
                           "define service{\n host_name a\n service_description FED\n}\n"
                           "define service{\n host_name a\n service_description S\n check_command c\n}\n"
                           "define servicedependency{\n host_name a\n service_description FED\n"
                           " dependent_service_description S\n notification_failure_criteria c\n}\n")
    files = render(resolve(read_main(main)), None, "n")
    assert "servicedependency of 'S' on 'a': its master 'FED' on 'a' is not carried over" in files["import-report.txt"]
    assert _write(files, tmp_path / "out").inventory.services[0].depends_on == []  # and the output loads
