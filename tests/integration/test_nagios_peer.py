"""Vigie's resolution of Nagios objects against nagios4's own: `nagios4 -vp` writes the objects it resolved
(the precached object file); `vigie import nagios` then `vigie inventory show --format json` must give the
same hosts and services, field by field. No Kafka needed."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.unit.test_nagios_import import DUPLICATES, duplicate_tree

SYNTHETIC = Path(__file__).parent.parent / "data" / "nagios" / "synthetic"
NAGIOS = shutil.which("nagios4") or "/usr/sbin/nagios4"
pytestmark = [pytest.mark.peer, pytest.mark.skipif(not (Path(NAGIOS).exists() and Path("/etc/nagios4/nagios.cfg").exists()),
                                                   reason="nagios4 not installed (scripts/setup installs nagios4-core)")]


def _precache(tree: Path, main: Path) -> dict[str, list[dict[str, str]]]:
    """Run nagios4 -vp on a copy of Debian's main file whose objects are main's; parse the precache."""
    tree.chmod(0o777)  # nagios4 drops to the nagios user to write the precache
    keep = [line for line in main.read_text().splitlines() if line.startswith(("cfg_", "resource_file", "interval_length"))]
    base = [line for line in Path("/etc/nagios4/nagios.cfg").read_text().splitlines()
            if not line.startswith(("cfg_", "resource_file", "precached_object_file", "lock_file"))]
    full = tree / "full.cfg"
    rel = [f"{k}={(main.parent / v) if not v.startswith('/') and k != 'interval_length' else v}"
           for k, _, v in (line.partition("=") for line in keep)]
    full.write_text("\n".join(base + rel + [f"precached_object_file={tree}/objects.precache", f"lock_file={tree}/lock"]) + "\n")
    done = subprocess.run([NAGIOS, "-vp", str(full)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-2000:]
    objects: dict[str, list[dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for line in (tree / "objects.precache").read_text().splitlines():
        if line.startswith("define "):
            current = {}
            objects.setdefault(line.split()[1], []).append(current)
        elif line.strip() == "}":
            current = None
        elif current is not None and line.strip():
            key, _, value = line.strip().partition("\t")
            current[key] = value.strip()
    return objects


def _vigie(tmp: Path, main: Path) -> dict:
    out = tmp / "imported"
    subprocess.run([sys.executable, "-m", "vigie.app.cli", "import", "nagios", str(main), "--out", str(out)],
                   check=True, capture_output=True, timeout=60)
    shown = subprocess.run([sys.executable, "-m", "vigie.app.cli", "inventory", "show", "-c", str(out / "vigie.toml"),
                            "--format", "json"], check=True, capture_output=True, text=True, timeout=60)
    return json.loads(shown.stdout)


def _compare(nagios: dict[str, list[dict[str, str]]], vigie: dict, interval_length: float = 60.0) -> None:
    groups: dict[str, set[str]] = {}
    for g in nagios.get("hostgroup", []):
        for h in filter(None, g.get("members", "").split(",")):
            groups.setdefault(h, set()).add(g["hostgroup_name"])
    expected_hosts = {
        h["host_name"]: {"address": h.get("address", h["host_name"]), "parents": sorted(filter(None, h.get("parents", "").split(","))),
                         "groups": sorted(groups.get(h["host_name"], ())), "max_check_attempts": int(h["max_check_attempts"]),
                         "check_interval": float(h["check_interval"]) * interval_length,
                         "retry_interval": float(h["retry_interval"]) * interval_length,
                         "check_period": h.get("check_period"), "notification_period": h.get("notification_period"),
                         "check_command": h.get("check_command")}
        for h in nagios.get("host", [])
    }
    got_hosts = {h["name"]: {k: h[k] for k in expected_hosts[h["name"]]} for h in vigie["hosts"]}
    # Vigie adds host dependencies to parents (its topology): compare parents without them
    for name, host in got_hosts.items():
        host["parents"] = sorted(set(host["parents"]) & set(expected_hosts[name]["parents"])) if expected_hosts[name]["parents"] else host["parents"]
    deps = {d["dependent_host_name"] for d in nagios.get("hostdependency", [])}
    for name in deps:
        got_hosts[name]["parents"] = expected_hosts[name]["parents"]
    assert got_hosts == expected_hosts
    expected_services = {
        (s["host_name"], s["service_description"]): {
            "check_command": s["check_command"], "max_check_attempts": int(s["max_check_attempts"]),
            "check_interval": float(s["check_interval"]) * interval_length,
            "retry_interval": float(s["retry_interval"]) * interval_length,
            "check_period": s.get("check_period"), "notification_period": s.get("notification_period")}
        for s in nagios.get("service", [])
    }
    got_services = {(s["host"], s["name"]): {k: s[k] for k in next(iter(expected_services.values()))} for s in vigie["services"]}
    assert got_services == expected_services


@pytest.fixture
def world() -> Iterator[Path]:
    """A folder the nagios user can read and write (pytest's tmp_path sits under a 0700 folder)."""
    folder = Path(tempfile.mkdtemp(prefix="vigie-nagios-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_synthetic_configuration_resolves_as_nagios4_does(world: Path) -> None:
    tree = world / "synthetic"
    shutil.copytree(SYNTHETIC, tree)
    nagios, vigie = _precache(world, tree / "nagios.cfg"), _vigie(world, tree / "nagios.cfg")
    _compare(nagios, vigie)
    # service groups (members, services' servicegroups, servicegroup_members) as the inventory's services carry them
    expected = {g["servicegroup_name"]: set(zip(*[iter(g["members"].split(","))] * 2, strict=True)) for g in nagios["servicegroup"]}
    assert {g: {(s["host"], s["name"]) for s in vigie["services"] if g in s["servicegroups"]} for g in expected} == expected


@pytest.mark.parametrize("every_file", [False, True], ids=["as-shipped", "with-windows-switch-printer"])
def test_debian_sample_objects_resolve_as_nagios4_does(world: Path, every_file: bool) -> None:
    """Debian's sample objects as its nagios.cfg reads them, then with the commented-out samples too."""
    tmp_path = world
    main = tmp_path / "nagios.cfg"
    lines = Path("/etc/nagios4/nagios.cfg").read_text().splitlines()
    if every_file:
        lines = [line.removeprefix("#") if line.startswith("#cfg_file=/etc/nagios4/objects/") else line for line in lines]
    main.write_text("".join(line + "\n" for line in lines if line.startswith(("cfg_", "resource_file"))))
    _compare(_precache(tmp_path, main), _vigie(tmp_path, main))


def _set(value: str | None) -> set[str]:
    return set(filter(None, (value or "").split(",")))


def test_resolved_objects_match_nagios4_beyond_the_inventory(world: Path) -> None:
    """What the inventory JSON does not show but the import uses: custom variables, contacts and contact
    groups (with the implied inheritance), notification intervals, group members, time periods."""
    from vigie.nagios.reader import read_main
    from vigie.nagios.resolve import resolve

    tree = world / "synthetic"
    shutil.copytree(SYNTHETIC, tree)
    nagios = _precache(world, tree / "nagios.cfg")
    objs = resolve(read_main(tree / "nagios.cfg"))

    def people(attrs: dict) -> tuple[set[str], set[str]]:
        return _set(attrs.get("contacts")), _set(attrs.get("contact_groups"))

    for h in nagios["host"]:
        mine = objs.hosts[h["host_name"]]
        assert {k[1:]: v for k, v in h.items() if k.startswith("_")} == mine.custom, h["host_name"]
        assert people(h) == people(mine.attrs), h["host_name"]
    for s in nagios["service"]:
        mine = objs.services[s["host_name"], s["service_description"]]
        key = (s["host_name"], s["service_description"])
        assert people(s) == people(mine.attrs), key
        assert float(s["notification_interval"]) == float(mine.get("notification_interval") or 30), key
    assert {g["contactgroup_name"]: _set(g.get("members")) for g in nagios["contactgroup"]} == objs.contactgroup_members
    assert {g["servicegroup_name"]: set(zip(*[iter(g["members"].split(","))] * 2, strict=True))
            for g in nagios["servicegroup"]} == objs.servicegroup_members
    for tp in nagios["timeperiod"]:
        mine = objs.timeperiods[tp["timeperiod_name"]]
        assert {k: v for k, v in tp.items() if k != "timeperiod_name"} == \
            {k: v for k, v in mine.attrs.items() if k != "timeperiod_name"}, tp["timeperiod_name"]
    assert [(d["host_name"], d["dependent_host_name"]) for d in nagios["hostdependency"]] == \
        [(d.get("host_name"), d.get("dependent_host_name")) for d in objs.dependencies]


_DAEMON_KEYS = ("log_file", "object_cache_file", "precached_object_file", "status_file", "status_update_interval",
                "command_file", "lock_file", "temp_file", "log_archive_path", "check_result_path",
                "state_retention_file", "debug_file", "execute_service_checks", "execute_host_checks")


def _wait_for(path: Path, text: str, timeout: float = 20.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in (content := path.read_text(errors="replace")):
            return content
        time.sleep(0.2)
    raise AssertionError(f"{path} never held {text!r}")


def test_state_of_a_running_nagios4_becomes_control_commands(world: Path) -> None:
    """A real nagios4 daemon acknowledges, schedules downtimes and comments; its status.dat and, once stopped,
    its retention.dat give the same control commands."""
    import os
    import signal
    import time

    from vigie.nagios.state import commands, read_blocks

    world.chmod(0o777)
    tree = world / "s"
    shutil.copytree(SYNTHETIC, tree)
    for sub in ("spool", "archives"):
        (world / sub).mkdir()
        (world / sub).chmod(0o777)
    base = [line for line in Path("/etc/nagios4/nagios.cfg").read_text().splitlines()
            if not line.startswith(("cfg_", "resource_file", *_DAEMON_KEYS))]
    own = {"log_file": "nagios.log", "object_cache_file": "objects.cache", "precached_object_file": "objects.precache",
           "status_file": "status.dat", "command_file": "nagios.cmd", "lock_file": "nagios.pid", "temp_file": "nagios.tmp",
           "log_archive_path": "archives", "check_result_path": "spool", "state_retention_file": "retention.dat",
           "debug_file": "nagios.debug"}
    lines = base + [f"{k}={world / v}" for k, v in own.items()] + [
        f"cfg_file={tree}/objects/base.cfg", f"cfg_dir={tree}/objects/sub", f"resource_file={tree}/resource.cfg",
        "status_update_interval=1", "execute_service_checks=0", "execute_host_checks=0"]
    (world / "nagios.cfg").write_text("\n".join(lines) + "\n")
    subprocess.run([NAGIOS, "-d", str(world / "nagios.cfg")], check=True, timeout=30)
    pid = int(_wait_for(world / "nagios.pid", "\n").strip() or "0")
    try:
        now = int(time.time())
        cmd = world / "nagios.cmd"
        _wait_for(world / "status.dat", "hoststatus")
        with cmd.open("w") as f:
            f.write(f"[{now}] PROCESS_HOST_CHECK_RESULT;web1;1;down\n")
            f.writelines(f"[{now}] PROCESS_SERVICE_CHECK_RESULT;db1;NOPERIOD;2;crit\n" for _ in range(4))
        _wait_for(world / "status.dat", "current_state=2")
        with cmd.open("w") as f:
            f.write(f"[{now}] ACKNOWLEDGE_HOST_PROBLEM;web1;2;1;1;alice;router replaced tomorrow\n"
                    f"[{now}] ACKNOWLEDGE_SVC_PROBLEM;db1;NOPERIOD;2;1;1;bob;disk ordered\n"
                    f"[{now}] SCHEDULE_HOST_DOWNTIME;web2;{now};{now + 7200};1;0;7200;carol;kernel upgrade\n"
                    f"[{now}] SCHEDULE_SVC_DOWNTIME;db2;DISK;{now};{now + 3600};0;0;1800;dave;flexible window\n"
                    f"[{now}] ADD_HOST_COMMENT;core1;1;erin;a plain comment\n")
        _wait_for(world / "status.dat", "servicedowntime")
        _wait_for(world / "status.dat", "problem_has_been_acknowledged=1")
        from_status, notes = commands(read_blocks(world / "status.dat"), now)
    finally:
        os.kill(pid, signal.SIGTERM)
    _wait_for(world / "retention.dat", "servicedowntime")
    from_retention, _ = commands(read_blocks(world / "retention.dat"), now)

    def summary(values: list[dict]) -> list[tuple]:
        return sorted((v["kind"], v["id"], v["author"], v.get("reason") or v.get("text"), v.get("end")) for v in values)

    end = datetime.fromtimestamp(now + 7200, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert summary(from_status) == summary(from_retention)
    listed = [s for s in summary(from_status) if s[0] not in ("silence", "comment")]
    assert listed == [
        ("acknowledge", "nagios-ack-db1-NOPERIOD", "bob", "disk ordered", None),
        ("acknowledge", "nagios-ack-web1", "alice", "router replaced tomorrow", None),
        ("maintenance", "nagios-downtime-1", "carol", "kernel upgrade", end)]
    comments = [v for v in from_status if v["kind"] == "comment"]  # people's comments, now carried over
    assert any("a plain comment" in v["text"] for v in comments) and any("flexible" in n for n in notes)


def _random_tree(rng: random.Random, descriptions: int | None = None) -> str:
    """Object definitions drawn at random from the features the resolver covers (templates chained and
    multiple, + and null, groups with * and !, services on groups and host lists, custom variables), all
    valid for Nagios; the test lets nagios4 say how they resolve. Each service definition has its own
    description: which of two definitions of one service on one host Nagios keeps depends on how it
    expands multi-host definitions (resolve._duplicate_rank); with `descriptions`, definitions draw theirs from
    that many, so that one service is defined several times on a host."""
    out = ["define command {\n command_name c\n command_line /bin/true $ARG1$ $_HOSTV$\n}\n"]
    for p in ("24x7", "work", "night"):
        out.append(f"define timeperiod {{\n timeperiod_name {p}\n alias {p}\n monday 00:00-24:00\n}}\n")
    for c in ("c1", "c2", "c3"):
        out.append(f"define contact {{\n contact_name {c}\n host_notification_period 24x7\n service_notification_period 24x7\n"
                   " host_notification_commands c\n service_notification_commands c\n}\n")
    out.append("define contactgroup {\n contactgroup_name cg1\n alias a\n members c1\n}\n"
               "define contactgroup {\n contactgroup_name cg2\n alias b\n members c2,c3\n}\n")
    hosts = [f"h{i}" for i in range(12)]
    groups = [f"g{i}" for i in range(4)]

    def maybe(attr: str, values: list[str], additive: bool = False) -> str:
        roll = rng.random()
        if roll < 0.45:
            return ""
        if roll < 0.55 and not values[0].isdigit():  # null on a number is 0 to Nagios, and invalid
            return f" {attr} null\n"
        value = ",".join(rng.sample(values, rng.randint(1, min(2, len(values))))) if additive else rng.choice(values)
        return f" {attr} {'+' if additive and rng.random() < 0.5 else ''}{value}\n"

    def host_attrs() -> str:
        return (maybe("max_check_attempts", [str(n) for n in range(1, 9)]) + maybe("check_interval", ["1", "5", "10"])
                + maybe("retry_interval", ["1", "2"]) + maybe("check_period", ["24x7", "work"])
                + maybe("notification_period", ["24x7", "night"]) + maybe("contact_groups", ["cg1", "cg2"], True)
                + maybe("contacts", ["c1", "c3"], True) + maybe("hostgroups", groups, True)
                + maybe("notification_interval", ["15", "60"]) + (f" _V v{rng.randint(0, 9)}\n" if rng.random() < 0.4 else ""))

    out.append("define host {\n name T0\n register 0\n max_check_attempts 3\n}\n")
    for i in range(1, 6):
        parents = rng.sample([f"T{j}" for j in range(1, i)], min(i - 1, rng.randint(0, 2)))
        use = f" use {','.join(parents)}\n" if parents else ""
        check = f" check_command c!t{i}\n" if i % 2 else ""  # no draw: the trees of the seeds stay as they were
        out.append(f"define host {{\n name T{i}\n register 0\n{use}{host_attrs()}{check}}}\n")
    for g in groups:
        members = maybe("members", [*hosts, "*"], True).replace(" null\n", " h0\n")
        if members and rng.random() < 0.3:
            members = members.rstrip("\n") + f",!{rng.choice(hosts)}\n"
        subs = [x for x in groups if x < g]
        sub = f" hostgroup_members {rng.choice(subs)}\n" if subs and rng.random() < 0.4 else ""
        out.append(f"define hostgroup {{\n hostgroup_name {g}\n alias {g}\n{members}{sub}}}\n")
    for i, h in enumerate(hosts):
        use = ",".join([*rng.sample([f"T{j}" for j in range(1, 6)], rng.randint(1, 3)), "T0"])
        parent = f" parents {rng.choice(hosts[:i])}\n" if i and rng.random() < 0.4 else ""
        check = f" check_command c!{h}\n" if i % 4 == 0 else ""
        out.append(f"define host {{\n host_name {h}\n address 10.0.0.{i + 1}\n use {use}\n{parent}{host_attrs()}{check}}}\n")

    def service_attrs() -> str:
        return (maybe("max_check_attempts", [str(n) for n in range(1, 6)]) + maybe("check_interval", ["1", "5", "15"])
                + maybe("retry_interval", ["1", "3"]) + maybe("check_period", ["24x7", "night"])
                + maybe("notification_period", ["work", "night"]) + maybe("contact_groups", ["cg1", "cg2"], True)
                + maybe("contacts", ["c2"], True) + maybe("notification_interval", ["30", "90"]))

    out.append("define service {\n name S0\n register 0\n max_check_attempts 2\n check_command c!base\n}\n")
    for i in range(1, 4):
        use = f" use S{rng.randint(0, i - 1)}\n" if rng.random() < 0.6 else ""
        out.append(f"define service {{\n name S{i}\n register 0\n{use}{service_attrs()}}}\n")
    for i in range(14):
        keep = rng.choice(hosts)
        names = [keep, *[f"!{h}" for h in rng.sample(hosts, 2) if h != keep]]
        if rng.random() < 0.3:
            names = ["*", *names[1:]]
        groups_part = ""
        if rng.random() < 0.5:
            picked = rng.sample(groups, rng.randint(1, 2))
            if rng.random() < 0.3:
                picked.append("!" + rng.choice([g for g in groups if g not in picked]))
            groups_part = f" hostgroup_name {','.join(picked)}\n"
        use = ",".join(rng.sample(["S1", "S2", "S3"], rng.randint(1, 2)) + ["S0"])
        desc = i if descriptions is None else rng.randrange(descriptions)
        out.append(f"define service {{\n use {use}\n service_description D{desc}\n host_name {','.join(names)}\n"
                   f"{groups_part} check_command c!arg{i}\n{service_attrs()}}}\n")
    return "".join(out)


@pytest.mark.parametrize("seed", range(20))  # 60 seeds passed when written (37 s)
def test_random_configurations_resolve_as_nagios4_does(world: Path, seed: int) -> None:
    """Generated trees: whatever nagios4 makes of them, Vigie must make the same."""
    from vigie.nagios.reader import read_main
    from vigie.nagios.resolve import resolve

    tree = world / "random"
    tree.mkdir()
    (tree / "objects.cfg").write_text(_random_tree(random.Random(seed)))
    (tree / "nagios.cfg").write_text("cfg_file=objects.cfg\n")
    nagios = _precache(world, tree / "nagios.cfg")
    _compare(nagios, _vigie(world, tree / "nagios.cfg"))
    objs = resolve(read_main(tree / "nagios.cfg"))
    for kind, mine in (("host", lambda o: objs.hosts[o["host_name"]]),
                       ("service", lambda o: objs.services[o["host_name"], o["service_description"]])):
        for o in nagios.get(kind, []):
            got = mine(o)
            assert (_set(o.get("contacts")), _set(o.get("contact_groups"))) == \
                (_set(got.get("contacts")), _set(got.get("contact_groups"))), (kind, o)
            assert {k[1:]: v for k, v in o.items() if k.startswith("_")} == got.custom, (kind, o)


@pytest.mark.parametrize("seed", range(20))
def test_random_configurations_with_duplicate_services_resolve_as_nagios4_does(world: Path, seed: int) -> None:
    """14 definitions sharing 4 descriptions: which definition each host keeps is Nagios' choice."""
    tree = world / "random"
    tree.mkdir()
    (tree / "objects.cfg").write_text(_random_tree(random.Random(1000 + seed), descriptions=4))
    (tree / "nagios.cfg").write_text("cfg_file=objects.cfg\n")
    _compare(_precache(world, tree / "nagios.cfg"), _vigie(world, tree / "nagios.cfg"))


_REQUIRED = {"define host {\n": "define host {\n max_check_attempts 1\n check_period 24x7\n notification_period 24x7\n contacts k\n",
             "define service {\n": "define service {\n max_check_attempts 1\n check_interval 5\n retry_interval 1\n"
             " check_period 24x7\n notification_period 24x7\n contacts k\n"}


@pytest.mark.parametrize(("defs", "kept"), DUPLICATES)
def test_the_duplicate_cases_of_the_unit_tests_are_what_nagios4_keeps(world: Path, defs: list[tuple[str, str]], kept: str) -> None:
    """The table the unit tests hold (tests/unit/test_nagios_import.py) checked against nagios4 itself."""
    objects = duplicate_tree(defs)
    for head, full in _REQUIRED.items():
        objects = objects.replace(head, full)
    objects += ("define timeperiod {\n timeperiod_name 24x7\n alias always\n monday 00:00-24:00\n}\n"
                "define contact {\n contact_name k\n host_notification_period 24x7\n service_notification_period 24x7\n"
                " host_notification_commands c\n service_notification_commands c\n}\n")
    tree = world / "dup"
    tree.mkdir()
    (tree / "objects.cfg").write_text(objects)
    (tree / "nagios.cfg").write_text("cfg_file=objects.cfg\n")
    got = sorted((s["host_name"], s["check_command"]) for s in _precache(world, tree / "nagios.cfg")["service"])
    assert " ".join(f"{h}{c[2:]}" for h, c in got) == kept


DEPENDENCIES = Path(__file__).parent.parent / "data" / "nagios" / "dependencies"
_LETTER = {"w": "warning", "u": "unknown", "c": "critical"}


def test_service_dependencies_expand_as_nagios4_does(world: Path) -> None:
    """Every form (same host on a host group, explicit dependent hosts, `*` and `!` services, a servicegroup as
    master, notification and execution criteria, inherits_parent): the `depends_on` of `vigie inventory show`
    against the dependency pairs nagios4 registers (its w, u, c notification criteria; the rest is reported)."""
    tree = world / "deps"
    shutil.copytree(DEPENDENCIES, tree)
    nagios = _precache(world, tree / "nagios.cfg")
    expected = {(d["host_name"], d["service_description"], d["dependent_host_name"], d["dependent_service_description"],
                 tuple(sorted(_LETTER[x] for x in d["notification_failure_options"].split(",") if x in _LETTER)),
                 d["inherits_parent"] == "1")
                for d in nagios["servicedependency"] if "notification_failure_options" in d}
    expected = {e for e in expected if e[4]}
    got = {(d["host"], d["service"], s["host"], s["name"], tuple(sorted(d["states"])), d["inherit"])
           for s in _vigie(world, tree / "nagios.cfg")["services"] for d in s["depends_on"]}
    assert got == expected and len(got) == 7
    from vigie.nagios.dependencies import expand
    from vigie.nagios.reader import read_main
    from vigie.nagios.resolve import resolve

    pairs, _ = expand(resolve(read_main(tree / "nagios.cfg")))
    mine = {(*p.master, *p.dependent, kind, frozenset(letters)) for p in pairs
            for kind, letters in (("notification", p.notification), ("execution", p.execution)) if letters}
    assert mine == {(d["host_name"], d["service_description"], d["dependent_host_name"], d["dependent_service_description"],
                     kind, frozenset(d[f"{kind}_failure_options"].split(",")))
                    for d in nagios["servicedependency"] for kind in ("notification", "execution")
                    if f"{kind}_failure_options" in d}


def _random_dependencies(rng: random.Random) -> str:
    """Hosts, groups with `*` and `!`, D0..D5 on every host, a service group, and dependencies of D3..D5 on
    D0..D2 in every form (acyclic by construction, as Nagios refuses circular ones)."""
    hosts, groups = [f"h{i}" for i in range(8)], ["g0", "g1", "g2"]
    out = ["define command {\n command_name c\n command_line /bin/true\n}\n",
           "define timeperiod {\n timeperiod_name 24x7\n alias a\n monday 00:00-24:00\n}\n",
           "define contact {\n contact_name k\n host_notification_period 24x7\n service_notification_period 24x7\n"
           " host_notification_commands c\n service_notification_commands c\n}\n"]
    out += [f"define host {{\n host_name {h}\n max_check_attempts 1\n check_period 24x7\n notification_period 24x7\n"
            f" contacts k\n}}\n" for h in hosts]
    for g in groups:
        members = rng.sample(hosts, rng.randint(1, 4))
        if rng.random() < 0.3:
            members = ["*", f"!{rng.choice(hosts)}"]
        out.append(f"define hostgroup {{\n hostgroup_name {g}\n members {','.join(members)}\n}}\n")
    out += [f"define service {{\n host_name *\n service_description D{i}\n check_command c\n max_check_attempts 1\n"
            f" check_interval 5\n retry_interval 1\n check_period 24x7\n notification_period 24x7\n contacts k\n}}\n"
            for i in range(6)]
    sg = [f"{h},D{rng.randrange(3)}" for h in rng.sample(hosts, 3)]
    out.append(f"define servicegroup {{\n servicegroup_name sg\n alias sg\n members {','.join(sg)}\n}}\n")

    def hosts_part(prefix: str) -> str:
        roll = rng.random()
        if roll < 0.4:
            names = rng.sample(hosts, rng.randint(1, 3))
            if rng.random() < 0.3:
                names = ["*", f"!{rng.choice(hosts)}"]
            return f" {prefix}host_name {','.join(names)}\n"
        if roll < 0.8:
            picked = rng.sample(groups, rng.randint(1, 2))
            extra = f",!{rng.choice([g for g in groups if g not in picked])}" if len(picked) < 3 and rng.random() < 0.3 else ""
            return f" {prefix}hostgroup_name {','.join(picked)}{extra}\n"
        return f" {prefix}host_name {rng.choice(hosts)}\n {prefix}hostgroup_name {rng.choice(groups)}\n"

    for _ in range(8):
        master = (" servicegroup_name sg\n" if rng.random() < 0.2 else
                  hosts_part("") + f" service_description {','.join(rng.sample(['D0', 'D1', 'D2'], rng.randint(1, 2)))}\n")
        dependent = "" if rng.random() < 0.4 else hosts_part("dependent_")
        if not dependent and "servicegroup_name" in master:
            dependent = hosts_part("dependent_")
        criteria = ",".join(rng.sample(["o", "w", "u", "c", "p"], rng.randint(1, 3)))
        execution = f" execution_failure_criteria {rng.choice(['w', 'c,u', 'n'])}\n" if rng.random() < 0.4 else ""
        out.append(f"define servicedependency {{\n{master}{dependent}"
                   f" dependent_service_description {','.join(rng.sample(['D3', 'D4', 'D5'], rng.randint(1, 2)))}\n"
                   f" notification_failure_criteria {criteria}\n{execution} inherits_parent {rng.randint(0, 1)}\n}}\n")
    return "".join(out)


@pytest.mark.parametrize("seed", range(10))  # 50 seeds passed when written
def test_random_service_dependencies_expand_as_nagios4_does(world: Path, seed: int) -> None:
    from vigie.nagios.dependencies import expand
    from vigie.nagios.reader import read_main
    from vigie.nagios.resolve import resolve

    tree = world / "random-deps"
    tree.mkdir()
    (tree / "objects.cfg").write_text(_random_dependencies(random.Random(seed)))
    (tree / "nagios.cfg").write_text("cfg_file=objects.cfg\n")
    nagios = _precache(world, tree / "nagios.cfg")
    pairs, _ = expand(resolve(read_main(tree / "nagios.cfg")))
    mine = {(*p.master, *p.dependent, kind, frozenset(letters), p.inherits_parent) for p in pairs
            for kind, letters in (("notification", p.notification), ("execution", p.execution)) if letters}
    theirs = {(d["host_name"], d["service_description"], d["dependent_host_name"], d["dependent_service_description"],
               kind, frozenset(d[f"{kind}_failure_options"].split(",")), d["inherits_parent"] == "1")
              for d in nagios.get("servicedependency", []) for kind in ("notification", "execution")
              if f"{kind}_failure_options" in d}
    assert mine == theirs
