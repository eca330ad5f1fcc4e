"""The supervisor restarts crashed services with back-off and stops all of them on request."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from vigie.supervisor import Supervisor


def test_crashed_service_is_restarted_and_counted() -> None:
    registry = CollectorRegistry()
    calls: list[int] = []

    async def flaky(stop: asyncio.Event) -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("boom")
        await stop.wait()

    async def steady(stop: asyncio.Event) -> None:
        await stop.wait()

    async def main() -> Supervisor:
        sup = Supervisor(registry, min_backoff=0.01, max_backoff=0.02)
        sup.add("flaky", flaky)
        sup.add("steady", steady)
        runner = asyncio.create_task(sup.run())
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        sup.stop()
        await runner
        return sup

    sup = asyncio.run(main())
    flaky_svc, steady_svc = sup.services
    assert flaky_svc.restarts == 2 and flaky_svc.last_error == "RuntimeError: boom"
    assert steady_svc.restarts == 0
    assert all(s.state == "stopped" for s in sup.services)
    assert registry.get_sample_value("vigie_service_restarts_total", {"service": "flaky"}) == 2
    assert registry.get_sample_value("vigie_service_up", {"service": "steady"}) == 0


def test_service_that_ignores_stop_is_cancelled() -> None:
    cancelled = []

    async def stubborn(stop: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        sup = Supervisor(CollectorRegistry())
        sup.add("stubborn", stubborn)
        runner = asyncio.create_task(sup.run(shutdown_timeout=0.05))
        await asyncio.sleep(0.01)
        sup.stop()
        await runner

    asyncio.run(main())
    assert cancelled == [True]
