"""Bench: archive sink rows/s from the real broker, against a bare consumer (read limit) and pyarrow writing the same rows (write limit).

Usage: python bench/archive_sink.py [--bootstrap HOST:PORT] [--rows 500000] [--processes 2] [--rowwise] [--quick]
Everything is measured in the same run, on the same topic, and printed as ratios; --rowwise also runs
the sink with the per-row enrichment (the reference the vectorised one must equal), for before/after.
--processes K also runs the sink as `[archive] processes = K` does: K `vigie service archive`
processes in one group, over a topic of 4 partitions (so 2 processes share it evenly).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from _common import add_broker_arguments, broker, load, machine
from confluent_kafka import Producer

from vigie.kafka_client import KafkaSettings, consumer_config, make_consumer
from vigie.kafka_columns import available, open_columnar_consumer
from vigie.pipelines.archive.sink import HEADERS, ArchiveSink, Enricher, SinkConfig, enrich
from vigie.pipelines.archive.vectorized import enrich_rowwise, fallback_share
from vigie.pipelines.archive.writer import FileName, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA
from vigie.schemas.codec import rfc3339
from vigie.topics import RAW_SYSLOG

# The message mix: (kind, share). The connection-log formats an archive mostly receives, and ordinary syslog
# (cron, sshd, postfix, systemd, switches) for the rest, as a municipal network's collector sees it.
MIX = (
    ("netfilter", 0.22),
    ("cisco_asa", 0.18),
    ("fortigate", 0.12),
    ("pfsense", 0.08),
    ("squid", 0.06),
    ("dhcp", 0.05),
    ("radius", 0.02),
    ("other syslog", 0.27),
)


def sample_line(kind: str, i: int, r: random.Random) -> str:
    a = f"10.{r.randrange(4)}.{r.randrange(256)}.{r.randrange(1, 255)}"
    d = f"{r.randrange(1, 223)}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
    sp, dp = r.randrange(1024, 65535), r.choice([80, 443, 53, 22, 8080])
    if kind == "netfilter":
        return (
            f"<4>May  1 10:11:12 fw01 kernel: [12345.678] [UFW {r.choice(['BLOCK', 'ALLOW'])}] IN=eth0 OUT=eth1 "
            f"MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 SRC={a} DST={d} LEN=60 TOS=0x00 PREC=0x00 TTL=64 "
            f"ID=1234 DF PROTO={r.choice(['TCP', 'UDP'])} SPT={sp} DPT={dp} WINDOW=29200 RES=0x00 SYN URGP=0"
        )
    if kind == "cisco_asa":
        if r.random() < 0.5:
            return (
                f"<166>May 01 2024 10:11:12 asa01 : %ASA-6-302013: Built outbound TCP connection {r.randrange(10**8)} "
                f"for outside:{d}/{dp} ({d}/{dp}) to inside:{a}/{sp} (81.2.3.4/{r.randrange(1024, 65535)})"
            )
        return (
            f"<166>May 01 2024 10:11:13 asa01 : %ASA-6-302014: Teardown TCP connection {r.randrange(10**8)} "
            f"for outside:{d}/{dp} to inside:{a}/{sp} duration 0:00:{r.randrange(60):02d} bytes {r.randrange(10**6)} TCP FINs"
        )
    if kind == "fortigate":
        return (
            f'<189>date=2024-05-01 time=10:11:12 devname="FGT60F" devid="FGT60FTK1" logid="0000000013" type="traffic" '
            f'subtype="forward" level="notice" vd="root" eventtime=1714558272 srcip={a} srcport={sp} srcintf="lan" '
            f'dstip={d} dstport={dp} dstintf="wan1" sessionid={r.randrange(10**7)} proto=6 action="close" policyid=1 '
            f'service="HTTPS" trandisp="snat" transip=81.2.3.4 transport={r.randrange(1024, 65535)} duration=12 '
            f'sentbyte=1234 rcvdbyte=5678 user="u{r.randrange(500)}"'
        )
    if kind == "pfsense":
        return (
            f"<134>1 2024-05-01T10:11:12.{r.randrange(10**6):06d}Z pf01 filterlog 5432 - - 5,,,1000000103,igb1,match,"
            f"{r.choice(['block', 'pass'])},in,4,0x0,,64,0,0,DF,6,tcp,60,{a},{d},{sp},{dp},0,S,1234,,64240,,mss"
        )
    if kind == "squid":
        return (
            f"<134>1 2024-05-01T10:11:12Z proxy01 squid - - - 1714558272.123 {r.randrange(1000)} {a} "
            f"{r.choice(['TCP_TUNNEL/200', 'TCP_MISS/200', 'TCP_DENIED/403'])} {r.randrange(10**6)} "
            f"{r.choice(['CONNECT www.example.org:443', f'GET http://{d}/index.html'])} u{r.randrange(500)} "
            f"HIER_DIRECT/{d} -"
        )
    if kind == "dhcp":
        return (
            f"<30>May  1 10:11:12 dhcp01 dhcpd[812]: DHCP{r.choice(['ACK', 'OFFER', 'REQUEST'])} on {a} to "
            f"00:11:22:33:44:{r.randrange(256):02x} (laptop-{i}) via eth0"
        )
    if kind == "radius":
        return (
            f"<38>May  1 10:11:12 radius01 radiusd[1123]: (12{i % 1000}) Login OK: [u{r.randrange(500)}] "
            f"(from client ap{r.randrange(40)} port 0 cli 00-11-22-33-44-{r.randrange(256):02X})"
        )
    return r.choice(
        [
            f"<78>May  1 10:11:12 srv{r.randrange(50)} CRON[{r.randrange(99999)}]: (root) CMD (run-parts /etc/cron.hourly)",
            f"<86>May  1 10:11:12 srv{r.randrange(50)} sshd[{r.randrange(99999)}]: pam_unix(sshd:session): session closed for user root",
            f"<22>May  1 10:11:12 mail01 postfix/smtpd[{r.randrange(99999)}]: connect from unknown[{d}]",
            f"<30>1 2024-05-01T10:11:12.123Z srv{r.randrange(50)} systemd 1 - - Started Session {i} of user admin.",
            f"<187>May  1 10:11:12 sw{r.randrange(30)} %LINK-3-UPDOWN: Interface GigabitEthernet0/{r.randrange(48)}, changed state to up",
        ]
    )


def sample_lines(n: int, seed: int = 1) -> list[bytes]:
    """n messages drawn from MIX (fixed seed)."""
    r = random.Random(seed)
    kinds = r.choices([k for k, _ in MIX], weights=[w for _, w in MIX], k=n)
    return [sample_line(kind, i, r).encode() for i, kind in enumerate(kinds)]


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
    """Rows/s of a confluent-kafka consumer that touches what the sink reads per message and does nothing else
    (the Kafka client's raw speed: the issue's reference)."""
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


def bare_columnar(settings: KafkaSettings, n: int) -> float:
    """Rows/s of the sink's own reader (the C columnar consumer) doing nothing else: the sink's read limit."""
    conf = consumer_config(settings, f"barec-{uuid.uuid4().hex[:6]}", **{"fetch.max.bytes": 64 * 1024 * 1024})
    c = open_columnar_consumer(conf, HEADERS, native=True)
    c.subscribe([settings.topic(RAW_SYSLOG)])
    seen = 0
    t0 = None
    while seen < n:
        batch = c.consume_columns(20_000, 1.0)
        if batch is not None:
            t0 = t0 or time.perf_counter()
            seen += len(batch)
    dt = time.perf_counter() - (t0 or time.perf_counter())
    c.close()
    return n / dt


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of each live thread of this process, by native id."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
        except OSError:
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _role(tid: int, names: dict[int, str], sink_thread: int | None) -> str:
    """What a thread of the sink does, from its Python or OS name."""
    if tid == sink_thread:
        return "consumer loop"
    name = names.get(tid)
    if name is None:
        try:
            name = open(f"/proc/self/task/{tid}/comm").read().strip()  # noqa: SIM115
        except OSError:
            name = "?"
    if name.startswith("archive-enrich"):
        return "enrich"
    if name.startswith("archive-writer"):
        return "writers"
    if name.startswith("rdk:"):
        return "librdkafka"
    return "other"


class ThreadSampler:
    """Per-role CPU of this process's threads over a run; ended threads keep their last sample."""

    def __init__(self, sink_thread: threading.Thread) -> None:
        self._sink_thread = sink_thread
        self._start = _thread_cpu()
        self._last: dict[int, float] = dict(self._start)
        self._names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    def _sample(self) -> None:
        self._names.update({t.native_id: t.name for t in threading.enumerate() if t.native_id is not None})
        self._last.update(_thread_cpu())

    def stop(self) -> dict[str, float]:
        self._sample()
        self._stop.set()
        self._thread.join()
        roles: dict[str, float] = {}
        for tid, cpu in self._last.items():
            role = _role(tid, self._names, self._sink_thread.native_id)
            roles[role] = roles.get(role, 0.0) + cpu - self._start.get(tid, 0.0)
        return roles


def sink_rate(
    settings: KafkaSettings,
    n: int,
    root: Path,
    enricher: Enricher = enrich,
    roles: dict[str, float] | None = None,
    group_prefix: str = "sink-",
) -> tuple[float, float]:
    """(rows/s, CPU µs per row of the sink's process) from its first consumed message to its last file on disk.

    Like the bare consumer's, the clock starts at the first message (the group join is not counted);
    it stops when every row is in a complete file, so it includes the last files' idle flush (0.5 s).
    roles, when given, receives the CPU seconds of each kind of thread (consumer loop, enrich, writers,
    librdkafka). group_prefix: a fresh group each run, named so that the archive principal may join it.
    """
    sink = ArchiveSink(
        settings,
        SinkConfig(root=root, group_id=f"{group_prefix}{uuid.uuid4().hex[:6]}", idle_timeout=0.5),
        enricher=enricher,
    )
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,))
    t.start()
    sampler = ThreadSampler(t)
    while sink.rows_consumed == 0:
        time.sleep(0.002)
    t0, c0 = time.perf_counter(), time.process_time()
    while sink.rows_written < n:
        time.sleep(0.01)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if roles is not None:
        roles.update(sampler.stop())
    else:
        sampler.stop()
    stop.set()
    t.join()
    return n / dt, cpu / n * 1e6


def proc_cpu(pid: int) -> float:
    """CPU seconds (all threads) a live process has used."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115 - one read
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def archived_rows(root: Path) -> int:
    from vigie.pipelines.archive.manifest import load_state

    return sum(int(e["rows"]) for e in load_state(root).live.values())


STOPPED = re.compile(r"first message taken at ([\d.]+), last file written at ([\d.]+)")


def sink_processes(settings: KafkaSettings, n: int, root: Path, k: int) -> tuple[float, float]:
    """(rows/s, CPU µs per row) of k sink processes in one group, as `[archive] processes = k` runs them.

    The clock runs from the first message any process took to the last file any wrote (their own
    timestamps, logged at exit), so start-up is excluded but the group's join of the later members is not.
    """
    group = f"sinkp-{uuid.uuid4().hex[:6]}"
    logs = [root / f"sink{i}.log" for i in range(k)]
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "sink.toml"  # the sink's own defaults otherwise (500,000 rows a file); no retention job
    conf.write_text(f'[kafka]\nbootstrap_servers = "{settings.bootstrap_servers}"\ntopic_prefix = "{settings.topic_prefix}"\n'
                    f'[archive]\nroot = "{root / "archive"}"\nidle_flush = "0.5s"\nmax_rows_per_file = 500000\n')
    procs = []
    for i, log_path in enumerate(logs):
        with open(log_path, "wb") as log_file:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "vigie.app.cli", "service", "archive", "--config", str(conf),
                 "--group", group, "--instance", str(i + 1), "--log-level", "INFO"],
                stderr=log_file))  # fmt: skip
    try:
        while archived_rows(root / "archive") < n:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a sink process died: see {logs}")
            time.sleep(0.05)
        cpu = sum(proc_cpu(p.pid) for p in procs)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    spans = [STOPPED.search(path.read_text()) for path in logs]
    firsts = [float(m.group(1)) for m in spans if m]
    lasts = [float(m.group(2)) for m in spans if m]
    return n / (max(lasts) - min(firsts)), cpu / n * 1e6


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
    add_broker_arguments(ap)
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--rowwise", action="store_true", help="also run the sink with the per-row enrichment")
    ap.add_argument(
        "--processes", type=int, default=2, help="also run the sink as this many processes (0: no)"
    )
    args = ap.parse_args()
    if args.quick:
        args.rows = min(args.rows, 60_000)
    with broker(args.bootstrap, partitions=4 if args.processes else 3) as settings:
        run(settings, args)


def run(settings: KafkaSettings, args: argparse.Namespace) -> None:
    lines = sample_lines(args.rows)
    print(
        f"{machine()}; {args.rows:,} messages, mix: " + ", ".join(f"{k} {w:.0%}" for k, w in MIX), flush=True
    )
    produce(settings, lines)
    work = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    loads = [load()]
    try:
        bare = bare_consumer(settings, args.rows)
        sink, sink_cpu = sink_rate(settings, args.rows, work / "sink")
        rowwise = lambda values, ref, *_: enrich_rowwise(values.to_pylist(), ref)  # noqa: E731
        before = sink_rate(settings, args.rows, work / "rowwise", rowwise) if args.rowwise else None
        bare_after = bare_consumer(settings, args.rows)
        columnar = [bare_columnar(settings, args.rows) for _ in range(2)] if available() else []
        roles: dict[str, float] = {}
        sink2, sink2_cpu = sink_rate(settings, args.rows, work / "sink2", roles=roles)
        multi = (
            sink_processes(settings, args.rows, work / "multi", args.processes) if args.processes else None
        )
        loads.append(load())
        parse_rate, write_rate = direct_write(lines, work / "direct")
        vec_cpu = enrich_rate(lines, enrich)
        row_cpu = enrich_rate(lines[:50_000], enrich_rowwise)
        head_fb, conn_fb = fallback_share(lines[:20_000], datetime.now(UTC))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ref = (bare + bare_after) / 2
    best = max(sink, sink2)
    print(f"load average (1/5/15 min) at start {loads[0]}, after the Kafka runs {loads[1]}")
    print(
        f"bare consumer     {bare:12,.0f} rows/s  (confluent-kafka; {bare_after:,.0f} when re-run after the sink)"
    )
    if columnar:
        print(f"bare columnar     {max(columnar):12,.0f} rows/s  (the sink's C reader alone: its read limit)")
    print(f"pyarrow write     {write_rate:12,.0f} rows/s  (write limit: write_file on rows already built)")
    print(f"parse+extract     {parse_rate:12,.0f} rows/s  (vectorised, one batch of all rows, wall clock)")
    print(
        f"enrich cpu        {vec_cpu:12,.0f} rows/s  vectorised, {row_cpu:,.0f} rows/s per-row (20k batches)"
    )
    print(f"per-row fallback  header {head_fb:.1%}, connection columns {conn_fb:.1%} of rows")
    if before is not None:
        print(
            f"archive sink      {before[0]:12,.0f} rows/s  per-row enrichment; / bare consumer = {before[0] / ref:.2f}"
        )
    print(
        f"archive sink      {sink:12,.0f} rows/s  then {sink2:,.0f} rows/s (CPU {sink_cpu:.1f} and {sink2_cpu:.1f} µs/row)"
    )
    print(
        "  CPU µs/row by thread (second run): "
        + ", ".join(f"{k} {v / args.rows * 1e6:.1f}" for k, v in sorted(roles.items(), key=lambda kv: -kv[1]))
    )
    print(
        f"sink / bare consumer = {best / ref:.2f}  (best sink run / mean of the two bare runs; target >= 0.5)"
    )
    if columnar:
        print(f"sink / bare columnar reader = {best / max(columnar):.2f}")
    if multi is not None:
        best = max(best, multi[0])
        print(
            f"archive sink x{args.processes}  {multi[0]:12,.0f} rows/s  {args.processes} processes in one group "
            f"(CPU {multi[1]:.1f} µs/row, all processes); / bare consumer = {multi[0] / ref:.2f}"
        )
    print(f"sink / pyarrow write = {best / write_rate:.2f}")
    print(f"sink >= 100,000 rows/s: {'yes' if best >= 100_000 else 'no'}")


if __name__ == "__main__":
    main()
