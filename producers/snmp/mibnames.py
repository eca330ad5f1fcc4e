"""Names OIDs from compiled MIB tables: the shipped standard set plus tables or pysnmp modules from configured directories.

Name form: ``MODULE::symbol`` for an OID a MIB defines (``IF-MIB::linkDown``), followed by the remaining
sub-identifiers for anything below it (``IF-MIB::ifIndex.3``, ``SNMPv2-SMI::enterprises.9.9.41.2.0.1``),
as net-snmp prints them. An OID outside every known node has no name (None).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from vigie.producers.snmp.mibgen import TABLE_FORMAT, table_from_compiled

log = logging.getLogger(__name__)

SHIPPED_TABLE = Path(__file__).with_name("mib_names.json")


def load_table(path: str | Path) -> dict[str, Any]:
    """Read one table JSON written by mibgen; raises ValueError when it is not one."""
    table = json.loads(Path(path).read_text(encoding="utf-8"))
    if (
        not isinstance(table, dict)
        or table.get("format") != TABLE_FORMAT
        or not isinstance(table.get("nodes"), dict)
    ):
        raise ValueError(f"{path}: not a {TABLE_FORMAT} table")
    return table


def tables_from_dir(directory: str | Path) -> list[dict[str, Any]]:
    """Every table in a configured MIB directory: *.json tables, then the pysnmp-compiled *.py modules there."""
    d = Path(directory)
    if not d.is_dir():
        raise ValueError(f"snmp.mib_dirs: {d} is not a directory")
    tables = [load_table(p) for p in sorted(d.glob("*.json"))]
    if any(p.suffix == ".py" for p in d.iterdir()):
        tables.append(table_from_compiled([d]))
    return tables


class MibResolver:
    """OID -> (name, named values) by longest known prefix; later tables override earlier ones."""

    def __init__(self, tables: Iterable[dict[str, Any]], cache_size: int = 65536) -> None:
        self._nodes: dict[str, tuple[str, dict[str, str] | None]] = {}
        for table in tables:
            for oid, entry in table["nodes"].items():
                enums = entry[2] if len(entry) > 2 else None
                self._nodes[oid] = (f"{entry[0]}::{entry[1]}", enums)
        self.lookup = lru_cache(maxsize=cache_size)(self._lookup)

    @classmethod
    def standard(cls, mib_dirs: Sequence[str | Path] = ()) -> MibResolver:
        """The shipped table (SNMPv2-MIB, IF-MIB, ...) extended by the configured directories."""
        tables = [load_table(SHIPPED_TABLE)]
        for d in mib_dirs:
            tables.extend(tables_from_dir(d))
        return cls(tables)

    def __len__(self) -> int:
        return len(self._nodes)

    def _lookup(self, oid: str) -> tuple[str | None, dict[str, str] | None]:
        """(name, enums): enums only when the OID is the object itself or one of its instances."""
        prefix = oid
        while prefix:
            hit = self._nodes.get(prefix)
            if hit is not None:
                name, enums = hit
                if prefix == oid:
                    return name, enums
                return f"{name}{oid[len(prefix) :]}", enums
            cut = prefix.rfind(".")
            if cut < 0:
                break
            prefix = prefix[:cut]
        return None, None

    def name(self, oid: str) -> str | None:
        """The name of an OID (``IF-MIB::ifIndex.3``) or None."""
        return self.lookup(oid)[0]
