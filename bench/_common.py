"""What the intake benches share: a broker (local or given), topic end offsets, the machine's load, a table printer."""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vigie.kafka_client import KafkaSettings
from vigie.local_broker import LocalBroker, free_port
from vigie.topic_admin import ensure_topics
from vigie.topics import TopicSpec, default_specs

SETUP_HINT = "install what the benches need with: bash scripts/setup --bench"


def missing_tools(*names: str) -> list[str]:
    """The executables among `names` that are not on PATH, each as a reason."""
    return [f"{name} is not installed" for name in names if shutil.which(name) is None]


def missing_modules(*names: str) -> list[str]:
    """The Python modules among `names` that cannot be imported here, each as a reason."""
    return [f"Python module {name} is not installed" for name in names if importlib.util.find_spec(name) is None]


def missing_broker(bootstrap: str) -> list[str]:
    """Without --bootstrap a bench starts a local broker: it needs java and the broker's jars."""
    if bootstrap:
        return []
    from vigie.local_broker import default_cache_dir

    jars = default_cache_dir() / "libs"
    return missing_tools("java") + ([] if jars.is_dir() else [f"the Kafka broker's jars are not in {jars}"])


def preflight(bench: str, reasons: Sequence[str]) -> None:
    """A bench that cannot run says why in one line and exits 2 at once, before it starts a broker or a
    process (bench/syslog_intake.py without rsyslog's omkafka once hung for 10 minutes)."""
    if reasons:
        print(f"{bench}: cannot run: {'; '.join(reasons)} ({SETUP_HINT})", file=sys.stderr, flush=True)
        raise SystemExit(2)


def add_broker_arguments(parser: argparse.ArgumentParser) -> None:
    """--bootstrap (else a LocalBroker of our own) and --quick, the options every bench has."""
    parser.add_argument(
        "--bootstrap", default="", help="a running broker (host:port); default: start a local one"
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test of the bench")


@contextmanager
def broker(bootstrap: str, extra_topics: Sequence[TopicSpec] = (), partitions: int = 3) -> Iterator[KafkaSettings]:
    """Settings for a fresh topic set (unique prefix) on the given broker, or on a local one started for the run.

    A broker of our own keeps the bench away from whatever else runs on the machine's brokers.
    """
    preflight(f"bench/{Path(sys.argv[0]).name}", missing_broker(bootstrap))
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below: stop our broker
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        local = None
        if not bootstrap:
            # open (PLAINTEXT), as the benches' figures have always been measured: bench/archive_sasl.py
            # measures what authentication and ACLs cost the archive sink
            local = LocalBroker(Path(tmp), port=free_port(), controller_port=free_port(), heap="1g", sasl=False)
            print(f"starting a local Kafka broker on {local.bootstrap} ...", flush=True)
            local.start(timeout=120)
            bootstrap = local.bootstrap
        try:
            settings = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
            ensure_topics(settings, default_specs(partitions=partitions) + list(extra_topics))
            yield settings
        finally:
            if local is not None:
                local.stop()


def end_offsets(settings: KafkaSettings, topic: str) -> int:
    """The sum of the high watermarks of a topic (broker-side name): how many records it ever received."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({**settings.librdkafka(), "group.id": "bench-watermarks"})
    try:
        for attempt in range(40):  # a topic just created may not have its leaders yet
            try:
                meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
                if meta is None or meta.error is not None:
                    raise KafkaException(meta.error if meta else "no such topic")
                return sum(
                    consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                    for p in meta.partitions
                )
            except KafkaException:
                if attempt == 39:
                    raise
                time.sleep(0.25)
        raise AssertionError("unreachable")
    finally:
        consumer.close()


def wait_landed(
    count: Callable[[], int], expected: int, settle: float = 3.0, timeout: float = 120.0
) -> tuple[int, float]:
    """Poll a landed count until it reaches expected or stops growing for `settle` seconds.

    Returns the count and the monotonic time it last grew: the end of the delivery, for rates.
    """
    last, last_change = count(), time.monotonic()
    deadline = last_change + timeout
    while last < expected and time.monotonic() < deadline:
        time.sleep(0.25)
        now = count()
        if now != last:
            last, last_change = now, time.monotonic()
        elif time.monotonic() - last_change > settle:
            break
    return last, last_change


def udp_kernel_drops() -> int:
    """RcvbufErrors from /proc/net/snmp: datagrams the kernel dropped on full socket buffers (system-wide)."""
    with open("/proc/net/snmp") as f:
        lines = [line.split() for line in f if line.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def load() -> str:
    """The 1/5/15-minute load averages: the machine is shared, figures mean little without them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    """One line naming the machine a figure was measured on."""
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load {load()}"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table, numbers right-aligned with thousands separators."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 10 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True)
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])
