"""How long `vigie up` takes to be ready, against the bare local broker's own start measured in the same run.

Run: .venv/bin/python bench/startup.py [--runs 3]. `vigie up` reports its time to ready in the
metric vigie_startup_seconds and says "ready" on stderr once every listener is bound and every child
process has joined its consumer group; the reference is LocalBroker.start() alone (format + JVM start +
first answer), so the ratio shows what Vigie adds on top of Kafka.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import missing_broker, preflight

from vigie.local_broker import LocalBroker, free_port


def bare_broker_start() -> float:
    """Seconds for a fresh LocalBroker to format, start and answer."""
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp), port=free_port(), controller_port=free_port())
        t0 = time.monotonic()
        broker.start()
        elapsed = time.monotonic() - t0
        broker.stop()
        return elapsed


def vigie_up_start(with_broker: str | None) -> tuple[float, float]:
    """(wall seconds until `vigie up` says ready, vigie_startup_seconds) for a fresh `vigie up`.

    Every default service runs (syslog UDP+TCP, SNMP, a pipelines worker, the archive sink), on free
    ports; ready means every listener is bound and both children have joined their consumer groups.
    """
    with tempfile.TemporaryDirectory() as tmp:
        kport, mport, sport, tport = free_port(), free_port(), free_port(), free_port()
        conf = Path(tmp) / "vigie.toml"
        kafka = f'bootstrap_servers = "{with_broker}"\n' if with_broker else f'local_listen = "127.0.0.1:{kport}"\n'
        conf.write_text(f'state_dir = "{tmp}/state"\n[kafka]\n{kafka}topic_prefix = "start{kport}."\n'
                        f'[metrics]\nlisten = "127.0.0.1:{mport}"\n[snmp]\nlisten = "127.0.0.1:{tport}"\n'
                        f'[[syslog.listeners]]\nname = "udp"\ntransport = "udp"\nlisten = "127.0.0.1:{sport}"\n'
                        f'[[syslog.listeners]]\nname = "tcp"\ntransport = "tcp"\nlisten = "127.0.0.1:{sport}"\n')
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "up", "--config", str(conf)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        try:
            for line in proc.stderr:
                if "vigie up: ready in" in line:
                    wall = time.monotonic() - t0
                    break
            else:
                raise RuntimeError("vigie up exited during start-up")
            text = urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=5).read().decode()
            reported = next(float(line.split()[1]) for line in text.splitlines()
                            if line.startswith("vigie_startup_seconds "))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=90)
        return wall, reported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    preflight("bench/startup.py", missing_broker(""))
    bare = [bare_broker_start() for _ in range(args.runs)]
    own = [vigie_up_start(None) for _ in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        # a running broker that `vigie up` is configured for as an external one: open, like its config
        shared = LocalBroker(Path(tmp), port=free_port(), controller_port=free_port(), sasl=False)
        shared.start()
        try:
            ext = [vigie_up_start(shared.bootstrap) for _ in range(args.runs)]
        finally:
            shared.stop()
    b = statistics.median(bare)
    rows = [
        ("bare LocalBroker.start()", b, None),
        ("vigie up, local broker: wall to ready", statistics.median(w for w, _ in own), None),
        ("vigie up, local broker: vigie_startup_seconds", statistics.median(r for _, r in own), None),
        ("vigie up, running broker: wall to ready", statistics.median(w for w, _ in ext), None),
        ("vigie up, running broker: vigie_startup_seconds", statistics.median(r for _, r in ext), None),
    ]
    print(f"median of {args.runs} runs; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for name, value, _ in rows:
        print(f"{name:52s} {value:6.2f} s   x{value / b:4.2f} of the bare broker")


if __name__ == "__main__":
    main()
