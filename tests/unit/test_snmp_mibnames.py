"""OID naming: the shipped table (SNMPv2-MIB, IF-MIB, ...) and MIB directories given in the settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vigie.producers.snmp.mibgen import DEFAULT_MODULES, TABLE_FORMAT, dump_table, table_from_compiled
from vigie.producers.snmp.mibnames import SHIPPED_TABLE, MibResolver, load_table


@pytest.fixture(scope="module")
def resolver() -> MibResolver:
    return MibResolver.standard()


@pytest.mark.parametrize(
    ("oid", "name"),
    [
        ("1.3.6.1.6.3.1.1.5.1", "SNMPv2-MIB::coldStart"),
        ("1.3.6.1.6.3.1.1.5.2", "SNMPv2-MIB::warmStart"),
        ("1.3.6.1.6.3.1.1.5.3", "IF-MIB::linkDown"),
        ("1.3.6.1.6.3.1.1.5.4", "IF-MIB::linkUp"),
        ("1.3.6.1.6.3.1.1.5.5", "SNMPv2-MIB::authenticationFailure"),
        ("1.3.6.1.2.1.1.3.0", "SNMPv2-MIB::sysUpTime.0"),
        ("1.3.6.1.6.3.1.1.4.1.0", "SNMPv2-MIB::snmpTrapOID.0"),
        ("1.3.6.1.2.1.2.2.1.1.3", "IF-MIB::ifIndex.3"),
        ("1.3.6.1.2.1.2.2.1.2.12", "IF-MIB::ifDescr.12"),
        ("1.3.6.1.2.1.2.2.1.8.1", "IF-MIB::ifOperStatus.1"),
        ("1.3.6.1.2.1.31.1.1.1.1.5", "IF-MIB::ifName.5"),
        ("1.3.6.1.2.1.31.1.1.1.18.5", "IF-MIB::ifAlias.5"),
        ("1.3.6.1.2.1.47.2.0.1", "ENTITY-MIB::entConfigChange"),
        ("1.3.6.1.6.3.18.1.3.0", "SNMP-COMMUNITY-MIB::snmpTrapAddress.0"),
        ("1.3.6.1.4.1.9.9.41.2.0.1", "SNMPv2-SMI::enterprises.9.9.41.2.0.1"),
        ("1.3.6.1.4.1.8072.4.0.2", "NET-SNMP-MIB::netSnmpNotifications.2"),
        ("2.25.1", None),
        ("3.1", None),
    ],
)
def test_names(resolver: MibResolver, oid: str, name: str | None) -> None:
    assert resolver.name(oid) == name


def test_enums(resolver: MibResolver) -> None:
    assert resolver.lookup("1.3.6.1.2.1.2.2.1.8.7")[1]["2"] == "down"
    assert resolver.lookup("1.3.6.1.2.1.2.2.1.3.7")[1]["6"] == "ethernetCsmacd"
    assert resolver.lookup("1.3.6.1.2.1.2.2.1.1.7")[1] is None


def test_shipped_table_is_current_format() -> None:
    table = load_table(SHIPPED_TABLE)
    assert table["format"] == TABLE_FORMAT
    assert {"SNMPv2-MIB", "IF-MIB"} <= set(table["modules"]) <= set(DEFAULT_MODULES)
    assert len(table["nodes"]) > 300


def test_table_json_in_a_mib_dir_overrides_and_extends(tmp_path: Path) -> None:
    table = {
        "format": TABLE_FORMAT,
        "modules": ["ACME-MIB"],
        "nodes": {"1.3.6.1.4.1.99999": ["ACME-MIB", "acme"]},
    }
    (tmp_path / "acme.json").write_text(dump_table(table), encoding="utf-8")
    resolver = MibResolver.standard([tmp_path])
    assert resolver.name("1.3.6.1.4.1.99999.0.3") == "ACME-MIB::acme.0.3"
    assert resolver.name("1.3.6.1.6.3.1.1.5.3") == "IF-MIB::linkDown"
    assert json.loads(dump_table(table)) == table


ACME_MIB = """
(MibIdentifier, NotificationType, MibScalar, Integer32, enterprises) = mibBuilder.import_symbols(
    "SNMPv2-SMI", "MibIdentifier", "NotificationType", "MibScalar", "Integer32", "enterprises"
)
from pyasn1.type.namedval import NamedValues
acme = MibIdentifier((1, 3, 6, 1, 4, 1, 99998))
acmeTraps = MibIdentifier((1, 3, 6, 1, 4, 1, 99998, 0))
acmeFanFailed = NotificationType((1, 3, 6, 1, 4, 1, 99998, 0, 1))
acmeFanState = MibScalar(
    (1, 3, 6, 1, 4, 1, 99998, 1, 1), Integer32().subtype(namedValues=NamedValues(("ok", 1), ("failed", 2)))
)
mibBuilder.export_symbols(
    "ACME-MIB", acme=acme, acmeTraps=acmeTraps, acmeFanFailed=acmeFanFailed, acmeFanState=acmeFanState
)
"""


def test_pysnmp_compiled_modules_in_a_mib_dir(tmp_path: Path) -> None:
    (tmp_path / "ACME-MIB.py").write_text(ACME_MIB, encoding="utf-8")
    table = table_from_compiled([tmp_path], ["ACME-MIB"])
    assert table["nodes"]["1.3.6.1.4.1.99998.0.1"] == ["ACME-MIB", "acmeFanFailed"]
    resolver = MibResolver.standard([tmp_path])
    assert resolver.name("1.3.6.1.4.1.99998.0.1") == "ACME-MIB::acmeFanFailed"
    assert resolver.lookup("1.3.6.1.4.1.99998.1.1.0") == (
        "ACME-MIB::acmeFanState.0",
        {"1": "ok", "2": "failed"},
    )


def test_bad_mib_dir_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="snmp.mib_dirs"):
        MibResolver.standard([tmp_path / "missing"])
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="not a vigie-mib-names/1 table"):
        MibResolver.standard([tmp_path])
