"""SNMPv3 traps the receiver must refuse, sent by net-snmp's snmptrap (-Z sets engineBoots,engineTime) and replayed.

For traps the sender is the authoritative engine: the receiver keeps the latest engineBoots/engineTime each
engine sent in authenticated messages and refuses, per RFC 3414 3.2 step 7b, a lower engineBoots, the same
boots with a time more than 150 s behind, and boots 2147483647; it also refuses a message below the security
level its user is configured with. pysnmp 7.1 alone accepted all of these.
"""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest

from tests.integration.test_snmp_peers import (
    ENGINE,
    OPS,
    SECRETS,
    SNMPTRAP,
    USERS,
    letters,
    rejected,
    run,
    tool,
    traps,
    until,
)
from tests.integration.test_snmp_peers import secrets as secrets  # noqa: F401 - autouse fixture
from vigie.producers.snmp.receiver import TrapReceiver
from vigie.producers.snmp.settings import TrapSettings
from vigie.sink import MemorySink

pytestmark = [
    pytest.mark.peer,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        SNMPTRAP is None, reason="net-snmp's snmptrap is not installed (Debian: apt-get install snmp)"
    ),
]

COLD_START = ["", "1.3.6.1.6.3.1.1.5.1"]


class Clock:
    """The receiver's monotonic clock, moved by the test (the notion of engineTime advances with it)."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


async def receiving(sink: MemorySink, clock: Clock | None = None) -> tuple[TrapReceiver, str]:
    settings = TrapSettings(port=0, communities=("public",), v3_users=USERS)
    receiver = TrapReceiver(settings, sink, clock=clock or Clock())
    await receiver.start()
    assert receiver.address is not None
    return receiver, f"udp:127.0.0.1:{receiver.address[1]}"


async def trap(target: str, boots: int, engine_time: int, user: list[str] = OPS) -> None:
    rc, err = await tool(
        SNMPTRAP, "-v", "3", "-e", ENGINE, "-Z", f"{boots},{engine_time}", *user, target, *COLD_START
    )
    assert rc == 0, err


async def captured(boots: int, engine_time: int) -> bytes:
    """The exact datagram snmptrap sends with these boots and time, caught on a socket of our own."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        await trap(f"udp:127.0.0.1:{sock.getsockname()[1]}", boots, engine_time)
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(sock, 65535), 10)


def send(data: bytes, receiver: TrapReceiver) -> None:
    assert receiver.address is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, receiver.address)


def reasons(sink: MemorySink) -> list[str]:
    return [d["origin"]["reason"] for d in letters(sink)]


def test_a_message_below_the_users_security_level_is_refused() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver, target = await receiving(sink)
        try:
            no_auth = ["-u", "ops", "-l", "noAuthNoPriv"]
            await trap(target, 1, 10, no_auth)
            await until(lambda: rejected(receiver, "security_level_too_low") == 1, "noAuthNoPriv refused")
            auth_only = ["-u", "ops", "-l", "authNoPriv", "-a", "SHA", "-A", SECRETS["VIGIE_T_SHA_AUTH"]]
            await trap(target, 1, 10, auth_only)
            await until(lambda: rejected(receiver, "security_level_too_low") == 2, "authNoPriv refused")
            await trap(target, 1, 10)  # authPriv, as configured
            await until(lambda: traps(sink), "the authPriv trap")
        finally:
            await receiver.stop()
        assert len(traps(sink)) == 1
        dead = letters(sink)
        assert [d["origin"]["reason"] for d in dead] == ["security_level_too_low"] * 2
        assert "'ops' sent noAuthNoPriv, configured authPriv" in dead[0]["error"]
        assert "'ops' sent authNoPriv, configured authPriv" in dead[1]["error"]

    run(main())


def test_lower_boots_stale_time_and_latched_boots_are_refused() -> None:
    async def main() -> None:
        sink = MemorySink()
        clock = Clock()
        receiver, target = await receiving(sink, clock)
        try:
            await trap(target, 10, 1000)
            await until(lambda: len(traps(sink)) == 1, "the first trap sets the notion")
            await trap(target, 9, 5000)
            await until(lambda: rejected(receiver, "engine_boots_behind") == 1, "lower boots")
            await trap(target, 10, 849)  # 151 s behind the notion
            await until(lambda: rejected(receiver, "engine_time_behind") == 1, "time behind")
            await trap(target, 10, 850)  # exactly 150 s behind: still in the window
            await until(lambda: len(traps(sink)) == 2, "a time 150 s behind")
            clock.now += 100  # the notion of engineTime advances with the receiver's clock: 1100 now
            await trap(target, 10, 949)
            await until(lambda: rejected(receiver, "engine_time_behind") == 2, "behind the advanced notion")
            await trap(target, 11, 3)  # a reboot: higher boots, time restarted
            await until(lambda: len(traps(sink)) == 3, "after a reboot")
            await trap(target, 2147483647, 1)
            await until(lambda: rejected(receiver, "engine_boots_max") == 1, "boots latched at its maximum")
            await trap(target, 12, 1)  # RFC 3414: once the notion is 2147483647, nothing is in the window
            await until(lambda: rejected(receiver, "engine_boots_max") == 2, "boots still latched")
        finally:
            await receiver.stop()
        assert reasons(sink) == [
            "engine_boots_behind", "engine_time_behind", "engine_time_behind", "engine_boots_max", "engine_boots_max"
        ]  # fmt: skip
        assert "boots 9 time 5000, latest seen boots 10 time 1000" in letters(sink)[0]["error"]

    run(main())


def test_a_captured_trap_replayed_after_boots_rose_or_after_the_window_is_refused() -> None:
    async def main() -> None:
        old = await captured(20, 100)
        sink = MemorySink()
        clock = Clock()
        receiver, target = await receiving(sink, clock)
        try:
            send(old, receiver)
            await until(lambda: len(traps(sink)) == 1, "the original")
            # RFC 3414 refuses nothing inside the window: a copy within 150 s is accepted (a duplicate UDP
            # datagram looks the same); what it refuses is a replay once the sender moved on.
            send(old, receiver)
            await until(lambda: len(traps(sink)) == 2, "a copy inside the window")
            await trap(target, 21, 5)  # the sender rebooted
            await until(lambda: len(traps(sink)) == 3, "the trap after the reboot")
            send(old, receiver)
            await until(lambda: rejected(receiver, "engine_boots_behind") == 1, "replay after boots rose")

            newer = await captured(21, 400)
            send(newer, receiver)
            await until(lambda: len(traps(sink)) == 4, "a trap at time 400")
            clock.now += 151  # no newer message for 151 s: the notion of engineTime is 551
            send(newer, receiver)
            await until(lambda: rejected(receiver, "engine_time_behind") == 1, "replay after the window")
        finally:
            await receiver.stop()
        assert reasons(sink) == ["engine_boots_behind", "engine_time_behind"]
        assert [base64.b64decode(d["raw"]) for d in letters(sink)] == [old, newer]

    run(main())
