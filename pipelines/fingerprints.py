"""Alert fingerprints: the identity normalize gives an event and correlate deduplicates alerts by.

Shared so that correlate (which looks up a host's own check alert) does not depend on normalize.
"""

from __future__ import annotations


def syslog_fingerprint(host: str, rule_pair: str, component: str) -> str:
    return f"{host}|syslog:{rule_pair}|{component}"


def trap_fingerprint(host: str, trap_kind: str, component: str) -> str:
    return f"{host}|trap:{trap_kind}|{component}"


def check_fingerprint(host: str, service: str | None) -> str:
    """host|check|service; a host check (service None) is host|check."""
    return f"{host}|check|{service}" if service else f"{host}|check"
