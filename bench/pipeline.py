"""Pipeline bench: events/s through normalize + correlate on one and two workers, raw -> alert latency at 1,000/s.

    python bench/pipeline.py --bootstrap 127.0.0.1:9092 [--events 100000] [--rate 1000] [--seconds 20]

Throughput: a backlog of raw records (half checks, half Cisco link syslog, over 1,000 hosts of 100
sites) is drained by N worker subprocesses (`vigie service pipelines`, both stages); the
rate counts from the first committed raw offset to the moment both stages have committed all, so
start-up and group joins are excluded. In the same run a bare aiokafka consumer (getmany) reads the
same raw topics, for the ratio. Latency: checks at a steady rate, each a new alert; the delay is from
just before the raw record is produced to its alert's arrival on the alerts topic
(`--fingerprints` bounds how many alerts stay firing: the engine's tick is O(firing alerts)).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from vigie.kafka_client import KafkaSettings
from vigie.topic_admin import ensure_topics
from vigie.topics import ALERTS, EVENTS, RAW_CHECKS, RAW_SYSLOG, default_specs

# The mission's syndicate: about 100 sites. Events are keyed by site, so the site count decides how
# evenly a stage's partitions (and so two workers) share the load: 10 sites over 4 partitions left one
# partition empty and gave one of two workers 7 sites of 10 (a ceiling of 1.4x, whatever the code).
SITES = 100
HOSTS = 1000


def config(settings: KafkaSettings, folder: Path) -> Path:
    lines = [f'state_dir = "{folder}"', "[kafka]", f'bootstrap_servers = "{settings.bootstrap_servers}"',
             f'topic_prefix = "{settings.topic_prefix}"', "[correlation]", "max_check_attempts = 1"]
    for i in range(HOSTS):
        lines += [f'[inventory.hosts."h{i:03d}"]', f'site = "s{i % SITES}"']
    lines += ["[[routes]]", 'name = "ops"']
    path = folder / "vigie.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def fresh(bootstrap: str, partitions: int) -> KafkaSettings:
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings, default_specs(partitions=partitions))
    return settings


def producer(settings: KafkaSettings) -> Producer:
    return Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 2, "compression.type": "lz4",
                     "queue.buffering.max.messages": 2_000_000, "partitioner": "murmur2_random"})


def fill(settings: KafkaSettings, n: int) -> None:
    """Realistic repetition: each host's checks and link messages recur; one in ten is a problem."""
    p = producer(settings)
    checks, syslog = settings.topic(RAW_CHECKS), settings.topic(RAW_SYSLOG)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()).encode()
    for i in range(n):
        h = i % HOSTS
        if i % 2:
            value = orjson.dumps({"host": f"h{h:03d}", "service": f"svc{i % 7}", "status": 2 if i % 10 == 1 else 0,
                                  "output": "CHECK OK - 0.5 ms", "source": "active", "perfdata": []})
            p.produce(checks, value, f"h{h:03d}".encode())
        else:
            state = "down" if i % 20 == 0 else "up"
            line = f"<187>Mar  1 10:00:00 h{h:03d} %LINK-3-UPDOWN: Interface Gi0/{i % 4}, changed state to {state}"
            p.produce(syslog, line.encode(), f"10.0.{h // 250}.{h % 250}".encode(),
                      headers=[("received_at", now), ("transport", b"udp")])
        if not i % 10000:
            p.poll(0)
    p.flush(60)


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine from /proc/stat: how much of the 2 cores a run used."""
    fields = [float(x) for x in open("/proc/stat").readline().split()[1:]]  # noqa: SIM115 - one line
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far; 0 when it is gone."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115 - one read
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port (the broker), from /proc: its CPU is reported apart."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]  # noqa: SIM115 - one read
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


class Progress:
    """(committed, end) summed over a group's partitions, with one long-lived client per group: creating a
    client per poll cost the workers CPU during the measurement."""

    def __init__(self, settings: KafkaSettings, group: str, topics: list[str]) -> None:
        self.c = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": group})
        self.tps = [TopicPartition(settings.topic(t), p) for t in topics
                    for p in self.c.list_topics(settings.topic(t), timeout=10).topics[settings.topic(t)].partitions]

    def __call__(self) -> tuple[int, int]:
        end = sum(self.c.get_watermark_offsets(tp, timeout=10)[1] for tp in self.tps)
        done = sum(max(tp.offset, 0) for tp in self.c.committed(self.tps, timeout=10))
        return done, end

    def close(self) -> None:
        self.c.close()


def wait_for_members(settings: KafkaSettings, groups: list[str], k: int, procs: list[subprocess.Popen[bytes]],
                     folder: Path, timeout: float = 90.0) -> None:
    """Until each consumer group is stable with k members that all hold partitions."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker died; see {folder}")
        try:
            described = [f.result() for f in admin.describe_consumer_groups(groups, request_timeout=10).values()]
        except Exception:  # noqa: BLE001 - groups not created yet
            described = []
        if len(described) == len(groups) and all(
                str(g.state).endswith("STABLE") and len(g.members) == k
                and all(m.assignment and m.assignment.topic_partitions for m in g.members) for g in described):
            time.sleep(1.0)  # assignments applied (snapshots read) before the first record
            return
        time.sleep(0.2)
    raise RuntimeError(f"the {k} worker(s) did not join {groups} within {timeout} s")


def start_workers(cfg: Path, k: int, logdir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(k):
        out = open(logdir / f"worker{i}.log", "ab")  # noqa: SIM115 - handed to the child
        procs.append(subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "service", "pipelines", "--config", str(cfg),
                                       "--log-level", "WARNING"], stdout=out, stderr=subprocess.STDOUT))
        out.close()
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def throughput(bootstrap: str, n: int, workers: int, partitions: int) -> dict[str, float]:
    settings = fresh(bootstrap, partitions)
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    procs = start_workers(config(settings, folder), workers, folder)
    raw_group, ev_group = f"{settings.topic_prefix}normalize", f"{settings.topic_prefix}correlate"
    # every worker in both groups before the load: a rebalance mid-run would be timed as processing
    wait_for_members(settings, [raw_group, ev_group], workers, procs, folder)
    broker_pid = listening_pid(int(bootstrap.rsplit(":", 1)[1]))
    fill(settings, n)
    t_first = n_first = t_norm = None
    cpu0 = cpu_times()
    workers0 = sum(proc_cpu(p.pid) for p in procs)
    broker0 = proc_cpu(broker_pid) if broker_pid else 0.0
    raw_progress = Progress(settings, raw_group, [RAW_CHECKS, RAW_SYSLOG])
    ev_progress = Progress(settings, ev_group, [EVENTS])
    try:
        while True:
            done, end = raw_progress()
            now = time.perf_counter()
            if t_first is None and done > 0:
                t_first, n_first = now, done
            if t_norm is None and done >= end:
                t_norm = now
            if t_norm is not None:
                cdone, cend = ev_progress()
                if cdone >= cend:
                    t_done = time.perf_counter()
                    break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker died; see {folder}")
            time.sleep(0.1)
        cpu1 = cpu_times()
        workers_cpu = sum(proc_cpu(p.pid) for p in procs) - workers0
        broker_cpu = (proc_cpu(broker_pid) - broker0) if broker_pid else float("nan")
        events = ev_progress()[1]
    finally:
        raw_progress.close()
        ev_progress.close()
        stop_workers(procs)
    bare = asyncio.run(bare_aiokafka(settings, n))
    span = t_done - t_first
    return {"raw_per_s": (n - n_first) / span, "events": events, "normalize_per_s": (n - n_first) / (t_norm - t_first),
            "bare_aiokafka_per_s": bare, "machine_busy": (cpu1[0] - cpu0[0]) / max(1.0, cpu1[1] - cpu0[1]),
            "worker_us": workers_cpu / (n - n_first) * 1e6, "broker_us": broker_cpu / (n - n_first) * 1e6}


async def bare_aiokafka(settings: KafkaSettings, n: int) -> float:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(settings.topic(RAW_CHECKS), settings.topic(RAW_SYSLOG),
                         bootstrap_servers=settings.bootstrap_servers, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                         auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000)
    await c.start()
    seen, t0 = 0, None
    try:
        while seen < n:
            for records in (await c.getmany(timeout_ms=500, max_records=5000)).values():
                t0 = t0 or time.perf_counter()
                seen += len(records)
        return n / (time.perf_counter() - t0)
    finally:
        await c.stop()


def latency(bootstrap: str, rate: int, seconds: float, fingerprints: int) -> dict[str, float]:
    settings = fresh(bootstrap, 3)
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    procs = start_workers(config(settings, folder), 1, folder)
    sent: dict[str, float] = {}
    got: list[float] = []
    c = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": f"lat-{uuid.uuid4().hex[:6]}",
                  # earliest: the topics are new, so nothing older than this run is there, and "latest"
                  # skipped the alerts produced before the reader's first fetch had resolved its position
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5})
    c.subscribe([settings.topic(ALERTS)])
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            for m in c.consume(1000, 0.05):
                if m.error() is None:
                    t = sent.pop(m.key().decode(), None)
                    if t is not None:
                        got.append(time.perf_counter() - t)

    try:
        time.sleep(8)  # workers join their groups; the reader gets its assignment
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        p = producer(settings)
        topic = settings.topic(RAW_CHECKS)
        total = int(rate * seconds)
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            # every record changes its alert's state (problem <-> ok): each one is published at once
            j = i % fingerprints
            host = f"h{j % HOSTS:03d}"
            fp = f"{host}|check|lat{j}"
            sent[fp] = time.perf_counter()
            status = 2 if (i // fingerprints) % 2 == 0 else 0
            p.produce(topic, orjson.dumps({"host": host, "service": f"lat{j}", "status": status, "output": "x",
                                           "source": "active"}), host.encode())
            p.poll(0)
        p.flush(30)
        time.sleep(3)
        stop.set()
        reader.join(5)
    finally:
        c.close()
        stop_workers(procs)
    got.sort()
    q = statistics.quantiles(got, n=100)
    # a record whose key is sent again before its alert came back counts once: `unanswered` is the loss
    return {"sent": total, "alerts_seen": len(got), "unanswered": len(sent), "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000, "max_ms": got[-1] * 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--rate", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--fingerprints", type=int, default=20000,
                    help="distinct alerts the latency load cycles over (default: every record a new alert)")
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--rounds", type=int, default=3, help="one-worker/two-worker pairs; the median ratio decides")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    ratios = []
    for rnd in range(1, args.rounds + 1):
        results = {}
        for k in (1, 2):
            if f"workers{k}" in args.skip:
                continue
            r = throughput(args.bootstrap, args.events, k, args.partitions)
            results[k] = r
            print(f"round {rnd}: {k} worker(s): {r['raw_per_s']:,.0f} raw records/s through normalize + correlate "
                  f"({r['events']:,} events); normalize alone {r['normalize_per_s']:,.0f}/s; bare aiokafka "
                  f"{r['bare_aiokafka_per_s']:,.0f}/s -> ratio {r['raw_per_s'] / r['bare_aiokafka_per_s']:.3f}; "
                  f"machine CPU busy {r['machine_busy']:.0%} of {os.cpu_count()} cores; CPU per raw record: workers "
                  f"{r['worker_us']:.0f} µs, broker {r['broker_us']:.0f} µs", flush=True)
        if 1 in results and 2 in results:
            ratios.append(results[2]["raw_per_s"] / results[1]["raw_per_s"])
            # one worker already kept the machine this busy (itself, its client threads, the broker): two
            # workers can at most use the rest, whatever their code
            ceiling = 1 / max(results[1]["machine_busy"], 1e-9)
            print(f"round {rnd}: two workers / one: {ratios[-1]:.2f}x (the machine allows at most "
                  f"{ceiling:.2f}x: one worker kept it {results[1]['machine_busy']:.0%} busy)", flush=True)
    if ratios:
        print(f"two workers / one, median of {len(ratios)} round(s): {statistics.median(ratios):.2f}x "
              f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; target >= 1.6x)")
    if "latency" not in args.skip:
        r = latency(args.bootstrap, args.rate, args.seconds, args.fingerprints)
        print(f"latency at {args.rate}/s: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms "
              f"({r['alerts_seen']}/{r['sent']} alerts timed, {r['unanswered']} records never answered)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
