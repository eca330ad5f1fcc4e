"""Replay bench: `vigie replay` of recorded raw records against the live pipeline on the same records, one run.

    python bench/replay.py --bootstrap 127.0.0.1:9092 [--records 1000000]
    python bench/replay.py --local-broker [--records 1000000]      # its own broker on free ports, stopped after
    python bench/replay.py --replay-only [--records 1000000]

The records are bench/pipeline.py's mix (half checks, half Cisco link syslog over 1,000 hosts of 100 sites,
one in ten a problem), received at 10,000/s. Live: one worker (`vigie service pipelines`, both stages) drains
them from the raw topics (bench/pipeline.throughput: from the first committed raw offset until both stages
committed all). Replay: the same records as a replay file (pipelines/replay.py: normalize + correlate on the
simulated clock, one tick per simulated second, nothing written anywhere), timed from reading the file to the
last output. Target: replay >= 0.8x the live records/s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from vigie.config import load  # noqa: E402
from vigie.pipelines.replay import Replay, read_jsonl  # noqa: E402
from vigie.schemas.codec import rfc3339  # noqa: E402

HOSTS, SITES, RATE = 1000, 100, 10_000.0
T0 = 1_740_823_200.0


def records(n: int):
    """The same values bench/pipeline.fill produces, as replay lines."""
    for i in range(n):
        h = i % HOSTS
        at = rfc3339(T0 + i / RATE)
        if i % 2:
            value = {"host": f"h{h:03d}", "service": f"svc{i % 7}", "status": 2 if i % 10 == 1 else 0,
                     "output": "CHECK OK - 0.5 ms", "source": "active", "perfdata": []}
            yield {"topic": "raw.checks", "received_at": at, "value": value}
        else:
            state = "down" if i % 20 == 0 else "up"
            line = f"<187>Mar  1 10:00:00 h{h:03d} %LINK-3-UPDOWN: Interface Gi0/{i % 4}, changed state to {state}"
            yield {"topic": "raw.syslog", "received_at": at, "value": line, "key": f"10.0.{h // 250}.{h % 250}"}


def config_file(folder: Path) -> Path:
    lines = [f'state_dir = "{folder}"', "[correlation]", "max_check_attempts = 1"]
    for i in range(HOSTS):
        lines += [f'[inventory.hosts."h{i:03d}"]', f'site = "s{i % SITES}"']
    lines += ["[[routes]]", 'name = "ops"']
    path = folder / "vigie.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def replay_rate(n: int, folder: Path) -> tuple[float, int]:
    path = folder / "raw.jsonl"
    with path.open("wb") as f:
        for r in records(n):
            f.write(orjson.dumps(r) + b"\n")
    cfg = load(config_file(folder))
    t0 = time.perf_counter()
    with path.open("rb") as f:  # outputs are counted, not kept (the CLI prints them as they come)
        result = Replay(cfg, emit=lambda kind, value: None).run(read_jsonl(f, str(path)))
    span = time.perf_counter() - t0
    return n / span, result.counts["notification"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--replay-only", action="store_true")
    ap.add_argument("--local-broker", action="store_true", help="start a broker of its own (vigie.local_broker)")
    args = ap.parse_args()
    if args.local_broker and not args.replay_only:
        from vigie.local_broker import LocalBroker, free_port

        local = LocalBroker(Path(tempfile.mkdtemp(prefix="vigie-bench-broker-")), port=free_port(),
                            controller_port=free_port(), sasl=False)  # the bench's clients connect in the open
        local.start(timeout=120)
        args.bootstrap = local.bootstrap
        try:
            run(args)
        finally:
            local.stop()
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-replay-"))
    live = None
    if not args.replay_only:
        import pipeline  # bench/pipeline.py: the live measurement, same records

        r = pipeline.throughput(args.bootstrap, args.records, 1, 8)
        live = r["raw_per_s"]
        print(f"live, one worker: {live:,.0f} raw records/s ({r['events']:,} events)", flush=True)
    rate, notes = replay_rate(args.records, folder)
    print(f"replay: {rate:,.0f} raw records/s ({args.records:,} records, {notes:,} notifications)", flush=True)
    if live:
        print(f"replay / live: {rate / live:.2f}x (target >= 0.8x)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
