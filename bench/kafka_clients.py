"""Kafka client benchmark: kafka-python vs confluent-kafka vs Vigie's KafkaSink producing the same small records.

    python bench/kafka_clients.py [--count 200000] [--quick] [--bootstrap host:port]

Each client runs in its own process against the same broker and topic settings (3 partitions),
with the same producer guarantees as Vigie's sink (acks=all, idempotence, lz4, 5 ms linger;
confluent-kafka with the sink's very librdkafka settings, so their ratio is the wrapper's cost), and produces --count records of 200 bytes with the four raw.syslog
headers: the sink record by record (produce) and in batches of 1,024 (produce_many, as the TCP
syslog listener hands a read's frames). A rate is records per second from the first produce until the last acknowledgement;
the topic's end offsets confirm every record landed. Ratios are against confluent-kafka's bare
Producer, measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from typing import Any

from _common import (
    add_broker_arguments,
    broker,
    end_offsets,
    load,
    machine,
    missing_broker,
    missing_modules,
    preflight,
    table,
)

from vigie.kafka_client import KafkaSettings
from vigie.topics import TopicSpec

SIZE = 200
HEADERS = [
    ("received_at", b"2024-05-01T10:00:00.123000Z"),
    ("peer", b"192.0.2.10:51514"),
    ("transport", b"udp"),
    ("listener", b"syslog-udp"),
]
CLIENTS = (
    "confluent-kafka Producer",
    "Vigie KafkaSink",
    "Vigie KafkaSink.produce_many",
    "kafka-python KafkaProducer",
)


def messages(n: int) -> list[bytes]:
    """64 distinct 200-byte syslog messages, cycled: building them must not be what is measured."""
    out = []
    for i in range(64):
        head = b"<134>1 2024-05-01T10:00:00.123Z fw-01 kernel - - - seq=%d " % i
        out.append(head + b"x" * (SIZE - len(head)))
    return out


def run_confluent(settings: KafkaSettings, topic: str, count: int) -> float:
    from confluent_kafka import Producer

    conf = settings.librdkafka()
    conf.update(
        {
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "lz4",
            "batch.size": 1_000_000,
            "queue.buffering.max.kbytes": 256 * 1024,
            "queue.buffering.max.messages": 2_000_000,
            "delivery.report.only.error": True,  # as the sink: a report per record costs a Python call
        }
    )
    producer = Producer(conf)
    msgs, key = messages(count), b"192.0.2.10"
    producer.produce(topic, b"warm-up", key)  # metadata and producer id before timing
    producer.flush(30)
    t0 = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, msgs[i & 63], key, headers=HEADERS)
                break
            except BufferError:
                producer.poll(0.01)
        if not i & 1023:
            producer.poll(0)
    assert producer.flush(120) == 0
    return time.perf_counter() - t0


def run_sink(settings: KafkaSettings, topic: str, count: int) -> float:
    from vigie.kafka_client import KafkaSink
    from vigie.sink import BufferFull

    sink = KafkaSink(settings)
    logical = topic.removeprefix(settings.topic_prefix)
    msgs, key = messages(count), b"192.0.2.10"
    sink.produce(logical, b"warm-up", key)
    sink.flush(30)
    t0 = time.perf_counter()
    for i in range(count):
        while True:
            try:
                sink.produce(logical, msgs[i & 63], key, HEADERS)
                break
            except BufferFull:
                time.sleep(0.005)
    assert sink.flush(120) == 0
    elapsed = time.perf_counter() - t0
    sink.close()
    return elapsed


def run_sink_batches(settings: KafkaSettings, topic: str, count: int) -> float:
    """The sink's batch call, as the TCP syslog listener uses it: 1,024 records with one key and header list."""
    from vigie.kafka_client import KafkaSink
    from vigie.sink import BufferFull

    sink = KafkaSink(settings)
    logical = topic.removeprefix(settings.topic_prefix)
    msgs, key = messages(count), b"192.0.2.10"
    batch = [msgs[i & 63] for i in range(1024)]
    sink.produce(logical, b"warm-up", key)
    sink.flush(30)
    t0 = time.perf_counter()
    left = count
    while left:
        values = batch[: min(left, len(batch))]
        i = 0
        while i < len(values):
            i = sink.produce_many(logical, values, key, HEADERS, i)
            if i < len(values):
                try:
                    sink.produce(logical, values[i], key, HEADERS)
                    i += 1
                except BufferFull:
                    time.sleep(0.005)
        left -= len(values)
    assert sink.flush(120) == 0
    elapsed = time.perf_counter() - t0
    sink.close()
    return elapsed


def run_kafka_python(settings: KafkaSettings, topic: str, count: int) -> float:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        **settings.kafka_python(),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type="lz4",
        batch_size=1_000_000,
    )
    msgs, key = messages(count), b"192.0.2.10"
    producer.send(topic, b"warm-up", key=key)
    producer.flush(30)
    t0 = time.perf_counter()
    for i in range(count):
        producer.send(topic, msgs[i & 63], key=key, headers=HEADERS)
    producer.flush(120)
    elapsed = time.perf_counter() - t0
    producer.close()
    return elapsed


RUNNERS = {
    CLIENTS[0]: run_confluent,
    CLIENTS[1]: run_sink,
    CLIENTS[2]: run_sink_batches,
    CLIENTS[3]: run_kafka_python,
}


def _child(name: str, settings: KafkaSettings, topic: str, count: int, out: Any) -> None:
    out.put(RUNNERS[name](settings, topic, count))


def _result(proc: Any, out: Any) -> Any:
    """The child's answer; fails as soon as the child dies without one."""
    import queue

    while True:
        try:
            value = out.get(timeout=0.5)
        except queue.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the bench process died with exit code {proc.exitcode}") from None
            continue
        proc.join()
        return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_arguments(parser)
    parser.add_argument("--count", type=int, default=200_000, help="records per client")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each client, interleaved; the best counts"
    )
    args = parser.parse_args()
    count = 50_000 if args.quick and args.count == 200_000 else args.count
    preflight("bench/kafka_clients.py", missing_broker(args.bootstrap) + missing_modules("kafka"))
    print(f"kafka_clients: {count:,} records of {SIZE} B with 4 headers per client; {machine()}", flush=True)
    specs = [TopicSpec(f"clients.{i}", 3, "delete", 3_600_000) for i in range(len(CLIENTS))]
    ctx = mp.get_context("spawn")
    best: dict[str, float] = {}
    with broker(args.bootstrap, specs) as settings:
        for _ in range(args.rounds):
            for i, name in enumerate(CLIENTS):
                topic = settings.topic(f"clients.{i}")
                before = end_offsets(settings, topic)
                out = ctx.Queue()
                proc = ctx.Process(target=_child, args=(name, settings, topic, count, out))
                proc.start()
                elapsed = _result(proc, out)
                landed = end_offsets(settings, topic) - before
                assert landed == count + 1, f"{name}: {landed} of {count} records (+1 warm-up) landed"
                rate = count / elapsed
                best[name] = max(best.get(name, 0.0), rate)
                print(f"  {name}: {rate:,.0f} records/s (load {load()})", flush=True)
    ref = best[CLIENTS[0]]
    rows = [(name, best[name], best[name] / ref) for name in CLIENTS]
    print()
    print(table(["client", "records/s", f"ratio to {CLIENTS[0]}"], rows))
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
