"""Metrics shared across stages: the producer's delivery counts and its sampled produce latency."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from vigie.kafka_client import KafkaSink

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
