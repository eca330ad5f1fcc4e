"""What the services of one `vigie up` share (config, Kafka settings, the one producer, the metrics registry).

Its own module so that the service factories (services.py) and `vigie up` (up.py) both use it
without importing each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from vigie.config import Config
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.supervisor import SignalsReady

log = logging.getLogger("vigie.up")

# A service's run(stop); wrapped in SignalsReady when it says itself when it has started (bound, joined).
Run = Callable[[asyncio.Event], Awaitable[None]] | SignalsReady
# A service factory builds the async run(stop) of one part of Vigie from the config and shared resources.
ServiceFactory = Callable[["Runtime"], list[tuple[str, Run]]]


class Runtime:
    """What the services of one `vigie up` share: config, Kafka settings, the producer sink, the metrics registry."""

    def __init__(self, cfg: Config, settings: KafkaSettings, registry: CollectorRegistry,
                 config_path: str | None = None, passwords: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        # the local broker's principals' passwords (empty: an external cluster, or no authentication): a child
        # gets its own through its environment (services.subprocess_service)
        self.passwords = passwords or {}
        self.config_path = config_path
        self.children: dict[str, int] = {}
        self.settings = settings
        self.registry = registry
        self._sink: KafkaSink | None = None

    @property
    def sink(self) -> KafkaSink:
        """The one idempotent producer all intake services write through (created on first use)."""
        if self._sink is None:
            from vigie.metrics import SinkCollector, latency_observer

            self._sink = KafkaSink(self.settings, buffer_bytes=self.cfg.kafka.producer_buffer_mb << 20,
                                   on_delivered=latency_observer(self.registry))
            self.registry.register(SinkCollector(self._sink))
        return self._sink

    def close(self) -> None:
        if self._sink is not None:
            left = self._sink.close(timeout=30)
            if left:
                log.error("%d records were still undelivered at shutdown", left)
