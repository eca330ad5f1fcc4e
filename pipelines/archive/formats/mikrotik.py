"""MikroTik RouterOS firewall rule logging."""

from __future__ import annotations

import re

from vigie.pipelines.archive.formats.base import Format
from vigie.pipelines.archive.formats.values import (
    IPV4,
    PORT_PROTOS,
    Conn,
    conn_row,
    norm_mac,
    norm_proto,
    prefix_action,
    valid_ip,
    valid_port,
)

_MT_FW = re.compile(
    r"(?:src-mac (?P<mac>[0-9a-fA-F:]{17}), )?proto (?P<proto>[A-Za-z0-9-]{1,16})(?: \([^)]{0,64}\))?, "
    rf"(?P<src>{IPV4})(?::(?P<sport>\d+))?->(?P<dst>{IPV4})(?::(?P<dport>\d+))?"
    rf"(?:, NAT \((?P<osrc>{IPV4})(?::(?P<osport>\d+))?->(?P<nsrc>{IPV4})(?::(?P<nsport>\d+))?\)->)?"
)


def extract_mikrotik_firewall(text: str) -> Conn | None:
    """RouterOS firewall rule logging (`proto TCP (SYN), a:p->b:q, NAT (a:p->n:m)->b:q, len N`); IPv4 only."""
    m = _MT_FW.search(text)
    if m is None or ", len " not in text:
        return None
    proto = norm_proto(m["proto"])
    ports = proto in PORT_PROTOS
    nat_ip = nat_port = None
    if m["nsrc"] is not None:
        nat_ip = valid_ip(m["nsrc"])
        nat_port = valid_port(m["nsport"]) if ports else None
    head = text[: m.start()]
    return conn_row(
        "mikrotik",
        src_ip=valid_ip(m["src"]),
        src_port=valid_port(m["sport"]) if ports else None,
        dst_ip=valid_ip(m["dst"]),
        dst_port=valid_port(m["dport"]) if ports else None,
        protocol=proto,
        nat_ip=nat_ip,
        nat_port=nat_port,
        mac=norm_mac(m["mac"]),
        action=prefix_action(head[head.rfind("firewall,") :] if "firewall," in head else head),
    )


def _guard_mikrotik_fw(t: str) -> bool:
    return "proto " in t and "->" in t


FORMAT = Format(
    name="mikrotik",
    guard=_guard_mikrotik_fw,
    extract=extract_mikrotik_firewall,
    needles=("->", "proto "),
)
