"""The on-call person's side of a crash: the pipelines worker (`vigie service pipelines`) SIGKILLed again and again,
each time right after it put a notification on the topic (before the snapshot that claims it), while six sites go
down and come back; the real notifier (`vigie service notify`) delivers to a webhook. Every outage reaches the
webhook as exactly one `new` and one `resolved`, none twice, none lost: the restarted worker re-reads its events
and re-decides the same messages under the same ids (event time, pipelines/correlate/clock.py), and the notifier
drops the ids it delivered already."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from tests.integration.test_pipeline_scenarios import View, Worker, fresh_settings
from tests.notify_servers import HttpServer
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings, KafkaSink
from vigie.topics import NOTIFICATIONS, RAW_CHECKS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITES = [f"s{k}" for k in range(1, 7)]
KILLS = 4


class SlowSnapshots(Worker):
    """`vigie service pipelines` snapshotting every 3 s: a kill right after a notification nearly always comes
    before the snapshot that claims it."""

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "vigie.app.cli", "service", "pipelines", "--config", str(self.config),
                 "--tick", "0.2", "--snapshot-interval", "3"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )


def config_text(settings: KafkaSettings, state: Path, webhook: str) -> str:
    """Routers behind a core (held 2 s before their incident opens: an opening decided by a timer), three hosts
    behind each router (symptoms), one route to the webhook."""
    lines = [
        f'state_dir = "{state}"',
        kafka_table(settings).rstrip("\n"),
        '[correlation]\nhold_down = "2s"\nupdate_interval = "500ms"\nmax_check_attempts = 1',
        '[inventory.hosts.core]\nsite = "core"',
    ]
    for site in SITES:
        lines.append(f'[inventory.hosts."rtr-{site}"]\nsite = "{site}"\nparents = ["core"]')
        for i in range(1, 4):
            lines.append(f'[inventory.hosts."{site}-h{i}"]\nsite = "{site}"\nparents = ["rtr-{site}"]')
    lines.append(f'[[routes]]\nname = "ops"\nwebhook = "{webhook}"\ngroup_wait = "1s"\ngroup_interval = "2s"\n'
                 'repeat_interval = "1h"')
    return "\n".join(lines) + "\n"


def test_a_worker_sigkilled_after_each_notification_pages_each_outage_once_and_resolves_it_once(
    broker: KafkaSettings, tmp_path: Path
) -> None:
    settings = fresh_settings(broker)
    hook = HttpServer()
    conf = tmp_path / "vigie.toml"
    conf.write_text(config_text(settings, tmp_path / "state", f"{hook.url}/hook"))
    worker = SlowSnapshots(conf, tmp_path / "worker.log")
    worker.start()
    notify_log = open(tmp_path / "notify.log", "ab")  # noqa: SIM115 - handed to the child
    notifier = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "service", "notify", "--config", str(conf),
                                 "--from-beginning"], stdout=notify_log, stderr=subprocess.STDOUT)
    sink = KafkaSink(settings)
    notes = View(settings, NOTIFICATIONS)

    def check(host: str, status: int) -> None:
        value = {"host": host, "service": None, "status": status, "output": f"PING {status}", "source": "passive",
                 "perfdata": []}
        sink.produce(RAW_CHECKS, orjson.dumps(value), key=host.encode())

    def site(name: str, status: int) -> None:
        check(f"rtr-{name}", status)
        for i in range(1, 4):
            check(f"{name}-h{i}", status)
        assert sink.flush(30) == 0

    kills, seen, last_kill = 0, 0, 0.0
    script = [(3.0 * k, name, 2) for k, name in enumerate(SITES)] + [(3.0 * k + 9, name, 0) for k, name in enumerate(SITES)]
    script.sort()
    start = time.monotonic()
    try:
        deadline = start + 120
        while time.monotonic() < deadline:
            while script and time.monotonic() - start >= script[0][0]:
                _, name, status = script.pop(0)
                site(name, status)
            notes.poll()
            if len(notes.records) > seen:
                seen = len(notes.records)
                if kills < KILLS and time.monotonic() - last_kill > 3:
                    worker.kill()  # just after a notification: before the snapshot that claims it
                    worker.start()
                    kills, last_kill = kills + 1, time.monotonic()
            assert worker.alive(), worker.tail()
            assert notifier.poll() is None, (tmp_path / "notify.log").read_text()[-3000:]
            told = received(hook)
            if not script and all(told[s]["new"] and told[s]["resolved"] for s in SITES):
                break
            time.sleep(0.1)
        time.sleep(5)  # anything told twice would arrive by now
        notes.poll()
    finally:
        worker.stop()
        notifier.terminate()
        notifier.wait(30)
        notify_log.close()
        sink.close(10)
        notes.close()
        hook.close()

    assert kills == KILLS, f"{kills} kills: not enough notifications\n{worker.tail()}"
    told = received(hook)
    # each site: one incident, paged once and resolved once (updates as it grew, each once)
    assert {s: (len(told[s]["keys"]), told[s]["new"], told[s]["resolved"]) for s in SITES} == {
        s: (1, 1, 1) for s in SITES}, f"{told}\n{topic_log(notes)}\n{worker.tail()}"
    bodies = Counter(r.body for r in hook.accepted())
    assert [b for b, n in bodies.items() if n > 1] == []
    # the restarted worker re-produced what it had told before its kill, under the same ids and the same values
    values = defaultdict(set)
    for _, value, _ in notes.records:
        if value is not None:
            values[value["id"]].add(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    assert all(len(v) == 1 for v in values.values()), [differences(v) for v in values.values() if len(v) > 1]
    reproduced = len([r for r in notes.records if r[1] is not None]) - len(values)
    assert reproduced > 0, "no notification was re-produced after a kill: the test proved nothing"
    keys = Counter((v["route"], v["group"]["key"], v["reason"]) for v in (orjson.loads(next(iter(s))) for s in values.values()))
    assert all(n == 1 for (_, _, reason), n in keys.items() if reason in ("new", "resolved")), keys


def received(hook: HttpServer) -> dict[str, dict]:
    """Per site: the group keys it was told under and how many `new` and `resolved` messages reached the webhook."""
    told: dict[str, dict] = {s: {"keys": set(), "new": 0, "resolved": 0} for s in SITES}
    for r in hook.accepted():
        body = orjson.loads(r.body)
        sites = {a["labels"]["site"] for a in body["alerts"]}
        reason = body["commonAnnotations"]["vigie_reason"]
        for s in sites & set(told):
            told[s]["keys"].add(body["groupKey"])
            if reason in ("new", "resolved"):
                told[s][reason] += 1
    return told


def differences(copies: set[bytes]) -> dict[str, list]:
    """Where copies of one message differ: path -> the values."""
    found: dict[str, list] = {}

    def walk(values: list, path: str) -> None:
        if all(isinstance(v, dict) for v in values):
            for k in sorted(set().union(*values)):
                walk([v.get(k) for v in values], f"{path}/{k}")
        elif all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
            for i in range(len(values[0])):
                walk([v[i] for v in values], f"{path}[{i}]")
        elif len({orjson.dumps(v) for v in values}) > 1:
            found[path] = values

    walk([orjson.loads(c) for c in copies], "")
    return found


def topic_log(notes: View) -> str:
    """What the notifications topic holds, in order: reason, group, id (to tell a lost message from a dropped one)."""
    return "\n".join(f"{v['reason']} {v['group']['key']} {v['id'][:8]} {v['at']}" for _, v, _ in notes.records if v)
