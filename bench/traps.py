"""Trap intake benchmark: net-snmp snmptrap bursts and a fast Python v2c sender into the TrapReceiver and Kafka.

    python bench/traps.py [--duration 30] [--rate 2000] [--burst 400] [--quick] [--bootstrap host:port]

In one run, against one broker (a local one unless --bootstrap is given), with the receiver and
its KafkaSink in a process of their own:

- bare-producer: KafkaSink producing the receiver's raw.traps value of a v2c linkDown in a tight
  loop: the limit;
- python-v2c @rate: one socket sending pre-encoded v2c linkDown traps (pysnmp/pyasn1 BER) paced at
  --rate (target >= 2,000/s without loss), and again at 4x that rate to find the ceiling;
- snmptrap-burst: --burst real `snmptrap -v 2c` invocations, --parallel at a time: what a storm of
  scripts or many agents looks like; process start-up dominates, so this measures the senders.

What landed is read from raw.traps end offsets: loss is sent minus landed, and a rate is what
landed over the time from the first send to the last record landing. Ratios are against the
bare producer measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import (
    add_broker_arguments,
    broker,
    end_offsets,
    load,
    machine,
    missing_broker,
    missing_tools,
    preflight,
    table,
    udp_kernel_drops,
    wait_landed,
)

from vigie.kafka_client import KafkaSettings
from vigie.topics import RAW_TRAPS

CTX = mp.get_context("spawn")


def datagrams(n: int = 1024) -> list[bytes]:
    """n v2c linkDown traps with distinct request ids, encoded once (the sender must not be the bottleneck)."""
    sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repository: the tests' linkDown
    from tests.snmp_datagrams import sample_trap

    return [sample_trap(i + 1) for i in range(n)]


def send_python(port: int, rate: int, duration: float, result: Any, began: Any) -> None:
    """One UDP socket, paced in 1 ms slices."""
    data = datagrams()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    send, sent = sock.send, 0
    start = time.perf_counter()
    began.value = time.monotonic()
    end = start + duration
    while (now := time.perf_counter()) < end:
        due = int((now - start) * rate)
        if sent >= due:
            time.sleep(0.0005)
            continue
        for i in range(sent, min(due, sent + 256)):
            send(data[i & 1023])
            sent += 1
    sock.close()
    result.value = sent


def receiver_process(settings: KafkaSettings, conn: Connection) -> None:
    """The TrapReceiver with a KafkaSink, in its own process; answers "stats" and "stop"."""
    from prometheus_client import CollectorRegistry

    from vigie.kafka_client import KafkaSink
    from vigie.producers.snmp.receiver import TrapReceiver
    from vigie.producers.snmp.settings import TrapSettings

    async def serve() -> None:
        sink = KafkaSink(settings)
        receiver = TrapReceiver(
            TrapSettings(port=0, communities=("public",), recv_buffer=16 << 20), sink, CollectorRegistry()
        )
        await receiver.start()
        assert receiver.address is not None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        registry = receiver.metrics.registry

        def command() -> None:
            if conn.recv() == "stop":
                stop.set()
                return
            samples = {
                f"{m.name}{s.labels}": s.value
                for m in registry.collect()
                for s in m.samples
                if s.name.endswith("_total")
            }
            conn.send(samples)

        loop.add_reader(conn.fileno(), command)
        conn.send(receiver.address[1])
        await stop.wait()
        loop.remove_reader(conn.fileno())
        await receiver.stop()
        sink.close(60)

    asyncio.run(serve())


class Receiver:
    """The receiver process seen from the bench."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.conn, child = CTX.Pipe()
        self.proc = CTX.Process(target=receiver_process, args=(settings, child), name="trap-receiver")
        self.proc.start()
        if not self.conn.poll(60):
            raise RuntimeError("the trap receiver process did not start")
        self.port = self.conn.recv()
        self.topic = settings.topic(RAW_TRAPS)

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def stats(self) -> dict[str, float]:
        self.conn.send("stats")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(90)


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process and all its threads, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """One scenario's figures."""

    name: str
    sent: int
    landed: int
    seconds: float
    cpu: float
    notes: str = ""

    @property
    def rate(self) -> float:
        return self.landed / self.seconds if self.seconds > 0 else 0.0

    @property
    def loss(self) -> int:
        return self.sent - self.landed


def bare_producer(settings: KafkaSettings, duration: float, out: Any) -> None:
    """KafkaSink producing the receiver's JSON value of a v2c linkDown in a tight loop."""
    from vigie.kafka_client import KafkaSink
    from vigie.producers.snmp import ber
    from vigie.producers.snmp.mibnames import MibResolver
    from vigie.producers.snmp.traps import trap_value
    from vigie.schemas.codec import dumps, rfc3339
    from vigie.sink import BufferFull

    msg = ber.decode(datagrams(1)[0])
    value = dumps(
        trap_value(
            version=1,
            pdu="trap",
            varbinds=msg.varbinds,
            peer=("127.0.0.1", 40000),
            received_at=rfc3339(),
            resolver=MibResolver.standard(),
            community="public",
        )
    )
    sink = KafkaSink(settings)
    sink.produce(RAW_TRAPS, value, b"127.0.0.1")
    sink.flush(30)
    n, cpu0 = 0, time.process_time()
    t0 = time.perf_counter()
    end = t0 + duration
    while time.perf_counter() < end:
        for _ in range(1024):
            try:
                sink.produce(RAW_TRAPS, value, b"127.0.0.1")
                n += 1
            except BufferFull:
                time.sleep(0.005)
    assert sink.flush(300) == 0
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sink.close()
    out.put((n, elapsed, cpu, len(value)))


def run_bare(settings: KafkaSettings, duration: float) -> Result:
    out = CTX.Queue()
    topic = settings.topic(RAW_TRAPS)
    before = end_offsets(settings, topic)
    proc = CTX.Process(target=bare_producer, args=(settings, duration, out), name="bare-producer")
    proc.start()
    n, elapsed, cpu, size = out.get(timeout=duration + 600)
    proc.join()
    landed = end_offsets(settings, topic) - before - 1  # minus the warm-up record
    return Result("bare-producer", n, landed, elapsed, cpu, f"{size}-byte JSON values, no network input")


def run_python(settings: KafkaSettings, receiver: Receiver, rate: int, duration: float) -> Result:
    count = lambda: end_offsets(settings, receiver.topic)  # noqa: E731
    before, drops0, cpu0 = count(), udp_kernel_drops(), cpu_seconds(receiver.pid)
    dropped0 = _dropped(receiver.stats())
    sent, began = CTX.Value("q", 0), CTX.Value("d", 0.0)  # the sender's own start: spawning is not measured
    sender = CTX.Process(target=send_python, args=(receiver.port, rate, duration, sent, began))
    sender.start()
    sender.join()
    t0 = began.value
    landed, last = wait_landed(lambda: count() - before, sent.value, settle=5.0, timeout=300)
    cpu = cpu_seconds(receiver.pid) - cpu0
    notes = (
        f"sent {sent.value / duration:,.0f}/s; kernel UDP drops {udp_kernel_drops() - drops0:,}; "
        f"sink-full drops {_dropped(receiver.stats()) - dropped0:,.0f}; CPU {1e6 * cpu / max(landed, 1):.0f} us/trap"
    )
    return Result(f"python-v2c @{rate:,}/s", sent.value, landed, max(last - t0, 1e-9), cpu, notes)


def _dropped(stats: dict[str, float]) -> float:
    return sum(v for k, v in stats.items() if k.startswith("vigie_snmp_dropped_total"))


def run_snmptrap(settings: KafkaSettings, receiver: Receiver, burst: int, parallel: int) -> Result:
    """`burst` snmptrap processes, at most `parallel` alive at once, each sending one v2c linkDown."""
    snmptrap = shutil.which("snmptrap")
    if snmptrap is None:
        raise RuntimeError("net-snmp's snmptrap is not installed (apt-get install snmp)")
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": "/tmp/vigie-bench-snmp"}
    args = [
        snmptrap, "-v", "2c", "-c", "public", f"udp:127.0.0.1:{receiver.port}", "",
        "1.3.6.1.6.3.1.1.5.3",
        "1.3.6.1.2.1.2.2.1.1.3", "i", "3",
        "1.3.6.1.2.1.2.2.1.2.3", "s", "GigabitEthernet0/3",
        "1.3.6.1.2.1.2.2.1.7.3", "i", "1",
        "1.3.6.1.2.1.2.2.1.8.3", "i", "2",
    ]  # fmt: skip
    count = lambda: end_offsets(settings, receiver.topic)  # noqa: E731
    before, cpu0 = count(), cpu_seconds(receiver.pid)
    running: list[subprocess.Popen] = []
    failed = 0
    t0 = time.monotonic()
    for _ in range(burst):
        while len(running) >= parallel:
            for p in [p for p in running if p.poll() is not None]:
                failed += p.returncode != 0
                running.remove(p)
            if len(running) >= parallel:
                time.sleep(0.001)
        running.append(subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in running:
        failed += p.wait() != 0
    spawned = time.monotonic() - t0
    landed, last = wait_landed(lambda: count() - before, burst, settle=5.0, timeout=120)
    cpu = cpu_seconds(receiver.pid) - cpu0
    notes = f"{parallel} at a time; all processes done in {spawned:.1f} s; {failed} failed"
    return Result(f"snmptrap-burst x{burst}", burst, landed, max(last - t0, 1e-9), cpu, notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_arguments(parser)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending per Python scenario")
    parser.add_argument("--rate", type=int, default=2000, help="v2c traps per second (the target)")
    parser.add_argument("--burst", type=int, default=400, help="snmptrap invocations")
    parser.add_argument("--parallel", type=int, default=16, help="snmptrap processes alive at once")
    args = parser.parse_args()
    duration = 5.0 if args.quick and args.duration == 30.0 else args.duration
    burst = 100 if args.quick and args.burst == 400 else args.burst
    preflight("bench/traps.py", missing_broker(args.bootstrap) + missing_tools("snmptrap"))
    print(f"traps: v2c linkDown, {duration:.0f} s per Python scenario; {machine()}", flush=True)

    results: list[Result] = []
    with broker(args.bootstrap) as settings:
        receiver = Receiver(settings)
        try:
            steps = [
                ("bare-producer", lambda: run_bare(settings, duration)),
                (f"python-v2c @{args.rate}", lambda: run_python(settings, receiver, args.rate, duration)),
                (
                    f"python-v2c @{4 * args.rate}",
                    lambda: run_python(settings, receiver, 4 * args.rate, duration),
                ),
                (f"snmptrap x{burst}", lambda: run_snmptrap(settings, receiver, burst, args.parallel)),
            ]
            for name, step in steps:
                print(f"  {name} ... (load {load()})", flush=True)
                result = step()
                results.append(result)
                print(
                    f"    sent {result.sent:,}, landed {result.landed:,}, {result.rate:,.0f}/s, "
                    f"loss {result.loss:,}; {result.notes}",
                    flush=True,
                )
        finally:
            receiver.stop()

    limit = results[0]
    rows = [
        (
            r.name,
            r.sent,
            r.landed,
            r.loss,
            f"{r.loss / max(r.sent, 1):.3%}",
            r.rate,
            f"{r.rate / limit.rate:.3f}",
        )
        for r in results
    ]
    print()
    print(table(["scenario", "sent", "landed", "lost", "loss", "traps/s", "vs bare"], rows))
    target = results[1]
    met = target.loss == 0 and target.sent / duration >= 0.95 * args.rate and args.rate >= 2000
    print(
        f"\ntarget >= 2,000 v2c traps/s without loss: {'met' if met else 'NOT met'} ({target.rate:,.0f}/s, "
        f"lost {target.loss:,})"
    )
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
