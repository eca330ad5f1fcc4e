"""NSCA 2.x (as Debian's nsca 2.10 speaks it): passive results from `send_nsca`, written to raw.checks.

The protocol (nsca.c, send_nsca.c, utils.c of NSCA 2.9/2.10): on connection the server sends 128 random
bytes (the IV) and a 4-byte timestamp; the client then sends any number of 4,304-byte packets (version 3:
int16 version, 2 bytes of padding, uint32 CRC-32 of the packet with that field zeroed, uint32 timestamp,
int16 return code, host[64], service[128], output[4096], 2 bytes of padding; big-endian), each encrypted:
- method 0: none; method 1 (XOR): each byte XORed with the IV (cycling over its 128 bytes), then with the
  password (cycling), restarted for every packet;
- methods 2 (DES), 3 (3DES), 4 (CAST-128), 8 (BLOWFISH), 14 (RIJNDAEL-128): libmcrypt in "cfb" mode, i.e.
  8-bit CFB, one stream per connection (packets continue it), keyed with the password cut or zero-padded to
  the algorithm's largest key (DES 8, 3DES 24, CAST-128 16, Blowfish 56, Rijndael-128 32 bytes: AES-256) and
  the IV's first block-size bytes. OpenSSL has no 8-bit CFB for CAST-128 and Blowfish: _Cfb8 builds it on
  their ECB, one block encryption per byte, in Python: measured 5.7 ms (CAST-128) and 6.4 ms (Blowfish) per
  packet against 0.76 ms for Rijndael-128 through OpenSSL, on the loaded 2-core development machine.
  Debian's send_nsca also offers CAST-256, xTEA, Twofish, LOKI97, RC2 (1024-bit keys), Rijndael-192/256
  (larger blocks than AES), Serpent, GOST and SAFER+, for which no library Vigie uses has the cipher.
A packet whose CRC does not match (a wrong password or method), whose version is not 3 or whose timestamp is
further than max_packet_age from now is refused: counted, dead-lettered, and the connection closed, as nsca
does. An empty service is a host result (0 UP, 1 DOWN, 2 UNREACHABLE).
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Any

from vigie.producers.checks.passive import HOST_STATE_TO_STATUS
from vigie.producers.checks.plugin_output import check_result, unescape_newlines

log = logging.getLogger(__name__)

IV_SIZE = 128
PACKET_SIZE = 4304
_HEADER = struct.Struct(">hxxIIh")  # version, crc32, timestamp, return code: 14 bytes
_HOST, _SERVICE, _OUTPUT = (14, 78), (78, 206), (206, 4302)
# method number (send_nsca.cfg encryption_method) -> (name, key size, block size)
METHODS: dict[int, tuple[str, int, int]] = {0: ("none", 0, 0), 1: ("xor", 0, 0), 2: ("des", 8, 8),
                                            3: ("3des", 24, 8), 4: ("cast-128", 16, 8), 8: ("blowfish", 56, 8),
                                            14: ("rijndael-128", 32, 16)}
METHOD_BY_NAME = {name: number for number, (name, _, _) in METHODS.items()}


class NscaError(ValueError):
    """A packet refused, with why."""


class Crypt:
    """The decryption (or, for tests and tools, encryption) state of one connection."""

    def __init__(self, method: int, password: bytes, iv: bytes, *, encrypt: bool = False) -> None:
        if method not in METHODS:
            raise ValueError(f"NSCA encryption method {method} is not supported ({', '.join(map(str, METHODS))})")
        self.method, self.password, self.iv = method, password, iv
        self._stream: Any = None
        name, key_size, block = METHODS[method]
        if key_size:
            from cryptography.hazmat.primitives.ciphers import Cipher

            try:  # cryptography >= 47 keeps CFB8 among its "decrepit" modes (removed from modes in 49)
                from cryptography.hazmat.decrepit.ciphers.modes import CFB8
            except ImportError:
                from cryptography.hazmat.primitives.ciphers.modes import CFB8

            key = password[:key_size].ljust(key_size, b"\0")
            if name in ("cast-128", "blowfish"):
                from cryptography.hazmat.decrepit.ciphers.algorithms import CAST5, Blowfish

                self._stream = _Cfb8((CAST5 if name == "cast-128" else Blowfish)(key), iv[:block], encrypt)
                return
            if name == "rijndael-128":
                from cryptography.hazmat.primitives.ciphers.algorithms import AES

                algorithm: Any = AES(key)
            else:
                from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES

                algorithm = TripleDES(key * 3 if len(key) == 8 else key)  # K1 = K2 = K3 is single DES
            cipher = Cipher(algorithm, CFB8(iv[:block]))
            self._stream = cipher.encryptor() if encrypt else cipher.decryptor()

    def __call__(self, data: bytes) -> bytes:
        if self._stream is not None:
            return self._stream.update(data)
        if self.method == 0:
            return data
        iv = (self.iv * (len(data) // IV_SIZE + 1))[: len(data)]
        pw = (self.password * (len(data) // max(len(self.password), 1) + 1))[: len(data)] if self.password else bytes(len(data))
        n = int.from_bytes(data, "big") ^ int.from_bytes(iv, "big") ^ int.from_bytes(pw, "big")
        return n.to_bytes(len(data), "big")


class _Cfb8:
    """8-bit CFB (libmcrypt's "cfb") over a block cipher's ECB: per byte, the register is encrypted, its first
    byte XORs the data, and the ciphertext byte shifts into the register."""

    def __init__(self, algorithm: Any, iv: bytes, encrypt: bool) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher
        from cryptography.hazmat.primitives.ciphers.modes import ECB

        self._block = Cipher(algorithm, ECB()).encryptor().update
        self._register = bytearray(iv)
        self._encrypt = encrypt

    def update(self, data: bytes) -> bytes:
        block, register, encrypt = self._block, self._register, self._encrypt
        out = bytearray(len(data))
        for i, byte in enumerate(data):
            out[i] = value = byte ^ block(bytes(register))[0]
            del register[0]
            register.append(value if encrypt else byte)
        return bytes(out)


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def decode_packet(plain: bytes, now: float, max_age: float) -> dict[str, Any]:
    """The raw.checks value of one decrypted packet; raises NscaError."""
    if len(plain) != PACKET_SIZE:
        raise NscaError(f"packet of {len(plain)} bytes, expected {PACKET_SIZE}")
    version, crc, stamp, code = _HEADER.unpack_from(plain)
    if zlib.crc32(plain[:4] + b"\0\0\0\0" + plain[8:]) != crc:
        raise NscaError("CRC-32 mismatch: wrong password or encryption method")
    if version != 3:
        raise NscaError(f"packet version {version}, expected 3")
    if max_age > 0 and abs(now - stamp) > max_age:
        raise NscaError(f"stale packet: its timestamp is {now - stamp:+.0f} s from now (max_packet_age {max_age:g} s)")
    host, service = _text(plain[slice(*_HOST)]), _text(plain[slice(*_SERVICE)])
    output = unescape_newlines(_text(plain[slice(*_OUTPUT)]))
    if service:
        status = code
    elif code in HOST_STATE_TO_STATUS:
        status = HOST_STATE_TO_STATUS[code]
    else:
        raise NscaError(f"host result with return code {code}, expected 0, 1 or 2")
    try:
        return check_result(host, service or None, status, output, "passive", float(stamp))
    except ValueError as exc:
        raise NscaError(str(exc)) from None


def encode_packet(host: str, service: str | None, code: int, output: str, stamp: int) -> bytes:
    """A plain version-3 packet as send_nsca builds it (for tests and bench; send_nsca pads with random bytes)."""

    def field(text: str, size: int) -> bytes:
        return text.encode()[: size - 1].ljust(size, b"\0")

    body = (field(host, 64) + field(service or "", 128) + field(output, 4096) + b"\0\0")
    packet = _HEADER.pack(3, 0, stamp, code) + body
    crc = zlib.crc32(packet)
    return packet[:4] + struct.pack(">I", crc) + packet[8:]


@dataclass(frozen=True)
class NscaSettings:
    host: str = "127.0.0.1"
    port: int = 5667
    password: bytes = b""
    method: int = 1
    max_packet_age: float = 30.0
    idle_timeout: float = 10.0
    max_connections: int = 256


class NscaListener:
    """The asyncio server: one Crypt per connection, packets to raw.checks, refusals to the dead-letter topic."""

    def __init__(self, sink: Any, settings: NscaSettings, metrics: Any, listener: str = "nsca") -> None:
        from vigie.topics import RAW_CHECKS

        self.sink, self.settings, self.metrics, self.listener = sink, settings, metrics, listener
        self.topic = RAW_CHECKS
        self.server: asyncio.AbstractServer | None = None
        self._connections = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, self.settings.host, self.settings.port)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def run(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from vigie.schemas.codec import dumps, rfc3339
        from vigie.sink import dead_letter

        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        if self._connections >= self.settings.max_connections:
            self.metrics.rejected.labels(self.listener, "connections").inc()
            writer.close()
            return
        self._connections += 1
        iv = os.urandom(IV_SIZE)
        crypt = Crypt(self.settings.method, self.settings.password, iv)
        try:
            writer.write(iv + struct.pack(">I", int(time.time())))
            await writer.drain()
            while True:
                try:
                    raw = await asyncio.wait_for(reader.readexactly(PACKET_SIZE), self.settings.idle_timeout)
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:
                        self.metrics.received.labels(self.listener).inc()
                        self._refuse(dead_letter, peer, f"short packet: {len(exc.partial)} bytes", exc.partial)
                    return
                except TimeoutError:
                    return
                self.metrics.received.labels(self.listener).inc()
                try:
                    value = decode_packet(crypt(raw), time.time(), self.settings.max_packet_age)
                except NscaError as exc:
                    self._refuse(dead_letter, peer, str(exc), raw)
                    return  # as nsca does: the rest of the stream cannot be trusted
                while not self.sink.has_room():  # TCP pushes back on the sender
                    await asyncio.sleep(0.05)
                headers = [("received_at", rfc3339().encode()), ("peer", peer.encode()), ("listener", self.listener.encode())]
                self.sink.produce(self.topic, dumps(value), key=value["host"].encode(), headers=headers)
                self.metrics.produced.labels(self.listener).inc()
        except (ConnectionError, OSError) as exc:
            log.debug("nsca connection from %s ended: %s", peer, exc)
        finally:
            self._connections -= 1
            writer.close()

    def _refuse(self, dead_letter: Any, peer: str, why: str, raw: bytes) -> None:
        log.warning("nsca: refused a packet from %s: %s", peer, why)
        if self.sink.has_room():
            dead_letter(self.sink, peer, "nsca", why, raw, {"listener": self.listener, "peer": peer})
        self.metrics.deadlettered.labels(self.listener).inc()
