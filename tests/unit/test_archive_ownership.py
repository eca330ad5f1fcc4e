"""Partition ownership between sink processes: exclusive locks, freed by death, per-partition crash cleanup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from vigie.kafka_client import KafkaSettings
from vigie.pipelines.archive.manifest import Manifest, load_state, reconcile
from vigie.pipelines.archive.ownership import PartitionLocks, remove_partition_temporaries
from vigie.pipelines.archive.sink import ArchiveSink, SinkConfig, _Buffer
from vigie.pipelines.archive.writer import FileName, iter_files, write_file
from vigie.schemas.archive import ARCHIVE_SCHEMA

TOPIC = "vigie.raw.syslog"
HOUR = datetime(2024, 5, 1, 10, tzinfo=UTC)


def table(partition: int, first: int, n: int) -> pa.Table:
    data: dict[str, list] = {name: [None] * n for name in ARCHIVE_SCHEMA.names}
    data["received_at"] = [HOUR] * n
    data["raw"] = [f"<13>line {first + i}".encode() for i in range(n)]
    data["topic"] = [TOPIC] * n
    data["partition"] = [partition] * n
    data["offset"] = list(range(first, first + n))
    return pa.table(data, schema=ARCHIVE_SCHEMA)


def test_a_partition_lock_is_exclusive_and_per_partition(tmp_path: Path) -> None:
    a, b = PartitionLocks(tmp_path), PartitionLocks(tmp_path)  # two open file descriptions: two owners
    assert a.try_acquire((TOPIC, 0))
    assert a.try_acquire((TOPIC, 0)), "taking a lock one already holds succeeds"
    assert not b.try_acquire((TOPIC, 0))
    assert b.try_acquire((TOPIC, 1)), "another partition is independent"
    assert not a.try_acquire((TOPIC, 1))
    a.release((TOPIC, 0))
    assert not a.held((TOPIC, 0))
    assert b.try_acquire((TOPIC, 0))
    assert b.keys() == {(TOPIC, 0), (TOPIC, 1)}
    b.release_all()
    assert a.try_acquire((TOPIC, 1))


def test_the_lock_of_a_killed_process_is_free_at_once(tmp_path: Path) -> None:
    code = textwrap.dedent(f"""
        import sys, time
        from vigie.pipelines.archive.ownership import PartitionLocks
        locks = PartitionLocks({str(tmp_path)!r})
        assert locks.try_acquire(({TOPIC!r}, 2))
        print("held", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
        mine = PartitionLocks(tmp_path)
        assert not mine.try_acquire((TOPIC, 2)), "held by the other process"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert mine.try_acquire((TOPIC, 2)), "the kernel drops the lock of a dead process"
    finally:
        proc.kill()
        proc.wait()


def test_only_the_given_partitions_temporaries_are_removed(tmp_path: Path) -> None:
    write_file(tmp_path, table(0, 0, 5), FileName(TOPIC, 0, 0, 4), HOUR)
    hour_dir = next(p.parent for p in tmp_path.rglob("*.parquet"))
    mine = hour_dir / f".{TOPIC}+0+5+9.parquet.123.tmp"
    theirs = hour_dir / f".{TOPIC}+1+0+9.parquet.456.tmp"
    other_topic = hour_dir / f".{TOPIC}x+0+0+9.parquet.789.tmp"
    for p in (mine, theirs, other_topic):
        p.write_bytes(b"half")
    removed = remove_partition_temporaries(tmp_path, {(TOPIC, 0)})
    assert removed == [mine.relative_to(tmp_path).as_posix()]
    assert theirs.exists() and other_topic.exists()
    assert [n for _, n in iter_files(tmp_path)] == [FileName(TOPIC, 0, 0, 4)], "complete files stay"


def test_reconcile_registers_only_the_partitions_it_is_given(tmp_path: Path) -> None:
    with Manifest(tmp_path) as m:
        for name in (FileName(TOPIC, 0, 0, 4), FileName(TOPIC, 1, 0, 6)):  # renamed, crash before the entry
            n = name.last - name.first + 1
            write_file(tmp_path, table(name.partition, 0, n), name, HOUR, before_rename=m.intent_recorder(name))
        added = reconcile(tmp_path, m, {(TOPIC, 1)})
        assert [(e["partition"], e["last_offset"]) for e in added] == [(1, 6)]
        assert load_state(tmp_path).next_offsets == {(TOPIC, 1): 7}
        assert [e["partition"] for e in reconcile(tmp_path, m)] == [0], "without keys: every partition"


def test_the_sink_never_writes_a_partition_whose_lock_it_does_not_hold(tmp_path: Path) -> None:
    sink = ArchiveSink(KafkaSettings(), SinkConfig(root=tmp_path))
    sink.recover()
    buf = _Buffer(TOPIC, 0, hour=int(HOUR.timestamp()) // 3600, first=0, last=4)
    buf.batches = table(0, 0, 5).to_batches()
    other = PartitionLocks(tmp_path)
    assert other.try_acquire((TOPIC, 0))
    with pytest.raises(RuntimeError, match="without its lock"):
        sink._write(buf)
    assert list(iter_files(tmp_path)) == []
    other.release_all()
    assert sink._locks.try_acquire((TOPIC, 0))
    sink._write(buf)
    assert [n for _, n in iter_files(tmp_path)] == [FileName(TOPIC, 0, 0, 4)]
    sink.close()
