"""Metrics of the stages: pipelines workers and archive sinks (child processes), notifiers and active checks.

How a child's numbers reach the one /metrics of `vigie up` (the parent side is in vigie/metrics.py):
prometheus_client's multiprocess mode. The parent gives each child PROMETHEUS_MULTIPROC_DIR (a folder
under the state folder, emptied at every start) and the child's values live in memory-mapped files
there, which a MultiProcessCollector in the parent's registry reads and merges at scrape time. Why
this and not a port per child, or a push to the parent: nothing to allocate or discover, no socket in
the child, a scrape never waits for a child, and a dead child's counters stay readable.

Its limits, and what is done about each:

* only Counter, Gauge, Histogram and Summary values work in a child (no custom collector reading
  attributes at scrape time): so each stage keeps plain ints on its hot path and `publish()` copies
  their growth into the counters from outside the inner loop (the worker's main thread, the sink's
  loop once per consume batch), never once per record;
* files are named after the process: with the default pid, every restart of a crashing child would
  add files that every scrape reads. Children name them after their service instance instead
  (VIGIE_METRICS_ID, e.g. "pipelines-0"): only one process per instance runs at a time (the
  supervisor waits for the old one), a restarted child continues its counters from the file, and the
  folder holds one set of files per instance;
* a gauge must say how processes combine: "livesum" for what live workers hold (alerts, incidents),
  removed by the parent when the child exits (mark_process_dead); "max" for the last file time,
  kept after the writer died, since that is what an alert on a silent archive must see;
* no `_created` samples and no exemplars for children's metrics.

Outside `vigie up` (tests, `python -m vigie.pipelines.archive.sink`) the same objects are plain
in-process values registered nowhere: they cost the same and export nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CHILD_ID_ENV = "VIGIE_METRICS_ID"
CHECK_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
_child_lock = threading.Lock()
_child_ident: str | None = None


def use_child_files() -> None:
    """In a child of `vigie up`: name the multiprocess files after the service instance, not the pid.

    Must run before the child's first metric is created (prometheus_client picks the value class then).
    """
    global _child_ident
    ident, folder = os.environ.get(CHILD_ID_ENV), os.environ.get(MULTIPROC_ENV)
    with _child_lock:
        if not ident or not folder or _child_ident == ident:
            return
        values.ValueClass = values.MultiProcessValue(process_identifier=lambda: ident)
        _child_ident = ident


def _counter(name: str, doc: str, labels: Iterable[str] = ()) -> Counter:
    return Counter(name, doc, list(labels), registry=None)


class _Deltas:
    """Adds to Prometheus counters what plain ints grew by since the last call."""

    def __init__(self) -> None:
        self._seen: dict[Any, int] = {}

    def add(self, counter: Any, key: Any, total: int) -> None:
        grown = total - self._seen.get(key, 0)
        if grown > 0:
            counter.inc(grown)
            self._seen[key] = total


class WorkerMetrics:
    """One pipelines worker: records in and out per stage, alerts and incidents its engines hold open.

    The stages count in plain ints (NormalizeStage.consumed/events/dead, CorrelateStage.processed/produced)
    and publish() runs on the worker's main thread every half second, so the stage threads pay nothing.
    """

    def __init__(self, stages: Iterable[Any]) -> None:
        use_child_files()
        self.stages = list(stages)
        self.records_in = _counter("vigie_pipeline_records_in", "Records a pipeline stage consumed", ["stage"])
        self.records_out = _counter("vigie_pipeline_records_out", "Records a pipeline stage produced, per topic",
                                    ["stage", "topic"])
        self.alerts_open = Gauge("vigie_alerts_open", "Alerts firing in the correlation engines",
                                 multiprocess_mode="livesum", registry=None)
        self.incidents_open = Gauge("vigie_incidents_open", "Incidents open in the correlation engines",
                                    multiprocess_mode="livesum", registry=None)
        self._deltas = _Deltas()
        for stage, outs in self._outputs():
            self.records_in.labels(stage)
            for topic in outs:
                self.records_out.labels(stage, topic)  # every series exists from the start, at 0

    def _outputs(self) -> list[tuple[str, dict[str, int]]]:
        out = []
        for st in self.stages:
            if hasattr(st, "produced"):  # correlate
                out.append(("correlate", st.produced))
            else:
                out.append(("normalize", {"events": st.events, "deadletter": st.dead}))
        return out

    def publish(self) -> None:
        for st, (stage, outs) in zip(self.stages, self._outputs(), strict=True):
            consumed = st.processed if stage == "correlate" else st.consumed
            self._deltas.add(self.records_in.labels(stage), (stage,), consumed)
            for topic, n in list(outs.items()):
                self._deltas.add(self.records_out.labels(stage, topic), (stage, topic), n)
            if stage == "correlate":
                engines = [ps.engine for ps in list(st.parts.values())]
                self.alerts_open.set(sum(len(e.correlation.firing) for e in engines))
                self.incidents_open.set(sum(len(e.correlation.incidents) for e in engines))


class ArchiveMetrics:
    """One archive sink: rows and files written, when the last file appeared (from the sink's own counts)."""

    def __init__(self) -> None:
        use_child_files()
        self.rows_consumed = _counter("vigie_archive_rows_consumed", "Rows the archive sink read from Kafka")
        self.rows_written = _counter("vigie_archive_rows_written", "Rows written to archive files")
        self.files_written = _counter("vigie_archive_files_written", "Archive files made visible")
        self.last_file = Gauge("vigie_archive_last_file_timestamp_seconds",
                               "When the last archive file was made visible (Unix time)",
                               multiprocess_mode="max", registry=None)
        self._deltas = _Deltas()
        self._last: float | None = None

    def publish(self, sink: Any) -> None:
        """Called once per consume batch from the sink's loop: a few int comparisons when nothing changed."""
        self._deltas.add(self.rows_consumed, "c", sink.rows_consumed)
        self._deltas.add(self.rows_written, "w", sink.rows_written)
        self._deltas.add(self.files_written, "f", sink.files_written)
        last = sink.last_written_at
        if last is not None and last != self._last:
            self.last_file.set(last)
            self._last = last


class NotifyMetrics:
    """Notifications delivered or given up, per route and channel, and per receiver: sent, failed, retries,
    latency of the accepted attempt (the notifier is a child process under `vigie up`: plain values)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.sent = Counter("vigie_notifications_sent", "Notifications the receiver accepted",
                            ["route", "channel"], registry=registry)
        self.failed = Counter("vigie_notifications_failed", "Notifications given up and dead-lettered",
                              ["route", "channel"], registry=registry)
        self.receiver_sent = Counter("vigie_notify_sent", "Messages a receiver accepted", ["receiver", "channel"],
                                     registry=registry)
        self.receiver_failed = Counter("vigie_notify_failed", "Messages given up for a receiver",
                                       ["receiver", "channel"], registry=registry)
        self.retries = Counter("vigie_notify_retries", "Failed attempts followed by another", ["receiver", "channel"],
                               registry=registry)
        self.latency = Histogram("vigie_notify_latency_seconds", "Duration of the attempt a receiver accepted",
                                 ["receiver", "channel"], registry=registry,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

    def prepare(self, route: str, channels: Iterable[tuple[str, str]]) -> None:
        """Every series of a route's (receiver, channel) pairs at 0, so that a rate over them exists at once."""
        for receiver, kind in channels:
            self.sent.labels(route, kind)
            self.failed.labels(route, kind)
            for family in (self.receiver_sent, self.receiver_failed, self.retries, self.latency):
                family.labels(receiver, kind)

    def route(self, route: str, channel: str = "webhook") -> tuple[Any, Any]:
        """The (sent, failed) counters of one route, created at 0."""
        return self.sent.labels(route, channel), self.failed.labels(route, channel)

    def delivered(self, route: str, receiver: str, kind: str, seconds: float) -> None:
        self.sent.labels(route, kind).inc()
        self.receiver_sent.labels(receiver, kind).inc()
        self.latency.labels(receiver, kind).observe(seconds)

    def retried(self, receiver: str, kind: str) -> None:
        self.retries.labels(receiver, kind).inc()

    def given_up(self, route: str, receiver: str, kind: str) -> None:
        self.failed.labels(route, kind).inc()
        self.receiver_failed.labels(receiver, kind).inc()


class CheckMetrics:
    """Active check results by state, and plugins killed at their timeout (the runner runs in `vigie up`)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.results = Counter("vigie_check_results", "Active check results, by state", ["state"],
                               registry=registry)
        self.timeouts = Counter("vigie_check_plugin_timeouts", "Check plugins killed at their timeout",
                                registry=registry)
        self._by_status = [self.results.labels(s) for s in CHECK_STATES]

    def observe(self, status: int, timed_out: bool) -> None:
        self._by_status[status if 0 <= status < len(CHECK_STATES) else 3].inc()
        if timed_out:
            self.timeouts.inc()


class PollMetrics:
    """SNMP polls by resulting state, and polls skipped because the previous one of their target was still
    running or the process stalled (the poller runs in `vigie up`)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.results = Counter("vigie_snmp_polls", "SNMP polls, by resulting state", ["state"], registry=registry)
        self.late = Counter("vigie_snmp_polls_late", "SNMP polls skipped: the previous one was still running",
                            registry=registry)
        self._by_status = [self.results.labels(s) for s in CHECK_STATES]

    def observe(self, status: int, timed_out: bool) -> None:
        self._by_status[status if 0 <= status < len(CHECK_STATES) else 3].inc()

    def skipped(self, n: int) -> None:
        self.late.inc(n)
