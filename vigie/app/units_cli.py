"""`vigie install-units`: systemd units for `vigie up`, rendered from the templates in vigie/app/units/.

One `vigie.service` runs `vigie up` (which supervises every child itself) under a dedicated user with
systemd's hardening, and `vigie.target` groups the units of the host. The paths come from the config: its
`state_dir` (or --state-dir, else /var/lib/vigie) and archive root become the unit's only writable folders,
so the unit and the config cannot disagree about where Vigie writes.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

UNITS = ("vigie.service", "vigie.target")
DEFAULT_STATE_DIR = "/var/lib/vigie"
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# ProtectHome=true hides these from the service: a vigie installed there could not even be executed.
_HIDDEN = ("/home", "/root", "/run/user")


class UnitsError(ValueError):
    """install-units refused; the message is the one line to print."""


@dataclass(frozen=True)
class UnitPaths:
    """What the templates are filled with."""

    exec_start: str
    user: str
    config: str
    state_dir: str
    archive_root: str

    def read_write_paths(self) -> str:
        """The state folder, and the archive root when it lies outside it (it must then exist: systemd refuses
        to start a unit whose ReadWritePaths= folder is missing; one under the state folder is created by vigie)."""
        paths = [self.state_dir]
        if not Path(self.archive_root).is_relative_to(self.state_dir):
            paths.append(self.archive_root)
        return " ".join(paths)


def render(paths: UnitPaths) -> dict[str, str]:
    """{unit file name: text} from the packaged templates."""
    for name, value in (("config", paths.config), ("state_dir", paths.state_dir),
                        ("archive_root", paths.archive_root)):
        if not value.startswith("/") or any(c.isspace() or c == "%" for c in value):  # % starts a systemd specifier
            raise UnitsError(f"{name} {value!r}: expected an absolute path without spaces or %")
    if not _USER.fullmatch(paths.user):
        raise UnitsError(f"--user {paths.user!r}: expected a system user name (lower case letters, digits, _ and -)")
    values = {"exec_start": paths.exec_start, "user": paths.user, "config": paths.config,
              "state_dir": paths.state_dir, "read_write_paths": paths.read_write_paths()}
    templates = resources.files("vigie.app") / "units"
    return {name: (templates / f"{name}.in").read_text().format(**values) for name in UNITS}


def vigie_command() -> str:
    """The command that runs this Vigie: the console script beside this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("vigie")
    command = str(script) if script.is_file() else f"{sys.executable} -m vigie.app.cli"
    for hidden in _HIDDEN:
        if command == hidden or command.startswith(hidden + "/"):
            raise UnitsError(f"vigie is installed under {hidden}, which the unit's ProtectHome=true hides: "
                             "install it outside home folders (for example a venv in /opt/vigie)")
    return command


def paths_from_config(config: str, user: str, state_dir: str | None, exec_start: str) -> UnitPaths:
    """The unit's paths from the config file (validated first: a unit must not point at a broken config)."""
    from vigie.config import load

    load(config)  # ConfigError: one line from main()
    with open(config, "rb") as f:
        raw = tomllib.load(f)
    in_file = raw.get("state_dir")
    if state_dir and in_file and Path(state_dir) != Path(in_file):
        raise UnitsError(f"--state-dir {state_dir} differs from state_dir = {in_file!r} in {config}, which wins")
    state = state_dir or in_file or DEFAULT_STATE_DIR
    archive = raw.get("archive", {}).get("root") or str(Path(state) / "archive")
    return UnitPaths(exec_start, user, str(Path(config).absolute()), state, archive)


def install(texts: dict[str, str], prefix: Path, force: bool) -> list[Path]:
    """Write every unit, or none when one exists and force is not given."""
    if not prefix.is_dir():
        raise UnitsError(f"--prefix {prefix}: not a folder")
    targets = [prefix / name for name in texts]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise UnitsError(f"{', '.join(existing)} exists (--force replaces it)")
    for target in targets:
        target.write_text(texts[target.name])
        target.chmod(0o644)
    return targets


def add_arguments(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("install-units", help="write systemd units for vigie up (vigie.service, vigie.target)")
    p.add_argument("--prefix", default="/etc/systemd/system", metavar="DIR", help="where to write them (default: %(default)s)")
    p.add_argument("--user", default="vigie", help="the system user the service runs as (default: %(default)s)")
    p.add_argument("--config", "-c", default="/etc/vigie/vigie.toml", metavar="FILE",
                   help="the configuration vigie up reads (default: %(default)s)")
    p.add_argument("--state-dir", metavar="DIR",
                   help=f"the state folder when the config sets none (default: {DEFAULT_STATE_DIR})")
    p.add_argument("--force", action="store_true", help="replace units that exist")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        paths = paths_from_config(args.config, args.user, args.state_dir, vigie_command())
        written = install(render(paths), Path(args.prefix), args.force)
    except UnitsError as exc:
        print(f"vigie install-units: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vigie install-units: {exc.filename or args.prefix}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print("then: systemctl daemon-reload && systemctl enable --now vigie.target")
    return 0
