"""A bounded, seeded fuzzer: malformed and mutated v1/v2c/v3 datagrams through the receiver's datagram path.

Seeds are valid traps built by pysnmp's encoder and v3 authPriv traps captured from net-snmp's snmptrap;
mutations are truncations, bit flips, byte overwrites, huge lengths, appended bytes, long integers and
huge OID arcs, half of them on v3 seeds. Each datagram is handed to the receiver as the socket reader does, without its catch-all,
so an exception would escape here. Asserted: nothing escapes, each datagram ends as one raw.traps record or
one counted dead-letter with its reason and exact bytes (a v3 discovery probe excepted: the engine answers
it with a Report), and the log stays bounded. 10,000 datagrams, about 5 s.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections import Counter
from collections.abc import Callable

import pytest

from tests.snmp_datagrams import big_integer_trap, huge_arc_trap
from tests.unit.test_snmp_ber import HEADER, V2, v1_trap, v2_trap
from vigie.producers.snmp import ber
from vigie.producers.snmp.receiver import TrapReceiver
from vigie.producers.snmp.settings import TrapSettings, V3User
from vigie.schemas.codec import loads
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_TRAPS

pytestmark = pytest.mark.timeout(60)

SEED = 20261207
ROUNDS = 10_000
ENGINE = "8000000001020304"
SECRETS = {
    "FUZZ_SHA_AUTH": "sha-auth-secret-1",
    "FUZZ_SHA_PRIV": "sha-priv-secret-1",
    "FUZZ_256_AUTH": "sha256-auth-secret",
    "FUZZ_256_PRIV": "aes256-priv-secret",
}
USERS = (
    V3User("ops", "SHA", "FUZZ_SHA_AUTH", "AES", "FUZZ_SHA_PRIV", engine_id=ENGINE),
    V3User("noc256", "SHA-256", "FUZZ_256_AUTH", "AES-256", "FUZZ_256_PRIV", engine_id=ENGINE),
)
# snmptrap -v 3 -e 8000000001020304 -Z 1,100 -l authPriv (users and keys above) ... linkDown ifIndex.3 ifDescr.3
CAPTURED_V3 = [
    bytes.fromhex(
        "3081cf0201033011020470223c11020300ffe3040103020103042f302d0408800000000102030402010102016404036f7073"
        "040c38bf0be09fe3e92c09c877ca040836828b87fcf5043504818526f8e2ea0544537ad306ee58b33f8736502fcc6280c499"
        "28d29db48dc8596b017f890e3b51899c2b3ead5d9274dd7546bae15776829c375f579366269d9e2964409106dc691c019e6e"
        "ea74fefb7c1c0f8f69dfb469910ea004c3a3404c85a04868d5cb4b9a8289a71081b2429d4fceab605bb08428a150c78b04c0"
        "7d369580a45299de2ce2"
    ),
    bytes.fromhex(
        "3081de020103301102041ad32c18020300ffe3040103020103043e303c0408800000000102030402010102016404066e6f63"
        "32353604186878f72cec18506c1eebac2606840578567526b78b087d6a0408ff1918765d1d45ff048185c0328a833a1c6415"
        "ea6f871a89db00a51e788d3fefc2cc0938be2851ef18fdc9f2a1379a2d559533d9962ec87bb8c1db0e8997cd8de7c36d5f4f"
        "4662ae958edd54e7c9773bf81dfcbacc3112031f6215dad4b840557630841ffc2e79f15a8ee415f28955dd71ed38219a4ffc"
        "3c2832c2345629c77cad92953a7dbe1b17b5123f26589d865b"
    ),
]
V2_SEEDS = [
    v1_trap(varbinds=[(V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.1.7"), V2.Integer(7))]),
    v1_trap(generic=2, specific=0),
    v2_trap(HEADER + [(V2.ObjectIdentifier("1.3.6.1.2.1.2.2.1.2.3"), V2.OctetString("GigabitEthernet0/3"))]),
    v2_trap(HEADER + [(V2.ObjectIdentifier("1.3.6.1.4.1.1.8"), V2.Counter64(2**64 - 1))], inform=True),
]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    at = rng.randrange(len(out))
    out[at : at + rng.randint(1, 4)] = rng.randbytes(rng.randint(1, 4))
    return bytes(out)


def huge_length(rng: random.Random, data: bytes) -> bytes:
    """A length octet somewhere replaced by a long form claiming up to 4 GB."""
    at = rng.randrange(1, len(data))
    return data[:at] + bytes((0x84,)) + rng.randbytes(4) + data[at + 1 :]


def append(rng: random.Random, data: bytes) -> bytes:
    return data + rng.randbytes(rng.randint(1, 64))


def long_integer(rng: random.Random, _: bytes) -> bytes:
    return big_integer_trap(rng.choice((5, 9, 17, 300, 3000, 20000)))


def huge_arc(rng: random.Random, _: bytes) -> bytes:
    return huge_arc_trap(rng.choice((11, 50, 300, 4400, 9000)))


def garbage(rng: random.Random, _: bytes) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    truncate, flip_bits, overwrite, huge_length, append, long_integer, huge_arc, garbage,
]  # fmt: skip


def is_discovery_probe(data: bytes) -> bool:
    """A v3 message with no user for an engine the receiver does not know: answered with a Report, not kept."""
    try:
        return ber.peek_version(data) == 3 and not ber.v3_header(data)[1]
    except ber.BerError:
        return False


def test_mutated_datagrams_are_each_accepted_or_counted_and_dead_lettered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="vigie.producers.snmp")
    rng = random.Random(SEED)
    seeds = V2_SEEDS + CAPTURED_V3
    datagrams = [seed for seed in seeds]  # the seeds themselves first: they must be accepted
    while len(datagrams) < ROUNDS:
        seed = rng.choice(CAPTURED_V3 if rng.random() < 0.5 else V2_SEEDS)
        datagrams.append(rng.choice(MUTATIONS)(rng, seed))
    outcomes: Counter[str] = Counter()

    async def main() -> TrapReceiver:
        sink = MemorySink()
        receiver = TrapReceiver(
            TrapSettings(port=0, communities=("public",), v3_users=USERS), sink, environ=SECRETS
        )
        await receiver.start()
        try:
            for i, data in enumerate(datagrams):
                before = len(sink.records)
                receiver._on_datagram(data, ("127.0.0.1", 40000 + i % 1000))  # raises if anything escapes
                new = sink.records[before:]
                if i < len(seeds):
                    assert [r.topic for r in new] == [RAW_TRAPS], f"seed {i} not accepted"
                if not new:
                    assert is_discovery_probe(data), (
                        f"datagram {i} neither kept nor dead-lettered: {data.hex()}"
                    )
                    outcomes["discovery probe"] += 1
                    continue
                assert len(new) == 1, f"datagram {i} gave {len(new)} records"
                if new[0].topic == RAW_TRAPS:
                    outcomes["accepted"] += 1
                    continue
                assert new[0].topic == DEADLETTER
                letter = loads(new[0].value)
                assert base64.b64decode(letter["raw"]) == data
                reason = letter["origin"]["reason"]
                assert reason and letter["error"].startswith(f"{reason}: ")
                assert len(letter["error"]) < 300
                outcomes[reason] += 1
        finally:
            await receiver.stop()
        return receiver

    receiver = asyncio.run(asyncio.wait_for(main(), 50))
    registry = receiver.metrics.registry
    for reason, count in outcomes.items():
        if reason not in ("accepted", "discovery probe"):
            assert registry.get_sample_value("vigie_snmp_rejected_total", {"reason": reason}) == count
    assert "internal_error" not in outcomes
    assert outcomes["undecodable"] > 1000 and outcomes["wrong_digest"] > 300
    # the log: no traceback, and at most a line per reason at the first refusal plus one with the count at stop
    assert not [r for r in caplog.records if r.exc_info]
    refusal_lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusal_lines) <= 2 * len(outcomes), [r.getMessage() for r in refusal_lines]
    assert len(caplog.text) < 200 * len(caplog.records) + 5000
