"""Dependencies that say the truth: each runtime dependency is imported by Vigie, or its line in
pyproject.toml says which library needs it instead ("not imported by Vigie")."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPORT_NAMES = {"confluent-kafka": "confluent_kafka", "kafka-python": "kafka", "faust-streaming": "faust",
                "prometheus-client": "prometheus_client", "rfc3339-validator": "rfc3339_validator"}


def runtime_dependencies() -> dict[str, str]:
    """Distribution name -> the comment on its line in pyproject.toml."""
    names = [re.split(r"[<>=!~\[ ]", d)[0] for d in tomllib.loads((ROOT / "pyproject.toml").read_text())
             ["project"]["dependencies"]]
    lines = (ROOT / "pyproject.toml").read_text().splitlines()
    return {n: next((ln.partition("#")[2].strip() for ln in lines if ln.strip().startswith(f'"{n}')), "")
            for n in names}


def imported_by_vigie(module: str) -> bool:
    pattern = re.compile(rf"^\s*(import|from) {re.escape(module)}\b", re.M)
    return any(pattern.search(path.read_text()) for folder in ("vigie", "producers", "pipelines", "schemas")
               for path in (ROOT / folder).rglob("*.py"))


def test_every_runtime_dependency_is_imported_or_says_who_needs_it() -> None:
    deps = runtime_dependencies()
    assert "pyarrow" in deps and "confluent-kafka" in deps
    untold = [name for name, why in deps.items()
              if not why or (not imported_by_vigie(IMPORT_NAMES.get(name, name.replace("-", "_")))
                             and not why.startswith("not imported by Vigie"))]
    assert untold == []


def test_a_dependency_that_claims_not_to_be_imported_is_not() -> None:
    """Keeps the comments honest the other way: "not imported by Vigie" must stay true."""
    deps = runtime_dependencies()
    wrong = [name for name, why in deps.items() if why.startswith("not imported by Vigie")
             and imported_by_vigie(IMPORT_NAMES.get(name, name.replace("-", "_")))]
    assert wrong == []


def test_the_mib_compiler_is_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "pysmi" not in runtime_dependencies()
    assert any(d.startswith("pysmi") for d in project["optional-dependencies"]["mibs"])
