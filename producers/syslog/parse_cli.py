"""`vigie parse syslog`: raw syslog on stdin, one JSON object per message on stdout."""

from __future__ import annotations

import sys
from typing import BinaryIO, TextIO

from vigie.codecs.syslog import parse_syslog
from vigie.producers.syslog.framing import FrameDecoder
from vigie.schemas.codec import dumps

FRAMINGS = ("lines", "octet-counting", "non-transparent")
_CHUNK = 1 << 16


def _emit(frames: list, stdout: TextIO) -> None:
    for frame in frames:
        result = parse_syslog(frame.data)
        if frame.truncated:
            result["errors"].append(f"frame truncated ({frame.size} bytes)")
        stdout.write(dumps(result).decode("utf-8"))
        stdout.write("\n")


def run(stdin: BinaryIO, stdout: TextIO, framing: str = "lines") -> int:
    """Stream stdin through the frame decoder and the parser; returns the exit status (0, or 2 on a bad framing)."""
    if framing not in FRAMINGS:
        print(f"vigie parse syslog: unknown framing {framing!r}, expected one of {', '.join(FRAMINGS)}",
              file=sys.stderr)
        return 2
    decoder = FrameDecoder(mode=framing)
    # read1 returns what is available, so a live pipe (tail -f | vigie parse syslog) is not held back.
    read = getattr(stdin, "read1", None) or stdin.read
    while True:
        chunk = read(_CHUNK)
        if not chunk:
            break
        _emit(decoder.feed(chunk), stdout)
        stdout.flush()
    _emit(decoder.flush(), stdout)
    stdout.flush()
    return 0
