"""NSCA packets: decryption per method, CRC and age checks, host results, the listener's refusals."""

from __future__ import annotations

import asyncio
import os
import struct

import orjson
import pytest
from prometheus_client import CollectorRegistry

from vigie.producers.checks.http_intake import intake_metrics
from vigie.producers.checks.nsca import (
    IV_SIZE,
    METHODS,
    PACKET_SIZE,
    Crypt,
    NscaError,
    NscaListener,
    NscaSettings,
    decode_packet,
    encode_packet,
)
from vigie.sink import MemorySink
from vigie.topics import DEADLETTER, RAW_CHECKS

NOW = 1_800_000_000


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_round_trips_a_stream_of_packets(method: int) -> None:
    iv = os.urandom(IV_SIZE)
    send = Crypt(method, b"pass", iv, encrypt=True)
    receive = Crypt(method, b"pass", iv)
    for i in range(3):  # the CFB methods continue one stream over the connection's packets
        plain = encode_packet("web1", f"S{i}", 1, "WARN|x=1", NOW)
        wire = send(plain)
        assert (wire != plain) == (method != 0)
        assert decode_packet(receive(wire), NOW, 30)["service"] == f"S{i}"


def test_a_wrong_password_is_a_crc_mismatch() -> None:
    iv = os.urandom(IV_SIZE)
    wire = Crypt(14, b"right", iv, encrypt=True)(encode_packet("h", "s", 0, "ok", NOW))
    with pytest.raises(NscaError, match="CRC-32 mismatch: wrong password or encryption method"):
        decode_packet(Crypt(14, b"wrong", iv)(wire), NOW, 30)


def test_stale_packets_and_bad_versions_are_refused() -> None:
    with pytest.raises(NscaError, match=r"stale packet: its timestamp is \+31 s from now"):
        decode_packet(encode_packet("h", "s", 0, "ok", NOW - 31), NOW, 30)
    assert decode_packet(encode_packet("h", "s", 0, "ok", NOW - 3600), NOW, 0)["host"] == "h"  # 0: no limit
    packet = bytearray(encode_packet("h", "s", 0, "ok", NOW))
    packet[0:2] = struct.pack(">h", 2)
    with pytest.raises(NscaError, match="CRC-32 mismatch"):  # the CRC covers the version
        decode_packet(bytes(packet), NOW, 30)


def test_host_results_carry_host_states() -> None:
    value = decode_packet(encode_packet("core1", None, 1, "DOWN", NOW), NOW, 30)
    assert (value["service"], value["status"], value["source"]) == (None, 2, "passive")
    with pytest.raises(NscaError, match="host result with return code 3"):
        decode_packet(encode_packet("core1", None, 3, "?", NOW), NOW, 30)


def test_listener_writes_results_and_dead_letters_a_bad_stream() -> None:
    async def scenario() -> MemorySink:
        sink = MemorySink()
        listener = NscaListener(sink, NscaSettings(port=0, password=b"pw", method=1),
                                intake_metrics(CollectorRegistry()))
        await listener.start()
        for password in (b"pw", b"bad"):
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            hello = await reader.readexactly(IV_SIZE + 4)
            crypt = Crypt(1, password, hello[:IV_SIZE], encrypt=True)
            stamp = struct.unpack(">I", hello[IV_SIZE:])[0]
            for service in ("A", "B"):
                writer.write(crypt(encode_packet("web1", service, 2, "CRIT", stamp)))
            writer.write_eof()
            assert await reader.read() == b""  # the server closes at the end (or at the first bad packet)
            writer.close()
        await listener.stop()
        return sink

    sink = asyncio.run(scenario())
    assert [orjson.loads(r.value)["service"] for r in sink.on(RAW_CHECKS)] == ["A", "B"]
    dead = sink.on(DEADLETTER)
    assert len(dead) == 1 and b"wrong password" in dead[0].value
    assert len(encode_packet("h", "s", 0, "", NOW)) == PACKET_SIZE


def test_the_cfb8_built_on_ecb_is_openssls_cfb8() -> None:
    """_Cfb8 (CAST-128 and Blowfish, which OpenSSL has no 8-bit CFB for) against OpenSSL's own CFB8, on AES."""
    from cryptography.hazmat.decrepit.ciphers.modes import CFB8
    from cryptography.hazmat.primitives.ciphers import Cipher
    from cryptography.hazmat.primitives.ciphers.algorithms import AES

    from vigie.producers.checks.nsca import _Cfb8

    key, iv, data = os.urandom(32), os.urandom(16), os.urandom(300)
    ours, openssl = _Cfb8(AES(key), iv, encrypt=True), Cipher(AES(key), CFB8(iv)).encryptor()
    assert ours.update(data[:100]) + ours.update(data[100:]) == openssl.update(data)
    back = _Cfb8(AES(key), iv, encrypt=False)
    assert back.update(Cipher(AES(key), CFB8(iv)).encryptor().update(data)) == data
