"""check_nrpe run by Vigie's plugin runner, unchanged, against Debian's NRPE server (nagios-nrpe-server 4.1,
TLS on): an estate's NRPE agents keep answering Vigie as they answered Nagios."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigie.producers.checks.runner import CheckRunner, ServiceDef
from vigie.sink import MemorySink

NRPE = shutil.which("nrpe") or "/usr/sbin/nrpe"
CHECK_NRPE = Path("/usr/lib/nagios/plugins/check_nrpe")
DUMMY = Path("/usr/lib/nagios/plugins/check_dummy")
pytestmark = [pytest.mark.peer, pytest.mark.skipif(
    not (Path(NRPE).exists() and CHECK_NRPE.exists() and DUMMY.exists()),
    reason="NRPE not installed (scripts/setup installs nagios-nrpe-server and nagios-nrpe-plugin)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def nrpe_port() -> Iterator[int]:
    folder = Path(tempfile.mkdtemp(prefix="vigie-nrpe-"))
    folder.chmod(0o777)
    port = _free_port()
    (folder / "nrpe.cfg").write_text(
        f"server_port={port}\nserver_address=127.0.0.1\nallowed_hosts=127.0.0.1\nnrpe_user=nagios\nnrpe_group=nagios\n"
        f"dont_blame_nrpe=0\npid_file={folder}/nrpe.pid\n"
        f'command[check_ok]={DUMMY} 0 "nrpe says hi|load=0.5;1;2"\n'
        f'command[check_crit]={DUMMY} 2 "disk full"\n')
    proc = subprocess.Popen([NRPE, "-c", str(folder / "nrpe.cfg"), "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(folder)


def test_check_nrpe_through_the_runner(nrpe_port: int) -> None:
    runner = CheckRunner(MemorySink(), [])
    results = {}
    for command in ("check_ok", "check_crit"):
        svc = ServiceDef(host="web1", service=command, address="127.0.0.1",
                         command=f"check_nrpe -H $HOSTADDRESS$ -p {nrpe_port} -c {command}")
        results[command] = asyncio.run(runner.check_once(svc))
    ok, crit = results["check_ok"], results["check_crit"]
    assert (ok["status"], ok["output"], ok["perfdata"][0]["label"]) == (0, "OK: nrpe says hi", "load")
    assert (crit["status"], crit["output"]) == (2, "CRITICAL: disk full")
