"""The stages' metrics without Kafka: what they count, and how children's values reach the parent's registry."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

from confluent_kafka import KafkaError, KafkaException
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from vigie.metrics import (
    _describe,
    child_metrics_env,
    child_metrics_exited,
    prepare_children_metrics,
    sum_lag,
)
from vigie.pipelines.archive.manifest import ManifestAgeCollector
from vigie.producers.checks.runner import CheckRunner, ServiceDef, execute
from vigie.sink import MemorySink
from vigie.stage_metrics import ArchiveMetrics, CheckMetrics, NotifyMetrics, WorkerMetrics


def _samples(*metrics: object) -> dict[tuple[str, tuple], float]:
    out = {}
    for metric in metrics:
        for family in metric.collect():
            for s in family.samples:
                if not s.name.endswith("_created"):
                    out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _engine(firing: int, incidents: int) -> SimpleNamespace:
    return SimpleNamespace(engine=SimpleNamespace(correlation=SimpleNamespace(
        firing=dict.fromkeys(range(firing)), incidents=dict.fromkeys(range(incidents)))))


def test_worker_metrics_publish_what_the_stages_counted_since_last_time() -> None:
    normalize = SimpleNamespace(consumed=0, events=0, dead=0)
    correlate = SimpleNamespace(processed=0, parts={},
                                produced={"alerts": 0, "incidents": 0, "notifications": 0, "deadletter": 0})
    m = WorkerMetrics([normalize, correlate])
    got = _samples(m.records_in, m.records_out)
    assert got[("vigie_pipeline_records_in_total", (("stage", "normalize"),))] == 0  # exists before any record
    assert got[("vigie_pipeline_records_out_total", (("stage", "correlate"), ("topic", "incidents")))] == 0
    normalize.consumed, normalize.events, normalize.dead = 100, 60, 2
    correlate.processed, correlate.produced["alerts"] = 60, 7
    correlate.parts = {0: _engine(3, 1), 1: _engine(2, 1)}
    m.publish()
    normalize.consumed += 50
    m.publish()
    m.publish()  # nothing new: nothing added
    got = _samples(m.records_in, m.records_out, m.alerts_open, m.incidents_open)
    assert got[("vigie_pipeline_records_in_total", (("stage", "normalize"),))] == 150
    assert got[("vigie_pipeline_records_in_total", (("stage", "correlate"),))] == 60
    assert got[("vigie_pipeline_records_out_total", (("stage", "normalize"), ("topic", "events")))] == 60
    assert got[("vigie_pipeline_records_out_total", (("stage", "normalize"), ("topic", "deadletter")))] == 2
    assert got[("vigie_pipeline_records_out_total", (("stage", "correlate"), ("topic", "alerts")))] == 7
    assert got[("vigie_alerts_open", ())] == 5 and got[("vigie_incidents_open", ())] == 2


def test_archive_metrics_follow_the_sink_counts() -> None:
    sink = SimpleNamespace(rows_consumed=0, rows_written=0, files_written=0, last_written_at=None)
    m = ArchiveMetrics()
    m.publish(sink)
    sink.rows_consumed, sink.rows_written, sink.files_written, sink.last_written_at = 900, 500, 2, 1.7e9
    m.publish(sink)
    sink.rows_written, sink.files_written = 900, 3
    m.publish(sink)
    got = _samples(m.rows_consumed, m.rows_written, m.files_written, m.last_file)
    assert got[("vigie_archive_rows_consumed_total", ())] == 900
    assert got[("vigie_archive_rows_written_total", ())] == 900
    assert got[("vigie_archive_files_written_total", ())] == 3
    assert got[("vigie_archive_last_file_timestamp_seconds", ())] == 1.7e9


def test_check_runner_counts_results_by_state_and_timeouts() -> None:
    metrics = CheckMetrics(CollectorRegistry())
    runner = CheckRunner(MemorySink(), [], metrics=metrics)
    for script in ("echo OK", "echo CRIT; exit 2", "exit 7"):
        asyncio.run(runner.check_once(ServiceDef(host="h", command=["/bin/sh", "-c", script])))
    asyncio.run(runner.check_once(ServiceDef(host="h", command=["/bin/sleep", "30"], timeout=0.2)))
    got = _samples(metrics.results, metrics.timeouts)
    by_state = {dict(labels)["state"]: v for (name, labels), v in got.items() if name == "vigie_check_results_total"}
    assert by_state == {"OK": 1, "WARNING": 0, "CRITICAL": 1, "UNKNOWN": 2}
    assert got[("vigie_check_plugin_timeouts_total", ())] == 1


def test_execute_flags_only_a_timeout_as_timed_out() -> None:
    assert asyncio.run(execute(["/bin/sleep", "30"], timeout=0.2)).timed_out
    assert not asyncio.run(execute(["/bin/sh", "-c", "exit 3"], timeout=30)).timed_out


def test_notify_metrics_create_each_route_at_zero() -> None:
    registry = CollectorRegistry()
    sent, _failed = NotifyMetrics(registry).route("ops")
    sent.inc()
    text = generate_latest(registry).decode()
    assert 'vigie_notifications_sent_total{channel="webhook",route="ops"} 1.0' in text
    assert 'vigie_notifications_failed_total{channel="webhook",route="ops"} 0.0' in text


def test_manifest_age_is_absent_before_the_first_entry_then_grows(tmp_path: Path) -> None:
    collector = ManifestAgeCollector(tmp_path)
    assert _samples(collector) == {}
    (tmp_path / "manifest.jsonl").write_text("{}\n")
    then = time.time() - 100
    os.utime(tmp_path / "manifest.jsonl", (then, then))
    age = _samples(collector)[("vigie_archive_manifest_head_age_seconds", ())]
    assert 100 <= age < 200


def test_lag_leaves_out_only_the_group_and_topic_a_failed_partition_belongs_to() -> None:
    committed = {"normalize": [("raw", 0, 10), ("raw", 1, 5), ("traps", 0, 3)],
                 "archive": [("raw", 0, 4), ("raw", 1, 5)],
                 "notify": [("notes", 0, 7)]}
    ends = {("raw", 0): 12, ("traps", 0): 3, ("notes", 0): 9}  # raw[1] did not answer (FENCED_LEADER_EPOCH)
    assert sum_lag(committed, ends, broken={("notify", "notes")}) == {("normalize", "traps"): 0}
    ends[("raw", 1)] = 8
    assert sum_lag(committed, ends, broken=set()) == {
        ("normalize", "raw"): 5, ("normalize", "traps"): 0, ("archive", "raw"): 11, ("notify", "notes"): 2}


def test_an_error_without_text_is_still_described() -> None:
    text = _describe(KafkaException(KafkaError(KafkaError._TIMED_OUT)))
    assert text.startswith("KafkaException _TIMED_OUT")


_CHILD = textwrap.dedent("""
    import sys
    from types import SimpleNamespace
    from vigie.stage_metrics import WorkerMetrics
    stage = SimpleNamespace(processed=int(sys.argv[1]), parts={0: SimpleNamespace(engine=SimpleNamespace(
        correlation=SimpleNamespace(firing=dict.fromkeys(range(int(sys.argv[2]))), incidents={})))},
        produced={"alerts": 0})
    WorkerMetrics([stage]).publish()
""")


def _child(state: Path, ident: str, processed: int, firing: int) -> None:
    subprocess.run([sys.executable, "-c", _CHILD, str(processed), str(firing)], check=True,
                   env=child_metrics_env(state, ident))


def _parent_view(state: Path) -> str:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(state / "metrics"))
    return generate_latest(registry).decode()


def test_children_metrics_merge_in_the_parent_and_a_dead_childs_live_gauges_go(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_old-run.db").write_bytes(b"left by a previous vigie up")
    prepare_children_metrics(tmp_path)
    assert list((tmp_path / "metrics").iterdir()) == []
    _child(tmp_path, "pipelines-0", 10, 3)
    _child(tmp_path, "pipelines-1", 5, 4)
    text = _parent_view(tmp_path)
    assert 'vigie_pipeline_records_in_total{stage="correlate"} 15.0' in text
    assert "vigie_alerts_open 7.0" in text
    child_metrics_exited(tmp_path, "pipelines-1")  # its alerts leave the sum, its counts stay
    text = _parent_view(tmp_path)
    assert "vigie_alerts_open 3.0" in text
    assert 'vigie_pipeline_records_in_total{stage="correlate"} 15.0' in text
    _child(tmp_path, "pipelines-1", 2, 1)  # restarted: continues its own file rather than adding one
    text = _parent_view(tmp_path)
    assert 'vigie_pipeline_records_in_total{stage="correlate"} 17.0' in text
    assert sorted(p.name for p in (tmp_path / "metrics").iterdir()) == [
        "counter_pipelines-0.db", "counter_pipelines-1.db", "gauge_livesum_pipelines-0.db",
        "gauge_livesum_pipelines-1.db"]
