"""A strict, fast BER decoder for SNMPv1/v2c notification messages (the receiver's hot path; v3 goes through pysnmp).

pyasn1 decodes some 800 v2c traps/s on one core here, short of the 2,000/s target, so v1/v2c messages are
decoded by hand. Only what SNMP allows is accepted (RFC 3417: definite lengths, primitive strings,
single-byte tags); anything else raises BerError and the datagram is dead-lettered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Tags of the PDUs a notification receiver meets (RFC 1157, RFC 3416).
TRAP_V1 = 0xA4
INFORM = 0xA6
TRAP_V2 = 0xA7
RESPONSE = 0xA2
PDU_NAMES = {
    0xA0: "get",
    0xA1: "getnext",
    0xA2: "response",
    0xA3: "set",
    TRAP_V1: "trap",
    0xA5: "getbulk",
    INFORM: "inform",
    TRAP_V2: "trap",
    0xA8: "report",
}

# Value tags -> the SMIv2 type name the trap contract uses.
TYPE_NAMES = {
    0x02: "Integer32",
    0x04: "OctetString",
    0x05: "Null",
    0x06: "ObjectIdentifier",
    0x40: "IpAddress",
    0x41: "Counter32",
    0x42: "Gauge32",
    0x43: "TimeTicks",
    0x44: "Opaque",
    0x46: "Counter64",
    0x80: "noSuchObject",
    0x81: "noSuchInstance",
    0x82: "endOfMibView",
}
_UNSIGNED = {0x41, 0x42, 0x43, 0x46}

VarBind = tuple[str, str, Any]
"""(dotted OID, SMIv2 type name, Python value: int, bytes, str (OID or IP address) or None)."""


class BerError(ValueError):
    """The datagram is not a well-formed SNMP message."""


@dataclass(slots=True)
class Message:
    """One decoded v1/v2c message: header, PDU fields and var-binds, plus the raw pieces an INFORM reply reuses."""

    version: int  # 0 = v1, 1 = v2c
    community: bytes
    pdu_type: int
    varbinds: list[VarBind]
    request_id: int = 0
    # v1 Trap-PDU fields
    enterprise: str = ""
    agent_addr: str = ""
    generic: int = 0
    specific: int = 0
    timestamp: int = 0
    # raw TLVs for building a Response to an INFORM without re-encoding the var-binds
    raw: dict[str, bytes] = field(default_factory=dict)


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one tag-length header at `pos`; returns (tag, content start, content stop)."""
    if pos + 2 > end:
        raise BerError("truncated header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tag")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0:
            raise BerError("indefinite length")
        if n > 4 or pos + n > end:
            raise BerError("bad length")
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    stop = pos + length
    if stop > end:
        raise BerError("truncated value")
    return tag, pos, stop


def _expect(data: bytes, pos: int, end: int, tag: int) -> tuple[int, int]:
    t, start, stop = _tlv(data, pos, end)
    if t != tag:
        raise BerError(f"expected tag 0x{tag:02x}, got 0x{t:02x}")
    return start, stop


def _int(data: bytes, start: int, stop: int) -> int:
    """An INTEGER that SNMP bounds to 32 bits (Integer32, request-id, error fields, v1 generic/specific).

    X.690 8.3.2 forbids redundant leading bytes, so 4 bytes hold any of them: a longer one is refused
    before it becomes a Python int that nothing downstream can serialize (a 3,000-byte Integer32 once
    reached the JSON encoder and raised there).
    """
    if start == stop:
        raise BerError("empty integer")
    if stop - start > 4:
        raise BerError("integer too long")
    return int.from_bytes(data[start:stop], "big", signed=True)


def _uint(data: bytes, start: int, stop: int, bits: int) -> int:
    """An unsigned SMI integer (Counter32, Gauge32, TimeTicks: 32 bits; Counter64: 64): one leading zero allowed."""
    if start == stop:
        raise BerError("empty integer")
    if stop - start > bits // 8 + 1:
        raise BerError("integer too long")
    value = int.from_bytes(data[start:stop], "big", signed=False)
    if value >> bits:
        raise BerError("integer out of range")
    return value


_OID_CACHE: dict[bytes, str] = {}
_OID_CACHE_MAX = 65536
# RFC 2578 3.5: at most 128 sub-identifiers, each at most 2^32-1 (5 bytes of 7 bits); the first encoded
# sub-identifier holds two arcs (40 * first + second), hence the 80 more it may carry.
MAX_OID_ARCS = 128
MAX_ARC = 0xFFFFFFFF
_MAX_OID_BYTES = MAX_OID_ARCS * 5


def _oid(data: bytes, start: int, stop: int) -> str:
    """Decode an OBJECT IDENTIFIER to dotted text (cached: the same OIDs come in every trap)."""
    raw = data[start:stop]
    cached = _OID_CACHE.get(raw)
    if cached is not None:
        return cached
    if not raw:
        raise BerError("empty OID")
    if len(raw) > _MAX_OID_BYTES:
        raise BerError("OID too long")
    arcs: list[int] = []
    acc = 0
    for b in raw:
        if acc == 0 and b == 0x80:
            raise BerError("OID arc with leading 0x80")
        acc = (acc << 7) | (b & 0x7F)
        if not b & 0x80:
            if acc > MAX_ARC and (arcs or acc > MAX_ARC + 80):
                raise BerError("OID arc too large")
            arcs.append(acc)
            acc = 0
        elif acc > MAX_ARC + 80:
            raise BerError("OID arc too large")
    if raw[-1] & 0x80:
        raise BerError("truncated OID")
    if len(arcs) >= MAX_OID_ARCS:  # the first encoded sub-identifier is two arcs
        raise BerError("OID too long")
    first = arcs[0]
    if first < 40:
        head = [0, first]
    elif first < 80:
        head = [1, first - 40]
    else:
        head = [2, first - 80]
    text = ".".join(map(str, head + arcs[1:]))
    if len(_OID_CACHE) >= _OID_CACHE_MAX:
        _OID_CACHE.clear()
    _OID_CACHE[raw] = text
    return text


def _ip(data: bytes, start: int, stop: int) -> str:
    if stop - start != 4:
        raise BerError("IpAddress is not 4 bytes")
    a, b, c, d = data[start:stop]
    return f"{a}.{b}.{c}.{d}"


def _value(data: bytes, tag: int, start: int, stop: int) -> tuple[str, Any]:
    """Decode one var-bind value into (type name, Python value)."""
    if tag == 0x02:
        return "Integer32", _int(data, start, stop)
    if tag == 0x04 or tag == 0x44:
        return TYPE_NAMES[tag], data[start:stop]
    if tag == 0x06:
        return "ObjectIdentifier", _oid(data, start, stop)
    if tag in _UNSIGNED:
        return TYPE_NAMES[tag], _uint(data, start, stop, 64 if tag == 0x46 else 32)
    if tag == 0x40:
        return "IpAddress", _ip(data, start, stop)
    if tag in (0x05, 0x80, 0x81, 0x82):
        return TYPE_NAMES[tag], None
    raise BerError(f"unknown value tag 0x{tag:02x}")


def _varbinds(data: bytes, pos: int, end: int) -> list[VarBind]:
    out: list[VarBind] = []
    while pos < end:
        start, stop = _expect(data, pos, end, 0x30)
        ostart, ostop = _expect(data, start, stop, 0x06)
        vtag, vstart, vstop = _tlv(data, ostop, stop)
        if vstop != stop:
            raise BerError("trailing bytes in var-bind")
        typ, val = _value(data, vtag, vstart, vstop)
        out.append((_oid(data, ostart, ostop), typ, val))
        pos = stop
    return out


def peek_version(data: bytes) -> int:
    """The msgVersion of any SNMP message (0 = v1, 1 = v2c, 3 = v3), without decoding the rest."""
    try:
        start, stop = _expect(data, 0, len(data), 0x30)
        vstart, vstop = _expect(data, start, stop, 0x02)
        if vstop - vstart > 4:
            raise BerError("version too long")
        return _int(data, vstart, vstop)
    except IndexError as exc:  # pragma: no cover - _tlv checks bounds, this is belt and braces
        raise BerError("truncated") from exc


def decode(data: bytes) -> Message:
    """Decode a v1/v2c message; raises BerError on anything SNMP does not allow."""
    try:
        return _decode(data)
    except (IndexError, OverflowError) as exc:
        raise BerError(str(exc) or "truncated") from exc


def _decode(data: bytes) -> Message:
    end = len(data)
    mstart, mstop = _expect(data, 0, end, 0x30)
    if mstop != end:
        raise BerError("trailing bytes after message")
    vstart, vstop = _expect(data, mstart, mstop, 0x02)
    version = _int(data, vstart, vstop)
    if version not in (0, 1):
        raise BerError(f"not a v1/v2c message (version {version})")
    cstart, cstop = _expect(data, vstop, mstop, 0x04)
    pdu_type, pstart, pstop = _tlv(data, cstop, mstop)
    if pstop != mstop:
        raise BerError("trailing bytes after PDU")
    msg = Message(version=version, community=data[cstart:cstop], pdu_type=pdu_type, varbinds=[])
    if pdu_type == TRAP_V1:
        estart, estop = _expect(data, pstart, pstop, 0x06)
        msg.enterprise = _oid(data, estart, estop)
        atag, astart, astop = _tlv(data, estop, pstop)
        if atag != 0x40:  # NetworkAddress CHOICE: internet IpAddress only
            raise BerError("agent-addr is not an IpAddress")
        msg.agent_addr = _ip(data, astart, astop)
        gstart, gstop = _expect(data, astop, pstop, 0x02)
        msg.generic = _int(data, gstart, gstop)
        sstart, sstop = _expect(data, gstop, pstop, 0x02)
        msg.specific = _int(data, sstart, sstop)
        tstart, tstop = _expect(data, sstop, pstop, 0x43)
        msg.timestamp = _uint(data, tstart, tstop, 32)
        lstart, lstop = _expect(data, tstop, pstop, 0x30)
    elif 0xA0 <= pdu_type <= 0xA8:
        rstart, rstop = _expect(data, pstart, pstop, 0x02)
        msg.request_id = _int(data, rstart, rstop)
        _, es_stop = _expect(data, rstop, pstop, 0x02)
        _, ei_stop = _expect(data, es_stop, pstop, 0x02)
        lstart, lstop = _expect(data, ei_stop, pstop, 0x30)
        msg.raw = {
            "version": data[mstart:vstop],
            "community": data[vstop:cstop],
            "request_id": data[pstart:rstop],
            "varbinds": data[ei_stop:lstop],
        }
    else:
        raise BerError(f"unknown PDU tag 0x{pdu_type:02x}")
    if lstop != pstop:
        raise BerError("trailing bytes after var-binds")
    msg.varbinds = _varbinds(data, lstart, lstop)
    return msg


def _len(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def inform_response(msg: Message) -> bytes:
    """The Response-PDU that acknowledges an INFORM: same version, community, request-id and var-binds (RFC 3416 4.2.7)."""
    raw = msg.raw
    body = raw["request_id"] + b"\x02\x01\x00\x02\x01\x00" + raw["varbinds"]
    pdu = bytes((RESPONSE,)) + _len(len(body)) + body
    inner = raw["version"] + raw["community"] + pdu
    return b"\x30" + _len(len(inner)) + inner


class V3Header(NamedTuple):
    """The USM fields of a v3 message that the receiver checks itself (RFC 3414 2.4)."""

    engine_id: bytes  # msgAuthoritativeEngineID
    boots: int  # msgAuthoritativeEngineBoots
    time: int  # msgAuthoritativeEngineTime
    user: bytes  # msgUserName
    flags: int  # msgFlags (1 auth, 2 priv, 4 reportable)


def v3_security(data: bytes) -> V3Header:
    """The msgFlags and USM security parameters of a v3 message; raises BerError when they are malformed."""
    try:
        end = len(data)
        mstart, mstop = _expect(data, 0, end, 0x30)
        _, vstop = _expect(data, mstart, mstop, 0x02)
        gstart, gstop = _expect(data, vstop, mstop, 0x30)
        _, idstop = _expect(data, gstart, gstop, 0x02)
        _, maxstop = _expect(data, idstop, gstop, 0x02)
        fstart, fstop = _expect(data, maxstop, gstop, 0x04)
        flags = data[fstart] if fstop > fstart else 0
        pstart, pstop = _expect(data, gstop, mstop, 0x04)
        sstart, sstop = _expect(data, pstart, pstop, 0x30)
        estart, estop = _expect(data, sstart, sstop, 0x04)
        bstart, bstop = _expect(data, estop, sstop, 0x02)
        tstart, tstop = _expect(data, bstop, sstop, 0x02)
        ustart, ustop = _expect(data, tstop, sstop, 0x04)
        return V3Header(
            data[estart:estop],
            _int(data, bstart, bstop),
            _int(data, tstart, tstop),
            data[ustart:ustop],
            flags,
        )
    except IndexError as exc:  # pragma: no cover - _tlv checks bounds
        raise BerError("truncated") from exc


def v3_header(data: bytes) -> tuple[bytes, bytes, int]:
    """(msgAuthoritativeEngineID, msgUserName, msgFlags) of a v3 USM message, to classify what pysnmp rejected."""
    header = v3_security(data)
    return header.engine_id, header.user, header.flags
