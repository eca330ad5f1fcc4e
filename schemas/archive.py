"""The Arrow schema of the connection-log archive: one row per raw syslog message, as Parquet stores it."""

from __future__ import annotations

import pyarrow as pa

# The version changes when a column changes type or meaning; a new nullable column does not change it
# (docs/archive.md, "Schema changes"): a reader takes a column a file lacks as null.
SCHEMA_VERSION = "archive/1"

# Typed connection columns filled by vigie.pipelines.archive.connlog (null when no extractor matches).
CONNECTION_FIELDS: tuple[pa.Field, ...] = (
    pa.field("conn_format", pa.string()),
    pa.field("src_ip", pa.string()),
    pa.field("src_port", pa.int32()),
    pa.field("dst_ip", pa.string()),
    pa.field("dst_port", pa.int32()),
    pa.field("protocol", pa.string()),
    pa.field("nat_ip", pa.string()),
    pa.field("nat_port", pa.int32()),
    pa.field("user", pa.string()),
    pa.field("mac", pa.string()),
    pa.field("action", pa.string()),
    pa.field("bytes", pa.int64()),
    pa.field("session_id", pa.string()),
)

# received_at is the partitioning time (dt=, hour= directories); dt and hour are not stored in files.
ARCHIVE_SCHEMA = pa.schema(
    [
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("sender", pa.string()),
        pa.field("transport", pa.string()),
        pa.field("raw", pa.binary(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("hostname", pa.string()),
        pa.field("app_name", pa.string()),
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        *CONNECTION_FIELDS,
        # Added after the first files (an additive change: same version, readers take it as null where absent):
        # true when `timestamp` is further than [archive] max_clock_skew from received_at, null without one.
        pa.field("clock_skewed", pa.bool_()),
    ],
    metadata={"vigie.schema": SCHEMA_VERSION},
)

CONNECTION_COLUMNS: tuple[str, ...] = tuple(f.name for f in CONNECTION_FIELDS)
COLUMNS: tuple[str, ...] = tuple(ARCHIVE_SCHEMA.names)

# The hive partition keys added by readers (pyarrow dataset, DuckDB hive_partitioning).
PARTITION_SCHEMA = pa.schema([pa.field("dt", pa.string()), pa.field("hour", pa.string())])
