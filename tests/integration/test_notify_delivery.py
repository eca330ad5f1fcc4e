"""Delivery you can rely on, against the real broker and real receivers: a SIGKILLed notifier loses and
duplicates nothing; a delivery given up goes to the dead-letter topic and its notification_failed to the
route's fallback; per-receiver metrics count sent, failed, retries and latency."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from tests.notify_servers import HttpServer, Request
from tests.tools import kafka_table
from vigie.config import validate
from vigie.kafka_client import KafkaSettings, KafkaSink, make_consumer
from vigie.pipelines.notify.channels import route_channels
from vigie.pipelines.notify.delivery import RetryPolicy
from vigie.pipelines.notify.runner import RouteSettings, run_notifier
from vigie.pipelines.notify.state import DeliveryState
from vigie.schemas.codec import dumps, loads
from vigie.schemas.validate import validate as validate_value
from vigie.stage_metrics import NotifyMetrics
from vigie.topics import DEADLETTER, NOTIFICATIONS

pytestmark = pytest.mark.integration

NOW = "2026-11-29T23:00:00.000000Z"


def notification(host: str, route: str = "oncall", with_id: bool = True) -> dict:
    alert = {"schema": "alert/1", "fingerprint": f"{host}|check|PING", "status": "firing", "severity": "critical",
             "host": host, "site": "mairie", "component": "PING", "summary": f"{host} injoignable",
             "first_seen": NOW, "last_seen": NOW, "count": 1, "state_type": "hard", "flapping": False,
             "suppressed_by": None, "incident_id": None, "sources": ["check"]}
    value = {"schema": "notification/1", "route": route, "reason": "new", "at": NOW, "alert": alert, "incident": None}
    if with_id:
        value["id"] = f"id-{host}"
    validate_value(value)
    return value


def produce(kafka: KafkaSettings, values: list[dict]) -> None:
    sink = KafkaSink(kafka)
    for v in values:
        sink.produce(NOTIFICATIONS, dumps(v), key=v["route"].encode())
    assert sink.close(20) == 0


def wait_for(cond, timeout: float = 60) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.1)
    return cond()


def hosts_accepted(server: HttpServer) -> Counter:
    """How many times each host's notification was accepted (answered to a live notifier)."""
    out: Counter = Counter()
    for r in server.accepted():
        body = json.loads(r.body)
        for a in body.get("alerts", []):
            out[a["labels"]["host"]] += 1
        if "attachments" in body:
            out[body["text"].split(": ", 1)[1].split(":")[0]] += 1
    return out


@pytest.mark.parametrize("engine", ["faust", "threads"])
def test_a_sigkilled_notifier_loses_and_duplicates_nothing(kafka: KafkaSettings, tmp_path: Path, engine: str) -> None:
    hook = HttpServer(delay=0.02)
    proc: list[subprocess.Popen] = []
    killed = threading.Event()
    kill_at = 15  # the chat receiver's 15th request: the webhook has message 15, the chat does not yet

    def kill_in_flight(req: Request) -> bool:
        if not killed.is_set() and len(chat.requests) + 1 == kill_at:
            os.kill(proc[-1].pid, signal.SIGKILL)  # mid-batch: nothing of this batch is committed
            killed.set()
            return False
        return True

    chat = HttpServer(delay=0.02, on_request=kill_in_flight)
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(kafka)}'
        f'[notify]\nmin_backoff = "100ms"\n'
        f'[receivers.hook]\ntype = "webhook"\nurl = "{hook.url}/hook"\n'
        f'[receivers.chat]\ntype = "slack"\nurl = "{chat.url}/hooks/x"\nlanguage = "en"\n'
        f'[[routes]]\nname = "oncall"\nreceivers = ["hook", "chat"]\n'
    )
    hosts = [f"h{i:02d}" for i in range(40)]
    # Half carry correlate's id, half fall back to topic/partition/offset.
    produce(kafka, [notification(h, with_id=i % 2 == 0) for i, h in enumerate(hosts)])
    cmd = [sys.executable, "-m", "vigie.app.cli", "service", "notify", "--config", str(conf),
           "--bootstrap", kafka.bootstrap_servers, "--from-beginning", "--log-level", "INFO", "--engine", engine]
    logs = [open(tmp_path / f"notify-{i}.log", "w") for i in range(2)]  # noqa: SIM115 - closed below
    try:
        proc.append(subprocess.Popen(cmd, stderr=logs[0]))
        assert wait_for(lambda: killed.is_set() or proc[-1].poll() is not None, 90) and killed.is_set(), \
            f"the notifier never reached the chat's 15th request (exit {proc[-1].poll()})"
        assert proc[-1].wait(10) == -signal.SIGKILL
        assert hosts_accepted(hook)[hosts[kill_at - 1]] == 1  # the webhook had message 15 before the kill
        proc.append(subprocess.Popen(cmd, stderr=logs[1]))
        assert wait_for(lambda: len(hosts_accepted(chat)) == 40 and len(hosts_accepted(hook)) == 40, 90), \
            (len(hosts_accepted(hook)), len(hosts_accepted(chat)), (tmp_path / "notify-1.log").read_text()[-3000:])
        time.sleep(1.5)  # anything sent twice would arrive now
        proc[-1].send_signal(signal.SIGTERM)
        assert proc[-1].wait(20) == 0
    finally:
        for p in proc:
            if p.poll() is None:
                p.kill()
        for f in logs:
            f.close()
        hook.close()
        chat.close()
    assert hosts_accepted(hook) == Counter({h: 1 for h in hosts})  # none lost, none twice
    assert hosts_accepted(chat) == Counter({h: 1 for h in hosts})
    assert hook.problems == chat.problems == []
    # The batch had been re-read from its start: only the state table kept the webhook from a second copy.
    assert len(hook.requests) == 40 and len(chat.requests) == 41  # the one the kill cut off was sent again


def test_given_up_delivery_is_dead_lettered_and_the_fallback_told(kafka: KafkaSettings, monkeypatch) -> None:
    refusing = HttpServer(statuses=[400])
    down = HttpServer(statuses=[503] * 1000)
    fallback = HttpServer()
    cfg = validate({
        "receivers": {"portal": {"type": "webhook", "url": refusing.url},
                      "sms": {"type": "sms", "url": down.url, "to": ["+33600000000"], "body": "to={to}&m={message}"},
                      "push": {"type": "ntfy", "url": f"{fallback.url}/astreinte"}},
        "routes": [{"name": "oncall", "receivers": ["portal", "sms"], "fallback": "push"}],
    })
    channels, push = route_channels(cfg, "oncall")
    settings = RouteSettings("oncall", channels, push, RetryPolicy(0.05, 0.1, give_up_after=1.0))
    produce(kafka, [notification("rtr1")])
    registry = CollectorRegistry()
    stop = threading.Event()
    thread = threading.Thread(target=run_notifier, args=(kafka, settings, stop, True, NotifyMetrics(registry)))
    thread.start()
    try:
        assert wait_for(lambda: len(fallback.requests) == 2, 30)
    finally:
        stop.set()
        thread.join(10)
        for s in (refusing, down, fallback):
            s.close()
    titles = sorted(fallback.requests[i].headers["Title"] for i in range(2))
    assert all("Notification" in t or "=?UTF-8?B?" in t for t in titles)
    bodies = sorted(r.body.decode() for r in fallback.requests)
    assert any("portal: HTTP 400" in b for b in bodies) and any("sms: gave up after 1 s: HTTP 503" in b for b in bodies)
    assert len(refusing.requests) == 1 and len(down.requests) >= 4  # refused at once; retried until the age
    consumer = make_consumer(kafka, "dl-check")
    consumer.subscribe([kafka.topic(DEADLETTER)])
    letters: list[dict] = []
    wait_for(lambda: letters.extend(loads(m.value()) for m in consumer.consume(10, 0.5) if m.error() is None)
             or len(letters) >= 2, 30)
    consumer.close()
    assert sorted(d["error"].split(":")[0] for d in letters) == ["receiver portal", "receiver sms"]
    assert all(d["stage"] == "notify" for d in letters)

    def value(name: str, receiver: str) -> float | None:
        kind = {"portal": "webhook", "sms": "sms", "push": "ntfy"}[receiver]
        return registry.get_sample_value(name, {"receiver": receiver, "channel": kind})

    assert value("vigie_notify_failed_total", "portal") == 1 and value("vigie_notify_retries_total", "portal") == 0
    assert value("vigie_notify_failed_total", "sms") == 1 and value("vigie_notify_retries_total", "sms") >= 3
    assert value("vigie_notify_sent_total", "push") == 2 and value("vigie_notify_latency_seconds_count", "push") == 2
    assert registry.get_sample_value("vigie_notifications_failed_total", {"route": "oncall", "channel": "sms"}) == 1


def test_the_thread_notifier_forgets_rows_past_the_state_retention(kafka: KafkaSettings, tmp_path: Path) -> None:
    hook = HttpServer()
    cfg = validate({"receivers": {"hook": {"type": "webhook", "url": hook.url}},
                    "routes": [{"name": "oncall", "receivers": ["hook"]}]})
    channels, _ = route_channels(cfg, "oncall")
    state_path = tmp_path / "delivery.sqlite"
    settings = RouteSettings("oncall", channels, state_path=str(state_path), state_retention=1.0)
    produce(kafka, [notification("rtr1"), notification("rtr2")])
    stop = threading.Event()
    thread = threading.Thread(target=run_notifier, args=(kafka, settings, stop, True))
    thread.start()
    try:
        assert wait_for(lambda: len(hook.accepted()) == 2, 30)
        state = DeliveryState(state_path)
        try:
            assert wait_for(lambda: state.db.execute("SELECT count(*) FROM delivery").fetchone()[0] == 0, 10)
        finally:
            state.close()
    finally:
        stop.set()
        thread.join(10)
        hook.close()
