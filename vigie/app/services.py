"""The registry of services `vigie up` supervises: each factory reads the config and returns (name, run) pairs.

Following the data: intake services (syslog, SNMP, checks) write to the raw topics through the
runtime's one producer; the archive sink and the pipelines consume from them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vigie import broker_auth
from vigie.app.runtime import Run, Runtime, ServiceFactory
from vigie.config import Config, ConfigError, HostConfig, InventoryConfig, ServiceConfig, build, secret
from vigie.supervisor import SignalsReady

if TYPE_CHECKING:
    from vigie.producers.checks.runner import ServiceDef


def _intake_token(cfg: Config) -> str:
    try:
        return secret(cfg.checks.token_env, "checks.token_env")
    except ConfigError as exc:
        raise ConfigError(f"service checks-http: {exc}") from None


def _check_snmp_keys(cfg: Config) -> None:
    from vigie.producers.snmp.settings import TrapSettings

    for user in TrapSettings.from_config(cfg.snmp).v3_users:
        try:
            user.keys()
        except ValueError as exc:
            raise ConfigError(f"service snmp-traps: {exc}") from None


def check_secrets(cfg: Config) -> None:
    """Read every secret the configured services need, before `vigie up` starts anything (a broker, a listener):
    raises ConfigError naming the service and the variable. Kafka's own are read by kafka_settings."""
    if cfg.checks.http_enabled:
        _intake_token(cfg)
    if cfg.snmp.enabled:
        _check_snmp_keys(cfg)
    if cfg.inventory.pollers:
        _check_poller_secrets(cfg)


def _check_poller_secrets(cfg: Config) -> None:
    from vigie.producers.snmp.poller import Poller
    from vigie.sink import MemorySink

    try:
        Poller(MemorySink(), cfg).check_secrets()
    except ValueError as exc:
        raise ConfigError(f"service snmp-poller: {exc}") from None


def check_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The HTTP intake for passive results (NRDP, external commands) and the active plugin runner."""
    from vigie.producers.checks.http_intake import CheckIntake
    from vigie.producers.checks.runner import PLUGIN_DIRS, CheckRunner
    from vigie.stage_metrics import CheckMetrics

    cfg = rt.cfg.checks
    out: list[tuple[str, Run]] = []
    if cfg.http_enabled:
        token = _intake_token(rt.cfg)
        host, port = cfg.http_listen

        async def run_intake(stop: asyncio.Event, ready: Callable[[], None]) -> None:
            intake = CheckIntake(rt.sink, token=token, host=host, port=port, registry=rt.registry,
                                 max_body=cfg.max_body_bytes, auth_max_failures=cfg.auth_max_failures,
                                 auth_window=cfg.auth_window, auth_max_addresses=cfg.auth_max_addresses)
            await intake.start()
            ready()
            try:
                await stop.wait()
            finally:
                await intake.stop()

        out.append(("checks-http", SignalsReady(run_intake)))
    defs = host_check_defs(rt.cfg.inventory, rt.cfg.correlation.max_check_attempts) + service_defs(rt.cfg.inventory)
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


def poller_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The SNMP poller ([[inventory.pollers]]), in `vigie up`'s process: a few GETs a second at most."""
    from vigie.producers.snmp.poller import Poller
    from vigie.stage_metrics import PollMetrics

    if not rt.cfg.inventory.pollers:
        return []
    metrics = PollMetrics(rt.registry)  # once: a restarted poller keeps counting in the same series

    async def run(stop: asyncio.Event) -> None:
        poller = Poller(rt.sink, rt.cfg, metrics=metrics)
        task = asyncio.create_task(poller.run())
        await stop.wait()
        poller.stop()
        await task

    return [("snmp-poller", run)]


def nsca_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The NSCA listener for send_nsca ([nsca])."""
    from vigie.producers.checks.http_intake import intake_metrics
    from vigie.producers.checks.nsca import METHOD_BY_NAME, NscaListener, NscaSettings

    cfg = rt.cfg.nsca
    if not cfg.enabled:
        return []
    password = secret(cfg.password_env, "nsca.password_env") or ""
    host, port = cfg.listen
    settings = build(NscaSettings, cfg, host=host, port=port, password=password.encode(),
                     method=METHOD_BY_NAME[cfg.encryption])
    listener = NscaListener(rt.sink, settings, intake_metrics(rt.registry))
    return [("checks-nsca", listener.run)]


def _host_macros(name: str, host: HostConfig) -> dict[str, str]:
    """The host's own macros for its checks: custom variables as $_HOSTX$, its description as $HOSTALIAS$."""
    return {"HOSTALIAS": host.description or name, **{f"_HOST{k.upper()}": v for k, v in host.vars.items()}}


def service_def(inventory: InventoryConfig, s: ServiceConfig, **extra: Any) -> ServiceDef:
    """The runner's check for one resolved service (services on a host group are already one per host), with
    the host's macros; extra overrides fields."""
    from vigie.producers.checks.runner import ServiceDef

    host = inventory.hosts[s.host]
    return build(ServiceDef, s, service=s.name, address=host.address,
                 command=s.command if isinstance(s.command, str) else tuple(s.command),
                 macros=_host_macros(s.host, host), **extra)


def service_defs(inventory: InventoryConfig) -> list[ServiceDef]:
    """The checks the runner runs: the active services."""
    return [service_def(inventory, s) for s in inventory.services if s.active]


def host_check_def(name: str, host: HostConfig, default_max_check_attempts: int) -> ServiceDef:
    """The runner's host check of one resolved host (with a `command`): Nagios' host defaults, 5m and 1m, when
    the host names no interval; its max_check_attempts, else `[correlation]`'s, which the correlator uses too."""
    from vigie.producers.checks.runner import ServiceDef

    command = host.command or ""  # none: ServiceDef refuses it in one line
    return ServiceDef(host=name, service=None, address=host.address,
                      command=command if isinstance(command, str) else tuple(command),
                      check_interval=host.check_interval or 300.0, retry_interval=host.retry_interval or 60.0,
                      max_check_attempts=host.max_check_attempts or default_max_check_attempts,
                      macros=_host_macros(name, host))


def host_check_defs(inventory: InventoryConfig, default_max_check_attempts: int) -> list[ServiceDef]:
    """The host checks the runner runs: hosts with a `command`."""
    return [host_check_def(name, h, default_max_check_attempts)
            for name, h in sorted(inventory.hosts.items()) if h.command is not None]


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
        out.append((f"syslog-{settings.name}", SignalsReady(listener.run)))
    return out


def snmp_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The SNMP trap and INFORM receiver (v1, v2c, v3 USM)."""
    from vigie.producers.snmp.receiver import run_trap_receiver
    from vigie.producers.snmp.settings import TrapSettings

    cfg = rt.cfg.snmp
    if not cfg.enabled:
        return []
    settings = TrapSettings.from_config(cfg)
    _check_snmp_keys(rt.cfg)

    async def run(stop: asyncio.Event, ready: Callable[[], None]) -> None:
        await run_trap_receiver(settings, rt.sink, rt.registry, stop, ready)

    return [("snmp-traps", SignalsReady(run))]


def notify_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The notifier (`vigie service notify`, a child process) when a route has a webhook or receivers.

    The channels are built here once so that a missing secret stops `vigie up` with one line
    instead of crashing the child at every restart.
    """
    from vigie.pipelines.notify.channels import route_settings

    routes = route_settings(rt.cfg)
    return _children(rt, "notify", bool(routes), 1)


def console_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The operator console (`vigie service console`, a child process) unless `[console] enabled = false`."""
    return _children(rt, "console", rt.cfg.console.enabled, 1)


def actions_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The guarded actions (`vigie service actions`, a child process) when `[[actions]]` are configured."""
    return _children(rt, "actions", bool(rt.cfg.actions), 1)


def subprocess_service(rt: Runtime, name: str, grace: float = 30.0, instance: int = 0) -> SignalsReady:
    """Run `vigie service NAME` as a child process (its own core and GIL); SIGTERM on stop.

    The child re-reads the same config file and the broker address `vigie up` settled on. Its
    environment is an allow-list (child_env): the secrets of Kafka and of its own tables, no other; on the
    local broker with authentication, its own principal's credentials (never on its command line).
    It says it has started (its consumers joined their groups) by writing "ready" on a pipe whose
    write end it inherits (VIGIE_READY_FD). A pipe rather than a file or a signal: its end of file
    also tells when the child died before being ready, nothing is left to clean up or to be mistaken
    for the previous child's, and the parent waits without polling. An exit before stop is a crash:
    the supervisor restarts it with back-off.
    """
    import signal
    import sys

    from vigie.app.child_env import child_credentials, child_environment, child_sections, secret_env_names
    from vigie.app.service_cli import READY_FD_ENV
    from vigie.metrics import child_metrics_env, child_metrics_exited
    from vigie.stage_metrics import CHILD_ID_ENV, MULTIPROC_ENV

    every_secret = secret_env_names(rt.cfg) | {broker_auth.USERNAME_ENV, broker_auth.PASSWORD_ENV} | \
        {broker_auth.password_env(p) for p in broker_auth.PRINCIPALS}  # each child gets its own only
    its_secrets = set().union(*(secret_env_names(s) for s in child_sections(rt.cfg, name)))
    kafka_credentials = child_credentials(rt.passwords, name)

    async def run(stop: asyncio.Event, ready: Callable[[], None]) -> None:
        argv = [sys.executable, "-m", "vigie.app.cli", "service", name, "--bootstrap", rt.settings.bootstrap_servers,
                "--instance", str(instance)]
        if rt.config_path:
            argv += ["--config", str(rt.config_path)]
        ident = f"{name}-{instance}"
        metrics_env = child_metrics_env(rt.cfg.state_dir, ident)
        read_end, write_end = os.pipe()
        env = child_environment(os.environ, every_secret, its_secrets,
                                {MULTIPROC_ENV: metrics_env[MULTIPROC_ENV], CHILD_ID_ENV: metrics_env[CHILD_ID_ENV],
                                 READY_FD_ENV: str(write_end), **kafka_credentials})
        try:
            proc = await asyncio.create_subprocess_exec(*argv, env=env, pass_fds=(write_end,), start_new_session=True)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        rt.children[ident] = proc.pid
        announced = asyncio.create_task(_read_ready(read_end))
        announced.add_done_callback(lambda t: ready() if not t.cancelled() and t.result() else None)
        waiter = asyncio.create_task(stop.wait())
        exited = asyncio.create_task(proc.wait())
        exited.add_done_callback(lambda _: child_metrics_exited(rt.cfg.state_dir, ident))
        try:
            await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(exited, grace)
                except TimeoutError:
                    proc.kill()
                    await exited
                return
        finally:
            waiter.cancel()
            if not announced.done():
                announced.cancel()
        when = "" if announced.done() and not announced.cancelled() and announced.result() else \
            " before joining its consumer group"
        raise RuntimeError(f"{name} exited with code {proc.returncode}{when}")

    return SignalsReady(run)


async def _read_ready(fd: int) -> bool:
    """True when the child wrote "ready" on the pipe, False at end of file (it exited, or closed it unready)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    try:
        return await reader.readline() == b"ready\n"
    finally:
        transport.close()


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


FACTORIES: list[ServiceFactory] = [syslog_services, snmp_services, poller_services, check_services, nsca_services,
                                   pipeline_services,
                                   archive_services, notify_services, console_services, actions_services]
"""The services that exist; each factory decides from the config whether its service runs."""
