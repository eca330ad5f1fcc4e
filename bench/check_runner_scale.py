"""The plugin runner with an imported estate's load: N services (3,500) on one interval, each running
check_dummy; how late each check starts against its schedule (p50/p99/max), and the CPU of Vigie apart
from the plugins' (children) CPU.

Target (issue 16): 3,500 services on a 5-minute interval, <= 5 s late at p99. The default here is a
60-second interval, five times the target's rate, so that a run lasts minutes, not an hour.
Usage: .venv/bin/python bench/check_runner_scale.py [SERVICES] [INTERVAL_S] [DURATION_S]
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import defaultdict

from vigie.producers.checks.runner import CheckRunner, ServiceDef
from vigie.schemas.codec import loads, parse_rfc3339
from vigie.sink import MemorySink


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


async def run(services: int, interval: float, duration: float) -> None:
    defs = [ServiceDef(host=f"h{i // 3}", service=f"S{i % 3}", command="check_dummy 0 ok",
                       check_interval=interval, retry_interval=interval) for i in range(services)]
    sink = MemorySink()
    runner = CheckRunner(sink, defs, concurrency=16)
    self0, kids0, started = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(duration)
    runner.stop()
    await task
    wall = time.time() - started
    self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    starts: dict[tuple[str, str], list[float]] = defaultdict(list)
    for record in sink.records:
        value = loads(record.value)
        starts[value["host"], value["service"]].append(parse_rfc3339(value["check_time"]).timestamp())
    late = [b - a - interval for times in starts.values() for a, b in zip(times, times[1:], strict=False)]
    vigie_cpu = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
    plugin_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    print(f"{services} services every {interval:g} s for {wall:.0f} s: {len(sink.records)} checks run, "
          f"{len(late)} rescheduled runs measured")
    print(f"late against schedule: p50 {percentile(late, 50):.3f} s, p99 {percentile(late, 99):.3f} s, "
          f"max {max(late, default=float('nan')):.3f} s (target p99 <= 5 s)")
    print(f"CPU: runner {vigie_cpu:.1f} s ({100 * vigie_cpu / wall:.1f}% of a core), "
          f"plugins {plugin_cpu:.1f} s ({100 * plugin_cpu / wall:.1f}%)")


if __name__ == "__main__":
    args = [float(a) for a in sys.argv[1:]]
    asyncio.run(run(int(args[0]) if args else 3500, args[1] if len(args) > 1 else 60.0,
                    args[2] if len(args) > 2 else 150.0))
