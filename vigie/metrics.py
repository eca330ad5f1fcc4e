"""Metrics shared across stages: Kafka delivery counters and the produce-latency histogram."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def delivery_callbacks(registry: CollectorRegistry) -> tuple[Callable[[str, float], None], Callable[[str, str], None]]:
    """Callbacks for KafkaSink: count delivered/failed records per topic and observe produce latency."""
    delivered = Counter("vigie_kafka_delivered", "Records acknowledged by the broker", ["topic"], registry=registry)
    failed = Counter("vigie_kafka_delivery_failed", "Records the broker refused", ["topic"], registry=registry)
    latency = Histogram("vigie_produce_latency_seconds", "From produce to broker acknowledgement", ["topic"],
                        buckets=LATENCY_BUCKETS, registry=registry)
    children: dict[str, tuple] = {}

    def on_delivered(topic: str, seconds: float) -> None:
        pair = children.get(topic)
        if pair is None:
            pair = children[topic] = (delivered.labels(topic), latency.labels(topic))
        pair[0].inc()
        pair[1].observe(seconds)

    def on_failed(topic: str, error: str) -> None:
        failed.labels(topic).inc()

    return on_delivered, on_failed
