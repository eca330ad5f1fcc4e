"""SNMP polling at a syndicate's scale: 100 agents x 10 OIDs every 30 s through Vigie's poller, its CPU and
lateness, against the same GETs made by Net-SNMP's snmpget (what a Nagios check_snmp per host spawns).

Targets: at most 5 % of a core, and polls started at most 2 s after they were due at p99.
The agents are Debian's snmpd processes (--agents, default 10) on loopback ports, each standing for
--targets/--agents hosts, serving native objects (sysUpTime, the interfaces table): the agents' cost is
not the poller's, so none of it is forked per request. The poller runs in a process of its own and writes
to memory (the Kafka side is the check runner's and is measured by bench/pipeline.py).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import load, machine, missing_tools, preflight, table  # noqa: E402

# 10 objects snmpd answers natively (sysUpTime, ifNumber, the loopback interface of IF-MIB, index 1).
OIDS = ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.2.1.0"] + [f"1.3.6.1.2.1.2.2.1.{c}.1" for c in (4, 5, 7, 8, 10, 11, 16, 17)]


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _poller_process(ports: list[int], targets: int, interval: float, seconds: float, out: multiprocessing.Queue) -> None:
    import asyncio

    from vigie.config import validate
    from vigie.producers.snmp.poller import Poller
    from vigie.sink import MemorySink

    hosts = {f"h{i:03d}": {"address": "127.0.0.1"} for i in range(targets)}
    pollers = []
    for a, port in enumerate(ports):  # one poller per agent port, its share of the hosts
        names = [h for i, h in enumerate(sorted(hosts)) if i % len(ports) == a]
        pollers.append({"name": f"p{a}", "hosts": names, "port": port, "community_env": "B_COMMUNITY",
                        "interval": f"{interval}s", "timeout": "2s", "retries": 1, "warning": 1e12,
                        "items": [{"label": f"o{j}", "oid": oid} for j, oid in enumerate(OIDS)]})
    cfg = validate({"inventory": {"hosts": hosts, "pollers": pollers}})
    sink = MemorySink()

    async def go() -> dict:
        poller = Poller(sink, cfg, environ={"B_COMMUNITY": "bench"})
        task = asyncio.create_task(poller.run())
        await asyncio.sleep(seconds)
        poller.stop()
        await task
        return {"polls": poller.polls, "late": poller.late, "lateness": list(poller.lateness),
                "unknown": sum(1 for r in sink.records if b'"status":3' in r.value),
                "sample": next((r.value.decode()[:300] for r in sink.records if b'"status":3' in r.value), "")}

    out.put(asyncio.run(go()))


def start_agents(folder: Path, n: int) -> tuple[list[subprocess.Popen], list[int]]:
    from tests.snmpd_agent import free_udp_port

    procs, ports = [], []
    for i in range(n):
        port = free_udp_port()
        conf = folder / f"snmpd{i}.conf"
        conf.write_text(f"agentAddress udp:127.0.0.1:{port}\nrocommunity bench 127.0.0.1\n")
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(folder / f"persist{i}"), MIBS="")
        procs.append(subprocess.Popen(["snmpd", "-f", "-Lo", "-C", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env))
        ports.append(port)
    for port in ports:
        deadline = time.monotonic() + 10
        while subprocess.run(["snmpget", "-m", "", "-v2c", "-c", "bench", "-t", "0.3", "-r", "0",
                              f"127.0.0.1:{port}", OIDS[0]], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"bench/snmp_poller.py: snmpd on port {port} did not answer")
            time.sleep(0.1)
    return procs, ports


def reference(ports: list[int], targets: int) -> float:
    """CPU seconds per poll of one round of the same GETs by snmpget processes (one per host, as Nagios spawns)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for i in range(targets):
        subprocess.run(["snmpget", "-m", "", "-v2c", "-c", "bench", "-t", "2", "-r", "1",
                        f"127.0.0.1:{ports[i % len(ports)]}", *OIDS], capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / targets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the poller runs")
    parser.add_argument("--quick", action="store_true", help="10 s at a 2 s interval: a smoke test of the bench")
    args = parser.parse_args()
    preflight("bench/snmp_poller.py", missing_tools("snmpget") + (
        [] if shutil.which("snmpd") or os.access("/usr/sbin/snmpd", os.X_OK) else ["snmpd is not installed"]))
    if args.quick:
        args.seconds, args.interval = 10.0, 2.0
    os.environ["PATH"] += ":/usr/sbin"
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        procs, ports = start_agents(Path(tmp), args.agents)
        try:
            ref = reference(ports, args.targets)
            out: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
            proc = multiprocessing.get_context("spawn").Process(
                target=_poller_process, args=(ports, args.targets, args.interval, args.seconds, out))
            proc.start()
            time.sleep(3)  # imports and the first schedule: measured from here, after start-up
            cpu0, t0 = _cpu(proc.pid), time.monotonic()
            result = out.get(timeout=args.seconds + 60)
            cpu1, t1 = _cpu(proc.pid), time.monotonic()
            proc.join(30)
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    share = (cpu1 - cpu0) / (t1 - t0)
    per_poll = (cpu1 - cpu0) / max(1, result["polls"])
    lateness = sorted(result["lateness"]) or [0.0]
    p99 = lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))]
    print(table(["figure", "value", "target / reference"], [
        ["targets x OIDs, interval", f"{args.targets} x {len(OIDS)}, {args.interval:g} s", ""],
        ["polls (UNKNOWN among them)", f"{result['polls']} ({result['unknown']})", "0 UNKNOWN"],
        ["poller CPU, share of a core", f"{share:.2%}", "<= 5 %"],
        ["poller CPU per poll", f"{per_poll * 1000:.2f} ms", f"{per_poll / ref:.2f}x snmpget's {ref * 1000:.2f} ms"],
        ["lateness p50 / p99 / max", f"{statistics.median(lateness):.3f} / {p99:.3f} / {lateness[-1]:.3f} s", "p99 <= 2 s"],
        ["polls skipped as late", str(result["late"]), "0"],
    ]))
    if result["unknown"]:
        print("an UNKNOWN result:", result["sample"])
    print(f"load after: {load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
