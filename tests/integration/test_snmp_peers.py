"""Real net-snmp senders (snmptrap, snmpinform: Debian package `snmp`) against the trap receiver, in-process."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import socket
from collections.abc import Callable
from typing import Any

import pytest

from vigie.producers.snmp.receiver import TrapReceiver
from vigie.producers.snmp.settings import TrapSettings, V3User
from vigie.schemas.codec import loads
from vigie.schemas.validate import validate
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_TRAPS

SNMPTRAP = shutil.which("snmptrap")
SNMPINFORM = shutil.which("snmpinform")

pytestmark = [
    pytest.mark.peer,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        SNMPTRAP is None or SNMPINFORM is None,
        reason="net-snmp's snmptrap/snmpinform are not installed (Debian: apt-get install snmp)",
    ),
]

ENGINE = "8000000001020304"  # the engine ID the tests' snmptrap claims (-e) for v3 traps
SECRETS = {
    "VIGIE_T_SHA_AUTH": "sha-auth-secret-1",
    "VIGIE_T_SHA_PRIV": "sha-priv-secret-1",
    "VIGIE_T_256_AUTH": "sha256-auth-secret",
    "VIGIE_T_256_PRIV": "aes256-priv-secret",
}
USERS = (
    V3User("ops", "SHA", "VIGIE_T_SHA_AUTH", "AES", "VIGIE_T_SHA_PRIV", engine_id=ENGINE),
    V3User("noc256", "SHA-256", "VIGIE_T_256_AUTH", "AES-256", "VIGIE_T_256_PRIV", engine_id=ENGINE),
)
OPS = [
    "-u",
    "ops",
    "-l",
    "authPriv",
    "-a",
    "SHA",
    "-A",
    SECRETS["VIGIE_T_SHA_AUTH"],
    "-x",
    "AES",
    "-X",
    SECRETS["VIGIE_T_SHA_PRIV"],
]
NOC256 = ["-u", "noc256", "-l", "authPriv", "-a", "SHA-256", "-A", SECRETS["VIGIE_T_256_AUTH"]]
NOC256 += ["-x", "AES256", "-X", SECRETS["VIGIE_T_256_PRIV"]]
LINK_DOWN_ARGS = [
    "",
    "IF-MIB::linkDown",
    "IF-MIB::ifIndex.3", "i", "3",
    "IF-MIB::ifDescr.3", "s", "GigabitEthernet0/3",
    "IF-MIB::ifAdminStatus.3", "i", "1",
    "IF-MIB::ifOperStatus.3", "i", "2",
]  # fmt: skip


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MIBS", "")  # net-snmp: no MIB loading noise; OIDs below are numeric or standard
    monkeypatch.setenv("SNMP_PERSISTENT_DIR", "/tmp/vigie-test-snmp")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 150))


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.02)


async def tool(*args: str) -> tuple[int, str]:
    """Run a net-snmp tool without blocking the loop the receiver runs on; (exit code, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode(errors="replace")


def numeric(args: list[str]) -> list[str]:
    """IF-MIB names -> OIDs, so the test does not depend on net-snmp finding IF-MIB (Debian ships it non-free)."""
    table = {
        "IF-MIB::linkDown": "1.3.6.1.6.3.1.1.5.3",
        "IF-MIB::ifIndex.3": "1.3.6.1.2.1.2.2.1.1.3",
        "IF-MIB::ifDescr.3": "1.3.6.1.2.1.2.2.1.2.3",
        "IF-MIB::ifAdminStatus.3": "1.3.6.1.2.1.2.2.1.7.3",
        "IF-MIB::ifOperStatus.3": "1.3.6.1.2.1.2.2.1.8.3",
    }
    return [table.get(a, a) for a in args]


def traps(sink: MemorySink) -> list[dict[str, Any]]:
    return [loads(r.value) for r in sink.on(RAW_TRAPS)]


def letters(sink: MemorySink) -> list[dict[str, Any]]:
    return [loads(r.value) for r in sink.on(DEADLETTER)]


def rejected(receiver: TrapReceiver, reason: str) -> float:
    return receiver.metrics.registry.get_sample_value("vigie_snmp_rejected_total", {"reason": reason}) or 0.0


async def receiving(sink: MemorySink) -> tuple[TrapReceiver, str]:
    receiver = TrapReceiver(TrapSettings(port=0, communities=("public", "noc"), v3_users=USERS), sink)
    await receiver.start()
    assert receiver.address is not None
    return receiver, f"udp:127.0.0.1:{receiver.address[1]}"


def test_v1_enterprise_specific_trap() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        try:
            rc, err = await tool(
                SNMPTRAP, "-v", "1", "-c", "public", target,
                "1.3.6.1.4.1.8072.2.3", "192.0.2.10", "6", "17", "",
                "1.3.6.1.2.1.2.2.1.1.7", "i", "7",
            )  # fmt: skip
            assert rc == 0, err
            await until(lambda: traps(sink), "the v1 trap")
        finally:
            await receiver.stop()
        (value,) = traps(sink)
        validate(value, "trap/1")
        assert value["version"] == "v1" and value["community"] == "public" and value["user"] is None
        assert value["trap_oid"] == "1.3.6.1.4.1.8072.2.3.0.17"
        assert value["agent_address"] == "192.0.2.10"
        assert isinstance(value["uptime"], int)
        assert value["attributes"] == {
            "enterprise": "1.3.6.1.4.1.8072.2.3",
            "enterprise_name": "NET-SNMP-MIB::netSnmp.2.3",
            "generic": 6,
            "specific": 17,
            "agent_addr": "192.0.2.10",
        }
        assert [(vb["name"], vb["value"]) for vb in value["varbinds"]] == [
            ("IF-MIB::ifIndex.7", 7),
            ("SNMP-COMMUNITY-MIB::snmpTrapAddress.0", "192.0.2.10"),
            ("SNMP-COMMUNITY-MIB::snmpTrapCommunity.0", "public"),
            ("SNMPv2-MIB::snmpTrapEnterprise.0", "1.3.6.1.4.1.8072.2.3"),
        ]
        assert sink.on(RAW_TRAPS)[0].key == b"192.0.2.10"

    run(main())


def test_v1_generic_link_down() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        try:
            rc, err = await tool(
                SNMPTRAP,
                "-v",
                "1",
                "-c",
                "noc",
                target,
                "",
                "",
                "2",
                "0",
                "",
                "1.3.6.1.2.1.2.2.1.1.2",
                "i",
                "2",
            )
            assert rc == 0, err
            await until(lambda: traps(sink), "the v1 linkDown")
        finally:
            await receiver.stop()
        (value,) = traps(sink)
        assert (value["trap_oid"], value["trap_name"]) == ("1.3.6.1.6.3.1.1.5.3", "IF-MIB::linkDown")
        assert value["community"] == "noc"

    run(main())


def test_v2c_link_down_with_ifindex() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        try:
            rc, err = await tool(SNMPTRAP, "-v", "2c", "-c", "public", target, *numeric(LINK_DOWN_ARGS))
            assert rc == 0, err
            await until(lambda: traps(sink), "the v2c trap")
        finally:
            await receiver.stop()
        (value,) = traps(sink)
        validate(value, "trap/1")
        assert (value["version"], value["pdu"], value["trap_name"]) == ("v2c", "trap", "IF-MIB::linkDown")
        assert value["agent_address"] == "127.0.0.1"
        assert value["varbinds"] == [
            {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "IF-MIB::ifIndex.3", "type": "Integer32", "value": 3},
            {"oid": "1.3.6.1.2.1.2.2.1.2.3", "name": "IF-MIB::ifDescr.3", "type": "OctetString", "value": "GigabitEthernet0/3"},
            {"oid": "1.3.6.1.2.1.2.2.1.7.3", "name": "IF-MIB::ifAdminStatus.3", "type": "Integer32", "value": 1, "enum": "up"},
            {"oid": "1.3.6.1.2.1.2.2.1.8.3", "name": "IF-MIB::ifOperStatus.3", "type": "Integer32", "value": 2, "enum": "down"},
        ]  # fmt: skip

    run(main())


def test_v3_auth_priv_traps_sha_aes_and_sha256_aes256(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        try:
            for user in (OPS, NOC256):
                rc, err = await tool(
                    SNMPTRAP, "-v", "3", "-e", ENGINE, *user, target, *numeric(LINK_DOWN_ARGS)
                )
                assert rc == 0, err
            await until(lambda: len(traps(sink)) == 2, "two v3 traps")
        finally:
            await receiver.stop()
        for value, name in zip(traps(sink), ("ops", "noc256"), strict=True):
            validate(value, "trap/1")
            assert (value["version"], value["user"], value["community"]) == ("v3", name, None)
            assert value["trap_name"] == "IF-MIB::linkDown"
            assert value["varbinds"][0]["name"] == "IF-MIB::ifIndex.3"
            assert value["attributes"]["security_level"] == "authPriv"
            assert value["attributes"]["engine_id"] == ENGINE
        everything = b"".join(r.value for r in sink.records) + caplog.text.encode()
        for secret in SECRETS.values():
            assert secret.encode() not in everything

    run(main())


def test_informs_are_acknowledged_v2c_and_v3() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        try:
            # snmpinform exits 0 only once the receiver's Response arrived
            rc, err = await tool(
                SNMPINFORM,
                "-v",
                "2c",
                "-c",
                "public",
                "-t",
                "3",
                "-r",
                "2",
                target,
                "",
                "1.3.6.1.6.3.1.1.5.1",
            )
            assert rc == 0, err
            rc, err = await tool(
                SNMPINFORM, "-v", "3", *OPS, "-t", "3", "-r", "2", target, "", "1.3.6.1.6.3.1.1.5.2"
            )
            assert rc == 0, err
        finally:
            await receiver.stop()
        v2, v3 = traps(sink)
        assert (v2["version"], v2["pdu"], v2["trap_name"]) == ("v2c", "inform", "SNMPv2-MIB::coldStart")
        assert (v3["version"], v3["pdu"], v3["user"], v3["trap_name"]) == (
            "v3",
            "inform",
            "ops",
            "SNMPv2-MIB::warmStart",
        )
        assert not sink.on(DEADLETTER)  # the v3 engine-ID discovery probe is not a reject

    run(main())


def test_rejects_are_dead_lettered_and_the_receiver_keeps_running() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        assert receiver.address is not None
        try:
            rc, _ = await tool(SNMPTRAP, "-v", "2c", "-c", "guess", target, "", "1.3.6.1.6.3.1.1.5.1")
            assert rc == 0
            await until(lambda: rejected(receiver, "unknown_community") == 1, "unknown community")
            wrong = list(OPS)
            wrong[wrong.index(SECRETS["VIGIE_T_SHA_AUTH"])] = "not-the-auth-key"
            rc, _ = await tool(SNMPTRAP, "-v", "3", "-e", ENGINE, *wrong, target, "", "1.3.6.1.6.3.1.1.5.1")
            assert rc == 0
            await until(lambda: rejected(receiver, "wrong_digest") == 1, "wrong v3 key")
            stranger = ["-u", "mallory", "-l", "authNoPriv", "-a", "SHA", "-A", "whatever-key"]
            rc, _ = await tool(
                SNMPTRAP, "-v", "3", "-e", ENGINE, *stranger, target, "", "1.3.6.1.6.3.1.1.5.1"
            )
            assert rc == 0
            await until(lambda: rejected(receiver, "unknown_user") == 1, "unknown v3 user")
            garbage = [b"\x00", b"\x30\x82\xff\xff", bytes(range(256)), b"\x30\x03\x02\x01\x03"]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for data in garbage:
                    sock.sendto(data, receiver.address)
            await until(lambda: len(letters(sink)) == 3 + len(garbage), "garbage dead-lettered")
            rc, err = await tool(SNMPTRAP, "-v", "3", "-e", ENGINE, *OPS, target, "", "1.3.6.1.6.3.1.1.5.4")
            assert rc == 0, err
            await until(lambda: traps(sink), "a good trap after all that")
        finally:
            await receiver.stop()
        dead = letters(sink)
        for d in dead:
            validate(d, "deadletter/1")
        reasons = [d["origin"]["reason"] for d in dead]
        assert reasons[:3] == ["unknown_community", "wrong_digest", "unknown_user"]
        assert set(reasons[3:]) <= {"undecodable", "bad_version"}
        assert [base64.b64decode(d["raw"]) for d in dead[3:]] == garbage
        assert b"guess" in base64.b64decode(dead[0]["raw"])  # the datagram as it came
        assert "mallory" in dead[2]["error"]
        assert traps(sink)[0]["trap_name"] == "IF-MIB::linkUp"
        for d in dead:
            for secret in SECRETS.values():
                assert secret not in d["error"]

    run(main())
