"""Pipeline scenarios against the real broker: raw records in, a worker subprocess, alerts/incidents/notifications out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.pipelines.app import Collector, PartitionState
from vigie.pipelines.correlate.clock import EventClock
from vigie.pipelines.correlate.engine import Engine
from vigie.pipelines.normalize.normalize import LINK_DOWN
from vigie.schemas.codec import rfc3339
from vigie.topic_admin import ensure_topics
from vigie.topics import (
    ALERTS,
    CONTROL,
    EVENTS,
    INCIDENTS,
    NOTIFICATIONS,
    RAW_CHECKS,
    RAW_SYSLOG,
    RAW_TRAPS,
    default_specs,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITES = {"paris": 20, "lyon": 3, "nantes": 0, "lille": 0}


def config_text(settings: KafkaSettings, state_dir: Path) -> str:
    """One inventory for all scenarios: a router per site with hosts behind it, one route per site."""
    lines = [
        f'state_dir = "{state_dir}"',
        kafka_table(settings).rstrip("\n"),
        "[correlation]",
        "hold_down = \"2s\"",
        "update_interval = \"500ms\"",
        "max_check_attempts = 1",
    ]
    for site, n in SITES.items():
        lines += [f'[inventory.hosts."rtr-{site}"]', f'site = "{site}"']
        for i in range(1, n + 1):
            lines += [f'[inventory.hosts."{site}-h{i:02d}"]', f'site = "{site}"', f'parents = ["rtr-{site}"]']
    lines += ['[inventory.hosts."sw-nantes"]', 'site = "nantes"', 'address = "10.44.0.2"']
    lines += ['[inventory.hosts."sw-lille"]', 'site = "lille"', 'address = "10.59.0.2"']
    for site in SITES:
        # short group timers: the scenarios wait for messages in real time
        lines += ["[[routes]]", f'name = "{site}-ops"', f'match = {{ site = "{site}" }}', 'group_wait = "1s"',
                  'group_interval = "3s"']
    return "\n".join(lines) + "\n"


class Worker:
    """`vigie service pipelines` as a subprocess, the way `vigie up` runs it."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = open(self.log, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vigie.app.cli", "service", "pipelines", "--config", str(self.config), "--tick", "0.2",
             "--snapshot-interval", "0.5"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class View:
    """Everything a topic holds, read from the beginning: all records, and the latest value per key."""

    def __init__(self, settings: KafkaSettings, logical: str) -> None:
        self.topic = settings.topic(logical)
        self.consumer = Consumer({**settings.librdkafka(), "group.id": f"v-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False})
        parts = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic].partitions
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
        self.records: list[tuple[str, dict[str, Any] | None, int]] = []
        self.latest: dict[str, dict[str, Any] | None] = {}

    def poll(self) -> None:
        while True:
            msgs = self.consumer.consume(5000, 0.1)
            if not msgs:
                return
            for m in msgs:
                if m.error() is None:
                    key = m.key().decode()
                    value = orjson.loads(m.value()) if m.value() else None
                    self.records.append((key, value, m.timestamp()[1]))
                    self.latest[key] = value

    def close(self) -> None:
        self.consumer.close()


class Scene:
    """A topic set, a worker and views of its outputs."""

    def __init__(self, settings: KafkaSettings, tmp: Path) -> None:
        self.settings = settings
        self.config = tmp / "vigie.toml"
        self.config.write_text(config_text(settings, tmp / "state"))
        self.worker = Worker(self.config, tmp / "worker.log")
        self.sink = KafkaSink(settings)
        self.alerts = View(settings, ALERTS)
        self.incidents = View(settings, INCIDENTS)
        self.notes = View(settings, NOTIFICATIONS)

    def check(self, host: str, status: int, service: str | None = None) -> None:
        value = {"host": host, "service": service, "status": status, "output": f"{service or 'HOST'} {status}",
                 "check_time": rfc3339(), "source": "passive", "perfdata": []}
        self.sink.produce(RAW_CHECKS, orjson.dumps(value), key=host.encode())

    def syslog(self, sender: str, line: str) -> None:
        self.sink.produce(RAW_SYSLOG, line.encode(), key=sender.encode(),
                          headers=[("received_at", rfc3339().encode()), ("peer", f"{sender}:514".encode()),
                                   ("transport", b"udp")])

    def trap(self, agent: str, oid: str, index: int) -> None:
        value = {"version": "v2c", "community": "public", "trap_oid": oid, "trap_name": None, "agent_address": agent,
                 "uptime": 1000, "received_at": rfc3339(), "peer": f"{agent}:161", "varbinds": [
                     {"oid": f"1.3.6.1.2.1.2.2.1.1.{index}", "name": "ifIndex", "type": "Integer", "value": index},
                     {"oid": f"1.3.6.1.2.1.31.1.1.1.1.{index}", "name": "ifName", "type": "OctetString",
                      "value": f"Gi0/{index}"}]}
        self.sink.produce(RAW_TRAPS, orjson.dumps(value), key=agent.encode())

    def control(self, value: dict[str, Any]) -> None:
        self.sink.produce(CONTROL, orjson.dumps(value), key=value["id"].encode())

    def flush(self) -> None:
        assert self.sink.flush(30) == 0

    def wait(self, what: str, pred: Callable[[], bool], timeout: float = 45.0) -> None:
        self.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for v in (self.alerts, self.incidents, self.notes):
                v.poll()
            if pred():
                return
            assert self.worker.alive(), f"worker died:\n{self.worker.tail()}"
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.worker.tail()}")

    def site_alerts(self, site: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.alerts.latest.items() if v and v["site"] == site}

    def site_incidents(self, site: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.incidents.latest.items() if v and v["site"] == site}

    def route_notes(self, route: str) -> list[dict[str, Any]]:
        return [v for k, v, _ in self.notes.records if k == route and v]

    def close(self) -> None:
        self.worker.stop()
        self.sink.close(10)
        for v in (self.alerts, self.incidents, self.notes):
            v.close()


def fresh_settings(broker: KafkaSettings) -> KafkaSettings:
    settings = replace(broker, topic_prefix=f"p{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings, default_specs(partitions=3))
    return settings


@pytest.fixture(scope="module")
def scene(broker: KafkaSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """One worker for the module's scenarios; each scenario uses its own site and route."""
    s = Scene(fresh_settings(broker), tmp_path_factory.mktemp("pipeline"))
    s.worker.start()
    try:
        yield s
    finally:
        s.close()


def test_site_router_down_one_incident_then_recovery(scene: Scene) -> None:
    hosts = [f"paris-h{i:02d}" for i in range(1, 21)]
    scene.check("rtr-paris", 2)
    scene.flush()
    time.sleep(0.3)  # the router's failure is seen first, as when its check runs before the hosts'
    for h in hosts:
        scene.check(h, 2)

    def settled() -> bool:
        alerts = scene.site_alerts("paris")
        return len(alerts) == 21 and all(a["incident_id"] for a in alerts.values()) and sum(
            1 for a in alerts.values() if a["suppressed_by"]) == 20

    scene.wait("21 paris alerts in one incident", settled)
    alerts = scene.site_alerts("paris")
    incidents = {k: v for k, v in scene.site_incidents("paris").items() if v["status"] == "open"}
    assert len(incidents) == 1
    (incident,) = incidents.values()
    assert incident["root_cause"]["host"] == "rtr-paris"
    assert sorted(incident["alerts"]) == sorted(alerts)
    assert alerts["rtr-paris|check"]["suppressed_by"] is None
    assert {a["suppressed_by"]["kind"] for fp, a in alerts.items() if fp != "rtr-paris|check"} != {None}
    scene.wait("the page", lambda: scene.route_notes("paris-ops") != [])
    time.sleep(4.0)  # ticks pass, past group_interval: the hosts are in the page or one update, never their own
    scene.notes.poll()
    notes = scene.route_notes("paris-ops")
    assert [n["reason"] for n in notes] in (["new"], ["new", "updated"])
    assert {n["alert"]["fingerprint"] for n in notes} == {"rtr-paris|check"}
    listed = [a["fingerprint"] for a in notes[-1]["alerts"]]  # one incident: its hard alerts, root cause first
    assert listed[0] == "rtr-paris|check" and set(listed) <= set(alerts)
    assert not any(k != "paris-ops" and v and v.get("alert", {}).get("site") == "paris"
                   for k, v, _ in scene.notes.records)

    scene.check("rtr-paris", 0)
    for h in hosts:
        scene.check(h, 0)
    scene.wait("paris resolved", lambda: all(a["status"] == "resolved" for a in scene.site_alerts("paris").values())
               and all(i["status"] == "resolved" for i in scene.site_incidents("paris").values()))
    scene.wait("the end told", lambda: scene.route_notes("paris-ops")[-1]["reason"] == "resolved")
    assert [n["reason"] for n in scene.route_notes("paris-ops")][-1:] == ["resolved"]
    assert [n["reason"] for n in scene.route_notes("paris-ops")].count("new") == 1


def test_flapping_interface(scene: Scene) -> None:
    fp = "sw-nantes|syslog:cisco-link-updown|Gi0/1"
    for i in range(30):
        state = "down" if i % 2 == 0 else "up"
        scene.syslog("10.44.0.2", f"<187>Mar  1 10:00:{i:02d} sw-nantes %LINK-3-UPDOWN: Interface Gi0/1, "
                                  f"changed state to {state}")
        scene.flush()
        time.sleep(0.05)
    scene.wait("the interface flagged flapping", lambda: any(
        k == fp and v and v["flapping"] for k, v, _ in scene.alerts.records))
    notes = scene.route_notes("nantes-ops")
    assert any(n["reason"] == "flapping_start" for n in notes)
    assert len(notes) < 10, [n["reason"] for n in notes]  # not one page per transition
    updates = [v for k, v, _ in scene.alerts.records if k == fp]
    assert len(updates) < 30


def test_trap_storm(scene: Scene) -> None:
    fp = "sw-lille|trap:link|5"
    n = 3000
    t0 = time.monotonic()
    for _ in range(n):
        scene.trap("10.59.0.2", LINK_DOWN, 5)
    scene.wait("the storm counted into one alert", lambda: (scene.alerts.latest.get(fp) or {}).get("count") == n)
    elapsed = time.monotonic() - t0
    updates = [v for k, v, _ in scene.alerts.records if k == fp]
    assert len(updates) <= 2 + elapsed / 0.5 * 2  # rate-limited: about one update per update_interval
    assert [a for a in scene.site_alerts("lille")] == [fp]
    scene.wait("the page", lambda: scene.route_notes("lille-ops") != [])
    time.sleep(1.0)
    scene.notes.poll()
    notes = scene.route_notes("lille-ops")
    assert [n["reason"] for n in notes] == ["new"]


def test_maintenance_hides_an_outage_and_reports_what_still_fails(scene: Scene) -> None:
    start = time.time()
    scene.control({"schema": "control/1", "kind": "maintenance", "id": "mw-lyon", "author": "ops",
                   "reason": "router swap", "hosts": ["rtr-lyon"], "start": rfc3339(start),
                   "end": rfc3339(start + 12)})
    scene.flush()
    time.sleep(1.0)
    hosts = ["lyon-h01", "lyon-h02", "lyon-h03"]
    scene.check("rtr-lyon", 2)
    for h in hosts:
        scene.check(h, 2)
        scene.check(h, 2, "DISK")
    scene.wait("lyon alerts firing, all under maintenance", lambda: len(scene.site_alerts("lyon")) == 7 and all(
        a["suppressed_by"] for a in scene.site_alerts("lyon").values()))
    # during the window: the router and the hosts come back; lyon-h03's disk still fails
    scene.check("rtr-lyon", 0)
    for h in hosts:
        scene.check(h, 0)
    for h in hosts[:2]:
        scene.check(h, 0, "DISK")
    scene.wait("recoveries applied", lambda: sum(a["status"] == "firing" for a in scene.site_alerts("lyon").values())
               == 1)
    assert scene.route_notes("lyon-ops") == []
    assert time.time() < start + 12, "the window ended before the recoveries: the machine is too slow"
    scene.wait("the page for what still fails", lambda: scene.route_notes("lyon-ops") != [], timeout=30)
    notes = scene.route_notes("lyon-ops")
    # one maintenance_end for the incident still open, listing what still fails; no record no route delivers
    assert [(n["reason"], n["alert"]["fingerprint"]) for n in notes] == [("maintenance_end", "lyon-h03|check|DISK")]
    assert [a["fingerprint"] for a in notes[0]["alerts"]] == ["lyon-h03|check|DISK"]
    routes = {f"{site}-ops" for site in SITES}
    assert all(k in routes for k, v, _ in scene.notes.records if v)
    # the alert's own update (paced by update_interval) shows the window's end soon after the page
    scene.wait("lyon-h03's disk no longer suppressed",
               lambda: scene.alerts.latest["lyon-h03|check|DISK"]["suppressed_by"] is None, timeout=10)


def replay_reference(settings: KafkaSettings, config: dict[str, Any]) -> tuple[dict, dict]:
    """What an uninterrupted worker decides: the events topic through fresh engines, with the worker's clock rules."""
    view = View(settings, EVENTS)
    view.poll()
    view.close()
    consumer = Consumer({**settings.librdkafka(), "group.id": f"r-{uuid.uuid4().hex}"})
    topic = settings.topic(EVENTS)
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
    by_part: dict[int, list[Any]] = {}
    idle = 0
    while idle < 5:
        msgs = consumer.consume(5000, 0.2)
        idle = 0 if msgs else idle + 1
        for m in msgs:
            if m.error() is None:
                by_part.setdefault(m.partition(), []).append(m)
    consumer.close()
    alerts: dict[str, dict[str, Any]] = {}
    incidents: dict[str, dict[str, Any]] = {}
    for p, msgs in by_part.items():
        ps = PartitionState(p, Engine.from_config(config), clock=EventClock(0.2))
        for m in msgs:
            event = orjson.loads(m.value())
            if ps.seen(event.get("origin")):
                continue
            col = Collector()
            col.add(ps.engine.process(event, ps.timed(m.timestamp()[1], col)))
            alerts.update(col.alerts)
            incidents.update(col.incidents)
        for at in ps.clock.ticks(ps.clock.now + 12):
            out = ps.engine.tick(at)
            alerts.update({a["fingerprint"]: a for a in out.alerts})
            incidents.update({i["id"]: i for i in out.incidents})
    return alerts, incidents


def summary(alerts: dict[str, Any], incidents: dict[str, Any]) -> tuple[dict, dict]:
    a = {fp: (v["status"], v["severity"], v["count"], v["incident_id"]) for fp, v in alerts.items() if v}
    i = {k: (v["status"], v["root_cause"].get("host"), sorted(v["alerts"])) for k, v in incidents.items() if v}
    return a, i


def test_sigkill_mid_scenario_gives_the_same_final_alerts_and_incidents(broker: KafkaSettings, tmp_path: Path) -> None:
    from vigie.config import load

    scene = Scene(fresh_settings(broker), tmp_path)
    try:
        scene.worker.start()
        hosts = [f"paris-h{i:02d}" for i in range(1, 21)]
        scene.check("rtr-paris", 2)
        scene.flush()
        time.sleep(0.3)
        for h in hosts[:10]:
            scene.check(h, 2)
        scene.wait("the incident open", lambda: len(scene.site_alerts("paris")) == 11)
        for h in hosts[10:]:
            scene.check(h, 2)
            scene.check(h, 1, "DISK")
        scene.flush()
        time.sleep(0.2)
        scene.worker.kill()  # mid-scenario: some of these are processed, snapshotted or neither
        for h in hosts[:5]:
            scene.check(h, 1, "DISK")
        scene.flush()
        scene.worker.start()
        scene.check("rtr-paris", 0)
        for h in hosts:
            scene.check(h, 0)
        scene.wait("paris resolved", lambda: len(scene.site_alerts("paris")) == 36 and sum(
            a["status"] == "firing" for a in scene.site_alerts("paris").values()) == 15, timeout=60)
        time.sleep(2.0)
        scene.wait("settled", lambda: True)
        got = summary(scene.alerts.latest, scene.incidents.latest)
        want = summary(*replay_reference(scene.settings, load(scene.config)))
        assert got[0] == want[0]
        assert got[1] == want[1]
        assert len([i for i in got[1].values() if i[1] == "rtr-paris"]) == 1
    finally:
        scene.close()
