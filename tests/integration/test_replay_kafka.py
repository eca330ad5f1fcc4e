"""`vigie replay --from/--to` against the real broker: the raw topics' records of a range replayed, nothing
written, no consumer group left; `--diff live` against what a real `vigie service pipelines` produced."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.integration.test_pipeline_scenarios import View, Worker, fresh_settings
from tests.tools import kafka_table
from vigie.app.cli import main
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.pipelines.normalize.normalize import LINK_DOWN, LINK_UP
from vigie.schemas.codec import rfc3339
from vigie.topics import ALERTS, CONTROL, INCIDENTS, NOTIFICATIONS, RAW_CHECKS, RAW_SYSLOG, RAW_TRAPS

pytestmark = [pytest.mark.integration]

HOSTS = {"r1": "10.1.0.1", "r2": "10.1.0.2"}
LINK = "%LINK-3-UPDOWN: Interface Gi0/{}, changed state to {}"


def config_text(settings: KafkaSettings, state_dir: Path, route: str = "oncall") -> str:
    lines = [f'state_dir = "{state_dir}"', kafka_table(settings).rstrip("\n")]
    for host, address in HOSTS.items():
        lines += [f'[inventory.hosts."{host}"]', 'site = "paris"', f'address = "{address}"']
    lines += ["[[routes]]", f'name = "{route}"', 'group_wait = "1s"', 'group_interval = "3s"']
    return "\n".join(lines) + "\n"


def send_link(sink: KafkaSink, host: str, index: int, up: bool, at: float | None = None) -> None:
    """A linkDown/linkUp trap, then 0.3 s later its %LINK-3-UPDOWN line, as the intakes write them (received_at
    in the trap, in a header of the line). Records received at the same time can be taken in either order live
    (they are on two topics), and the first one names the incident: the line comes later, as from a device."""
    agent = HOSTS[host]
    stamp = rfc3339(at)
    trap = {"version": "v2c", "community": "public", "trap_oid": LINK_UP if up else LINK_DOWN, "trap_name": None,
            "agent_address": agent, "uptime": 1000, "received_at": stamp, "peer": f"{agent}:161", "varbinds": [
                {"oid": f"1.3.6.1.2.1.2.2.1.1.{index}", "name": "ifIndex", "type": "Integer", "value": index},
                {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{index}", "name": "ifName", "type": "OctetString", "value": f"Gi0/{index}"}]}
    sink.produce(RAW_TRAPS, orjson.dumps(trap), key=agent.encode())
    if at is None:
        assert sink.flush(30) == 0
        time.sleep(0.3)
    stamp = rfc3339(None if at is None else at + 0.3)
    line = f"<187>1 {stamp} {host} - - - - {LINK.format(index, 'up' if up else 'down')}"
    sink.produce(RAW_SYSLOG, line.encode(), key=agent.encode(),
                 headers=[("received_at", stamp.encode()), ("peer", f"{agent}:514".encode()), ("transport", b"udp")])


def end_offsets(settings: KafkaSettings) -> dict[tuple[str, int], int]:
    consumer = Consumer({**settings.librdkafka(), "group.id": "offsets-only"})
    try:
        ends = {}
        for logical in (RAW_SYSLOG, RAW_TRAPS, RAW_CHECKS, CONTROL, ALERTS, INCIDENTS, NOTIFICATIONS):
            topic = settings.topic(logical)
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                ends[(topic, p)] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        return ends
    finally:
        consumer.close()


def groups(settings: KafkaSettings) -> set[str]:
    admin = AdminClient(settings.librdkafka())
    listed = admin.list_consumer_groups().result(timeout=30)
    return {g.group_id for g in listed.valid}


def replay(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, list[dict], str]:
    code = main(["replay", *args])
    out, err = capsysbinary.readouterr()
    lines = []
    for line in out.splitlines():
        if line[:2] in (b"- ", b"+ "):  # a difference: {"kind", "key", "value"} and its side
            lines.append({**orjson.loads(line[2:]), "sign": line[:1].decode()})
        elif line.strip():
            lines.append(orjson.loads(line))
    return code, lines, err.decode()


def test_a_time_range_of_the_raw_topics_is_replayed_and_nothing_is_written(
    kafka: KafkaSettings, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    config = tmp_path / "vigie.toml"
    config.write_text(config_text(kafka, tmp_path / "state"))
    base = time.time() - 600
    sink = KafkaSink(kafka)
    send_link(sink, "r2", 2, up=False, at=base)  # before the range
    send_link(sink, "r1", 1, up=False, at=base + 100)
    sink.produce(RAW_CHECKS, orjson.dumps({"host": "r1", "service": "PING", "status": 2, "output": "PING CRITICAL"}),
                 key=b"r1", headers=[("received_at", rfc3339(base + 101).encode())])
    send_link(sink, "r1", 1, up=True, at=base + 160)
    send_link(sink, "r2", 3, up=False, at=base + 300)  # after the range
    assert sink.flush(30) == 0
    sink.close(10)
    ends, before = end_offsets(kafka), groups(kafka)

    code, lines, err = replay(capsysbinary, "--config", str(config), "--from", rfc3339(base + 50),
                              "--to", rfc3339(base + 200), "--settle", "10m")
    assert code == 0, err
    assert "replay: 5 records, 5 events" in err
    alerts = {line["value"]["fingerprint"] for line in lines if line["kind"] == "alert"}
    assert alerts == {"r1|trap:link|1", "r1|syslog:cisco-link-updown|Gi0/1", "r1|check|PING"}
    reasons = [line["value"]["reason"] for line in lines if line["kind"] == "notification"]
    assert reasons[0] == "new" and reasons.count("new") == 1
    assert end_offsets(kafka) == ends  # nothing produced, not even to control or the outputs
    assert groups(kafka) == before  # assigned by hand, never committed: no consumer group on the broker

    code, lines, err = replay(capsysbinary, "--config", str(config), "--from", rfc3339(base + 250))
    assert code == 0 and "replay: 2 records" in err  # --to defaults to now
    assert {line["value"]["host"] for line in lines if line["kind"] == "alert"} == {"r2"}


def test_bad_range_arguments_are_one_clear_line(tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    code, _lines, err = replay(capsysbinary, "--from", "2025-03-01T10:00:00Z", "--to", "2025-03-01T09:00:00Z")
    assert code == 2 and err.strip() == "vigie: replay: --to (2025-03-01T09:00:00Z) is not after --from (2025-03-01T10:00:00Z)"
    code, _lines, err = replay(capsysbinary, "--file", str(tmp_path / "x.jsonl"), "--diff", "live")
    assert code == 2 and "go with --from" in err


@pytest.mark.slow
def test_diff_live_finds_nothing_with_the_same_config_and_shows_a_changed_route(
    broker: KafkaSettings, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    settings = fresh_settings(broker)
    config = tmp_path / "vigie.toml"
    config.write_text(config_text(settings, tmp_path / "state"))
    worker = Worker(config, tmp_path / "worker.log")
    notes = View(settings, NOTIFICATIONS)
    sink = KafkaSink(settings)
    worker.start()
    try:
        time.sleep(8)  # the worker joins its groups
        start = time.time()

        def wait_for(reason: str) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                notes.poll()
                if any(v and v["reason"] == reason for _k, v, _t in notes.records):
                    return
                assert worker.alive(), worker.tail()
                time.sleep(0.2)
            raise AssertionError(f"no {reason} notification\n{worker.tail()}")

        send_link(sink, "r1", 1, up=False)
        assert sink.flush(30) == 0
        wait_for("new")
        time.sleep(4)  # past group_interval: any update is out
        send_link(sink, "r1", 1, up=True)
        assert sink.flush(30) == 0
        wait_for("resolved")
        time.sleep(5)  # the last incident updates (paced) are out
        end = time.time()
    finally:
        worker.stop()
        sink.close(10)
        notes.close()

    window = ["--config", str(config), "--from", rfc3339(start), "--to", rfc3339(end), "--diff", "live"]
    code, lines, err = replay(capsysbinary, *window)
    assert (code, lines) == (0, []), "\n".join(orjson.dumps(line).decode() for line in lines)

    changed = tmp_path / "changed.toml"
    changed.write_text(config_text(settings, tmp_path / "state", route="night"))
    ends = end_offsets(settings)
    code, lines, err = replay(capsysbinary, *window[:1], str(changed), *window[2:])
    assert code == 1
    shown = {(line["sign"], line["kind"], line["key"], line["value"]["reason"]) for line in lines}
    assert shown == {("-", "notification", "oncall", "new"), ("+", "notification", "night", "new"),
                     ("-", "notification", "oncall", "resolved"), ("+", "notification", "night", "resolved")}
    assert end_offsets(settings) == ends
