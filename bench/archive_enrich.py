"""Bench: CPU µs per row of the archive enrichment (no Kafka), vectorised against the per-row reference, per format and on the mix.

Usage: python bench/archive_enrich.py [--rows 100000] [--repeat 5] [--batch 20000] [--quick] [--no-rowwise]
       [--baseline OLD_VECTORIZED.py] [--arrow] [--zones paris|hosts]

--zones times the current version with a zone map, as the sink calls it (received_at and sender columns
given): `paris`, every device in Europe/Paris ([syslog] default_timezone only); `hosts`, a Paris default
and hosts of the mix in other zones (a zone lookup per distinct hostname and sender). With --baseline,
the columns are then not compared (the zoned times differ from the UTC ones by design).

--baseline times another version of vectorized.py in the same run, interleaved with the current one, and
checks both give the same columns: before/after figures that the machine's other load affects alike. The
file is imported under a name of its own, so its imports must reach the version it was written with: copy
vectorized.py with the modules it imports from the archive (connlog.py, headers.py, formats/) into a
folder on PYTHONPATH as a package of another name, and point its `vigie.pipelines.archive` imports there.

The rows are bench/archive_sink.py's mix (same generator, same seed); "other syslog" is split into its
shapes, Cisco IOS switch lines among them. Times are CPU time of this process (time.process_time, the
best of --repeat runs), in the sink's batch size, so other load on the machine counts little. Each
format is timed on batches of that format alone: it is what the format costs the mix per row.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import ModuleType

import pyarrow as pa
from archive_sink import MIX, sample_line, sample_lines

from vigie.config import validate
from vigie.pipelines.archive.vectorized import enrich, enrich_rowwise, fallback_share
from vigie.pipelines.zones import ZoneMap

# The shapes of "other syslog" in sample_line, told apart by a substring.
OTHER = (("cron", "CRON["), ("sshd", "sshd["), ("postfix", "postfix/"), ("rfc5424", "systemd"), ("cisco_ios", "%LINK-"))
REF = datetime(2024, 5, 1, 10, 30, tzinfo=UTC)


def by_format(n: int, seed: int = 1) -> dict[str, list[bytes]]:
    """n lines of each format (the mix's kinds, "other syslog" split by shape)."""
    r = random.Random(seed)
    out: dict[str, list[bytes]] = {}
    for kind, _ in MIX:
        if kind != "other syslog":
            out[kind] = [sample_line(kind, i, r).encode() for i in range(n)]
    for name, mark in OTHER:
        lines: list[bytes] = []
        while len(lines) < n:
            line = sample_line("other syslog", len(lines), r)
            if mark in line:
                lines.append(line.encode())
        out[name] = lines
    return out


ARROW = False  # --arrow: batches handed over as pa.BinaryArray (what the sink passes), built before timing


def batches(lines: list[bytes], batch: int) -> list[list[bytes]] | list[pa.BinaryArray]:
    """The lines cut into batches, as lists or (--arrow) as the reader's Arrow column."""
    cut = [lines[lo : lo + batch] for lo in range(0, len(lines), batch)]
    return [pa.array(b, pa.binary()) for b in cut] if ARROW else cut


def cpu_per_row(fn: Callable[[list[bytes], datetime], object], lines: list[bytes], batch: int, repeat: int) -> float:
    """Best CPU µs per row over `repeat` runs of fn on the lines, batch by batch."""
    best = float("inf")
    parts = batches(lines, batch)
    for _ in range(repeat):
        gc.collect()
        t0 = time.process_time()
        for part in parts:
            fn(part, REF)
        best = min(best, time.process_time() - t0)
    return best / len(lines) * 1e6


def cpu_per_row_list(fn: Callable[[list[bytes], datetime], object], lines: list[bytes], batch: int) -> float:
    """CPU µs per row of one run of fn on lists of bytes (the per-row reference takes nothing else)."""
    gc.collect()
    t0 = time.process_time()
    for lo in range(0, len(lines), batch):
        fn(lines[lo : lo + batch], REF)
    return (time.process_time() - t0) / len(lines) * 1e6


def load_module(path: str) -> ModuleType:
    """Another version of vectorized.py, imported from a file under a name of its own."""
    spec = importlib.util.spec_from_file_location("vectorized_baseline", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


ZONE_CONFIGS = {
    "paris": {"syslog": {"default_timezone": "Europe/Paris"}},
    "hosts": {
        "syslog": {"default_timezone": "Europe/Paris"},
        "inventory": {
            "sites": {"cayenne": {"timezone": "America/Cayenne"}},
            "hosts": {"fw01": {"site": "cayenne"}, "asa01": {"timezone": "America/New_York"},
                      "sw-core": {"timezone": "UTC", "address": "10.0.0.1"}},
        },
    },
}
CURRENT: Callable[[list[bytes], datetime], object] = enrich


def zoned(zones: ZoneMap) -> Callable[[list[bytes] | pa.BinaryArray, datetime], object]:
    """enrich as the sink calls it with a zone map: received_at and sender columns of the batch."""
    ts = pa.timestamp("us", tz="UTC")
    senders: dict[int, pa.Array] = {}  # made once per batch size: the sink has the column already

    def run(part: list[bytes] | pa.BinaryArray, ref: datetime) -> object:
        n = len(part)
        if n not in senders:
            senders[n] = pa.array([f"10.0.{i % 7}.1" for i in range(n)], pa.string())
        return enrich(part, ref, pa.repeat(pa.scalar(ref, ts), n), senders[n], zones)

    return run


def compare(baseline: ModuleType, lines: list[bytes], batch: int, repeat: int) -> tuple[float, float]:
    """(baseline, current) best CPU µs/row, the two runs interleaved; fails if their columns differ."""
    first, second = baseline.enrich(lines[:batch], REF), CURRENT(lines[:batch], REF)
    if CURRENT is enrich:
        assert list(first) == list(second) and all(first[k].equals(second[k]) for k in first), "outputs differ"
    old = new = float("inf")
    for _ in range(repeat):
        old = min(old, cpu_per_row(baseline.enrich, lines, batch, 1))
        new = min(new, cpu_per_row(CURRENT, lines, batch, 1))
    return old, new


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000, help="rows of the mix (and per format: a fifth of it)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-rowwise", action="store_true", help="skip the (slow) per-row reference")
    ap.add_argument("--only", default="", help="comma-separated formats to time (default: all)")
    ap.add_argument("--baseline", default="", help="another vectorized.py to time against, interleaved")
    ap.add_argument("--arrow", action="store_true", help="hand enrich pa.BinaryArray batches, as the sink does")
    ap.add_argument("--zones", choices=sorted(ZONE_CONFIGS), default="", help="time enrich with this zone map")
    args = ap.parse_args()
    global ARROW, CURRENT
    ARROW = args.arrow
    if args.zones:
        CURRENT = zoned(ZoneMap.from_config(validate(ZONE_CONFIGS[args.zones])))
    if args.quick:
        args.rows, args.repeat = min(args.rows, 20_000), min(args.repeat, 2)
    per = max(args.rows // 5, 1000)
    rows_ref = max(per // 4, 500)  # the per-row reference is linear and slow: fewer rows suffice
    formats = by_format(per)
    only = {x for x in args.only.split(",") if x}
    if args.baseline:
        baseline = load_module(args.baseline)
        print(f"CPU µs/row, best of {args.repeat} interleaved, batches of {args.batch:,}: {args.baseline} against now")
        print(f"{'format':<13}{'baseline':>9}{'now':>8}{'ratio':>7}")
        named = [(k, v) for k, v in formats.items() if not only or k in only]
        if not only or "mix" in only:
            named.append(("mix", sample_lines(args.rows)))
        for name, lines in named:
            old, new = compare(baseline, lines, args.batch, args.repeat)
            print(f"{name:<13}{old:9.2f}{new:8.2f}{new / old:7.2f}", flush=True)
        return
    print(f"CPU µs/row, best of {args.repeat}, batches of {args.batch:,}; {per:,} rows per format, {args.rows:,} in the mix")
    print(f"{'format':<13}{'vectorised':>11}{'per-row':>9}{'fallback hdr/conn':>19}")
    for name, lines in formats.items():
        if only and name not in only:
            continue
        vec = cpu_per_row(CURRENT, lines, args.batch, args.repeat)
        row = "" if args.no_rowwise else f"{cpu_per_row_list(enrich_rowwise, lines[:rows_ref], args.batch):9.1f}"
        h, c = fallback_share(lines[: args.batch], REF)
        print(f"{name:<13}{vec:11.2f}{row:>9}{h:>11.1%} {c:6.1%}", flush=True)
    if only and "mix" not in only:
        return
    mix = sample_lines(args.rows)
    vec = cpu_per_row(CURRENT, mix, args.batch, args.repeat)
    row = "" if args.no_rowwise else f"{cpu_per_row_list(enrich_rowwise, mix[: args.rows // 4], args.batch):9.1f}"
    h, c = fallback_share(mix[: args.batch], REF)
    print(f"{'mix':<13}{vec:11.2f}{row:>9}{h:>11.1%} {c:6.1%}")


if __name__ == "__main__":
    main()
