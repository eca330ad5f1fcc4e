"""`vigie up`: the main job on one machine — local broker if needed, topics, services, metrics, clean stop."""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from vigie.app.runtime import Runtime
from vigie.app.services import FACTORIES
from vigie.config import Config, kafka_settings
from vigie.local_broker import LocalBroker
from vigie.supervisor import Supervisor
from vigie.topic_admin import ensure_topics
from vigie.topics import default_specs

log = logging.getLogger("vigie.up")


class AlreadyRunning(RuntimeError):
    """Another `vigie up` holds the state folder's lock."""


class StateLock:
    """An exclusive flock on <state>/vigie.lock: one `vigie up` per state folder; released by the kernel on death."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "vigie.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(f"vigie up is already running on state folder {self.path.parent} (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def run_up(cfg: Config, *, config_path: str | None = None,
           ready: Callable[[float], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    t0 = time.monotonic()
    state = Path(cfg.state_dir)
    lock = StateLock(state)
    lock.acquire()
    broker: LocalBroker | None = None
    runtime: Runtime | None = None
    httpd = None
    try:
        bootstrap = cfg.kafka.bootstrap_servers
        if not bootstrap:
            host, port = cfg.kafka.local_listen
            broker = LocalBroker(state, port=port, host=host, heap=cfg.kafka.local_heap)
            log.info("starting the local Kafka broker on %s:%d", host, port)
            broker.start()
            bootstrap = broker.bootstrap
        settings = kafka_settings(cfg, bootstrap)
        specs = default_specs(cfg.kafka.partitions, max(1, int(cfg.kafka.raw_retention // 86400)))
        created = ensure_topics(settings, specs)
        if created:
            log.info("created topics: %s", ", ".join(created))
        registry = CollectorRegistry(auto_describe=True)
        Gauge("vigie_up", "1 while vigie up runs", registry=registry).set(1)
        startup = Gauge("vigie_startup_seconds", "Time from start to ready", registry=registry)
        runtime = Runtime(cfg, settings, registry, config_path)
        from vigie.app.up_metrics import register_up_metrics
        from vigie.metrics import ConsumerLagCollector

        registry.register(ConsumerLagCollector(settings))  # the child stages' progress, seen at the broker
        register_up_metrics(registry, cfg)  # build info, the children's metric files, the archive's age
        sup = Supervisor(registry)
        for factory in FACTORIES:
            for name, run in factory(runtime):
                sup.add(name, run)
        if cfg.metrics.enabled:
            host, port = cfg.metrics.listen
            httpd, _ = start_http_server(port, addr=host, registry=registry)
            log.info("metrics on http://%s:%d/metrics", host, port)
        elapsed = time.monotonic() - t0
        startup.set(elapsed)
        log.info("vigie up: ready in %.2f s with services: %s", elapsed,
                 ", ".join(s.name for s in sup.services) or "(none configured)")
        if ready:
            ready(elapsed)
        asyncio.run(_serve(sup))
        log.info("vigie up: stopped cleanly")
        return 0
    finally:
        if runtime is not None:
            runtime.close()
        if httpd is not None:
            httpd.shutdown()
        if broker is not None:
            log.info("stopping the local Kafka broker")
            broker.stop()
        lock.release()


async def _serve(sup: Supervisor) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, sup.stop)
    await sup.run()
