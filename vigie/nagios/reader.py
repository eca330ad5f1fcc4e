"""Read a Nagios Core 4 configuration the way Nagios does: the main file, its resource files and every object file.

Pure and standalone (no Vigie import): `read_main(path)` returns the object definitions, in the order Nagios
reads them, with the `$USERn$` values. What Nagios itself does (base/config.c, xdata/xodtemplate.c):
- main file: `key=value` lines, `#` comments; `cfg_file` and `cfg_dir` (recursive, files ending in `.cfg` only)
  and `resource_file` are taken relative to the main file's folder when not absolute;
- object files: a line ending in a backslash continues on the next; a line starting with `#` or `;` is a
  comment, and a `;` not preceded by a backslash ends the line (`\\;` is a literal `;`), but a `#` after a value
  is part of it (Nagios keeps it: command lines use it); `include_file` and `include_dir` inside object files;
- a group's repeated `members` lines add up; for any other directive the last one wins;
- directive names are normalised to one spelling (`host` -> `host_name`, `normal_check_interval` ->
  `check_interval` ...), custom variables (`_NAME`) are upper-cased as Nagios does.
Files of a `cfg_dir` are read in the order readdir gives, as Nagios does (see _cfg_files).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path


class NagiosConfigError(ValueError):
    """A configuration Nagios itself would refuse, in one line naming the file and line."""


@dataclass
class Definition:
    """One `define KIND { ... }` block: its directives as written (the last one of a name wins, as in Nagios)."""

    kind: str
    attrs: dict[str, str]
    file: str
    line: int
    custom: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class MainConfig:
    """What the main file says that the object resolution needs."""

    path: str
    definitions: list[Definition]
    user_macros: dict[str, str]  # "USER1" -> "/usr/lib/nagios/plugins"
    settings: dict[str, str]  # the other main-file directives (last value wins), e.g. interval_length
    files: list[str]  # the object files read, in order


# One spelling per directive (xodtemplate_add_object_property accepts both): (kind or "*", alias) -> name.
ALIASES: dict[tuple[str, str], str] = {
    ("*", "normal_check_interval"): "check_interval",
    ("*", "retry_check_interval"): "retry_interval",
    ("service", "host"): "host_name",
    ("service", "hostgroup"): "hostgroup_name",
    ("service", "hostgroups"): "hostgroup_name",
    ("service", "description"): "service_description",
    ("service", "service_groups"): "servicegroups",
    ("host", "host_groups"): "hostgroups",
    ("contact", "contact_groups"): "contactgroups",
    ("hostescalation", "host"): "host_name",
    ("hostescalation", "hostgroup"): "hostgroup_name",
    ("serviceescalation", "host"): "host_name",
    ("serviceescalation", "hostgroup"): "hostgroup_name",
    ("serviceescalation", "description"): "service_description",
    ("hostdependency", "host"): "host_name",
    ("hostdependency", "dependent_host"): "dependent_host_name",
    ("hostdependency", "hostgroup"): "hostgroup_name",
    ("hostdependency", "dependent_hostgroup"): "dependent_hostgroup_name",
    ("servicedependency", "host"): "host_name",
    ("servicedependency", "dependent_host"): "dependent_host_name",
    ("servicedependency", "hostgroup"): "hostgroup_name",
    ("servicedependency", "dependent_hostgroup"): "dependent_hostgroup_name",
    ("servicedependency", "description"): "service_description",
    ("servicedependency", "dependent_description"): "dependent_service_description",
}

KINDS = ("host", "service", "hostgroup", "servicegroup", "contact", "contactgroup", "command", "timeperiod",
         "hostdependency", "servicedependency", "hostescalation", "serviceescalation", "hostextinfo",
         "serviceextinfo")


def _resolve_path(base: Path, value: str) -> Path:
    p = Path(value)
    return p if p.is_absolute() else base / p


def _cfg_files(folder: Path) -> list[Path]:
    """Every `.cfg` file under folder, in the order Nagios reads them (xodtemplate_process_config_dir): the
    order readdir gives, a sub-folder read when it comes up, symbolic links followed. That order decides
    which of two definitions of one service wins (the later), so it is Nagios' own, not a sorted one."""
    out: list[Path] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir():
                out.extend(_cfg_files(path))
            elif entry.name.endswith(".cfg") and entry.is_file():
                out.append(path)
    return out


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) with backslash continuations joined (mmap_fgets_multiline)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NagiosConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # Nagios reads bytes; older estates wrote their accents in Latin-1
    raw = text.splitlines()
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for i, line in enumerate(raw, 1):
        if not buf:
            start = i
        if line.endswith("\\") and not line.endswith("\\\\"):
            buf += line[:-1]
            continue
        out.append((start, buf + line))
        buf = ""
    if buf:
        out.append((start, buf))
    return out


def _strip_semicolon_comment(text: str) -> str:
    """Cut at the first `;` not escaped by a backslash; `\\;` becomes `;` (xodtemplate_process_config_file)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == ";":
            if out and out[-1] == "\\":
                out[-1] = ";"
                i += 1
                continue
            break
        out.append(c)
        i += 1
    return "".join(out)


def read_main(path: str | Path) -> MainConfig:
    """The main file, its resource files and its object files; raises NagiosConfigError."""
    main = Path(path)
    base = main.parent
    settings: dict[str, str] = {}
    users: dict[str, str] = {}
    object_files: list[Path] = []
    for lineno, line in _lines(main):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise NagiosConfigError(f"{main}:{lineno}: expected key=value, got {line!r}")
        key, value = key.strip(), value.strip()
        if key == "cfg_file":
            object_files.append(_resolve_path(base, value))
        elif key == "cfg_dir":
            folder = _resolve_path(base, value)
            if not folder.is_dir():
                raise NagiosConfigError(f"{main}:{lineno}: cfg_dir {value}: no such folder")
            object_files.extend(_cfg_files(folder))
        elif key == "resource_file":
            users.update(read_resource(_resolve_path(base, value)))
        else:
            settings[key] = value
    definitions: list[Definition] = []
    read: list[str] = []
    for f in object_files:
        _read_objects(f, definitions, read)
    return MainConfig(str(main), definitions, users, settings, read)


def read_resource(path: Path) -> dict[str, str]:
    """`$USERn$=value` lines of a resource file (read_resource_file in base/config.c)."""
    out: dict[str, str] = {}
    for lineno, line in _lines(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        m = re.fullmatch(r"\$USER(\d+)\$", key.strip())
        if not sep or not m or not 1 <= int(m.group(1)) <= 256:
            raise NagiosConfigError(f"{path}:{lineno}: expected $USERn$=value (n from 1 to 256), got {line!r}")
        out[f"USER{int(m.group(1))}"] = value.strip()
    return out


def _read_objects(path: Path, out: list[Definition], read: list[str]) -> None:
    """Append the definitions of one object file (and of the files it includes)."""
    read.append(str(path))
    current: Definition | None = None
    for lineno, text in _lines(path):
        line = text.strip()
        if not line or line[0] in "#;":
            continue
        line = _strip_semicolon_comment(line).strip()
        if not line:
            continue
        if current is None:
            if line.startswith(("include_file=", "include_dir=")):
                key, _, value = line.partition("=")
                target = _resolve_path(path.parent, value.strip())
                for f in [target] if key == "include_file" else _cfg_files(target):
                    _read_objects(f, out, read)
                continue
            m = re.fullmatch(r"define\s+([a-z]+)\s*\{\s*(.*)", line)
            if not m:
                raise NagiosConfigError(f"{path}:{lineno}: expected 'define TYPE {{', got {line!r}")
            kind = m.group(1)
            if kind not in KINDS:
                raise NagiosConfigError(f"{path}:{lineno}: unknown object type {kind!r}")
            current = Definition(kind, {}, str(path), lineno)
            line = m.group(2).strip()
            if not line:
                continue
        if line == "}":
            out.append(current)
            current = None
            continue
        closes = line.endswith("}") and not line.startswith("}")
        if closes:
            line = line[:-1].strip()
        parts = line.split(None, 1)
        _set(current, parts[0], parts[1].strip() if len(parts) > 1 else "")
        if closes:
            out.append(current)
            current = None
    if current is not None:
        raise NagiosConfigError(f"{path}:{current.line}: {current.kind} definition not closed with '}}'")


_TIMERANGES = re.compile(r"(.*?)\s+(\d{1,2}:\d\d-\d{1,2}:\d\d(?:\s*,\s*\d{1,2}:\d\d-\d{1,2}:\d\d)*)")
_PERIOD_KEYS = ("timeperiod_name", "alias", "name", "use", "register", "exclude")
_GROUPS = ("hostgroup", "servicegroup", "contactgroup")


def _set(d: Definition, key: str, value: str) -> None:
    if d.kind == "timeperiod" and key not in _PERIOD_KEYS:
        # "december 25  00:00-24:00": the day part has spaces; the ranges are the last word(s)
        m = _TIMERANGES.fullmatch(f"{key} {value}".strip())
        if m:
            d.attrs[" ".join(m.group(1).split())] = re.sub(r"\s+", "", m.group(2))
            return
        raise NagiosConfigError(f"{d.file}:{d.line}: timeperiod directive without time ranges: {key} {value}")
    if key.startswith("_"):
        d.custom[key[1:].upper()] = value
        return
    name = ALIASES.get((d.kind, key)) or ALIASES.get(("*", key)) or key
    if name == "members" and d.kind in _GROUPS and d.attrs.get("members"):
        d.attrs[name] += "," + value  # Nagios appends repeated members lines of a group
    else:
        d.attrs[name] = value
