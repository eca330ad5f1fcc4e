"""The hand-written v1/v2c BER decoder against messages pysnmp/pyasn1 encode, and against malformed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1905

from vigie.producers.snmp import ber

V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]
V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]


def v2_message(pdu, community: str = "public") -> bytes:
    msg = V2.Message()
    V2.apiMessage.set_defaults(msg)
    V2.apiMessage.set_community(msg, community)
    V2.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


def v2_trap(varbinds, request_id: int = 7, inform: bool = False, community: str = "public") -> bytes:
    pdu = V2.InformRequestPDU() if inform else V2.SNMPv2TrapPDU()
    V2.apiPDU.set_defaults(pdu)
    V2.apiPDU.set_request_id(pdu, request_id)
    V2.apiPDU.set_varbinds(pdu, varbinds)
    return v2_message(pdu, community)


def v1_trap(
    enterprise="1.3.6.1.4.1.9", agent="10.0.0.1", generic=6, specific=17, ts=4242, varbinds=()
) -> bytes:
    pdu = V1.TrapPDU()
    V1.apiTrapPDU.set_defaults(pdu)
    V1.apiTrapPDU.set_enterprise(pdu, enterprise)
    V1.apiTrapPDU.set_agent_address(pdu, agent)
    V1.apiTrapPDU.set_generic_trap(pdu, generic)
    V1.apiTrapPDU.set_specific_trap(pdu, specific)
    V1.apiTrapPDU.set_timestamp(pdu, ts)
    V1.apiTrapPDU.set_varbinds(pdu, list(varbinds))
    msg = V1.Message()
    V1.apiMessage.set_defaults(msg)
    V1.apiMessage.set_community(msg, "public")
    V1.apiMessage.set_pdu(msg, pdu)
    return encoder.encode(msg)


HEADER = [
    (V2.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), V2.TimeTicks(12345)),
    (V2.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), V2.ObjectIdentifier("1.3.6.1.6.3.1.1.5.3")),
]


def test_v2c_trap_with_every_value_type() -> None:
    data = v2_trap(
        HEADER
        + [
            (V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.1.3"), V2.Integer(3)),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.1"), V2.Integer(-129)),
            (V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.2.3"), V2.OctetString("x" * 300)),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.2"), V2.OctetString(b"\x00\x11\xff")),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.3"), V2.ObjectIdentifier("2.999.1")),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.4"), V2.IpAddress("192.0.2.254")),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.5"), V2.Counter32(4294967295)),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.6"), V2.Gauge32(2**31)),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.7"), V2.TimeTicks(4294967295)),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.8"), V2.Counter64(2**64 - 1)),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.9"), V2.Opaque(b"\x9f\x78\x04")),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.10"), V2.Null("")),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.11"), rfc1905.noSuchObject),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.12"), rfc1905.noSuchInstance),
            (V2.ObjectIdentifier("1.3.6.1.4.1.1.13"), rfc1905.endOfMibView),
        ],
        request_id=-5,
    )
    msg = ber.decode(data)
    assert (msg.version, msg.community, msg.pdu_type, msg.request_id) == (1, b"public", ber.TRAP_V2, -5)
    assert msg.varbinds == [
        ("1.3.6.1.2.1.1.3.0", "TimeTicks", 12345),
        ("1.3.6.1.6.3.1.1.4.1.0", "ObjectIdentifier", "1.3.6.1.6.3.1.1.5.3"),
        ("1.3.6.1.2.1.2.2.1.1.3", "Integer32", 3),
        ("1.3.6.1.4.1.1.1", "Integer32", -129),
        ("1.3.6.1.2.1.2.2.1.2.3", "OctetString", b"x" * 300),
        ("1.3.6.1.4.1.1.2", "OctetString", b"\x00\x11\xff"),
        ("1.3.6.1.4.1.1.3", "ObjectIdentifier", "2.999.1"),
        ("1.3.6.1.4.1.1.4", "IpAddress", "192.0.2.254"),
        ("1.3.6.1.4.1.1.5", "Counter32", 4294967295),
        ("1.3.6.1.4.1.1.6", "Gauge32", 2**31),
        ("1.3.6.1.4.1.1.7", "TimeTicks", 4294967295),
        ("1.3.6.1.4.1.1.8", "Counter64", 2**64 - 1),
        ("1.3.6.1.4.1.1.9", "Opaque", b"\x9f\x78\x04"),
        ("1.3.6.1.4.1.1.10", "Null", None),
        ("1.3.6.1.4.1.1.11", "noSuchObject", None),
        ("1.3.6.1.4.1.1.12", "noSuchInstance", None),
        ("1.3.6.1.4.1.1.13", "endOfMibView", None),
    ]


def test_v1_trap_fields() -> None:
    data = v1_trap(varbinds=[(V1.ObjectIdentifier("1.3.6.1.2.1.2.2.1.1.2"), V1.Integer(2))])
    msg = ber.decode(data)
    assert (msg.version, msg.pdu_type) == (0, ber.TRAP_V1)
    assert (msg.enterprise, msg.agent_addr, msg.generic, msg.specific, msg.timestamp) == (
        "1.3.6.1.4.1.9",
        "10.0.0.1",
        6,
        17,
        4242,
    )
    assert msg.varbinds == [("1.3.6.1.2.1.2.2.1.1.2", "Integer32", 2)]


def test_inform_response_is_the_response_pysnmp_expects() -> None:
    varbinds = HEADER + [(V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.2.3"), V2.OctetString("y" * 200))]
    msg = ber.decode(v2_trap(varbinds, request_id=123456, inform=True, community="c" * 130))
    assert msg.pdu_type == ber.INFORM
    reply, rest = decoder.decode(ber.inform_response(msg), asn1Spec=V2.Message())
    assert rest == b""
    assert str(V2.apiMessage.get_community(reply)) == "c" * 130
    pdu = V2.apiMessage.get_pdu(reply)
    assert pdu.tagSet == V2.GetResponsePDU.tagSet
    assert int(V2.apiPDU.get_request_id(pdu)) == 123456
    assert int(V2.apiPDU.get_error_status(pdu)) == 0
    assert [(str(o), v.prettyPrint()) for o, v in V2.apiPDU.get_varbinds(pdu)] == [
        (str(o), v.prettyPrint()) for o, v in varbinds
    ]


def test_peek_version_and_v3_header() -> None:
    assert ber.peek_version(v1_trap()) == 0
    assert ber.peek_version(v2_trap(HEADER)) == 1
    # a v3 discovery probe as net-snmp sends it: empty engine ID and user, reportable flag
    probe = bytes.fromhex(
        "304f020103301102041a8c7916020300ffe30401040201030410300e0400020100020100040004000400"
        "3025041180001f888074142b0b27a30b6b000000000400a00e0204548946f80201000201003000"
    )
    assert ber.peek_version(probe) == 3
    assert ber.v3_header(probe) == (b"", b"", 4)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x80\x02\x01\x01\x00\x00",  # indefinite length
        b"\x30\x03\x02\x01",  # truncated
        b"\x31\x03\x02\x01\x01",  # not a SEQUENCE
        b"\x30\x85\x01\x00\x00\x00\x00",  # absurd length
        b"\x30\x06\x02\x01\x01\x04\x01p",  # no PDU
    ],
)
def test_garbage_raises_ber_error(data: bytes) -> None:
    with pytest.raises(ber.BerError):
        ber.decode(data)


def test_unknown_value_tag_and_trailing_bytes_are_refused() -> None:
    good = v2_trap(HEADER)
    with pytest.raises(ber.BerError):
        ber.decode(good + b"\x00")
    bad = bytearray(good)
    i = bad.rindex(bytes.fromhex("0609"))  # snmpTrapOID's value: an OID of 9 bytes -> unknown tag 0x1e
    bad[i] = 0x1E
    with pytest.raises(ber.BerError):
        ber.decode(bytes(bad))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        ber.decode(data)
    except ber.BerError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200).flatmap(lambda n: st.tuples(st.just(n), st.binary(min_size=1, max_size=4))))
def test_corrupting_any_byte_raises_only_ber_error(case: tuple[int, bytes]) -> None:
    pos, junk = case
    good = bytearray(v2_trap(HEADER + [(V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.1.3"), V2.Integer(3))]))
    pos %= len(good)
    good[pos : pos + len(junk)] = junk
    try:
        ber.decode(bytes(good))
    except ber.BerError:
        pass


def test_integers_beyond_their_smi_size_are_refused_with_a_short_reason() -> None:
    from tests.snmp_datagrams import big_integer_trap, oid, tlv, v2c_trap, varbind

    with pytest.raises(ber.BerError, match="^integer too long$"):
        ber.decode(big_integer_trap(3000))
    with pytest.raises(ber.BerError, match="^integer too long$"):
        ber.decode(big_integer_trap(5))
    assert ber.decode(big_integer_trap(4)).varbinds[2][2] == 0x7F7F7F7F
    name = oid("1.3.6.1.4.1.3")
    assert ber.decode(v2c_trap(varbind(name, tlv(0x41, b"\x00\xff\xff\xff\xff")))).varbinds[2][2] == 2**32 - 1
    with pytest.raises(ber.BerError, match="^integer out of range$"):
        ber.decode(v2c_trap(varbind(name, tlv(0x41, b"\x01\x00\x00\x00\x00"))))
    with pytest.raises(ber.BerError, match="^integer too long$"):
        ber.decode(v2c_trap(varbind(name, tlv(0x43, b"\x00" * 6))))
    assert ber.decode(v2c_trap(varbind(name, tlv(0x46, b"\x00" + b"\xff" * 8)))).varbinds[2][2] == 2**64 - 1
    with pytest.raises(ber.BerError, match="^integer too long$"):
        ber.decode(v2c_trap(varbind(name, tlv(0x46, b"\x01" * 10))))
    with pytest.raises(ber.BerError, match="^integer too long$"):
        ber.decode(v2c_trap(request_id=b"\x01" * 5))


def test_oid_arcs_and_lengths_beyond_rfc_2578_are_refused() -> None:
    from tests.snmp_datagrams import huge_arc_trap, oid, tlv, v2c_trap, varbind

    with pytest.raises(ber.BerError, match="^OID too long$"):  # 2,100 bytes: refused before any arc is read
        ber.decode(huge_arc_trap(4400))
    with pytest.raises(ber.BerError, match="^OID arc too large$"):
        ber.decode(huge_arc_trap(100))
    name = oid("1.3.6.1.4.1.3")
    top = f"1.3.6.1.4.1.{2**32 - 1}"
    assert ber.decode(v2c_trap(varbind(name, oid(top)))).varbinds[2][2] == top
    with pytest.raises(ber.BerError, match="^OID arc too large$"):
        ber.decode(v2c_trap(varbind(name, oid(f"1.3.6.1.4.1.{2**32}"))))
    assert ber.decode(v2c_trap(varbind(name, oid(f"2.{2**32 - 1}")))).varbinds[2][2] == f"2.{2**32 - 1}"
    longest = "1.3" + ".1" * 126
    assert ber.decode(v2c_trap(varbind(oid(longest), tlv(0x05, b"")))).varbinds[2][0] == longest
    with pytest.raises(ber.BerError, match="^OID too long$"):
        ber.decode(v2c_trap(varbind(oid(longest + ".1"), tlv(0x05, b""))))
