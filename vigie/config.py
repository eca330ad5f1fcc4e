"""Vigie's one TOML configuration file: every key optional, validated at start-up, one-line errors.

The schema below is the single source of truth for keys, types and defaults. A wrong key,
type or value raises ConfigError whose message names the key and what is expected, e.g.
`config: syslog.listeners[1].port: expected an integer from 1 to 65535, got "abc"`.
Secrets never sit in the file: keys ending in `_env` name the environment variable that holds them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the Kafka client (confluent_kafka) loads only for commands that talk to Kafka
    from vigie.kafka_client import KafkaSettings


class ConfigError(ValueError):
    """A configuration problem, stated in one line that names the key."""


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


# ---- value checkers: each returns the normalised value or raises ConfigError(expected) -------------------

Checker = Callable[[Any, str], Any]


def _fail(key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"config: {key}: expected {expected}, got {_show(value)}")


def string(choices: tuple[str, ...] | None = None, pattern: str | None = None) -> Checker:
    def check(v: Any, key: str) -> str:
        if not isinstance(v, str):
            raise _fail(key, "a string", v)
        if choices and v not in choices:
            raise _fail(key, "one of " + ", ".join(choices), v)
        if pattern and not re.fullmatch(pattern, v):
            raise _fail(key, f"a string matching {pattern}", v)
        return v

    return check


def integer(lo: int | None = None, hi: int | None = None) -> Checker:
    def check(v: Any, key: str) -> int:
        ok = isinstance(v, int) and not isinstance(v, bool)
        if not ok or (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f" from {lo} to {hi}" if lo is not None and hi is not None else (f" >= {lo}" if lo is not None else "")
            raise _fail(key, f"an integer{rng}", v)
        return v

    return check


def number(lo: float | None = None, hi: float | None = None) -> Checker:
    def check(v: Any, key: str) -> float:
        ok = isinstance(v, int | float) and not isinstance(v, bool)
        if not ok or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _fail(key, f"a number from {lo} to {hi}", v)
        return float(v)

    return check


def boolean() -> Checker:
    def check(v: Any, key: str) -> bool:
        if not isinstance(v, bool):
            raise _fail(key, "true or false", v)
        return v

    return check


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'90s', '5m', '1h30m' (or '1h 30m'), '250ms', '7d' -> seconds; raises ValueError otherwise.

    The one parser of durations: the correlation settings (timeperiods.parse_duration) use it too.
    """
    text = text.strip().replace(" ", "")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            raise ValueError(text)
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(text)
    return total


def duration() -> Checker:
    def check(v: Any, key: str) -> float:
        if isinstance(v, str):
            try:
                return parse_duration(v)
            except ValueError:
                pass
        raise _fail(key, 'a duration such as "30s", "5m", "2h" or "7d"', v)

    return check


def address(default_port: int | None = None) -> Checker:
    """host:port with an IP literal or a host name; [v6]:port for IPv6."""

    def check(v: Any, key: str) -> tuple[str, int]:
        if isinstance(v, str):
            m = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", v)
            if m:
                host = m.group(1) or m.group(3)
                port = int(m.group(2) or m.group(4))
                if 0 < port < 65536 and _valid_host(host):
                    return host, port
        raise _fail(key, 'an address "host:port" (port 1-65535)', v)

    return check


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if re.fullmatch(r"\d+(\.\d+){3}", host):
        return False  # looks like an IPv4 literal but is not one (e.g. 300.1.1.1)
    return bool(re.fullmatch(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*", host))


def host_name() -> Checker:
    def check(v: Any, key: str) -> str:
        if isinstance(v, str) and _valid_host(v):
            return v
        raise _fail(key, "an IP address or host name", v)

    return check


def env_name() -> Checker:
    def check(v: Any, key: str) -> str:
        if isinstance(v, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            return v
        raise _fail(key, "the name of an environment variable", v)

    return check


def list_of(item: Checker) -> Checker:
    def check(v: Any, key: str) -> list[Any]:
        if not isinstance(v, list):
            raise _fail(key, "a list", v)
        return [item(x, f"{key}[{i}]") for i, x in enumerate(v)]

    return check


def any_value() -> Checker:
    return lambda v, key: v


class Table:
    """A TOML table with known keys; unknown keys are errors (typos must not pass silently)."""

    def __init__(self, fields: dict[str, tuple[Checker, Any]], *, open_values: Checker | None = None) -> None:
        self.fields = fields
        self.open_values = open_values  # when set: free keys, each value checked by it (e.g. hosts by name)

    def __call__(self, v: Any, key: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise _fail(key or "(top level)", "a table", v)
        out: dict[str, Any] = {}
        if self.open_values is not None:
            for k, val in v.items():
                out[k] = self.open_values(val, f"{key}.{k}" if key else k)
            return out
        for k in v:
            if k not in self.fields:
                known = ", ".join(self.fields)
                raise ConfigError(f"config: {key + '.' if key else ''}{k}: unknown key (known here: {known})")
        for k, (check, default) in self.fields.items():
            sub = f"{key}.{k}" if key else k
            if k in v:
                out[k] = check(v[k], sub)
            elif isinstance(check, Table):
                out[k] = check({}, sub) if default is None else default
            else:
                out[k] = default() if callable(default) else default
        return out


def table_list(item: Table) -> Checker:
    return list_of(item)


# ---- the schema --------------------------------------------------------------------------------------------

_LOOPBACK = "127.0.0.1"

SYSLOG_LISTENER = Table({
    "name": (string(pattern=r"[A-Za-z0-9_.-]+"), None),
    "transport": (string(("udp", "tcp", "tls")), "udp"),
    "listen": (address(), None),
    "max_message_size": (integer(480, 16 * 1024 * 1024), 65536),
    "max_connections": (integer(1, 100000), 1000),
    "idle_timeout": (duration(), 300.0),
    "certfile": (string(), None),
    "keyfile": (string(), None),
    "cafile": (string(), None),
})

SNMP_USER = Table({
    "name": (string(), None),
    "auth_protocol": (string(("none", "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")), "SHA"),
    "auth_key_env": (env_name(), None),
    "priv_protocol": (string(("none", "DES", "3DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C")), "AES"),
    "priv_key_env": (env_name(), None),
    "engine_id": (string(pattern=r"(0x)?[0-9A-Fa-f]{10,64}"), None),
})

HOST = Table({
    "site": (string(), None),
    "address": (host_name(), None),
    "parents": (list_of(string()), list),
    "max_check_attempts": (integer(1, 100), None),
    "description": (string(), ""),
})

SERVICE = Table({
    "host": (string(), None),
    "name": (string(), None),
    "command": (any_value(), None),
    "check_interval": (duration(), 300.0),
    "retry_interval": (duration(), 60.0),
    "max_check_attempts": (integer(1, 100), 3),
    "timeout": (duration(), 60.0),
})

_RANGE = r"(\d\d:\d\d-\d\d:\d\d)(,\d\d:\d\d-\d\d:\d\d)*"
TIMEPERIOD = Table({
    "timezone": (string(), "Europe/Paris"),
    **{day: (string(pattern=_RANGE), None) for day in
       ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
    "exclude": (list_of(string()), list),
})

ROUTE = Table({
    "name": (string(pattern=r"[A-Za-z0-9_.-]+"), None),
    "match": (Table({}, open_values=string()), None),
    "match_re": (Table({}, open_values=string()), None),
    "timeperiod": (string(), "24x7"),
    "webhook": (string(pattern=r"https?://\S+"), None),
    "repeat_interval": (duration(), 4 * 3600.0),
    "escalate_after": (duration(), None),
    "escalate_to": (string(), None),
    "continue": (boolean(), False),
})

SCHEMA = Table({
    "state_dir": (string(), None),
    "kafka": (Table({
        "bootstrap_servers": (string(), ""),
        "topic_prefix": (string(pattern=r"[A-Za-z0-9._-]*"), "vigie."),
        "partitions": (integer(1, 1000), 3),
        "replication_factor": (integer(1, 10), 1),
        "raw_retention": (duration(), 7 * 86400.0),
        "local_listen": (address(), (_LOOPBACK, 9092)),
        "local_heap": (string(pattern=r"\d+[mMgG]"), "512m"),
        "security_protocol": (string(("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")), "PLAINTEXT"),
        "sasl_mechanism": (string(("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")), None),
        "sasl_username_env": (env_name(), None),
        "sasl_password_env": (env_name(), None),
        "ssl_cafile": (string(), None),
        "producer_buffer_mb": (integer(16, 65536), 256),
    }), None),
    "syslog": (Table({
        "enabled": (boolean(), True),
        "listeners": (table_list(SYSLOG_LISTENER), lambda: [
            {"name": "udp", "transport": "udp", "listen": (_LOOPBACK, 5514), "max_message_size": 65536,
             "max_connections": 1000, "idle_timeout": 300.0, "certfile": None, "keyfile": None, "cafile": None},
            {"name": "tcp", "transport": "tcp", "listen": (_LOOPBACK, 5514), "max_message_size": 65536,
             "max_connections": 1000, "idle_timeout": 300.0, "certfile": None, "keyfile": None, "cafile": None},
        ]),
    }), None),
    "snmp": (Table({
        "enabled": (boolean(), True),
        "listen": (address(), (_LOOPBACK, 1162)),
        "communities": (list_of(string()), lambda: ["public"]),
        "users": (table_list(SNMP_USER), list),
        "mib_dirs": (list_of(string()), list),
    }), None),
    "checks": (Table({
        "http_enabled": (boolean(), False),
        "http_listen": (address(), (_LOOPBACK, 5668)),
        "token_env": (env_name(), "VIGIE_CHECKS_TOKEN"),
        "max_body_bytes": (integer(1024, 64 * 1024 * 1024), 1024 * 1024),
        "active_enabled": (boolean(), True),
        "concurrency": (integer(1, 1000), 16),
        "plugin_dir": (string(), "/usr/lib/nagios/plugins"),
    }), None),
    "inventory": (Table({
        "sites": (Table({}, open_values=Table({"description": (string(), "")})), None),
        "hosts": (Table({}, open_values=HOST), None),
        "services": (table_list(SERVICE), list),
    }), None),
    "timeperiods": (Table({}, open_values=TIMEPERIOD), None),
    "routes": (table_list(ROUTE), list),
    "correlation": (Table({
        "incident_window": (duration(), 120.0),
        "hold_down": (duration(), 30.0),
        "update_interval": (duration(), 1.0),
        "max_check_attempts": (integer(1, 100), 3),
        "flap_high_threshold": (number(0, 100), 20.0),
        "flap_low_threshold": (number(0, 100), 5.0),
        "rules_file": (string(), None),
    }), None),
    "pipelines": (Table({
        "enabled": (boolean(), True),
        "workers": (integer(1, 64), 1),
    }), None),
    "archive": (Table({
        "enabled": (boolean(), True),
        "root": (string(), None),
        "retention_days": (integer(1, 36500), 365),
        "idle_flush": (duration(), 60.0),
        "topics": (list_of(string()), lambda: ["raw.syslog"]),
        "max_rows_per_file": (integer(1, 100_000_000), 1_000_000),
        "processes": (integer(1, 64), 1),
    }), None),
    "metrics": (Table({
        "enabled": (boolean(), True),
        "listen": (address(), (_LOOPBACK, 9108)),
    }), None),
})


def _cross_checks(cfg: dict[str, Any]) -> None:
    """Rules that span keys: names unique, TLS needs a certificate, references exist, thresholds ordered."""
    names: set[str] = set()
    for i, lst in enumerate(cfg["syslog"]["listeners"]):
        key = f"syslog.listeners[{i}]"
        if lst["listen"] is None:
            port = 6514 if lst["transport"] == "tls" else 5514
            lst["listen"] = (_LOOPBACK, port)
        if lst["name"] is None:
            lst["name"] = f"{lst['transport']}-{lst['listen'][1]}"
        if lst["name"] in names:
            raise ConfigError(f"config: {key}.name: expected a unique listener name, got {_show(lst['name'])} twice")
        names.add(lst["name"])
        if lst["transport"] == "tls" and not (lst["certfile"] and lst["keyfile"]):
            raise ConfigError(f"config: {key}.certfile: expected certfile and keyfile for a tls listener")
    for i, user in enumerate(cfg["snmp"]["users"]):
        if not user["name"]:
            raise ConfigError(f"config: snmp.users[{i}].name: expected a user name")
        if user["auth_protocol"] != "none" and not user["auth_key_env"]:
            raise ConfigError(f"config: snmp.users[{i}].auth_key_env: expected the environment variable holding the auth key")
        if user["priv_protocol"] != "none" and not user["priv_key_env"]:
            raise ConfigError(f"config: snmp.users[{i}].priv_key_env: expected the environment variable holding the privacy key")
    hosts = cfg["inventory"]["hosts"]
    for name, host in hosts.items():
        for parent in host["parents"]:
            if parent not in hosts:
                raise ConfigError(f"config: inventory.hosts.{name}.parents: expected known host names, got {_show(parent)}")
    for i, svc in enumerate(cfg["inventory"]["services"]):
        if svc["host"] not in hosts:
            raise ConfigError(f"config: inventory.services[{i}].host: expected a host of inventory.hosts, got {_show(svc['host'])}")
        if not svc["name"] or svc["command"] is None:
            raise ConfigError(f"config: inventory.services[{i}]: expected name and command")
    periods = set(cfg["timeperiods"]) | {"24x7"}
    route_names = {r["name"] for r in cfg["routes"]}
    for i, route in enumerate(cfg["routes"]):
        if route["timeperiod"] not in periods:
            raise ConfigError(f"config: routes[{i}].timeperiod: expected one of {', '.join(sorted(periods))}, got {_show(route['timeperiod'])}")
        if route["escalate_to"] and route["escalate_to"] not in route_names:
            raise ConfigError(f"config: routes[{i}].escalate_to: expected a route name, got {_show(route['escalate_to'])}")
    corr = cfg["correlation"]
    if corr["flap_low_threshold"] > corr["flap_high_threshold"]:
        raise ConfigError("config: correlation.flap_low_threshold: expected a value <= flap_high_threshold")


def default_state_dir() -> str:
    """$VIGIE_STATE_DIR, else ~/.local/state/vigie."""
    return os.environ.get("VIGIE_STATE_DIR") or str(Path.home() / ".local" / "state" / "vigie")


def validate(raw: dict[str, Any]) -> dict[str, Any]:
    """Check a parsed TOML document against the schema; returns it with defaults filled in."""
    cfg = SCHEMA(raw, "")
    _cross_checks(cfg)
    cfg["state_dir"] = cfg["state_dir"] or default_state_dir()
    if cfg["archive"]["root"] is None:
        cfg["archive"]["root"] = str(Path(cfg["state_dir"]) / "archive")
    return cfg


def load(path: str | Path | None) -> dict[str, Any]:
    """Read and validate a configuration file (None: all defaults)."""
    if path is None:
        return validate({})
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config: {path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config: {path}: not valid TOML ({exc})") from None
    return validate(raw)


def secret(env: str | None, key: str, required: bool = True) -> str | None:
    """The value of the environment variable a `*_env` key names; never logged."""
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None and required:
        raise ConfigError(f"config: {key}: expected environment variable {env} to be set")
    return value


def kafka_settings(cfg: dict[str, Any], bootstrap: str | None = None) -> KafkaSettings:
    """KafkaSettings from the [kafka] section; bootstrap overrides it (the local broker's address)."""
    from vigie.kafka_client import KafkaSettings

    k = cfg["kafka"]
    return KafkaSettings(
        bootstrap_servers=bootstrap or k["bootstrap_servers"],
        topic_prefix=k["topic_prefix"],
        security_protocol=k["security_protocol"],
        sasl_mechanism=k["sasl_mechanism"],
        sasl_username=secret(k["sasl_username_env"], "kafka.sasl_username_env"),
        sasl_password=secret(k["sasl_password_env"], "kafka.sasl_password_env"),
        ssl_cafile=k["ssl_cafile"],
        replication_factor=k["replication_factor"],
    )
