"""Who may do what on the local broker: the principals, their credential files and their ACLs (no Kafka client).

Any local program could otherwise write a raw record with a forged sender and receive time to `raw.syslog`,
and the archive would keep it as genuine. So the local broker authenticates every client (SCRAM-SHA-512)
and authorises it (StandardAuthorizer, ACLs): only the intake principal writes the raw topics. Each
service has its own principal and password, generated at the first start under the state folder in
files only their owner reads (0600); `vigie up` hands a child its own through the environment.
The Kafka side (creating users and ACLs) is in vigie/acl_admin.py.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from vigie import topics

MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 4096  # Kafka's minimum and kafka-configs' default; the passwords are 32 random bytes, not words

ADMIN = "admin"  # the super user: topics, users and ACLs; never handed to a service
INTAKE = "intake"  # syslog, SNMP and check listeners in the `vigie up` process: the only writer of raw topics
PIPELINES = "pipelines"  # normalize + correlate workers
ARCHIVE = "archive"  # the archive sink
NOTIFY = "notify"  # the notifier
READER = "reader"  # people's read-only commands: vigie alerts, incidents, archive query/verify, replay
OPERATOR = "operator"  # people's commands: vigie silence, ack, maintenance (the control topic)
CONSOLE = "console"  # the operator console: reads what people look at, writes their commands and the audit trail
ACTIONS = "actions"  # guarded actions: reads the alerts and maintenance, writes its own steps and announcements
PRINCIPALS = (ADMIN, INTAKE, PIPELINES, ARCHIVE, NOTIFY, READER, OPERATOR, CONSOLE, ACTIONS)
CONTROLLER = "controller"  # not a client: the broker's own login to its controller listener (SASL PLAIN)

# The principal each `vigie up` child runs as (service name -> principal).
SERVICE_PRINCIPALS = {"pipelines": PIPELINES, "archive": ARCHIVE, "notify": NOTIFY, "console": CONSOLE,
                      "actions": ACTIONS}

# How `vigie up` hands a child its credentials: environment variables, never its command line (ps shows that).
USERNAME_ENV = "VIGIE_KAFKA_USERNAME"
PASSWORD_ENV = "VIGIE_KAFKA_PASSWORD"


def password_env(principal: str) -> str:
    """On a configured cluster with `sasl_service_users`: the environment variable holding a principal's password."""
    return f"VIGIE_KAFKA_{principal.upper()}_PASSWORD"


class CredentialsMissing(RuntimeError):
    """A principal's credential file does not exist (the local broker was never started with authentication)."""


def credentials_dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / "kafka" / "credentials"


def ensure_credentials(state_dir: str | Path) -> dict[str, str]:
    """Every principal's password, generating (0600, in a 0700 folder) those that do not exist yet."""
    folder = credentials_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    out: dict[str, str] = {}
    for name in (*PRINCIPALS, CONTROLLER):
        path = folder / name
        if not path.exists():
            write_private(path, secrets.token_urlsafe(32) + "\n")
        out[name] = read_password(state_dir, name)
    return out


def read_password(state_dir: str | Path, principal: str) -> str:
    """The password of one principal, from its file under the state folder."""
    path = credentials_dir(state_dir) / principal
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        raise CredentialsMissing(f"no Kafka credentials for principal {principal!r} at {path}: the local broker "
                                 "creates them at its first start (vigie up, vigie broker start)") from None
    except OSError as exc:  # another OS user than the one running the broker: by design, it may not read them
        raise CredentialsMissing(f"cannot read the Kafka credentials of principal {principal!r} at {path}: "
                                 f"{exc.strerror}") from None


def service_credentials(state_dir: str | Path | None, principal: str) -> tuple[str, str]:
    """(user, password) a client authenticates with: the child's own when `vigie up` handed it one through
    the environment, else `principal`'s, from its file under state_dir (the local broker) or, on a configured
    cluster (state_dir None), from its password_env variable."""
    user = os.environ.get(USERNAME_ENV)
    if user:
        if PASSWORD_ENV not in os.environ:
            raise CredentialsMissing(f"{USERNAME_ENV} is set but {PASSWORD_ENV} is not")
        return user, os.environ[PASSWORD_ENV]
    if state_dir is not None:
        return principal, read_password(state_dir, principal)
    password = os.environ.get(password_env(principal))
    if password is None:
        raise CredentialsMissing(f"sasl_service_users: expected environment variable {password_env(principal)} "
                                 f"(the password of Kafka user {principal!r}) to be set")
    return principal, password


def service_passwords(state_dir: str | Path | None) -> dict[str, str]:
    """The principals' passwords `vigie up` hands its children: the local broker's (generated at the first
    start), or those a configured cluster's environment holds (state_dir None)."""
    if state_dir is not None:
        return ensure_credentials(state_dir)
    return {p: os.environ[password_env(p)] for p in PRINCIPALS if password_env(p) in os.environ}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created so (no moment where it is readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: set it
    with os.fdopen(fd, "w") as f:
        f.write(text)


def jaas(module: str, username: str, password: str, **users: str) -> str:
    """A JAAS line in the form Kafka's `*.sasl.jaas.config` settings take (values quoted, no newline)."""
    extra = "".join(f' user_{name}="{pw}"' for name, pw in users.items())
    return f'{module} required username="{username}" password="{password}"{extra};'


def security_properties(passwords: dict[str, str], listener: str, controller: str) -> dict[str, str]:
    """The server.properties entries of an authenticating, authorising single-node KRaft broker.

    Clients use SCRAM-SHA-512 on `listener`. The controller listener (the broker part talking to the
    controller part of the same process) uses SASL PLAIN with a static `controller` user, not PLAINTEXT:
    a PLAINTEXT controller listener would make the anonymous principal a super user (the broker must be
    one to register), and anyone on the machine could then create a user or an ACL through it. KRaft does
    not take SCRAM on a controller listener (its credentials live in the metadata the controller serves).
    """
    admin, ctrl = passwords[ADMIN], passwords[CONTROLLER]
    lst, con = listener.lower(), controller.lower()
    return {
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "sasl.mechanism.controller.protocol": "PLAIN",
        f"listener.name.{lst}.sasl.enabled.mechanisms": MECHANISM,
        f"listener.name.{lst}.scram-sha-512.sasl.jaas.config":
            jaas("org.apache.kafka.common.security.scram.ScramLoginModule", ADMIN, admin),
        f"listener.name.{con}.sasl.enabled.mechanisms": "PLAIN",
        f"listener.name.{con}.plain.sasl.jaas.config":
            jaas("org.apache.kafka.common.security.plain.PlainLoginModule", CONTROLLER, ctrl, controller=ctrl),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": f"User:{ADMIN};User:{CONTROLLER}",
        "allow.everyone.if.no.acl.found": "false",
    }


@dataclass(frozen=True, order=True)
class AclSpec:
    """One ALLOW rule: principal may do operation on a topic, group or transactional id named so."""

    principal: str
    resource: str  # "topic" or "group"
    name: str
    pattern: str  # "literal" or "prefixed"
    operation: str  # "read", "write", "create", "describe", "describe_configs"


def _topics(principal: str, prefix: str, logical: list[str], *operations: str, pattern: str = "literal") -> list[AclSpec]:
    return [AclSpec(principal, "topic", f"{prefix}{t}", pattern, op) for t in logical for op in operations]


def _groups(principal: str, names: list[str], pattern: str = "literal") -> list[AclSpec]:
    return [AclSpec(principal, "group", n, pattern, "read") for n in names]


RAW = "raw."  # every raw topic starts so (vigie/topics.py): one prefixed rule, a new intake needs no new ACL


def acl_specs(prefix: str, archive_topics: tuple[str, ...] = ()) -> list[AclSpec]:
    """Every ALLOW rule of a Vigie installation whose topics start with `prefix` (admin is a super user).

    Group names follow the code that makes them: `<prefix>normalize`, `<prefix>correlate`, `<prefix>reader-*`
    (pipelines/), `vigie-archive*` (the sink's --group), `vigie-notify-<route>` and `<prefix>notify*` (Faust),
    `vigie-cli-*`, `vigie-verify-*`, `<prefix>replay-*`. Reading implies describing, so metadata works.
    """
    t = topics
    pipeline_state = ["pipeline.state", "pipeline.hosts"]  # pipelines/runtime.py STATE, HOSTS (its own topics)
    extra_archived = [x for x in archive_topics if not x.startswith(RAW)]
    specs = [
        *_topics(INTAKE, prefix, [RAW], "write", pattern="prefixed"),
        *_topics(INTAKE, prefix, [t.DEADLETTER], "write"),
        *_topics(PIPELINES, prefix, [RAW], "read", pattern="prefixed"),
        *_topics(PIPELINES, prefix, [t.EVENTS, t.CONTROL, t.ALERTS, t.INCIDENTS], "read"),
        *_topics(PIPELINES, prefix, [t.EVENTS, t.ALERTS, t.INCIDENTS, t.NOTIFICATIONS, t.DEADLETTER], "write"),
        *_topics(PIPELINES, prefix, pipeline_state, "read", "write", "create", "describe_configs"),
        *_groups(PIPELINES, [f"{prefix}normalize", f"{prefix}correlate"]),
        *_groups(PIPELINES, [f"{prefix}reader-"], "prefixed"),
        *_topics(ARCHIVE, prefix, [RAW], "read", pattern="prefixed"),
        *_topics(ARCHIVE, prefix, extra_archived, "read"),
        *_topics(ARCHIVE, prefix, [t.ARCHIVE_HEADS, t.AUDIT], "write"),
        *_groups(ARCHIVE, ["vigie-archive"], "prefixed"),
        *_topics(NOTIFY, prefix, [t.NOTIFICATIONS, t.CONTROL], "read"),
        *_topics(NOTIFY, prefix, [t.DEADLETTER], "write"),
        # Faust's own topics (the delivery table's changelog, its assignor's) and groups start with <prefix>notify
        *_topics(NOTIFY, prefix, ["notify"], "read", "write", "create", "describe_configs", pattern="prefixed"),
        *_groups(NOTIFY, ["vigie-notify-", f"{prefix}notify"], "prefixed"),
        *_topics(READER, prefix, [RAW], "read", pattern="prefixed"),  # vigie replay --from/--to
        *_topics(READER, prefix, [t.ALERTS, t.INCIDENTS, t.NOTIFICATIONS, t.CONTROL, t.ARCHIVE_HEADS, t.AUDIT], "read"),
        *_topics(READER, prefix, [t.AUDIT], "write"),  # an archive query records itself (who, what, how many rows)
        *_groups(READER, ["vigie-cli-", "vigie-verify-", f"{prefix}replay-"], "prefixed"),
        *_topics(OPERATOR, prefix, [t.CONTROL], "read", "write"),
        # the console: its pages (alerts, incidents, commands, messages sent, the host page's check results),
        # people's commands (control) and every access and action (audit); it reads by assignment, no group
        *_topics(CONSOLE, prefix, [t.ALERTS, t.INCIDENTS, t.CONTROL, t.NOTIFICATIONS, t.RAW_CHECKS], "read"),
        *_topics(CONSOLE, prefix, [t.CONTROL, t.AUDIT], "write"),
        *_groups(CONSOLE, ["vigie-console-"], "prefixed"),
        # guarded actions: the alerts and maintenance windows it judges, its own log (rebuilt at start), the
        # countdowns it announces; people list the steps (reader) and cancel a countdown (operator)
        *_topics(ACTIONS, prefix, [t.ALERTS, t.CONTROL, t.ACTIONS], "read"),
        *_topics(ACTIONS, prefix, [t.ACTIONS, t.NOTIFICATIONS], "write"),
        *_groups(ACTIONS, ["vigie-actions"], "prefixed"),
        *_topics(READER, prefix, [t.ACTIONS], "read"),
        *_topics(OPERATOR, prefix, [t.ACTIONS], "read", "write"),
    ]
    return sorted(set(specs))
