"""Syslog intake benchmark: Vigie's listeners vs rsyslog (imudp/imtcp + omkafka) into the same Kafka broker.

    python bench/syslog_intake.py [--duration 30] [--udp-rate 20000] [--rounds 3] [--quick] [--bootstrap host:port]
    python bench/syslog_intake.py --scenarios vigie-tcp,rsyslog-tcp --rounds 5  # the TCP ratio alone

In one run, against one broker (a local one unless --bootstrap is given), each scenario sends
200-byte RFC 5424 messages for --duration seconds from a separate sender process:

- bare-producer: Vigie's KafkaSink producing the same records in a tight loop: the limit;
- vigie-udp / rsyslog-udp: UDP paced at --udp-rate (no-loss target 20,000/s);
- vigie-tcp / rsyslog-tcp: one TCP connection, as fast as the receiver takes it (target >= 50,000/s).

Vigie runs its UDP and TCP listeners with a KafkaSink in a process of its own, as rsyslogd is.
What landed is read from the topics' end offsets, so loss is sent minus landed; a rate is what
landed divided by the time from the first send to the last record landing. CPU is the receiving
process's user+system time per message. Ratios: Vigie/rsyslog per transport, and every rate
against the bare producer. rsyslog needs the omkafka module (Debian: apt-get install rsyslog-kafka).

On a shared machine one run proves nothing: the scenarios run --rounds times, interleaved
(bare, vigie-udp, rsyslog-udp, vigie-tcp, rsyslog-tcp, then again), every run is printed, and
the verdicts use medians: of each scenario's rates, and of the Vigie/rsyslog ratios of each round
(the two runs of a round are back to back, so they share most of the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _common import (
    add_broker_arguments,
    broker,
    end_offsets,
    load,
    machine,
    missing_broker,
    preflight,
    table,
    udp_kernel_drops,
    wait_landed,
)

from vigie.kafka_client import KafkaSettings
from vigie.topics import RAW_SYSLOG, TopicSpec

SIZE = 200
RSYSLOG_TOPIC = "rsyslog"
SCENARIOS = ("bare-producer", "vigie-udp", "rsyslog-udp", "vigie-tcp", "rsyslog-tcp")
CTX = mp.get_context("spawn")


def message(seq: int, size: int = SIZE) -> bytes:
    """One RFC 5424 message of `size` bytes, numbered."""
    head = b"<134>1 2024-05-01T10:00:00.123Z bench-host app 42 ID47 - seq=%d " % seq
    return head + b"x" * max(0, size - len(head))


# --- senders (separate processes: the receiver is measured, not the sender) ------------------------------


def send_udp(port: int, rate: int, duration: float, result: Any, began: Any) -> None:
    """Paced in 1 ms slices: at most one slice late, never a burst above the rate."""
    msgs = [message(i) for i in range(1024)]  # pre-built, cycled: the sender must keep up on a busy machine
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    send, sent = sock.send, 0
    start = time.perf_counter()
    began.value = time.monotonic()
    end = start + duration
    while (now := time.perf_counter()) < end:
        due = int((now - start) * rate)
        if sent >= due:
            time.sleep(0.0005)
            continue
        for i in range(sent, min(due, sent + 256)):
            send(msgs[i & 1023])
            sent += 1
    sock.close()
    result.value = sent


def send_tcp(port: int, duration: float, result: Any, began: Any) -> None:
    """As fast as TCP lets us (the receiver's pace): LF-framed blocks of 1,024 pre-built messages."""
    block = b"".join(message(i) + b"\n" for i in range(1024))
    sock = socket.create_connection(("127.0.0.1", port))
    began.value = time.monotonic()
    sent, end = 0, time.perf_counter() + duration
    while time.perf_counter() < end:
        sock.sendall(block)
        sent += 1024
    sock.close()
    result.value = sent


# --- the receivers ----------------------------------------------------------------------------------------


def vigie_intake(settings: KafkaSettings, conn: Connection) -> None:
    """Vigie's UDP and TCP listeners with a KafkaSink, in their own process; answers "stats" and "stop"."""
    from vigie.kafka_client import KafkaSink
    from vigie.producers.syslog.listeners import ListenerSettings, make_listener
    from vigie.producers.syslog.metrics import SyslogMetrics

    async def serve() -> None:
        sink = KafkaSink(settings)
        metrics = SyslogMetrics(None)
        udp = make_listener(ListenerSettings(name="bench-udp", transport="udp", port=0), sink, metrics)
        tcp = make_listener(ListenerSettings(name="bench-tcp", transport="tcp", port=0), sink, metrics)
        await udp.start()
        await tcp.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def command() -> None:
            what = conn.recv()
            if what == "stop":
                stop.set()
            else:
                conn.send(
                    {"udp": udp.stats.snapshot(), "tcp": tcp.stats.snapshot(), "pending": sink.pending()}
                )

        loop.add_reader(conn.fileno(), command)
        conn.send((udp.port, tcp.port))
        await stop.wait()
        loop.remove_reader(conn.fileno())
        await udp.stop()
        await tcp.stop()
        sink.close(60)

    asyncio.run(serve())


class Vigie:
    """The Vigie intake process seen from the bench."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.conn, child = CTX.Pipe()
        self.proc = CTX.Process(target=vigie_intake, args=(settings, child), name="vigie-intake")
        self.proc.start()
        if not self.conn.poll(60):
            raise RuntimeError("the Vigie intake process did not start")
        self.udp_port, self.tcp_port = self.conn.recv()
        self.topic = settings.topic(RAW_SYSLOG)

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(90)


RSYSLOG_CONF = """\
global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp" maxSessions="100")
module(load="omkafka")
template(name="raw" type="string" string="%rawmsg%")
ruleset(name="bench" queue.type="LinkedList" queue.size="200000" queue.dequeueBatchSize="1024"
        queue.timeoutEnqueue="60000") {{
  action(type="omkafka" broker=["{bootstrap}"] topic="{topic}" template="raw" key="127.0.0.1"
         partitions.auto="on"
         confParam=["compression.codec=lz4", "queue.buffering.max.ms=5", "enable.idempotence=true",
                    "queue.buffering.max.messages=1000000", "queue.buffering.max.kbytes=262144",
                    "batch.size=1000000"]
         topicConfParam=["request.required.acks=-1", "message.timeout.ms=0"])
}}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="bench" rcvBufSize="16m")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="bench")
"""


class Rsyslog:
    """rsyslogd in the foreground on free ports, with omkafka writing %rawmsg% to the bench topic.

    The same guarantees as Vigie's sink (acks=all, idempotence, lz4, 5 ms linger, infinite retry),
    the same key (one partition), and the same 16 MiB UDP receive buffer.
    """

    def __init__(self, settings: KafkaSettings, workdir: Path) -> None:
        rsyslogd = _rsyslogd()
        problems = rsyslog_missing()
        if problems:
            raise RuntimeError("; ".join(problems))
        from vigie.local_broker import free_port

        self.udp_port, self.tcp_port = _free_udp_port(), free_port()
        self.topic = settings.topic(RSYSLOG_TOPIC)
        (workdir / "work").mkdir(parents=True, exist_ok=True)
        conf = workdir / "rsyslog.conf"
        conf.write_text(
            RSYSLOG_CONF.format(
                work=workdir / "work",
                bootstrap=settings.bootstrap_servers,
                topic=self.topic,
                udp=self.udp_port,
                tcp=self.tcp_port,
            )
        )
        check = subprocess.run([rsyslogd, "-N1", "-f", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"rsyslog refuses the bench configuration: {check.stderr or check.stdout}")
        self.log = open(workdir / "rsyslogd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [rsyslogd, "-n", "-f", str(conf), "-i", str(workdir / "rsyslogd.pid")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"rsyslogd did not start; see {workdir / 'rsyslogd.log'}") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _rsyslogd() -> str:
    return shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def _rsyslog_module_dirs() -> list[str]:
    dirs = os.environ.get("VIGIE_BENCH_RSYSLOG_MODULE_DIRS")  # lets a test show the bench without omkafka
    if dirs is not None:
        return dirs.split(os.pathsep)
    return ["/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/rsyslog", "/usr/lib64/rsyslog"]


def rsyslog_missing() -> list[str]:
    """Why the rsyslog scenarios cannot run here (rsyslogd, its omkafka module), as reasons; [] when they can."""
    if not os.access(_rsyslogd(), os.X_OK):
        return ["rsyslogd is not installed (Debian: rsyslog)"]
    if not any(Path(d, "omkafka.so").exists() for d in _rsyslog_module_dirs()):
        return ["rsyslog's omkafka module is missing (Debian: rsyslog-kafka)"]
    return []


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process and all its threads, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- scenarios --------------------------------------------------------------------------------------------


@dataclass
class Result:
    """One scenario's figures."""

    name: str
    sent: int
    landed: int
    seconds: float  # first send to last record landed
    cpu: float  # receiver CPU seconds
    notes: str = ""
    round: int = 1
    load: str = ""  # load averages right after the run

    @property
    def rate(self) -> float:
        return self.landed / self.seconds if self.seconds > 0 else 0.0

    @property
    def loss(self) -> int:
        return self.sent - self.landed

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu / max(self.landed, 1)


def bare_producer(settings: KafkaSettings, duration: float, out: Any) -> None:
    """KafkaSink producing the listener's records (same bytes, key and headers) in a tight loop, by produce_many."""
    from vigie.kafka_client import KafkaSink
    from vigie.sink import BufferFull

    sink = KafkaSink(settings)
    sink.produce(RAW_SYSLOG, b"warm-up", b"127.0.0.1")
    sink.flush(30)
    msgs = [message(i) for i in range(1024)]
    headers = [
        ("received_at", b"2024-05-01T10:00:00.123000Z"),
        ("peer", b"127.0.0.1:40000"),
        ("transport", b"udp"),
        ("listener", b"bench-udp"),
    ]
    n, cpu0 = 0, time.process_time()
    t0 = time.perf_counter()
    end = t0 + duration
    # Batches of 1,024 with one header list, as the TCP listener hands a read's frames; like the listener
    # (which waits in epoll and recv between reads) it lets go of the GIL between batches, or the sink's
    # delivery-report thread, which needs the GIL once per record, waits out whole switch intervals.
    while time.perf_counter() < end:
        i = 0
        while i < len(msgs):
            i = sink.produce_many(RAW_SYSLOG, msgs, b"127.0.0.1", headers, i)
            if i < len(msgs):
                try:
                    sink.produce(RAW_SYSLOG, msgs[i], b"127.0.0.1", headers)
                    i += 1
                except BufferFull:
                    time.sleep(0.005)
        n += len(msgs)
        time.sleep(0)
    assert sink.flush(300) == 0
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    sink.close()
    out.put((n, elapsed, cpu))


def run_bare(settings: KafkaSettings, duration: float) -> Result:
    out = CTX.Queue()
    before = end_offsets(settings, settings.topic(RAW_SYSLOG))
    proc = CTX.Process(target=bare_producer, args=(settings, duration, out), name="bare-producer")
    proc.start()
    n, elapsed, cpu = out.get(timeout=duration + 600)
    proc.join()
    landed = end_offsets(settings, settings.topic(RAW_SYSLOG)) - before - 1  # minus the warm-up
    return Result("bare-producer", n, landed, elapsed, cpu, "KafkaSink.produce_many tight loop, no network input")


def run_receiver(
    name: str, settings: KafkaSettings, receiver: Vigie | Rsyslog, transport: str, rate: int, duration: float
) -> Result:
    """Send for `duration` from another process, wait until the topic stops growing, count."""
    count = lambda: end_offsets(settings, receiver.topic)  # noqa: E731
    before = count()
    drops0, cpu0 = udp_kernel_drops(), cpu_seconds(receiver.pid)
    sent, began = CTX.Value("q", 0), CTX.Value("d", 0.0)  # the sender's own start: spawning is not measured
    if transport == "udp":
        sender = CTX.Process(target=send_udp, args=(receiver.udp_port, rate, duration, sent, began))
    else:
        sender = CTX.Process(target=send_tcp, args=(receiver.tcp_port, duration, sent, began))
    sender.start()
    sender.join()
    t0 = began.value
    landed, last = wait_landed(lambda: count() - before, sent.value, settle=5.0, timeout=300)
    cpu = cpu_seconds(receiver.pid) - cpu0
    kernel = udp_kernel_drops() - drops0
    notes = [f"kernel UDP drops {kernel:,}"] if transport == "udp" else []
    if isinstance(receiver, Vigie):
        stats = receiver.stats()[transport]
        notes.append(f"listener dropped {stats['dropped']:,}, paused {stats['paused']:,}")
    # A sender that finished before the receiver took everything: the time is until the last record landed.
    return Result(name, sent.value, landed, max(last - t0, 1e-9), cpu, "; ".join(notes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_broker_arguments(parser)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds each scenario sends")
    parser.add_argument("--udp-rate", type=int, default=20_000, help="UDP messages per second")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, from {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each scenario, interleaved; medians decide")
    args = parser.parse_args()
    duration = 5.0 if args.quick and args.duration == 30.0 else args.duration
    rounds = 1 if args.quick and args.rounds == 3 else max(1, args.rounds)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    wants_rsyslog = any(s.startswith("rsyslog") for s in chosen)
    preflight("bench/syslog_intake.py", missing_broker(args.bootstrap) + (rsyslog_missing() if wants_rsyslog else []))
    print(
        f"syslog_intake: {SIZE}-byte messages, {duration:.0f} s per scenario, {rounds} round(s); {machine()}",
        flush=True,
    )

    runs: list[Result] = []
    extra = [TopicSpec(RSYSLOG_TOPIC, 3, "delete", 3_600_000)]
    with (
        broker(args.bootstrap, extra) as settings,
        tempfile.TemporaryDirectory(prefix="vigie-rsyslog-") as tmp,
    ):
        vigie = rsyslog = None
        try:  # whatever fails to start, the finally stops what did (a live child once kept the bench hanging)
            vigie = Vigie(settings) if any(s.startswith("vigie") for s in chosen) else None
            rsyslog = Rsyslog(settings, Path(tmp)) if wants_rsyslog else None
            for round_ in range(1, rounds + 1):
                for name in chosen:
                    print(f"  {name} #{round_} ... (load {load()})", flush=True)
                    if name == "bare-producer":
                        result = run_bare(settings, duration)
                    else:
                        who, transport = name.split("-")
                        receiver = vigie if who == "vigie" else rsyslog
                        assert receiver is not None
                        result = run_receiver(name, settings, receiver, transport, args.udp_rate, duration)
                    result.round, result.load = round_, load()
                    runs.append(result)
                    print(
                        f"    sent {result.sent:,}, landed {result.landed:,}, {result.rate:,.0f}/s, "
                        f"loss {result.loss:,}, CPU {result.cpu_us:.2f} us/msg; {result.notes}",
                        flush=True,
                    )
        finally:
            if vigie is not None:
                vigie.stop()
            if rsyslog is not None:
                rsyslog.stop()
    report(runs, args.udp_rate, duration)


def median_result(runs: list[Result]) -> Result:
    """The run with the median rate (the lower middle one for an even count): a real run, not a blend."""
    ordered = sorted(runs, key=lambda r: r.rate)
    return ordered[(len(ordered) - 1) // 2]


def round_ratios(runs: list[Result], transport: str) -> list[float]:
    """Vigie/rsyslog rate in each round that ran both, for one transport."""
    vigie = {r.round: r for r in runs if r.name == f"vigie-{transport}"}
    peer = {r.round: r for r in runs if r.name == f"rsyslog-{transport}"}
    return [vigie[k].rate / peer[k].rate for k in sorted(vigie.keys() & peer.keys()) if peer[k].rate]


def report(runs: list[Result], udp_rate: int, duration: float) -> None:
    """Every run, then per scenario the median run; ratios to the bare producer and Vigie/rsyslog per round."""
    names = list(dict.fromkeys(r.name for r in runs))
    medians = {name: median_result([r for r in runs if r.name == name]) for name in names}
    limit = medians.get("bare-producer")
    print()
    print(
        table(
            ["scenario", "round", "load after", "sent", "landed", "lost", "msg/s", "CPU us/msg", "vigie/rsyslog"],
            [
                (
                    r.name,
                    r.round,
                    r.load,
                    r.sent,
                    r.landed,
                    r.loss,
                    r.rate,
                    r.cpu_us,
                    _ratio_in_round(runs, r),
                )
                for r in runs
            ],
        )
    )
    rows = []
    for name in names:
        r = medians[name]
        rates = sorted(x.rate for x in runs if x.name == name)
        rows.append(
            (
                name,
                len(rates),
                f"{rates[0]:,.0f}..{rates[-1]:,.0f}",
                r.rate,
                sum(x.loss for x in runs if x.name == name),
                statistics.median(x.cpu_us for x in runs if x.name == name),
                f"{r.rate / limit.rate:.2f}" if limit and limit.rate else "-",
            )
        )
    print()
    print(table(["scenario", "runs", "msg/s range", "median msg/s", "lost (all runs)", "median CPU us/msg",
                 "median vs bare"], rows))
    print()
    udp_runs = [r for r in runs if r.name == "vigie-udp"]
    if udp_runs:
        lost = sum(r.loss for r in udp_runs)
        sent = sum(r.sent for r in udp_runs)
        paced = min(r.sent for r in udp_runs) / duration
        verdict = "met" if lost == 0 and paced >= 0.95 * udp_rate else "NOT met"
        print(
            f"target UDP {udp_rate:,}/s without loss: {verdict} "
            f"(slowest sender {paced:,.0f}/s, lost {lost:,} of {sent:,} over {len(udp_runs)} run(s))"
        )
    tcp = medians.get("vigie-tcp")
    if tcp:
        print(f"target TCP >= 50,000/s: {'met' if tcp.rate >= 50_000 else 'NOT met'} (median {tcp.rate:,.0f}/s)")
    for t in ("udp", "tcp"):
        ratios = round_ratios(runs, t)
        if ratios:
            ratio = statistics.median(ratios)
            each = ", ".join(f"{x:.2f}" for x in ratios)
            print(
                f"target Vigie/rsyslog >= 0.5 over {t}: {'met' if ratio >= 0.5 else 'NOT met'} "
                f"(median of rounds {ratio:.2f}; rounds {each})"
            )
    print(f"load after: {load()}")


def _ratio_in_round(runs: list[Result], r: Result) -> str:
    if not r.name.startswith("vigie-"):
        return ""
    peer = next((x for x in runs if x.round == r.round and x.name == r.name.replace("vigie", "rsyslog")), None)
    return f"{r.rate / peer.rate:.2f}" if peer and peer.rate else "-"


if __name__ == "__main__":
    main()
