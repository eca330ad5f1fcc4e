"""Helpers of the tests: finding the real peer tools they run (missing ones skip locally but fail in CI, where setup installs them), the [kafka] table of the shared test broker."""

from __future__ import annotations

import os
import shutil

import pytest

from vigie.kafka_client import KafkaSettings


def require_tool(name: str) -> str:
    """The path of an executable, or a skip (a failure under CI=true) naming the Debian package to install."""
    path = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK) else None)
    if path:
        return path
    message = f"{name} is not installed (bash scripts/setup installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


# The shared test broker's credentials, for the config files tests write (set by the `broker` fixture).
TEST_USER_ENV = "VIGIE_TEST_KAFKA_USER"
TEST_PASSWORD_ENV = "VIGIE_TEST_KAFKA_PASSWORD"


def kafka_table(settings: KafkaSettings, prefix: str | None = None) -> str:
    """A config file's [kafka] table for the broker `settings` reach (its SASL settings naming the test's
    credential variables), ending with a newline; more [kafka] keys may follow it."""
    lines = [f'bootstrap_servers = "{settings.bootstrap_servers}"',
             f'topic_prefix = "{settings.topic_prefix if prefix is None else prefix}"']
    if settings.sasl_mechanism:
        lines += [f'security_protocol = "{settings.security_protocol}"', f'sasl_mechanism = "{settings.sasl_mechanism}"',
                  f'sasl_username_env = "{TEST_USER_ENV}"', f'sasl_password_env = "{TEST_PASSWORD_ENV}"']
    return "[kafka]\n" + "\n".join(lines) + "\n"
