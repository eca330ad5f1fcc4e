"""Bench: archive sink rows/s from the real broker, against a bare consumer (read limit) and pyarrow writing the same rows (write limit).

Usage: python bench/archive_sink.py --bootstrap 127.0.0.1:9092 [--rows 500000] [--rowwise]
Everything is measured in the same run, on the same topic, and printed as ratios; --rowwise also runs
the sink with the per-row enrichment (the reference the vectorised one must equal), for before/after.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from confluent_kafka import Producer

from vigie.kafka_client import KafkaSettings, make_consumer
from vigie.pipelines.archive.sink import ArchiveSink, Enricher, SinkConfig, enrich
from vigie.pipelines.archive.vectorized import enrich_rowwise, fallback_share
from vigie.pipelines.archive.writer import FileName, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA
from vigie.schemas.codec import rfc3339
from vigie.topic_admin import ensure_topics
from vigie.topics import RAW_SYSLOG, default_specs


def sample_lines(n: int, seed: int = 1) -> list[bytes]:
    """A municipal mix: netfilter, ASA, FortiGate, DHCP, squid connection logs, and 15% other syslog."""
    r = random.Random(seed)
    out = []
    for i in range(n):
        k = r.random()
        a = f"10.{r.randrange(4)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        d = f"{r.randrange(1, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        sp, dp = r.randrange(1024, 65535), r.choice([80, 443, 53, 22, 8080])
        if k < 0.35:
            s = (
                f"<4>May  1 10:11:12 fw01 kernel: [12345.678] IN=eth0 OUT=eth1 MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 "
                f"SRC={a} DST={d} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1234 DF PROTO=TCP SPT={sp} DPT={dp} WINDOW=29200 RES=0x00 SYN URGP=0"
            )
        elif k < 0.6:
            s = (
                f"<166>May 01 2024 10:11:12 asa01 : %ASA-6-302013: Built outbound TCP connection {r.randrange(10**8)} "
                f"for outside:{d}/{dp} ({d}/{dp}) to inside:{a}/{sp} (81.2.3.4/{r.randrange(1024, 65535)})"
            )
        elif k < 0.75:
            s = (
                f'<189>date=2024-05-01 time=10:11:12 devname="FGT60F" devid="FGT60FTK1" logid="0000000013" type="traffic" '
                f'subtype="forward" level="notice" vd="root" eventtime=1714558272 srcip={a} srcport={sp} srcintf="lan" '
                f'dstip={d} dstport={dp} dstintf="wan1" sessionid={r.randrange(10**7)} proto=6 action="close" policyid=1 '
                f'service="HTTPS" trandisp="snat" transip=81.2.3.4 transport={r.randrange(1024, 65535)} duration=12 '
                f'sentbyte=1234 rcvdbyte=5678 user="u{r.randrange(500)}"'
            )
        elif k < 0.8:
            s = f"<30>1 2024-05-01T10:11:12.123456Z dhcp01 dhcpd 123 - - DHCPACK on {a} to 00:11:22:33:44:{r.randrange(256):02x} (laptop-{i}) via eth0"
        elif k < 0.85:
            s = (
                f"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 {r.randrange(1000)} {a} TCP_TUNNEL/200 "
                f"{r.randrange(10**6)} CONNECT www.example.org:443 u{r.randrange(500)} HIER_DIRECT/{d} -"
            )
        else:
            s = f"<38>May  1 10:11:12 srv{r.randrange(50)} CRON[{r.randrange(99999)}]: (root) CMD (run-parts /etc/cron.hourly) job {i}"
        out.append(s.encode())
    return out


def produce(settings: KafkaSettings, lines: list[bytes]) -> None:
    p = Producer(
        {**settings.librdkafka(), "linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"}
    )
    topic = settings.topic(RAW_SYSLOG)
    received = rfc3339().encode()
    for i, line in enumerate(lines):
        sender = f"10.9.{i % 16}.1"
        headers = [
            ("received_at", received),
            ("peer", f"{sender}:514".encode()),
            ("transport", b"udp"),
            ("listener", b"udp:514"),
        ]
        while True:
            try:
                p.produce(topic, line, sender.encode(), headers=headers)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(60)


def bare_consumer(settings: KafkaSettings, n: int) -> float:
    """Rows/s of a consumer that touches what the sink reads per message and does nothing else."""
    c = make_consumer(settings, f"bare-{uuid.uuid4().hex[:6]}", **{"fetch.max.bytes": 64 * 1024 * 1024})
    c.subscribe([settings.topic(RAW_SYSLOG)])
    seen = 0
    t0 = None
    while seen < n:
        msgs = c.consume(num_messages=20_000, timeout=1.0)
        if msgs and t0 is None:
            t0 = time.perf_counter()
        for m in msgs:
            m.value(), m.headers(), m.offset(), m.key(), m.timestamp()
        seen += len(msgs)
    dt = time.perf_counter() - (t0 or time.perf_counter())
    c.close()
    return n / dt


def sink_rate(settings: KafkaSettings, n: int, root: Path, enricher: Enricher = enrich) -> float:
    sink = ArchiveSink(
        settings,
        SinkConfig(root=root, group_id=f"sink-{uuid.uuid4().hex[:6]}", idle_timeout=1.0),
        enricher=enricher,
    )
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,))
    t0 = time.perf_counter()
    t.start()
    while sink.rows_written < n:
        time.sleep(0.05)
    dt = time.perf_counter() - t0
    stop.set()
    t.join()
    return n / dt


def enrich_rate(lines: list[bytes], enricher: Enricher, batch: int = 20_000) -> float:
    """Rows/s of an enrichment alone, in the sink's batch size (CPU time of this process, so load counts less)."""
    now = datetime.now(UTC)
    t0 = time.process_time()
    for lo in range(0, len(lines), batch):
        enricher(lines[lo : lo + batch], now)
    return len(lines) / (time.process_time() - t0)


def direct_write(lines: list[bytes], root: Path, per_file: int = 500_000) -> tuple[float, float]:
    """(enrich rows/s, write rows/s): parsing cost and pyarrow writing the same rows, no Kafka."""
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    cols = enrich(lines, now)
    t1 = time.perf_counter()
    n = len(lines)
    base = {
        "received_at": pa.array([now] * n, ARCHIVE_SCHEMA.field("received_at").type),
        "sender": pa.array(["10.9.0.1"] * n),
        "transport": pa.array(["udp"] * n),
        "raw": pa.array(lines, pa.binary()),
        "topic": pa.array(["t"] * n),
        "partition": pa.array([0] * n, pa.int32()),
        "offset": pa.array(range(n), pa.int64()),
    }
    table = pa.table({**base, **cols}).select(ARCHIVE_SCHEMA.names).cast(ARCHIVE_SCHEMA)
    hour = now.replace(minute=0, second=0, microsecond=0)
    t2 = time.perf_counter()
    for lo in range(0, n, per_file):
        part = table.slice(lo, per_file)
        write_file(root, part, FileName("t", 0, lo, lo + part.num_rows - 1), hour)
    t3 = time.perf_counter()
    return n / (t1 - t0), n / (t3 - t2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--rowwise", action="store_true", help="also run the sink with the per-row enrichment")
    args = ap.parse_args()
    settings = KafkaSettings(bootstrap_servers=args.bootstrap, topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    ensure_topics(settings, default_specs(partitions=3))
    lines = sample_lines(args.rows)
    produce(settings, lines)
    work = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    try:
        bare = bare_consumer(settings, args.rows)
        sink = sink_rate(settings, args.rows, work / "sink")
        before = sink_rate(settings, args.rows, work / "rowwise", enrich_rowwise) if args.rowwise else None
        bare_after = bare_consumer(settings, args.rows)
        parse_rate, write_rate = direct_write(lines, work / "direct")
        vec_cpu = enrich_rate(lines, enrich)
        row_cpu = enrich_rate(lines[:50_000], enrich_rowwise)
        head_fb, conn_fb = fallback_share(lines[:20_000], datetime.now(UTC))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"rows: {args.rows}")
    print(f"bare consumer     {bare:12,.0f} rows/s  (read limit; {bare_after:,.0f} when re-run at the end)")
    print(f"pyarrow write     {write_rate:12,.0f} rows/s  (write limit, rows already built)")
    print(f"parse+extract     {parse_rate:12,.0f} rows/s  (vectorised, one 500k batch, wall clock)")
    print(
        f"enrich cpu        {vec_cpu:12,.0f} rows/s  vectorised, {row_cpu:,.0f} rows/s per-row (20k batches)"
    )
    print(f"per-row fallback  header {head_fb:.1%}, connection columns {conn_fb:.1%} of rows")
    if before is not None:
        print(f"archive sink      {before:12,.0f} rows/s  per-row enrichment (before)")
        print(f"  / bare consumer = {before / bare:.2f}")
    print(f"archive sink      {sink:12,.0f} rows/s")
    print(f"sink / bare consumer = {sink / bare:.2f}  (target >= 0.5)")
    print(f"sink / pyarrow write = {sink / write_rate:.2f}")
    print(f"sink >= 100,000 rows/s: {'yes' if sink >= 100_000 else 'no'}")


if __name__ == "__main__":
    main()
