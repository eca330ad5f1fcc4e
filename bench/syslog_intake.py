"""Syslog intake benchmark: another process sends syslog over UDP or TCP at a given rate; we count what lands.

    python bench/syslog_intake.py --transport udp --rate 20000 --duration 30 --sink memory
    python bench/syslog_intake.py --transport tcp --rate 0 --duration 10 --sink kafka --bootstrap 127.0.0.1:19092

--rate 0 sends as fast as the sender can. With --sink kafka the count of what landed is read from the
topic's high watermarks (before/after), after the sink is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import time
from typing import Any

from vigie.producers.syslog.listeners import ListenerSettings, make_listener
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.sink import MemorySink, RecordSink


class NullSink:
    """Accepts and forgets: measures the listener's own cost."""

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = ()) -> None:
        pass

    def has_room(self) -> bool:
        return True

    def flush(self, timeout: float = 10.0) -> int:
        return 0


def message(seq: int, size: int) -> bytes:
    head = b"<134>1 2024-05-01T10:00:00.000Z bench-host app 42 ID47 - seq=%d " % seq
    return head + b"x" * max(0, size - len(head))


def sender(transport: str, port: int, rate: int, duration: float, size: int, result: Any) -> None:
    """Send for `duration` seconds, paced in 1 ms slices when rate > 0; reports how many were sent."""
    sent = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
    if transport == "udp":
        sock.connect(("127.0.0.1", port))
    else:
        sock.connect(("127.0.0.1", port))
    start = time.perf_counter()
    end = start + duration
    batch = 64
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        if rate > 0:
            due = int((now - start) * rate)
            if sent >= due:
                time.sleep(0.0005)
                continue
            n = min(batch, due - sent)
        else:
            n = batch
        if transport == "udp":
            for i in range(n):
                sock.send(message(sent + i, size))
        else:
            frames = [message(sent + i, size) for i in range(n)]
            sock.sendall(b"".join(b"%d %s" % (len(f), f) for f in frames))
        sent += n
    sock.close()
    result.value = sent


def udp_kernel_drops() -> int:
    """RcvbufErrors from /proc/net/snmp: datagrams the kernel dropped because a socket buffer was full."""
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def high_watermarks(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-watermarks"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions
        )
    finally:
        consumer.close()


async def bench(args: argparse.Namespace) -> None:
    sink: RecordSink
    delivered = [0]
    if args.sink == "kafka":
        from vigie.kafka_client import KafkaSettings, KafkaSink

        settings = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=args.prefix)
        topic = settings.topic("raw.syslog")
        sink = KafkaSink(settings, on_delivered=lambda t, s: delivered.__setitem__(0, delivered[0] + 1))
        sink.produce("raw.syslog", b"warm-up")  # create the topic and fetch metadata before timing
        sink.flush(30)
        before = high_watermarks(args.bootstrap, topic)
    elif args.sink == "null":
        sink = NullSink()
    else:
        sink = MemorySink()
    metrics = SyslogMetrics(None)
    listener = make_listener(ListenerSettings(name="bench", transport=args.transport, port=0), sink, metrics)
    await listener.start()
    stats = metrics.stats("bench", args.transport)
    drops_before = udp_kernel_drops()
    result = mp.Value("q", 0)
    proc = mp.Process(
        target=sender, args=(args.transport, listener.port, args.rate, args.duration, args.size, result)
    )
    t0, cpu0 = time.perf_counter(), time.process_time()
    proc.start()
    while proc.is_alive():
        await asyncio.sleep(0.05)
    # Let the listener read what is still in socket buffers.
    last = -1
    while stats.received != last:
        last = stats.received
        await asyncio.sleep(0.2)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await listener.stop()
    sent = result.value
    print(
        f"transport={args.transport} sink={args.sink} rate={args.rate or 'max'} duration={args.duration}s size={args.size}"
    )
    per_msg = 1e6 * cpu / max(stats.received, 1)
    print(f"sent={sent} ({sent / args.duration:,.0f}/s)  received={stats.received}  in {elapsed:.1f}s")
    print(
        f"listener process CPU {cpu:.1f}s: {per_msg:.1f} us/message, i.e. one core ~{1e6 / max(per_msg, 0.01):,.0f}/s"
    )
    kernel = udp_kernel_drops() - drops_before
    print(
        f"produced={stats.produced} dropped(sink full)={stats.dropped} kernel UDP drops (system-wide)={kernel}"
    )
    if args.sink == "kafka":
        t1 = time.perf_counter()
        remaining = sink.flush(120)
        landed = high_watermarks(args.bootstrap, topic) - before
        print(
            f"flush took {time.perf_counter() - t1:.1f}s, undelivered={remaining}, landed in {topic}={landed}"
        )
        sink.close()  # type: ignore[attr-defined]
        print(f"loss={sent - landed} ({(sent - landed) / max(sent, 1):.4%})")
    else:
        print(f"loss={sent - stats.produced} ({(sent - stats.produced) / max(sent, 1):.4%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=["udp", "tcp"], default="udp")
    parser.add_argument(
        "--rate", type=int, default=20000, help="messages per second, 0 = as fast as possible"
    )
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--size", type=int, default=200, help="message size in bytes")
    parser.add_argument("--sink", choices=["null", "memory", "kafka"], default="memory")
    parser.add_argument("--bootstrap", default="127.0.0.1:19092")
    parser.add_argument("--prefix", default="bench.")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
