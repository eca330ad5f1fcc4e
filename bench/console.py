"""The console's Problems page under load (issue 15's targets), against a real `vigie service console` process
reading a real broker:

1. render: GET /problems with 5,000 open alerts in 500 incidents, each request a cache miss (an unknown query
   parameter makes it a new fragment key), p50/p95 seen by the client (gzip, as browsers ask); reference: GET
   /login on the same server (its floor), and the same view model + template in this process (no HTTP);
2. live: 20 pages open (20 SSE clients in another process, each re-fetching its fragment on every `change`
   event as static/live.js does); an alert update produced on the alerts topic carries a token, and each
   client records when the fragment it fetched first holds it: produce -> fragment fetched, p50/p99/max over
   every client and change; reference: a bare confluent-kafka consumer of the same records (Kafka's own
   produce -> consume in the same run);
3. idle: the console process's CPU (user+system of every thread, /proc/PID/stat) over --idle-seconds with 5
   SSE clients open and nothing changing, as a fraction of one core; reference: the same with no client.

    .venv/bin/python bench/console.py [--bootstrap HOST:PORT] [--alerts 5000] [--incidents 500] [--pages 20]
                                      [--changes 30] [--idle-seconds 60] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import add_broker_arguments, broker, load, machine, missing_broker, missing_modules, preflight

PASSWORD = "bench console password"
TOKEN_PREFIX = "benchtoken"


def alerts_and_incidents(n_alerts: int, n_incidents: int) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """n_alerts open alerts spread over n_incidents incidents of 20 sites: one root cause each, the rest inhibited."""
    per = max(1, n_alerts // n_incidents)
    alerts: dict[str, dict[str, Any]] = {}
    incidents: dict[str, dict[str, Any]] = {}
    for i in range(n_incidents):
        fps = []
        for j in range(per):
            fp = f"bench-{i}-{j}"
            fps.append(fp)
            alerts[fp] = {
                "schema": "alert/1", "fingerprint": fp, "status": "firing",
                "severity": ("critical", "warning", "unknown")[j % 3], "host": f"sw-{i}-{j}", "site": f"site-{i % 20}",
                "component": f"Gi0/{j}", "summary": f"linkDown Gi0/{j} on sw-{i}-{j}",
                "first_seen": f"2026-12-07T{8 + j % 12:02d}:{i % 60:02d}:{j % 60:02d}Z",
                "last_seen": "2026-12-07T20:00:00Z", "count": 3, "state_type": "hard", "flapping": j == 5,
                "suppressed_by": {"kind": "inhibited", "ref": f"inc-{i}"} if j else None, "incident_id": f"inc-{i}",
                "sources": ["trap"], "acknowledged": None}
        incidents[f"inc-{i}"] = {
            "schema": "incident/1", "id": f"inc-{i}", "status": "open", "opened_at": "2026-12-07T08:00:00Z",
            "updated_at": "2026-12-07T20:00:00Z", "resolved_at": None, "severity": "critical",
            "site": f"site-{i % 20}", "root_cause": {"host": f"sw-{i}-0", "component": "Gi0/0", "reason": "first"},
            "alerts": fps, "symptoms": fps[1:], "explain": []}
    return alerts, incidents


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, every thread, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def logged_in(base: str) -> Any:
    import aiohttp

    session = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        response = await session.post("/login", data={"name": "bench", "password": PASSWORD, "next": "/problems"},
                                      headers={"Origin": base}, allow_redirects=False)
    except aiohttp.ClientError:
        await session.close()
        raise
    if response.status != 303:
        await session.close()
        raise SystemExit(f"bench/console.py: login refused ({response.status})")
    return session


async def page_client(base: str, seen: dict[str, float], ready: Any, stop: Any) -> None:
    """One open Problems page: an SSE stream, and a fragment fetch per `change` event (one at a time, and
    once more if events came meanwhile, as live.js does)."""
    session = await logged_in(base)
    pending = asyncio.Event()

    async def fetcher() -> None:
        while True:
            await pending.wait()
            pending.clear()
            async with session.get("/problems?fragment=1", headers={"Accept-Encoding": "gzip"}) as r:
                text = await r.text()
            now = time.time()
            start = text.find(TOKEN_PREFIX)
            while start >= 0:
                end = text.find(" ", start)
                seen.setdefault(text[start:end], now)
                start = text.find(TOKEN_PREFIX, end)

    task = asyncio.create_task(fetcher())
    try:
        async with session.get("/events", timeout=None) as stream:
            ready.release()
            while not stop.is_set():
                line = await stream.content.readline()
                if not line:
                    return
                if line.startswith(b"event: change"):
                    pending.set()
    finally:
        task.cancel()
        await session.close()


def clients_process(base: str, pages: int, out: Any, ready: Any, stop: Any) -> None:
    """The open pages, in a process of their own (browsers run elsewhere: their work is not the console's)."""
    async def main() -> None:
        seen: list[dict[str, float]] = [{} for _ in range(pages)]
        tasks = [asyncio.create_task(page_client(base, seen[i], ready, stop)) for i in range(pages)]
        while not stop.is_set():
            await asyncio.sleep(0.2)
        for t in tasks:
            t.cancel()
        out.put(seen)

    asyncio.run(main())


def start_console(conf: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "service", "console", "--config", str(conf),
                             "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc


async def wait_caught_up(base: str, expected: int, proc: subprocess.Popen[bytes]) -> None:
    import aiohttp

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (proc.stderr.read() if proc.stderr else b"").decode()
        try:
            session = await logged_in(base)
        except aiohttp.ClientError:
            await asyncio.sleep(0.3)
            continue
        async with session:
            while time.monotonic() < deadline:
                text = await (await session.get("/problems?fragment=1")).text()
                if f"of {expected} open alerts" in text:
                    return
                await asyncio.sleep(0.3)
    raise SystemExit("bench/console.py: the console never showed every alert")


async def render_times(base: str, runs: int) -> tuple[list[float], list[float]]:
    session = await logged_in(base)
    async with session:
        pages, floor = [], []
        for i in range(runs):
            t0 = time.perf_counter()
            async with session.get(f"/problems?bench={i}", headers={"Accept-Encoding": "gzip"}) as r:
                await r.read()
                assert r.status == 200
            pages.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            async with session.get("/login") as r:
                await r.read()
            floor.append(time.perf_counter() - t0)
        return pages, floor


def in_process_render(alerts: dict[str, Any], incidents: dict[str, Any], runs: int) -> tuple[list[float], list[float]]:
    """The page's own fragment rendering without HTTP: cold (a console just started: no row rendered yet) and
    warm (one alert changed since the last rendering, the usual case of a live page)."""
    from zoneinfo import ZoneInfo

    from vigie.console.i18n import Translator
    from vigie.console.pages.problems import render_fragment
    from vigie.console.server import Console
    from vigie.console.state import ConsoleState
    from vigie.topics import ALERTS, INCIDENTS

    t = Translator("en", ZoneInfo("Europe/Paris"))
    cold, warm = [], []
    for k in range(runs):
        state = ConsoleState()
        for key, value in incidents.items():
            state.apply(INCIDENTS, key, value)
        for key, value in alerts.items():
            state.apply(ALERTS, key, value)
        console = Console(accounts=None, sessions=None, limiter=None, state=state,  # type: ignore[arg-type]
                          timezone=t.timezone, session_lifetime=1, wall_session_lifetime=1)
        t0 = time.perf_counter()
        render_fragment(console, t, {}, wall=False, can_act=False)
        cold.append(time.perf_counter() - t0)
        fp = list(alerts)[k]
        state.apply(ALERTS, fp, {**alerts[fp], "count": 1000 + k})
        t0 = time.perf_counter()
        render_fragment(console, t, {}, wall=False, can_act=False)
        warm.append(time.perf_counter() - t0)
    return cold, warm


def idle_cpu(pid: int, seconds: float) -> float:
    before, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - t0)


def run_clients(base: str, pages: int) -> tuple[Any, Any, Any, Any]:
    ctx = multiprocessing.get_context("spawn")
    out, ready, stop = ctx.Queue(), ctx.Semaphore(0), ctx.Event()
    proc = ctx.Process(target=clients_process, args=(base, pages, out, ready, stop), daemon=True)
    proc.start()
    for _ in range(pages):
        if not ready.acquire(timeout=60):
            raise SystemExit("bench/console.py: the SSE clients did not connect")
    return proc, out, stop, ready


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_arguments(parser)
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--incidents", type=int, default=500)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument("--renders", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--idle-pages", type=int, default=5)
    args = parser.parse_args()
    if args.quick:
        args.changes, args.renders, args.idle_seconds = 5, 10, 5.0
    preflight("bench/console.py", missing_broker(args.bootstrap) + missing_modules("aiohttp", "confluent_kafka"))

    from confluent_kafka import Consumer, Producer, TopicPartition

    from vigie.console.accounts import AccountStore
    from vigie.local_broker import free_port
    from vigie.schemas.codec import dumps, loads
    from vigie.topics import ALERTS, INCIDENTS

    print(f"bench/console.py: {machine()}", flush=True)
    alerts, incidents = alerts_and_incidents(args.alerts, args.incidents)
    with broker(args.bootstrap) as settings, tempfile.TemporaryDirectory(prefix="vigie-bench-console-") as tmp:
        producer = Producer({**settings.librdkafka(), "linger.ms": 5})
        for table, logical in ((incidents, INCIDENTS), (alerts, ALERTS)):
            for key, value in table.items():
                producer.produce(settings.topic(logical), dumps(value), key.encode())
                producer.poll(0)
        producer.flush(30)
        port = free_port()
        conf = Path(tmp) / "vigie.toml"
        conf.write_text(f'state_dir = "{Path(tmp) / "state"}"\n[kafka]\nbootstrap_servers = "{settings.bootstrap_servers}"\n'
                        f'topic_prefix = "{settings.topic_prefix}"\n[console]\nlisten = "127.0.0.1:{port}"\n')
        AccountStore.under(Path(tmp) / "state").add("bench", "viewer", PASSWORD)
        base = f"http://127.0.0.1:{port}"
        console = start_console(conf, port)
        try:
            asyncio.run(wait_caught_up(base, len(alerts), console))
            print(f"console caught up with {len(alerts)} alerts in {len(incidents)} incidents", flush=True)

            # 1. render
            cold, warm = in_process_render(alerts, incidents, max(3, args.renders // 8))
            pages, floor = asyncio.run(render_times(base, args.renders))
            print(f"\n1. Problems page, {len(alerts)} open alerts in {len(incidents)} incidents, "
                  f"{args.renders} renders of a new fragment key, rows already rendered (load {load()})")
            print(f"   GET /problems  p50 {1000 * statistics.median(pages):7.1f} ms  p95 {1000 * percentile(pages, 95):7.1f} ms"
                  f"   (target p95 <= 200 ms)")
            print(f"   GET /login     p50 {1000 * statistics.median(floor):7.1f} ms  (reference: the server's floor; "
                  f"ratio {statistics.median(pages) / statistics.median(floor):.0f}x)")
            print(f"   in process, a change since the last rendering  p50 {1000 * statistics.median(warm):7.1f} ms  "
                  f"max {1000 * max(warm):7.1f} ms")
            print(f"   in process, cold (nothing rendered yet)         p50 {1000 * statistics.median(cold):7.1f} ms  "
                  f"max {1000 * max(cold):7.1f} ms")

            # 2. live
            reader = Consumer({**settings.librdkafka(), "group.id": f"bench-{uuid.uuid4().hex[:6]}",
                               "enable.auto.commit": False})
            topic = settings.topic(ALERTS)
            meta = reader.list_topics(topic, timeout=10).topics[topic]
            reader.assign([TopicPartition(topic, p, reader.get_watermark_offsets(TopicPartition(topic, p), 10)[1])
                           for p in meta.partitions])
            proc, out, stop, _ready = run_clients(base, args.pages)
            produced: dict[str, float] = {}
            consumed: dict[str, float] = {}
            roots = [inc["alerts"][0] for inc in incidents.values()]  # shown rows (the other members are folded)
            for k in range(args.changes):
                token = f"{TOKEN_PREFIX}{k}"
                fp = roots[(k * 97) % len(roots)]
                value = {**alerts[fp], "summary": f"{token} changed", "count": 100 + k}
                produced[token] = time.time()
                producer.produce(topic, dumps(value), fp.encode())
                producer.flush(10)
                deadline = time.monotonic() + 1.5
                while time.monotonic() < deadline:
                    for msg in reader.consume(100, 0.05):
                        if msg.error() is None:
                            summary = loads(msg.value()).get("summary", "")
                            if summary.startswith(TOKEN_PREFIX):
                                consumed.setdefault(summary.split()[0], time.time())
            time.sleep(2)
            stop.set()
            seen = out.get(timeout=60)
            proc.join(30)
            reader.close()
            latencies = [page[token] - at for token, at in produced.items() for page in seen if token in page]
            missed = len(produced) * args.pages - len(latencies)
            kafka = [consumed[tok] - at for tok, at in produced.items() if tok in consumed]
            print(f"\n2. a change on the alerts topic -> the fragment fetched by {args.pages} open pages, "
                  f"{args.changes} changes (load {load()})")
            print(f"   console  p50 {1000 * statistics.median(latencies):7.1f} ms  p99 {1000 * percentile(latencies, 99):7.1f} ms"
                  f"  max {1000 * max(latencies):7.1f} ms  missed {missed}   (target p99 <= 1000 ms)")
            print(f"   kafka    p50 {1000 * statistics.median(kafka):7.1f} ms  p99 {1000 * percentile(kafka, 99):7.1f} ms"
                  f"   (reference: a bare consumer of the same records; ratio of p50s "
                  f"{statistics.median(latencies) / max(statistics.median(kafka), 1e-6):.0f}x)")

            # 3. idle
            alone = idle_cpu(console.pid, args.idle_seconds)
            proc, out, stop, _ready = run_clients(base, args.idle_pages)
            time.sleep(1)
            with_pages = idle_cpu(console.pid, args.idle_seconds)
            stop.set()
            out.get(timeout=60)
            proc.join(30)
            print(f"\n3. idle console process over {args.idle_seconds:.0f} s (load {load()})")
            print(f"   {args.idle_pages} open pages: {with_pages:.4f} of a core   "
                  f"no page: {alone:.4f} (reference; difference {with_pages - alone:+.4f})")
        finally:
            console.terminate()
            console.wait(30)
            producer.flush(10)
            del producer  # before the broker stops: no reconnect noise
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
