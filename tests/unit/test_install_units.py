"""`vigie install-units`: the units are filled from the config, never overwritten without --force, and the copies
in deploy/systemd/ are what the command writes for the default paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.app.cli import main
from vigie.app.units_cli import UnitPaths, UnitsError, install, paths_from_config, render, vigie_command

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
DEFAULTS = UnitPaths("/opt/vigie/bin/vigie", "vigie", "/etc/vigie/vigie.toml", "/var/lib/vigie", "/var/lib/vigie/archive")


def directives(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def test_the_deploy_copies_are_what_install_units_writes_for_the_default_paths() -> None:
    assert {p.name: p.read_text() for p in DEPLOY.iterdir()} == render(DEFAULTS)


def test_the_service_runs_vigie_up_hardened_with_its_restart_policy() -> None:
    unit = directives(render(DEFAULTS)["vigie.service"])
    assert unit["ExecStart"] == ["/opt/vigie/bin/vigie up --config /etc/vigie/vigie.toml"]
    assert unit["User"] == ["vigie"] and unit["StateDirectory"] == ["vigie"]
    for key, value in (("ProtectSystem", "strict"), ("ProtectHome", "true"), ("PrivateTmp", "true"),
                       ("NoNewPrivileges", "true"), ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
                       ("AmbientCapabilities", "CAP_NET_BIND_SERVICE"), ("Restart", "on-failure"),
                       ("KillMode", "mixed"), ("EnvironmentFile", "-/etc/vigie/secrets.env")):
        assert unit[key] == [value], key
    # the archive under the state folder is covered by it (and may not exist yet at the first start)
    assert unit["ReadWritePaths"] == ["/var/lib/vigie"]
    assert unit["Environment"] == ["VIGIE_STATE_DIR=/var/lib/vigie"]


def test_the_start_limit_is_the_supervisors() -> None:
    from vigie.supervisor import Supervisor

    sup = Supervisor()
    unit = directives(render(DEFAULTS)["vigie.service"])
    assert unit["StartLimitBurst"] == [str(sup.start_limit_burst)]
    assert unit["StartLimitIntervalSec"] == [str(int(sup.start_limit_interval))]


def test_the_stop_timeout_covers_the_clean_stop_of_children_sink_and_broker() -> None:
    import inspect

    from vigie.app.services import subprocess_service
    from vigie.local_broker import LocalBroker
    from vigie.supervisor import Supervisor

    child_grace = inspect.signature(subprocess_service).parameters["grace"].default
    shutdown = inspect.signature(Supervisor.run).parameters["shutdown_timeout"].default
    broker_stop = inspect.signature(LocalBroker.stop).parameters["timeout"].default
    sink_close = 30  # vigie/app/runtime.py: the intake's sink.close(timeout=30)
    stop_sec = int(directives(render(DEFAULTS)["vigie.service"])["TimeoutStopSec"][0])
    assert stop_sec > max(child_grace, shutdown) + sink_close + broker_stop


def test_paths_come_from_the_config(tmp_path: Path) -> None:
    conf = tmp_path / "vigie.toml"
    conf.write_text('state_dir = "/srv/vigie"\n[archive]\nroot = "/data/archive"\n')
    paths = paths_from_config(str(conf), "vigie", None, "/opt/vigie/bin/vigie")
    assert (paths.state_dir, paths.archive_root, paths.config) == ("/srv/vigie", "/data/archive", str(conf))
    assert directives(render(paths)["vigie.service"])["ReadWritePaths"] == ["/srv/vigie /data/archive"]
    conf.write_text("")
    paths = paths_from_config(str(conf), "vigie", "/srv/other", "/opt/vigie/bin/vigie")
    assert (paths.state_dir, paths.archive_root) == ("/srv/other", "/srv/other/archive")
    assert paths_from_config(str(conf), "vigie", None, "x").state_dir == "/var/lib/vigie"


def test_a_state_dir_that_the_config_contradicts_is_refused(tmp_path: Path) -> None:
    conf = tmp_path / "vigie.toml"
    conf.write_text('state_dir = "/srv/vigie"\n')
    with pytest.raises(UnitsError, match="differs from state_dir"):
        paths_from_config(str(conf), "vigie", "/var/lib/vigie", "x")


@pytest.mark.parametrize(("field", "value"), [("user", "Vigie Admin"), ("state_dir", "relative/dir"),
                                              ("config", "/etc/my vigie.toml"), ("archive_root", "/srv/100%")])
def test_bad_names_and_paths_are_refused(field: str, value: str) -> None:
    from dataclasses import replace

    with pytest.raises(UnitsError):
        render(replace(DEFAULTS, **{field: value}))


def test_units_are_not_overwritten_without_force(tmp_path: Path) -> None:
    texts = render(DEFAULTS)
    (tmp_path / "vigie.target").write_text("mine")
    with pytest.raises(UnitsError, match="vigie.target exists"):
        install(texts, tmp_path, force=False)
    assert (tmp_path / "vigie.target").read_text() == "mine" and not (tmp_path / "vigie.service").exists()
    install(texts, tmp_path, force=True)
    assert (tmp_path / "vigie.target").read_text() == texts["vigie.target"]
    assert (tmp_path / "vigie.service").stat().st_mode & 0o777 == 0o644


def test_a_vigie_under_a_home_folder_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.executable", "/root/venv/bin/python")
    with pytest.raises(UnitsError, match="ProtectHome"):
        vigie_command()


def test_the_command_says_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path}/state"\n')
    argv = ["install-units", "--prefix", str(tmp_path), "--config", str(conf)]
    assert main(argv) == 0
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["install-units", "--prefix", str(tmp_path / "none"), "--config", str(conf)]) == 2
    assert main(["install-units", "--prefix", str(tmp_path), "--config", str(tmp_path / "missing.toml")]) == 2
    assert capsys.readouterr().err.count("\n") == 2


def test_the_configuration_in_docs_deploying_is_valid_and_gives_its_paths(tmp_path: Path) -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "deploying.md").read_text()
    block = re.search(r"```toml\n(.*?)```", text, re.S).group(1)
    conf = tmp_path / "vigie.toml"
    conf.write_text("\n".join(line[3:] for line in block.splitlines()))  # the block is indented in its list item
    paths = paths_from_config(str(conf), "vigie", None, "/opt/vigie/bin/vigie")
    assert (paths.state_dir, paths.archive_root) == ("/var/lib/vigie", "/srv/vigie-archive")
    assert directives(render(paths)["vigie.service"])["ReadWritePaths"] == ["/var/lib/vigie /srv/vigie-archive"]
