"""Measures the trap receiver's v2c throughput on this machine: a sender process blasts linkDown traps at a set rate.

Run by hand (never in tests): ``python -m vigie.producers.snmp.bench --rate 3000 --seconds 5``. It prints
how many traps were sent, how many reached the sink, and the receive rate between the first and last one.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import time
from dataclasses import dataclass, field

from vigie.producers.snmp.receiver import TrapReceiver
from vigie.producers.snmp.settings import TrapSettings


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


def _send(port: int, rate: int, seconds: float) -> None:
    data = sample_trap()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    total = int(rate * seconds)
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sock.sendto(data, ("127.0.0.1", port))
    sock.close()


@dataclass
class CountingSink:
    """A sink that only counts and timestamps: the bench measures the receiver, not a broker."""

    count: int = 0
    first: float = 0.0
    last: float = 0.0
    topics: dict[str, int] = field(default_factory=dict)

    def produce(self, topic: str, value: bytes, key: bytes | None = None, headers: object = ()) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first = now
        self.last = now
        self.count += 1
        self.topics[topic] = self.topics.get(topic, 0) + 1

    def has_room(self) -> bool:
        return True

    def flush(self, timeout: float = 10.0) -> int:
        return 0


async def bench(rate: int, seconds: float) -> None:
    sink = CountingSink()
    receiver = TrapReceiver(TrapSettings(port=0), sink)
    await receiver.start()
    assert receiver.address is not None
    sender = multiprocessing.get_context("spawn").Process(
        target=_send, args=(receiver.address[1], rate, seconds)
    )
    sender.start()
    while sender.is_alive():
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # drain the socket buffer
    await receiver.stop()
    sent = int(rate * seconds)
    span = max(sink.last - sink.first, 1e-9)
    print(
        f"sent {sent} at {rate}/s; written {sink.count} ({sink.topics}); lost {sent - sink.count}; "
        f"receive rate {sink.count / span:.0f} traps/s over {span:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=3000, help="traps per second to send")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(bench(args.rate, args.seconds))


if __name__ == "__main__":
    main()
