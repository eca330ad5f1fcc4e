"""Bench: the archive sink's rows/s with SASL/SCRAM and ACLs on, against the same sink on an open broker.

Usage: python bench/archive_sasl.py [--rows 300000] [--runs 3] [--quick]

Two local brokers run side by side for the whole bench, one open (PLAINTEXT, the reference: today's
figure) and one as `vigie up` starts it (SCRAM-SHA-512, ACLs); the same messages are on both, and the
sink runs alternate between them (open, secured, open, ...) so that both see the same machine. The
secured sink authenticates as the `archive` principal, reading under the ACLs `vigie up` creates.
Printed: the median rows/s and CPU per row of each; the verdict is the median of the per-run ratios
(each SASL run against the open run just before it), as bench/notifier.py does (target >= 0.95).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

from _common import load, machine, missing_broker, preflight
from archive_sink import produce, sample_lines, sink_rate

from vigie import broker_auth
from vigie.acl_admin import ensure_acls
from vigie.local_broker import LocalBroker, free_port
from vigie.topic_admin import ensure_topics
from vigie.topics import default_specs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3, help="sink runs on each broker, alternating")
    ap.add_argument("--quick", action="store_true", help="short runs: a smoke test of the bench")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.runs = min(args.rows, 40_000), 1
    preflight("bench/archive_sasl.py", missing_broker(""))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: stop both brokers
    tmp = Path(tempfile.mkdtemp(prefix="vigie-bench-sasl-"))
    brokers = {name: LocalBroker(tmp / name, port=free_port(), controller_port=free_port(), heap="768m", sasl=sasl)
               for name, sasl in (("open", False), ("sasl", True))}
    try:
        for b in brokers.values():
            print(f"starting a local Kafka broker on {b.bootstrap} (sasl {b.sasl}) ...", flush=True)
            b.start(timeout=120)
        lines = sample_lines(args.rows)
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        readers = {}
        for name, b in brokers.items():
            admin = b.client_settings(broker_auth.ADMIN, prefix)
            ensure_topics(admin, default_specs(partitions=3))
            if b.sasl:
                ensure_acls(admin, broker_auth.acl_specs(prefix))
                produce(b.client_settings(broker_auth.INTAKE, prefix), lines)  # as `vigie up` writes them
                readers[name] = b.client_settings(broker_auth.ARCHIVE, prefix)
            else:
                produce(admin, lines)
                readers[name] = admin
        print(f"{machine()}; {args.rows:,} messages on each broker; load at start {load()}", flush=True)
        rates: dict[str, list[float]] = {name: [] for name in brokers}
        cpus: dict[str, list[float]] = {name: [] for name in brokers}
        for i in range(args.runs):
            for name, settings in readers.items():
                # a fresh group each run (the archive principal may join vigie-archive*): all rows from the start
                rate, cpu = sink_rate(settings, args.rows, tmp / f"archive-{name}-{i}", group_prefix="vigie-archive-")
                rates[name].append(rate)
                cpus[name].append(cpu)
                print(f"  run {i + 1} {name:5} {rate:12,.0f} rows/s  (CPU {cpu:.1f} µs/row)", flush=True)
        print(f"load after {load()}")
        ref, sec = statistics.median(rates["open"]), statistics.median(rates["sasl"])
        # the verdict pairs each SASL run with the open run just before it: on a shared machine the load moves
        # between runs, much less within a pair (the house's rule, as bench/notifier.py)
        paired = statistics.median(s / o for s, o in zip(rates["sasl"], rates["open"], strict=True))
        cpu_ratio = statistics.median(cpus["open"]) / statistics.median(cpus["sasl"])
        print(f"archive sink, open broker     {ref:12,.0f} rows/s (median of {args.runs}), "
              f"{statistics.median(cpus['open']):.1f} µs CPU/row")
        print(f"archive sink, SASL/SCRAM+ACLs {sec:12,.0f} rows/s (median of {args.runs}), "
              f"{statistics.median(cpus['sasl']):.1f} µs CPU/row")
        print(f"SASL / open = {paired:.2f} (median of per-run ratios; of medians {sec / ref:.2f}; "
              f"rows per CPU second {cpu_ratio:.2f})  (target >= 0.95)")
    finally:
        for b in brokers.values():
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
