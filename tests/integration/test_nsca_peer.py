"""The NSCA listener against Debian's send_nsca (nsca-client 2.10), for each encryption method it offers
that Vigie accepts. No Kafka: results go to a memory sink."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from vigie.producers.checks.http_intake import intake_metrics
from vigie.producers.checks.nsca import METHODS, NscaListener, NscaSettings
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_CHECKS

SEND_NSCA = shutil.which("send_nsca") or "/usr/sbin/send_nsca"
pytestmark = [pytest.mark.peer, pytest.mark.skipif(not Path(SEND_NSCA).exists(),
                                                   reason="send_nsca not installed (scripts/setup installs nsca-client)")]


async def _send(tmp: Path, method: int, client_password: str, server_password: str) -> MemorySink:
    sink = MemorySink()
    listener = NscaListener(sink, NscaSettings(port=0, password=server_password.encode(), method=method),
                            intake_metrics(CollectorRegistry()))
    await listener.start()
    cfg = tmp / f"send_nsca-{method}.cfg"
    cfg.write_text(f"password={client_password}\nencryption_method={method}\n")
    # send_nsca's default separators: tab between fields, ETB (^W) between results
    lines = "web1\tPING\t2\tPING CRITICAL - Packet loss = 100%|rta=0.0ms;100;500\x17core1\t1\tHost DOWN\x17db1\tDISK\t0\tDISK OK\x17"
    proc = await asyncio.create_subprocess_exec(SEND_NSCA, "-H", "127.0.0.1", "-p", str(listener.port), "-c", str(cfg),
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    await asyncio.wait_for(proc.communicate(lines.encode()), 20)
    for _ in range(100):  # the listener handles the last packet after send_nsca has exited
        if len(sink.records) >= 3 or sink.on(DEADLETTER):
            break
        await asyncio.sleep(0.02)
    await listener.stop()
    return sink


@pytest.mark.parametrize("method", sorted(METHODS), ids=[name for _, (name, _, _) in sorted(METHODS.items())])
def test_send_nsca_results_reach_raw_checks(tmp_path: Path, method: int) -> None:
    sink = asyncio.run(_send(tmp_path, method, "s3cret;pass", "s3cret;pass"))
    got = [orjson.loads(r.value) for r in sink.on(RAW_CHECKS)]
    assert [(v["host"], v["service"], v["status"]) for v in got] == [("web1", "PING", 2), ("core1", None, 2), ("db1", "DISK", 0)]
    assert got[0]["output"] == "PING CRITICAL - Packet loss = 100%" and got[0]["perfdata"][0]["label"] == "rta"


@pytest.mark.parametrize("method", [1, 8, 14], ids=["xor", "blowfish", "rijndael-128"])
def test_send_nsca_with_a_wrong_password_is_dead_lettered(tmp_path: Path, method: int) -> None:
    sink = asyncio.run(_send(tmp_path, method, "wrong", "right"))
    assert sink.on(RAW_CHECKS) == [] and len(sink.on(DEADLETTER)) == 1
