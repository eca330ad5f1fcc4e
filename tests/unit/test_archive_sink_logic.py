"""The archive sink's batch logic without a broker: header fields, received_at fallback, per-partition split."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from vigie.kafka_client import KafkaSettings
from vigie.kafka_columns import ColumnBatch, PythonColumnarConsumer
from vigie.pipelines.archive import sink as sink_module
from vigie.pipelines.archive.ownership import PartitionLocks
from vigie.pipelines.archive.sink import (
    CLAIM_INTERVAL,
    HEADERS,
    ArchiveSink,
    SinkConfig,
    _build,
    _received_at,
    _runs,
    _senders,
)
from vigie.pipelines.archive.vectorized import enrich, enrich_rowwise
from vigie.schemas.archive import ARCHIVE_SCHEMA


class FakeMessage:
    """What the confluent-kafka fallback reads from a Message."""

    def __init__(self, topic: str, partition: int, offset: int, value: bytes | None, **kw: Any) -> None:
        self._t, self._p, self._o, self._v = topic, partition, offset, value
        self._k = kw.get("key")
        self._h = kw.get("headers")
        self._ms = kw.get("ms", 1_714_558_272_000)

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v

    def key(self) -> bytes | None:
        return self._k

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._h

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ms) if self._ms is not None else (0, -1)

    def error(self) -> None:
        return None


class FakeConsumer:
    """Hands out prepared messages once, as confluent-kafka's consume() does."""

    def __init__(self, msgs: list[FakeMessage]) -> None:
        self.msgs = msgs

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        out, self.msgs = self.msgs[:num_messages], self.msgs[num_messages:]
        return out


def columns(msgs: list[FakeMessage]) -> ColumnBatch:
    """The columns the fallback reader gathers (the C reader's are compared to them on a real broker)."""
    reader = PythonColumnarConsumer.__new__(PythonColumnarConsumer)
    reader._consumer = FakeConsumer(msgs)
    reader._headers = list(HEADERS)
    batch = reader.consume_columns(len(msgs), 0.0)
    assert batch is not None
    return batch


def test_headers_as_columns_and_senders() -> None:
    h = [("peer", b"[2001:db8::1]:514"), ("received_at", b"a"), ("transport", b"tcp"), ("received_at", b"b")]
    msgs = [
        FakeMessage("t", 0, 0, b"x", headers=h),
        FakeMessage("t", 0, 1, b"x", headers=h, key=b"10.0.0.1"),
        FakeMessage("t", 0, 2, b"x", headers=[("peer", b"10.0.0.2:514"), ("peer", b"10.0.0.3:514")], key=b""),
        FakeMessage("t", 0, 3, None, headers=None, ms=None),
        FakeMessage("t", 0, 4, b"x", headers=[("peer", b"no-port")]),
    ]
    b = columns(msgs)
    assert b.headers["received_at"].to_pylist() == [b"b", b"b", None, None, None], "the last one"
    assert b.headers["transport"].to_pylist() == [b"tcp", b"tcp", None, None, None]
    assert b.headers["peer"].to_pylist()[2] == b"10.0.0.2:514", "the first one"
    assert b.value.to_pylist()[3] is None and b.timestamp_ms.to_pylist()[3] is None
    assert _senders(b.key, b.headers["peer"]).to_pylist() == [
        "2001:db8::1",
        "10.0.0.1",
        "10.0.0.2",
        None,
        "no-port",
    ]


def test_received_at_falls_back_to_the_kafka_timestamp_per_row() -> None:
    header = pa.array(
        [b"2024-05-01T10:11:12.5Z", None, b"garbage", b"2024-05-01T10:11:13+02:00"], pa.binary()
    )
    kafka_ms = pa.array([1_000, 2_000, 3_000, None], pa.int64())
    assert _received_at(header, kafka_ms).to_pylist() == [
        datetime(2024, 5, 1, 10, 11, 12, 500000, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 2, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC),
        datetime(2024, 5, 1, 8, 11, 13, tzinfo=UTC),
    ]
    both_missing = _received_at(pa.array([None], pa.binary()), pa.array([None], pa.int64()))
    assert both_missing.null_count == 0, "a row without either time is stamped when read, never left null"


@pytest.mark.parametrize("max_runs", [64, 2], ids=["slices-per-run", "gather-per-partition"])
def test_build_splits_by_partition_in_offset_order(max_runs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink_module, "MAX_RUNS", max_runs)
    lines = [
        b"<4>May  1 10:11:12 fw01 kernel: IN=eth0 OUT=eth1 SRC=10.0.0.1 DST=93.184.216.34 LEN=60 PROTO=TCP SPT=1 DPT=443",
        b"<38>May  1 10:11:12 srv01 CRON[1]: (root) CMD (x)",
        b"\xff not syslog",
        None,
    ]
    msgs = [
        FakeMessage(
            "t",
            i % 2,
            100 + i,
            lines[i % 4],
            key=b"10.9.0.1" if i % 3 else None,
            headers=[("received_at", b"2024-05-01T10:59:59.999999Z" if i < 6 else b"2024-05-01T11:00:00Z")],
        )
        for i in range(10)
    ]
    groups = _build(columns(msgs), enrich)
    if max_runs > 10:  # one group per run of consecutive messages of a partition, in batch order
        assert [g.key for g in groups] == [("t", i % 2) for i in range(10)]
    else:  # one group per partition
        assert [g.key for g in groups] == [("t", 0), ("t", 1)]
    for g in groups:
        assert g.batch.schema == ARCHIVE_SCHEMA
        offsets = g.batch.column("offset").to_pylist()
        assert offsets == sorted(offsets) and all(o % 2 == g.key[1] for o in offsets)
        h10 = int(datetime(2024, 5, 1, 10, tzinfo=UTC).timestamp()) // 3600
        assert g.hours.to_pylist() == [h10 if o < 106 else h10 + 1 for o in offsets]
        raws = [bytes(r) for r in g.batch.column("raw").to_pylist()]
        assert raws == [lines[(o - 100) % 4] or b"" for o in offsets]
        ref = datetime(2024, 5, 1, 10, 59, 59, 999999, tzinfo=UTC)
        want = enrich_rowwise(raws, ref)
        for name, col in want.items():
            assert g.batch.column(name).equals(col), name
    sender = pa.concat_arrays([g.batch.column("sender") for g in groups]).to_pylist()
    assert set(sender) == {"10.9.0.1", None}


def test_runs_of_consecutive_messages_of_one_partition() -> None:
    topic = pa.array(["a", "a", "a", "b", "b", "a"])
    part = pa.array([0, 0, 1, 1, 1, 1], pa.int32())
    assert _runs(topic, part) == [(("a", 0), 0, 2), (("a", 1), 2, 3), (("b", 1), 3, 5), (("a", 1), 5, 6)]
    assert _runs(pa.array(["a"] * 3), pa.array([2, 2, 2], pa.int32())) == [(("a", 2), 0, 3)]
    assert _runs(pa.array([], pa.string()), pa.array([], pa.int32())) == []
    many = pa.array([i % 2 for i in range(200)], pa.int32())
    assert _runs(pa.array(["a"] * 200), many) is None, "past MAX_RUNS: the caller gathers per partition"


def test_a_partition_locked_elsewhere_is_reported_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = ArchiveSink(KafkaSettings(), SinkConfig(root=tmp_path))
    other = PartitionLocks(tmp_path)  # another process's hold: flock conflicts between open files
    key = ("t", 0)
    assert other.try_acquire(key)
    sink._waiting[key] = 0.0
    with caplog.at_level(logging.WARNING, logger="vigie.pipelines.archive.sink"):
        now = 0.0
        while now < 200:
            now += CLAIM_INTERVAL / 3  # retried more often than once a second, as the main loop does
            sink._claim_waiting(now)
    warned = [r.getMessage() for r in caplog.records if "still locked" in r.getMessage()]
    assert [w.rsplit("after ", 1)[1] for w in warned] == ["60 s", "120 s", "180 s"]
    other.release(key)
