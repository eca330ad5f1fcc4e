"""`vigie replay`: normalize + correlate over recorded raw records on a simulated clock, nothing written to Kafka."""

from __future__ import annotations

import orjson
import pytest

from tests.replay_files import jsonl, syslog, trap
from vigie.app.cli import main
from vigie.config import validate
from vigie.pipelines.replay import Replay, ReplayError, read_jsonl

T = 1_740_823_200.0  # Saturday 2025-03-01 10:00 UTC
CONFIG = {"inventory": {"hosts": {"r1": {"site": "paris", "address": "10.1.0.1"}}}, "routes": [{"name": "oncall"}]}
LINK = "%LINK-3-UPDOWN: Interface Gi0/1, changed state to {}"


def outage(start=T, length=120.0):
    return [
        trap(start, "10.1.0.1", 3, "Gi0/1", up=False),
        syslog(start + 0.4, "10.1.0.1", "r1", LINK.format("down")),
        trap(start + length, "10.1.0.1", 3, "Gi0/1", up=True),
        syslog(start + length + 0.3, "10.1.0.1", "r1", LINK.format("up")),
    ]


def test_a_replay_decides_on_the_records_clock_without_waiting():
    records = read_jsonl(jsonl(outage()).splitlines())
    result = Replay(validate(CONFIG)).run(records, settle=900)
    assert result.records == 4 and result.events == 4 and result.refused == []
    notes = result.notifications
    assert [(n["reason"], n["at"]) for n in notes] == [
        ("new", "2025-03-01T10:00:10.000000Z"),  # group_wait after the trap, on the simulated clock
        ("resolved", "2025-03-01T10:05:10.000000Z"),  # group_interval after the new
    ]
    assert len(notes[0]["alerts"]) == 2  # the trap and the syslog line: one incident, one message


def test_a_replay_gives_the_same_ids_twice():
    lines = jsonl(outage()).splitlines()
    first = Replay(validate(CONFIG)).run(read_jsonl(lines), settle=900)
    second = Replay(validate(CONFIG)).run(read_jsonl(lines), settle=900)
    assert [n["id"] for n in first.notifications] == [n["id"] for n in second.notifications]


def test_a_bad_line_is_one_clear_error():
    with pytest.raises(ReplayError, match=r"^x.jsonl:2: expected \{topic, received_at"):
        list(read_jsonl([orjson.dumps(outage()[0]), b'{"topic": "raw.traps"}'], "x.jsonl"))
    with pytest.raises(ReplayError, match="topic: expected one of"):
        list(read_jsonl([b'{"topic": "events", "received_at": "2025-03-01T10:00:00Z", "value": 1}'], "x.jsonl"))


def test_the_command_prints_what_would_be_produced_and_diffs_a_rule_change(tmp_path, capsysbinary):
    raw = tmp_path / "raw.jsonl"
    raw.write_bytes(jsonl(outage() + outage(T + 3600, 5)))  # the second outage is over within 5 s
    before_cfg, after_cfg = tmp_path / "before.toml", tmp_path / "after.toml"
    hosts = '[inventory.hosts.r1]\nsite = "paris"\naddress = "10.1.0.1"\n'
    before_cfg.write_text(hosts + '[[routes]]\nname = "oncall"\ngroup_wait = "0s"\n')
    after_cfg.write_text(hosts + '[[routes]]\nname = "oncall"\n')  # the default group_wait: 10s
    assert main(["replay", "--file", str(raw), "--config", str(before_cfg), "--only", "notification", "--settle", "15m"]) == 0
    before = capsysbinary.readouterr().out
    lines = [orjson.loads(line) for line in before.splitlines()]
    assert {line["kind"] for line in lines} == {"notification"}
    assert [line["value"]["reason"] for line in lines] == ["new", "resolved", "new", "resolved"]
    (tmp_path / "before.jsonl").write_bytes(before)
    args = ["replay", "--file", str(raw), "--config", str(after_cfg), "--only", "notification", "--settle", "15m",
            "--diff", str(tmp_path / "before.jsonl")]
    assert main(args) == 0
    diff = capsysbinary.readouterr().out.splitlines()
    # with group_wait 10s the 5-second outage is never told; the first one is told 10 s later
    assert sum(1 for line in diff if line.startswith(b"- ")) == 4
    added = [orjson.loads(line[2:])["value"] for line in diff if line.startswith(b"+ ")]
    assert [(n["reason"], n["at"][11:19]) for n in added] == [("new", "10:00:10"), ("resolved", "10:05:10")]
