"""The Faust notifier survives SIGKILLs: restarted again and again in the middle of its deliveries, it loses and
duplicates nothing at real receivers, and a first start killed before its first commit does not skip, on its
restart from the topic's end, the messages it was handling.

The loop is what found the restart stall (pipelines/notify/faust_recovery.py): about one start in twelve
consumed nothing more once ready, so ten restarts in a row fail on faust's own recovery most of the time.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.test_notify_delivery import hosts_accepted, notification, produce, wait_for
from tests.notify_servers import HttpServer, Request
from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings, make_consumer

pytestmark = pytest.mark.integration

KILL_AT = [1, 3, 2, 5, 1, 4, 2, 6, 3, 1]  # each start is killed at this request of the chat receiver
STALLED = 60.0  # seconds a start may go without the request it is killed at (a restart waits ~6 s for the killed member to leave)


def _config(tmp_path: Path, kafka: KafkaSettings, hook: HttpServer, chat: HttpServer) -> Path:
    conf = tmp_path / "vigie.toml"
    conf.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'{kafka_table(kafka)}'
        f'[notify]\nmin_backoff = "100ms"\n'
        f'[receivers.hook]\ntype = "webhook"\nurl = "{hook.url}/hook"\n'
        f'[receivers.chat]\ntype = "slack"\nurl = "{chat.url}/hooks/x"\nlanguage = "en"\n'
        f'[[routes]]\nname = "oncall"\nreceivers = ["hook", "chat"]\n'
    )
    return conf


class Killer:
    """Kills the running notifier when the chat receiver gets the n-th request of its start (before answering:
    the request does not count), so that every kill falls in the middle of a message's deliveries."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.kill_at = 0
        self.seen = 0
        self.kills = 0

    def arm(self, proc: subprocess.Popen, kill_at: int) -> None:
        self.proc, self.kill_at, self.seen = proc, kill_at, 0

    def on_request(self, req: Request) -> bool:
        if self.proc is None or not self.kill_at or self.proc.poll() is not None:
            return True
        self.seen += 1
        if self.seen < self.kill_at:
            return True
        os.kill(self.proc.pid, signal.SIGKILL)
        self.kills += 1
        self.kill_at = 0
        return False


def _notifier(conf: Path, kafka: KafkaSettings, log: Path, *extra: str) -> Callable[[], subprocess.Popen]:
    cmd = [sys.executable, "-m", "vigie.app.cli", "service", "notify", "--config", str(conf), "--bootstrap",
           kafka.bootstrap_servers, "--engine", "faust", "--session-timeout", "6", "--log-level", "INFO", *extra]

    def start() -> subprocess.Popen:
        with open(log, "a") as out:
            return subprocess.Popen(cmd, stderr=out, stdout=out)

    return start


@pytest.mark.slow
def test_ten_sigkills_in_a_row_lose_and_duplicate_nothing(kafka: KafkaSettings, tmp_path: Path) -> None:
    killer = Killer()
    hook, chat = HttpServer(delay=0.01), HttpServer(delay=0.01, on_request=killer.on_request)
    hosts = [f"h{i:02d}" for i in range(60)]
    produce(kafka, [notification(h, with_id=i % 2 == 0) for i, h in enumerate(hosts)])
    log = tmp_path / "notify.log"
    start = _notifier(_config(tmp_path, kafka, hook, chat), kafka, log, "--from-beginning")
    proc = None
    try:
        for i, kill_at in enumerate(KILL_AT):
            proc = start()
            killer.arm(proc, kill_at)
            assert wait_for(lambda p=proc: p.poll() is not None, STALLED), \
                f"start {i} stalled: {len(hosts_accepted(chat))} of 60 delivered; {log.read_text()[-2000:]}"
            assert proc.returncode == -signal.SIGKILL, log.read_text()[-2000:]
        proc = start()
        assert wait_for(lambda: len(hosts_accepted(chat)) == len(hosts_accepted(hook)) == 60, STALLED), \
            (len(hosts_accepted(hook)), len(hosts_accepted(chat)), log.read_text()[-2000:])
        time.sleep(1.5)  # anything sent twice would arrive now
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        hook.close()
        chat.close()
    assert killer.kills == len(KILL_AT) == 10
    assert hosts_accepted(hook) == Counter({h: 1 for h in hosts})  # none lost, none twice
    assert hosts_accepted(chat) == Counter({h: 1 for h in hosts})
    assert hook.problems == chat.problems == []


def test_a_first_start_killed_before_its_first_commit_resumes_where_it_was(kafka: KafkaSettings,
                                                                           tmp_path: Path) -> None:
    """From the topic's end (the default): the restart must not start from the end again, past the messages."""
    killer = Killer()
    hook, chat = HttpServer(), HttpServer(on_request=killer.on_request)
    log = tmp_path / "notify.log"
    start = _notifier(_config(tmp_path, kafka, hook, chat), kafka, log)
    read_end, write_end = os.pipe()
    env = {**os.environ, "VIGIE_READY_FD": str(write_end)}
    cmd = [sys.executable, "-m", "vigie.app.cli", "service", "notify", "--config", str(tmp_path / "vigie.toml"),
           "--bootstrap", kafka.bootstrap_servers, "--engine", "faust", "--session-timeout", "6"]
    hosts = [f"h{i}" for i in range(5)]
    proc = None
    try:
        with open(log, "a") as out:
            proc = subprocess.Popen(cmd, stderr=out, stdout=out, env=env, pass_fds=(write_end,))
        os.close(write_end)
        readable, _, _ = select.select([read_end], [], [], 90)
        assert readable and os.read(read_end, 16) == b"ready\n", log.read_text()[-2000:]  # `vigie up`'s signal
        killer.arm(proc, 1)
        produce(kafka, [notification(h) for h in hosts])
        assert proc.wait(30) == -signal.SIGKILL  # within a second of the messages: before any commit of Faust's
        proc = start()
        assert wait_for(lambda: len(hosts_accepted(chat)) == len(hosts_accepted(hook)) == 5, STALLED), \
            (len(hosts_accepted(hook)), len(hosts_accepted(chat)), log.read_text()[-2000:])
        time.sleep(1.0)
    finally:
        os.close(read_end)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        hook.close()
        chat.close()
    assert hosts_accepted(hook) == hosts_accepted(chat) == Counter({h: 1 for h in hosts})


def test_table_rows_past_the_retention_are_tombstoned_in_the_changelog(kafka: KafkaSettings, tmp_path: Path) -> None:
    """[notify] state_retention: every row of the delivery Table ends as a tombstone in its changelog partition
    (compaction then drops it), so that the Table does not grow without end."""
    hook, chat = HttpServer(), HttpServer()
    conf = _config(tmp_path, kafka, hook, chat)
    conf.write_text(conf.read_text().replace('min_backoff = "100ms"\n', 'min_backoff = "100ms"\nstate_retention = "3s"\n'))
    produce(kafka, [notification(h) for h in ("h1", "h2", "h3")])
    log = tmp_path / "notify.log"
    proc = _notifier(conf, kafka, log, "--from-beginning")()
    changelog = f"{kafka.topic_prefix}notify-delivery-changelog"
    last: dict[bytes, bytes | None] = {}
    consumer = make_consumer(kafka, "changelog-reader")
    consumer.subscribe([changelog])
    try:
        assert wait_for(lambda: len(hosts_accepted(hook)) == len(hosts_accepted(chat)) == 3, STALLED), \
            log.read_text()[-2000:]

        def all_tombstoned() -> bool:
            for m in consumer.consume(100, 0.5):
                if m.error() is None:
                    last[m.key()] = m.value()
            return len(last) == 6 and all(v is None for v in last.values())

        assert wait_for(all_tombstoned, 30), {k: v is None for k, v in last.items()}
    finally:
        consumer.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        hook.close()
        chat.close()
    swept = re.findall(r"delivery state: (\d+) rows older than 3 s expired", log.read_text())
    assert sum(int(n) for n in swept) == 6  # each row once
