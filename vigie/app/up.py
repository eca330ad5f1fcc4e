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

from vigie import broker_auth
from vigie.acl_admin import ensure_acls
from vigie.app.runtime import Runtime
from vigie.app.services import FACTORIES, check_secrets
from vigie.config import Config, kafka_settings
from vigie.kafka_client import BrokerUnreachable, KafkaError, KafkaException, require_broker
from vigie.local_broker import BrokerError, LocalBroker, local_broker
from vigie.supervisor import ServiceFailed, Supervisor
from vigie.topic_admin import TopicDriftError, ensure_topics
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


class UpFailed(RuntimeError):
    """`vigie up` could not start, or stopped because a service failed; the message is the one line to print."""


READY_TIMEOUT = 120.0  # seconds for every service to start; a pipelines worker replays its state topics first


def run_up(cfg: Config, *, config_path: str | None = None,
           ready: Callable[[float], None] | None = None) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code, raises UpFailed with the one line saying why not.

    Ready means ready: every secret is read before a broker is started, and `vigie up` says ready
    only when every listener is bound and every child's consumer has joined its group.
    """
    t0 = time.monotonic()
    state = Path(cfg.state_dir)
    lock = StateLock(state)
    lock.acquire()
    broker: LocalBroker | None = None
    broker_started = False
    runtime: Runtime | None = None
    httpd = None
    try:
        check_secrets(cfg)  # the services' secrets, before anything is started or written (a broker, credentials)
        bootstrap = cfg.kafka.bootstrap_servers
        passwords: dict[str, str] = {}  # each service its own principal: the local broker's, or a cluster's
        if not bootstrap:
            broker = local_broker(cfg)
            bootstrap = broker.bootstrap
            if broker.sasl:  # generated at the first start (0600)
                passwords = broker_auth.service_passwords(state)
        elif cfg.kafka.sasl_service_users:
            passwords = broker_auth.service_passwords(None)
        settings = kafka_settings(cfg, bootstrap, broker_auth.INTAKE)  # Kafka's secrets (the intake's producer),
        # also before a broker is started or asked
        admin_settings = kafka_settings(cfg, bootstrap, broker_auth.ADMIN)  # topics, ACLs, consumer lag
        if broker is None:  # before any client exists: one line, not a client's reconnect attempts
            try:
                require_broker(settings)
            except BrokerUnreachable as exc:
                raise UpFailed(str(exc)) from None
        if broker is not None:
            log.info("starting the local Kafka broker on %s", broker.bootstrap)
            broker_started = True
            try:
                broker.start()
            except BrokerError as exc:
                raise UpFailed(f"service kafka-broker could not start: {exc}") from None
        specs = default_specs(cfg.kafka.partitions, max(1, int(cfg.kafka.raw_retention // 86400)))
        try:
            created = ensure_topics(admin_settings, specs)
            if passwords:
                ensure_acls(admin_settings, broker_auth.acl_specs(cfg.kafka.topic_prefix, tuple(cfg.archive.topics)))
        except TopicDriftError as exc:
            raise UpFailed(f"topics differ from their declaration: {'; '.join(map(str, exc.drifts))}") from None
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            why = err.str() if isinstance(err, KafkaError) else str(exc)
            raise UpFailed(f"Kafka at {bootstrap} did not create the topics or their ACLs: {why}") from None
        if created:
            log.info("created topics: %s", ", ".join(created))
        registry = CollectorRegistry(auto_describe=True)
        Gauge("vigie_up", "1 while vigie up runs", registry=registry).set(1)
        startup = Gauge("vigie_startup_seconds", "Time from start to ready", registry=registry)
        runtime = Runtime(cfg, settings, registry, config_path, passwords)
        sup = Supervisor(registry)
        if broker is not None:  # supervised like the others: restarted when it dies (clients reconnect)
            sup.add("kafka-broker", broker.supervise)
        for factory in FACTORIES:
            for name, run in factory(runtime):
                sup.add(name, run)
        from vigie.app.up_metrics import register_up_metrics
        from vigie.metrics import ConsumerLagCollector

        registry.register(ConsumerLagCollector(admin_settings))  # the child stages' progress, seen at the broker
        register_up_metrics(registry, cfg)  # build info, the children's metric files, the archive's age
        if cfg.metrics.enabled:
            host, port = cfg.metrics.listen
            try:
                httpd, _ = start_http_server(port, addr=host, registry=registry)
            except OSError as exc:
                raise UpFailed(f"metrics listener {host}:{port} could not start: {exc.strerror or exc}") from None
            log.info("metrics on http://%s:%d/metrics", host, port)

        def on_ready() -> None:
            elapsed = time.monotonic() - t0
            startup.set(elapsed)
            log.info("vigie up: ready in %.2f s with services: %s", elapsed,
                     ", ".join(s.name for s in sup.services) or "(none configured)")
            if ready:
                ready(elapsed)

        try:
            asyncio.run(_serve(sup, on_ready))
        except ServiceFailed as exc:
            raise UpFailed(str(exc)) from None
        log.info("vigie up: stopped cleanly")
        return 0
    finally:
        if runtime is not None:
            runtime.close()
        if httpd is not None:
            httpd.shutdown()
        if broker is not None and broker_started:
            log.info("stopping the local Kafka broker")
            broker.stop()
        lock.release()


async def _serve(sup: Supervisor, on_ready: Callable[[], None]) -> None:
    """Start the services, say ready once they all have, run until a signal; raises ServiceFailed."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, sup.stop)
    sup.start()
    if await sup.wait_started(READY_TIMEOUT):
        on_ready()
    await sup.run()
