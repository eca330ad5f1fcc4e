"""The archive sink against the real broker: exactly-once under SIGKILL, resume, idle flush, DuckDB reading the archive."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.pipelines.archive.manifest import verify
from vigie.pipelines.archive.sink import ArchiveSink, SinkConfig
from vigie.schemas.codec import rfc3339
from vigie.topics import RAW_SYSLOG

pytestmark = pytest.mark.integration

LINES = [
    "<4>May  1 10:11:12 fw01 kernel: IN=eth0 OUT=eth1 SRC=10.0.{a}.{b} DST=93.184.216.34 LEN=60 PROTO=TCP SPT={p} DPT=443",
    "<166>May 01 2024 10:11:12 asa01 : %ASA-6-302013: Built outbound TCP connection {p} for outside:93.184.216.34/443"
    " (93.184.216.34/443) to inside:10.0.{a}.{b}/{p} (81.2.3.4/{p})",
    "<30>1 2024-05-01T10:11:12.123456Z dhcp01 dhcpd 123 - - DHCPACK on 10.0.{a}.{b} to 00:11:22:33:44:{a:02x} via eth0",
    "<38>May  1 10:11:12 srv01 CRON[{p}]: (root) CMD (run-parts /etc/cron.hourly)",
    "\xff\xfe not even syslog {p}",
]


def produce(
    settings: KafkaSettings, n: int, start: datetime, step: timedelta, seed: int = 0
) -> set[tuple[int, int]]:
    """Produce n raw.syslog records (received_at start + i*step); returns the (partition, offset) set delivered."""
    topic = settings.topic(RAW_SYSLOG)
    producer = Producer({**settings.librdkafka(), "linger.ms": 10, "enable.idempotence": True})
    delivered: set[tuple[int, int]] = set()
    failed: list[str] = []

    def report(err, msg) -> None:  # noqa: ANN001 - librdkafka callback
        if err is not None:
            failed.append(str(err))
        else:
            delivered.add((msg.partition(), msg.offset()))

    rnd = random.Random(seed)
    for i in range(n):
        a, b, p = rnd.randrange(256), rnd.randrange(1, 255), rnd.randrange(1024, 65535)
        line = rnd.choice(LINES).format(a=a, b=b, p=p)
        raw = line.encode("latin-1") if line.startswith("\xff") else line.encode()
        sender = f"10.9.0.{i % 7 + 1}"
        headers = [
            ("received_at", rfc3339(start + step * i).encode()),
            ("peer", f"{sender}:514".encode()),
            ("transport", b"udp"),
        ]
        while True:
            try:
                producer.produce(topic, raw, sender.encode(), headers=headers, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not failed
    return delivered


def archived(root: Path) -> list[tuple[int, int]]:
    """Every (partition, offset) in the archive, duplicates included."""
    files = sorted(str(p) for p in (root / "connlog").rglob("*.parquet"))
    if not files:
        return []
    table = ds.dataset(files, format="parquet").to_table(columns=["partition", "offset"])
    return list(zip(table.column("partition").to_pylist(), table.column("offset").to_pylist(), strict=True))


def sink_cmd(settings: KafkaSettings, root: Path, group: str, **opts: str) -> list[str]:
    """`vigie service archive`, the way `vigie up` runs it, on a config that names the root and the file limits.

    opts: max_rows and idle_timeout go to [archive]; the rest (batch_size, session_timeout) are options.
    """
    conf = root.parent / f"{group}.toml"
    conf.write_text(
        f'{kafka_table(settings)}'
        f'[archive]\nroot = "{root}"\nmax_rows_per_file = {opts.pop("max_rows", "500000")}\n'
        f'idle_flush = "{opts.pop("idle_timeout", "60")}s"\nretention_days = 36500\n'
    )
    cmd = [
        sys.executable, "-m", "vigie.app.cli", "service", "archive", "--config", str(conf),
        "--group", group, "--instance", "1", "--log-level", "WARNING",
    ]  # fmt: skip
    for k, v in opts.items():
        cmd += [f"--{k.replace('_', '-')}", v]
    return cmd


def text_of(logs: dict[str, Path]) -> str:
    return "".join(p.read_text(errors="replace") for p in logs.values() if p.exists())


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.mark.slow
def test_sigkill_cycles_archive_every_message_exactly_once(kafka: KafkaSettings, tmp_path: Path) -> None:
    """20 SIGKILLs at random points while the sink writes; afterwards the archive holds each offset once."""
    root = tmp_path / "archive"
    group = f"{kafka.topic_prefix}archive"
    start = datetime(2024, 5, 1, 9, 58, tzinfo=UTC)
    produced: set[tuple[int, int]] = set()
    rnd = random.Random(42)
    opts = {"max_rows": "700", "idle_timeout": "0.3", "batch_size": "500"}
    n_per_cycle = 3000
    for cycle in range(20):
        # Received times cross hour boundaries so files are also cut by hour.
        produced |= produce(
            kafka, n_per_cycle, start + timedelta(minutes=7 * cycle), timedelta(milliseconds=150), cycle
        )
        proc = subprocess.Popen(sink_cmd(kafka, root, group, **opts), stderr=subprocess.PIPE)
        time.sleep(rnd.uniform(0.8, 3.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rows = archived(root)
        assert len(rows) == len(set(rows)), f"duplicates after cycle {cycle}"
    # A last, clean run archives the rest.
    proc = subprocess.Popen(sink_cmd(kafka, root, group, **opts), stderr=subprocess.PIPE)
    time.sleep(3)  # the sink installs its SIGTERM handler (the archive may be complete already)
    try:
        assert wait_for(lambda: len(archived(root)) >= len(produced), 90), "sink did not catch up"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    rows = archived(root)
    assert len(rows) == len(set(rows)), "a message was archived twice"
    assert set(rows) == produced, f"{len(produced - set(rows))} messages lost"
    report = verify(root)
    assert report.ok, (report.missing, report.altered, report.extra, report.chain)


@pytest.mark.parametrize("native", [None, False], ids=["columnar-reader", "confluent-kafka-fallback"])
def test_in_process_sink_resumes_and_flushes_idle_partitions(
    kafka: KafkaSettings, tmp_path: Path, native: bool | None
) -> None:
    """run(stop_event)/close as `vigie up` uses it: idle flush writes files, a second run adds only new rows
    (with the C reader when built, and with the confluent-kafka fallback)."""
    root = tmp_path / "archive"
    start = datetime.now(UTC) - timedelta(minutes=5)
    produced = produce(kafka, 2000, start, timedelta(milliseconds=10))
    config = SinkConfig(
        root=root, group_id=f"{kafka.topic_prefix}g", idle_timeout=0.5, batch_size=500, native_reader=native
    )

    def run_until(expected: int) -> None:
        sink = ArchiveSink(kafka, config)
        stop = threading.Event()
        t = threading.Thread(target=sink.run, args=(stop,))
        t.start()
        try:
            # The idle timeout (not shutdown) must make the rows visible.
            assert wait_for(lambda: len(archived(root)) >= expected, 60)
        finally:
            stop.set()
            t.join(60)
        assert not t.is_alive()

    run_until(len(produced))
    produced |= produce(kafka, 1000, start + timedelta(seconds=30), timedelta(milliseconds=10), seed=1)
    run_until(len(produced))
    rows = archived(root)
    assert sorted(rows) == sorted(produced)
    assert verify(root).ok


def test_files_carry_the_contract_and_duckdb_reads_them_with_hive_partitioning(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    duckdb = pytest.importorskip("duckdb")
    root = tmp_path / "archive"
    start = datetime(2024, 5, 1, 10, 59, 30, tzinfo=UTC)
    produced = produce(kafka, 600, start, timedelta(milliseconds=100))  # 10:59:30 .. 11:00:30
    sink = ArchiveSink(kafka, SinkConfig(root=root, group_id=f"{kafka.topic_prefix}g", idle_timeout=0.3))
    stop = threading.Event()
    t = threading.Thread(target=sink.run, args=(stop,))
    t.start()
    try:
        assert wait_for(lambda: len(archived(root)) >= len(produced), 60)
    finally:
        stop.set()
        t.join(60)
    hours = sorted(p.relative_to(root).as_posix() for p in (root / "connlog").glob("dt=*/hour=*"))
    assert hours == ["connlog/dt=2024-05-01/hour=10", "connlog/dt=2024-05-01/hour=11"]
    con = duckdb.connect()
    glob = f"{root}/connlog/*/*/*.parquet"
    rows = con.execute(
        f"SELECT dt, hour, count(*), min(received_at), max(received_at) FROM read_parquet('{glob}', hive_partitioning=true)"
        " GROUP BY dt, hour ORDER BY hour"
    ).fetchall()
    assert [(str(r[0]), int(r[1]), r[2]) for r in rows] == [("2024-05-01", 10, 300), ("2024-05-01", 11, 300)]
    for _, hour, _, lo, hi in rows:
        assert lo.hour == hi.hour == int(hour)
    # Exact bytes, header fields and connection columns survive the round trip.
    fw = con.execute(
        f"SELECT raw, hostname, app_name, conn_format, protocol, dst_port, transport, sender, topic"
        f" FROM read_parquet('{glob}', hive_partitioning=true) WHERE conn_format = 'netfilter' LIMIT 1"
    ).fetchone()
    assert fw[0].startswith(b"<4>May  1 10:11:12 fw01 kernel:")
    assert fw[1:] == ("fw01", "kernel", "netfilter", "tcp", 443, "udp", fw[7], kafka.topic(RAW_SYSLOG))
    assert fw[7].startswith("10.9.0.")
    junk = con.execute(
        f"SELECT raw FROM read_parquet('{glob}') WHERE conn_format IS NULL AND app_name IS NULL"
    ).fetchall()
    assert any(r[0].startswith(b"\xff\xfe not even syslog") for r in junk)
    assert os.listdir(root / "connlog" / "dt=2024-05-01" / "hour=10")  # no temporaries left visible


@pytest.mark.slow
def test_two_sink_processes_share_partitions_exactly_once_through_kills_and_a_stall(
    kafka: KafkaSettings, tmp_path: Path
) -> None:
    """Two sink processes in one group (`[archive] processes = 2`): SIGKILLs and a SIGSTOP past the
    session timeout (the group gives the stalled member's partitions to the other while it still holds
    buffered rows) never archive an offset twice nor lose one; the survivor waits for the stalled
    member's partition locks, then resumes after its files."""
    root = tmp_path / "archive"
    group = f"{kafka.topic_prefix}archive2"
    start = datetime(2024, 5, 1, 9, 58, tzinfo=UTC)
    opts = {"max_rows": "700", "idle_timeout": "0.3", "batch_size": "500", "session_timeout": "6"}
    logs = {name: tmp_path / f"sink-{name}.log" for name in ("a", "b")}

    launched_at: dict[str, int] = {}

    def since_launch(name: str) -> str:
        with open(logs[name], "rb") as f:
            f.seek(launched_at[name])
            return f.read().decode(errors="replace")

    def launch(name: str) -> subprocess.Popen[bytes]:
        launched_at[name] = logs[name].stat().st_size if logs[name].exists() else 0
        cmd = sink_cmd(kafka, root, group, **opts)
        cmd.append("--dynamic-membership")  # dynamic members: a stall moves partitions
        cmd[cmd.index("--log-level") + 1] = "INFO"
        with open(logs[name], "ab") as log:
            return subprocess.Popen(cmd, stderr=log)

    procs = {name: launch(name) for name in logs}
    produced: set[tuple[int, int]] = set()
    rnd = random.Random(7)
    try:
        for cycle, (victim, action) in enumerate(
            [("a", "kill"), ("b", "kill"), ("a", "stall"), ("b", "kill"), ("b", "stall"), ("a", "kill")]
        ):
            produced |= produce(
                kafka, 3000, start + timedelta(minutes=7 * cycle), timedelta(milliseconds=150), 100 + cycle
            )
            if action == "stall":
                # both members (the relaunched one included) hold partitions, and so their locks
                assert wait_for(lambda: all("starts at" in since_launch(n) for n in logs), 90, 0.5), text_of(logs)
                time.sleep(2)
                os.kill(procs[victim].pid, signal.SIGSTOP)
                # past the 6 s session timeout: the group gives every partition to the other member,
                # which must wait for the frozen one's locks
                assert wait_for(lambda: "waits for its previous owner" in text_of(logs), 40, 0.5), text_of(logs)
                time.sleep(2)
                os.kill(procs[victim].pid, signal.SIGCONT)
            else:
                time.sleep(rnd.uniform(0.5, 2.0))
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()
                procs[victim] = launch(victim)
            rows = archived(root)
            assert len(rows) == len(set(rows)), f"duplicates after cycle {cycle}"
        time.sleep(3)  # the last relaunched member installs its SIGTERM handler
        assert wait_for(lambda: len(archived(root)) >= len(produced), 120), "the sinks did not catch up"
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.send_signal(signal.SIGTERM)
        codes = [p.wait(60) for p in procs.values()]
    text = text_of(logs)
    assert codes == [0, 0], text[-3000:]
    rows = archived(root)
    assert len(rows) == len(set(rows)), "a message was archived twice"
    assert set(rows) == produced, f"{len(produced - set(rows))} messages lost"
    assert "waits for its previous owner" in text, "no partition ever waited for a stalled owner's lock"
    assert "released by its previous owner" in text
    assert "refusing to write" not in text
    report = verify(root)
    assert report.ok, (report.missing, report.altered, report.extra, report.chain)


def test_a_forged_file_is_quarantined_and_the_partition_keeps_being_archived(kafka: KafkaSettings, tmp_path: Path) -> None:
    """The attack of issue 13: a valid-looking file claiming offsets up to 999,999,999 dropped into the
    archive. The restarted sink quarantines it, resumes from the manifest and archives the new messages;
    the heads it published to archive.heads are links of the chain, and a removed tail is caught."""
    import argparse
    import io

    from vigie.app import archive_cli
    from vigie.pipelines.archive.writer import FileName, write_file

    root = tmp_path / "archive"
    start = datetime.now(UTC) - timedelta(minutes=5)
    produced = produce(kafka, 600, start, timedelta(milliseconds=10))
    config = SinkConfig(root=root, group_id=f"{kafka.topic_prefix}forged", idle_timeout=0.5, batch_size=200)

    def run_until(expected: int) -> None:
        sink = ArchiveSink(kafka, config)
        stop = threading.Event()
        t = threading.Thread(target=sink.run, args=(stop,))
        t.start()
        try:
            assert wait_for(lambda: len(archived(root)) >= expected, 60)
        finally:
            stop.set()
            t.join(60)
        assert not t.is_alive()

    run_until(len(produced))
    partition = min(p for p, _ in produced)
    some = next(root.joinpath("connlog").rglob(f"*+{partition}+*.parquet"))
    table = pq.read_table(some)
    hour = datetime.strptime(f"{some.parent.parent.name[3:]} {some.parent.name[5:]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    forged = write_file(root, table, FileName(kafka.topic(RAW_SYSLOG), partition, 999_999_999, 999_999_999), hour)
    produced |= produce(kafka, 400, start + timedelta(seconds=30), timedelta(milliseconds=10), seed=1)
    run_until(len(produced))
    rows = archived(root)
    assert sorted(rows) == sorted(produced), "new messages of the forged partition are archived, once"
    assert (root / "quarantine" / forged.path).exists()
    out = io.StringIO()
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'{kafka_table(kafka)}')
    args = argparse.Namespace(root=str(root), quiet=False, expect_head=None, against_topic=True, config=str(conf))
    code = archive_cli.verify_main(args, out)
    assert code == 0, out.getvalue()
    assert "1 quarantined" in out.getvalue() and "published heads checked" in out.getvalue()
    # The tail removed with its file: the chain still verifies, the published heads do not.
    lines = (root / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    if last["kind"] == "file":
        (root / last["path"]).unlink()
    (root / "manifest.jsonl").write_bytes(b"".join(lines[:-1]))
    out = io.StringIO()
    assert archive_cli.verify_main(args, out) == 1
    assert "is not in the chain" in out.getvalue()


def test_a_query_is_recorded_on_the_audit_topic(kafka: KafkaSettings, tmp_path: Path) -> None:
    """With the broker up, the audit record of `vigie archive query` reaches the audit topic too."""
    import argparse
    import io

    from confluent_kafka import Consumer, TopicPartition

    from vigie.app import archive_cli
    from vigie.pipelines.archive.manifest import Manifest
    from vigie.topics import AUDIT

    root = tmp_path / "archive"
    Manifest(root).close()
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'{kafka_table(kafka)}')
    args = argparse.Namespace(
        root=str(root), start="2024-05-01", end="2024-05-02", ip="10.0.0.5", src_ip=None, dst_ip=None, nat_ip=None,
        port=443, user=None, host=None, mac=None, limit=None, format="json", engine="auto", no_progress=True,
        include_unlisted=False, config=str(conf), bootstrap=None,
    )  # fmt: skip
    assert archive_cli.query_main(args, io.StringIO()) == 0
    local = json.loads((root / "audit.jsonl").read_text().splitlines()[-1])
    consumer = Consumer({**kafka.librdkafka(), "group.id": f"{kafka.topic_prefix}audit-check", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(kafka.topic(AUDIT), 0, 0)])
        msg = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                break
        assert msg is not None and not msg.error()
        sent = json.loads(msg.value())
    finally:
        consumer.close()
    assert sent == local and sent["question"]["ip"] == "10.0.0.5" and sent["question"]["port"] == 443
