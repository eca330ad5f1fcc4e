"""Metrics of `vigie up`: the producer's delivery counts, its sampled produce latency, consumer lag, build
information, the archive manifest's age, and the parent's side of the children's metrics.

The pipelines workers and archive sinks are child processes; how their metrics reach this process's one
/metrics endpoint (prometheus_client's multiprocess mode), and the limits of that choice, is explained
in vigie/stage_metrics.py.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import mark_process_dead
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from vigie.kafka_client import KafkaSettings, KafkaSink

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def latency_observer(registry: CollectorRegistry) -> Callable[[str, float], None]:
    """The on_delivered callback for KafkaSink: observes sampled produce-to-acknowledgement latency per topic."""
    latency = Histogram("vigie_produce_latency_seconds", "From produce to broker acknowledgement (sampled)",
                        ["topic"], buckets=LATENCY_BUCKETS, registry=registry)

    def observe(topic: str, seconds: float) -> None:
        latency.labels(topic).observe(seconds)

    return observe


class SinkCollector(Collector):
    """Reads the producer's counters at scrape time, so the hot path pays nothing for them."""

    def __init__(self, sink: KafkaSink) -> None:
        self.sink = sink

    def collect(self) -> Iterator:
        produced = CounterMetricFamily("vigie_kafka_produced", "Records handed to the Kafka producer")
        produced.add_metric([], self.sink.produced)
        delivered = CounterMetricFamily("vigie_kafka_delivered", "Records acknowledged by the broker")
        delivered.add_metric([], self.sink.delivered())
        failed = CounterMetricFamily("vigie_kafka_delivery_failed", "Records the broker refused")
        failed.add_metric([], self.sink.failed)
        pending = GaugeMetricFamily("vigie_kafka_pending", "Records queued, not yet acknowledged")
        pending.add_metric([], self.sink.pending())
        yield from (produced, delivered, failed, pending)


class ConsumerLagCollector(Collector):
    """Consumer-group lag per group and topic (records not yet committed), read from the broker at scrape time.

    The stages run in child processes of `vigie up` (normalize + correlate workers, the archive sink, the
    notifiers); their progress is visible to the parent through the broker as committed offsets, which is
    what Kafka's own tools and Burrow watch. Only Vigie's topics count; results are cached for `ttl` seconds
    so that frequent scrapes cost the broker nothing more, and a broker that does not answer gives no sample.

    After a broker pause or restart the admin client kept its old metadata (leader epochs): every offset
    request failed with FENCED_LEADER_EPOCH, or with an error of empty text, until librdkafka refreshed it
    minutes later, and one failed partition dropped every sample. So the client is rebuilt after any error,
    a failed partition only drops the (group, topic) it belongs to, and one scrape waits `timeout` seconds
    in all (requests are sent together, then awaited against one deadline).
    """

    def __init__(self, settings: KafkaSettings, ttl: float = 5.0, timeout: float = 3.0) -> None:
        from vigie.topics import default_specs

        self.settings = settings
        self.ttl = ttl
        self.timeout = timeout
        self.topics = {settings.topic(s.name) for s in default_specs()}
        self._admin: Any = None
        self._lock = threading.Lock()  # two scrapes at once: the second answers from the cache
        self._cached: tuple[float, dict[tuple[str, str], int]] = (-1e9, {})
        self.errors = 0  # scrapes that met an error (the client was rebuilt after each)

    def lag(self) -> dict[tuple[str, str], int]:
        """{(group, topic): records between the committed offsets and the partitions' ends}.

        A (group, topic) with a partition whose offsets could not be read is left out rather than summed
        short (a partial sum would read as the lag dropping). Raises when nothing could be read at all.
        """
        from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        from vigie.kafka_client import make_admin

        if self._admin is None:
            self._admin = make_admin(self.settings)
        admin, timeout = self._admin, self.timeout
        deadline = time.monotonic() + timeout

        def left() -> float:
            return max(0.05, deadline - time.monotonic())

        listed = admin.list_consumer_groups(request_timeout=timeout).result(left())
        failed = bool(listed.errors)
        pending = {}
        for g in listed.valid:
            pending.update(admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(g.group_id)],
                                                             request_timeout=left()))
        committed: dict[str, list[tuple[str, int, int]]] = {}  # group -> (topic, partition, committed offset)
        broken: set[tuple[str, str]] = set()  # (group, topic) with a partition that gave no offset
        for group, fut in pending.items():
            try:
                tps = fut.result(left()).topic_partitions or []
            except Exception as exc:  # noqa: BLE001 - KafkaException or a timeout: this group has no sample
                _note_failure(f"group {group}", exc)
                failed = True
                continue
            mine = [tp for tp in tps if tp.topic in self.topics]
            broken.update((group, tp.topic) for tp in mine if tp.error is not None)
            good = [(tp.topic, tp.partition, tp.offset) for tp in mine if tp.error is None and tp.offset >= 0]
            if good:
                committed[group] = good
        wanted = {(t, p) for parts in committed.values() for t, p, _ in parts}
        ends: dict[tuple[str, int], int] = {}
        if wanted:
            futures = admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in sorted(wanted)},
                                         request_timeout=left())
            for tp, fut in futures.items():
                try:
                    ends[(tp.topic, tp.partition)] = fut.result(left()).offset
                except Exception as exc:  # noqa: BLE001 - e.g. FENCED_LEADER_EPOCH right after a restart
                    _note_failure(f"{tp.topic}[{tp.partition}]", exc)
                    failed = True
        if failed or broken:
            self._reset()
        return sum_lag(committed, ends, broken)

    def _reset(self) -> None:
        """Drop the admin client: the next scrape builds one with fresh metadata."""
        self.errors += 1
        self._admin = None

    def describe(self) -> Iterator:
        """Registration asks for this: without it the registry would call collect(), reaching the broker."""
        yield GaugeMetricFamily("vigie_consumer_lag", "Records not yet committed by a consumer group, per topic",
                                labels=["group", "topic"])

    def collect(self) -> Iterator:
        now = time.monotonic()
        if now - self._cached[0] >= self.ttl and self._lock.acquire(blocking=False):
            try:
                self._cached = (now, self.lag())
            except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the broker does not
                log.warning("consumer lag not available: %s", _describe(exc))
                self._reset()
                self._cached = (now, {})
            finally:
                self._lock.release()
        family = GaugeMetricFamily("vigie_consumer_lag", "Records not yet committed by a consumer group, per topic",
                                   labels=["group", "topic"])
        for (group, topic), n in sorted(self._cached[1].items()):
            family.add_metric([group, topic], n)
        yield family


def sum_lag(committed: dict[str, list[tuple[str, int, int]]], ends: dict[tuple[str, int], int],
            broken: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """{(group, topic): sum over its partitions of end - committed}; a (group, topic) that is `broken` (a
    partition's committed offset unknown) or misses a partition's end gets no value, not a short sum."""
    out: dict[tuple[str, str], int] = {}
    skip = set(broken)
    for group, parts in committed.items():
        for topic, partition, offset in parts:
            end = ends.get((topic, partition))
            if end is None or end < 0:
                skip.add((group, topic))
            else:
                out[(group, topic)] = out.get((group, topic), 0) + max(0, end - offset)
    return {k: v for k, v in out.items() if k not in skip}


def _describe(exc: BaseException) -> str:
    """An error as one readable line: librdkafka's errors sometimes have an empty text, so name the type and code."""
    text = str(exc).strip()
    err = exc.args[0] if exc.args else None
    name = getattr(err, "name", None)
    code = name() if callable(name) else None
    return f"{type(exc).__name__}" + (f" {code}" if code else "") + (f": {text}" if text else "")


def _note_failure(what: str, exc: BaseException) -> None:
    log.info("consumer lag: no offsets for %s (%s)", what, _describe(exc))


# --- the parent's side of the children's metrics (see vigie/stage_metrics.py) ----------------------------


def children_metrics_dir(state_dir: str | Path) -> Path:
    """Where the children of `vigie up` write their metric files: <state>/metrics."""
    return Path(state_dir) / "metrics"


def prepare_children_metrics(state_dir: str | Path) -> Path:
    """Empty the folder at start: files left by a previous run would be added to this run's counters."""
    folder = children_metrics_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.db"):
        old.unlink()
    return folder


def child_metrics_env(state_dir: str | Path, ident: str) -> dict[str, str]:
    """The environment that makes a child write its metrics where the parent reads them, under its own name."""
    from vigie.stage_metrics import CHILD_ID_ENV, MULTIPROC_ENV

    folder = children_metrics_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return {**os.environ, MULTIPROC_ENV: str(folder), CHILD_ID_ENV: ident}


def child_metrics_exited(state_dir: str | Path, ident: str) -> None:
    """A child exited: its live gauges (alerts and incidents it held) leave the sums; its counters stay."""
    mark_process_dead(ident, str(children_metrics_dir(state_dir)))
