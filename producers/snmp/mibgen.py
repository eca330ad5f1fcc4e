"""Builds the OID-to-name tables the trap receiver ships and loads: from pysnmp-compiled MIB modules, or MIB text via pysmi.

Run by hand, never at import time of the receiver::

    python -m vigie.producers.snmp.mibgen --out producers/snmp/mib_names.json \\
        --dir /path/to/pysnmp/compiled/mibs SNMPv2-MIB IF-MIB ...
    python -m vigie.producers.snmp.mibgen --source /usr/share/snmp/mibs --out vendor.json NET-SNMP-AGENT-MIB

The shipped mib_names.json was built from pysnmp's own compiled modules (SNMPv2-SMI, SNMPv2-MIB, ...) and
those of Debian's python3-pysnmp4-mibs (IF-MIB, ENTITY-MIB, ...; `apt-get download` then `dpkg -x`, passed
with --dir), since no IETF MIB text ships in Debian main. pysmi (--source) needs the text of every module
imported, SNMPv2-SMI included.

A table is JSON: {"format": "vigie-mib-names/1", "modules": [...], "nodes": {"1.3.6.1.2.1.2.2.1.8":
["IF-MIB", "ifOperStatus", {"1": "up", ...}]}} — the third element (named INTEGER values) only when the
object has them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

TABLE_FORMAT = "vigie-mib-names/1"

# The modules whose names the shipped table holds, in precedence order (the first module naming an OID wins).
DEFAULT_MODULES: tuple[str, ...] = (
    "SNMPv2-SMI",
    "SNMPv2-MIB",
    "SNMP-COMMUNITY-MIB",
    "SNMP-FRAMEWORK-MIB",
    "IF-MIB",
    "ENTITY-MIB",
    "BRIDGE-MIB",
    "HOST-RESOURCES-MIB",
    "NET-SNMP-MIB",
)

# pysnmp node classes that name an OID (instances such as MibScalarInstance are left out on purpose).
_NODE_CLASSES = {
    "MibIdentifier",
    "ObjectIdentity",
    "ModuleIdentity",
    "MibScalar",
    "MibTable",
    "MibTableRow",
    "MibTableColumn",
    "NotificationType",
}


def _is_node(obj: Any) -> bool:
    """True for pysnmp SMI nodes that carry an OID (any class in the node's MRO named like an SMI node)."""
    return any(cls.__name__ in _NODE_CLASSES for cls in type(obj).__mro__) and not any(
        cls.__name__ == "MibScalarInstance" for cls in type(obj).__mro__
    )


def _enums(obj: Any) -> dict[str, str] | None:
    """The named values of an INTEGER object (ifOperStatus: up, down, ...), if any."""
    try:
        syntax = obj.getSyntax()
    except Exception:
        return None
    named = getattr(syntax, "namedValues", None)
    if not named:
        return None
    try:
        return {str(int(value)): str(name) for name, value in named.items()}
    except Exception:
        return None


def table_from_compiled(dirs: Sequence[str | Path], modules: Sequence[str] | None = None) -> dict[str, Any]:
    """Load pysnmp-compiled MIB modules (*.py) from `dirs` and return their OID-name table.

    With `modules` None every *.py module found in `dirs` is loaded.
    """
    from pysnmp.smi import builder

    mib_builder = builder.MibBuilder()
    for d in dirs:
        mib_builder.add_mib_sources(builder.DirMibSource(str(d)))
    if modules is None:
        modules = sorted({p.stem for d in dirs for p in Path(d).glob("*.py") if not p.stem.startswith("_")})
    loaded: list[str] = []
    for module in modules:
        try:
            mib_builder.load_modules(module)
            loaded.append(module)
        except Exception as exc:  # a missing or broken module must not stop the others
            print(f"mibgen: skipped {module}: {exc}", file=sys.stderr)
    return _walk(mib_builder.mibSymbols, loaded)


def _walk(symbols: dict[str, dict[str, Any]], modules: Iterable[str]) -> dict[str, Any]:
    """Collect (oid -> [module, name, enums?]) from loaded modules, first module wins."""
    nodes: dict[str, list[Any]] = {}
    for module in modules:
        for name, obj in symbols.get(module, {}).items():
            if name == "PYSNMP_MODULE_ID" or not _is_node(
                obj
            ):  # an alias pysnmp adds for the module identity
                continue
            try:
                oid = ".".join(str(x) for x in obj.getName())
            except Exception:
                continue
            if not oid or oid in nodes:
                continue
            entry: list[Any] = [module, name]
            enums = _enums(obj)
            if enums:
                entry.append(enums)
            nodes[oid] = entry
    return {
        "format": TABLE_FORMAT,
        "modules": list(modules),
        "nodes": dict(sorted(nodes.items(), key=_oid_key)),
    }


def _oid_key(item: tuple[str, Any]) -> tuple[int, ...]:
    return tuple(int(x) for x in item[0].split("."))


def dump_table(table: dict[str, Any]) -> str:
    """Table JSON with one OID per line, so that a regenerated table diffs readably."""
    lines = [
        f'{{"format": {json.dumps(table["format"])}, "modules": {json.dumps(table["modules"])}, "nodes": {{'
    ]
    items = list(table["nodes"].items())
    for i, (oid, entry) in enumerate(items):
        lines.append(f"{json.dumps(oid)}: {json.dumps(entry)}{',' if i < len(items) - 1 else ''}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def compile_sources(
    source_dirs: Sequence[str | Path],
    modules: Sequence[str],
    dest: str | Path,
    compiled_dirs: Sequence[str | Path] = (),
) -> list[str]:
    """Compile MIB text files (e.g. vendor MIBs) into pysnmp modules in `dest` with pysmi; returns the modules written.

    Base modules (SNMPv2-SMI, SNMPv2-TC, ...) come from pysnmp itself, modules already compiled in
    `compiled_dirs` are not compiled again; no network source is consulted.
    """
    from pysmi.codegen import PySnmpCodeGen
    from pysmi.compiler import MibCompiler
    from pysmi.parser import SmiStarParser
    from pysmi.reader import FileReader
    from pysmi.searcher import PyFileSearcher, PyPackageSearcher, StubSearcher
    from pysmi.writer import PyFileWriter

    compiler = MibCompiler(SmiStarParser(), PySnmpCodeGen(), PyFileWriter(str(dest)))
    compiler.add_sources(*(FileReader(str(d)) for d in source_dirs))
    compiler.add_searchers(
        PyFileSearcher(str(dest)),
        *(PyFileSearcher(str(d)) for d in compiled_dirs),
        PyPackageSearcher("pysnmp.smi.mibs"),
        StubSearcher(*PySnmpCodeGen.baseMibs),
    )
    results = compiler.compile(*modules)
    return [name for name, status in results.items() if status in ("compiled", "untouched")]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write a table from compiled modules (--dir) and/or MIB text (--source)."""
    parser = argparse.ArgumentParser(prog="mibgen", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", action="append", default=[], help="directory of pysnmp-compiled MIB modules")
    parser.add_argument("--source", action="append", default=[], help="directory of MIB text files (pysmi)")
    parser.add_argument("--out", required=True, help="table JSON to write")
    parser.add_argument(
        "modules", nargs="*", help="MIB modules, in precedence order (default: the shipped set)"
    )
    args = parser.parse_args(argv)
    modules = args.modules or list(DEFAULT_MODULES)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = list(args.dir)
        if args.source:
            try:
                import pysmi  # noqa: F401 - the MIB compiler is the `mibs` extra, not a runtime dependency
            except ImportError:
                print("mibgen: compiling MIB text needs pysmi: pip install 'vigie[mibs]'", file=sys.stderr)
                return 2
            compiled = compile_sources(args.source, modules, tmp, args.dir)
            print(f"mibgen: compiled {', '.join(sorted(compiled)) or 'nothing'}", file=sys.stderr)
            dirs.insert(0, tmp)
        table = table_from_compiled(dirs, modules)
    Path(args.out).write_text(dump_table(table), encoding="utf-8")
    print(f"mibgen: {len(table['nodes'])} names from {', '.join(table['modules'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
