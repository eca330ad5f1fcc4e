"""The units `vigie install-units` writes pass `systemd-analyze verify` (Debian's systemd package), which loads them
as systemd would, checks every directive and that ExecStart is executable; it needs no systemd running as PID 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.tools import require_tool
from vigie.app.units_cli import UnitPaths, install, paths_from_config, render

pytestmark = pytest.mark.peer


def verify(tmp: Path, names: list[str]) -> tuple[int, list[str]]:
    analyze = require_tool("systemd-analyze")
    proc = subprocess.run([analyze, "verify", "--man=no", *(str(tmp / n) for n in names)],
                          capture_output=True, text=True, timeout=60)
    # complaints about the machine's own units are not ours
    ours = [line for line in proc.stderr.splitlines() if "vigie" in line]
    return proc.returncode, ours


def rendered(tmp: Path) -> UnitPaths:
    conf = tmp / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp}/state"\n[archive]\nroot = "{tmp}/archive"\n')
    # a vigie under a home folder is refused by install-units (ProtectHome): the interpreter is executable anywhere
    return paths_from_config(str(conf), "vigie", None, f"{sys.executable} -m vigie.app.cli")


def test_the_installed_units_verify_clean(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    install(render(rendered(tmp_path)), units, force=False)
    assert verify(units, ["vigie.service", "vigie.target"]) == (0, [])


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    texts = render(rendered(tmp_path))
    texts["vigie.service"] = texts["vigie.service"].replace("KillMode=mixed", "KillMode=mixed\nProtectSystm=strict")
    install(texts, units, force=False)
    code, lines = verify(units, ["vigie.service"])
    assert any("ProtectSystm" in line for line in lines)
    texts["vigie.service"] = texts["vigie.service"].replace(f"{sys.executable} -m", "/nonexistent/vigie")
    install(texts, units, force=True)
    code, lines = verify(units, ["vigie.service"])
    assert code != 0 and any("not executable" in line for line in lines)
