"""The arrows that must never exist between Vigie's parts, checked on the real import graph.

docs/architecture.md draws the house; this test keeps the drawing true. Every `import` and
`from ... import` in every installed module counts, at module level or inside a function (a lazy
import is still a dependency), TYPE_CHECKING blocks included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# source folder -> installed package (pyproject's package-dir)
PACKAGE_DIRS = {"vigie": "vigie", "producers": "vigie.producers", "pipelines": "vigie.pipelines",
                "schemas": "vigie.schemas"}

CONTRACTS = "vigie.schemas"
CODECS = "vigie.codecs"
INTAKE = "vigie.producers"
PIPELINES = "vigie.pipelines"
APP = "vigie.app"  # the composition root and the command line
CONSOLE = "vigie.console"  # the web front end: reads the topics, agrees with the pipelines' pure logic
PARTS = (CONTRACTS, CODECS, INTAKE, PIPELINES, APP, CONSOLE)


def _in(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


def part_of(module: str) -> str:
    """The part a module belongs to; 'vigie.core' for what every part uses (config, Kafka client, topics…)."""
    for part in PARTS:
        if _in(module, part):
            return part
    return "vigie.core"


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = path
    return out


def _type_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements under `if TYPE_CHECKING:` (annotations only, never run)."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            out.update(n for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom))
    return out


def imports_of(module: str, path: Path, *, runtime_only: bool = False) -> set[str]:
    """Vigie modules that `module` imports, resolved (relative imports included); runtime_only leaves out
    the imports under TYPE_CHECKING."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _type_only(tree) if runtime_only else set()
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if node in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "vigie" or m.startswith("vigie.")}


# (from part, to part, why) — every arrow here must not exist
FORBIDDEN = [
    (CONTRACTS, "*", "contracts import nothing of Vigie"),
    (CODECS, INTAKE, "the shared grammar belongs to no side"),
    (CODECS, PIPELINES, "the shared grammar belongs to no side"),
    (CODECS, APP, "the shared grammar belongs to no side"),
    (INTAKE, PIPELINES, "intake never imports pipelines"),
    (INTAKE, APP, "nothing imports the composition root"),
    (PIPELINES, APP, "pipelines never import the command line"),
    ("vigie.core", INTAKE, "what every part uses depends on no part"),
    ("vigie.core", PIPELINES, "what every part uses depends on no part"),
    ("vigie.core", APP, "nothing imports the composition root"),
    (CONSOLE, APP, "nothing imports the composition root"),
    (CONSOLE, INTAKE, "the console reads topics, never intake code"),
    (INTAKE, CONSOLE, "only the composition root starts the console"),
    (PIPELINES, CONSOLE, "only the composition root starts the console"),
    (CODECS, CONSOLE, "only the composition root starts the console"),
    ("vigie.core", CONSOLE, "only the composition root starts the console"),
]


def import_graph() -> dict[str, set[str]]:
    """Every installed module and the Vigie modules it imports."""
    return {module: imports_of(module, path) for module, path in modules().items()}


def violations(graph: dict[str, set[str]]) -> list[str]:
    bad: list[str] = []
    for module, targets in graph.items():
        src = part_of(module)
        for target in sorted(targets):
            dst = part_of(target)
            if dst == src or target == "vigie":
                continue
            for frm, to, why in FORBIDDEN:
                if src == frm and (to == "*" or dst == to):
                    bad.append(f"{module} imports {target}: {why}")
    return bad


def test_the_graph_has_the_parts_it_names() -> None:
    """Guard the guard: the walk sees every part and real arrows between them."""
    mods = modules()
    assert {part_of(m) for m in mods} >= {CONTRACTS, INTAKE, PIPELINES, APP, "vigie.core"}
    edges = {(part_of(m), part_of(t)) for m, p in mods.items() for t in imports_of(m, p)}
    assert (APP, PIPELINES) in edges and (PIPELINES, CONTRACTS) in edges and (INTAKE, "vigie.core") in edges


def test_no_forbidden_arrow() -> None:
    assert violations(import_graph()) == []


@pytest.mark.parametrize("src,target", [
    ("vigie.producers.syslog.framing", "vigie.pipelines.archive.writer"),
    ("vigie.schemas.codec", "vigie.config"),
    ("vigie.pipelines.runtime", "vigie.app.cli"),
    ("vigie.config", "vigie.app.up"),
    ("vigie.metrics", "vigie.pipelines.archive.manifest"),
    ("vigie.codecs.syslog", "vigie.producers.syslog.framing"),
    ("vigie.console.pages.silences", "vigie.app.control_cli"),
    ("vigie.console.pages.archive", "vigie.app.archive_cli"),
    ("vigie.pipelines.correlate.engine", "vigie.console.state"),
])
def test_a_forbidden_arrow_is_seen(src: str, target: str) -> None:
    """The rules bite: one arrow of each kind added to the real graph is reported, and only it."""
    graph = import_graph()
    graph[src] = graph.get(src, set()) | {target}
    assert [line.split(":")[0] for line in violations(graph)] == [f"{src} imports {target}"]


def test_relative_and_lazy_imports_are_seen(tmp_path: Path) -> None:
    """A function-level `from ..x import y` inside a package counts, resolved to its absolute name."""
    init = tmp_path / "__init__.py"
    init.write_text("def f():\n    from ..archive import writer\n    from . import rules\n")
    assert imports_of("vigie.pipelines.normalize", init) == {
        "vigie.pipelines.archive", "vigie.pipelines.archive.writer", "vigie.pipelines.normalize",
        "vigie.pipelines.normalize.rules"}


def test_no_import_cycle_between_modules() -> None:
    """No two modules import each other at run time, even lazily (a circle means one of them is in the wrong
    place); a type named only for annotations does not count."""
    mods = modules()
    graph = {m: {t for t in imports_of(m, p, runtime_only=True) if t in mods} for m, p in mods.items()}
    circles = sorted(f"{a} <-> {b}" for a, targets in graph.items() for b in targets
                     if a < b and a in graph.get(b, ()))
    assert circles == []


def test_long_modules_say_why() -> None:
    """A production module over 600 lines says at its top why it is kept whole ("Over 600 lines because")."""
    unexplained = []
    for module, path in modules().items():
        text = path.read_text()
        if text.count("\n") > 600 and "Over 600 lines because" not in text[:3000]:
            unexplained.append(f"{module}: {text.count(chr(10))} lines")
    assert unexplained == []
