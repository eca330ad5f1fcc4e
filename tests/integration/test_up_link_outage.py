"""A link outage end to end through `vigie up`: a real `snmptrap` linkDown and a `logger`-sent %LINK-3-UPDOWN
line about the same interface reach a webhook as exactly one `new` message, and their recovery as exactly one
`resolved` (the trap and the line are one incident, and group_wait folds them into one message)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from aiohttp import web

from tests.integration.test_up_ready import Up
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import free_port
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SNMPTRAP, LOGGER = shutil.which("snmptrap"), shutil.which("logger")


class Webhook:
    """A local aiohttp server counting the Alertmanager payloads it receives, by Vigie's reason."""

    def __init__(self) -> None:
        self.reasons: list[str] = []
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.started = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        assert self.started.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/hook"

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.reasons.append(body["commonAnnotations"]["vigie_reason"])
        return web.Response(text="ok")

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/hook", self._receive)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.started.set()
        self.loop.run_forever()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def wait(self, reason: str, up: Up, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reason in self.reasons:
                return
            assert up.proc.poll() is None, "\n".join(up.lines)
            time.sleep(0.2)
        raise AssertionError(f"no {reason!r} message within {timeout} s (got {self.reasons}):\n" + "\n".join(up.lines[-40:]))


@pytest.mark.skipif(SNMPTRAP is None or LOGGER is None, reason="snmptrap (Debian: snmp) or logger (bsdutils) missing")
def test_a_trap_and_a_syslog_line_about_one_link_are_one_message_then_one_resolved(
    broker: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIBS", "")
    monkeypatch.setenv("SNMP_PERSISTENT_DIR", str(tmp_path / "snmp"))
    hook = Webhook()
    syslog_port, trap_port, metrics_port = free_port(), free_port(), free_port()
    host = socket.gethostname()  # logger names this machine in its line; the trap comes from its address
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(broker, f"up{free_port()}.")}'
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        f'[[syslog.listeners]]\ntransport = "udp"\nlisten = "127.0.0.1:{syslog_port}"\n'
        f'[snmp]\nlisten = "127.0.0.1:{trap_port}"\n'
        '[archive]\nenabled = false\n[checks]\nactive_enabled = false\n'
        f'[inventory.hosts."{host}"]\nsite = "mairie"\naddress = "127.0.0.1"\n'
        f'[[routes]]\nname = "oncall"\nwebhook = "{hook.url}"\ngroup_wait = "1s"\ngroup_interval = "3s"\n'
    )
    up = Up(conf)

    def link(up_: bool) -> None:
        trap = [SNMPTRAP, "-v", "2c", "-c", "public", f"udp:127.0.0.1:{trap_port}", "", LINK_UP if up_ else LINK_DOWN,
                "1.3.6.1.2.1.2.2.1.1.1", "i", "1", "1.3.6.1.2.1.31.1.1.1.1.1", "s", "Gi0/1"]
        line = [LOGGER, "--udp", "--rfc5424", "--server", "127.0.0.1", "--port", str(syslog_port), "-p", "local7.err",
                f"%LINK-3-UPDOWN: Interface Gi0/1, changed state to {'up' if up_ else 'down'}"]
        for cmd in (trap, line):
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            assert proc.returncode == 0, proc.stderr

    try:
        up.wait_line("vigie up: ready in", 120)
        link(up_=False)
        hook.wait("new", up)
        time.sleep(5)  # past group_interval: nothing more is due for the outage
        assert hook.reasons == ["new"]
        link(up_=True)
        hook.wait("resolved", up)
        time.sleep(5)
        assert hook.reasons == ["new", "resolved"]
    finally:
        assert up.stop() == 0, "\n".join(up.lines[-40:])
        hook.close()
