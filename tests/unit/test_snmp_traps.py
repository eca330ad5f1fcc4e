"""raw.traps values: RFC 3584 v1-to-v2 conversion, MIB names, JSON-friendly values, the trap/1 schema."""

from __future__ import annotations

import pytest
from pysnmp.proto import api, rfc1905

from vigie.producers.snmp.mibnames import MibResolver
from vigie.producers.snmp.traps import (
    SNMP_TRAP_ADDRESS,
    SNMP_TRAP_COMMUNITY,
    SNMP_TRAP_ENTERPRISE,
    SNMP_TRAP_OID,
    SYS_UPTIME,
    TrapError,
    from_pysnmp,
    text_or_hex,
    trap_value,
    v1_to_v2,
    v1_value,
)
from vigie.schemas.codec import dumps, loads
from vigie.schemas.validate import validate

V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
PEER = ("192.0.2.7", 40000)
AT = "2026-01-02T03:04:05.000000Z"


@pytest.fixture(scope="module")
def resolver() -> MibResolver:
    return MibResolver.standard()


@pytest.mark.parametrize(
    ("generic", "oid", "name"),
    [
        (0, "1.3.6.1.6.3.1.1.5.1", "SNMPv2-MIB::coldStart"),
        (1, "1.3.6.1.6.3.1.1.5.2", "SNMPv2-MIB::warmStart"),
        (2, "1.3.6.1.6.3.1.1.5.3", "IF-MIB::linkDown"),
        (3, "1.3.6.1.6.3.1.1.5.4", "IF-MIB::linkUp"),
        (4, "1.3.6.1.6.3.1.1.5.5", "SNMPv2-MIB::authenticationFailure"),
        (5, "1.3.6.1.6.3.1.1.5.6", None),  # egpNeighborLoss: RFC 1213, not in the shipped set
    ],
)
def test_generic_v1_traps_map_to_snmp_traps(
    generic: int, oid: str, name: str | None, resolver: MibResolver
) -> None:
    value = v1_value(
        enterprise="1.3.6.1.4.1.9.1.1",
        agent_addr="10.0.0.1",
        generic=generic,
        specific=0,
        timestamp=500,
        varbinds=[("1.3.6.1.2.1.2.2.1.1.4", "Integer32", 4)],
        community="public",
        peer=PEER,
        received_at=AT,
        resolver=resolver,
    )
    assert value["trap_oid"] == oid
    if name:
        assert value["trap_name"] == name
    assert value["uptime"] == 500
    assert value["agent_address"] == "10.0.0.1"
    assert value["attributes"] == {
        "enterprise": "1.3.6.1.4.1.9.1.1",
        "enterprise_name": "SNMPv2-SMI::enterprises.9.1.1",
        "generic": generic,
        "specific": 0,
        "agent_addr": "10.0.0.1",
    }
    validate(loads(dumps(value)), "trap/1")


def test_enterprise_specific_and_appended_varbinds() -> None:
    v2 = v1_to_v2(
        "1.3.6.1.4.1.9.9.41.2",
        "10.0.0.9",
        6,
        1,
        77,
        [("1.3.6.1.4.1.9.9.41.1.2.3.1.2.5", "OctetString", b"SYS")],
        "pub",
    )
    assert v2 == [
        (SYS_UPTIME, "TimeTicks", 77),
        (SNMP_TRAP_OID, "ObjectIdentifier", "1.3.6.1.4.1.9.9.41.2.0.1"),
        ("1.3.6.1.4.1.9.9.41.1.2.3.1.2.5", "OctetString", b"SYS"),
        (SNMP_TRAP_ADDRESS, "IpAddress", "10.0.0.9"),
        (SNMP_TRAP_COMMUNITY, "OctetString", b"pub"),
        (SNMP_TRAP_ENTERPRISE, "ObjectIdentifier", "1.3.6.1.4.1.9.9.41.2"),
    ]


def test_rfc3584_varbinds_are_not_added_twice() -> None:
    given = [(SNMP_TRAP_ADDRESS, "IpAddress", "10.9.9.9"), (SNMP_TRAP_COMMUNITY, "OctetString", b"orig")]
    v2 = v1_to_v2("1.3.6.1.4.1.9", "10.0.0.1", 0, 0, 1, given, "public")
    assert [vb[0] for vb in v2].count(SNMP_TRAP_ADDRESS) == 1
    assert [vb[0] for vb in v2].count(SNMP_TRAP_COMMUNITY) == 1
    assert v2[-1] == (SNMP_TRAP_ENTERPRISE, "ObjectIdentifier", "1.3.6.1.4.1.9")


def test_bad_generic_trap_is_refused() -> None:
    with pytest.raises(TrapError):
        v1_to_v2("1.3.6.1.4.1.9", "10.0.0.1", 7, 0, 1, [], "public")


def test_v2c_link_down_value(resolver: MibResolver) -> None:
    value = trap_value(
        version=1,
        pdu="trap",
        varbinds=[
            (SYS_UPTIME, "TimeTicks", 12345),
            (SNMP_TRAP_OID, "ObjectIdentifier", "1.3.6.1.6.3.1.1.5.3"),
            ("1.3.6.1.2.1.2.2.1.1.3", "Integer32", 3),
            ("1.3.6.1.2.1.2.2.1.2.3", "OctetString", b"GigabitEthernet0/3"),
            ("1.3.6.1.2.1.2.2.1.7.3", "Integer32", 1),
            ("1.3.6.1.2.1.2.2.1.8.3", "Integer32", 2),
            ("1.3.6.1.2.1.2.2.1.6.3", "OctetString", b"\x00\x1b\x21\x3c\x4d\x5e"),
        ],
        peer=PEER,
        received_at=AT,
        resolver=resolver,
        community="public",
    )
    assert value == {
        "schema": "trap/1",
        "version": "v2c",
        "pdu": "trap",
        "community": "public",
        "user": None,
        "trap_oid": "1.3.6.1.6.3.1.1.5.3",
        "trap_name": "IF-MIB::linkDown",
        "agent_address": "192.0.2.7",
        "uptime": 12345,
        "varbinds": [
            {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "IF-MIB::ifIndex.3", "type": "Integer32", "value": 3},
            {
                "oid": "1.3.6.1.2.1.2.2.1.2.3",
                "name": "IF-MIB::ifDescr.3",
                "type": "OctetString",
                "value": "GigabitEthernet0/3",
            },
            {
                "oid": "1.3.6.1.2.1.2.2.1.7.3",
                "name": "IF-MIB::ifAdminStatus.3",
                "type": "Integer32",
                "value": 1,
                "enum": "up",
            },
            {
                "oid": "1.3.6.1.2.1.2.2.1.8.3",
                "name": "IF-MIB::ifOperStatus.3",
                "type": "Integer32",
                "value": 2,
                "enum": "down",
            },
            {
                "oid": "1.3.6.1.2.1.2.2.1.6.3",
                "name": "IF-MIB::ifPhysAddress.3",
                "type": "OctetString",
                "value": "001b213c4d5e",
                "encoding": "hex",
            },
        ],
        "received_at": AT,
        "peer": "192.0.2.7:40000",
        "attributes": {},
    }
    validate(loads(dumps(value)), "trap/1")


def test_agent_address_prefers_proxy_varbind(resolver: MibResolver) -> None:
    value = trap_value(
        version=1,
        pdu="inform",
        varbinds=[
            (SNMP_TRAP_OID, "ObjectIdentifier", "1.3.6.1.6.3.1.1.5.1"),
            (SNMP_TRAP_ADDRESS, "IpAddress", "10.20.30.40"),
        ],
        peer=PEER,
        received_at=AT,
        resolver=resolver,
        community="public",
    )
    assert value["agent_address"] == "10.20.30.40"
    assert value["uptime"] is None
    assert value["varbinds"][0]["name"] == "SNMP-COMMUNITY-MIB::snmpTrapAddress.0"


def test_v1_zero_agent_addr_falls_back_to_peer(resolver: MibResolver) -> None:
    value = v1_value(
        enterprise="1.3.6.1.4.1.8072.3.2.10",
        agent_addr="0.0.0.0",
        generic=0,
        specific=0,
        timestamp=1,
        varbinds=[],
        community="public",
        peer=PEER,
        received_at=AT,
        resolver=resolver,
    )
    assert value["agent_address"] == "192.0.2.7"
    assert value["attributes"]["agent_addr"] == "0.0.0.0"


def test_missing_trap_oid_is_an_error(resolver: MibResolver) -> None:
    with pytest.raises(TrapError):
        trap_value(
            version=1,
            pdu="trap",
            varbinds=[(SYS_UPTIME, "TimeTicks", 1)],
            peer=PEER,
            received_at=AT,
            resolver=resolver,
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"eth0", ("eth0", False)),
        ("Modèle €".encode(), ("Modèle €", False)),
        (b"line1\nline2\t", ("line1\nline2\t", False)),
        (b"trailing nul\x00", ("trailing nul", False)),
        (b"", ("", False)),
        (b"\x00\x11\x22", ("001122", True)),
        (b"\xff\xfe", ("fffe", True)),
        (b"bell\x07", ("62656c6c07", True)),
    ],
)
def test_octet_strings_are_text_or_hex(raw: bytes, expected: tuple[str, bool]) -> None:
    assert text_or_hex(raw) == expected


def test_from_pysnmp_matches_the_fast_decoder_types() -> None:
    pairs = [
        (V2.ObjectIdentifier("1.3.6.1.2.1.1.3.0"), V2.TimeTicks(5)),
        (V2.ObjectIdentifier("1.3.6.1.6.3.1.1.4.1.0"), V2.ObjectIdentifier("1.3.6.1.6.3.1.1.5.4")),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.1"), V2.Integer(-1)),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.2"), V2.OctetString(b"\x01\x02")),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.3"), V2.IpAddress("10.1.2.3")),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.4"), V2.Counter32(7)),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.5"), V2.Gauge32(8)),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.6"), V2.Counter64(2**64 - 1)),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.7"), V2.Opaque(b"\x01")),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.8"), V2.Null("")),
        (V2.ObjectIdentifier("1.3.6.1.4.1.1.9"), rfc1905.noSuchInstance),
    ]
    assert from_pysnmp(pairs) == [
        ("1.3.6.1.2.1.1.3.0", "TimeTicks", 5),
        ("1.3.6.1.6.3.1.1.4.1.0", "ObjectIdentifier", "1.3.6.1.6.3.1.1.5.4"),
        ("1.3.6.1.4.1.1.1", "Integer32", -1),
        ("1.3.6.1.4.1.1.2", "OctetString", b"\x01\x02"),
        ("1.3.6.1.4.1.1.3", "IpAddress", "10.1.2.3"),
        ("1.3.6.1.4.1.1.4", "Counter32", 7),
        ("1.3.6.1.4.1.1.5", "Gauge32", 8),
        ("1.3.6.1.4.1.1.6", "Counter64", 2**64 - 1),
        ("1.3.6.1.4.1.1.7", "Opaque", b"\x01"),
        ("1.3.6.1.4.1.1.8", "Null", None),
        ("1.3.6.1.4.1.1.9", "noSuchInstance", None),
    ]


def test_counter64_survives_json(resolver: MibResolver) -> None:
    value = trap_value(
        version=1,
        pdu="trap",
        varbinds=[
            (SNMP_TRAP_OID, "ObjectIdentifier", "1.3.6.1.4.1.9.0.1"),
            ("1.3.6.1.2.1.31.1.1.1.6.1", "Counter64", 2**64 - 1),
        ],
        peer=PEER,
        received_at=AT,
        resolver=resolver,
    )
    decoded = loads(dumps(value))
    assert decoded["varbinds"][0]["value"] == 2**64 - 1
    assert decoded["trap_name"] == "SNMPv2-SMI::enterprises.9.0.1"
