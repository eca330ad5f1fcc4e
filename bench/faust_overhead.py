"""How fast can a Faust agent consume here, and where does its time go: Faust variants against bare clients, same run.

Fills one 3-partition topic with N small records, then drains it with, in turn: a bare aiokafka
consumer (getmany), a bare confluent-kafka consumer (consume), and Faust workers (each in its own
subprocess, a fresh consumer group) in several variants: plain `async for`, `stream.take`,
`take` with larger poll/buffer settings, `stream_wait_empty=False`, `stream.events()`,
`stream.noack()` with manual acks. The rate counts from the first record to the N-th, so start-up
and rebalance are excluded. `--profile VARIANT` runs one variant under pyinstrument and prints
where the time goes.

    python bench/faust_overhead.py --bootstrap 127.0.0.1:9092 [--count 200000] [--variants ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

from _common import missing_modules, preflight

VARIANTS: dict[str, dict[str, Any]] = {
    "iter": {"loop": "iter"},
    "take": {"loop": "take"},
    "take_big": {"loop": "take", "max_poll": 5000, "buffer": 20000},
    "take_nowait": {"loop": "take", "max_poll": 5000, "buffer": 20000, "wait_empty": False},
    "events": {"loop": "events", "max_poll": 5000, "buffer": 20000},
    "noack_take": {"loop": "noack_take", "max_poll": 5000, "buffer": 20000},
    "take_acks1": {"loop": "take", "max_poll": 5000, "buffer": 20000, "acks": 1},
    # Faust's fetcher awaits wait_first(callback(msg), suspend_flow.wait()) per record (two tasks per
    # record); this variant monkeypatches the fetch loop to await the callback directly: not shippable,
    # it only measures how much of the overhead that one construct is.
    "take_patched": {"loop": "take", "max_poll": 5000, "buffer": 20000, "wait_empty": False, "patch": True},
}


def _patch_fetch_loop() -> None:
    """Replace faust's per-record wait_first in Consumer._drain_messages by a direct await (measurement only)."""
    from faust.transport.consumer import Consumer

    async def _drain_messages(self: Any, fetcher: Any) -> None:
        callback = self.callback
        read_offset = self._read_offset
        while not (self._stopped.is_set() or fetcher._stopped.is_set()):
            ait = self.getmany(timeout=1.0)
            await asyncio.sleep(0)
            async for tp, message in ait:
                await callback(message)
                read_offset[tp] = message.offset

    Consumer._drain_messages = _drain_messages


def fill(bootstrap: str, topic: str, count: int, partitions: int = 3) -> float:
    """Create the topic and write count records of ~120 bytes; returns the produce rate."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "compression.type": "lz4",
                         "queue.buffering.max.messages": 2_000_000, "batch.size": 1_000_000})
    value = b'{"host":"srv-%05d","service":"ping","status":0,"output":"PING OK - Packet loss = 0%%, RTA = 0.50 ms"}'
    t0 = time.perf_counter()
    for i in range(count):
        producer.produce(topic, value % (i % 20000), key=b"srv-%05d" % (i % 20000))
        if not i % 10000:
            producer.poll(0)
    producer.flush(60)
    return count / (time.perf_counter() - t0)


async def bare_aiokafka(bootstrap: str, topic: str, count: int) -> float:
    """A bare aiokafka consumer with getmany(): the floor under Faust's own consumer."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    seen, t0 = 0, None
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                if t0 is None:
                    t0 = time.perf_counter()
                for _ in records:
                    seen += 1
        return count / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


def bare_confluent(bootstrap: str, topic: str, count: int) -> float:
    """A bare confluent-kafka consumer with consume(): what librdkafka delivers to Python."""
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ck-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, t0 = 0, None
    try:
        while seen < count:
            msgs = consumer.consume(5000, 0.5)
            if msgs and t0 is None:
                t0 = time.perf_counter()
            for m in msgs:
                if m.error() is None:
                    m.value()
                    seen += 1
        return count / (time.perf_counter() - t0)
    finally:
        consumer.close()


def faust_worker(bootstrap: str, topic: str, count: int, variant: str, out: str, profile: bool) -> None:
    """Run one Faust variant to completion in this process and write its rate to `out`."""
    import faust

    v = VARIANTS[variant]
    if v.get("patch"):
        _patch_fetch_loop()
    kw: dict[str, Any] = {}
    if "max_poll" in v:
        kw["broker_max_poll_records"] = v["max_poll"]
    if "buffer" in v:
        kw["stream_buffer_maxsize"] = v["buffer"]
    if "wait_empty" in v:
        kw["stream_wait_empty"] = v["wait_empty"]
    if "acks" in v:
        kw["producer_acks"] = v["acks"]
    app = faust.App(f"fo-{variant}-{uuid.uuid4().hex[:6]}", broker=f"kafka://{bootstrap}", store="memory://",
                    web_enabled=False, datadir=tempfile.mkdtemp(prefix="fo-"), topic_partitions=3, **kw)
    src = app.topic(topic, key_serializer="raw", value_serializer="raw")
    state = {"seen": 0, "t0": 0.0}
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.002)

    def done() -> None:
        rate = count / (time.perf_counter() - state["t0"])
        if profiler is not None:
            profiler.stop()
            with open(out + ".profile.txt", "w") as fh:
                fh.write(profiler.output_text(unicode=False, color=False, show_all=True))
        with open(out, "w") as fh:
            json.dump({"variant": variant, "rate": rate}, fh)
        os._exit(0)

    def count_some(n: int) -> None:
        if not state["seen"]:
            state["t0"] = time.perf_counter()
            if profiler is not None:
                profiler.start()
        state["seen"] += n
        if state["seen"] >= count:
            done()

    @app.agent(src)
    async def consume(stream: Any) -> None:
        loop = v["loop"]
        if loop == "iter":
            async for _value in stream:
                count_some(1)
        elif loop == "take":
            async for batch in stream.take(2000, within=0.05):
                count_some(len(batch))
        elif loop == "events":
            async for _event in stream.events():
                count_some(1)
        elif loop == "noack_take":
            async for batch in stream.noack().take(2000, within=0.05):
                count_some(len(batch))
                stream.current_event and stream.current_event.ack()

    sys.argv = [sys.argv[0], "worker", "-l", "error"]
    app.main()


def run_faust(args: argparse.Namespace, variant: str, profile: bool = False) -> float | None:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    cmd = [sys.executable, __file__, "_faust", "--bootstrap", args.bootstrap, "--topic", args.topic,
           "--count", str(args.count), "--variant", variant, "--out", out]
    if profile:
        cmd.append("--profile-on")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if profile and os.path.exists(out + ".profile.txt"):
        with open(out + ".profile.txt") as fh:
            print(fh.read())
        os.unlink(out + ".profile.txt")
    try:
        with open(out) as fh:
            return json.load(fh)["rate"]
    except (OSError, ValueError):
        print(f"{variant}: no result (exit {proc.returncode}) {proc.stderr[-800:]}", file=sys.stderr)
        return None
    finally:
        os.unlink(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--topic")
    parser.add_argument("--variant")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    parser.add_argument("--out")
    parser.add_argument("--profile", help="run this variant under pyinstrument")
    parser.add_argument("--profile-on", action="store_true")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    if args.mode == "_faust":
        faust_worker(args.bootstrap, args.topic, args.count, args.variant, args.out, args.profile_on)
        return
    preflight("bench/faust_overhead.py", missing_modules("faust", "aiokafka"))
    args.topic = args.topic or f"fo-{uuid.uuid4().hex[:8]}"
    print(f"fill {args.count} records: {fill(args.bootstrap, args.topic, args.count):,.0f}/s produced")
    if args.profile:
        rate = run_faust(args, args.profile, profile=True)
        print(f"faust {args.profile} (profiled): {rate or 0:,.0f} records/s")
        return
    results = {"aiokafka getmany": asyncio.run(bare_aiokafka(args.bootstrap, args.topic, args.count)),
               "confluent consume": bare_confluent(args.bootstrap, args.topic, args.count)}
    for name, rate in results.items():
        print(f"{name:24s} {rate:>10,.0f} records/s")
    for variant in args.variants:
        rate = run_faust(args, variant)
        print(f"faust {variant:18s} {rate or 0:>10,.0f} records/s   {VARIANTS[variant]}", flush=True)


if __name__ == "__main__":
    main()
