"""Debian's snmpd as the real agent of the poller's tests and bench: values served from files the test writes.

`extend NAME /bin/cat FILE` serves a file's first line at NET-SNMP-EXTEND-MIB::nsExtendOutput1Line."NAME"
(snmpd caches it 5 s); a `pass_persist` script serves, read at each request, the string of file probeN at
PASS_BASE.N (the UCD way of exposing a sensor script), and a `pass` script an ENTITY-SENSOR-MIB sensor (value, scale,
precision, status) from a file holding "value scale precision status". v2c community and one v3 authPriv
user (SHA/AES).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SNMPD = shutil.which("snmpd") or "/usr/sbin/snmpd"
COMMUNITY = "vigie-ro"
V3_USER, V3_AUTH, V3_PRIV = "poller", "auth-key-123", "priv-key-123"
EXTEND_OUTPUT = "1.3.6.1.4.1.8072.1.3.2.3.1.1"
ENT_SENSOR = "1.3.6.1.2.1.99.1.1.1"
PASS_BASE = "1.3.6.1.4.1.8072.9999.9999.7"  # NET-SNMP-MIB::netSnmpPlaypen, for local experiments

_PASS_SCRIPT = """#!/bin/sh
# snmpd pass protocol: -g OID -> OID, type, value (three lines); -n (GETNEXT) is not served.
[ "$1" = "-g" ] || exit 0
base=.%(base)s
rest=${2#$base.}
col=${rest%%%%.*}
idx=${rest#*.}
f=%(folder)s/sensor$idx
[ -f "$f" ] || exit 0
set -- $(cat "$f")
case "$col" in
  4) echo "$base.4.$idx"; echo integer; echo "$1" ;;
  2) echo "$base.2.$idx"; echo integer; echo "$2" ;;
  3) echo "$base.3.$idx"; echo integer; echo "$3" ;;
  5) echo "$base.5.$idx"; echo integer; echo "$4" ;;
esac
"""


# pass_persist: snmpd keeps the script running and asks it each time (plain `pass` answers a repeated GET of
# the same OID from a 30 s cache, which would hide a changing temperature).
_PERSIST_SCRIPT = """#!/bin/sh
while read -r cmd; do
  case "$cmd" in
    PING) echo PONG ;;
    get) read -r oid; n=${oid##*.}
         if [ -f %(folder)s/probe$n ]; then echo "$oid"; echo string; head -n 1 %(folder)s/probe$n; else echo NONE; fi ;;
    getnext) read -r oid; echo NONE ;;
    set) read -r oid; read -r value; echo not-writable ;;
    *) exit 0 ;;
  esac
done
"""


def extend_oid(name: str) -> str:
    """The OID of nsExtendOutput1Line."NAME" (the index is the string's length then its bytes)."""
    return EXTEND_OUTPUT + "." + ".".join(str(x) for x in [len(name), *name.encode()])


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """One snmpd on a loopback UDP port; values set with set_extend() and set_sensor()."""

    def __init__(self, folder: Path, extends: tuple[str, ...] = ("temp1", "temp2"), port: int | None = None,
                 address: str = "127.0.0.1") -> None:
        """address: another loopback address (127.0.0.2) runs a second agent on the same port, as a second
        probe polled by the same poller; requests to it come from 127.0.0.1, which its community allows."""
        self.folder = folder
        self.address = address
        self.port = port or free_udp_port()
        folder.mkdir(parents=True, exist_ok=True)
        script = folder / "sensor.sh"
        script.write_text(_PASS_SCRIPT % {"base": ENT_SENSOR, "folder": folder, "probes": PASS_BASE})
        script.chmod(0o755)
        persist = folder / "probes.sh"
        persist.write_text(_PERSIST_SCRIPT % {"folder": folder})
        persist.chmod(0o755)
        lines = [f"agentAddress udp:{address}:{self.port}", f"rocommunity {COMMUNITY} 127.0.0.1",
                 f'createUser {V3_USER} SHA "{V3_AUTH}" AES "{V3_PRIV}"', f"rouser {V3_USER} priv",
                 f"pass {ENT_SENSOR} /bin/sh {script}", f"pass_persist {PASS_BASE} /bin/sh {persist}"]
        for name in extends:
            self.set_extend(name, "0")
            lines.append(f"extend {name} /bin/cat {folder / name}")
        (folder / "snmpd.conf").write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def set_extend(self, name: str, text: str) -> None:
        tmp = self.folder / f".{name}"
        tmp.write_text(text + "\n")
        os.replace(tmp, self.folder / name)

    def set_probe(self, n: int, text: str) -> None:
        """The string served at PASS_BASE.n, read again at every request."""
        tmp = self.folder / f".probe{n}"
        tmp.write_text(text + "\n")
        os.replace(tmp, self.folder / f"probe{n}")

    def set_sensor(self, index: int, value: int, scale: int = 9, precision: int = 0, status: int = 1) -> None:
        (self.folder / f"sensor{index}").write_text(f"{value} {scale} {precision} {status}\n")

    def start(self) -> Agent:
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.folder / "persist"), MIBS="")
        self.proc = subprocess.Popen([SNMPD, "-f", "-Lo", "-C", "-c", str(self.folder / "snmpd.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # ready when it answers a GET
            got = subprocess.run(["snmpget", "-m", "", "-v2c", "-c", COMMUNITY, "-t", "0.3", "-r", "0",
                                  f"{self.address}:{self.port}", "1.3.6.1.2.1.1.3.0"], capture_output=True, text=True)
            if got.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"snmpd did not answer on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
