"""The archive sink's batch logic without a broker: header fields, received_at fallback, per-partition split."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from vigie.pipelines.archive.sink import _build, _gather, _header_fields, _received_at
from vigie.pipelines.archive.vectorized import enrich, enrich_rowwise
from vigie.schemas.archive import ARCHIVE_SCHEMA


class FakeMessage:
    """What _gather reads from a confluent-kafka Message."""

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
        return (1, self._ms)


def test_header_fields() -> None:
    h = [("peer", b"[2001:db8::1]:514"), ("received_at", b"a"), ("transport", b"tcp"), ("received_at", b"b")]
    assert _header_fields(h, None) == (b"b", b"2001:db8::1", b"tcp")
    assert _header_fields(h, b"10.0.0.1") == (b"b", b"10.0.0.1", b"tcp")
    assert _header_fields([("peer", b"10.0.0.2:514"), ("peer", b"10.0.0.3:514")], None) == (None, b"10.0.0.2", None)
    assert _header_fields(None, None) == (None, None, None)


def test_received_at_asks_the_kafka_timestamp_only_where_needed() -> None:
    asked: list[list[int]] = []

    def kafka_ms(idx: list[int]) -> list[int]:
        asked.append(idx)
        return [1_000 * (i + 1) for i in idx]

    got = _received_at([b"2024-05-01T10:11:12.5Z", None, b"garbage"], kafka_ms)
    assert asked == [[1, 2]]
    assert got.to_pylist() == [
        datetime(2024, 5, 1, 10, 11, 12, 500000, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 2, tzinfo=UTC),
        datetime(1970, 1, 1, 0, 0, 3, tzinfo=UTC),
    ]
    asked.clear()
    assert _received_at([b"2024-05-01T10:11:12Z"], kafka_ms).null_count == 0 and asked == []


def test_build_splits_by_partition_in_offset_order() -> None:
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
    groups = _build(_gather(msgs), enrich)
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
