"""Peer tests of check intake: real monitoring-plugins run by the runner, and curl posting to the HTTP intake."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigie.producers.checks.http_intake import CheckIntake
from vigie.producers.checks.runner import PLUGIN_DIRS, CheckRunner, ServiceDef, execute
from vigie.schemas.codec import dumps, loads
from vigie.sink import MemorySink
from vigie.topics import RAW_CHECKS

pytestmark = pytest.mark.peer

PLUGINS = next((Path(d) for d in PLUGIN_DIRS if (Path(d) / "check_dummy").exists()), None)
# Locally a missing peer skips; in CI (where scripts/setup installs it) it must fail instead.
IN_CI = bool(os.environ.get("CI"))
needs_plugins = pytest.mark.skipif(
    PLUGINS is None and not IN_CI,
    reason="monitoring-plugins not installed (apt-get install monitoring-plugins-basic monitoring-plugins-standard)",
)
needs_curl = pytest.mark.skipif(
    shutil.which("curl") is None and not IN_CI, reason="curl not installed (apt-get install curl)"
)
TOKEN = "peer-test-token"


def plugin(name: str) -> str:
    path = PLUGINS / name if PLUGINS else None
    if path is None or not path.exists():
        from tests.tools import require_tool

        return require_tool(f"{PLUGIN_DIRS[0]}/{name}")
    return str(path)


@pytest.fixture()
def listening_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake from the backlog)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoJitter(random.Random):
    """First checks due at once, so the test does not wait for the spread."""

    def uniform(self, a: float, b: float) -> float:
        return a


# -- the runner with real plugins ----------------------------------------------------------------------


@needs_plugins
@pytest.mark.parametrize(("code", "word"), [(0, "OK"), (1, "WARNING"), (2, "CRITICAL"), (3, "UNKNOWN")])
def test_check_dummy(code, word):
    plugin("check_dummy")
    sink = MemorySink()
    svc = ServiceDef(host="h", service="dummy", command=f"check_dummy {code} 'peer test'", timeout=10)
    value = asyncio.run(CheckRunner(sink, [svc]).check_once(svc))
    assert value["status"] == code
    assert value["output"] == f"{word}: peer test"
    assert value["source"] == "active" and value["duration"] >= 0
    assert loads(sink.on(RAW_CHECKS)[0].value) == value


@needs_plugins
def test_check_tcp_open_and_closed(listening_port):
    plugin("check_tcp")
    sink = MemorySink()
    services = [
        ServiceDef(
            host="local",
            service="tcp open",
            address="127.0.0.1",
            command="$USER1$/check_tcp -H $HOSTADDRESS$ -p $ARG1$",
            macros={"ARG1": str(listening_port)},
            timeout=10,
        ),
        ServiceDef(
            host="local",
            service="tcp closed",
            address="127.0.0.1",
            command=["check_tcp", "-H", "$HOSTADDRESS$", "-p", str(closed_port())],
            timeout=10,
        ),
    ]
    runner = CheckRunner(sink, services)

    async def both():
        return await asyncio.gather(*(runner.check_once(s) for s in services))

    open_, closed = asyncio.run(both())
    assert open_["status"] == 0, open_
    assert open_["output"].startswith("TCP OK")
    assert f"port {listening_port}" in open_["output"]
    (time_perf,) = open_["perfdata"]
    assert time_perf["label"] == "time" and time_perf["uom"] == "s" and time_perf["max"] == 10.0
    assert closed["status"] == 2, closed
    assert "Connection refused" in closed["output"]
    assert [r.key for r in sink.on(RAW_CHECKS)] == [b"local", b"local"]


@needs_plugins
def test_runner_schedules_real_plugins_until_stopped(listening_port):
    plugin("check_dummy")
    sink = MemorySink()
    services = [
        ServiceDef(
            host="a", service="ok", command="check_dummy 0 fine", check_interval=0.05, retry_interval=0.05
        ),
        ServiceDef(
            host="b",
            service="crit",
            command="check_dummy 2 broken",
            check_interval=60,
            retry_interval=0.05,
            max_check_attempts=3,
        ),
        ServiceDef(
            host="c", service="tcp", command=f"check_tcp -H 127.0.0.1 -p {listening_port}", check_interval=60
        ),
    ]
    runner = CheckRunner(sink, services, concurrency=2, rng=NoJitter())

    async def scenario():
        task = asyncio.create_task(runner.run())
        for _ in range(400):  # up to ~20 s on a loaded machine; usually well under a second
            hosts = [loads(r.value)["host"] for r in sink.on(RAW_CHECKS)]
            if hosts.count("a") >= 3 and hosts.count("b") >= 3 and "c" in hosts:
                break
            await asyncio.sleep(0.05)
        runner.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    values = [loads(r.value) for r in sink.on(RAW_CHECKS)]
    assert sum(v["host"] == "a" for v in values) >= 3
    crit = [v for v in values if v["host"] == "b"]
    assert len(crit) >= 3 and all(v["status"] == 2 for v in crit)
    state_b = runner.states[1]
    assert (state_b.state_type, state_b.attempt) == ("hard", 3)  # retried until hard, then back to 60 s
    assert sum(v["host"] == "c" for v in values) == 1  # 60 s interval: once


@needs_plugins
def test_timeout_kills_the_process_group(tmp_path):
    """Like Nagios: UNKNOWN "(Service check timed out after N seconds)" and no plugin left running."""
    pidfile = tmp_path / "child.pid"
    argv = ["/bin/sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"]
    result = asyncio.run(execute(argv, timeout=1))
    assert result.status == 3
    assert result.output == "(Service check timed out after 1.00 seconds)"
    child = int(pidfile.read_text())
    status = Path(f"/proc/{child}/status")
    if status.exists():  # an orphan may linger as a zombie until init reaps it, but never runs
        assert "\nState:\tZ" in status.read_text()


@needs_plugins
def test_real_plugin_chain_with_negate():
    negate = plugin("negate")
    # negate -o CRITICAL maps check_dummy's OK to CRITICAL: still a real plugin chain in a process group.
    result = asyncio.run(execute([negate, "-o", "CRITICAL", plugin("check_dummy"), "0", "fine"], timeout=10))
    assert result.status == 2 and "fine" in result.output


# -- curl against the HTTP intake ----------------------------------------------------------------------


async def curl(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    body, _, code = out.decode().rpartition("\n")
    return int(code), body


def with_intake(scenario) -> tuple[MemorySink, object]:
    sink = MemorySink()

    async def main():
        intake = CheckIntake(sink, TOKEN, "127.0.0.1", 0)
        await intake.start()
        try:
            return await scenario(intake)
        finally:
            await intake.stop()

    return sink, asyncio.run(main())


@needs_curl
def test_curl_posts_nrdp_xml(tmp_path):
    xml = (
        "<?xml version='1.0'?>\n<checkresults>\n"
        "  <checkresult type='host' checktype='1'><hostname>sw1</hostname><state>0</state>"
        "<output>PING OK - rta 1ms|rta=1ms;100;500;0</output></checkresult>\n"
        "  <checkresult type='service' checktype='1'><hostname>sw1</hostname><servicename>Port 24</servicename>"
        "<state>2</state><output>CRITICAL - link down &amp; flapping</output></checkresult>\n"
        "</checkresults>\n"
    )
    path = tmp_path / "results.xml"
    path.write_text(xml)

    async def scenario(intake):
        return await curl(
            "-d",
            "cmd=submitcheck",
            "--data-urlencode",
            f"token={TOKEN}",
            "--data-urlencode",
            f"XMLDATA@{path}",
            f"{intake.url}/nrdp/",
        )

    sink, (code, body) = with_intake(scenario)
    assert code == 200, body
    assert "<status>0</status>" in body and "2 checks processed" in body
    values = [loads(r.value) for r in sink.on(RAW_CHECKS)]
    assert [(v["host"], v["service"], v["status"]) for v in values] == [
        ("sw1", None, 0),
        ("sw1", "Port 24", 2),
    ]
    assert values[1]["output"] == "CRITICAL - link down & flapping"
    assert all(v["source"] == "nrdp" for v in values)


@needs_curl
def test_curl_posts_nrdp_json_and_api():
    payload = {
        "checkresults": [
            {
                "checkresult": {"type": "service", "checktype": "1"},
                "hostname": "srv1",
                "servicename": "Load",
                "state": "1",
                "output": "LOAD WARNING - 6.1|load1=6.1;5;10;0;",
            }
        ]
    }

    async def scenario(intake):
        nrdp = await curl(
            "--data-urlencode",
            "cmd=submitcheck",
            "--data-urlencode",
            f"token={TOKEN}",
            "--data-urlencode",
            f"JSONDATA={dumps(payload).decode()}",
            f"{intake.url}/nrdp/",
        )
        api = await curl(
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            '[{"host": "srv2", "service": "Disk", "status": 0, "output": "DISK OK|/=1GB;2;3;0;4"}]',
            f"{intake.url}/api/v1/checks",
        )
        denied = await curl(
            "-d", "cmd=submitcheck", "-d", "token=nope", "-d", "JSONDATA={}", f"{intake.url}/nrdp/"
        )
        return nrdp, api, denied

    sink, (nrdp, api, denied) = with_intake(scenario)
    assert nrdp[0] == 200 and loads(nrdp[1])["result"]["status"] == 0
    assert api[0] == 202 and loads(api[1])["accepted"] == 1
    assert denied[0] == 401 and "BAD TOKEN" in denied[1]
    values = [loads(r.value) for r in sink.on(RAW_CHECKS)]
    assert [(v["host"], v["status"], v["source"]) for v in values] == [
        ("srv1", 1, "nrdp"),
        ("srv2", 0, "passive"),
    ]
    assert values[0]["perfdata"][0]["warn"] == "5"


@needs_curl
def test_curl_gets_503_when_the_sink_is_full():
    sink = MemorySink(capacity=0)

    async def main():
        intake = CheckIntake(sink, TOKEN, "127.0.0.1", 0, retry_after=3)
        await intake.start()
        try:
            return await curl(
                "-D",
                "-",
                "-H",
                f"X-Vigie-Token: {TOKEN}",
                "--data-binary",
                "PROCESS_HOST_CHECK_RESULT;h;0;UP",
                f"{intake.url}/api/v1/commands",
            )
        finally:
            await intake.stop()

    code, body = asyncio.run(main())
    assert code == 503
    assert "retry-after: 3" in body.lower()
    assert sink.records == []
