"""Raw -> notification latency through the live pipeline, at a steady rate, to an Alertmanager webhook.

    python bench/notification_latency.py [--bootstrap HOST:PORT] [--rate 1000] [--pages 20] [--seconds 30]
                                         [--group-waits 0s,1s] [--quick]

Syslog lines and SNMP traps go to the raw topics at `--rate` records/s as the intakes write them (syslog with its
`received_at` header, traps as the receiver's JSON value); `vigie service pipelines` and `vigie service notify`
run as child processes, as `vigie up` runs them, with one route whose webhook is a receiver in a process of its
own. `--pages` records a second are problems that page: a link going down on a host not failing yet (alternately a
`%LINK-3-UPDOWN` line and a linkDown trap), each its own incident, so each one `new` message; the rest is what a
network sends besides (links coming up that were not down, syslog lines no rule matches). A page's latency is from
just before its raw record is produced to its `new` at the webhook (wall clocks of two processes on one machine).

Reference, in the same run and for the same records: raw -> alert on the alerts topic (the figure
bench/pipeline.py gives: what normalize + correlate take); the ratio says what grouping, the notifications topic,
the notifier and the HTTP delivery add. One run per group_wait (fresh topics and workers each): the target is p99
<= 500 ms + group_wait at 1,000 records/s. A group_wait > 0 is a timer, fired on the worker's tick grid
(pipelines/correlate/clock.py: 1 s ticks, allowed_lateness behind the wall clock), so up to a tick more.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import add_broker_arguments, broker, load, machine, table  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402

from vigie.kafka_client import KafkaSettings  # noqa: E402
from vigie.local_broker import free_port  # noqa: E402
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP  # noqa: E402
from vigie.schemas.codec import rfc3339  # noqa: E402
from vigie.topic_admin import ensure_topics  # noqa: E402
from vigie.topics import ALERTS, RAW_SYSLOG, RAW_TRAPS, default_specs  # noqa: E402

SITES, HOSTS = 100, 1000


def address(h: int) -> str:
    return f"10.{h // 250}.{h % 250}.1"


def config(settings: KafkaSettings, folder: Path, webhook: str, group_wait: str) -> Path:
    lines = [f'state_dir = "{folder}"', "[kafka]", f'bootstrap_servers = "{settings.bootstrap_servers}"',
             f'topic_prefix = "{settings.topic_prefix}"']
    for h in range(HOSTS):
        lines += [f'[inventory.hosts."h{h:03d}"]', f'site = "s{h % SITES}"', f'address = "{address(h)}"']
    lines += ["[[routes]]", 'name = "ops"', f'webhook = "{webhook}"', f'group_wait = "{group_wait}"']
    path = folder / "vigie.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def receiver(port: int, arrivals: mp.Queue) -> None:
    """The webhook: answers 200 at once; hands (arrival time, reason, [(host, component)]) to the bench."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            now = time.time()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            arrivals.put((now, body["commonAnnotations"].get("vigie_reason"),
                          [(a["labels"]["host"], a["labels"]["component"]) for a in body["alerts"]]))

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def syslog(h: int, port: int, state: str) -> tuple[str, bytes, bytes, list]:
    stamp = rfc3339()
    line = f"<187>1 {stamp} h{h:03d} - - - - %LINK-3-UPDOWN: Interface Gi0/{port}, changed state to {state}"
    return RAW_SYSLOG, line.encode(), address(h).encode(), [("received_at", stamp.encode()), ("transport", b"udp")]


def noise_syslog(h: int) -> tuple[str, bytes, bytes, list]:
    stamp = rfc3339()
    line = f"<189>1 {stamp} h{h:03d} - - - - %SYS-5-CONFIG_I: Configured from console by admin on vty0"
    return RAW_SYSLOG, line.encode(), address(h).encode(), [("received_at", stamp.encode()), ("transport", b"udp")]


def trap(h: int, port: int, up: bool) -> tuple[str, bytes, bytes, list]:
    value = {"version": "v2c", "community": "public", "trap_oid": LINK_UP if up else LINK_DOWN, "trap_name": None,
             "agent_address": address(h), "uptime": 1000, "received_at": rfc3339(), "peer": f"{address(h)}:161",
             "varbinds": [{"oid": f"1.3.6.1.2.1.2.2.1.1.{port}", "name": "ifIndex", "type": "Integer", "value": port},
                          {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{port}", "name": "ifName", "type": "OctetString",
                           "value": f"Gi0/{port}"}]}
    return RAW_TRAPS, orjson.dumps(value), address(h).encode(), []


def children(conf: Path, folder: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for name, extra in (("pipelines", []), ("notify", ["--from-beginning"])):
        with open(folder / f"{name}.log", "ab") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "service", name, "--config",
                                           str(conf), "--log-level", "WARNING", *extra],
                                          stdout=out, stderr=subprocess.STDOUT))
    return procs


def one_run(bootstrap: str, group_wait: str, rate: int, pages: int, seconds: float) -> dict[str, object]:
    settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"nl{uuid.uuid4().hex[:6]}.")
    ensure_topics(settings, default_specs(partitions=3))
    folder = Path(tempfile.mkdtemp(prefix="vigie-bench-"))
    port = free_port()
    arrivals: mp.Queue = mp.get_context("fork").Queue()
    hook = mp.get_context("fork").Process(target=receiver, args=(port, arrivals), daemon=True)
    hook.start()
    procs = children(config(settings, folder, f"http://127.0.0.1:{port}/hook", group_wait), folder)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "compression.type": "lz4"})
    sent: dict[tuple[str, str], float] = {}
    to_alert: list[float] = []
    stop = threading.Event()
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"lat-{uuid.uuid4().hex[:6]}",
                  "auto.offset.reset": "earliest", "fetch.wait.max.ms": 5})
    c.subscribe([settings.topic(ALERTS)])
    alerted: set[tuple[str, str]] = set()

    def read_alerts() -> None:
        while not stop.is_set():
            for m in c.consume(1000, 0.05):
                if m.error() is None and m.value():
                    a = orjson.loads(m.value())
                    key = (a["host"], a.get("component") or "")
                    if a["status"] == "firing" and key in sent and key not in alerted:
                        alerted.add(key)
                        to_alert.append(time.time() - sent[key])

    def send(record: tuple[str, bytes, bytes, list]) -> None:
        topic, value, key, headers = record
        p.produce(settings.topic(topic), value, key, headers=headers or None)
        p.poll(0)

    def page(h: int) -> None:
        record = syslog(h, 1, "down") if h % 2 else trap(h, 1, up=False)
        sent[(f"h{h:03d}", "Gi0/1")] = time.time()
        send(record)

    def wait_page(key: tuple[str, str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while not arrivals.empty():
                at, reason, keys = arrivals.get()
                for k in keys:
                    if reason == "new" and k in sent and k not in paged:
                        paged[k] = at - sent[k]
            if key in paged:
                return True
            if any(pr.poll() is not None for pr in procs):
                raise RuntimeError(f"a child died; see {folder}")
            time.sleep(0.05)
        return False

    paged: dict[tuple[str, str], float] = {}
    reader = threading.Thread(target=read_alerts, daemon=True)
    try:
        reader.start()
        page(0)  # warm-up: everything up and joined once the first page is through
        if not wait_page(("h000", "Gi0/1"), 120):
            raise RuntimeError(f"no page within 120 s; see {folder}")
        paged.clear()
        alerted.clear()
        to_alert.clear()
        total = int(rate * seconds)
        every = max(1, rate // max(1, pages))
        if total // every >= HOSTS:
            raise SystemExit(f"{total // every} pages need more than {HOSTS - 1} hosts: lower --pages or --seconds")
        t0, n_page = time.perf_counter(), 0
        for i in range(total):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if i % every == 0:
                n_page += 1
                page(n_page)
            else:
                h = (i * 7919) % HOSTS
                send(noise_syslog(h) if i % 3 else trap(h, 2 + i % 3, up=True))
        p.flush(30)
        wait_page(("", ""), 10 + float(group_wait.rstrip("s")))  # stragglers
    finally:
        stop.set()
        reader.join(5)
        c.close()
        for pr in procs:
            pr.terminate()
        for pr in procs:
            try:
                pr.wait(30)
            except subprocess.TimeoutExpired:
                pr.kill()
        hook.terminate()
    pages_ms = sorted(v * 1000 for v in paged.values())
    alerts_ms = sorted(v * 1000 for v in to_alert)

    def q(values: list[float], pct: int) -> float:
        return statistics.quantiles(values, n=100)[pct - 1] if len(values) >= 2 else float("nan")

    return {"group_wait": group_wait, "pages": n_page, "paged": len(pages_ms), "alerted": len(alerts_ms),
            "page_p50": q(pages_ms, 50), "page_p99": q(pages_ms, 99), "page_max": pages_ms[-1] if pages_ms else 0.0,
            "alert_p50": q(alerts_ms, 50), "alert_p99": q(alerts_ms, 99)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_arguments(ap)
    ap.add_argument("--rate", type=int, default=1000, help="raw records/s")
    ap.add_argument("--pages", type=int, default=20, help="of which problems that page, per second")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--group-waits", default="0s,1s")
    args = ap.parse_args()
    if args.quick:
        args.seconds = 5
    print(machine(), flush=True)
    rows = []
    with broker(args.bootstrap) as settings:
        for gw in args.group_waits.split(","):
            r = one_run(settings.bootstrap_servers, gw, args.rate, args.pages, args.seconds)
            target = 500 + 1000 * float(gw.rstrip("s"))
            rows.append([gw, r["pages"], r["paged"], r["page_p50"], r["page_p99"], r["page_max"], r["alert_p50"],
                         r["alert_p99"], r["page_p99"] / r["alert_p99"], target,
                         "yes" if r["page_p99"] <= target else "NO"])
            print(f"group_wait {gw}: done, load {load()}", flush=True)
    print(table(["group_wait", "pages sent", "paged", "page p50 ms", "page p99 ms", "page max ms", "alert p50 ms",
                 "alert p99 ms", "p99 page/alert", "target p99 ms", "met"], rows))
    print(f"load at end: {load()}; {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
