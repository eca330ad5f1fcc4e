"""Service groups: the import writes Nagios' servicegroups ([inventory.servicegroups], each service's
`servicegroups`), and a check alert carries them as the label `servicegroups`, which routes and silences match."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay_files import check, jsonl
from tests.unit.test_nagios_host_checks import _write
from tests.unit.test_nagios_import import SYNTHETIC
from vigie.app.nagios_cli import render
from vigie.config import ConfigError, validate
from vigie.nagios.reader import read_main
from vigie.nagios.resolve import resolve
from vigie.pipelines.replay import Replay, read_jsonl


def test_the_import_writes_service_groups_with_their_members(tmp_path: Path) -> None:
    files = render(resolve(read_main(SYNTHETIC)), None, "nagios.cfg")
    assert '[servicegroups.lbs]\ndescription = "Load balancers"' in files["inventory/servicegroups.toml"]
    cfg = _write(files, tmp_path)
    groups = {(s.host, s.name): s.servicegroups for s in cfg.inventory.services}
    assert groups["web1", "PING"] == ["all-groups", "pings"]  # a member pair, and through servicegroup_members
    assert groups["lb1", "TWICE"] == ["all-groups", "lbs"]
    assert groups["db1", "EVERYWHERE"] == ["all-groups", "lbs"]  # the service's own servicegroups directive
    assert groups["web3", "PING"] == ["all-groups", "pings"] and groups["db1", "NOPERIOD"] == []


def _config(routes: list[dict]) -> dict:
    return {"inventory": {"hosts": {"db1": {}}, "servicegroups": {"databases": {}, "backups": {}},
                          "services": [{"host": "db1", "name": "PGSQL", "command": "x", "max_check_attempts": 1,
                                        "servicegroups": ["databases", "backups"]},
                                       {"host": "db1", "name": "DISK", "command": "x", "max_check_attempts": 1}]},
            "routes": routes}


def test_routes_match_the_servicegroups_label() -> None:
    routes = [{"name": "dba", "match_re": {"servicegroups": "(.*,)?databases(,.*)?"}, "webhook": "http://127.0.0.1:9/",
               "group_wait": "0s"},
              {"name": "others", "webhook": "http://127.0.0.1:9/", "group_wait": "0s"}]
    cfg = validate(_config(routes))
    records = [check(100, "db1", "PGSQL", 2), check(100, "db1", "DISK", 2)]
    result = Replay(cfg).run(read_jsonl(jsonl(records).splitlines()), settle=30)
    told = sorted((n["route"], a["fingerprint"]) for n in result.notifications for a in n["alerts"])
    assert ("dba", "db1|check|PGSQL") in told and ("others", "db1|check|DISK") in told
    assert ("dba", "db1|check|DISK") not in told


def test_a_service_names_only_known_service_groups() -> None:
    raw = _config([])
    raw["inventory"]["services"][1]["servicegroups"] = ["nope"]
    with pytest.raises(ConfigError, match=r"^config: inventory.services\[1\].servicegroups: expected a group of "
                                          r"inventory.servicegroups, got \"nope\"$"):
        validate(raw)
