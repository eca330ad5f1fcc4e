"""The receiver in-process on a loopback port, fed datagrams pysnmp encodes: records, INFORM acks, rejects, back-pressure."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyasn1.codec.ber import decoder

from tests.unit.test_snmp_ber import HEADER, V2, v1_trap, v2_message, v2_trap
from vigie.producers.snmp.receiver import TrapReceiver, run_trap_receiver
from vigie.producers.snmp.settings import TrapSettings, V3User
from vigie.schemas.codec import loads
from vigie.schemas.validate import validate
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_TRAPS

pytestmark = pytest.mark.timeout(60)

LINK_DOWN = v2_trap(HEADER + [(V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.1.3"), V2.Integer(3))])


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def until(predicate: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def sample(receiver: TrapReceiver, name: str, **labels: str) -> float:
    return receiver.metrics.registry.get_sample_value(name, labels) or 0.0


class Peer:
    """A UDP socket standing for an agent."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(data, address)

    async def reply(self) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.sock, 65535), 10)


async def started(sink: MemorySink, **kw: Any) -> TrapReceiver:
    receiver = TrapReceiver(TrapSettings(port=0, **kw), sink)
    await receiver.start()
    return receiver


def test_v2c_trap_becomes_a_raw_traps_record() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver = await started(sink)
        peer = Peer()
        try:
            peer.send(LINK_DOWN, receiver.address)
            await until(lambda: sink.on(RAW_TRAPS), "a record")
        finally:
            await receiver.stop()
        (record,) = sink.on(RAW_TRAPS)
        assert record.key == b"127.0.0.1"
        value = loads(record.value)
        validate(value, "trap/1")
        assert value["trap_name"] == "IF-MIB::linkDown"
        assert value["varbinds"] == [
            {"oid": "1.3.6.1.2.1.2.2.1.1.3", "name": "IF-MIB::ifIndex.3", "type": "Integer32", "value": 3}
        ]
        assert value["peer"] == f"127.0.0.1:{peer.sock.getsockname()[1]}"
        assert sample(receiver, "vigie_snmp_traps_total", version="v2c", pdu="trap") == 1

    run(main())


def test_v1_trap_and_inform_ack() -> None:
    async def main() -> None:
        sink = MemorySink()
        receiver = await started(sink)
        peer = Peer()
        try:
            peer.send(v1_trap(generic=3, specific=0), receiver.address)
            peer.send(v2_trap(HEADER, request_id=4242, inform=True), receiver.address)
            reply = await peer.reply()
            await until(lambda: len(sink.on(RAW_TRAPS)) == 2, "two records")
        finally:
            await receiver.stop()
        msg, _ = decoder.decode(reply, asn1Spec=V2.Message())
        pdu = V2.apiMessage.get_pdu(msg)
        assert pdu.tagSet == V2.GetResponsePDU.tagSet and int(V2.apiPDU.get_request_id(pdu)) == 4242
        v1, inform = (loads(r.value) for r in sink.on(RAW_TRAPS))
        assert (v1["version"], v1["trap_name"], v1["agent_address"]) == ("v1", "IF-MIB::linkUp", "10.0.0.1")
        assert (inform["version"], inform["pdu"]) == ("v2c", "inform")

    run(main())


def test_rejects_are_counted_and_dead_lettered_with_their_bytes() -> None:
    bad_community = v2_trap(HEADER, community="private")
    get_request = V2.GetRequestPDU()
    V2.apiPDU.set_defaults(get_request)
    get = v2_message(get_request)
    no_trap_oid = v2_trap(HEADER[:1])
    v2_header_v5 = bytes.fromhex("300602010504017030")
    cases = [
        (bad_community, "unknown_community"),
        (b"\x00garbage\xff", "undecodable"),
        (get, "unexpected_pdu"),
        (no_trap_oid, "malformed_trap"),
        (v2_header_v5, "bad_version"),
    ]

    async def main() -> None:
        sink = MemorySink()
        receiver = await started(sink)
        peer = Peer()
        try:
            for data, _ in cases:
                peer.send(data, receiver.address)
            peer.send(LINK_DOWN, receiver.address)  # still accepted afterwards
            await until(lambda: len(sink.records) == len(cases) + 1, "all datagrams handled")
        finally:
            await receiver.stop()
        letters = [loads(r.value) for r in sink.on(DEADLETTER)]
        assert [base64.b64decode(d["raw"]) for d in letters] == [data for data, _ in cases]
        assert [d["origin"]["reason"] for d in letters] == [reason for _, reason in cases]
        for d in letters:
            validate(d, "deadletter/1")
            assert d["stage"] == "snmp.receive"
        assert all(r.key == b"127.0.0.1" for r in sink.on(DEADLETTER))
        for _, reason in cases:
            assert sample(receiver, "vigie_snmp_rejected_total", reason=reason) == 1
        assert len(sink.on(RAW_TRAPS)) == 1

    run(main())


def test_full_sink_counts_a_drop_and_leaves_the_inform_unacknowledged() -> None:
    async def main() -> None:
        sink = MemorySink(capacity=0)
        receiver = await started(sink)
        peer = Peer()
        try:
            peer.send(v2_trap(HEADER, inform=True), receiver.address)
            peer.send(LINK_DOWN, receiver.address)
            await until(
                lambda: sample(receiver, "vigie_snmp_dropped_total", topic=RAW_TRAPS) == 2, "two drops"
            )
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(peer.reply(), 0.3)
        finally:
            await receiver.stop()

    run(main())


def test_v3_user_without_its_key_variable_refuses_to_start() -> None:
    user = V3User("ops", "SHA", "VIGIE_TEST_NO_SUCH_VAR", "AES", "VIGIE_TEST_NO_SUCH_VAR2")
    receiver = TrapReceiver(TrapSettings(port=0, v3_users=(user,)), MemorySink(), environ={})
    with pytest.raises(ValueError, match="VIGIE_TEST_NO_SUCH_VAR is not set"):
        run(receiver.start())


def test_run_trap_receiver_stops_on_the_event() -> None:
    async def main() -> None:
        stop = asyncio.Event()
        sink = MemorySink()
        task = asyncio.create_task(run_trap_receiver(TrapSettings(port=0), sink, stop=stop))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)

    run(main())


def test_hostile_integers_and_arcs_are_counted_dead_lettered_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """2,000 datagrams with a 3,000-byte Integer32 or a 4,400-digit OID arc: no traceback, a bounded log."""
    from tests.snmp_datagrams import big_integer_trap, huge_arc_trap

    caplog.set_level(logging.DEBUG, logger="vigie.producers.snmp")
    hostile = [big_integer_trap(3000), huge_arc_trap(4400)]

    async def main() -> None:
        sink = MemorySink()
        receiver = await started(sink)
        peer = Peer()
        try:
            for i in range(0, 2000, 100):  # in steps, so that the socket buffer never overflows
                for j in range(i, i + 100):
                    peer.send(hostile[j % 2], receiver.address)
                await until(lambda i=i: len(sink.records) == i + 100, "a hundred handled")
            peer.send(LINK_DOWN, receiver.address)
            await until(lambda: sink.on(RAW_TRAPS), "a good trap afterwards")
        finally:
            await receiver.stop()
        letters = [loads(r.value) for r in sink.on(DEADLETTER)]
        assert len(letters) == 2000
        assert {d["error"] for d in letters} == {
            "undecodable: ber: integer too long",
            "undecodable: ber: OID too long",
        }
        assert {d["origin"]["reason"] for d in letters} == {"undecodable"}
        assert base64.b64decode(letters[0]["raw"]) == hostile[0]
        assert sample(receiver, "vigie_snmp_rejected_total", reason="undecodable") == 2000
        assert sample(receiver, "vigie_snmp_rejected_total", reason="internal_error") == 0

    run(main())
    assert not [r for r in caplog.records if r.exc_info]
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 2, lines  # the first refusal, then the count of the rest when the receiver stops
    assert (
        lines[0].startswith("snmp: refused a datagram from 127.0.0.1:")
        and "ber: integer too long" in lines[0]
    )
    assert re.fullmatch(
        r"snmp: refused undecodable: 1999 similar lines suppressed in the last \d+ s", lines[1]
    )
    assert len(caplog.text) < 2000


def test_refusal_log_lines_are_one_per_reason_per_interval() -> None:
    """The receiver's clock drives the limiter: a second line for a reason only once the interval is over."""
    from tests.snmp_datagrams import big_integer_trap

    class Clock:
        now = 0.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()

    async def main() -> list[bool]:
        receiver = TrapReceiver(TrapSettings(port=0), MemorySink(), clock=clock, log_interval=10)
        await receiver.start()
        try:
            peer = ("127.0.0.1", 9)
            written = []
            for step in (0, 1, 9.9, 10, 10.5, 25):
                clock.now = step
                receiver._on_datagram(big_integer_trap(), peer)
                written.append(receiver._log_limit.suppressed("snmp: refused undecodable") == 0)
            return written
        finally:
            await receiver.stop()

    assert run(main()) == [True, False, False, True, False, True]


@pytest.mark.skipif(not Path("/proc/net/udp").exists(), reason="kernel drop counts are read from Linux /proc")
def test_traps_the_kernel_drops_are_counted() -> None:
    """A storm into a small receive buffer while the loop is busy: every trap is either a record or counted
    in vigie_udp_receive_drops_total{listener="snmp-traps"}, and the count outlives the socket."""

    async def main() -> None:
        sink = MemorySink()
        receiver = await started(sink, recv_buffer=4096)
        labels = {"listener": "snmp-traps"}
        assert sample(receiver, "vigie_udp_receive_drops_total", **labels) == 0
        peer, sent = Peer(), 1500
        for _ in range(sent):  # sent without yielding: the receiver cannot read until the loop is free
            peer.send(LINK_DOWN, receiver.address)

        def drops() -> float:
            return sample(receiver, "vigie_udp_receive_drops_total", **labels)

        await until(lambda: len(sink.on(RAW_TRAPS)) + drops() == sent, "every trap received or dropped")
        counted = drops()
        assert 0 < counted < sent
        await receiver.stop()
        assert drops() == counted

    run(main())
