"""Prometheus metrics of the syslog listeners, kept as plain counters on the hot path and exported at scrape time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigie.udp_drops import UdpDropCounters, udp_drop_counters

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class ListenerStats:
    """What one listener counted; plain ints because a prometheus Counter.inc() per datagram costs a lock."""

    received: int = 0  # messages (frames or datagrams) received
    produced: int = 0  # records queued to raw.syslog
    dead_lettered: int = 0  # records queued to the dead-letter topic
    dropped: int = 0  # messages lost: UDP over the sink budget, TCP backlog left at shutdown
    bytes: int = 0  # bytes read from the network
    truncated: int = 0  # messages cut to max_message_size
    errors: int = 0  # exceptions caught per datagram or connection
    connections: int = 0  # open TCP/TLS connections (gauge)
    handshakes: int = 0  # TLS handshakes in progress (gauge); they count against max_connections
    rejected: int = 0  # connections refused over max_connections
    handshake_timeouts: int = 0  # TLS connections dropped for not finishing the handshake in time
    handshake_failures: int = 0  # TLS handshakes that failed (bad certificate, not TLS, peer gone)
    paused: int = 0  # times a connection stopped reading because the sink was full

    def snapshot(self) -> dict[str, int]:
        """A copy for tests and status output."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


# (attribute, metric name, help) of the counters; _GAUGES below are the others.
_COUNTERS = (
    ("received", "vigie_syslog_received", "Syslog messages received"),
    ("produced", "vigie_syslog_produced", "Syslog messages queued to raw.syslog"),
    ("dead_lettered", "vigie_syslog_dead_lettered", "Records queued to the dead-letter topic"),
    (
        "dropped",
        "vigie_syslog_dropped",
        "Syslog messages lost (UDP over the sink budget, backlog at shutdown)",
    ),
    ("bytes", "vigie_syslog_received_bytes", "Bytes read from the network"),
    ("truncated", "vigie_syslog_truncated", "Syslog messages cut to max_message_size"),
    ("errors", "vigie_syslog_errors", "Exceptions caught while handling input"),
    (
        "rejected",
        "vigie_syslog_connections_rejected",
        "Connections refused over max_connections (open connections and TLS handshakes count)",
    ),
    (
        "handshake_timeouts",
        "vigie_syslog_tls_handshake_timeouts",
        "TLS connections dropped for not finishing the handshake within handshake_timeout",
    ),
    ("handshake_failures", "vigie_syslog_tls_handshake_failures", "TLS handshakes that failed"),
    (
        "paused",
        "vigie_syslog_backpressure_pauses",
        "Times a connection stopped reading because the sink was full",
    ),
)
_GAUGES = (
    ("connections", "vigie_syslog_connections", "Open TCP/TLS syslog connections"),
    (
        "handshakes",
        "vigie_syslog_tls_handshakes",
        "TLS handshakes in progress (they count against max_connections)",
    ),
)
_LABELS = ["listener", "transport"]


class SyslogMetrics(Collector):
    """One collector for all syslog listeners, registered once (duplicate metric names would be refused)."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._stats: dict[tuple[str, str], ListenerStats] = {}
        self._lock = threading.Lock()
        # Kernel drops of the UDP sockets (vigie_udp_receive_drops_total), shared with other UDP intakes.
        self.udp_drops: UdpDropCounters = udp_drop_counters(registry)
        if registry is not None:
            registry.register(self)

    def stats(self, listener: str, transport: str) -> ListenerStats:
        """The counters of one listener (created on first use, shared when names repeat)."""
        key = (listener, transport)
        with self._lock:
            found = self._stats.get(key)
            if found is None:
                found = self._stats[key] = ListenerStats()
            return found

    def _families(self) -> tuple[list[CounterMetricFamily], list[GaugeMetricFamily]]:
        counters = [CounterMetricFamily(name, doc, labels=_LABELS) for _, name, doc in _COUNTERS]
        gauges = [GaugeMetricFamily(name, doc, labels=_LABELS) for _, name, doc in _GAUGES]
        return counters, gauges

    def describe(self) -> Iterator[Metric]:
        counters, gauges = self._families()
        yield from counters
        yield from gauges

    def collect(self) -> Iterator[Metric]:
        counters, gauges = self._families()
        with self._lock:
            items = list(self._stats.items())
        for labels, stats in items:
            for family, (attr, _, _) in zip(counters, _COUNTERS, strict=True):
                family.add_metric(list(labels), getattr(stats, attr))
            for gauge, (attr, _, _) in zip(gauges, _GAUGES, strict=True):
                gauge.add_metric(list(labels), getattr(stats, attr))
        yield from counters
        yield from gauges


_default: SyslogMetrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> SyslogMetrics:
    """The process-wide collector in prometheus_client's default registry (registered on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SyslogMetrics(REGISTRY)
        return _default
