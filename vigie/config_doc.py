"""The reference tables of docs/configuration.md, generated from the config dataclasses (vigie/config.py).

The page keeps its prose and examples; each table sits between `<!-- reference: PATH -->` and
`<!-- end reference -->` and is rewritten from the schema (key, default as written in TOML, doc).
`python -m vigie.config_doc` (scripts/config_reference) rewrites the page; a unit test fails when
the page and the schema drift apart or a table has no place on the page.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import Field, fields
from pathlib import Path
from typing import Any

from vigie.config import Config, Section, toml_key

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
_BLOCK = re.compile(r"(<!-- reference: (?P<path>[a-z_.-]+) -->\n)(?P<body>.*?)(<!-- end reference -->)", re.S)


def _table_of(f: Field[Any]) -> type | None:
    """The dataclass of a nested table, a list of tables or a table of named tables; None for a value."""
    if "section" in f.metadata:
        return f.metadata["section"]
    item = getattr(f.metadata.get("check"), "item", None)
    return item.cls if isinstance(item, Section) else None


def sections(cls: type = Config, path: str = "") -> Iterator[tuple[str, type]]:
    """Every table of the file as (dotted path, dataclass): top-level, then kafka, syslog.listeners..."""
    yield path or "top-level", cls
    for f in fields(cls):
        sub = _table_of(f)
        if sub is not None:
            yield from sections(sub, f"{path}.{toml_key(f)}" if path else toml_key(f))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _shown(f: Field[Any]) -> str:
    """The default as the page shows it: as written in the file, or the field's own words."""
    meta = f.metadata
    if meta.get("shown"):
        return meta["shown"]
    default = meta.get("default")
    if default is None or default == {}:
        return "none"
    if isinstance(default, str):
        return f"`{default}`" if default else '`""`'
    if isinstance(default, list):
        return f"`{_toml(default)}`"
    return _toml(default)


def table(cls: type) -> str:
    """The markdown table of one dataclass: its keys, in the schema's order (nested [tables] have their own)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for f in fields(cls):
        if "section" in f.metadata:
            continue
        doc = f.metadata["doc"].replace("|", "\\|")
        rows.append(f"| `{toml_key(f)}` | {_shown(f)} | {doc} |")
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """The page with every reference block rewritten from the schema; a block naming no table is an error."""
    known = dict(sections())

    def block(m: re.Match[str]) -> str:
        path = m.group("path")
        if path not in known:
            raise KeyError(f"docs/configuration.md: reference to an unknown table {path!r}")
        return m.group(1) + table(known[path]) + m.group(4)

    return _BLOCK.sub(block, text)


def referenced(text: str) -> set[str]:
    """The table paths the page has a reference block for."""
    return {m.group("path") for m in _BLOCK.finditer(text)}


def main(argv: list[str] | None = None) -> int:
    """Rewrite docs/configuration.md (or the file given) from the schema; exit 1 when a table has no block."""
    path = Path(argv[0]) if argv else DOC
    text = path.read_text()
    missing = [p for p, _ in sections() if p not in referenced(text)]
    if missing:
        print(f"{path}: no reference block for: {', '.join(missing)}", file=sys.stderr)
        return 1
    path.write_text(render(text))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
