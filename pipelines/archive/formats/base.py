"""What a connection-log format declares: the registry (vigie.pipelines.archive.formats) orders these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from vigie.pipelines.archive.formats.values import Conn

ColumnExtractor = Callable[[pa.StringArray], tuple[dict[str, pa.Array], pa.BooleanArray]]


@dataclass(frozen=True)
class Format:
    """One connection-log format, row-wise and column-wise.

    name: the conn_format value its rows carry.
    guard: a cheap substring test on the whole line; the row-wise driver runs `extract` only where it
        passes, the first format (in registry order) whose extractor returns a row wins.
    extract: the row-wise extractor, the reference: one line to a full connection row, or None.
    needles: RE2 regexes (literals or small alternations) whose conjunction is exactly `guard` on
        ASCII lines; the first is the cheapest, one every passing line holds. The column-wise driver
        evaluates the guards with them (a test checks the two agree on every sample line).
    columns: the column-wise extractor (None: the format is read row by row): given the lines that
        route to it, its columns and the mask of the rows it accepts, where it must give exactly
        what `extract` gives; rows it does not accept take the row-wise code.
    apps: app names (syslog TAG, Cisco facility) whose rows are tried first with `columns` (a lane).
    header_dialect: rows whose header the column-wise header reader recognised as this dialect go to
        its lane too ("fortigate": the date=/time= lines without a syslog header).
    lane_checks: needles that a row accepted by `columns` may still fail (checked in the lane).
    """

    name: str
    guard: Callable[[str], bool]
    extract: Callable[[str], Conn | None]
    needles: tuple[str, ...]
    columns: ColumnExtractor | None = None
    apps: tuple[str, ...] = ()
    header_dialect: str | None = None
    lane_checks: tuple[str, ...] = ()

    @property
    def needs(self) -> str:
        """A regex every line passing the guard matches: a line without it cannot be this format."""
        return self.needles[0]
