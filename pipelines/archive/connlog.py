"""The row-wise connection extraction: one syslog message to the archive's typed connection columns.

It is the reference the column-wise path (vectorized.py) must equal. The formats themselves live in
vigie.pipelines.archive.formats, one module each, in the registry's order (formats.FORMATS); the value
conventions every extractor follows are in formats/values.py.
"""

from __future__ import annotations

from collections.abc import Callable

from vigie.pipelines.archive.formats import FORMATS
from vigie.pipelines.archive.formats.values import CONN_COLUMNS, MAX_LEN, Conn, Reject, empty_connection

__all__ = ["CONN_COLUMNS", "EXTRACTORS", "Conn", "empty_connection", "extract_connection"]

# (name, guard, extractor) in the registry's order: cheap substring guards first; the regex work only
# runs for lines that pass one.
EXTRACTORS: list[tuple[str, Callable[[str], bool], Callable[[str], Conn | None]]] = [
    (f.name, f.guard, f.extract) for f in FORMATS
]


def extract_connection(text: str) -> Conn | None:
    """Connection columns of one syslog message (full line or MSG part), None when not a connection log.

    Never raises: a matched line with an invalid value is treated as not matched.
    """
    if not text or len(text) > MAX_LEN:
        return None
    for _name, guard, extractor in EXTRACTORS:
        if guard(text):
            try:
                row = extractor(text)
            except (Reject, ValueError, IndexError, TypeError):
                row = None
            if row is not None:
                return row
    return None
