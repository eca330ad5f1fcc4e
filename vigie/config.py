"""Vigie's one TOML configuration file: every key optional, checked once at start-up, one-line errors.

The dataclasses below are the single source of truth for keys, types, defaults and their docs:
each field carries its checker, its default and a one-line doc (`setting`), the checker of each
table is derived from its dataclass (`Section`), and docs/configuration.md's reference tables are
generated from them (vigie/config_doc.py). load() and validate() return a `Config`, whose parts
are handed to the services as they are. A wrong key, type or value raises ConfigError whose
message names the key and what is expected, e.g.
`config: syslog.listeners[1].port: expected an integer from 1 to 65535, got "abc"`.
Secrets never sit in the file: keys ending in `_env` name the environment variable that holds them.
(Over 600 lines because it is the whole schema: every key of the file, its check and its doc in one place.)
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vigie.errors import ConfigError  # noqa: F401 - re-exported: every part raises and catches it as vigie.config's
from vigie.timeperiods import TimePeriod, TimePeriodError, check_timeperiods

if TYPE_CHECKING:  # the Kafka client (confluent_kafka) loads only for commands that talk to Kafka
    from vigie.kafka_client import KafkaSettings


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


# ---- value checkers: each returns the normalised value or raises ConfigError(expected) -------------------

Checker = Callable[[Any, str], Any]
T = TypeVar("T")


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

    The one parser of durations: every duration of the file and of control commands goes through it.
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


def zone_name() -> Checker:
    """An IANA time zone name ("Europe/Paris", "UTC"), checked against the system's zone database."""

    def check(v: Any, key: str) -> str:
        if isinstance(v, str) and v:
            try:
                ZoneInfo(v)
                return v
            except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, a folder ("Europe")
                pass
        raise _fail(key, 'an IANA time zone name such as "Europe/Paris" or "UTC"', v)

    return check


def list_of(item: Checker) -> Checker:
    def check(v: Any, key: str) -> list[Any]:
        if not isinstance(v, list):
            raise _fail(key, "a list", v)
        return [item(x, f"{key}[{i}]") for i, x in enumerate(v)]

    check.item = item  # type: ignore[attr-defined]  # what each element is (the doc generator reads it)
    return check


def regex() -> Checker:
    def check(v: Any, key: str) -> str:
        if isinstance(v, str):
            try:
                re.compile(v)
                return v
            except re.error:
                pass
        raise _fail(key, "a regular expression", v)

    return check


def any_value() -> Checker:
    return lambda v, key: v


# ---- typed sections: each dataclass field carries its checker, its default (as written in TOML) and a doc ----


def setting(check: Checker, default: Any = None, doc: str = "", *, key: str | None = None,
            shown: str | None = None) -> Any:
    """One key of a section. `default` is written as in the file ("5m", "127.0.0.1:9092") and checked here,
    once, so the doc shows it as people write it; `key` is the TOML name when it is not a Python name."""
    value = None if default is None else check(default, "(default)")
    meta = {"check": check, "doc": doc, "key": key, "default": default, "shown": shown}
    if isinstance(value, list | dict):
        return field(default_factory=lambda: _copy(value), metadata=meta)
    return field(default=value, metadata=meta)


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def section(cls: type, doc: str = "") -> Any:
    """A nested [table] whose keys are cls's settings; absent, it holds the defaults."""
    return field(default_factory=cls, metadata={"check": Section(cls), "doc": doc, "key": None, "section": cls})


def mapping_of(item: Checker) -> Checker:
    """A table of free keys (host names, period names, labels), each value checked by item."""

    def check(v: Any, key: str) -> dict[str, Any]:
        if not isinstance(v, dict):
            raise _fail(key or "(top level)", "a table", v)
        return {k: item(val, f"{key}.{k}" if key else k) for k, val in v.items()}

    check.item = item  # type: ignore[attr-defined]
    return check


def toml_key(f: Field[Any]) -> str:
    """The name a field has in the file."""
    return f.metadata.get("key") or f.name


class Section:
    """The checker of one TOML table, derived from a config dataclass: unknown keys are errors (typos must
    not pass silently), each present key goes through its field's checker, absent keys keep their defaults."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.fields = {toml_key(f): f for f in fields(cls)}
        self.moved: dict[str, str] = getattr(cls, "MOVED", {})

    def __call__(self, v: Any, key: str) -> Any:
        if not isinstance(v, dict):
            raise _fail(key or "(top level)", "a table", v)
        prefix = key + "." if key else ""
        for k in v:
            if k in self.moved:
                raise ConfigError(f"config: {prefix}{k}: moved to {self.moved[k]}")
            if k not in self.fields:
                raise ConfigError(f"config: {prefix}{k}: unknown key (known here: {', '.join(self.fields)})")
        return self.cls(**{f.name: f.metadata["check"](v[k], prefix + k) for k, f in self.fields.items() if k in v})


def build(cls: type[T], section: Any, **extra: Any) -> T:
    """cls (a service's own settings dataclass) from the fields of a checked section that it shares by
    name, plus extra; no value is checked again."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    common = {f.name: getattr(section, f.name) for f in fields(section) if f.name in names}
    return cls(**{**common, **extra})


# ---- the schema: one dataclass per table ---------------------------------------------------------------------

_LOOPBACK = "127.0.0.1"
_NAME = r"[A-Za-z0-9_.-]+"
DEFAULT_TIMEZONE = "Europe/Paris"  # of a time period that names none


@dataclass(frozen=True)
class KafkaConfig:
    """[kafka]: where the brokers are, how topics are named and made, how Vigie authenticates."""

    bootstrap_servers: str = setting(string(), "", "empty: `vigie up` starts a local single-node broker (KRaft) under `state_dir/kafka`")
    topic_prefix: str = setting(string(pattern=r"[A-Za-z0-9._-]*"), "vigie.", "prefix of every topic name")
    partitions: int = setting(integer(1, 1000), 3, "partitions of each topic (control: 1) — the unit of parallelism of workers and sinks")
    replication_factor: int = setting(integer(1, 10), 1, "raise to 3 on a real cluster")
    raw_retention: float = setting(duration(), "7d", "retention of the raw topics (the archive keeps connection logs for the legal period)")
    local_listen: tuple[str, int] = setting(address(), "127.0.0.1:9092", "address of the local broker (its controller uses port + 1)")
    local_heap: str = setting(string(pattern=r"\d+[mMgG]"), "512m", "Java heap of the local broker")
    security_protocol: str = setting(string(("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")), "PLAINTEXT", "`SSL`, `SASL_PLAINTEXT`, `SASL_SSL`")
    sasl_mechanism: str | None = setting(string(("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")), None, "`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`")
    sasl_username_env: str | None = setting(env_name(), None, "environment variable holding the user name")
    sasl_password_env: str | None = setting(env_name(), None, "environment variable holding the password")
    ssl_cafile: str | None = setting(string(), None, "CA bundle for TLS to the brokers")
    producer_buffer_mb: int = setting(integer(16, 65536), 256, "memory for records not yet acknowledged; when spent, TCP and HTTP intake push back and UDP counts drops")
    local_sasl: bool = setting(boolean(), True, "the local broker authenticates every client (SCRAM-SHA-512) and authorises it (ACLs: only the intake writes the raw topics), each service with its own credentials under `state_dir/kafka/credentials`; false: an open PLAINTEXT broker. A configured `bootstrap_servers` uses the security settings above instead")
    sasl_service_users: bool = setting(boolean(), False, "with `bootstrap_servers`: each service authenticates as its own user, as on the local broker (`intake`, `pipelines`, `archive`, `notify`, `reader`, `operator`, and `admin`, who creates the topics and the ACLs), over `security_protocol` and `sasl_mechanism` above, each password in the environment variable `VIGIE_KAFKA_<USER>_PASSWORD` (see docs/deploying.md)")


@dataclass(frozen=True)
class SyslogListenerConfig:
    """[[syslog.listeners]]: one listening socket."""

    name: str = setting(string(pattern=_NAME), None, "label in metrics and the `listener` header", shown="`<transport>-<port>`")
    transport: str = setting(string(("udp", "tcp", "tls")), "udp", "`udp`, `tcp` (RFC 6587 octet counting and LF/NUL framing on one port), `tls` (RFC 5425)")
    listen: tuple[str, int] = setting(address(), None, "use `0.0.0.0:514` to receive from the network (needs CAP_NET_BIND_SERVICE)", shown="`127.0.0.1:5514` (`6514` for tls)")
    max_message_size: int = setting(integer(480, 16 * 1024 * 1024), 65536, "longer messages are cut (header `truncated: 1`) and sent whole to the dead-letter topic")
    max_connections: int = setting(integer(1, 100000), 1000, "TCP/TLS connections at once")
    idle_timeout: float = setting(duration(), "5m", "idle TCP/TLS connections are closed")
    certfile: str | None = setting(string(), None, "required for tls: the server certificate chain (PEM)")
    keyfile: str | None = setting(string(), None, "required for tls: its private key (PEM)")
    cafile: str | None = setting(string(), None, "tls: require client certificates signed by this CA")
    handshake_timeout: float = setting(duration(), "10s", "tls: time from TCP accept to a finished handshake; slower clients are dropped")
    deadletter_max_raw: int = setting(integer(1, 64 * 1024 * 1024), 512 * 1024, "bytes of an over-long message the dead letter keeps; beyond, its first bytes with its length and SHA-256", shown="512 KiB")
    udp_receive_buffer: int = setting(integer(4096, 1 << 30), 16 * 1024 * 1024, "udp: SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max; drops are counted)", shown="16 MiB")


@dataclass(frozen=True)
class SyslogConfig:
    """[syslog]: the syslog intake."""

    enabled: bool = setting(boolean(), True, "run the syslog listeners under `vigie up`")
    listeners: list[SyslogListenerConfig] = setting(
        list_of(Section(SyslogListenerConfig)),
        [{"name": "udp", "transport": "udp", "listen": "127.0.0.1:5514"},
         {"name": "tcp", "transport": "tcp", "listen": "127.0.0.1:5514"}],
        "the `[[syslog.listeners]]` below", shown="UDP and TCP on `127.0.0.1:5514`")
    default_timezone: str = setting(zone_name(), "UTC", "IANA zone in which timestamps that carry no zone (BSD `Mmm dd hh:mm:ss`, Cisco clocks, ISO without offset) are read, for devices whose host and site name none (see Time zones, under `[inventory]`)")


@dataclass(frozen=True)
class SnmpUserConfig:
    """[[snmp.users]]: one SNMPv3 USM user; the keys are read from the environment variables it names."""

    name: str = setting(string(), None, "the USM user name (required)")
    auth_protocol: str = setting(string(("none", "MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")), "SHA", "none, MD5, SHA, SHA-224…SHA-512")
    auth_key_env: str | None = setting(env_name(), None, "environment variable holding the auth key (8 characters or more)")
    priv_protocol: str = setting(string(("none", "DES", "3DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C")), "AES", "none, DES, 3DES, AES, AES-192, AES-256, AES-192-C, AES-256-C")
    priv_key_env: str | None = setting(env_name(), None, "environment variable holding the privacy key (8 characters or more)")
    engine_id: str | None = setting(string(pattern=r"(0x)?([0-9A-Fa-f]{2}){5,32}"), None, "the sender's authoritative engine ID, hex (`snmptrap -e`); INFORMs need none")


@dataclass(frozen=True)
class SnmpConfig:
    """[snmp]: the SNMP trap and INFORM receiver."""

    enabled: bool = setting(boolean(), True, "run the trap receiver under `vigie up`")
    listen: tuple[str, int] = setting(address(), "127.0.0.1:1162", "use `0.0.0.0:162` in production")
    communities: list[str] = setting(list_of(string()), ["public"], "v1/v2c community allow-list; others are counted and dead-lettered")
    users: list[SnmpUserConfig] = setting(list_of(Section(SnmpUserConfig)), [], "the `[[snmp.users]]` below", shown="none")
    mib_dirs: list[str] = setting(list_of(string()), [], "folders of extra compiled MIB name tables")


@dataclass(frozen=True)
class ChecksConfig:
    """[checks]: passive results over HTTP and active Nagios plugins."""

    http_enabled: bool = setting(boolean(), False, "the passive intake: NRDP at `/nrdp/`, JSON at `/api/v1/checks`, Nagios external commands at `/api/v1/commands`")
    http_listen: tuple[str, int] = setting(address(), "127.0.0.1:5668", "where the passive intake listens")
    token_env: str = setting(env_name(), "VIGIE_CHECKS_TOKEN", "the environment variable holding the token senders must present; the intake refuses to start without it")
    max_body_bytes: int = setting(integer(1024, 64 * 1024 * 1024), 1024 * 1024, "larger requests are refused (413)", shown="1 MiB")
    active_enabled: bool = setting(boolean(), True, "run the plugins of `[[inventory.services]]`")
    concurrency: int = setting(integer(1, 1000), 16, "plugins running at once")
    plugin_dir: str = setting(string(), "/usr/lib/nagios/plugins", "where relative plugin names are looked up")
    auth_max_failures: int = setting(integer(0, 1_000_000), 10, "failed token attempts from one address within `auth_window` before it is answered 429 for `auth_window`; 0: off (behind a proxy)")
    auth_window: float = setting(duration(), "60s", "the window of `auth_max_failures`, and how long an address is then refused")
    auth_max_addresses: int = setting(integer(1, 10_000_000), 10000, "addresses whose failures are remembered at once (memory bound)")


@dataclass(frozen=True)
class NscaConfig:
    """[nsca]: passive results from Nagios' `send_nsca` (NSCA 2.9/2.10 packets), for estates moving from Nagios."""

    enabled: bool = setting(boolean(), False, "listen for `send_nsca` under `vigie up`")
    listen: tuple[str, int] = setting(address(), "127.0.0.1:5667", "where it listens (NSCA's port is 5667)")
    password_env: str = setting(env_name(), "VIGIE_NSCA_PASSWORD", "the environment variable holding send_nsca.cfg's `password`; the listener refuses to start without it")
    encryption: str = setting(string(("none", "xor", "des", "3des", "cast-128", "blowfish", "rijndael-128")), "xor", "send_nsca.cfg's `encryption_method`: none (0), xor (1), des (2), 3des (3), cast-128 (4), blowfish (8), rijndael-128 (14)")
    max_packet_age: float = setting(duration(), "30s", "packets whose timestamp is further from now are refused (nsca's max_packet_age)")
    idle_timeout: float = setting(duration(), "10s", "a connection sending nothing for this long is closed")
    max_connections: int = setting(integer(1, 100000), 256, "connections at once")


@dataclass(frozen=True)
class SiteConfig:
    """[inventory.sites.NAME]: one site."""

    description: str = setting(string(), "", "shown to people")
    timezone: str | None = setting(zone_name(), None, "IANA zone of its devices' clocks, for timestamps without a zone", shown="`[syslog] default_timezone`")


@dataclass(frozen=True)
class HostConfig:
    """[inventory.hosts.NAME]: one host, its site and the hosts it sits behind."""

    site: str | None = setting(string(), None, "the site it belongs to")
    address: str | None = setting(host_name(), None, "IP address or name (`$HOSTADDRESS$` of its checks)", shown="the host name")
    parents: list[str] = setting(list_of(string()), [], "hosts it sits behind (they may sit at another site): unreachable, not down, when they fail")
    max_check_attempts: int | None = setting(integer(1, 100), None, "soft → hard after this many non-OK results", shown="`[correlation]`'s")
    description: str = setting(string(), "", "shown to people")
    timezone: str | None = setting(zone_name(), None, "IANA zone of its clock, for timestamps without a zone; overrides its site's", shown="its site's")
    use: str | None = setting(string(), None, "a `[inventory.host_templates]` name: keys not set here are taken from it")
    groups: list[str] = setting(list_of(string()), [], "host groups it belongs to (beside `[inventory.hostgroups]` members)")
    check_interval: float | None = setting(duration(), None, "between host checks (shown by `vigie inventory show`)")
    retry_interval: float | None = setting(duration(), None, "between host checks while not OK")
    check_period: str | None = setting(string(), None, "when it is checked (a time period name)", shown="always")
    notification_period: str | None = setting(string(), None, "when its problems notify (a time period name); its services' default", shown="always")
    vars: dict[str, str] = setting(mapping_of(string()), {}, "custom variables: `vars.X` is `$_HOSTX$` in its checks' commands")
    command: str | list[str] | None = setting(any_value(), None, "its host check, a plugin and its arguments (a list or one string): OK or WARNING is UP, CRITICAL or UNKNOWN is DOWN, and DOWN with every parent down is UNREACHABLE; run every `check_interval` (5m), `retry_interval` (1m) while soft", shown="none: no host check")
    check_command: str | None = setting(string(), None, "the Nagios form `name!arg1!arg2` its host check was imported from (shown by `vigie inventory show`)")


@dataclass(frozen=True)
class HostgroupConfig:
    """[inventory.hostgroups.NAME]: a group of hosts, to apply services to all of them."""

    members: list[str] = setting(list_of(string()), [], "host names (hosts may also list the group in `groups`)")
    description: str = setting(string(), "", "shown to people")


@dataclass(frozen=True)
class ServiceDependencyConfig:
    """One entry of a service's `depends_on`: the master service whose failure suppresses its notifications."""

    service: str = setting(string(), None, "the master service's name (required)")
    host: str | None = setting(string(), None, "the master service's host", shown="the dependent service's own host")
    states: list[str] = setting(list_of(string(("warning", "critical", "unknown"))), ["warning", "critical", "unknown"], "the master's hard states that suppress (Nagios' notification_failure_criteria w, c, u)")
    inherit: bool = setting(boolean(), False, "also suppress while the master is itself suppressed by its own dependencies (Nagios' inherits_parent)")


@dataclass(frozen=True)
class ServiceConfig:
    """[[inventory.services]]: one active check, a Nagios plugin run on a host."""

    host: str = setting(string(), None, "a host of `[inventory.hosts]` (required)")
    name: str = setting(string(), None, "the service name (required)")
    command: str | list[str] = setting(any_value(), None, "the plugin and its arguments, a list or one string (required)")
    check_interval: float = setting(duration(), "5m", "between checks while OK")
    retry_interval: float = setting(duration(), "1m", "between checks while not OK, until the state is hard")
    max_check_attempts: int = setting(integer(1, 100), 3, "soft → hard after this many non-OK results")
    timeout: float = setting(duration(), "60s", "then the plugin is killed and the result is UNKNOWN")
    hostgroup: str | None = setting(string(), None, "instead of `host`: the service runs on every host of this group (`*`: on every host)")
    check_command: str | None = setting(string(), None, "the Nagios form `name!arg1!arg2` it was imported from (shown by `vigie inventory show`)")
    check_period: str | None = setting(string(), None, "when it is checked (a time period name)", shown="always")
    notification_period: str | None = setting(string(), None, "when its problems notify (`\"\"`: always, not its host's)", shown="its host's")
    active: bool = setting(boolean(), True, "run its plugin; false: a passive service whose results come from senders (Nagios' `active_checks_enabled 0`)")
    depends_on: list[ServiceDependencyConfig] = setting(list_of(Section(ServiceDependencyConfig)), [], "master services (`{ service = \"NRPE\", host = \"h\", states = [\"critical\"] }`): while one fails, hard, in one of `states`, this service's alert is suppressed (`suppressed_by` kind `dependency`) and notifies nobody; masters and dependents must be at one site (the correlator sees one site at a time)", shown="none")
    servicegroups: list[str] = setting(list_of(string()), [], "service groups it belongs to (`[inventory.servicegroups]`): its alerts carry the label `servicegroups`, their names sorted and joined by commas, for routes and silences (`match_re = { servicegroups = \"(.*,)?databases(,.*)?\" }`)")


@dataclass(frozen=True)
class ServicegroupConfig:
    """[inventory.servicegroups.NAME]: a group of services (Nagios' servicegroup); its members name it in `servicegroups`."""

    description: str = setting(string(), "", "shown to people")


@dataclass(frozen=True)
class PollItemConfig:
    """One value an SNMP poller reads: an OID (numeric, or a string holding a number: UCD extend/pass
    outputs) or an ENTITY-SENSOR-MIB sensor by its entPhysicalIndex (value scaled by its scale and precision)."""

    label: str = setting(string(pattern=r"[A-Za-z0-9_.-]+"), None, "its name in the output and the performance data (required)")
    oid: str | None = setting(string(pattern=r"\.?[0-2](\.[0-9]+)+"), None, "numeric OID to GET, e.g. `1.3.6.1.4.1.8072.1.3.2.3.1.1.5.116.101.109.112.49` (nsExtendOutput1Line.\"temp1\")")
    entity_sensor: int | None = setting(integer(1, 2**31 - 1), None, "instead of oid: the entPhysicalIndex of an ENTITY-SENSOR-MIB sensor (RFC 3433)")
    multiplier: float = setting(number(-1e12, 1e12), 1.0, "the value read is multiplied by this (e.g. 0.1 for tenths of a degree)")
    uom: str = setting(string(pattern=r"[A-Za-z%]*"), "", "unit of the performance data (C, %, ...)")


@dataclass(frozen=True)
class PollerConfig:
    """[[inventory.pollers]]: values read over SNMP (v2c or v3) from hosts at an interval; each poll becomes a
    check result of service `name` with performance data, its state from the thresholds with hysteresis."""

    name: str = setting(string(), None, "the service name of its results (required)")
    hosts: list[str] = setting(list_of(string()), [], "hosts of `[inventory.hosts]` to poll (their `address`)")
    hostgroups: list[str] = setting(list_of(string()), [], "and every host of these host groups")
    port: int = setting(integer(1, 65535), 161, "the agents' SNMP port")
    version: str = setting(string(("2c", "3")), "2c", "SNMP version")
    community_env: str | None = setting(env_name(), None, "v2c: environment variable holding the community (required for v2c)")
    user: str | None = setting(string(), None, "v3: a `[[snmp.users]]` name (its protocols and keys, authPriv recommended)")
    interval: float = setting(duration(), "30s", "between polls of one host")
    timeout: float = setting(duration(), "2s", "per request; then retried")
    retries: int = setting(integer(0, 10), 1, "after which the result is UNKNOWN (no answer)")
    items: list[PollItemConfig] = setting(list_of(Section(PollItemConfig)), [], "`[[inventory.pollers.items]]`: the values to read (at least one)", shown="none")
    warning: float | None = setting(number(-1e12, 1e12), None, "WARNING when a value reaches this (above, or below with `direction = \"below\"`)")
    critical: float | None = setting(number(-1e12, 1e12), None, "CRITICAL when a value reaches this")
    direction: str = setting(string(("above", "below")), "above", "which side of the thresholds is bad")
    hysteresis: float = setting(number(0, 1e12), 0.0, "a state drops back only once the value is this far on the good side of its threshold (no flapping around it)")
    max_check_attempts: int = setting(integer(1, 100), 3, "soft -> hard after this many non-OK results, as for checks")


@dataclass(frozen=True)
class InventoryConfig:
    """[inventory]: sites, hosts and their active checks."""

    sites: dict[str, SiteConfig] = setting(mapping_of(Section(SiteConfig)), {}, "`[inventory.sites.NAME]` tables")
    hosts: dict[str, HostConfig] = setting(mapping_of(Section(HostConfig)), {}, "`[inventory.hosts.NAME]` tables")
    services: list[ServiceConfig] = setting(list_of(Section(ServiceConfig)), [], "`[[inventory.services]]` tables", shown="none")
    inventory_dir: str | None = setting(string(), None, "a folder of `*.toml` files, each holding `sites`, `hosts`, `hostgroups`, `host_templates` and `services` like this table; merged into it (relative to the config file)")
    hostgroups: dict[str, HostgroupConfig] = setting(mapping_of(Section(HostgroupConfig)), {}, "`[inventory.hostgroups.NAME]` tables")
    host_templates: dict[str, HostConfig] = setting(mapping_of(Section(HostConfig)), {}, "`[inventory.host_templates.NAME]`: host keys shared by the hosts that `use` it")
    servicegroups: dict[str, ServicegroupConfig] = setting(mapping_of(Section(ServicegroupConfig)), {}, "`[inventory.servicegroups.NAME]` tables: the groups services name in `servicegroups`")


    pollers: list[PollerConfig] = setting(list_of(Section(PollerConfig)), [], "`[[inventory.pollers]]`: SNMP polling (docs/actions.md)", shown="none")


def timeperiod_table() -> Checker:
    """The whole [timeperiods] table, checked by the one parser of Nagios Core 4 periods
    (vigie.timeperiods.check_timeperiods: day ranges, dates, "monday 3 january", exclusions...); the value
    kept is the parsed TimePeriod of each period named in the file (the built-in 24x7 and never are added
    by whoever evaluates them)."""

    def check(v: Any, key: str) -> dict[str, TimePeriod]:
        try:
            parsed = check_timeperiods(v, default_timezone=DEFAULT_TIMEZONE)
        except TimePeriodError as exc:
            raise ConfigError(str(exc)) from None
        return {name: parsed[name] for name in v}

    return check


@dataclass(frozen=True)
class RouteConfig:
    """[[routes]]: who is notified of what, when; the first matching route wins unless it says continue."""

    name: str = setting(string(pattern=_NAME), None, "the route's name (required): the `receiver` of its notifications")
    match: dict[str, str] = setting(mapping_of(string()), {}, "labels that must be equal", shown="everything")
    match_re: dict[str, str] = setting(mapping_of(regex()), {}, "labels that must match a regular expression")
    timeperiod: str = setting(string(), "24x7", "a `[timeperiods]` name (`24x7` is built in)")
    webhook: str | None = setting(string(pattern=r"https?://\S+"), None, "URL receiving the Alertmanager webhook payload")
    repeat_interval: float = setting(duration(), "4h", "a notification still firing is repeated this often")
    escalate_after: float | None = setting(duration(), None, "not acknowledged by then: notify escalate_to")
    escalate_to: str | None = setting(string(), None, "another route's name")
    continue_matching: bool = setting(boolean(), False, "also try the routes after this one", key="continue")
    send_resolved: bool = setting(boolean(), True, "notify the end of what was notified")
    group_wait: float = setting(duration(), "10s", "a new incident (or lone alert) waits this long for its other alerts before the first message")
    group_interval: float = setting(duration(), "5m", "at most one `updated` message per incident per interval while it grows")
    active: str | None = setting(string(), None, "a `[timeperiods]` name: the route matches only while the period is active (otherwise the next routes are tried)")
    hold_until_active: bool = setting(boolean(), False, "with `active`: a problem raised outside the period matches anyway and waits for it (as `timeperiod` does)")
    receivers: list[str] = setting(list_of(string(pattern=_NAME)), [], "`[receivers.NAME]` names this route's notifications go to (beside `webhook`)")
    fallback: str | None = setting(string(pattern=_NAME), None, "a receiver told (`notification_failed`) when a delivery is given up")


RECEIVER_TYPES = ("webhook", "email", "slack", "teams", "sms", "ntfy")


@dataclass(frozen=True)
class ReceiverConfig:
    """[receivers.NAME]: one destination of notifications; `type` says which keys apply."""

    type: str = setting(string(RECEIVER_TYPES), None, "`webhook`, `email`, `slack` (also Mattermost, Rocket.Chat), `teams`, `sms`, `ntfy` (required)")
    url: str | None = setting(string(pattern=r"https?://\S+"), None, "webhook, slack, teams, sms, ntfy: where to send (ntfy: server and topic)")
    headers: dict[str, str] = setting(mapping_of(string()), {}, "HTTP channels: extra request headers")
    bearer_token_env: str | None = setting(env_name(), None, "HTTP channels: environment variable holding a bearer token")
    basic_username: str | None = setting(string(), None, "HTTP channels: user name for basic authentication")
    basic_password_env: str | None = setting(env_name(), None, "HTTP channels: environment variable holding the basic password")
    ca_file: str | None = setting(string(), None, "HTTPS and SMTP TLS: trust this CA bundle (PEM) instead of the system's")
    insecure_skip_verify: bool = setting(boolean(), False, "HTTPS and SMTP TLS: do not check the server certificate (tests only)")
    timeout: float = setting(duration(), "10s", "one attempt's time limit")
    language: str = setting(string(("fr", "en")), "fr", "language of the text: `fr` or `en`")
    smarthost: tuple[str, int] | None = setting(address(), None, "email: the SMTP server, `host:port` (required)")
    tls: str = setting(string(("starttls", "tls", "none")), "starttls", "email: `starttls` (port 587), `tls` (implicit, port 465) or `none`")
    username: str | None = setting(string(), None, "email: SMTP AUTH user name")
    password_env: str | None = setting(env_name(), None, "email: environment variable holding the SMTP password")
    sender: str | None = setting(string(), None, "email: the From address (required)", key="from")
    to: list[str] = setting(list_of(string()), [], "email: addresses; sms: phone numbers (one request each)")
    html: bool = setting(boolean(), True, "email: add an HTML part beside the plain text")
    method: str = setting(string(("POST", "GET", "PUT")), "POST", "sms: HTTP method of the gateway")
    body: str = setting(string(), "", "sms: request body template; `{to}`, `{message}` are escaped for `content_type` (GET: query string)")
    content_type: str = setting(string(), "application/x-www-form-urlencoded", "sms: Content-Type of the body")
    priority: str = setting(string(("auto", "min", "low", "default", "high", "max", "urgent")), "auto", "ntfy: `auto` maps the severity (critical: high)")
    tags: list[str] = setting(list_of(string()), [], "ntfy: tags (emoji short codes), the severity is added")
    channel: str | None = setting(string(), None, "slack: channel override (Mattermost and Slack legacy webhooks)")


@dataclass(frozen=True)
class NotifyConfig:
    """[notify]: how the notifier delivers, retries and gives up."""

    external_url: str = setting(string(), "", "the console's URL, linked from messages (empty: no link)")
    min_backoff: float = setting(duration(), "1s", "first wait after a failed attempt, doubled at each retry")
    max_backoff: float = setting(duration(), "1m", "longest wait between two attempts")
    give_up_after: float = setting(duration(), "10m", "a delivery still failing this long after its first attempt is dead-lettered")
    state_retention: float = setting(duration(), "30d", "rows of the delivery state (which receivers have a message) are forgotten this long after their last change: keep it at least the notifications topic's retention (30 days), since a message read again after its row is gone is sent again")
    engine: str = setting(string(("faust", "threads")), "faust", "faust: one agent and a changelog-backed delivery Table (Kafka keeps the state); threads: one consumer per route, the delivery state in SQLite under state_dir (docs/notify.md)")


@dataclass(frozen=True)
class NormalizeConfig:
    """[normalize]: how raw records become events."""

    rules_file: str | None = setting(string(), None, "syslog alert rules (TOML)", shown="shipped defaults")


@dataclass(frozen=True)
class CorrelationConfig:
    """[correlation]: alerts, flapping and incidents."""

    MOVED: ClassVar[dict[str, str]] = {"rules_file": "[normalize] rules_file"}

    incident_window: float = setting(duration(), "2m", "alerts of one site with linked causes within this window form one incident")
    hold_down: float = setting(duration(), "30s", "children reported before their parent wait this long before being notified")
    update_interval: float = setting(duration(), "1s", "at most one update per alert per interval on the alerts topic")
    max_check_attempts: int = setting(integer(1, 100), 3, "soft → hard after this many non-OK results")
    flap_high_threshold: float = setting(number(0, 100), 20, "Nagios flap detection: flapping above this percent state change")
    flap_low_threshold: float = setting(number(0, 100), 5, "no longer flapping below this one")
    flap_interval: float = setting(duration(), "30s", "an alert with no event for this long counts one more result in its state: a flapping trap or syslog alert that settles stops flapping (after about 10 minutes at 30s)")
    allowed_lateness: float = setting(duration(), "200ms", "event time: a worker with nothing left to read fires the timers due this long before the wall clock (hold-downs, group waits, repeats); normalize times a raw record received more than half of it ago as it reads it (see docs/architecture.md, event time)")


@dataclass(frozen=True)
class PipelinesConfig:
    """[pipelines]: the normalize + correlate workers."""

    enabled: bool = setting(boolean(), True, "run the normalize + correlate workers under `vigie up`")
    workers: int = setting(integer(1, 64), 1, "worker processes (one consumer group; partitions are shared among them)")


@dataclass(frozen=True)
class ArchiveConfig:
    """[archive]: the legal connection-log archive."""

    enabled: bool = setting(boolean(), True, "run the archive sink under `vigie up`")
    root: str = setting(string(), None, "Parquet root: `connlog/dt=YYYY-MM-DD/hour=HH/…`", shown="`state_dir/archive`")
    retention_days: int = setting(integer(1, 36500), 365, "partitions older than this are purged daily (and by `vigie archive purge`)")
    idle_flush: float = setting(duration(), "60s", "quiet partitions are written out after this")
    topics: list[str] = setting(list_of(string()), ["raw.syslog"], "raw topics archived")
    max_rows_per_file: int = setting(integer(1, 100_000_000), 1_000_000, "a file is closed at this many rows", shown="1,000,000")
    processes: int = setting(integer(1, 64), 1, "sink processes in the archive's consumer group (see below)")
    publish_heads: bool = setting(boolean(), True, "publish the manifest chain head at each file to the `archive.heads` topic")
    heads_syslog_interval: float = setting(duration(), "1d", "how often the sink also logs the chain head to the local syslog (`/dev/log`); \"0s\": never")
    audit_topic_timeout: float = setting(duration(), "2s", "how long `vigie archive query` waits for the broker to take its audit record (the local audit log is written first, always)")
    export_key_env: str | None = setting(env_name(), None, "environment variable holding the Ed25519 private key (PEM, or 64 hex digits) that signs `vigie archive export` summaries")
    max_clock_skew: float = setting(duration(), "5m", "rows whose device timestamp is further than this from the receive time get `clock_skewed = true`")


@dataclass(frozen=True)
class ConsoleConfig:
    """[console]: the operator console served by `vigie up` (docs/console.md)."""

    enabled: bool = setting(boolean(), True, "serve the console (accounts: `vigie user add NAME --role admin`)")
    listen: tuple[str, int] = setting(address(), "127.0.0.1:8080", "where it is served; use `0.0.0.0:8443` with TLS to reach it from the network")
    certfile: str | None = setting(string(), None, "PEM certificate (chain): the console is served over HTTPS and its cookies are Secure")
    keyfile: str | None = setting(string(), None, "PEM private key of certfile")
    timezone: str = setting(zone_name(), DEFAULT_TIMEZONE, "IANA zone in which pages show times")
    session_lifetime: float = setting(duration(), "12h", "a login lasts this long")
    wall_session_lifetime: float = setting(duration(), "30d", "a viewer login that ticked \"wall screen\" lasts this long")
    login_max_failures: int = setting(integer(1, 1000), 5, "failed logins per client address, and per user name, before logins are refused for login_window")
    login_window: float = setting(duration(), "5m", "the window of login_max_failures")
    trusted_user_header: str | None = setting(string(pattern=r"[A-Za-z0-9-]+"), None, "header carrying the user authenticated by a reverse proxy (SSO), e.g. `X-Remote-User`; trusted only from trusted_proxies")
    trusted_proxies: list[str] = setting(list_of(string()), ["127.0.0.1", "::1"], "addresses whose trusted_user_header is believed")


@dataclass(frozen=True)
class MetricsConfig:
    """[metrics]: the Prometheus endpoint of `vigie up`."""

    enabled: bool = setting(boolean(), True, "Prometheus metrics at `http://<listen>/metrics`")
    listen: tuple[str, int] = setting(address(), "127.0.0.1:9108", "where they are served")


@dataclass(frozen=True)
class ActionConfig:
    """[[actions]]: a command (or webhook) run on hosts when alerts of several sources agree, after a countdown
    people can cancel; a dry run until `armed = true` (docs/actions.md: the safety model)."""

    name: str = setting(string(pattern=_NAME), None, "the action's name (required): its key on the `actions` topic")
    command: list[str] = setting(list_of(string()), [], "argv run once per target host, no shell; `$HOST$` is the host name, `$HOSTADDRESS$` its address")
    webhook: str | None = setting(string(pattern=r"https?://\S+"), None, "instead of command: URL receiving a JSON POST per target host")
    hosts: list[str] = setting(list_of(string()), [], "the target hosts (of `[inventory.hosts]`, required)")
    service: str = setting(string(), None, "the service (a poller's `name`) whose alerts make the condition (required)")
    sources: list[str] = setting(list_of(string()), [], "hosts or host groups whose alerts of `service` count (required)")
    min_sources: int = setting(integer(1, 1000), 2, "at least this many sources must agree")
    severity: str = setting(string(("critical", "warning")), "critical", "the least severity of an agreeing alert")
    hard: bool = setting(boolean(), True, "only HARD alerts agree (SOFT ones are still being confirmed)")
    hold: float = setting(duration(), "2m", "the condition must hold this long before the countdown", key="for")
    stale_after: float = setting(duration(), "5m", "a source whose alert was last seen longer ago cannot count")
    countdown: float = setting(duration(), "5m", "announced on `routes`, cancellable, then the action runs")
    routes: list[str] = setting(list_of(string(pattern=_NAME)), [], "`[[routes]]` names on which the countdown is announced")
    armed: bool = setting(boolean(), False, "false: a dry run, every step recorded and nothing executed")
    max_runs: int = setting(integer(1, 1000), 1, "at most this many runs (dry runs included) per `period`")
    period: float = setting(duration(), "24h", "the window of `max_runs`")
    respect_maintenance: bool = setting(boolean(), True, "never while a target or a source is in a maintenance window")
    allow_single_source: bool = setting(boolean(), False, "allow `min_sources = 1` (one probe alone can act)")
    timeout: float = setting(duration(), "60s", "a command or webhook call taking longer is stopped and recorded as failed")


@dataclass(frozen=True)
class Config:
    """The whole file, checked: one attribute per table. validate() fills state_dir and archive.root."""

    state_dir: str = setting(string(), None, "the local broker's data and logs, the lock of `vigie up`, the archive (by default)",
                             shown="`$VIGIE_STATE_DIR` or `~/.local/state/vigie`")
    kafka: KafkaConfig = section(KafkaConfig)
    syslog: SyslogConfig = section(SyslogConfig)
    snmp: SnmpConfig = section(SnmpConfig)
    checks: ChecksConfig = section(ChecksConfig)
    nsca: NscaConfig = section(NscaConfig)
    inventory: InventoryConfig = section(InventoryConfig)
    timeperiods: dict[str, TimePeriod] = setting(timeperiod_table(), {}, "`[timeperiods.NAME]` tables, in Nagios Core 4 syntax (see below)")
    routes: list[RouteConfig] = setting(list_of(Section(RouteConfig)), [], "`[[routes]]` tables", shown="none")
    receivers: dict[str, ReceiverConfig] = setting(mapping_of(Section(ReceiverConfig)), {}, "`[receivers.NAME]` tables", shown="none")
    notify: NotifyConfig = section(NotifyConfig)
    normalize: NormalizeConfig = section(NormalizeConfig)
    correlation: CorrelationConfig = section(CorrelationConfig)
    pipelines: PipelinesConfig = section(PipelinesConfig)
    archive: ArchiveConfig = section(ArchiveConfig)
    metrics: MetricsConfig = section(MetricsConfig)
    console: ConsoleConfig = section(ConsoleConfig)
    actions: list[ActionConfig] = setting(list_of(Section(ActionConfig)), [], "`[[actions]]`: guarded automatic actions (docs/actions.md)", shown="none")


SCHEMA = Section(Config)


def _listeners(listeners: list[SyslogListenerConfig]) -> list[SyslogListenerConfig]:
    """Listeners with their address and name filled in, names unique, TLS ones with a certificate."""
    out: list[SyslogListenerConfig] = []
    names: set[str] = set()
    for i, lst in enumerate(listeners):
        key = f"syslog.listeners[{i}]"
        if lst.listen is None:
            lst = replace(lst, listen=(_LOOPBACK, 6514 if lst.transport == "tls" else 5514))
        if lst.name is None:
            lst = replace(lst, name=f"{lst.transport}-{lst.listen[1]}")
        if lst.name in names:
            raise ConfigError(f"config: {key}.name: expected a unique listener name, got {_show(lst.name)} twice")
        names.add(lst.name)
        if lst.transport == "tls" and not (lst.certfile and lst.keyfile):
            raise ConfigError(f"config: {key}.certfile: expected certfile and keyfile for a tls listener")
        out.append(lst)
    return out


def _cross_checks(cfg: Config) -> Config:
    """Rules that span keys: names unique, keys for v3 users, references exist, thresholds ordered."""
    users: set[str] = set()
    for i, user in enumerate(cfg.snmp.users):
        if not user.name:
            raise ConfigError(f"config: snmp.users[{i}].name: expected a user name")
        if user.name in users:
            raise ConfigError(f"config: snmp.users[{i}].name: expected a unique user name, got {_show(user.name)} twice")
        users.add(user.name)
        if user.auth_protocol != "none" and not user.auth_key_env:
            raise ConfigError(f"config: snmp.users[{i}].auth_key_env: expected the environment variable holding the auth key")
        if user.priv_protocol != "none" and not user.priv_key_env:
            raise ConfigError(f"config: snmp.users[{i}].priv_key_env: expected the environment variable holding the privacy key")
        if user.priv_protocol != "none" and user.auth_protocol == "none":
            raise ConfigError(f"config: snmp.users[{i}].priv_protocol: expected auth_protocol too (privacy needs authentication)")
    cfg = replace(cfg, inventory=resolve_inventory(cfg.inventory))
    hosts = cfg.inventory.hosts
    for name, host in hosts.items():
        for parent in host.parents:
            if parent not in hosts:
                raise ConfigError(f"config: inventory.hosts.{name}.parents: expected known host names, got {_show(parent)}")
    _parent_cycles(hosts)
    for name, host in hosts.items():
        if host.command is not None and not (
                (isinstance(host.command, str) and host.command.strip())
                or (isinstance(host.command, list) and host.command and all(isinstance(a, str) for a in host.command))):
            raise ConfigError(f"config: inventory.hosts.{name}.command: expected a command line or a list of arguments, got {_show(host.command)}")
    for i, svc in enumerate(cfg.inventory.services):
        if svc.host not in hosts:
            raise ConfigError(f"config: inventory.services[{i}].host: expected a host of inventory.hosts, got {_show(svc.host)}")
        if not svc.name or svc.command is None:
            raise ConfigError(f"config: inventory.services[{i}]: expected name and command")
    _dependency_checks(cfg.inventory)
    for i, svc in enumerate(cfg.inventory.services):
        for g in svc.servicegroups:
            if g not in cfg.inventory.servicegroups:
                raise ConfigError(f"config: inventory.services[{i}].servicegroups: expected a group of inventory.servicegroups, got {_show(g)}")
    periods = set(cfg.timeperiods) | {"24x7", "never"}
    route_names: set[str] = set()
    for i, route in enumerate(cfg.routes):
        if not route.name:
            raise ConfigError(f"config: routes[{i}].name: expected a route name")
        if route.name in route_names:
            raise ConfigError(f"config: routes[{i}].name: expected a unique route name, got {_show(route.name)} twice")
        route_names.add(route.name)
    for i, route in enumerate(cfg.routes):
        if route.timeperiod not in periods:
            raise ConfigError(f"config: routes[{i}].timeperiod: expected one of {', '.join(sorted(periods))}, got {_show(route.timeperiod)}")
        if route.active is not None and route.active not in periods:
            raise ConfigError(f"config: routes[{i}].active: expected one of {', '.join(sorted(periods))}, got {_show(route.active)}")
        if route.active is not None and route.timeperiod != "24x7":
            raise ConfigError(f"config: routes[{i}].active: expected active or timeperiod, not both (timeperiod = active with hold_until_active)")
        if route.hold_until_active and route.active is None:
            raise ConfigError(f"config: routes[{i}].hold_until_active: expected active too")
        if (route.escalate_after is None) != (route.escalate_to is None):
            raise ConfigError(f"config: routes[{i}].escalate_to: expected escalate_after and escalate_to together")
        if route.escalate_to and route.escalate_to not in route_names:
            raise ConfigError(f"config: routes[{i}].escalate_to: expected a route name, got {_show(route.escalate_to)}")
    _receiver_checks(cfg)
    _poller_checks(cfg)
    _action_checks(cfg, route_names)
    corr = cfg.correlation
    if corr.flap_low_threshold > corr.flap_high_threshold:
        raise ConfigError("config: correlation.flap_low_threshold: expected a value <= flap_high_threshold")
    if bool(cfg.console.certfile) != bool(cfg.console.keyfile):
        raise ConfigError("config: console.keyfile: expected certfile and keyfile together")
    return cfg


def _poller_checks(cfg: Config) -> None:
    """Pollers name known hosts and groups, have a way to authenticate, items that say what to read, and
    thresholds in the order of their direction."""
    groups = set(cfg.inventory.hostgroups)
    users = {u.name for u in cfg.snmp.users}
    names: set[str] = set()
    for i, p in enumerate(cfg.inventory.pollers):
        key = f"config: inventory.pollers[{i}]"
        if not p.name:
            raise ConfigError(f"{key}.name: expected the service name of its results")
        if p.name in names:
            raise ConfigError(f"{key}.name: expected a unique poller name, got {_show(p.name)} twice")
        names.add(p.name)
        for h in p.hosts:
            if h not in cfg.inventory.hosts:
                raise ConfigError(f"{key}.hosts: expected known host names, got {_show(h)}")
        for g in p.hostgroups:
            if g not in groups:
                raise ConfigError(f"{key}.hostgroups: expected host groups, got {_show(g)}")
        if not p.hosts and not p.hostgroups:
            raise ConfigError(f"{key}: expected hosts or hostgroups")
        if p.version == "2c" and not p.community_env:
            raise ConfigError(f"{key}.community_env: expected the environment variable holding the v2c community")
        if p.version == "3" and p.user not in users:
            raise ConfigError(f"{key}.user: expected a [[snmp.users]] name, got {_show(p.user)}")
        if not p.items:
            raise ConfigError(f"{key}.items: expected at least one [[inventory.pollers.items]]")
        labels: set[str] = set()
        for j, item in enumerate(p.items):
            if (item.oid is None) == (item.entity_sensor is None):
                raise ConfigError(f"{key}.items[{j}]: expected oid or entity_sensor (one of them)")
            if not item.label or item.label in labels:
                raise ConfigError(f"{key}.items[{j}].label: expected a unique label")
            labels.add(item.label)
        if p.warning is not None and p.critical is not None:
            if (p.direction == "above" and p.warning > p.critical) or (p.direction == "below" and p.warning < p.critical):
                raise ConfigError(f"{key}.critical: expected a threshold beyond warning ({p.direction})")
def _dependency_checks(inv: InventoryConfig) -> None:
    """Every master of a `depends_on` is a service of the inventory (a typo would silently suppress nothing)."""
    known = {(s.host, s.name) for s in inv.services}
    for i, svc in enumerate(inv.services):
        for j, dep in enumerate(svc.depends_on):
            key = f"inventory.services[{i}].depends_on[{j}]"
            if not dep.service:
                raise ConfigError(f"config: {key}.service: expected the master service's name")
            master = (dep.host or svc.host, dep.service)
            if master not in known:
                raise ConfigError(f"config: {key}: expected a service of the inventory, got {_show(master[1])} on {_show(master[0])}")
            if master == (svc.host, svc.name):
                raise ConfigError(f"config: {key}: a service cannot depend on itself")


def _action_checks(cfg: Config, route_names: set[str]) -> None:
    """Actions have a unique name, something to run, known targets, sources and routes, and never rest on
    one source unless that is said explicitly."""
    hosts, groups = cfg.inventory.hosts, set(cfg.inventory.hostgroups)
    names: set[str] = set()
    for i, a in enumerate(cfg.actions):
        key = f"config: actions[{i}]"
        if not a.name or a.name in names:
            raise ConfigError(f"{key}.name: expected a unique action name, got {_show(a.name)}")
        names.add(a.name)
        if bool(a.command) == bool(a.webhook):
            raise ConfigError(f"{key}.command: expected command or webhook (one of them)")
        if not a.hosts:
            raise ConfigError(f"{key}.hosts: expected at least one target host")
        for h in a.hosts:
            if h not in hosts:
                raise ConfigError(f"{key}.hosts: expected known host names, got {_show(h)}")
        if not a.service:
            raise ConfigError(f"{key}.service: expected the service whose alerts make the condition")
        for src in a.sources:
            if src not in hosts and src not in groups:
                raise ConfigError(f"{key}.sources: expected host or host group names, got {_show(src)}")
        for r in a.routes:
            if r not in route_names:
                raise ConfigError(f"{key}.routes: expected route names, got {_show(r)}")
        if a.min_sources < 2 and not a.allow_single_source:
            raise ConfigError(f"{key}.min_sources: expected at least 2 (one probe must not act alone) or allow_single_source = true")
        count = len(action_sources(cfg.inventory, a))
        if count < a.min_sources:
            raise ConfigError(f"{key}.sources: expected at least min_sources = {a.min_sources} hosts, got {count}")


def action_sources(inv: InventoryConfig, action: ActionConfig) -> frozenset[str]:
    """The hosts whose alerts count for an action: its `sources` hosts and the members of its source groups."""
    named = set(action.sources)
    return frozenset(h for h, conf in inv.hosts.items() if h in named or named & set(conf.groups))


def resolve_inventory(inv: InventoryConfig) -> InventoryConfig:
    """Host templates, host groups and group services resolved into plain hosts and services (vigie/inventory.py)."""
    from vigie.inventory import resolve

    return resolve(inv)


def _parent_cycles(hosts: dict[str, HostConfig]) -> None:
    """A host behind itself (its own parent, or a loop of parents) has no root cause: one line naming the loop."""
    done: set[str] = set()
    for start in hosts:
        trail: list[str] = []
        on_trail: set[str] = set()
        stack = [(start, iter(hosts[start].parents))]
        trail.append(start)
        on_trail.add(start)
        while stack:
            name, parents = stack[-1]
            parent = next(parents, None)
            if parent is None:
                stack.pop()
                on_trail.discard(trail.pop())
                done.add(name)
                continue
            if parent in on_trail:
                loop = trail[trail.index(parent):] + [parent]
                raise ConfigError(
                    f"config: inventory.hosts.{loop[-2]}.parents: expected no parent loop, got {' -> '.join(loop)}"
                )
            if parent in done or parent not in hosts:
                continue
            trail.append(parent)
            on_trail.add(parent)
            stack.append((parent, iter(hosts[parent].parents)))


_RECEIVER_NEEDS = {"webhook": ("url",), "slack": ("url",), "teams": ("url",), "ntfy": ("url",),
                   "sms": ("url", "to", "body"), "email": ("smarthost", "sender", "to")}


def _receiver_checks(cfg: Config) -> None:
    """Each receiver has the keys its type needs; routes name receivers that exist."""
    for name, rc in cfg.receivers.items():
        if not re.fullmatch(_NAME, name):
            raise ConfigError(f"config: receivers.{name}: expected a name matching {_NAME}")
        if rc.type is None:
            raise ConfigError(f"config: receivers.{name}.type: expected one of {', '.join(RECEIVER_TYPES)}")
        for key in _RECEIVER_NEEDS[rc.type]:
            if not getattr(rc, key):
                raise ConfigError(f"config: receivers.{name}.{'from' if key == 'sender' else key}: expected a value for a {rc.type} receiver")
        if rc.type == "email" and rc.username and not rc.password_env:
            raise ConfigError(f"config: receivers.{name}.password_env: expected the environment variable holding the SMTP password")
    for i, route in enumerate(cfg.routes):
        for j, rname in enumerate(route.receivers):
            if rname not in cfg.receivers:
                raise ConfigError(f"config: routes[{i}].receivers[{j}]: expected a [receivers] name, got {_show(rname)}")
        if route.webhook and route.name in cfg.receivers:
            raise ConfigError(f"config: routes[{i}].webhook: the shorthand names a receiver {_show(route.name)}, which [receivers] already has")
        if route.fallback and route.fallback not in cfg.receivers:
            raise ConfigError(f"config: routes[{i}].fallback: expected a [receivers] name, got {_show(route.fallback)}")


def default_state_dir() -> str:
    """$VIGIE_STATE_DIR, else ~/.local/state/vigie."""
    return os.environ.get("VIGIE_STATE_DIR") or str(Path.home() / ".local" / "state" / "vigie")


def validate(raw: dict[str, Any]) -> Config:
    """Check a parsed TOML document against the schema; returns the typed Config with defaults filled in."""
    cfg: Config = SCHEMA(raw, "")
    cfg = replace(cfg, syslog=replace(cfg.syslog, listeners=_listeners(cfg.syslog.listeners)))
    cfg = _cross_checks(cfg)
    state_dir = cfg.state_dir or default_state_dir()
    root = cfg.archive.root or str(Path(state_dir) / "archive")
    return replace(cfg, state_dir=state_dir, archive=replace(cfg.archive, root=root))


def load(path: str | Path | None) -> Config:
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
    inventory = raw.get("inventory")
    if isinstance(inventory, dict) and isinstance(inventory.get("inventory_dir"), str):
        from vigie.inventory import merge_inventory_dir

        raw = {**raw, "inventory": merge_inventory_dir(inventory, Path(path).parent / inventory["inventory_dir"])}
    return validate(raw)


def secret(env: str | None, key: str, required: bool = True) -> str | None:
    """The value of the environment variable a `*_env` key names; never logged."""
    if env is None:
        return None
    value = os.environ.get(env)
    if value is None and required:
        raise ConfigError(f"config: {key}: expected environment variable {env} to be set")
    return value


def kafka_settings(cfg: Config, bootstrap: str | None = None, principal: str = "reader") -> KafkaSettings:
    """KafkaSettings from the [kafka] section; bootstrap overrides it (the local broker's address).

    Where services authenticate as their own principals (vigie/broker_auth.py) -- the local broker with
    local_sasl, when bootstrap is none or local_listen's address (`--bootstrap` naming another broker means
    that one), or a cluster with sasl_service_users -- the client is `principal`, or the user `vigie up`
    handed a child through the environment. Elsewhere the [kafka] user and password apply.
    """
    from vigie import broker_auth
    from vigie.kafka_client import KafkaSettings

    k = cfg.kafka
    host, port = k.local_listen
    local = not k.bootstrap_servers and bootstrap in (None, f"{host}:{port}")
    if (local and k.local_sasl) or (not local and k.sasl_service_users):
        try:
            user, password = broker_auth.service_credentials(cfg.state_dir if local else None, principal)
        except broker_auth.CredentialsMissing as exc:
            raise ConfigError(f"config: kafka: {exc}") from None
        return KafkaSettings(bootstrap_servers=bootstrap or k.bootstrap_servers or f"{host}:{port}",
                             topic_prefix=k.topic_prefix,
                             security_protocol="SASL_PLAINTEXT" if local else k.security_protocol,
                             sasl_mechanism=broker_auth.MECHANISM if local else k.sasl_mechanism,
                             sasl_username=user, sasl_password=password,
                             ssl_cafile=None if local else k.ssl_cafile, replication_factor=k.replication_factor)
    return KafkaSettings(
        bootstrap_servers=bootstrap or k.bootstrap_servers,
        topic_prefix=k.topic_prefix,
        security_protocol=k.security_protocol,
        sasl_mechanism=k.sasl_mechanism,
        sasl_username=secret(k.sasl_username_env, "kafka.sasl_username_env"),
        sasl_password=secret(k.sasl_password_env, "kafka.sasl_password_env"),
        ssl_cafile=k.ssl_cafile,
        replication_factor=k.replication_factor,
    )
