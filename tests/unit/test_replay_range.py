"""`vigie replay --from/--to`'s pure parts: a Kafka record's time, the merge by received_at, the range, and the
comparison with what the live worker produced (`--diff live`)."""

from __future__ import annotations

import copy

import orjson

from tests.replay_files import jsonl, syslog, trap
from vigie.config import validate
from vigie.pipelines.replay import (
    Replay,
    in_range,
    kafka_record,
    live_diff,
    merge_received,
    read_jsonl,
    result_outputs,
)
from vigie.schemas.codec import rfc3339

T = 1_740_823_200.0  # Saturday 2025-03-01 10:00 UTC
CONFIG = {"inventory": {"hosts": {"r1": {"site": "paris", "address": "10.1.0.1"}}}, "routes": [{"name": "oncall"}]}
LINK = "%LINK-3-UPDOWN: Interface Gi0/1, changed state to {}"


def test_a_records_time_is_its_received_at_header_else_a_traps_own_else_the_broker_timestamp():
    line = kafka_record("raw.syslog", b"<187>x", b"10.1.0.1", [("peer", b"10.1.0.1:514"), ("received_at", rfc3339(T).encode())],
                        int((T + 5) * 1000), 2, 7)
    assert line.received_at == T and line.key == b"10.1.0.1" and line.origin == {"topic": "raw.syslog", "partition": 2, "offset": 7}
    value = orjson.dumps(trap(T + 1, "10.1.0.1", 3, "Gi0/1", up=False)["value"])
    assert kafka_record("raw.traps", value, None, None, int((T + 5) * 1000), 0, 0).received_at == T + 1
    control = kafka_record("control", b'{"kind": "silence"}', b"s1", None, int((T + 5) * 1000), 0, 0)
    assert control.received_at == T + 5 and control.received_text == rfc3339(T + 5)
    tombstone = kafka_record("control", None, b"s1", None, int(T * 1000), 0, 1)
    assert tombstone.value == b"" and tombstone.received_at == T
    bad = kafka_record("raw.syslog", b"x", None, [("received_at", b"yesterday")], int(T * 1000), 0, 0)
    assert bad.received_at == T  # an unreadable header: the broker's time, never a traceback


def test_partitions_merge_by_received_at_each_keeping_its_own_order():
    def rec(at, n):
        return kafka_record("raw.checks", b"{}", None, [("received_at", rfc3339(at).encode())], 0, 0, n)

    p0 = [rec(T, 0), rec(T + 3, 1), rec(T + 2, 2)]  # receive order, one record late
    p1 = [rec(T + 1, 10), rec(T + 4, 11)]
    assert [r.origin["offset"] for r in merge_received([p0, p1])] == [0, 10, 1, 2, 11]


def test_the_range_keeps_what_was_received_in_it_and_the_control_commands_before_it():
    def rec(topic, at):
        return kafka_record(topic, b"{}", None, [("received_at", rfc3339(at).encode())], 0, 0, 0)

    records = [rec("control", T - 3600), rec("raw.checks", T - 1), rec("raw.checks", T), rec("raw.checks", T + 59.9),
               rec("raw.checks", T + 60)]
    kept = list(in_range(records, T, T + 60))
    assert [(r.topic, r.received_at) for r in kept] == [("control", T), ("raw.checks", T), ("raw.checks", T + 59.9)]
    assert kept[0].received_text == rfc3339(T)


def run(config=CONFIG, shift=0.0):
    records = [trap(T + shift, "10.1.0.1", 3, "Gi0/1", up=False), syslog(T + shift + 0.4, "10.1.0.1", "r1", LINK.format("down")),
               trap(T + 120 + shift, "10.1.0.1", 3, "Gi0/1", up=True), syslog(T + 120.3 + shift, "10.1.0.1", "r1", LINK.format("up"))]
    return result_outputs(Replay(validate(config)).run(read_jsonl(jsonl(records).splitlines()), settle=900))


def test_the_same_decisions_taken_a_few_ms_apart_are_no_difference():
    # a few ms apart within one tick of the grid (pipelines/correlate/clock.py): timers fire on the same ticks
    live, replayed = run(shift=0.504), run(shift=0.5)
    assert live["incident"][0][0] != replayed["incident"][0][0]  # the id hashes the opening time
    assert live["notification"] and live_diff(live, replayed) == []


def test_the_live_worker_folding_updates_is_no_difference_but_a_changed_decision_is():
    live, replayed = run(), run()
    live["alert"] = live["alert"][1:]  # an update folded away by a batch: only the last value counts
    assert live_diff(live, replayed) == []
    other = run({**CONFIG, "routes": [{"name": "night"}]})  # the same messages to another route
    lines = live_diff(live, other)
    assert {(line[:2], orjson.loads(line[2:])["key"]) for line in lines} == {(b"- ", "oncall"), (b"+ ", "night")}
    assert len(lines) == 2 * len(live["notification"])


def test_a_value_that_differs_is_shown_on_both_sides():
    live, replayed = run(), run()
    replayed = copy.deepcopy(replayed)
    fp, alert = replayed["alert"][-1]
    replayed["alert"][-1] = (fp, {**alert, "severity": "warning"})
    lines = live_diff(live, replayed)
    assert [line[:2] for line in lines] == [b"- ", b"+ "]
    assert [orjson.loads(line[2:])["value"]["severity"] for line in lines] == ["critical", "warning"]
    assert "last_seen" not in orjson.loads(lines[0][2:])["value"]
