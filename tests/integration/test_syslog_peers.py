"""Real syslog senders (util-linux logger, rsyslog forwarding over TCP) against Vigie's listeners."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from vigie.producers.syslog.listeners import ListenerSettings, SyslogListener, make_listener
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.sink import MemorySink
from vigie.topics import RAW_SYSLOG

pytestmark = [pytest.mark.peer, pytest.mark.timeout(120)]

LOGGER = shutil.which("logger")
RSYSLOGD = shutil.which("rsyslogd") or next(
    (p for p in ("/usr/sbin/rsyslogd", "/sbin/rsyslogd") if os.access(p, os.X_OK)), None
)
needs_logger = pytest.mark.skipif(
    LOGGER is None, reason="util-linux `logger` not installed (Debian: bsdutils)"
)
needs_rsyslog = pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd not installed (Debian: rsyslog)")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def listening(transport: str, sink: MemorySink) -> SyslogListener:
    listener = make_listener(
        ListenerSettings(name=f"peer-{transport}", transport=transport, port=0),
        sink,
        SyslogMetrics(CollectorRegistry()),
    )
    await listener.start()
    return listener


async def logger(*args: str, stdin: bytes | None = None) -> None:
    """Run util-linux logger without blocking the loop the listener runs on."""
    assert LOGGER is not None
    proc = await asyncio.create_subprocess_exec(
        LOGGER, *args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await proc.communicate(stdin)
    assert proc.returncode == 0, f"logger {' '.join(args)} failed: {err.decode(errors='replace')}"


def containing(sink: MemorySink, marker: bytes) -> list[bytes]:
    return [r.value for r in sink.on(RAW_SYSLOG) if marker in r.value]


@needs_logger
@pytest.mark.parametrize(
    "transport, flags, dialect",
    [
        ("udp", ["--udp", "--rfc5424"], "rfc5424"),
        ("udp", ["--udp", "--rfc3164"], "rfc3164"),
        ("tcp", ["--tcp", "--rfc5424"], "rfc5424"),
        ("tcp", ["--tcp", "--rfc3164"], "rfc3164"),
        ("tcp", ["--tcp", "--rfc5424", "--octet-count"], "rfc5424"),
    ],
)
def test_logger_message_lands(transport: str, flags: list[str], dialect: str) -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener = await listening(transport, sink)
        marker = f"vigie-peer-{transport}-{dialect}-{'-'.join(flags)}".encode()
        await logger(
            "--server", "127.0.0.1", "--port", str(listener.port), *flags, "-t", "vigietest", "-p", "user.notice",
            marker.decode(),
        )  # fmt: skip
        await until(lambda: bool(containing(sink, marker)), "logger's message")
        await listener.stop()

        (value,) = containing(sink, marker)
        assert value.startswith(b"<13>1 " if dialect == "rfc5424" else b"<13>")
        assert value.endswith(marker) and b"vigietest" in value  # frame only: no LF, no octet count
        record = sink.on(RAW_SYSLOG)[0]
        assert record.key == b"127.0.0.1" and record.header("transport") == transport.encode()

    run(scenario())


@needs_logger
@pytest.mark.parametrize("octet_count", [False, True])
def test_logger_many_lines_over_one_tcp_connection(octet_count: bool) -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener = await listening("tcp", sink)
        lines = b"".join(b"vigie-line %04d\n" % i for i in range(200))
        flags = ["--octet-count"] if octet_count else []
        await logger(
            "--server", "127.0.0.1", "--port", str(listener.port), "--tcp", *flags, "-t", "bulk", stdin=lines
        )
        await until(lambda: len(containing(sink, b"vigie-line")) == 200, "200 lines")
        await listener.stop()
        assert [v[-4:] for v in containing(sink, b"vigie-line")] == [b"%04d" % i for i in range(200)]

    run(scenario())


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_logger
@needs_rsyslog
def test_rsyslog_forwards_over_tcp_with_octet_counting(tmp_path: Path) -> None:
    async def scenario() -> None:
        sink = MemorySink()
        listener = await listening("tcp", sink)
        udp_in = free_udp_port()
        work = tmp_path / "work"
        work.mkdir()
        conf = tmp_path / "rsyslog.conf"
        conf.write_text(
            f'global(workDirectory="{work}" net.enableDNS="off")\n'
            'module(load="imudp")\n'
            f'input(type="imudp" address="127.0.0.1" port="{udp_in}")\n'
            f'action(type="omfwd" target="127.0.0.1" port="{listener.port}" protocol="tcp"\n'
            '       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n'
        )
        assert RSYSLOGD is not None
        rsyslogd = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            send = ["--server", "127.0.0.1", "--port", str(udp_in), "--udp", "--rfc5424", "-t", "viafwd"]
            # rsyslog needs a moment to bind: probe until one message makes the whole trip
            for attempt in range(100):
                if rsyslogd.poll() is not None:
                    output = rsyslogd.stdout.read().decode(errors="replace") if rsyslogd.stdout else ""
                    pytest.fail(f"rsyslogd exited with {rsyslogd.returncode}: {output}")
                await logger(*send, f"vigie-probe {attempt}")
                try:
                    await until(lambda: bool(containing(sink, b"vigie-probe")), "probe", timeout=0.2)
                    break
                except AssertionError:
                    continue
            else:
                pytest.fail("no probe message came through rsyslog")
            lines = b"".join(b"vigie-relayed %03d\n" % i for i in range(100))
            await logger(*send, stdin=lines)
            await until(lambda: len(containing(sink, b"vigie-relayed")) == 100, "100 relayed messages")
        finally:
            rsyslogd.send_signal(signal.SIGTERM)
            try:
                rsyslogd.wait(10)
            except subprocess.TimeoutExpired:
                rsyslogd.kill()
                rsyslogd.wait()
            await listener.stop()

        relayed = containing(sink, b"vigie-relayed")
        # rsyslog's RFC 5424 template ends with LF; inside an octet-counted frame it is part of the message
        assert all(v.endswith(b"\n") for v in relayed)
        assert sorted(v[-4:-1] for v in relayed) == [b"%03d" % i for i in range(100)]
        for value in relayed:
            assert value.startswith(b"<13>1 ") and b" viafwd " in value  # RFC 5424, without the octet count

    run(scenario())
