"""The registry of services `vigie up` supervises: each factory reads the config and returns (name, run) pairs.

Following the data: intake services (syslog, SNMP, checks) write to the raw topics through the
runtime's one producer; the archive sink and the pipelines consume from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from vigie.config import secret

if TYPE_CHECKING:
    from vigie.up import Runtime

Run = Callable[[asyncio.Event], Awaitable[None]]


def check_services(rt: Runtime) -> list[tuple[str, Run]]:
    """The HTTP intake for passive results (NRDP, external commands) and the active plugin runner."""
    from vigie.producers.checks.http_intake import CheckIntake
    from vigie.producers.checks.runner import PLUGIN_DIRS, CheckRunner, ServiceDef

    cfg = rt.cfg["checks"]
    out: list[tuple[str, Run]] = []
    if cfg["http_enabled"]:
        token = secret(cfg["token_env"], "checks.token_env")
        host, port = cfg["http_listen"]

        async def run_intake(stop: asyncio.Event) -> None:
            intake = CheckIntake(rt.sink, token=token, host=host, port=port, registry=rt.registry,
                                 max_body=cfg["max_body_bytes"])
            await intake.start()
            try:
                await stop.wait()
            finally:
                await intake.stop()

        out.append(("checks-http", run_intake))
    hosts = rt.cfg["inventory"]["hosts"]
    defs = [
        ServiceDef(host=s["host"], service=s["name"], command=s["command"] if isinstance(s["command"], str)
                   else tuple(s["command"]), address=hosts[s["host"]]["address"], check_interval=s["check_interval"],
                   retry_interval=s["retry_interval"], max_check_attempts=s["max_check_attempts"], timeout=s["timeout"])
        for s in rt.cfg["inventory"]["services"]
    ]
    if cfg["active_enabled"] and defs:
        dirs = (cfg["plugin_dir"], *PLUGIN_DIRS)

        async def run_runner(stop: asyncio.Event) -> None:
            runner = CheckRunner(rt.sink, defs, concurrency=cfg["concurrency"], plugin_dirs=dirs)
            task = asyncio.create_task(runner.run())
            await stop.wait()
            runner.stop()
            await task

        out.append(("checks-active", run_runner))
    return out


FACTORIES: list[Callable[[Runtime], list[tuple[str, Any]]]] = [check_services]
