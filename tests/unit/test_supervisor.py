"""The supervisor restarts crashed services with back-off and stops all of them on request."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from vigie.supervisor import ServiceFailed, Supervisor


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


def test_a_service_crashing_past_its_start_limit_stops_everything_with_one_line() -> None:
    """systemd's StartLimitBurst: the 3rd crash within the interval ends the run, naming service and cause."""
    steady_stopped: list[bool] = []

    async def broken(stop: asyncio.Event) -> None:
        raise OSError("[Errno 98] address already in use")

    async def steady(stop: asyncio.Event) -> None:
        await stop.wait()
        steady_stopped.append(True)

    async def main() -> Supervisor:
        sup = Supervisor(CollectorRegistry(), min_backoff=0.01, max_backoff=0.02, start_limit_burst=3,
                         start_limit_interval=60.0)
        sup.add("syslog-udp", broken)
        sup.add("steady", steady)
        with pytest.raises(ServiceFailed) as failed:
            await asyncio.wait_for(sup.run(), 10)
        assert str(failed.value) == ("service syslog-udp failed 3 times within 60 s "
                                     "(last: OSError: [Errno 98] address already in use); stopping")
        return sup

    sup = asyncio.run(main())
    broken_svc, steady_svc = sup.services
    assert broken_svc.state == "failed" and broken_svc.restarts == 2
    assert steady_svc.state == "stopped" and steady_stopped == [True]


def test_crashes_spread_beyond_the_interval_are_restarted_forever() -> None:
    """Only crashes within the interval count: with an interval shorter than the back-off, none accumulate."""
    calls: list[int] = []

    async def flaky(stop: asyncio.Event) -> None:
        calls.append(1)
        raise RuntimeError("boom")

    async def main() -> Supervisor:
        sup = Supervisor(CollectorRegistry(), min_backoff=0.02, max_backoff=0.02, start_limit_burst=2,
                         start_limit_interval=0.001)
        sup.add("flaky", flaky)
        runner = asyncio.create_task(sup.run())
        while len(calls) < 6:
            await asyncio.sleep(0.01)
        sup.stop()
        await runner  # no ServiceFailed
        return sup

    sup = asyncio.run(main())
    assert sup.failed is None and sup.services[0].restarts >= 5


def test_started_waits_for_services_that_say_ready_and_a_failure_before_ready_stops_at_once() -> None:
    from vigie.supervisor import SignalsReady

    async def binds_later(stop: asyncio.Event, ready) -> None:
        await asyncio.sleep(0.05)
        ready()
        await stop.wait()

    async def cannot_bind(stop: asyncio.Event, ready) -> None:
        raise OSError(98, "address already in use")

    async def main(second) -> tuple[bool, Supervisor]:
        sup = Supervisor(CollectorRegistry(), min_backoff=0.01)
        sup.add("plain", lambda stop: stop.wait())
        sup.add("listener", SignalsReady(binds_later))
        if second:
            sup.add("taken", SignalsReady(second))
        sup.start()
        started = await sup.wait_started(5)
        assert sup.services[1].started.is_set() or not started
        sup.stop()
        try:
            await sup.run()
        except ServiceFailed:
            pass
        return started, sup

    started, sup = asyncio.run(main(None))
    assert started and sup.failed is None
    started, sup = asyncio.run(main(cannot_bind))
    assert not started
    assert sup.failed == "service taken could not start: OSError: [Errno 98] address already in use"
    assert sup.services[2].restarts == 0  # not retried: a port in use does not heal


def test_a_service_that_never_says_ready_is_named_after_the_timeout() -> None:
    from vigie.supervisor import SignalsReady

    async def silent(stop: asyncio.Event, ready) -> None:
        await stop.wait()

    async def main() -> Supervisor:
        sup = Supervisor(CollectorRegistry())
        sup.add("archive", SignalsReady(silent))
        sup.start()
        assert not await sup.wait_started(0.05)
        with pytest.raises(ServiceFailed, match="service archive did not start within 0 s"):
            await sup.run()
        return sup

    asyncio.run(main())
