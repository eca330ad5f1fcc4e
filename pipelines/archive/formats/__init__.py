"""The connection-log formats, in the order their guards are tried: the single place that order lives.

Each format is one module of this package declaring a `FORMAT` (base.Format): its name, the apps
that route to it, its guard, its row-wise extractor (the reference) and, for the formats read in
bulk, its column-wise extractor. The row-wise driver (connlog.extract_connection) and the
column-wise one (vectorized.enrich) both derive their dispatch from FORMATS.

Adding a format: write formats/<name>.py with its FORMAT, insert it below at the place its guard
must be tried (a format whose lines another guard also accepts goes before that one), and add its
sample lines to tests/unit/test_connlog.py; the registry tests then check its guard against its
needles and, if it has a column-wise extractor, that extractor against the row-wise one.
"""

from __future__ import annotations

from vigie.pipelines.archive.formats import (
    cisco_asa,
    dhcp,
    fortigate,
    mikrotik,
    mikrotik_hotspot,
    netfilter,
    nps,
    pfsense,
    pfsense_gui,
    pfsense_portal,
    radius,
    squid,
    sshd,
    stormshield,
)
from vigie.pipelines.archive.formats.base import ColumnExtractor, Format

FORMATS: tuple[Format, ...] = (
    cisco_asa.FORMAT,
    netfilter.FORMAT,
    fortigate.FORMAT,
    stormshield.FORMAT,
    pfsense.FORMAT,
    dhcp.FORMAT,
    radius.FORMAT,
    mikrotik_hotspot.FORMAT,
    pfsense_portal.FORMAT,
    pfsense_gui.FORMAT,
    nps.FORMAT,
    mikrotik.FORMAT,
    squid.FORMAT,
    sshd.FORMAT,
)
BY_NAME: dict[str, Format] = {f.name: f for f in FORMATS}
assert len(BY_NAME) == len(FORMATS), "two formats share a name"

__all__ = ["BY_NAME", "FORMATS", "ColumnExtractor", "Format"]
