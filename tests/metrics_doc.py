"""docs/metrics.md as data: the metric families it documents, and the series names a query may use."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
_ROW = re.compile(r"^\|\s*`(vigie_[a-z0-9_]+)`\s*\|\s*(counter|gauge|histogram)\s*\|", re.M)


def documented() -> dict[str, str]:
    """{family name as /metrics types it: its type} from the tables of docs/metrics.md."""
    return {name: kind for name, kind in _ROW.findall(DOC.read_text())}


def documented_families() -> set[str]:
    return set(documented())


def served_families(text: str) -> set[str]:
    """The families of a /metrics answer (its `# TYPE` lines), without the `_created` gauge prometheus_client
    adds beside each in-process counter (documented once, for all of them)."""
    typed = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    return {name for name in typed
            if not (name.endswith("_created") and f"{name[:-len('_created')]}_total" in typed)}


def series_names() -> set[str]:
    """Every series name a PromQL expression over Vigie may use (histograms' _bucket, _sum and _count)."""
    out = set()
    for name, kind in documented().items():
        out.add(name)
        if kind == "histogram":
            out.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
    return out
