"""Only the intake writes raw topics: the local broker refuses unauthenticated and wrongly authorised clients."""

from __future__ import annotations

import socket
import stat
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer

from tests.integration.test_up_ready import Up, children_of
from vigie import broker_auth
from vigie.acl_admin import ensure_acls
from vigie.kafka_client import KafkaSettings, make_consumer, watermarks
from vigie.local_broker import LocalBroker, free_port
from vigie.topic_admin import ensure_topics
from vigie.topics import ARCHIVE_HEADS, RAW_SYSLOG, default_specs

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif("os.environ.get('VIGIE_TEST_BOOTSTRAP')", reason="needs the session's own broker")]


@pytest.fixture()
def secured(local_broker: LocalBroker) -> str:
    """A fresh topic prefix whose topics and ACLs exist, as `vigie up` makes them."""
    prefix = f"a{uuid.uuid4().hex[:8]}."
    admin = local_broker.client_settings(broker_auth.ADMIN, prefix)
    ensure_topics(admin, default_specs(partitions=1))
    ensure_acls(admin, broker_auth.acl_specs(prefix))
    return prefix


def produce_one(settings: KafkaSettings, logical: str, timeout: float = 10.0) -> KafkaError | None:
    """Produce one record and wait for its delivery report: None when the broker took it, else its error."""
    report: list[KafkaError | None] = []
    errors: list[KafkaError] = []
    producer = Producer({**settings.librdkafka(), "message.timeout.ms": int(timeout * 1000),
                         "error_cb": errors.append, "logger": _quiet()})
    producer.produce(settings.topic(logical), b"<13>Dec  7 20:00:00 fw1 forged: SRC=10.0.0.9",
                     on_delivery=lambda err, _msg: report.append(err))
    producer.flush(timeout + 5)
    assert report, "no delivery report"
    return report[0] or (errors[0] if errors else None)


def _quiet():
    import logging

    log = logging.getLogger("test.refused-clients")
    log.disabled = True  # a refused client's reconnect lines say nothing the assertions do not
    return log


def test_an_unauthenticated_producer_cannot_write_raw_syslog(local_broker: LocalBroker, secured: str) -> None:
    anonymous = KafkaSettings(local_broker.bootstrap, topic_prefix=secured)
    err = produce_one(anonymous, RAW_SYSLOG, timeout=5)
    assert err is not None  # the broker closes a connection that does not start with SASL
    assert _count(local_broker, secured) == 0


def test_a_wrong_password_is_refused(local_broker: LocalBroker, secured: str) -> None:
    wrong = replace(local_broker.client_settings(broker_auth.INTAKE, secured), sasl_password="not-the-password")
    err = produce_one(wrong, RAW_SYSLOG, timeout=5)
    assert err is not None and err.code() in (KafkaError._AUTHENTICATION, KafkaError._MSG_TIMED_OUT,
                                              KafkaError.SASL_AUTHENTICATION_FAILED)
    assert _count(local_broker, secured) == 0


@pytest.mark.parametrize("principal", [broker_auth.PIPELINES, broker_auth.ARCHIVE, broker_auth.NOTIFY,
                                       broker_auth.READER, broker_auth.OPERATOR])
def test_only_the_intake_principal_writes_raw_syslog(local_broker: LocalBroker, secured: str, principal: str) -> None:
    err = produce_one(local_broker.client_settings(principal, secured), RAW_SYSLOG)
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _count(local_broker, secured) == 0


def test_the_intake_writes_raw_syslog_and_the_pipelines_and_archive_read_it(local_broker: LocalBroker,
                                                                          secured: str) -> None:
    assert produce_one(local_broker.client_settings(broker_auth.INTAKE, secured), RAW_SYSLOG) is None
    assert _count(local_broker, secured) == 1
    for principal, group in ((broker_auth.PIPELINES, f"{secured}normalize"), (broker_auth.ARCHIVE, "vigie-archive")):
        _read_one(local_broker, secured, principal, group)


def test_the_intake_cannot_read_what_it_wrote(local_broker: LocalBroker, secured: str) -> None:
    assert produce_one(local_broker.client_settings(broker_auth.INTAKE, secured), RAW_SYSLOG) is None
    with pytest.raises(AssertionError, match="AUTHORIZATION_FAILED"):
        _read_one(local_broker, secured, broker_auth.INTAKE, f"{secured}normalize")


def test_credentials_are_files_only_their_owner_reads(local_broker: LocalBroker) -> None:
    folder = broker_auth.credentials_dir(local_broker.state_dir)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in broker_auth.PRINCIPALS:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((local_broker.home / "server.properties").stat().st_mode) == 0o600
    assert not (local_broker.home / "format.args").exists()  # the passwords' argument file is gone


def _count(local: LocalBroker, prefix: str) -> int:
    """Records on raw.syslog (its high watermark, as the admin sees it): nothing was written when 0."""
    settings = local.client_settings(broker_auth.ADMIN, prefix)
    consumer = make_consumer(settings, f"vigie-cli-{uuid.uuid4().hex[:6]}")
    try:
        return watermarks(consumer, settings.topic(RAW_SYSLOG), 0)[1]
    finally:
        consumer.close()


def _read_one(local: LocalBroker, prefix: str, principal: str, group: str) -> None:
    """Read the first record of raw.syslog as `principal` in `group`; AssertionError naming the error if refused."""
    settings = local.client_settings(principal, prefix)
    consumer = make_consumer(settings, group)
    consumer.subscribe([settings.topic(RAW_SYSLOG)])
    try:
        for _ in range(40):
            for m in consumer.consume(10, 0.5):
                if m.error() is not None:
                    raise AssertionError(f"{principal} refused: {m.error().name()}")
                return
    finally:
        consumer.close()
    raise AssertionError(f"{principal} read nothing")


@pytest.mark.slow
def test_vigie_up_runs_each_child_as_its_own_user_and_the_archive_keeps_what_the_intake_wrote(tmp_path: Path) -> None:
    """`vigie up` with its own broker: the intake writes, the archive child (user `archive`) archives and publishes
    its chain head, the pipelines child runs as `pipelines`; a child holds its own password and no other."""
    kport, sport = free_port(), free_port()
    state, root = tmp_path / "state", tmp_path / "archive"
    conf = tmp_path / "vigie.toml"
    conf.write_text(f'state_dir = "{state}"\n[kafka]\nlocal_listen = "127.0.0.1:{kport}"\n[metrics]\nenabled = false\n'
                    f'[[syslog.listeners]]\nname = "udp"\ntransport = "udp"\nlisten = "127.0.0.1:{sport}"\n'
                    f'[snmp]\nenabled = false\n[checks]\nactive_enabled = false\n'
                    f'[archive]\nroot = "{root}"\nidle_flush = "1s"\n')
    up = Up(conf)
    try:
        up.wait_line("vigie up: ready in", 120)
        passwords = {p: broker_auth.read_password(state, p) for p in broker_auth.PRINCIPALS}
        children = {pid: cmd for pid, cmd in children_of(up.proc.pid).items() if " service " in cmd}  # not Java
        assert len(children) == 3  # pipelines, archive, console
        for pid, cmd in children.items():
            service = cmd.split(" service ")[1].split()[0]
            environ = dict(item.split("=", 1) for item in
                           Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in item)
            assert environ[broker_auth.USERNAME_ENV] == service, cmd
            assert environ[broker_auth.PASSWORD_ENV] == passwords[service]
            others = {pw for name, pw in passwords.items() if name != service}
            assert not others & set(environ.values()), f"{service} holds another user's password"
        line = ("<4>Dec  7 20:00:00 fw1 kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.168.10.23 DST=93.184.216.34 LEN=60 "
                "PROTO=TCP SPT=51544 DPT=443 SYN")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(line.encode(), ("127.0.0.1", sport))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(root.glob("connlog/dt=*/hour=*/*.parquet")):
            time.sleep(0.5)
        assert list(root.glob("connlog/dt=*/hour=*/*.parquet")), "\n".join(up.lines)
        admin = LocalBroker(state, port=kport).client_settings()
        consumer = make_consumer(admin, f"vigie-cli-{uuid.uuid4().hex[:6]}")
        try:
            deadline = time.monotonic() + 30
            while watermarks(consumer, admin.topic(ARCHIVE_HEADS), 0)[1] == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert watermarks(consumer, admin.topic(ARCHIVE_HEADS), 0)[1] >= 1  # written as `archive`
        finally:
            consumer.close()
    finally:
        assert up.stop() == 0, "\n".join(up.lines)
