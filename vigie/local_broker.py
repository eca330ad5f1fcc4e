"""The local single-node Apache Kafka broker (KRaft) that `vigie up` and the tests run under a state folder.

The broker comes from Maven Central: kafka-pom.xml names `org.apache.kafka:kafka_2.13` and Maven
copies it with its runtime dependencies into a cache folder. No Docker engine is needed.

By default it authenticates every client (SCRAM-SHA-512 on a SASL_PLAINTEXT loopback listener) and
authorises it with ACLs (vigie/broker_auth.py says who may do what and why). The principals' passwords
are generated at the first start under state_dir/kafka/credentials (0600); the users exist from the
moment the storage is formatted (`kafka-storage format --add-scram`), and are upserted at each start
so that a principal added by a later Vigie gets its user. `sasl=False` runs the open PLAINTEXT broker.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vigie import broker_auth

if TYPE_CHECKING:
    from vigie.config import Config
    from vigie.kafka_client import KafkaSettings

KAFKA_VERSION = "3.9.1"
POM = Path(__file__).with_name("kafka-pom.xml")


class BrokerError(RuntimeError):
    """The local broker could not be fetched, started or stopped; the message says why."""


def default_cache_dir() -> Path:
    """Where the broker's jars are kept: $VIGIE_KAFKA_LIBS, else ~/.cache/vigie/kafka-<version>."""
    env = os.environ.get("VIGIE_KAFKA_LIBS")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "vigie" / f"kafka-{KAFKA_VERSION}"


def fetch(cache_dir: Path | None = None, quiet: bool = True) -> Path:
    """Resolve the broker's jars with Maven into cache_dir/libs (once); returns that folder."""
    libs = (cache_dir or default_cache_dir()) / "libs"
    marker = libs / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is needed once to fetch the Kafka broker; install it (apt-get install maven)")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={tmp}",
           "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}"]
    if quiet:
        cmd.insert(2, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not (tmp / marker.name).exists():
        raise BrokerError(f"Maven could not resolve Kafka {KAFKA_VERSION}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    return libs


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class LocalBroker:
    """One KRaft broker+controller process whose data, logs and pid file live under state_dir/kafka."""

    state_dir: Path
    port: int = 9092
    controller_port: int | None = None
    host: str = "127.0.0.1"
    heap: str = "512m"
    cache_dir: Path | None = None
    sasl: bool = True

    @property
    def home(self) -> Path:
        return Path(self.state_dir) / "kafka"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "server.log"

    def client_settings(self, principal: str = broker_auth.ADMIN, topic_prefix: str = "vigie.") -> KafkaSettings:
        """Settings for a client of this broker, as `principal` (its password read from the state folder)."""
        from vigie.kafka_client import KafkaSettings

        if not self.sasl:
            return KafkaSettings(self.bootstrap, topic_prefix=topic_prefix)
        return KafkaSettings(self.bootstrap, topic_prefix=topic_prefix, security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism=broker_auth.MECHANISM, sasl_username=principal,
                             sasl_password=broker_auth.read_password(self.state_dir, principal))

    def _write_config(self, passwords: dict[str, str] | None) -> Path:
        cport = self.controller_port or self.port + 1
        data = self.home / "data"
        client = "SASL_PLAINTEXT" if passwords else "PLAINTEXT"  # the controller listener's protocol too
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{cport}",
            "listeners": f"{client}://{self.host}:{self.port},CONTROLLER://{self.host}:{cport}",
            "advertised.listeners": f"{client}://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": f"{client}:{client},CONTROLLER:{client}",
            "inter.broker.listener.name": client,
            **(broker_auth.security_properties(passwords, client, "CONTROLLER") if passwords else {}),
            "log.dirs": str(data),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }
        conf = self.home / "server.properties"
        broker_auth.write_private(conf, "".join(f"{k}={v}\n" for k, v in props.items()))  # it holds passwords
        log4j = self.home / "log4j.properties"
        log4j.write_text(
            "log4j.rootLogger=INFO, file\n"
            "log4j.appender.file=org.apache.log4j.RollingFileAppender\n"
            f"log4j.appender.file.File={self.log_file}\n"
            "log4j.appender.file.MaxFileSize=20MB\n"
            "log4j.appender.file.MaxBackupIndex=3\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka.log=WARN\nlog4j.logger.org.apache.kafka.storage=WARN\n"
            "log4j.logger.state.change.logger=WARN\nlog4j.logger.kafka.coordinator=WARN\n"
        )
        return conf

    def _java(self, libs: Path, main: str, *args: str, heap: str | None = None) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Java 17+ is needed to run the local Kafka broker (apt-get install openjdk-17-jre-headless)")
        cmd = [java]
        if heap:
            cmd += [f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
        cmd += ["-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
                f"-Dkafka.logs.dir={self.log_file.parent}", "-cp", f"{libs}/*", main, *args]
        return cmd

    def pid(self) -> int | None:
        """The broker's pid when its process is alive, else None.

        A pid file outlives its process: after a SIGKILL the broker stays a zombie until its parent reaps it,
        and later the pid may belong to another program. Neither counts (the zombie is reaped here when it is
        our child), so `start` after a crash starts a new broker at once instead of waiting for a dead one.
        """
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid) or not _runs_broker(pid, self.home / "server.properties"):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None and _port_open(self.host, self.port)

    def start(self, timeout: float = 60.0) -> None:
        """Format storage on first start, start the broker detached, and wait until it answers."""
        if self.pid() is not None:
            if self._wait_ready(timeout):
                return
            raise BrokerError(f"a broker process (pid {self.pid()}) exists but does not answer on {self.bootstrap}")
        if _port_open(self.host, self.port):
            raise BrokerError(f"port {self.bootstrap} is already taken by another program")
        libs = fetch(self.cache_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        formatted = (self.home / "data" / "meta.properties").exists()
        passwords = self._passwords(formatted) if self.sasl else None
        conf = self._write_config(passwords)
        if not formatted:
            self._format(libs, conf, passwords)
        out = open(self.home / "logs" / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(
            self._java(libs, "kafka.Kafka", str(conf), heap=self.heap),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        out.close()
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(f"the Kafka broker exited with code {proc.returncode}; see {self.log_file}")
            if self._wait_ready(0.5):
                if passwords:
                    self._ensure_users(passwords)
                return
        self.stop()
        raise BrokerError(f"the Kafka broker did not answer on {self.bootstrap} within {timeout:.0f} s; see {self.log_file}")

    def _ensure_users(self, passwords: dict[str, str]) -> None:
        """Upsert the principals' users; a broker that cannot take them is stopped (not left running unusable)."""
        from confluent_kafka import KafkaException

        from vigie.acl_admin import ensure_users

        try:
            ensure_users(self.client_settings(), passwords)
        except KafkaException as exc:
            self.stop()
            raise BrokerError(f"the Kafka broker did not take its users: {exc}") from None

    def _passwords(self, formatted: bool) -> dict[str, str]:
        """The principals' passwords (generated at the first start); refuses storage formatted without them."""
        if formatted and not self._secured_marker.exists():
            raise BrokerError(
                f"the Kafka storage under {self.home / 'data'} was formatted without authentication (by an earlier "
                "Vigie, or with `[kafka] local_sasl = false`) and its admin user cannot be created now: let the "
                "archive and the pipelines drain it with `[kafka] local_sasl = false`, then move that folder away "
                "(its topics are recreated empty and secured at the next start)")
        return broker_auth.ensure_credentials(self.state_dir)

    @property
    def _secured_marker(self) -> Path:
        """Written once the storage has been formatted with the principals' users."""
        return self.home / "data-has-scram-users"

    def _format(self, libs: Path, conf: Path, passwords: dict[str, str] | None) -> None:
        """Format the storage; with authentication, with every principal's SCRAM user (KIP-900 --add-scram).

        The passwords go in a Java argument file (0600, removed at once), not on the command line that
        any local user can read in /proc while the tool runs.
        """
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # "--cluster-id=ID": a base64 id may start with "-", which a separate argument would break.
        args = ["format", f"--cluster-id={cluster_id}", "-c", str(conf), "--ignore-formatted"]
        for name in broker_auth.PRINCIPALS if passwords else ():
            args += ["--add-scram", f"{broker_auth.MECHANISM}=[name={name},password={passwords[name]}]"]
        cmd = self._java(libs, "kafka.tools.StorageTool", *args)
        argfile = self.home / "format.args"
        broker_auth.write_private(argfile, "\n".join(_argfile_quote(a) for a in cmd[1:]))
        try:
            fmt = subprocess.run([cmd[0], f"@{argfile}"], capture_output=True, text=True)
        finally:
            argfile.unlink(missing_ok=True)
        if fmt.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {(fmt.stderr or fmt.stdout).strip()[-1500:]}")
        if passwords:
            self._secured_marker.touch()

    async def supervise(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        """The broker as a supervised service: (re)start it when it is not running, then watch it.

        Its death is a crash, so the supervisor restarts it with back-off like any other service; the
        clients (librdkafka) reconnect by themselves once it answers again.
        """
        if self.pid() is None:
            await asyncio.to_thread(self.start)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), poll)
            except TimeoutError:
                if self.pid() is None:
                    raise BrokerError(f"the Kafka broker exited; see {self.log_file}") from None

    def _wait_ready(self, timeout: float) -> bool:
        from vigie.kafka_client import broker_answers

        settings = self.client_settings()
        deadline = time.monotonic() + timeout
        while True:
            if _port_open(self.host, self.port) and broker_answers(settings, timeout=1.0):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop cleanly with SIGTERM (controlled shutdown), then SIGKILL after timeout; True if one was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status(self) -> str:
        """One line for `vigie broker status`."""
        pid = self.pid()
        if pid is None:
            return f"stopped (state {self.home})"
        ready = "answering" if self._wait_ready(2.0) else "NOT answering"
        return f"running pid {pid} on {self.bootstrap}, {ready} (Kafka {KAFKA_VERSION}, state {self.home})"


def local_broker(cfg: Config) -> LocalBroker:
    """The local broker the configuration describes ([kafka] local_listen, local_heap, local_sasl)."""
    host, port = cfg.kafka.local_listen
    return LocalBroker(Path(cfg.state_dir), port=port, host=host, heap=cfg.kafka.local_heap, sasl=cfg.kafka.local_sasl)


def _argfile_quote(arg: str) -> str:
    """One argument in a java @argfile: quoted, with backslashes and quotes escaped (the launcher's rules)."""
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _runs_broker(pid: int, conf: Path) -> bool:
    """Whether process `pid` is a Kafka broker started on `conf` (not another program that got the pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return True  # no /proc to ask: trust the pid file, as before
    return b"kafka.Kafka" in args and os.fsencode(str(conf)) in args


def _alive(pid: int) -> bool:
    try:
        # Reap our own child if it is one; otherwise just probe.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


if __name__ == "__main__":  # pragma: no cover - manual use: python -m vigie.local_broker fetch
    print(fetch(quiet=False) if sys.argv[1:] == ["fetch"] else "usage: python -m vigie.local_broker fetch")
