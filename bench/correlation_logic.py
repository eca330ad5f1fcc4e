"""Correlation logic benchmark: normalize and correlate in-process, no Kafka, no Faust.

    python bench/correlation_logic.py               # typical and worst mixes, best of 3
    python bench/correlation_logic.py --quick       # smaller runs: a smoke test
    python bench/correlation_logic.py --profile worst [--sort tottime]

The target is 10,000 msg/s per worker through normalize + correlate *including* Faust overhead, so the
pure logic must do much better: >= 40k msg/s on the typical mix, >= 15k msg/s on the worst case.

Mixes (deterministic, seeded):
  typical  70 % syslog (~15 % of it matches a rule), 10 % linkDown/Up traps, 20 % checks; mostly
           repeats of the same problems (a storm on 20 routers), 5 % clears
  worst    every syslog message matches a rule, 200 routers, state flips 50/50: every event is a
           transition, so incident bookkeeping, incident dicts and notify run on nearly every message

Stages, each timed over the same messages (1,000 messages per simulated second):
  decode     orjson.loads of the raw values: the floor any Faust agent pays, the reference for ratios
  normalize  Normalizer.syslog/trap/check
  apply      alerts.apply_event alone (dedup state machine) on the pre-normalized events
  engine     normalize + Engine.process + Engine.tick once per simulated second (state built untimed)
Throughput is given on process CPU time (stable on a shared machine) and on wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import time
from collections.abc import Callable
from typing import Any

import orjson

from vigie.config import validate
from vigie.pipelines.correlate import alerts as alerts_mod
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.correlate.routing import Router
from vigie.pipelines.correlate.topology import Inventory
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP, Normalizer

T = 1_740_823_200.0  # 2025-03-01T10:00:00Z
STEP = 0.001  # simulated seconds between messages: 1,000 msg/s of event time
TICK_EVERY = 1000  # one tick per simulated second

NOISE = (
    "Accepted publickey for alice from 10.0.0.{i} port 5000 ssh2",
    "pam_unix(sshd:session): session opened for user bob by (uid=0)",
    "%SEC-6-IPACCESSLOGP: list 101 denied tcp 10.1.1.{i}(1234) -> 10.2.2.2(80), 1 packet",
    "CRON[1234]: (root) CMD (run-parts /etc/cron.hourly)",
    "%SYS-6-LOGGINGHOST_STARTSTOP: Logging to host 10.0.0.{i} port 514 started",
)
ALERTING = (
    "%LINK-3-UPDOWN: Interface Gi0/{i}, changed state to {s}",
    "%LINEPROTO-5-UPDOWN: Line protocol on Interface Gi0/{i}, changed state to {s}",
    "e1000e: eth{i} NIC Link is {S}",
    "blk_update_request: I/O error, dev sd{c}, sector 12",
)


def inventory() -> Inventory:
    """200 routers over 10 sites and 2,000 hosts behind them (the check targets), through the config's checks."""
    hosts: dict[str, Any] = {
        f"r{i}": {"site": f"s{i % 10}", "address": f"10.0.{i // 250}.{i % 250}"} for i in range(200)
    }
    hosts.update({f"h{i}": {"site": f"s{i % 10}", "parents": [f"r{i % 200}"]} for i in range(2000)})
    return Inventory.from_config(validate({"inventory": {"hosts": hosts}}).inventory, default_site="hq")


def build(worst: bool, count: int, seed: int = 1) -> list[tuple[str, dict[str, Any]]]:
    """The raw values (as the parse/intake stages publish them) of one mix: (kind, value)."""
    rnd = random.Random(seed)
    raw: list[tuple[str, dict[str, Any]]] = []
    for _ in range(count):
        r = rnd.random()
        i = rnd.randint(0, 5)
        # worst: every event flips state half the time; typical: a storm of repeats, few clears
        down = rnd.random() < (0.5 if worst else 0.95)
        if r < 0.7:
            pool = ALERTING if (worst or rnd.random() < 0.15) else NOISE
            msg = rnd.choice(pool).format(
                i=i, s="down" if down else "up", S="Down" if down else "Up", c="abc"[i % 3]
            )
            host = f"r{rnd.randint(0, 199 if worst else 19)}"
            value = {
                "hostname": host,
                "msg": msg,
                "app_name": "kernel",
                "cisco": None,
                "timestamp": "2025-03-01T10:00:00Z",
                "severity": 3,
            }
            raw.append(("syslog", value))
        elif r < 0.8:
            raw.append(
                (
                    "trap",
                    {
                        "trap_oid": LINK_DOWN if down else LINK_UP,
                        "agent_address": f"10.0.0.{rnd.randint(0, 199 if worst else 19)}",
                        "received_at": "2025-03-01T10:00:00Z",
                        "varbinds": [
                            {"oid": f"1.3.6.1.2.1.2.2.1.1.{i}", "value": i},
                            {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{i}", "value": f"Gi0/{i}"},
                        ],
                    },
                )
            )
        else:
            status = rnd.choice([0, 0, 0, 1, 2]) if worst else (2 if rnd.random() < 0.05 else 0)
            value = {
                "host": f"h{rnd.randint(0, 1999)}",
                "service": rnd.choice(["PING", "HTTP", "DISK"]),
                "status": status,
                "output": "x",
                "check_time": 1740823200.0,
            }
            raw.append(("check", value))
    return raw


class Timer:
    """CPU and wall seconds of a block."""

    __slots__ = ("cpu", "wall", "_c", "_w")

    def __enter__(self) -> Timer:
        self._c, self._w = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._c
        self.wall = time.perf_counter() - self._w


Stage = Callable[[], Callable[[], Any]]  # prepare (untimed: fresh state) -> run (timed)


def stage_decode(encoded: list[tuple[str, bytes]], inv: Inventory) -> Stage:
    def run() -> Any:
        loads = orjson.loads
        return [loads(b) for _, b in encoded]

    return lambda: run


def stage_normalize(raw: list[tuple[str, dict[str, Any]]], inv: Inventory) -> Stage:
    def prepare() -> Callable[[], Any]:
        norm = Normalizer(inv)
        fns = {"syslog": norm.syslog, "trap": norm.trap, "check": norm.check}
        return lambda: [fns[k](v) for k, v in raw]

    return prepare


def stage_apply(events: list[dict[str, Any] | None], inv: Inventory) -> Stage:
    def run() -> Any:
        states: dict[str, alerts_mod.AlertState] = {}
        apply = alerts_mod.apply_event
        now = T
        for e in events:
            now += STEP
            if e is None:
                continue
            fp = e["fingerprint"]
            state, _ = apply(states.get(fp), e, now)
            if state is not None:
                states[fp] = state
        return states

    return lambda: run


def make_engine(inv: Inventory) -> Engine:
    return Engine(inv, router=Router.from_config(validate({"routes": [{"name": "oncall"}]}).routes))


def stage_engine(raw: list[tuple[str, dict[str, Any]]], inv: Inventory) -> Stage:
    def prepare() -> Callable[[], Any]:
        norm = Normalizer(inv)
        eng = make_engine(inv)
        fns = {"syslog": norm.syslog, "trap": norm.trap, "check": norm.check}

        def run() -> Any:
            process, tick = eng.process, eng.tick
            for j, (k, v) in enumerate(raw):
                e = fns[k](v)
                now = T + j * STEP
                if e is not None:
                    process(e, now)
                if j % TICK_EVERY == 0:
                    tick(now)
            return eng

        return run

    return prepare


def best(prepare: Stage, repeats: int) -> tuple[float, float, Any]:
    """Best CPU and wall seconds over `repeats` runs (the least disturbed by other processes)."""
    cpu = wall = float("inf")
    result = None
    for _ in range(repeats):
        run = prepare()
        with Timer() as t:
            result = run()
        cpu, wall = min(cpu, t.cpu), min(wall, t.wall)
    return cpu, wall, result


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load {one:.2f} {five:.2f} {fifteen:.2f}"
    )


def bench(name: str, worst: bool, count: int, repeats: int) -> None:
    inv = inventory()
    raw = build(worst, count)
    encoded = [(k, orjson.dumps(v)) for k, v in raw]
    events = stage_normalize(raw, inv)()()
    n_events = sum(e is not None for e in events)
    rows = []
    decode_cpu = None
    for stage, prepare in (
        ("decode (orjson)", stage_decode(encoded, inv)),
        ("normalize", stage_normalize(raw, inv)),
        ("apply_event only", stage_apply(events, inv)),
        ("normalize+engine", stage_engine(raw, inv)),
    ):
        cpu, wall, result = best(prepare, repeats)
        decode_cpu = decode_cpu if decode_cpu is not None else cpu
        rows.append((stage, count / cpu, count / wall, cpu / decode_cpu))
        if isinstance(result, Engine):
            eng = result
    print(
        f"\n{name}: {count:,} messages, {n_events:,} events; after the run: {len(eng.alerts):,} alerts, "
        f"{len(eng.correlation.incidents):,} open incidents"
    )
    print(f"  {'stage':<18} {'msg/s (cpu)':>12} {'msg/s (wall)':>13} {'cost x decode':>14}")
    for stage, per_cpu, per_wall, ratio in rows:
        print(f"  {stage:<18} {per_cpu:>12,.0f} {per_wall:>13,.0f} {ratio:>14.1f}")


def profile(worst: bool, count: int, sort: str) -> None:
    inv = inventory()
    run = stage_engine(build(worst, count), inv)()
    prof = cProfile.Profile()
    prof.runcall(run)
    pstats.Stats(prof).sort_stats(sort).print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=60_000, help="messages per mix")
    parser.add_argument("--repeats", type=int, default=3, help="runs per stage; the best is kept")
    parser.add_argument("--quick", action="store_true", help="5,000 messages, one run")
    parser.add_argument("--mix", choices=("typical", "worst", "both"), default="both")
    parser.add_argument("--profile", choices=("typical", "worst"), help="cProfile the engine stage instead")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    args = parser.parse_args()
    count, repeats = (5_000, 1) if args.quick else (args.count, args.repeats)
    print(machine())
    if args.profile:
        profile(args.profile == "worst", count, args.sort)
        return
    if args.mix in ("typical", "both"):
        bench("typical", False, count, repeats)
    if args.mix in ("worst", "both"):
        bench("worst (every event a state change)", True, count, repeats)
    print(f"\n{machine()}")


if __name__ == "__main__":
    main()
