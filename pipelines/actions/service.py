"""`vigie service actions`: the Kafka side of the guarded actions (the decisions are guard.py's).

It reads the alerts topic (the latest value per fingerprint), the control topic (maintenance windows) and
its own log, the actions topic: read from the beginning at start, that log is the state (each guard folds its
records back), and afterwards only the cancel requests people write there are taken from it. Every second
each guard is stepped; its records go to the actions topic, the countdown is announced on the action's routes
(notifications topic), and at the deadline the command runs.

At most once across a SIGKILL: the "running" record is written and acknowledged by the broker (acks=all)
before anything is executed. A restart that finds "running" without "ran" records "interrupted" and does not
run it again; a broker that does not acknowledge "running" stops the service before it executes anything.
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from vigie.config import ActionConfig, Config, action_sources
from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer, topic_partitions, watermarks
from vigie.pipelines.actions.guard import ANNOUNCED, Guard, announcement
from vigie.pipelines.correlate.silences import ControlError, covered_hosts, parse_command
from vigie.pipelines.correlate.topology import Inventory
from vigie.schemas.codec import dumps, loads
from vigie.topics import ACTIONS, ALERTS, CONTROL, NOTIFICATIONS

log = logging.getLogger("vigie.actions")

OUTPUT_LIMIT = 2000  # characters of a command's output kept in its "ran" record (the end: where errors are)
ACK_TIMEOUT = 30.0  # seconds to wait for the broker to acknowledge "running" before giving up (nothing executed)


class NotAcknowledged(RuntimeError):
    """The broker did not take the "running" record: executing now could not be proven to happen once."""


def execute(commands: list[dict[str, Any]], timeout: float, action: str, ident: str | None) -> list[dict[str, Any]]:
    """Run each target's argv (no shell) or call its webhook; one result per target, never an exception."""
    results = []
    for c in commands:
        host = c["host"]
        if "webhook" in c:
            results.append(_call_webhook(c["webhook"], {"action": action, "id": ident, "host": host}, timeout, host))
            continue
        try:
            done = subprocess.run(c["argv"], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  check=False)
        except subprocess.TimeoutExpired:
            results.append({"host": host, "ok": False, "exit_code": None, "error": f"timed out after {timeout:g} s"})
            continue
        except OSError as exc:
            results.append({"host": host, "ok": False, "exit_code": None, "error": f"cannot run: {exc}"})
            continue
        output = (done.stdout + done.stderr).decode("utf-8", "replace")[-OUTPUT_LIMIT:]
        results.append({"host": host, "ok": done.returncode == 0, "exit_code": done.returncode, "output": output})
    return results


def _call_webhook(url: str, body: dict[str, Any], timeout: float, host: str) -> dict[str, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the URL is the admin's config
            return {"host": host, "ok": 200 <= resp.status < 300, "status": resp.status,
                    "output": resp.read(OUTPUT_LIMIT).decode("utf-8", "replace")}
    except urllib.error.HTTPError as exc:
        return {"host": host, "ok": False, "status": exc.code, "error": str(exc.reason)}
    except (urllib.error.URLError, OSError) as exc:
        return {"host": host, "ok": False, "status": None, "error": str(getattr(exc, "reason", exc))}


def run_acknowledged(sink: Any, guard: Guard, running: dict[str, Any], clock: Callable[[], float],
                     run: Callable[..., list[dict[str, Any]]] = execute) -> dict[str, Any]:
    """Execute `running` once the broker holds it (everything queued flushed, no delivery failed); returns the
    "ran" record. Raises NotAcknowledged, having executed nothing, when the broker did not take it."""
    failed = sink.failed
    if sink.flush(ACK_TIMEOUT) or sink.failed != failed:
        raise NotAcknowledged(f"action {guard.spec.name}: the broker did not acknowledge the running record "
                              f"within {ACK_TIMEOUT:g} s: not executed")
    results = run(running["commands"], guard.spec.timeout, guard.spec.name, running.get("id"))
    return guard.finished(clock(), results)


def build_guards(cfg: Config) -> dict[str, Guard]:
    """One guard per [[actions]] entry, with its source hosts and its targets' addresses."""
    hosts = cfg.inventory.hosts
    return {a.name: Guard(a, action_sources(cfg.inventory, a),
                          {h: hosts[h].address or h for h in a.hosts if h in hosts}) for a in cfg.actions}


def maintenance_hosts(control: dict[bytes, Any], inventory: Inventory, now: float) -> frozenset[str]:
    """The hosts a maintenance window of the control topic covers at `now` (its children too, as correlate)."""
    out: set[str] = set()
    for key, value in control.items():
        if not isinstance(value, dict) or value.get("kind") != "maintenance":
            continue
        try:
            cmd = parse_command(value, key.decode("utf-8", "replace"), now)
        except ControlError:
            continue  # the correlation worker dead-letters it; here it covers nothing
        if cmd.active(now):
            out |= covered_hosts(cmd, inventory)
    return frozenset(out)


class ActionService:
    """The loop: read the topics, step the guards every `tick` seconds, write and announce, execute."""

    def __init__(self, cfg: Config, settings: KafkaSettings, *, tick: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg, self.settings, self.tick, self.clock = cfg, settings, tick, clock
        self.guards = build_guards(cfg)
        self.inventory = Inventory.from_config(cfg.inventory)
        self.alerts: dict[bytes, Any] = {}
        self.control: dict[bytes, Any] = {}
        self.joined = threading.Event()  # set once the history is read: `vigie up` may say ready
        self.sink = KafkaSink(settings, linger_ms=0)
        self.consumer = make_consumer(settings, "vigie-actions", **{"enable.auto.commit": False})

    def run(self, stop: threading.Event) -> int:
        try:
            self._catch_up()
            for guard in self.guards.values():
                self._write(guard, guard.recover(self.clock()))
            self.joined.set()
            next_tick = 0.0
            while not stop.is_set():
                for msg in self.consumer.consume(500, min(self.tick, 0.5)):
                    if msg.error() is None:
                        self._take(msg, live=True)
                now = self.clock()
                if now >= next_tick:
                    next_tick = now + self.tick
                    self._step(now)
            return 0
        except NotAcknowledged as exc:
            log.error("%s", exc)
            return 1
        finally:
            self.consumer.close()
            self.sink.close(timeout=10)

    def _catch_up(self) -> None:
        """Assign every partition of the three topics from the beginning and read up to their ends."""
        parts, ends = [], {}
        for logical in (ALERTS, CONTROL, ACTIONS):
            topic = self.settings.topic(logical)
            for p in topic_partitions(self.consumer, topic):
                parts.append(TopicPartition(topic, p, OFFSET_BEGINNING))
                high = watermarks(self.consumer, topic, p)[1]
                if high > 0:
                    ends[(topic, p)] = high
        self.consumer.assign(parts)
        while ends:
            for msg in self.consumer.consume(1000, 0.5):
                if msg.error() is not None:
                    continue
                self._take(msg, live=False)
                where = (msg.topic(), msg.partition())
                if where in ends and msg.offset() + 1 >= ends[where]:
                    del ends[where]

    def _take(self, msg: Any, live: bool) -> None:
        topic = msg.topic().removeprefix(self.settings.topic_prefix)
        key, raw = msg.key() or b"", msg.value()
        try:
            value = loads(raw) if raw is not None else None
        except ValueError:
            log.warning("%s: a value that is not JSON at offset %d: left out", topic, msg.offset())
            return
        if topic == ACTIONS:
            guard = self.guards.get(value.get("action")) if isinstance(value, dict) else None
            # the history is the state; afterwards our own records are already folded: only cancels are new
            if guard is not None and (not live or value.get("step") == "cancel_requested"):
                guard.apply(value)
            return
        table = self.alerts if topic == ALERTS else self.control
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    def _step(self, now: float) -> None:
        alerts = [a for a in self.alerts.values() if isinstance(a, dict)]
        maint = maintenance_hosts(self.control, self.inventory, now)
        for guard in self.guards.values():
            records = guard.step(now, alerts, maint)
            self._write(guard, records)
            if records and records[-1]["step"] == "running":
                self._run(guard, records[-1])

    def _write(self, guard: Guard, records: list[dict[str, Any]]) -> None:
        key = guard.spec.name.encode()
        for rec in records:
            log.info("action %s: %s %s", guard.spec.name, rec["step"], rec.get("reason") or rec.get("id") or "")
            self.sink.produce(ACTIONS, dumps(rec), key=key)
            if rec["step"] in ANNOUNCED:
                self._announce(guard.spec, rec)

    def _announce(self, spec: ActionConfig, rec: dict[str, Any]) -> None:
        for route in spec.routes:
            note = announcement(spec, rec, route)
            self.sink.produce(NOTIFICATIONS, dumps(note), key=note["id"].encode())

    def _run(self, guard: Guard, running: dict[str, Any]) -> None:
        finished = run_acknowledged(self.sink, guard, running, self.clock)
        self._write(guard, [finished])
        self.sink.flush(ACK_TIMEOUT)
