"""The environment of `vigie up`'s child processes: an allow-list, so a child never holds another service's secrets.

The parent holds every secret the configuration names (the HTTP intake token, SNMPv3 keys, Kafka SASL);
a child (archive sink, pipelines worker) is a larger attack surface (it parses every raw record) and
only needs Kafka's. So its environment is built, not inherited: the locale, paths and Python settings,
Vigie's own non-secret variables, and exactly the secret variables its part of the configuration names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from vigie import broker_auth

# Variables a Python child needs to behave like its parent (locale, time zone, paths, interpreter settings).
_ALLOWED = re.compile(r"PATH|HOME|LANG|LANGUAGE|TZ|TMPDIR|LC_[A-Z_]+|PYTHON[A-Z0-9_]*|VIGIE_[A-Za-z0-9_]+")


def secret_env_names(section: Any) -> set[str]:
    """Every environment variable a `*_env` key names inside a config section (each holds a secret: vigie.config)."""
    names: set[str] = set()
    if is_dataclass(section):
        for f in fields(section):
            value = getattr(section, f.name)
            if f.name.endswith("_env") and isinstance(value, str):
                names.add(value)
            else:
                names |= secret_env_names(value)
    elif isinstance(section, list | tuple):
        for item in section:
            names |= secret_env_names(item)
    elif isinstance(section, dict):
        for item in section.values():
            names |= secret_env_names(item)
    return names


def child_environment(environ: Mapping[str, str], every_secret: set[str], its_secrets: Iterable[str],
                      extra: Mapping[str, str]) -> dict[str, str]:
    """The allowed part of environ without any of every_secret, plus the child's own secrets and extra."""
    env = {k: v for k, v in environ.items() if _ALLOWED.fullmatch(k) and k not in every_secret}
    env.update({k: environ[k] for k in its_secrets if k in environ})
    env.update(extra)
    return env


def child_credentials(passwords: Mapping[str, str], service: str) -> dict[str, str]:
    """The environment that makes a child authenticate to the local broker as its service's own principal
    (vigie/broker_auth.py); nothing when there are no local credentials (external cluster, no authentication)."""
    principal = broker_auth.SERVICE_PRINCIPALS[service]
    if principal not in passwords:
        return {}
    return {broker_auth.USERNAME_ENV: principal, broker_auth.PASSWORD_ENV: passwords[principal]}


def child_sections(cfg: Any, service: str) -> list[Any]:
    """The parts of the config a child reads secrets from: Kafka for all, then its own tables."""
    own = {"archive": [cfg.archive], "pipelines": [cfg.pipelines, cfg.normalize, cfg.correlation],
           # the notifier delivers with the receivers' credentials (webhook tokens, SMTP passwords, SMS keys)
           "notify": [cfg.notify, cfg.receivers, cfg.routes], "console": [cfg.console], "actions": [cfg.actions]}
    return [cfg.kafka, *own.get(service, [])]
