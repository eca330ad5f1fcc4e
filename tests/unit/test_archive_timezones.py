"""The archive's device time: zone-less stamps read in the device's zone column-wise exactly as the per-row
parser reads them, and the clock_skewed flag, read back from Parquet with DuckDB."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tests.unit.test_archive_sink_logic import FakeMessage, columns
from tests.unit.test_archive_vectorized import REFS, harvested, near_miss_lines, random_lines
from vigie.config import validate
from vigie.pipelines.archive.device_time import clock_skewed
from vigie.pipelines.archive.query import QuerySpec, query
from vigie.pipelines.archive.sink import _build
from vigie.pipelines.archive.vectorized import enrich, enrich_rowwise
from vigie.pipelines.archive.writer import FileName, write_file
from vigie.pipelines.zones import ZoneMap
from vigie.schemas.archive import ARCHIVE_SCHEMA

TS = pa.timestamp("us", tz="UTC")
ZONES = ZoneMap.from_config(validate({
    "syslog": {"default_timezone": "Europe/Paris"},
    "inventory": {
        "sites": {"cayenne": {"timezone": "America/Cayenne"}, "noumea": {"timezone": "Pacific/Noumea"}},
        "hosts": {
            "fw01": {"site": "cayenne"},
            "asa-1.example.org": {"timezone": "America/New_York"},
            "sw1": {"site": "noumea", "address": "10.0.0.1"},
            "h": {"timezone": "UTC", "address": "10.7.0.7"},
            "gw": {"site": "noumea", "address": "10.9.0.1"},
        },
    },
}))
SENDERS = ["10.9.0.1", "10.7.0.7", "192.0.2.1", None]


def dst_lines(r: random.Random, count: int) -> list[bytes]:
    """Zone-less stamps of every header route around the Paris DST changes of 2026 and the new year."""
    out = []
    for _ in range(count):
        mon, day, hh = r.choice([("Oct", "25", "02"), ("Oct", "25", "01"), ("Mar", "29", "02"), ("Dec", "31", "23"),
                                 ("Jan", " 1", "00"), ("Jul", "14", "12")])
        clock = f"{mon} {day} {hh}:{r.randrange(60):02d}:{r.randrange(60):02d}"
        host = r.choice(["fw01", "FW01", "asa-1.example.org", "sw1", "h", "gw", "other", "10.0.0.1"])
        out.append(r.choice([
            f"<13>{clock} {host} app: x",
            f"<13>{clock} 2026 {host} app: x",
            f"<166>{clock} {host} : %ASA-6-302013: Built",
            f"<189>{r.randrange(99)}: {host}: *{clock}.{r.randrange(1000):03d}: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down",
            f"<189>{r.randrange(99)}: *{clock}{r.choice(['', ' UTC', ' CET'])}: %SYS-5-CONFIG_I: Configured",
            f"<187>2026-10-25 {hh}:{r.randrange(60):02d}:00 {host} 12: %LINK-3-UPDOWN: x",
            f"<187>2026-10-25T{hh}:30:00+02:00 {host} 12: %LINK-3-UPDOWN: x",
            f'date=2026-10-25 time={hh}:{r.randrange(60):02d}:00 devname="{host}" {r.choice(["", "tz=+0100 "])}type="traffic"',
            f"<13>1 2026-10-25T{hh}:30:00+01:00 {host} app - - - x",
            f"<13>2026-10-25T{hh}:30:00 {host} app: x",
        ]).encode())
    return out


def assert_same_zoned(raws: list[bytes], reference: datetime, seed: int) -> pa.Array:
    """enrich with the zone map equals enrich_rowwise with it, row by row; returns the timestamps."""
    r = random.Random(seed)
    senders = pa.array([r.choice(SENDERS) for _ in raws], pa.string())
    received = pa.array([reference + timedelta(seconds=r.randrange(-5400, 5400)) for _ in raws], TS)
    want = enrich_rowwise(raws, reference, received, senders, ZONES)
    got = enrich(raws, reference, received, senders, ZONES)
    assert list(got) == list(want)
    for name, col in want.items():
        if not got[name].equals(col):
            a, b = col.to_pylist(), got[name].to_pylist()
            i = next(i for i in range(len(a)) if a[i] != b[i])
            pytest.fail(f"{name} differs on {raws[i][:200]!r} from {senders[i]}: per-row {a[i]!r}, vectorised {b[i]!r}")
    return got["timestamp"]


@pytest.mark.parametrize(
    "reference",
    [datetime(2026, 10, 25, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
     datetime(2026, 12, 31, 23, 30, tzinfo=UTC), *REFS],
)
def test_zoned_stamps_column_wise_equal_the_per_row_reading(reference: datetime) -> None:
    lines = dst_lines(random.Random(1), 1500)
    got = assert_same_zoned(lines, reference, 2)
    utc = enrich(lines, reference)["timestamp"]
    moved = sum(1 for a, b in zip(got.to_pylist(), utc.to_pylist(), strict=True) if a != b)
    assert moved > len(lines) // 3, "most zone-less stamps are moved out of UTC"


@pytest.mark.parametrize("seed", range(3))
def test_zoned_random_and_harvested_lines(seed: int) -> None:
    for reference in REFS[:2]:
        assert_same_zoned(random_lines(seed, 1500) + near_miss_lines(seed, 800), reference, seed)
    assert_same_zoned(harvested(), REFS[0], seed)


def test_the_repeated_hour_is_decided_by_each_rows_receive_time() -> None:
    lines = [b"<13>Oct 25 02:30:00 fw-paris app: x"] * 2 + [b"<189>1: *Oct 25 02:30:00.5: %SYS-5-CONFIG_I: x"] * 2
    received = pa.array([datetime(2026, 10, 25, h, 30, 3, tzinfo=UTC) for h in (0, 1, 0, 1)], TS)
    ref = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)
    got = enrich(lines, ref, received, pa.nulls(4, pa.string()), ZONES)["timestamp"].to_pylist()
    assert [t.isoformat() for t in got] == [
        "2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00",
        "2026-10-25T00:30:00.500000+00:00", "2026-10-25T01:30:00.500000+00:00",
    ]


def test_clock_skew_flag() -> None:
    rec = pa.array([datetime(2026, 7, 1, 12, tzinfo=UTC)] * 4, TS)
    dev = pa.array([datetime(2026, 7, 1, 12, 4, 59, tzinfo=UTC), datetime(2026, 7, 1, 11, 54, 0, tzinfo=UTC),
                    None, datetime(2026, 7, 1, 12, 5, 0, 1, tzinfo=UTC)], TS)
    assert clock_skewed(dev, rec, 300.0).to_pylist() == [False, True, None, True]


def test_the_archive_keeps_device_and_receive_times_and_flags_skew(tmp_path: Path) -> None:
    """A Paris device one hour behind its true clock, one on time, one in UTC: what DuckDB reads back."""
    duckdb = pytest.importorskip("duckdb")
    lines = [
        b"<13>Jul 15 14:00:02 fw-paris app: on time",  # 12:00:02Z, received 12:00:05Z
        b"<13>Jul 15 13:00:02 fw-paris app: one hour behind",  # 11:00:02Z: 1 h off
        b"<13>Jul 15 12:00:03 h app: a UTC host",  # by its name
        b"<13>1 - - app - - - no device time",
    ]
    msgs = [FakeMessage("raw.syslog", 0, 10 + i, v, key=b"192.0.2.9", headers=[("received_at", b"2026-07-15T12:00:05Z")])
            for i, v in enumerate(lines)]
    (group,) = _build(columns(msgs), lambda v, ref, rec, snd: enrich(v, ref, rec, snd, ZONES), 300.0)
    assert group.batch.schema == ARCHIVE_SCHEMA
    write_file(tmp_path, pa.Table.from_batches([group.batch]), FileName("raw.syslog", 0, 10, 13),
               datetime(2026, 7, 15, 12, tzinfo=UTC))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        "SELECT \"offset\", strftime(timestamp, '%H:%M:%S'), strftime(received_at, '%H:%M:%S'), clock_skewed "
        f"FROM read_parquet('{tmp_path}/connlog/*/*/*.parquet') ORDER BY \"offset\""
    ).fetchall()
    assert rows == [
        (10, "12:00:02", "12:00:05", False),
        (11, "11:00:02", "12:00:05", True),
        (12, "12:00:03", "12:00:05", False),
        (13, None, "12:00:05", None),
    ]


def test_files_written_before_the_flag_are_still_queried(tmp_path: Path) -> None:
    """An archive/1 file without clock_skewed (written before it existed) answers both engines, the flag null."""
    msgs = [FakeMessage("raw.syslog", 0, i, b"<13>May  1 10:11:12 fw01 kernel: IN=eth0 OUT=eth1 SRC=10.0.0.1 "
                        b"DST=93.184.216.34 LEN=60 PROTO=TCP SPT=1 DPT=443", key=b"10.0.0.1",
                        headers=[("received_at", b"2024-05-01T10:11:13Z")]) for i in range(3)]
    (group,) = _build(columns(msgs), enrich)
    table = pa.Table.from_batches([group.batch])
    hour = datetime(2024, 5, 1, 10, tzinfo=UTC)
    write_file(tmp_path, table.slice(0, 2), FileName("raw.syslog", 0, 0, 1), hour)
    old = table.slice(2).drop_columns(["clock_skewed"])
    import pyarrow.parquet as pq

    pq.write_table(old, tmp_path / "connlog/dt=2024-05-01/hour=10/raw.syslog+0+2+2.parquet")
    spec = QuerySpec(start=hour, end=hour + timedelta(hours=1), src_ip="10.0.0.1")
    for engine in ("pyarrow", "duckdb"):
        got = query(tmp_path, spec, None, engine=engine)
        assert got.column("offset").to_pylist() == [0, 1, 2], engine
        assert got.column("clock_skewed").to_pylist() == [False, False, None], engine
