"""The notifier's throughput and start-up: its Faust engine (`vigie service notify --engine faust`, the default)
against its thread engine (`--engine threads`), on the same notifications, broker and receiver.

Each round starts `vigie service notify --engine E --from-beginning` as `vigie up` would (a child process
reading the config), on a topic holding --count notifications of one route with one webhook receiver.
The receiver is an HTTP server in a process of its own that answers 200 at once and notes when each
request came. Start-up is spawn to the first delivery (imports, group join, Faust's table recovery);
throughput is deliveries per second from the first to the last; CPU is the notifier process's
user+system time. Engines are interleaved over --rounds and the verdict is the median of the per-round
ratios (Faust / threads), since only ratios taken in the same run mean something on a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import add_broker_arguments, broker, load, machine, missing_modules, preflight, table

from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.local_broker import free_port
from vigie.schemas.codec import dumps
from vigie.topic_admin import ensure_topics
from vigie.topics import NOTIFICATIONS, default_specs

NOW = "2026-12-07T10:00:00.000000Z"


def receiver(port: int, count: mp.Value, first: mp.Value, last: mp.Value) -> None:
    """Answers 200 to every POST; counts them and notes the first and last arrival (time.time())."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            with count.get_lock():
                count.value += 1
                now = time.time()
                if first.value == 0:
                    first.value = now
                last.value = now
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def fill(settings: KafkaSettings, n: int) -> None:
    sink = KafkaSink(settings)
    for i in range(n):
        alert = {"schema": "alert/1", "fingerprint": f"h{i}|check|PING", "status": "firing", "severity": "critical",
                 "host": f"h{i}", "site": "mairie", "component": "PING", "summary": "down", "first_seen": NOW,
                 "last_seen": NOW, "count": 1, "state_type": "hard", "flapping": False, "suppressed_by": None,
                 "incident_id": None, "sources": ["check"]}
        value = {"schema": "notification/1", "id": f"n{i}", "route": "ops", "reason": "new", "at": NOW,
                 "alert": alert, "incident": None}
        sink.produce(NOTIFICATIONS, dumps(value), key=b"ops")
    assert sink.close(60) == 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(settings: KafkaSettings, engine: str, n: int, state: Path, port: int, counters: tuple) -> dict:
    count, first, last = counters
    with count.get_lock():
        count.value, first.value, last.value = 0, 0.0, 0.0
    conf = state / f"{engine}.toml"
    conf.write_text(f'state_dir = "{state / engine}"\n'
                    f'[kafka]\nbootstrap_servers = "{settings.bootstrap_servers}"\n'
                    f'topic_prefix = "{settings.topic_prefix}"\n'
                    f'[[routes]]\nname = "ops"\nwebhook = "http://127.0.0.1:{port}/hook"\n')
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "service", "notify", "--config", str(conf),
                             "--bootstrap", settings.bootstrap_servers, "--engine", engine, "--from-beginning",
                             "--log-level", "ERROR"])
    cpu = 0.0
    try:
        deadline = time.time() + 120 + n / 50
        while count.value < n and time.time() < deadline and proc.poll() is None:
            cpu = cpu_seconds(proc.pid)
            time.sleep(0.05)
        cpu = cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    done = count.value
    span = max(last.value - first.value, 1e-6)
    return {"engine": engine, "delivered": done, "startup": first.value - started if first.value else float("nan"),
            "rate": (done - 1) / span if done > 1 else 0.0, "cpu_ms": 1000 * cpu / max(done, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_arguments(parser)
    parser.add_argument("--count", type=int, default=3000, help="notifications per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    preflight("bench/notifier.py", missing_modules("faust", "aiokafka"))
    n, rounds = (200, 1) if args.quick else (args.count, args.rounds)
    print(machine())
    with broker(args.bootstrap) as settings, tempfile.TemporaryDirectory(prefix="vigie-bench-notify-") as tmp:
        port = free_port()
        counters = (mp.Value("l", 0), mp.Value("d", 0.0), mp.Value("d", 0.0))
        server = mp.get_context("fork").Process(target=receiver, args=(port, *counters), daemon=True)
        server.start()
        runs: list[dict] = []
        for r in range(rounds):
            # Fresh topics each round (no committed offsets): each engine reads all n from the beginning.
            round_settings = dataclasses.replace(settings, topic_prefix=f"{settings.topic_prefix}r{r}.")
            ensure_topics(round_settings, default_specs(partitions=3))
            fill(round_settings, n)
            state = Path(tmp) / f"round{r}"
            state.mkdir(exist_ok=True)
            for engine in ("threads", "faust"):
                run = one_run(round_settings, engine, n, state, port, counters)
                run["round"] = r
                runs.append(run)
                print(f"round {r} {engine}: {run['delivered']} delivered, start-up {run['startup']:.2f} s, "
                      f"{run['rate']:.0f}/s, {run['cpu_ms']:.2f} ms CPU each; load {load()}", flush=True)
        server.terminate()
    rows = []
    for engine in ("threads", "faust"):
        mine = [x for x in runs if x["engine"] == engine]
        rows.append([engine, statistics.median(x["startup"] for x in mine), statistics.median(x["rate"] for x in mine),
                     statistics.median(x["cpu_ms"] for x in mine)])
    ratio_rate = statistics.median(f["rate"] / t["rate"] for t, f in zip(runs[::2], runs[1::2], strict=True))
    ratio_start = statistics.median(f["startup"] / t["startup"] for t, f in zip(runs[::2], runs[1::2], strict=True))
    print(table(["engine", "start-up s", "deliveries/s", "CPU ms each"], [[e, f"{s:.2f}", f"{r:.0f}", f"{c:.2f}"]
                                                                         for e, s, r, c in rows]))
    print(f"faust / threads (median of per-round ratios): throughput x{ratio_rate:.2f}, start-up x{ratio_start:.2f}")


if __name__ == "__main__":
    main()
