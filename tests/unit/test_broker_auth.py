"""Who may do what on the local broker (vigie/broker_auth.py), and how each part finds its own credentials."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from vigie import broker_auth
from vigie.app.child_env import child_credentials, child_environment
from vigie.config import ConfigError, kafka_settings, validate
from vigie.pipelines.archive.sink import SinkConfig
from vigie.pipelines.notify.runner import RouteSettings

P = "vigie."


def allowed(principal: str, resource: str, name: str, operation: str, prefix: str = P) -> bool:
    """Whether the ACL table lets principal do operation on the resource named so (Kafka's matching rules)."""
    for a in broker_auth.acl_specs(prefix):
        if a.principal != principal or a.resource != resource or a.operation != operation:
            continue
        if name == a.name or (a.pattern == "prefixed" and name.startswith(a.name)):
            return True
    return False


def test_only_the_intake_writes_the_raw_topics_and_it_reads_nothing() -> None:
    for topic in ("raw.syslog", "raw.traps", "raw.checks"):
        writers = {p for p in broker_auth.PRINCIPALS if allowed(p, "topic", P + topic, "write")}
        assert writers == {broker_auth.INTAKE}, topic
        readers = {p for p in broker_auth.PRINCIPALS if allowed(p, "topic", P + topic, "read")}
        console = {broker_auth.CONSOLE} if topic == "raw.checks" else set()  # the host page's check outputs
        assert readers == {broker_auth.PIPELINES, broker_auth.ARCHIVE, broker_auth.READER, *console}, topic
    assert not [a for a in broker_auth.acl_specs(P) if a.principal == broker_auth.INTAKE and a.operation == "read"]
    assert not allowed(broker_auth.INTAKE, "topic", P + "alerts", "write")


def test_the_read_only_principal_writes_only_its_own_audit_records() -> None:
    written = {a.name for a in broker_auth.acl_specs(P) if a.principal == broker_auth.READER and a.operation == "write"}
    assert written == {P + "audit"}
    assert {a.name for a in broker_auth.acl_specs(P) if a.principal == broker_auth.OPERATOR
            and a.operation == "write"} == {P + "control", P + "actions"}  # commands, and cancelling a countdown
    assert {a.name for a in broker_auth.acl_specs(P) if a.principal == broker_auth.ACTIONS
            and a.operation == "write"} == {P + "actions", P + "notifications"}
    assert {a.name for a in broker_auth.acl_specs(P) if a.principal == broker_auth.CONSOLE
            and a.operation == "write"} == {P + "control", P + "audit"}


def test_every_group_the_code_joins_is_allowed_to_its_principal() -> None:
    groups = {
        broker_auth.PIPELINES: [f"{P}normalize", f"{P}correlate", f"{P}reader-1a2b3c4d"],
        broker_auth.ARCHIVE: [SinkConfig(root=Path("/a")).group_id],
        broker_auth.NOTIFY: [RouteSettings(route="oncall", channels=[]).group, f"{P}notify", f"{P}notify-metadata"],
        broker_auth.READER: ["vigie-cli-1765139000000", "vigie-verify-4242", f"{P}replay-1a2b3c4d"],
        broker_auth.CONSOLE: ["vigie-console-1765139000000"],
        broker_auth.ACTIONS: ["vigie-actions"],
    }
    for principal, names in groups.items():
        for name in names:
            assert allowed(principal, "group", name, "read"), (principal, name)
    assert not allowed(broker_auth.NOTIFY, "group", f"{P}normalize", "read")


def test_rules_follow_the_topic_prefix() -> None:
    assert allowed(broker_auth.INTAKE, "topic", "site2.raw.syslog", "write", prefix="site2.")
    assert not allowed(broker_auth.INTAKE, "topic", "vigie.raw.syslog", "write", prefix="site2.")


def test_the_broker_has_no_anonymous_super_user() -> None:
    props = broker_auth.security_properties({broker_auth.ADMIN: "a", broker_auth.CONTROLLER: "c"},
                                            "SASL_PLAINTEXT", "CONTROLLER")
    assert props["super.users"] == "User:admin;User:controller"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert props["listener.name.sasl_plaintext.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"


def test_credentials_are_generated_once_private_and_distinct(tmp_path: Path) -> None:
    first = broker_auth.ensure_credentials(tmp_path)
    assert set(first) == {*broker_auth.PRINCIPALS, broker_auth.CONTROLLER}
    assert len(set(first.values())) == len(first)
    assert broker_auth.ensure_credentials(tmp_path) == first  # kept, not regenerated
    folder = broker_auth.credentials_dir(tmp_path)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()} == {0o600}


def test_each_part_authenticates_as_its_own_principal_on_the_local_broker(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(broker_auth.USERNAME_ENV, raising=False)
    cfg = validate({"state_dir": str(tmp_path), "kafka": {"local_listen": "127.0.0.1:9500"}})
    with pytest.raises(ConfigError, match="no Kafka credentials for principal 'reader'"):
        kafka_settings(cfg)
    passwords = broker_auth.ensure_credentials(tmp_path)
    reader = kafka_settings(cfg)
    assert (reader.bootstrap_servers, reader.security_protocol, reader.sasl_mechanism) == \
        ("127.0.0.1:9500", "SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert (reader.sasl_username, reader.sasl_password) == ("reader", passwords["reader"])
    assert kafka_settings(cfg, "127.0.0.1:9500", "intake").sasl_username == "intake"
    # a child of `vigie up` authenticates as the user handed to it, whatever it would have asked for
    monkeypatch.setenv(broker_auth.USERNAME_ENV, "archive")
    monkeypatch.setenv(broker_auth.PASSWORD_ENV, passwords["archive"])
    assert kafka_settings(cfg, "127.0.0.1:9500", "intake").sasl_username == "archive"
    # --bootstrap naming another broker, or local_sasl off: the [kafka] settings, unauthenticated by default
    assert kafka_settings(cfg, "10.0.0.5:9092").security_protocol == "PLAINTEXT"
    off = validate({"state_dir": str(tmp_path), "kafka": {"local_sasl": False}})
    assert kafka_settings(off).sasl_username is None


def test_a_cluster_with_service_users_takes_each_password_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(broker_auth.USERNAME_ENV, raising=False)
    cfg = validate({"kafka": {"bootstrap_servers": "k1:9092,k2:9092", "security_protocol": "SASL_SSL",
                              "sasl_mechanism": "SCRAM-SHA-512", "sasl_service_users": True}})
    with pytest.raises(ConfigError, match="VIGIE_KAFKA_ARCHIVE_PASSWORD"):
        kafka_settings(cfg, principal="archive")
    monkeypatch.setenv("VIGIE_KAFKA_ARCHIVE_PASSWORD", "s3cret")
    s = kafka_settings(cfg, principal="archive")
    assert (s.bootstrap_servers, s.security_protocol, s.sasl_username, s.sasl_password) == \
        ("k1:9092,k2:9092", "SASL_SSL", "archive", "s3cret")


def test_a_child_is_handed_its_own_credentials_and_no_other() -> None:
    passwords = {p: f"pw-{p}" for p in broker_auth.PRINCIPALS}
    handed = child_credentials(passwords, "archive")
    assert handed == {broker_auth.USERNAME_ENV: "archive", broker_auth.PASSWORD_ENV: "pw-archive"}
    assert child_credentials({}, "archive") == {}  # an external cluster with one user: the [kafka] settings
    parent = {"PATH": "/usr/bin", "VIGIE_KAFKA_PIPELINES_PASSWORD": "p", "VIGIE_KAFKA_ADMIN_PASSWORD": "a",
              broker_auth.USERNAME_ENV: "admin", broker_auth.PASSWORD_ENV: "a"}
    every = {broker_auth.USERNAME_ENV, broker_auth.PASSWORD_ENV} | \
        {broker_auth.password_env(p) for p in broker_auth.PRINCIPALS}
    assert child_environment(parent, every, set(), handed) == {"PATH": "/usr/bin", **handed}
