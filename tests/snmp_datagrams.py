"""Hand-built SNMP datagrams for tests: BER pieces an encoder would refuse to produce (huge integers, arcs)."""

from __future__ import annotations


def length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    return bytes((tag,)) + length(len(body)) + body


def oid_body(text: str) -> bytes:
    arcs = [int(a) for a in text.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        group = [arc & 0x7F]
        arc >>= 7
        while arc:
            group.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(group))
    return bytes(out)


def oid(text: str) -> bytes:
    return tlv(0x06, oid_body(text))


def varbind(name: bytes, value: bytes) -> bytes:
    """One var-bind from an encoded OID TLV and an encoded value TLV."""
    return tlv(0x30, name + value)


LINK_DOWN_HEADER = varbind(oid("1.3.6.1.2.1.1.3.0"), tlv(0x43, b"\x01")) + varbind(
    oid("1.3.6.1.6.3.1.1.4.1.0"), oid("1.3.6.1.6.3.1.1.5.3")
)


def v2c_trap(*varbinds: bytes, community: bytes = b"public", request_id: bytes = b"\x01") -> bytes:
    """A v2c SNMPv2-Trap with the linkDown header var-binds followed by `varbinds` (encoded)."""
    body = tlv(0x02, request_id) + tlv(0x02, b"\x00") + tlv(0x02, b"\x00")
    body += tlv(0x30, LINK_DOWN_HEADER + b"".join(varbinds))
    return tlv(0x30, tlv(0x02, b"\x01") + tlv(0x04, community) + tlv(0xA7, body))


def big_integer_trap(size: int = 3000) -> bytes:
    """A v2c trap whose third var-bind is an Integer32 of `size` bytes."""
    return v2c_trap(varbind(oid("1.3.6.1.4.1.1"), tlv(0x02, b"\x7f" * size)))


def huge_arc_trap(digits: int = 4400) -> bytes:
    """A v2c trap with an OID value whose last arc has about `digits` decimal digits."""
    groups = digits * 10 // 21 + 1  # 7 bits per byte, log10(2**7) = 2.107 digits
    arc = b"\xff" * groups + b"\x7f"
    return v2c_trap(varbind(oid("1.3.6.1.4.1.2"), tlv(0x06, oid_body("1.3.6") + arc)))


def sample_trap(request_id: int = 1) -> bytes:
    """A typical v2c linkDown (ifIndex, ifDescr, ifAdminStatus, ifOperStatus), encoded by pysnmp/pyasn1."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api

    p = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = p.SNMPv2TrapPDU()
    p.apiTrapPDU.set_defaults(pdu)
    p.apiPDU.set_request_id(pdu, request_id)
    p.apiTrapPDU.set_varbinds(
        pdu,
        [
            (p.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), p.TimeTicks(123456)),
            (p.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), p.ObjectIdentifier("1.3.6.1.6.3.1.1.5.3")),
            (p.ObjectIdentifier("1.3.6.1.2.1.2.2.1.1.3"), p.Integer(3)),
            (p.ObjectIdentifier("1.3.6.1.2.1.2.2.1.2.3"), p.OctetString("GigabitEthernet0/3")),
            (p.ObjectIdentifier("1.3.6.1.2.1.2.2.1.7.3"), p.Integer(1)),
            (p.ObjectIdentifier("1.3.6.1.2.1.2.2.1.8.3"), p.Integer(2)),
        ],
    )
    msg = p.Message()
    p.apiMessage.set_defaults(msg)
    p.apiMessage.set_community(msg, "public")
    p.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)
