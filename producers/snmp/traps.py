"""Turns decoded trap PDUs into the raw.traps value (trap/1): RFC 3584 v1-to-v2 conversion, names, JSON-friendly values.

The value, one per trap or INFORM::

    {"schema": "trap/1", "version": "v1" | "v2c" | "v3", "pdu": "trap" | "inform",
     "community": str | None (v1/v2c), "user": str | None (v3; never a key),
     "trap_oid": "1.3.6.1.6.3.1.1.5.3", "trap_name": "IF-MIB::linkDown" | None,
     "agent_address": "10.0.0.1", "uptime": 1234 (TimeTicks, 1/100 s) | None,
     "varbinds": [{"oid", "name", "type", "value"[, "encoding": "hex"][, "enum": "down"]}],
     "received_at": RFC 3339 UTC, "peer": "ip:port", "attributes": {...}}

`varbinds` is the v2 form of the var-bind list without sysUpTime.0 and snmpTrapOID.0, which are lifted
into `uptime` and `trap_oid`; a v1 trap's list ends with the snmpTrapAddress.0, snmpTrapCommunity.0 and
snmpTrapEnterprise.0 var-binds RFC 3584 3.1 appends. `attributes` keeps the v1 enterprise, generic and
specific fields and agent-addr, or the v3 security level and context. OctetString values are text when
they decode as printable UTF-8, else lowercase hex with "encoding": "hex"; "enum" names an INTEGER value
its MIB defines (ifOperStatus 2 -> "down"). The agent address is the v1 agent-addr, else the
snmpTrapAddress.0 var-bind a proxy added, else the sender's IP.
"""

from __future__ import annotations

from typing import Any

from vigie.producers.snmp.ber import MAX_ARC, MAX_OID_ARCS, VarBind
from vigie.producers.snmp.mibnames import MibResolver

SCHEMA = "trap/1"
VERSIONS = {0: "v1", 1: "v2c", 3: "v3"}

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ENTERPRISE = "1.3.6.1.6.3.1.1.4.3.0"
SNMP_TRAPS = "1.3.6.1.6.3.1.1.5"  # coldStart = .1 ... egpNeighborLoss = .6
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"
SNMP_TRAP_COMMUNITY = "1.3.6.1.6.3.18.1.4.0"


class TrapError(ValueError):
    """A decoded PDU that is not a valid notification (e.g. no snmpTrapOID.0)."""


def peer_text(peer: tuple[str, int]) -> str:
    """ "ip:port", with an IPv6 address in brackets ("[::1]:162")."""
    host, port = peer[0], peer[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def v1_to_v2(
    enterprise: str,
    agent_addr: str,
    generic: int,
    specific: int,
    timestamp: int,
    varbinds: list[VarBind],
    community: str,
) -> list[VarBind]:
    """The SNMPv2 var-bind list of an SNMPv1 Trap-PDU, per RFC 3584 section 3.1.

    sysUpTime.0 (the time-stamp) and snmpTrapOID.0 (snmpTraps.<generic+1> for generic traps 0-5,
    <enterprise>.0.<specific> for enterpriseSpecific) come first, then the v1 var-binds, then
    snmpTrapAddress.0, snmpTrapCommunity.0 and snmpTrapEnterprise.0, each unless already present.
    """
    if 0 <= generic <= 5:
        trap_oid = f"{SNMP_TRAPS}.{generic + 1}"
    elif generic == 6:
        trap_oid = f"{enterprise}.0.{specific}"
    else:
        raise TrapError(f"generic-trap {generic} is out of range")
    out: list[VarBind] = [
        (SYS_UPTIME, "TimeTicks", timestamp),
        (SNMP_TRAP_OID, "ObjectIdentifier", trap_oid),
    ]
    out.extend(varbinds)
    present = {vb[0] for vb in varbinds}
    if SNMP_TRAP_ADDRESS not in present:
        out.append((SNMP_TRAP_ADDRESS, "IpAddress", agent_addr))
    if SNMP_TRAP_COMMUNITY not in present:
        out.append((SNMP_TRAP_COMMUNITY, "OctetString", community.encode("utf-8", "surrogateescape")))
    if SNMP_TRAP_ENTERPRISE not in present:
        out.append((SNMP_TRAP_ENTERPRISE, "ObjectIdentifier", enterprise))
    return out


def text_or_hex(raw: bytes) -> tuple[str, bool]:
    """(text, False) when the bytes are printable UTF-8 (a trailing NUL tolerated), else (hex, True)."""
    body = raw[:-1] if raw.endswith(b"\x00") else raw
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex(), True
    if text.isprintable() or all(c.isprintable() or c in "\t\r\n" for c in text):
        return text, False
    return raw.hex(), True


def community_text(raw: bytes) -> str:
    """A community as text for the record and the allow-list (non-UTF-8 bytes kept via surrogateescape)."""
    return raw.decode("utf-8", "surrogateescape")


def varbind_json(oid: str, typ: str, value: Any, resolver: MibResolver) -> dict[str, Any]:
    """One var-bind as the contract's {oid, name, type, value} (+ encoding, enum)."""
    name, enums = resolver.lookup(oid)
    out: dict[str, Any] = {"oid": oid, "name": name, "type": typ, "value": value}
    if isinstance(value, bytes):
        text, is_hex = text_or_hex(value)
        out["value"] = text
        if is_hex:
            out["encoding"] = "hex"
    elif enums is not None and typ == "Integer32":
        label = enums.get(str(value))
        if label is not None:
            out["enum"] = label
    return out


def trap_value(
    *,
    version: int,
    pdu: str,
    varbinds: list[VarBind],
    peer: tuple[str, int],
    received_at: str,
    resolver: MibResolver,
    community: str | None = None,
    user: str | None = None,
    agent_address: str | None = None,
    attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The raw.traps value of one notification whose var-binds are in the SNMPv2 form."""
    uptime: int | None = None
    trap_oid: str | None = None
    rest: list[dict[str, Any]] = []
    proxy_address: str | None = None
    for oid, typ, value in varbinds:
        if oid == SYS_UPTIME and uptime is None and isinstance(value, int):
            uptime = value
            continue
        if oid == SNMP_TRAP_OID and trap_oid is None and typ == "ObjectIdentifier":
            trap_oid = value
            continue
        if oid == SNMP_TRAP_ADDRESS and typ == "IpAddress":
            proxy_address = value
        rest.append(varbind_json(oid, typ, value, resolver))
    if trap_oid is None:
        raise TrapError("no snmpTrapOID.0 var-bind")
    if not agent_address or agent_address == "0.0.0.0":
        agent_address = proxy_address if proxy_address and proxy_address != "0.0.0.0" else peer[0]
    return {
        "schema": SCHEMA,
        "version": VERSIONS.get(version, str(version)),
        "pdu": pdu,
        "community": community,
        "user": user,
        "trap_oid": trap_oid,
        "trap_name": resolver.name(trap_oid),
        "agent_address": agent_address,
        "uptime": uptime,
        "varbinds": rest,
        "received_at": received_at,
        "peer": peer_text(peer),
        "attributes": attributes or {},
    }


def v1_value(
    *,
    enterprise: str,
    agent_addr: str,
    generic: int,
    specific: int,
    timestamp: int,
    varbinds: list[VarBind],
    community: str,
    peer: tuple[str, int],
    received_at: str,
    resolver: MibResolver,
) -> dict[str, Any]:
    """The raw.traps value of an SNMPv1 Trap-PDU, converted to the v2 form (RFC 3584)."""
    v2 = v1_to_v2(enterprise, agent_addr, generic, specific, timestamp, varbinds, community)
    return trap_value(
        version=0,
        pdu="trap",
        varbinds=v2,
        peer=peer,
        received_at=received_at,
        resolver=resolver,
        community=community,
        agent_address=agent_addr,
        attributes={
            "enterprise": enterprise,
            "enterprise_name": resolver.name(enterprise),
            "generic": generic,
            "specific": specific,
            "agent_addr": agent_addr,
        },
    )


# pysnmp value classes (by ASN.1 tag) -> contract type names, for PDUs the pysnmp engine decoded (v3).
def _pysnmp_types() -> dict[Any, str]:
    from pysnmp.proto import rfc1902, rfc1905

    return {
        rfc1902.Integer32.tagSet: "Integer32",
        rfc1902.OctetString.tagSet: "OctetString",
        rfc1902.ObjectIdentifier.tagSet: "ObjectIdentifier",
        rfc1902.IpAddress.tagSet: "IpAddress",
        rfc1902.Counter32.tagSet: "Counter32",
        rfc1902.Gauge32.tagSet: "Gauge32",
        rfc1902.TimeTicks.tagSet: "TimeTicks",
        rfc1902.Opaque.tagSet: "Opaque",
        rfc1902.Counter64.tagSet: "Counter64",
        rfc1902.Null.tagSet: "Null",
        rfc1905.NoSuchObject.tagSet: "noSuchObject",
        rfc1905.NoSuchInstance.tagSet: "noSuchInstance",
        rfc1905.EndOfMibView.tagSet: "endOfMibView",
    }


_PYSNMP_TYPES: dict[Any, str] | None = None


def from_pysnmp(varbinds: list[tuple[Any, Any]]) -> list[VarBind]:
    """pysnmp (oid, value) pairs -> the (oid, type, value) tuples the fast decoder also yields."""
    global _PYSNMP_TYPES
    if _PYSNMP_TYPES is None:
        _PYSNMP_TYPES = _pysnmp_types()
    out: list[VarBind] = []
    for oid, val in varbinds:
        typ = _PYSNMP_TYPES.get(val.tagSet)
        if typ is None:
            raise TrapError(f"unsupported value type {type(val).__name__}")
        if typ in ("OctetString", "Opaque"):
            py: Any = bytes(val.asOctets())
        elif typ == "ObjectIdentifier":
            py = oid_text(tuple(val))
        elif typ == "IpAddress":
            py = ".".join(str(b) for b in val.asOctets())
        elif typ in ("Null", "noSuchObject", "noSuchInstance", "endOfMibView"):
            py = None
        else:
            py = int(val)
        out.append((oid_text(tuple(oid)), typ, py))
    return out


def oid_text(arcs: tuple[int, ...]) -> str:
    """Dotted text of an OID pysnmp decoded, within RFC 2578's bounds (pyasn1 takes arcs of any size, and a
    4,300-digit arc made str() raise)."""
    if len(arcs) > MAX_OID_ARCS:
        raise TrapError("OID too long")
    if any(arc > MAX_ARC for arc in arcs):
        raise TrapError("OID arc too large")
    return ".".join(map(str, arcs))
