"""The registry of services `vigie up` supervises: each factory reads the config and returns (name, run) pairs.

Following the data: intake services (syslog, SNMP, checks) write to the raw topics through the
runtime's one producer; the archive sink and the pipelines consume from them.
"""

from __future__ import annotations

import asyncio

from vigie.app.runtime import Run, Runtime, ServiceFactory
from vigie.config import build, secret


def check_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The HTTP intake for passive results (NRDP, external commands) and the active plugin runner."""
    from vigie.producers.checks.http_intake import CheckIntake
    from vigie.producers.checks.runner import PLUGIN_DIRS, CheckRunner, ServiceDef
    from vigie.stage_metrics import CheckMetrics

    cfg = rt.cfg.checks
    out: list[tuple[str, Run]] = []
    if cfg.http_enabled:
        token = secret(cfg.token_env, "checks.token_env")
        host, port = cfg.http_listen

        async def run_intake(stop: asyncio.Event) -> None:
            intake = CheckIntake(rt.sink, token=token, host=host, port=port, registry=rt.registry,
                                 max_body=cfg.max_body_bytes)
            await intake.start()
            try:
                await stop.wait()
            finally:
                await intake.stop()

        out.append(("checks-http", run_intake))
    hosts = rt.cfg.inventory.hosts
    defs = [
        build(ServiceDef, s, service=s.name, address=hosts[s.host].address,
              command=s.command if isinstance(s.command, str) else tuple(s.command))
        for s in rt.cfg.inventory.services
    ]
    if cfg.active_enabled and defs:
        dirs = (cfg.plugin_dir, *PLUGIN_DIRS)
        metrics = CheckMetrics(rt.registry)  # once: a restarted runner keeps counting in the same series

        async def run_runner(stop: asyncio.Event) -> None:
            runner = CheckRunner(rt.sink, defs, concurrency=cfg.concurrency, plugin_dirs=dirs, metrics=metrics)
            task = asyncio.create_task(runner.run())
            await stop.wait()
            runner.stop()
            await task

        out.append(("checks-active", run_runner))
    return out


def syslog_services(rt: Runtime) -> list[tuple[str, Run]]:
    """One listener per [[syslog.listeners]] entry, all sharing one metrics collector."""
    from vigie.producers.syslog.listeners import ListenerSettings, make_listener
    from vigie.producers.syslog.metrics import SyslogMetrics

    cfg = rt.cfg.syslog
    if not cfg.enabled:
        return []
    metrics = SyslogMetrics(rt.registry)
    out: list[tuple[str, Run]] = []
    for lst in cfg.listeners:
        host, port = lst.listen
        settings = build(ListenerSettings, lst, host=host, port=port)
        listener = make_listener(settings, rt.sink, metrics)
        out.append((f"syslog-{settings.name}", listener.run))
    return out


def snmp_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The SNMP trap and INFORM receiver (v1, v2c, v3 USM)."""
    from vigie.producers.snmp.receiver import run_trap_receiver
    from vigie.producers.snmp.settings import TrapSettings

    cfg = rt.cfg.snmp
    if not cfg.enabled:
        return []
    settings = TrapSettings.from_config(cfg)

    async def run(stop: asyncio.Event) -> None:
        await run_trap_receiver(settings, rt.sink, rt.registry, stop)

    return [("snmp-traps", run)]


def notify_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The notifier (`vigie service notify`, a child process) when a route has a webhook or receivers.

    The channels are built here once so that a missing secret stops `vigie up` with one line
    instead of crashing the child at every restart.
    """
    from vigie.pipelines.notify.channels import route_settings

    routes = route_settings(rt.cfg)
    return _children(rt, "notify", bool(routes), 1)


def subprocess_service(rt: Runtime, name: str, grace: float = 30.0, instance: int = 0) -> Run:
    """Run `vigie service NAME` as a child process (its own core and GIL); SIGTERM on stop.

    The child re-reads the same config file (secrets from the inherited environment, never argv)
    and the broker address `vigie up` settled on. An exit before stop is a crash: the supervisor
    restarts it with back-off.
    """
    import signal
    import sys

    from vigie.metrics import child_metrics_env, child_metrics_exited

    async def run(stop: asyncio.Event) -> None:
        argv = [sys.executable, "-m", "vigie.app.cli", "service", name, "--bootstrap", rt.settings.bootstrap_servers,
                "--instance", str(instance)]
        if rt.config_path:
            argv += ["--config", str(rt.config_path)]
        ident = f"{name}-{instance}"
        proc = await asyncio.create_subprocess_exec(*argv, env=child_metrics_env(rt.cfg.state_dir, ident),
                                                    start_new_session=True)
        rt.children[ident] = proc.pid
        waiter = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(proc.wait())
        exited.add_done_callback(lambda _: child_metrics_exited(rt.cfg.state_dir, ident))
        await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not exited.done():
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(exited, grace)
            except TimeoutError:
                proc.kill()
                await exited
            return
        waiter.cancel()
        raise RuntimeError(f"{name} exited with code {proc.returncode}")

    return run


def archive_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The archive sink ([archive] processes, each a child process in one consumer group; the first
    also runs the daily retention job)."""
    return _children(rt, "archive", rt.cfg.archive.enabled, rt.cfg.archive.processes)


def pipeline_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The normalize + correlate workers ([pipelines] workers), each a child process in one consumer group."""
    return _children(rt, "pipelines", rt.cfg.pipelines.enabled, rt.cfg.pipelines.workers)


def _children(rt: Runtime, name: str, enabled: bool, n: int) -> list[tuple[str, Run]]:
    """n child processes of one service (named NAME-i when there are several), none when disabled."""
    if not enabled:
        return []
    return [(f"{name}-{i}" if n > 1 else name, subprocess_service(rt, name, instance=i)) for i in range(n)]


FACTORIES: list[ServiceFactory] = [syslog_services, snmp_services, check_services, pipeline_services, archive_services,
                                   notify_services]
"""The services that exist; each factory decides from the config whether its service runs."""
