"""Configuration: defaults serve one machine; each bad file stops start-up with one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.config import ConfigError, load, parse_duration, secret, validate


def test_defaults_bind_to_loopback_and_keep_a_year() -> None:
    cfg = validate({})
    assert all(lst.listen[0] == "127.0.0.1" for lst in cfg.syslog.listeners)
    assert cfg.snmp.listen == ("127.0.0.1", 1162)
    assert cfg.metrics.listen[0] == "127.0.0.1"
    assert cfg.archive.retention_days == 365
    assert cfg.kafka.bootstrap_servers == ""
    assert cfg.correlation.incident_window == 120.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[kafka]\nbootstrp = 'x'\n", "config: kafka.bootstrp: unknown key"),
        ("[kafak]\n", "config: kafak: unknown key"),
        ("[kafka]\npartitions = '3'\n", 'config: kafka.partitions: expected an integer from 1 to 1000, got "3"'),
        ("[correlation]\nincident_window = '2 minutes'\n", "config: correlation.incident_window: expected a duration"),
        ("[correlation]\nhold_down = 30\n", "config: correlation.hold_down: expected a duration"),
        ("[metrics]\nlisten = '300.1.2.3:80'\n", 'config: metrics.listen: expected an address "host:port"'),
        ("[metrics]\nlisten = '127.0.0.1:70000'\n", "config: metrics.listen: expected an address"),
        ("[[syslog.listeners]]\ntransport = 'sctp'\n", "config: syslog.listeners[0].transport: expected one of udp, tcp, tls"),
        ("[[syslog.listeners]]\ntransport = 'tls'\n", "config: syslog.listeners[0].certfile: expected certfile and keyfile"),
        ("[archive]\nretention_days = 0\n", "config: archive.retention_days: expected an integer from 1 to 36500, got 0"),
        ("[metrics]\nenabled = 'yes'\n", "config: metrics.enabled: expected true or false"),
        ("[inventory.hosts.sw1]\nparents = ['core9']\n", "config: inventory.hosts.sw1.parents: expected known host names"),
        ("[[snmp.users]]\nname = 'ops'\nauth_key_env = 'A'\n", "config: snmp.users[0].priv_key_env: expected"),
        ("[kafka]\nsasl_password_env = 'not a name'\n", "config: kafka.sasl_password_env: expected the name of an environment variable"),
        ("[correlation]\nrules_file = 'rules.toml'\n", "config: correlation.rules_file: moved to [normalize] rules_file"),
        ("[[routes]]\nname = 'a'\ncontinue = 'yes'\n", "config: routes[0].continue: expected true or false"),
        ("[kafka\n", "not valid TOML"),
    ],
)
def test_bad_files_are_rejected_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "vigie.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.toml")


def test_full_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "vigie.toml"
    path.write_text(
        """
state_dir = "/var/lib/vigie"
[kafka]
bootstrap_servers = "kafka1:9092,kafka2:9092"
sasl_mechanism = "SCRAM-SHA-512"
security_protocol = "SASL_SSL"
sasl_password_env = "VIGIE_KAFKA_PASSWORD"
[[syslog.listeners]]
transport = "udp"
listen = "0.0.0.0:514"
[[syslog.listeners]]
name = "tls"
transport = "tls"
listen = "[::]:6514"
certfile = "/etc/vigie/cert.pem"
keyfile = "/etc/vigie/key.pem"
[[snmp.users]]
name = "ops"
auth_protocol = "SHA-256"
auth_key_env = "SNMP_AUTH"
priv_key_env = "SNMP_PRIV"
[inventory.hosts.core1]
site = "dc"
[inventory.hosts.rtr-mairie]
site = "mairie"
address = "10.1.0.1"
parents = ["core1"]
[[inventory.services]]
host = "rtr-mairie"
name = "ping"
command = ["check_ping", "-H", "$HOSTADDRESS$", "-w", "100,20%", "-c", "500,60%"]
check_interval = "1m"
[timeperiods.workhours]
timezone = "Europe/Paris"
monday = "06:00-22:00"
saturday = "06:00-22:00"
[[routes]]
name = "staff"
timeperiod = "workhours"
webhook = "http://127.0.0.1:9000/hook"
escalate_after = "30m"
escalate_to = "oncall"
[[routes]]
name = "oncall"
"""
    )
    cfg = load(path)
    assert cfg.syslog.listeners[0].listen == ("0.0.0.0", 514)
    assert cfg.syslog.listeners[0].name == "udp-514"
    assert cfg.syslog.listeners[1].listen == ("::", 6514)
    assert cfg.inventory.services[0].check_interval == 60.0
    assert cfg.routes[0].escalate_after == 1800.0
    assert cfg.routes[1].repeat_interval == 4 * 3600.0


def test_normalize_rules_file_and_typed_sections() -> None:
    cfg = validate({"normalize": {"rules_file": "/etc/vigie/rules.toml"}, "routes": [{"name": "a", "continue": True}]})
    assert cfg.normalize.rules_file == "/etc/vigie/rules.toml"
    assert cfg.routes[0].continue_matching is True
    assert cfg.routes[0].webhook is None
    assert validate({}).normalize.rules_file is None


def test_durations() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("1h 30m") == parse_duration(" 5 m ") + 5100, "spaces between parts, as the correlation settings took"
    for bad in ("", "5", "m5", "-1s", "1h30", "h", "1.5.2s"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_T_SECRET", "s3cret")
    assert secret("VIGIE_T_SECRET", "kafka.sasl_password_env") == "s3cret"
    monkeypatch.delenv("VIGIE_T_SECRET")
    with pytest.raises(ConfigError, match="kafka.sasl_password_env: expected environment variable VIGIE_T_SECRET"):
        secret("VIGIE_T_SECRET", "kafka.sasl_password_env")


def test_archive_processes_make_one_sink_service_each(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    from prometheus_client import CollectorRegistry

    from vigie.app.runtime import Runtime
    from vigie.app.services import archive_services
    from vigie.kafka_client import KafkaSettings

    path = tmp_path / "vigie.toml"
    path.write_text("[archive]\nprocesses = 3\n")
    rt = Runtime(load(path), KafkaSettings(), CollectorRegistry())
    assert [name for name, _ in archive_services(rt)] == ["archive-0", "archive-1", "archive-2"]
    assert [name for name, _ in archive_services(Runtime(load(None), KafkaSettings(), CollectorRegistry()))] == [
        "archive"
    ]
    path.write_text("[archive]\nprocesses = 0\n")
    with pytest.raises(ConfigError, match="archive.processes"):
        load(path)


@pytest.mark.parametrize("verb", [["service", "pipelines"], ["service", "archive"], ["up"], ["archive", "verify"]])
def test_a_bad_file_ends_any_command_with_one_line_and_exit_2(tmp_path: Path, verb: list[str]) -> None:
    import subprocess
    import sys

    path = tmp_path / "vigie.toml"
    path.write_text("[correlation]\nrules_file = 'rules.toml'\n")
    proc = subprocess.run([sys.executable, "-m", "vigie.app.cli", *verb, "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == "vigie: config: correlation.rules_file: moved to [normalize] rules_file\n"


def test_timeperiods_take_the_nagios_syntax_and_are_parsed_once() -> None:
    cfg = validate({"timeperiods": {
        "holidays": {"july 14": "00:00-24:00"},
        "workhours": {"monday": "06:00-22:00"},  # only monday: every other day is outside
        "office": {"monday..friday": "08:00-18:00", "monday 3 january": "", "exclude": ["holidays"]},
    }, "routes": [{"name": "staff", "timeperiod": "office"}]})
    office = cfg.timeperiods["office"]
    assert office.timezone == "Europe/Paris" and office.exclude == (cfg.timeperiods["holidays"],)
    assert set(cfg.timeperiods) == {"holidays", "workhours", "office"}
    with pytest.raises(ConfigError, match=r'^config: timeperiods.w."february 30"'):
        validate({"timeperiods": {"w": {"february 30": "08:00-09:00"}}})
    with pytest.raises(ConfigError, match="exclusions form a cycle"):
        validate({"timeperiods": {"a": {"exclude": ["b"]}, "b": {"exclude": ["a"]}}})
    assert validate({"routes": [{"name": "mute", "timeperiod": "never"}]}).routes[0].timeperiod == "never"
