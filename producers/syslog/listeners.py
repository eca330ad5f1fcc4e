"""Syslog listeners (UDP, TCP and TLS on asyncio) that write each received message, byte for byte, to raw.syslog.

The listeners live in one module per intake: base (settings and what they share), udp, tcp (TCP and TLS).
This module picks one per transport and keeps the names services, benches and tests import.
"""

from __future__ import annotations

from vigie.producers.syslog.base import (
    DEFAULT_PORTS,
    STAGE,
    STANDARD_PORTS,
    TRANSPORTS,
    ListenerSettings,
    SyslogListener,
)
from vigie.producers.syslog.metrics import SyslogMetrics
from vigie.producers.syslog.tcp import StreamListener, server_ssl_context
from vigie.producers.syslog.udp import UdpListener
from vigie.sink import RecordSink

__all__ = [
    "DEFAULT_PORTS",
    "STAGE",
    "STANDARD_PORTS",
    "TRANSPORTS",
    "ListenerSettings",
    "StreamListener",
    "SyslogListener",
    "UdpListener",
    "make_listener",
    "server_ssl_context",
]


def make_listener(
    settings: ListenerSettings, sink: RecordSink, metrics: SyslogMetrics | None = None
) -> SyslogListener:
    """The listener for a transport: UdpListener, or StreamListener for tcp and tls."""
    if settings.transport == "udp":
        return UdpListener(settings, sink, metrics)
    return StreamListener(settings, sink, metrics)
