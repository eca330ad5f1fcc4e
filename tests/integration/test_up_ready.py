"""`vigie up` says ready only when it is, and a start that cannot succeed ends with one line and a non-zero exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.tools import kafka_table
from vigie.kafka_client import KafkaSettings
from vigie.local_broker import LocalBroker, free_port

pytestmark = pytest.mark.integration

QUIET = '[syslog]\nenabled = false\n[snmp]\nenabled = false\n[archive]\nenabled = false\n' \
        '[checks]\nactive_enabled = false\n[pipelines]\nenabled = false\n'


class Up:
    """A `vigie up` process whose stderr lines are collected as they come (to act the moment it says ready)."""

    def __init__(self, conf: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "vigie.app.cli", "up", "--config", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=env if env is not None else dict(os.environ))
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"vigie up exited ({self.proc.returncode}):\n" + "\n".join(self.lines))
            time.sleep(0.01)
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "\n".join(self.lines))

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._reader.join(5)
        return self.proc.returncode


def assert_one_line_failure(up: Up, code: int, *words: str) -> str:
    """A non-zero exit whose last stderr line names the cause, with no traceback anywhere."""
    out = "\n".join(up.lines)
    assert code != 0, out
    assert "Traceback" not in out, out
    last = up.lines[-1]
    for word in words:
        assert word.lower() in last.lower(), out
    return last


def children_of(pid: int) -> dict[int, str]:
    """{pid: command line} of the processes whose parent is pid."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out[int(entry.name)] = cmdline
    return out


def test_port_in_use_ends_up_with_one_line_naming_the_listener(broker: KafkaSettings, tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, "ready-port.")}'
                    f'[metrics]\nenabled = false\n'
                    f'[[syslog.listeners]]\nname = "tcp"\ntransport = "tcp"\nlisten = "127.0.0.1:{port}"\n'
                    '[snmp]\nenabled = false\n[archive]\nenabled = false\n[checks]\nactive_enabled = false\n'
                    '[pipelines]\nenabled = false\n')
    up = Up(conf)
    try:
        code = up.wait_exit(60)
    finally:
        up.stop()
        taken.close()
    assert_one_line_failure(up, code, "syslog-tcp", "in use")
    assert not any("vigie up: ready in" in line for line in up.lines), "\n".join(up.lines)


def test_missing_token_fails_before_any_broker_is_started(tmp_path: Path) -> None:
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n[kafka]\nlocal_listen = "127.0.0.1:{free_port()}"\n'
                    f'[metrics]\nenabled = false\n{QUIET}'.replace("[checks]\n", '[checks]\nhttp_enabled = true\n'
                                                                   'token_env = "VIGIE_T_ABSENT_TOKEN"\n'))
    env = {k: v for k, v in os.environ.items() if k != "VIGIE_T_ABSENT_TOKEN"}
    up = Up(conf, env)
    try:
        code = up.wait_exit(30)
    finally:
        up.stop()
    assert_one_line_failure(up, code, "checks-http", "VIGIE_T_ABSENT_TOKEN")
    assert not (tmp_path / "state" / "kafka").exists(), "a broker was started"
    assert not any("starting the local Kafka broker" in line for line in up.lines)


@pytest.mark.peer
def test_a_trap_sent_the_moment_up_says_ready_lands_in_raw_traps(broker: KafkaSettings, tmp_path: Path) -> None:
    from tests.tools import require_tool

    snmptrap = require_tool("snmptrap")
    tport = free_port()
    prefix = f"ready-trap-{tport}."
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, prefix)}'
                    f'[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[snmp]\nlisten = "127.0.0.1:{tport}"\ncommunities = ["public"]\n[archive]\nenabled = false\n'
                    '[checks]\nactive_enabled = false\n')
    up = Up(conf)
    try:
        up.wait_line("vigie up: ready in", 90)
        subprocess.run([snmptrap, "-v", "2c", "-c", "public", f"127.0.0.1:{tport}", "", "1.3.6.1.6.3.1.1.5.3",
                        "1.3.6.1.2.1.2.2.1.1.3", "i", "3"], check=True)
        from tests.integration.test_up import _consume_all

        got = _consume_all(replace(broker, topic_prefix=prefix),
                           "raw.traps", 1, timeout=30)
        assert len(got) == 1
        # the pipelines child had joined its group before ready was said
        joined = next(i for i, line in enumerate(up.lines) if "joined the consumer group" in line)
        assert joined < next(i for i, line in enumerate(up.lines) if "vigie up: ready in" in line)
    finally:
        assert up.stop() == 0, "\n".join(up.lines)


def test_a_child_that_keeps_crashing_at_start_ends_up_with_the_start_limit_line(broker: KafkaSettings,
                                                                                 tmp_path: Path) -> None:
    root = tmp_path / "archive"
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, "ready-crash.")}'
                    f'[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[snmp]\nenabled = false\n[checks]\nactive_enabled = false\n[pipelines]\nenabled = false\n'
                    f'[archive]\nroot = "{root}"\n')
    up = Up(conf)
    try:
        up.wait_line("vigie up: ready in", 90)
        (archive_pid,) = [p for p, cmd in children_of(up.proc.pid).items() if "service archive" in cmd]
        root.rename(tmp_path / "archive.moved")
        root.write_text("not a folder: every restart of the archive sink fails at once\n")
        os.kill(archive_pid, signal.SIGKILL)
        code = up.wait_exit(120)
    finally:
        up.stop()
    assert_one_line_failure(up, code, "service archive failed 5 times", "before joining its consumer group")


def test_children_do_not_hold_the_intake_token_nor_the_snmpv3_keys(broker: KafkaSettings, tmp_path: Path) -> None:
    hport, tport = free_port(), free_port()
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, "ready-env.")}'
                    f'[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[checks]\nhttp_enabled = true\nhttp_listen = "127.0.0.1:{hport}"\ntoken_env = "VIGIE_T_TOKEN"\n'
                    f'active_enabled = false\n[archive]\nroot = "{tmp_path / "archive"}"\n'
                    f'[snmp]\nlisten = "127.0.0.1:{tport}"\n[[snmp.users]]\nname = "ops"\nauth_protocol = "SHA"\n'
                    'auth_key_env = "T_SNMP_AUTH"\npriv_protocol = "AES"\npriv_key_env = "VIGIE_T_SNMP_PRIV"\n')
    secrets = {"VIGIE_T_TOKEN": "tok-123", "T_SNMP_AUTH": "auth-key-123", "VIGIE_T_SNMP_PRIV": "priv-key-123"}
    up = Up(conf, dict(os.environ, **secrets))
    try:
        up.wait_line("vigie up: ready in", 90)
        children = children_of(up.proc.pid)
        assert sorted(cmd.split(" service ")[1].split()[0] for cmd in children.values()) == \
            ["archive", "console", "pipelines"]
        for pid, cmd in children.items():
            environ = dict(item.split("=", 1) for item in
                           Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item)
            assert not set(secrets) & set(environ), cmd
            assert not set(secrets.values()) & set(environ.values()), cmd
            assert "PROMETHEUS_MULTIPROC_DIR" in environ and environ["PATH"] == os.environ["PATH"]
    finally:
        assert up.stop() == 0, "\n".join(up.lines)


def _metric(url: str, name: str, labels: str) -> float | None:
    import urllib.request

    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}} "):
            return float(line.split()[-1])
    return None


@pytest.mark.slow
def test_a_sigkilled_local_broker_is_restarted_under_load_and_no_syslog_message_is_lost(tmp_path: Path) -> None:
    """TCP syslog at ~300 msg/s through `vigie up`'s own broker, SIGKILLed mid-stream: the supervisor restarts it,
    the producer and the pipelines child reconnect without being restarted, and every message lands in
    raw.syslog exactly once (the KafkaSink is idempotent: librdkafka's retries after the broker's return are
    deduplicated by the broker from the producer id and sequence numbers it recovers from its log)."""
    kport, mport, sport = free_port(), free_port(), free_port()
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n[kafka]\nlocal_listen = "127.0.0.1:{kport}"\n'
                    f'[metrics]\nlisten = "127.0.0.1:{mport}"\n'
                    f'[[syslog.listeners]]\nname = "tcp"\ntransport = "tcp"\nlisten = "127.0.0.1:{sport}"\n'
                    '[snmp]\nenabled = false\n[archive]\nenabled = false\n[checks]\nactive_enabled = false\n')
    up = Up(conf)
    sent = 0
    stop_sending = threading.Event()

    def send() -> None:
        nonlocal sent
        with socket.create_connection(("127.0.0.1", sport)) as conn:
            while not stop_sending.is_set():
                t0 = time.monotonic()
                batch = b"".join(f"<13>1 - host{n % 7} app - - - message {n}\n".encode()
                                 for n in range(sent, sent + 30))
                conn.sendall(batch)
                sent += 30
                time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))  # 30 every 100 ms: 300 msg/s

    try:
        up.wait_line("vigie up: ready in", 120)
        children_before = {p for p, cmd in children_of(up.proc.pid).items() if " service " in cmd}
        pid_file = tmp_path / "state" / "kafka" / "broker.pid"
        first = int(pid_file.read_text())
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        time.sleep(5)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                again = int(pid_file.read_text())
            except (OSError, ValueError):
                again = first
            if again != first and socket.socket().connect_ex(("127.0.0.1", kport)) == 0:
                break
            assert up.proc.poll() is None, "\n".join(up.lines)
            time.sleep(0.2)
        else:
            raise AssertionError("the broker did not come back:\n" + "\n".join(up.lines))
        time.sleep(5)
        stop_sending.set()
        sender.join(30)
        assert sent > 2000
        from tests.integration.test_up import _consume_all

        got = _consume_all(LocalBroker(tmp_path / "state", port=kport).client_settings(), "raw.syslog", sent,
                           timeout=120)
        numbers = [int(m.value().rsplit(b" ", 1)[1]) for m in got]
        assert sorted(set(numbers)) == list(range(sent)), f"lost: {sorted(set(range(sent)) - set(numbers))[:20]}"
        assert len(numbers) == sent, f"{len(numbers) - sent} duplicates"
        url = f"http://127.0.0.1:{mport}/metrics"
        assert _metric(url, "vigie_service_restarts_total", 'service="kafka-broker"') == 1
        for service in ("syslog-tcp", "pipelines"):
            assert not _metric(url, "vigie_service_restarts_total", f'service="{service}"')
        after = {p for p, cmd in children_of(up.proc.pid).items() if " service " in cmd}
        assert len(after) == 2 and after == children_before  # neither pipelines nor console was restarted
    finally:
        stop_sending.set()
        assert up.stop() == 0, "\n".join(up.lines)


def test_children_stop_when_vigie_up_is_sigkilled(broker: KafkaSettings, tmp_path: Path) -> None:
    """A SIGKILLed `vigie up` leaves no worker behind to consume beside the next one."""
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, "ready-orphans.")}'
                    f'[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[snmp]\nenabled = false\n[checks]\nactive_enabled = false\n[archive]\nroot = "{tmp_path / "archive"}"\n')
    up = Up(conf)
    try:
        up.wait_line("vigie up: ready in", 90)
        children = children_of(up.proc.pid)
        assert len(children) == 3  # pipelines, archive, console
    finally:
        up.proc.kill()
        up.wait_exit(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.2)
    left = [cmd for pid, cmd in children.items() if Path(f"/proc/{pid}").exists()]
    assert left == []


def test_the_faust_notifier_stops_when_vigie_up_is_sigkilled(broker: KafkaSettings, tmp_path: Path) -> None:
    """The Faust worker stops on its own SIGTERM handler only: the parent watch must reach it too."""
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{tmp_path / "state"}"\n{kafka_table(broker, "ready-notify-orphans.")}[metrics]\nenabled = false\n[syslog]\nenabled = false\n'
                    f'[snmp]\nenabled = false\n[checks]\nactive_enabled = false\n[archive]\nenabled = false\n'
                    f'[[routes]]\nname = "ops"\nwebhook = "http://127.0.0.1:9/hook"\n')
    up = Up(conf)
    try:
        up.wait_line("vigie up: ready in", 120)
        children = children_of(up.proc.pid)
        assert any("service notify" in cmd for cmd in children.values()), children
    finally:
        up.proc.kill()
        up.wait_exit(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.2)
    left = [cmd for pid, cmd in children.items() if Path(f"/proc/{pid}").exists()]
    assert left == []
