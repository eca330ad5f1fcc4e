"""Runs Vigie's services in one process, restarting a crashed one with exponential back-off."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger("vigie.supervisor")

ServiceRun = Callable[[asyncio.Event], Awaitable[None]]
ReadyCallback = Callable[[], None]


@dataclass(frozen=True)
class SignalsReady:
    """A service run that says itself when it has started: `run(stop, ready)` calls ready() once its listener is
    bound or its consumer has joined its group. A plain run(stop) counts as started as soon as it is called."""

    run: Callable[[asyncio.Event, ReadyCallback], Awaitable[None]]


@dataclass
class Service:
    """One long-running part of Vigie: `run(stop)` returns when stop is set; raising or returning early is a crash."""

    name: str
    run: ServiceRun | SignalsReady
    restarts: int = 0
    state: str = "new"
    last_error: str | None = None
    task: asyncio.Task | None = field(default=None, repr=False)
    started: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # set at its first ready()


class ServiceFailed(RuntimeError):
    """A service crashed more often than its start limit allows; the message is the one line to print."""


class Supervisor:
    """Starts every service, restarts the ones that fail (1 s doubling to 60 s, with jitter) and stops them all.

    A service that crashes `start_limit_burst` times within `start_limit_interval` seconds stops everything
    (systemd's StartLimitBurst/StartLimitIntervalSec): restarting it forever would hide a broken install
    behind a process that looks alive. `run()` then raises ServiceFailed naming the service and its cause.
    With the default back-off (1, 2, 4, 8 s …) five crashes take about 15 s, well inside 5 minutes.

    Start-up (`start()` then `wait_started()`) is stricter: a service that fails before it has ever said
    it started stops everything at once (a port in use or a missing file does not heal by retrying), so
    `vigie up` reports ready only when every service is.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, min_backoff: float = 1.0,
                 max_backoff: float = 60.0, stable_after: float = 60.0, start_limit_burst: int = 5,
                 start_limit_interval: float = 300.0) -> None:
        self.services: list[Service] = []
        self.stop_event = asyncio.Event()
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.stable_after = stable_after
        self.start_limit_burst = start_limit_burst
        self.start_limit_interval = start_limit_interval
        self.failed: str | None = None  # the one line saying which service gave up and why
        self._restarts = Counter("vigie_service_restarts", "Service restarts after a crash", ["service"],
                                 registry=registry)
        self._up = Gauge("vigie_service_up", "1 while a service runs", ["service"], registry=registry)

    def add(self, name: str, run: ServiceRun | SignalsReady) -> None:
        self.services.append(Service(name, run))

    async def _run_once(self, svc: Service) -> None:
        def ready() -> None:
            if not svc.started.is_set():
                log.debug("service %s started", svc.name)
            svc.started.set()

        if isinstance(svc.run, SignalsReady):
            await svc.run.run(self.stop_event, ready)
        else:
            ready()
            await svc.run(self.stop_event)

    async def _keep(self, svc: Service) -> None:
        backoff = self.min_backoff
        loop = asyncio.get_running_loop()
        crashes: deque[float] = deque()  # loop times of the recent crashes, for the start limit
        while not self.stop_event.is_set():
            started = loop.time()
            svc.state = "running"
            self._up.labels(svc.name).set(1)
            try:
                await self._run_once(svc)
                if self.stop_event.is_set():
                    break
                svc.last_error = "returned before shutdown"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a crash of one service must not stop the others
                svc.last_error = f"{type(exc).__name__}: {exc}"
                # one line; the traceback only with debug logging (vigie -v): the cause is in the message
                log.error("service %s crashed: %s", svc.name, svc.last_error)
                log.debug("service %s crash traceback", svc.name, exc_info=True)
            finally:
                self._up.labels(svc.name).set(0)
            if self.stop_event.is_set():
                break
            if not svc.started.is_set():
                svc.state = "failed"
                self.failed = self.failed or f"service {svc.name} could not start: {svc.last_error}"
                self.stop_event.set()
                return
            if loop.time() - started > self.stable_after:
                backoff = self.min_backoff
            crashes.append(loop.time())
            while crashes and crashes[0] < loop.time() - self.start_limit_interval:
                crashes.popleft()
            if len(crashes) >= self.start_limit_burst:
                svc.state = "failed"
                self.failed = self.failed or (
                    f"service {svc.name} failed {len(crashes)} times within {self.start_limit_interval:.0f} s "
                    f"(last: {svc.last_error}); stopping")
                log.error("%s", self.failed)
                self.stop_event.set()
                return
            svc.state = "backoff"
            svc.restarts += 1
            self._restarts.labels(svc.name).inc()
            delay = backoff * (0.8 + 0.4 * random.random())
            log.error("service %s stopped (%s); restart %d in %.1f s", svc.name, svc.last_error, svc.restarts, delay)
            try:
                await asyncio.wait_for(self.stop_event.wait(), delay)
            except TimeoutError:
                pass
            backoff = min(self.max_backoff, backoff * 2)
        svc.state = "stopped"

    def start(self) -> None:
        """Start every service's task (once); `wait_started()` then tells when they have all started."""
        for svc in self.services:
            if svc.task is None:
                svc.task = asyncio.create_task(self._keep(svc), name=svc.name)
                log.info("service %s starting", svc.name)

    async def wait_started(self, timeout: float) -> bool:
        """True once every service has said it started; False when one failed to start, when none of that
        happened within timeout (`failed` then says which did not start) or when the supervisor was stopped."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waits = {asyncio.create_task(s.started.wait()) for s in self.services if not s.started.is_set()}
        stopped = asyncio.create_task(self.stop_event.wait())
        try:
            while waits and not stopped.done() and loop.time() < deadline:
                _, waits = await asyncio.wait(waits | {stopped}, timeout=deadline - loop.time(),
                                              return_when=asyncio.FIRST_COMPLETED)
                waits.discard(stopped)
        finally:
            for task in (*waits, stopped):
                task.cancel()
        late = [s.name for s in self.services if not s.started.is_set()]
        if late and not self.stop_event.is_set():
            self.failed = f"service {', '.join(late)} did not start within {timeout:.0f} s"
            log.error("%s", self.failed)
            self.stop_event.set()
        return not late and not self.stop_event.is_set()

    async def run(self, shutdown_timeout: float = 30.0) -> None:
        """Run until stop_event is set, then give services shutdown_timeout to finish."""
        self.start()
        await self.stop_event.wait()
        tasks = [s.task for s in self.services if s.task]
        done, pending = await asyncio.wait(tasks, timeout=shutdown_timeout) if tasks else (set(), set())
        for task in pending:
            log.warning("service %s did not stop within %.0f s; cancelling", task.get_name(), shutdown_timeout)
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if self.failed:
            raise ServiceFailed(self.failed)

    def stop(self) -> None:
        self.stop_event.set()
