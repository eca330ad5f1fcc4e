"""A Kafka group consumer that returns each batch as Arrow columns: the archive sink's reader.

The sink needs, per message, its value, key, topic, partition, offset, timestamp and a few headers,
and nothing per message in Python. `open_columnar_consumer` gives the C reader (vigie._kafka_columns,
built at install against the system librdkafka) when it is there, else the same interface over
confluent-kafka's Consumer, which gathers the columns in Python (about 8 µs of interpreter time per
message instead of well under one). Both speak the subset of confluent-kafka's Consumer API the sink
uses, with TopicPartition objects and KafkaException errors, so the sink has one code path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition

log = logging.getLogger(__name__)

try:
    from vigie import _kafka_columns
except ImportError:  # not built: no compiler or no librdkafka-dev at install time
    _kafka_columns = None

Partitions = list[TopicPartition]
RebalanceHandler = Callable[[Any, Partitions], None]


@dataclass
class ColumnBatch:
    """One consume() call's messages, in consumption order, as columns (error events apart)."""

    topic: pa.Array  # string
    partition: pa.Array  # int32
    offset: pa.Array  # int64
    timestamp_ms: pa.Array  # int64, null where the message has none
    value: pa.Array  # binary, null for a null value
    key: pa.Array  # binary
    headers: dict[str, pa.Array]  # binary per requested header name, null where absent

    def __len__(self) -> int:
        return len(self.offset)


def available() -> bool:
    """Whether the C reader was built (else the confluent-kafka fallback is used)."""
    return _kafka_columns is not None


def open_columnar_consumer(
    config: dict[str, Any], headers: Sequence[tuple[str, str]], *, native: bool | None = None
) -> ColumnarConsumer | PythonColumnarConsumer:
    """A consumer for these settings; headers: (name, "first" | "last") to extract as columns.

    native=None takes the C reader when it was built; True insists on it; False forces the fallback.
    """
    if native is None:
        native = available()
    if native:
        if _kafka_columns is None:
            raise RuntimeError("vigie._kafka_columns is not built (needs librdkafka-dev and a C compiler)")
        return ColumnarConsumer(config, headers)
    return PythonColumnarConsumer(config, headers)


def _librdkafka_value(v: Any) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _binary(col: tuple[bytes | None, bytes, bytes, int], n: int) -> pa.Array:
    validity, offsets, data, nulls = col
    buffers = [None if validity is None else pa.py_buffer(validity), pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.binary(), n, buffers, null_count=nulls)


def _tps(parts: Partitions) -> list[tuple[str, int]]:
    return [(tp.topic, tp.partition) for tp in parts]


class ColumnarConsumer:
    """The C reader behind confluent-kafka's Consumer interface (eager rebalance protocol only)."""

    def __init__(self, config: dict[str, Any], headers: Sequence[tuple[str, str]]) -> None:
        strategy = str(config.get("partition.assignment.strategy", ""))
        if "cooperative" in strategy:
            raise ValueError("the columnar consumer supports the eager assignors only")
        self.header_names = [name for name, _ in headers]
        assert _kafka_columns is not None
        self._c = _kafka_columns.Consumer({k: _librdkafka_value(v) for k, v in config.items()}, list(headers))
        self._handlers: dict[str, RebalanceHandler | None] = {}

    @staticmethod
    def _raise(exc: Exception) -> KafkaException:
        what, code, reason = exc.args if len(exc.args) == 3 else ("kafka", KafkaError._FAIL, str(exc))
        return KafkaException(KafkaError(code, f"{what}: {reason}"))

    def subscribe(
        self,
        topics: list[str],
        on_assign: RebalanceHandler | None = None,
        on_revoke: RebalanceHandler | None = None,
        on_lost: RebalanceHandler | None = None,
    ) -> None:
        self._handlers = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost or on_revoke}
        self._call(self._c.subscribe, topics, self._on_rebalance)

    def _on_rebalance(self, event: str, parts: list[tuple[str, int]]) -> None:
        """Called from inside consume/close. An assign handler must assign (as with confluent-kafka's)."""
        tps = [TopicPartition(t, p) for t, p in parts]
        handler = self._handlers.get(event)
        if handler is not None:
            handler(self, tps)
        elif event == "assign":
            self.assign(tps)

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert _kafka_columns is not None
        try:
            return fn(*args)
        except _kafka_columns.KafkaColumnsError as exc:
            raise self._raise(exc) from None

    def assign(self, parts: Partitions) -> None:
        self._call(self._c.assign, [(tp.topic, tp.partition, tp.offset) for tp in parts])

    def pause(self, parts: Partitions) -> None:
        self._call(self._c.pause, _tps(parts))

    def resume(self, parts: Partitions) -> None:
        self._call(self._c.resume, _tps(parts))

    def seek(self, tp: TopicPartition) -> None:
        self._call(self._c.seek, [(tp.topic, tp.partition, tp.offset)], 10.0)

    def committed(self, parts: Partitions, timeout: float = 30.0) -> Partitions:
        got = self._call(self._c.committed, _tps(parts), timeout)
        return [TopicPartition(t, p, o) for t, p, o in got]

    def commit(self, offsets: Partitions, asynchronous: bool = True) -> None:
        self._call(self._c.commit, [(tp.topic, tp.partition, tp.offset) for tp in offsets], asynchronous)

    def consume_columns(self, max_messages: int, timeout: float) -> ColumnBatch | None:
        """The next batch (None when nothing came); a fatal error raises, other error events are logged."""
        got = self._call(self._c.consume, max_messages, timeout)
        if got is None:
            return None
        n, topics, topic_index, partitions, offsets, timestamps, value, key, headers, errors = got
        for code, reason in errors:
            if code == KafkaError._FATAL:
                raise KafkaException(KafkaError(code, reason, fatal=True))
            log.warning("consumer error: %s (%d)", reason, code)
        if n == 0:
            return None
        idx = pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(topic_index)])
        topic = pa.DictionaryArray.from_arrays(idx, pa.array(topics, pa.string())).dictionary_decode()
        ts = pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(timestamps)])
        return ColumnBatch(
            topic=topic,
            partition=pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(partitions)]),
            offset=pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(offsets)]),
            timestamp_ms=_null_if_negative(ts),
            value=_binary(value, n),
            key=_binary(key, n),
            headers={name: _binary(col, n) for name, col in zip(self.header_names, headers, strict=True)},
        )

    def close(self) -> None:
        self._call(self._c.close)


def _null_if_negative(ts: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.if_else(pc.less(ts, 0), pa.scalar(None, pa.int64()), ts)


class PythonColumnarConsumer:
    """The same interface over confluent-kafka's Consumer, gathering the columns in Python (the fallback)."""

    def __init__(self, config: dict[str, Any], headers: Sequence[tuple[str, str]]) -> None:
        self._consumer = Consumer(config)
        self._headers = list(headers)

    def __getattr__(self, name: str) -> Any:  # subscribe, assign, pause, resume, seek, committed, commit, close
        return getattr(self._consumer, name)

    def consume_columns(self, max_messages: int, timeout: float) -> ColumnBatch | None:
        msgs = self._consumer.consume(num_messages=max_messages, timeout=timeout)
        kept = []
        for m in msgs:
            err = m.error()
            if err is None:
                kept.append(m)
            elif err.code() == KafkaError._PARTITION_EOF:
                continue
            elif err.fatal():
                raise KafkaException(err)
            else:
                log.warning("consumer error: %s", err)
        if not kept:
            return None
        cols: dict[str, list[Any]] = {name: [] for name, _ in self._headers}
        first = {name for name, which in self._headers if which == "first"}
        for m in kept:
            found: dict[str, bytes] = {}
            for hk, hv in m.headers() or ():
                if hk in cols and (hk not in first or hk not in found):
                    found[hk] = hv
            for name, col in cols.items():
                col.append(found.get(name))
        stamps = [ts if kind != 0 and ts >= 0 else None for kind, ts in (m.timestamp() for m in kept)]
        return ColumnBatch(
            topic=pa.array([m.topic() for m in kept], pa.string()),
            partition=pa.array([m.partition() for m in kept], pa.int32()),
            offset=pa.array([m.offset() for m in kept], pa.int64()),
            timestamp_ms=pa.array(stamps, pa.int64()),
            value=pa.array([m.value() for m in kept], pa.binary()),
            key=pa.array([m.key() for m in kept], pa.binary()),
            headers={name: pa.array(col, pa.binary()) for name, col in cols.items()},
        )


__all__ = ["OFFSET_INVALID", "ColumnBatch", "ColumnarConsumer", "PythonColumnarConsumer", "available",
           "open_columnar_consumer"]
