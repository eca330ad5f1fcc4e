"""vigie.nagios (reader, resolve, macros), the inventory's templates/groups/inventory_dir, and the import's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigie.app import cli
from vigie.app.inventory_cli import resolved
from vigie.app.nagios_cli import render
from vigie.app.services import service_defs
from vigie.config import ConfigError, load, validate
from vigie.nagios.macros import command_line, service_macros, split_check_command
from vigie.nagios.reader import NagiosConfigError, read_main
from vigie.nagios.resolve import resolve

SYNTHETIC = Path(__file__).parent.parent / "data" / "nagios" / "synthetic" / "nagios.cfg"


def _tree(tmp_path: Path, objects: str) -> Path:
    (tmp_path / "objects.cfg").write_text(objects)
    (tmp_path / "ignored.txt").write_text("define nonsense {\n")
    main = tmp_path / "nagios.cfg"
    main.write_text("cfg_file=objects.cfg\n")
    return main


def test_reader_joins_continuations_cuts_semicolons_and_keeps_hashes(tmp_path: Path) -> None:
    main = _tree(tmp_path, "define command {\n command_name c ; a comment\n command_line /bin/x -a 1\\;2 \\\n"
                           "   -b '#kept'\n}\n# comment\n; comment\ndefine service{\n host h\n description S\n"
                           " normal_check_interval 7\n _Role web\n}\n")
    defs = read_main(main).definitions
    assert defs[0].attrs == {"command_name": "c", "command_line": "/bin/x -a 1;2    -b '#kept'"}
    assert defs[1].attrs == {"host_name": "h", "service_description": "S", "check_interval": "7"}
    assert defs[1].custom == {"ROLE": "web"}


def test_reader_refuses_an_unclosed_definition_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(NagiosConfigError, match=r"objects.cfg:1: host definition not closed"):
        read_main(_tree(tmp_path, "define host {\n host_name a\n"))
    (tmp_path / "nagios.cfg").write_text("cfg_dir=missing\n")
    with pytest.raises(NagiosConfigError, match=r"nagios.cfg:1: cfg_dir missing: no such folder"):
        read_main(tmp_path / "nagios.cfg")


def test_synthetic_tree_resolves_templates_groups_and_exclusions() -> None:
    objs = resolve(read_main(SYNTHETIC))
    web1, web2, web3 = (objs.hosts[n] for n in ("web1", "web2", "web3"))
    # use site-a,linux: the first template wins; linux's own template (generic-host) fills the rest
    assert (web1.get("max_check_attempts"), web1.get("notification_period"), web1.get("check_interval")) == ("3", "workhours", "10")
    assert web3.get("max_check_attempts") == "5"  # use linux,site-a: linux (from generic-host) first
    assert web1.get("contact_groups") == "admins,oncall"  # +oncall appended to the inherited value
    assert web2.get("check_period") is None  # null stops inheritance
    assert web3.custom["EXPECT"] == "HELLO"
    assert objs.hostgroup_members["all-sites"] == {"core1", "db1", "db2", "web1", "web2", "web3"}
    assert {h for h, s in objs.services if s == "SECRET"} == {"web1", "web2"}  # core1 in !site-b, db1 excluded
    assert objs.services["web1", "PING"].get("max_check_attempts") == "2"
    # implied inheritance: contacts from the host when the service has none; its own otherwise
    assert objs.services["web1", "ALIVE"].get("contact_groups") == "admins,oncall"
    assert objs.services["web1", "SECRET"].get("contact_groups") is None
    assert objs.services["web1", "ALIVE"].get("notification_period") == "workhours"
    assert {h for h, s in objs.services if s == "HTTP"} == {"web1", "web2"}  # template's host_name, then +web2
    assert objs.services["web3", "PING"].get("check_command") == "check_ping!1.0,1%!2.0,2%"  # read later
    assert objs.services["db1", "NOPERIOD"].get("check_period") is None
    assert not any(f.endswith("README.txt") for f in read_main(SYNTHETIC).files)
    http = command_line(objs, objs.services["web1", "HTTP"].get("check_command"),
                        service_macros(objs.services["web1", "HTTP"]), for_runner=True)
    assert http == '/usr/lib/nagios/plugins/check_http -H www.example.org -I $HOSTADDRESS$ -u /a;b -a "user:s3cr$$t"'


def test_command_lines_expand_args_user_and_service_macros() -> None:
    objs = resolve(read_main(SYNTHETIC))
    assert split_check_command(r"c!a\!b!x") == ("c", ["a!b", "x"])
    svc = objs.services["web1", "SECRET"]
    line = command_line(objs, svc.get("check_command"), {"SERVICEDESC": "SECRET"}, for_runner=True)
    assert line == "/usr/lib/nagios/plugins/check_tcp -H $HOSTADDRESS$ -p 4242 -s s3cr$$t -e $_HOSTEXPECT$ -d SECRET"


def test_of_two_definitions_of_one_service_the_later_wins(tmp_path: Path) -> None:
    """As nagios4 -vp resolves it (Nagios 4.4), whether each came from a host name or a host group."""
    head = ("define command{\n command_name c\n command_line /bin/c $ARG1$\n}\n"
            "define host{\n host_name h\n max_check_attempts 1\n}\n"
            "define hostgroup{\n hostgroup_name g\n members h\n}\n")
    group = "define service{\n hostgroup_name g\n service_description S\n check_command c!group\n}\n"
    host = "define service{\n host_name h\n service_description S\n check_command c!host\n}\n"
    for body, kept in ((group + host, "c!host"), (host + group, "c!group")):
        objs = resolve(read_main(_tree(tmp_path, head + body)))
        assert objs.services["h", "S"].get("check_command") == kept
        assert "which Nagios keeps (the later definition wins)" in objs.notes[0][1]


def test_repeated_members_lines_of_a_group_add_up(tmp_path: Path) -> None:
    objs = resolve(read_main(_tree(tmp_path, "define host{\n host_name a\n}\ndefine host{\n host_name b\n}\n"
                                              "define hostgroup{\n hostgroup_name g\n members a\n members b\n}\n")))
    assert objs.hostgroup_members["g"] == {"a", "b"}


def test_import_writes_group_services_that_the_runner_runs_per_host(tmp_path: Path) -> None:
    files = render(resolve(read_main(SYNTHETIC)), "var:_SITE", "nagios.cfg")
    assert files == render(resolve(read_main(SYNTHETIC)), "var:_SITE", "nagios.cfg")  # deterministic
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    cfg = load(tmp_path / "vigie.toml")
    data = resolved(cfg, "web2")
    assert data["hosts"][0]["site"] == "a" and data["hosts"][0]["groups"] == ["all-sites", "everything", "most", "site-a"]
    secret = next(s for s in data["services"] if s["name"] == "SECRET")
    assert secret["argv"][-6:] == ["-s", "s3cr$t", "-e", "OK", "-d", "SECRET"]
    assert secret["check_interval"] == 300.0 and secret["check_command"] == "check_tcp_secret!4242"
    assert files["inventory/services.toml"].count('name = "ALIVE"') == 1  # host_name * stays one entry
    assert 'hostgroup = "*"\nname = "ALIVE"' in files["inventory/services.toml"]
    alive = [d for d in service_defs(cfg.inventory) if d.service == "ALIVE"]
    assert sorted(d.host for d in alive) == sorted(cfg.inventory.hosts) and len(alive) == 9
    # core1 inherits notification_interval 60 from its template: the 2nd notification comes 1h after the first
    assert "name = \"nagios-escalation-1\"\nmatch_re = { host = \"^(core1)$\" }\nescalate_after = \"1h\"" in files["notifications.toml"]
    assert cfg.inventory.hosts["db2"].parents == ["core1"]  # parent and host dependency


def test_group_service_and_template_in_vigie_inventory() -> None:
    cfg = validate({"inventory": {
        "host_templates": {"t": {"check_interval": "10m", "notification_period": "nights", "vars": {"ROLE": "db"}}},
        "hostgroups": {"g": {"members": ["a"]}},
        "hosts": {"a": {"use": "t"}, "b": {"groups": ["g"], "address": "10.0.0.2"}},
        "services": [{"hostgroup": "g", "name": "S", "command": "check_x -H $HOSTADDRESS$ -r $_HOSTROLE$"}]}})
    assert [s.host for s in cfg.inventory.services] == ["a", "b"]
    assert cfg.inventory.hosts["a"].check_interval == 600 and cfg.inventory.services[0].notification_period == "nights"
    argv = {d.host: d.macros.get("_HOSTROLE") for d in service_defs(cfg.inventory)}
    assert argv == {"a": "db", "b": None}
    with pytest.raises(ConfigError, match=r"inventory.services\[0\].hostgroup: expected a host group"):
        validate({"inventory": {"services": [{"hostgroup": "nope", "name": "S", "command": "x"}]}})


def test_inventory_dir_merges_files_and_names_both_on_a_conflict(tmp_path: Path) -> None:
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "a.toml").write_text('[hosts.h1]\naddress = "10.0.0.1"\n[[services]]\nhost = "h1"\nname = "S"\ncommand = "x"\n')
    (tmp_path / "inv" / "b.toml").write_text('[hosts.h2]\nparents = ["h1"]\n')
    (tmp_path / "vigie.toml").write_text('[inventory]\ninventory_dir = "inv"\n')
    cfg = load(tmp_path / "vigie.toml")
    assert sorted(cfg.inventory.hosts) == ["h1", "h2"] and cfg.inventory.services[0].host == "h1"
    (tmp_path / "inv" / "c.toml").write_text('[hosts.h1]\n')
    with pytest.raises(ConfigError, match=r"^config: inv/c.toml: hosts.h1: already defined in inv/a.toml$"):
        load(tmp_path / "vigie.toml")


def test_cli_import_diff_shows_only_what_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tree = tmp_path / "n"
    tree.mkdir()
    main = _tree(tree, "define command{\n command_name c\n command_line /bin/c\n}\n"
                       "define host{\n host_name h\n max_check_attempts 1\n}\n"
                       "define service{\n host_name h\n service_description S\n check_command c\n max_check_attempts 2\n}\n")
    assert cli.main(["import", "nagios", str(main), "--out", str(tmp_path / "out")]) == 0
    (tree / "objects.cfg").write_text((tree / "objects.cfg").read_text().replace("max_check_attempts 2", "max_check_attempts 4"))
    capsys.readouterr()
    assert cli.main(["import", "nagios", str(main), "--out", str(tmp_path / "out"), "--diff"]) == 0
    changed = [line for line in capsys.readouterr().out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == ["-max_check_attempts = 2", "+max_check_attempts = 4"]
    assert cli.main(["inventory", "show", "-c", str(tmp_path / "out" / "vigie.toml"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["services"][0]["max_check_attempts"] == 4


def test_a_service_on_a_host_group_stays_one_entry_unless_a_host_overrides_it(tmp_path: Path) -> None:
    objects = ("define command{\n command_name c\n command_line /bin/c $ARG1$\n}\n"
               "define host{\n host_name a\n max_check_attempts 1\n hostgroups g\n}\n"
               "define host{\n host_name b\n max_check_attempts 1\n hostgroups g\n}\n"
               "define hostgroup{\n hostgroup_name g\n}\n"
               "define service{\n hostgroup_name g\n service_description S\n check_command c!1\n max_check_attempts 2\n}\n")
    services = render(resolve(read_main(_tree(tmp_path, objects))), None, "n")["inventory/services.toml"]
    assert services.count("[[services]]") == 1 and 'hostgroup = "g"' in services
    override = objects + "define service{\n host_name b\n service_description S\n check_command c!2\n max_check_attempts 2\n}\n"
    services = render(resolve(read_main(_tree(tmp_path, override))), None, "n")["inventory/services.toml"]
    assert services.count("[[services]]") == 2 and 'host = "a"' in services and "/bin/c 2" in services


def test_latin1_files_and_addresses_vigie_cannot_take(tmp_path: Path) -> None:
    (tmp_path / "objects.cfg").write_bytes("define host{\n host_name mairie\n alias H\xf4tel de ville\n address srv_01\n}\n"
                                           .encode("latin-1"))
    (tmp_path / "nagios.cfg").write_text("cfg_file=objects.cfg\n")
    files = render(resolve(read_main(tmp_path / "nagios.cfg")), None, "n")
    assert 'description = "Hôtel de ville"' in files["inventory/hosts.toml"]
    assert "address" not in files["inventory/hosts.toml"]
    assert "host 'mairie': address 'srv_01' is not an IP address or DNS name" in files["import-report.txt"]
    for rel, text in files.items():
        (tmp_path / "out" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / rel).write_text(text)
    assert load(tmp_path / "out" / "vigie.toml").inventory.hosts["mairie"].address is None


def test_passive_services_are_listed_but_not_run(tmp_path: Path) -> None:
    main = _tree(tmp_path, "define command{\n command_name c\n command_line /bin/c\n}\n"
                           "define host{\n host_name h\n max_check_attempts 1\n}\n"
                           "define service{\n host_name h\n service_description FED\n check_command c\n"
                           " active_checks_enabled 0\n}\n"
                           "define service{\n host_name h\n service_description NEVER\n check_command c\n check_interval 0\n}\n"
                           "define service{\n host_name h\n service_description RUN\n check_command c\n}\n")
    for rel, text in render(resolve(read_main(main)), None, "n").items():
        (tmp_path / "out" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "out" / rel).write_text(text)
    cfg = load(tmp_path / "out" / "vigie.toml")
    assert [d.service for d in service_defs(cfg.inventory)] == ["RUN"]
    shown = {s["name"]: s for s in resolved(cfg)["services"]}
    assert sorted(shown) == ["FED", "NEVER", "RUN"]
    assert (shown["NEVER"]["check_interval"], shown["NEVER"]["argv"]) == (0.0, ["/bin/c"])


def test_a_templates_null_blocks_the_next_templates_and_exclusions_win(tmp_path: Path) -> None:
    """Both found by the random peer test: Nagios 4 inherits "had, empty" from a template's null, and a
    group's `!host` removes the host whatever its own `hostgroups` or the group's sub-groups say."""
    objs = resolve(read_main(_tree(tmp_path, (
        "define host{\n name n\n register 0\n hostgroups null\n}\n"
        "define host{\n name g\n register 0\n hostgroups sub\n}\n"
        "define host{\n name mid\n register 0\n use n,g\n}\n"
        "define host{\n host_name h\n use mid\n hostgroups +top\n}\n"
        "define host{\n host_name k\n hostgroups sub\n}\n"
        "define hostgroup{\n hostgroup_name sub\n}\n"
        "define hostgroup{\n hostgroup_name top\n members *,!h\n hostgroup_members sub\n}\n"))))
    assert objs.hosts["h"].get("hostgroups") == "top"  # not sub: mid had hostgroups, empty, from n
    assert objs.hostgroup_members == {"sub": {"k"}, "top": {"k"}}


def test_custom_variables_come_from_the_first_template_that_has_them(tmp_path: Path) -> None:
    objs = resolve(read_main(_tree(tmp_path, (
        "define host{\n name a\n register 0\n _V from-a\n}\n"
        "define host{\n name b\n register 0\n _V from-b\n _W from-b\n}\n"
        "define host{\n host_name h\n use a,b\n}\n"))))
    assert objs.hosts["h"].custom == {"V": "from-a", "W": "from-b"}


ESCALATIONS = """
define command {\n command_name ping\n command_line /bin/true\n}
define timeperiod {\n timeperiod_name workhours\n monday 09:00-17:00\n}
define contact {\n contact_name ann\n email ann@example.org\n service_notification_period workhours\n}
define contact {\n contact_name bob\n pager +33600000000\n}
define contact {\n contact_name carl\n email carl@example.org\n}
define contactgroup {\n contactgroup_name ops\n members ann,bob\n}
define host {\n host_name a\n notification_interval 10\n contacts carl\n}
define host {\n host_name b\n notification_interval 20\n contacts carl\n}
define host {\n host_name once\n notification_interval 0\n contacts carl\n}
define hostgroup {\n hostgroup_name g\n members a,b,once\n}
define service {\n host_name a,b\n service_description HTTP\n check_command ping\n}
define hostescalation {\n hostgroup_name g\n first_notification 3\n last_notification 5\n notification_interval 15
 escalation_period workhours\n escalation_options d,u\n contact_groups ops\n}
define serviceescalation {\n host_name a,b\n service_description HTTP\n first_notification 1\n contacts ann\n}
define serviceescalation {\n host_name a\n service_description NOPE\n contacts ann\n}
define hostescalation {\n host_name a\n first_notification 2\n}
"""


def _routes(text: str) -> dict[str, dict[str, object]]:
    import tomllib

    return {r["name"]: r for r in tomllib.loads(text)["routes"]}


def test_escalations_become_routes_after_first_notification_minus_one_intervals(tmp_path: Path) -> None:
    files = render(resolve(read_main(_tree(tmp_path, ESCALATIONS))), None, "nagios.cfg")
    routes = _routes(files["notifications.toml"])
    # 3rd notification: 2 host intervals after the first, per host (a: 10 min, b: 20 min); `once` never gets there
    assert routes["nagios-escalation-1"] == {"name": "nagios-escalation-1", "match_re": {"host": "^(a)$"},
                                             "escalate_after": "20m", "escalate_to": "nagios-escalation-1-to", "continue": True}
    assert routes["nagios-escalation-1-2"]["match_re"] == {"host": "^(b)$"}
    assert routes["nagios-escalation-1-2"]["escalate_after"] == "40m"
    assert routes["nagios-escalation-1-to"] == {
        "name": "nagios-escalation-1-to", "match": {"kind": "escalation-only"}, "timeperiod": "workhours",
        "receivers": ["ann", "bob-sms"], "continue": True}
    # a service escalation from the first notification: at once; the service's interval is its host's (implied)
    assert routes["nagios-escalation-3"]["match_re"] == {"host": "^(a|b)$", "service": "^(HTTP)$"}
    assert routes["nagios-escalation-3"]["escalate_after"] == "0s"
    assert routes["nagios-escalation-3-to"]["receivers"] == ["ann"]
    assert "nagios-escalation-4" not in routes
    # no contacts, interval or period of its own: the host's (Nagios' implied inheritance for escalations)
    assert routes["nagios-escalation-2-to"]["receivers"] == ["carl"]
    assert "hostescalation nagios-escalation-2: notification_interval 10m: not carried over" in files["import-report.txt"]
    assert "hostescalation nagios-escalation-1: notification_interval 15m: not carried over" in files["import-report.txt"]
    assert "nagios-escalation-3: the escalated objects have different notification_intervals" in files["import-report.txt"]
    assert routes["nagios-contact-carl"]["match_re"] == {"host": "^(a|b|once)$"}
    report = files["import-report.txt"]
    assert "hostescalation nagios-escalation-1: last_notification 5: not carried over" in report
    assert "hostescalation nagios-escalation-1: escalation_options d,u: not carried over" in report
    assert "nagios-escalation-1: once notifies once (notification_interval 0)" in report
    assert "serviceescalation nagios-escalation-4: no host or service: not carried over" in report
    assert "receivers bob-sms: Nagios pages through a command" in report
    cfg = validate(__import__("tomllib").loads(files["notifications.toml"]))
    assert cfg.receivers["ann"].smarthost == ("localhost", 25) and cfg.receivers["bob-sms"].to == ["+33600000000"]


def test_cli_import_output_passes_config_check_alone_and_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli.main(["import", "nagios", str(_tree(tmp_path, ESCALATIONS)), "--out", str(out)]) == 0
    (out / "all.toml").write_text((out / "vigie.toml").read_text() + "\n" + (out / "notifications.toml").read_text())
    for name in ("vigie.toml", "notifications.toml", "all.toml"):
        assert cli.main(["config", "check", str(out / name)]) == 0
    assert "ok:" in capsys.readouterr().out
    cfg = load(out / "all.toml")
    by_name = {r.name: r for r in cfg.routes}
    assert by_name["nagios-escalation-3"].escalate_after == 0.0 and by_name["nagios-escalation-1-2"].escalate_after == 2400
    assert sorted(cfg.inventory.hosts) == ["a", "b", "once"]
    from vigie.pipelines.correlate.engine import Engine

    router = Engine.from_config(cfg).router  # the routes' labels are ones the engine matches on
    matched = [r.name for r in router.match({"host": "a", "service": "HTTP", "kind": "check"}, now=0.0)]
    assert matched == ["nagios-contact-carl", "nagios-escalation-1", "nagios-escalation-2", "nagios-escalation-3"]


def test_cli_import_refuses_in_one_line_what_does_not_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main = _tree(tmp_path, "define contact {\n contact_name ann\n email a@b\n}\n"
                           "define host {\n host_name a\n contacts ann\n notification_period nowhere\n}\n")
    (tmp_path / "objects.cfg").write_text((tmp_path / "objects.cfg").read_text().replace("email a@b\n", "email a@b\n service_notification_period nowhere\n"))
    assert cli.main(["import", "nagios", str(main), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vigie import nagios: the written configuration does not load: config: routes[0].timeperiod: "
                   "expected one of 24x7, never, got \"nowhere\""]


# Established with nagios4 -vp (Nagios 4.4.6): which of two or three definitions of service X each host keeps.
# h: host_name, g: hostgroup_name, hg: both (HOSTS|GROUPS); the digit is the definition kept (1 = first read).
DUP_HOSTS = "".join(f"define host {{\n host_name {h}\n{extra}}}\n" for h, extra in (
    ("a", ""), ("b", ""), ("c", " hostgroups g6,g8\n"), ("d", " hostgroups g8\n"), ("e", " hostgroups g6\n"),
    ("f", " hostgroups g6\n"), ("g", "")))
DUP_GROUPS = "".join(f"define hostgroup {{\n hostgroup_name {n}\n{body}}}\n" for n, body in (
    ("g", " members a,b,c\n"), ("g2", " members c,b\n"), ("g3", " members d,a,e\n"),
    ("g4", " members f\n hostgroup_members g3\n"), ("g5", " members *\n"), ("g6", ""),
    ("g7", " hostgroup_members g2,g3\n"), ("g8", " members c,b\n"), ("g9", " members a,b,c,d,!d\n")))
DUPLICATES = [
    ([("h", "a,b,c"), ("h", "c")], "a1 b1 c1"), ([("h", "c"), ("h", "a,b,c")], "a2 b2 c2"),
    ([("h", "a,b,c"), ("h", "c,b,a")], "a2 b1 c1"), ([("h", "a,b,c"), ("h", "a,b,c")], "a2 b1 c1"),
    ([("h", "a,b"), ("h", "b,c"), ("h", "b")], "a1 b1 c2"), ([("g", "g"), ("h", "c")], "a1 b1 c2"),
    ([("h", "c"), ("g", "g")], "a2 b2 c2"), ([("g", "g"), ("g", "g2")], "a1 b2 c1"),
    ([("g", "g2"), ("g", "g")], "a2 b1 c2"), ([("h", "a,b,c,d"), ("h", "d,c,b,a"), ("h", "b,d")], "a2 b1 c1 d1"),
    ([("h", "c,a"), ("h", "a,c")], "a1 c2"), ([("h", "*"), ("h", "*")], "a1 b1 c1 d1 e1 f1 g2"),
    ([("h", "*,!a"), ("h", "*,!a")], "b1 c1 d1 e1 f1 g2"), ([("h", "d,a,c"), ("h", "d,a,c")], "a1 c1 d2"),
    ([("h", "b,c,!b"), ("h", "b,c,!b")], "c1"), ([("g", "g2"), ("g", "g2")], "b2 c1"),
    ([("g", "g,g2"), ("g", "g,g2")], "a1 b1 c1"), ([("g", "g3"), ("g", "g3")], "a1 d1 e2"),
    ([("g", "g4"), ("g", "g4")], "a1 d1 e1 f2"), ([("g", "g5"), ("g", "g5")], "a2 b1 c1 d1 e1 f1 g1"),
    ([("g", "g3,g2"), ("g", "g3,g2")], "a1 b1 c1 d1 e2"), ([("g", "g2,g3"), ("g", "g2,g3")], "a1 b2 c1 d1 e1"),
    ([("g", "g6"), ("g", "g6")], "c1 e1 f2"), ([("g", "g7"), ("g", "g7")], "a1 b1 c1 d2 e1"),
    ([("g", "g8"), ("g", "g8")], "b2 c1 d1"), ([("h", "a,*"), ("h", "a,*")], "a2 b1 c1 d1 e1 f1 g1"),
    ([("h", "*,a"), ("h", "*,a")], "a1 b1 c1 d1 e1 f1 g2"), ([("g", "g,!g2"), ("g", "g,!g2")], "a1"),
    ([("g", "g9"), ("g", "g9")], "a1 b1 c2"), ([("hg", "a,f|g2"), ("hg", "a,f|g2")], "a1 b2 c1 f1"),
    ([("hg", "b|g2"), ("hg", "b|g2")], "b1 c1"),
]


def duplicate_tree(defs: list[tuple[str, str]]) -> str:
    def where(kind: str, value: str) -> str:
        hosts, _, groups = value.partition("|") if kind == "hg" else (value, "", value)
        return (f" host_name {hosts}\n" if kind in ("h", "hg") else "") + (f" hostgroup_name {groups}\n" if kind in ("g", "hg") else "")

    return ("define command {\n command_name c\n command_line /bin/true $ARG1$\n}\n" + DUP_HOSTS + DUP_GROUPS
            + "".join(f"define service {{\n{where(k, v)} service_description X\n check_command c!{i}\n}}\n"
                      for i, (k, v) in enumerate(defs, 1)))


@pytest.mark.parametrize(("defs", "kept"), DUPLICATES)
def test_duplicate_services_are_resolved_as_nagios4_does(tmp_path: Path, defs: list[tuple[str, str]], kept: str) -> None:
    objs = resolve(read_main(_tree(tmp_path, duplicate_tree(defs))))
    got = " ".join(f"{h}{objs.services[h, s].get('check_command')[2:]}" for h, s in sorted(objs.services))
    assert got == kept
