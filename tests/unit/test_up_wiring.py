"""What `vigie up` wires from the config: settings reach the objects they configure, secrets are read up front,
and a child's environment holds only the secrets its own part of the config names."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from vigie.app.child_env import child_environment, child_sections, secret_env_names
from vigie.app.runtime import Runtime
from vigie.app.services import check_secrets, check_services, snmp_services, syslog_services
from vigie.config import ConfigError, validate
from vigie.kafka_client import KafkaSettings
from vigie.supervisor import SignalsReady


def _runtime(raw: dict[str, Any]) -> Runtime:
    rt = Runtime(validate({"state_dir": "/tmp/vigie-wiring", **raw}), KafkaSettings(), CollectorRegistry())
    rt._sink = object()  # never used: the objects under test are replaced by recorders
    return rt


def test_checks_auth_keys_reach_the_check_intake(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigie.producers.checks.http_intake as http_intake

    made: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, sink: Any, **kwargs: Any) -> None:
            made.append(kwargs)

        async def start(self) -> None:
            return None

        async def stop(self) -> None:
            return None

    monkeypatch.setattr(http_intake, "CheckIntake", Recorder)
    monkeypatch.setenv("VIGIE_T_TOKEN", "tok")
    rt = _runtime({"checks": {"http_enabled": True, "token_env": "VIGIE_T_TOKEN", "active_enabled": False,
                              "auth_max_failures": 3, "auth_window": "2m", "auth_max_addresses": 77}})
    ((name, run),) = check_services(rt)
    assert name == "checks-http" and isinstance(run, SignalsReady)

    async def once() -> bool:
        stop, started = asyncio.Event(), asyncio.Event()
        stop.set()
        await run.run(stop, started.set)
        return started.is_set()

    assert asyncio.run(once())
    assert (made[0]["auth_max_failures"], made[0]["auth_window"], made[0]["auth_max_addresses"]) == (3, 120.0, 77)


def test_checks_auth_keys_have_the_documented_defaults() -> None:
    checks = validate({}).checks
    assert (checks.auth_max_failures, checks.auth_window, checks.auth_max_addresses) == (10, 60.0, 10000)


def test_listener_keys_reach_the_listener_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    import vigie.producers.syslog.listeners as listeners

    made: list[Any] = []

    class Recorder:
        def __init__(self, settings: Any) -> None:
            self.run = lambda stop, ready: None
            made.append(settings)

    monkeypatch.setattr(listeners, "make_listener", lambda settings, sink, metrics: Recorder(settings))
    rt = _runtime({"syslog": {"listeners": [
        {"name": "tls", "transport": "tls", "listen": "127.0.0.1:6514", "certfile": "/x.pem", "keyfile": "/x.key",
         "handshake_timeout": "3s", "deadletter_max_raw": 4096},
        {"name": "udp", "transport": "udp", "listen": "127.0.0.1:5514", "udp_receive_buffer": 1 << 20},
        {"name": "plain", "transport": "udp", "listen": "127.0.0.1:5515"}]}})
    names = [name for name, _ in syslog_services(rt)]
    assert names == ["syslog-tls", "syslog-udp", "syslog-plain"]
    tls, udp, plain = made
    assert (tls.handshake_timeout, tls.deadletter_max_raw) == (3.0, 4096)
    assert udp.udp_receive_buffer == 1 << 20
    assert (plain.handshake_timeout, plain.deadletter_max_raw, plain.udp_receive_buffer) == (10.0, 524288, 16 << 20)


def test_a_missing_secret_is_refused_when_services_are_built_naming_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIE_T_NONE", raising=False)
    rt = _runtime({"checks": {"http_enabled": True, "token_env": "VIGIE_T_NONE", "active_enabled": False}})
    with pytest.raises(ConfigError, match="service checks-http: .*VIGIE_T_NONE"):
        check_services(rt)
    with pytest.raises(ConfigError, match="service checks-http: .*VIGIE_T_NONE"):
        check_secrets(rt.cfg)
    rt = _runtime({"snmp": {"users": [{"name": "ops", "auth_protocol": "SHA", "auth_key_env": "VIGIE_T_NONE", "priv_protocol": "none"}]}})
    with pytest.raises(ConfigError, match="service snmp-traps: .*VIGIE_T_NONE"):
        snmp_services(rt)
    with pytest.raises(ConfigError, match="service snmp-traps: .*VIGIE_T_NONE"):
        check_secrets(rt.cfg)
    check_secrets(validate({"state_dir": "/tmp/x", "checks": {"http_enabled": False, "token_env": "VIGIE_T_NONE"}}))


def test_a_child_environment_holds_only_its_own_secrets() -> None:
    cfg = validate({
        "state_dir": "/tmp/x",
        "kafka": {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                  "sasl_username_env": "VIGIE_KAFKA_USER", "sasl_password_env": "KAFKA_PASSWORD"},
        "checks": {"http_enabled": True, "token_env": "VIGIE_CHECKS_TOKEN"},
        "snmp": {"users": [{"name": "ops", "auth_protocol": "SHA", "auth_key_env": "SNMP_AUTH",
                            "priv_protocol": "AES", "priv_key_env": "VIGIE_SNMP_PRIV"}]},
    })
    parent = {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_TIME": "fr_FR.UTF-8", "TZ": "Europe/Paris",
              "PYTHONPATH": "/p", "VIGIE_STATE_DIR": "/s", "VIGIE_CHECKS_TOKEN": "t", "SNMP_AUTH": "a",
              "VIGIE_SNMP_PRIV": "p", "VIGIE_KAFKA_USER": "u", "KAFKA_PASSWORD": "pw", "AWS_SECRET_ACCESS_KEY": "x",
              "SSH_AUTH_SOCK": "/tmp/agent"}
    every = secret_env_names(cfg)
    assert every == {"VIGIE_KAFKA_USER", "KAFKA_PASSWORD", "VIGIE_CHECKS_TOKEN", "SNMP_AUTH", "VIGIE_SNMP_PRIV",
                     "VIGIE_NSCA_PASSWORD"}  # [nsca] names its variable even while disabled
    for service in ("archive", "pipelines"):
        its = set().union(*(secret_env_names(s) for s in child_sections(cfg, service)))
        env = child_environment(parent, every, its, {"VIGIE_READY_FD": "5"})
        assert env == {"PATH": "/usr/bin", "HOME": "/root", "LANG": "C.UTF-8", "LC_TIME": "fr_FR.UTF-8",
                       "TZ": "Europe/Paris", "PYTHONPATH": "/p", "VIGIE_STATE_DIR": "/s", "VIGIE_KAFKA_USER": "u",
                       "KAFKA_PASSWORD": "pw", "VIGIE_READY_FD": "5"}


def test_the_notify_child_gets_its_receivers_secrets_and_no_other() -> None:
    """A receiver's token reaches the notifier (it was refused before: `vigie up` failed at the notify child)."""
    cfg = validate({
        "state_dir": "/tmp/x",
        "checks": {"http_enabled": True, "token_env": "VIGIE_CHECKS_TOKEN"},
        "receivers": {"hook": {"type": "webhook", "url": "https://example.org/hook", "bearer_token_env": "HOOK_TOKEN"}},
        "routes": [{"name": "ops", "receivers": ["hook"]}],
    })
    parent = {"PATH": "/usr/bin", "VIGIE_CHECKS_TOKEN": "t", "HOOK_TOKEN": "b"}
    every = secret_env_names(cfg)
    notify = set().union(*(secret_env_names(s) for s in child_sections(cfg, "notify")))
    assert child_environment(parent, every, notify, {}) == {"PATH": "/usr/bin", "HOOK_TOKEN": "b"}
    pipelines = set().union(*(secret_env_names(s) for s in child_sections(cfg, "pipelines")))
    assert child_environment(parent, every, pipelines, {}) == {"PATH": "/usr/bin"}
