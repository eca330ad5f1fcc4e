"""RFC 6587 framing: cuts a syslog TCP byte stream into frames (octet-counting or LF/NUL-terminated), with bounded memory.

Per frame, the decoder looks at the first byte after any whitespace (SP, HT, CR, LF, NUL are
skipped between frames; some Cisco ASA send spaces before the PRI):

- a digit: octet-counting, "<len> <msg>", when the count is 1..hard_cap, has at most 7 digits,
  and is followed by a space and then "<" (the start of a PRI). Anything else (non-digits,
  absurd length, no "<") falls back to non-transparent framing, so a bad count never wedges
  the stream.
- otherwise: non-transparent, the frame ends at LF or NUL; a CR before the LF is stripped.

Frames longer than max_frame are cut: Frame.data holds the first max_frame bytes,
truncated is True, original holds the whole frame as received up to hard_cap bytes, and
size the frame's full length on the wire. A non-transparent frame that grows past hard_cap
without a terminator keeps only hard_cap bytes; the rest, up to the next terminator, is
counted in size and dropped.
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_MAX_FRAME = 65536
DEFAULT_HARD_CAP = 1 << 20
_MAX_COUNT_DIGITS = 7
_WS = b" \t\r\n\x00"
_FRAMINGS = ("lines", "octet-counting", "non-transparent")


class Frame(NamedTuple):
    """One syslog message cut from a stream; data is what to publish, original what was cut off."""

    data: bytes
    truncated: bool = False
    original: bytes | None = None
    size: int = -1  # full length on the wire; -1 means len(data)


class FrameDecoder:
    """Incremental decoder: feed() any chunks, get complete frames; flush() at end of stream.

    mode: "auto" (octet-counting or non-transparent, decided per frame; the default for TCP),
    "octet-counting" (same detection, counts expected), "non-transparent" (LF or NUL
    terminators, counts never interpreted) or "lines" (LF only).
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, hard_cap: int = DEFAULT_HARD_CAP, mode: str = "auto"):
        if mode not in ("auto", "octet-counting", "non-transparent", "lines"):
            raise ValueError(f"unknown framing mode {mode!r}")
        if max_frame < 1 or hard_cap < max_frame:
            raise ValueError("need 1 <= max_frame <= hard_cap")
        self.max_frame = max_frame
        self.hard_cap = hard_cap
        self._counting = mode in ("auto", "octet-counting")
        self._nul = mode != "lines"
        self._buf = bytearray()
        self._skipping = 0  # > 0: inside an over-cap non-transparent frame, bytes seen so far
        self._kept = b""  # the hard_cap bytes kept of that frame
        self._last_cr = False  # that frame's last byte so far was CR (stripped if LF follows)
        self._scanned = 0
        self.frames_truncated = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes from the stream; returns the frames they complete."""
        if not data:
            return []
        self._buf += data
        out: list[Frame] = []
        self._drain(out, final=False)
        return out

    def flush(self) -> list[Frame]:
        """End of stream: whatever is buffered becomes a last frame."""
        out: list[Frame] = []
        self._drain(out, final=True)
        return out

    def _make(self, frame: bytes, size: int | None = None) -> Frame:
        full = len(frame) if size is None else size
        if len(frame) > self.max_frame or full > len(frame):
            self.frames_truncated += 1
            original = frame if len(frame) > self.max_frame else None
            return Frame(frame[: self.max_frame], True, original, full)
        return Frame(frame, False, None, full)

    def _find_end(self, buf: bytearray, start: int) -> int:
        """Index of the terminator (LF, or NUL when enabled) at or after start; -1 if none yet."""
        lf = buf.find(b"\n", start)
        if self._nul:
            nul = buf.find(b"\0", start, lf if lf >= 0 else len(buf))
            if nul >= 0:
                return nul
        return lf

    def _drain(self, out: list[Frame], final: bool) -> None:
        buf = self._buf
        pos = 0
        n = len(buf)
        scan = self._scanned  # bytes of the pending frame already searched for a terminator
        self._scanned = 0
        while True:
            if self._skipping:
                end = self._find_end(buf, pos)
                if end < 0:
                    if n > pos:
                        self._skipping += n - pos
                        self._last_cr = buf[n - 1] == 0x0D
                    pos = n
                    if final:
                        out.append(self._make(self._kept, self._skipping - self._last_cr))
                        self._skipping, self._kept, self._last_cr = 0, b"", False
                    break
                size = self._skipping + (end - pos)
                if buf[end] == 0x0A and (buf[end - 1] == 0x0D if end > pos else self._last_cr):
                    size -= 1
                out.append(self._make(self._kept, size))
                self._skipping, self._kept, self._last_cr = 0, b"", False
                pos = end + 1
                continue
            # Skip inter-frame whitespace.
            while pos < n and buf[pos] in _WS:
                pos += 1
            if pos >= n:
                break
            if self._counting and 0x30 <= buf[pos] <= 0x39:
                verdict, start, length = self._octet_header(buf, pos, n, final)
                if verdict == "wait":
                    break
                if verdict == "count":
                    if n - start < length:
                        if final:
                            out.append(self._make(bytes(buf[start:n]), length))
                            pos = n
                        break
                    out.append(self._make(bytes(buf[start : start + length])))
                    pos = start + length
                    continue
            end = self._find_end(buf, pos + scan)
            scan = 0
            if end < 0:
                if n - pos > self.hard_cap:
                    self._kept = bytes(buf[pos : pos + self.hard_cap])
                    self._skipping = n - pos
                    self._last_cr = buf[n - 1] == 0x0D
                    pos = n
                    if final:
                        continue
                    break
                if final:
                    stop = n - 1 if buf[n - 1] == 0x0D else n
                    if stop > pos:
                        out.append(self._make(bytes(buf[pos:stop])))
                    pos = n
                else:
                    self._scanned = n - pos
                break
            stop = end - 1 if end > pos and buf[end] == 0x0A and buf[end - 1] == 0x0D else end
            if stop - pos > self.hard_cap:
                out.append(self._make(bytes(buf[pos : pos + self.hard_cap]), stop - pos))
            elif stop > pos:
                out.append(self._make(bytes(buf[pos:stop])))
            pos = end + 1
        if pos:
            del buf[:pos]

    def _octet_header(self, buf: bytearray, pos: int, n: int, final: bool) -> tuple[str, int, int]:
        """Decide whether buf[pos:] starts "<count> <": ("count", msg start, len), ("wait", ...) or ("text", ...)."""
        i = pos
        limit = min(n, pos + _MAX_COUNT_DIGITS + 1)
        while i < limit and 0x30 <= buf[i] <= 0x39:
            i += 1
        if i - pos > _MAX_COUNT_DIGITS:
            return "text", 0, 0
        if i >= n or i + 1 >= n:  # need the space and the byte after it
            if final:
                return "text", 0, 0
            if i < n and buf[i] != 0x20:
                return "text", 0, 0
            return "wait", 0, 0
        if buf[i] != 0x20 or buf[i + 1] != 0x3C:
            return "text", 0, 0
        length = int(buf[pos:i])
        if length < 1 or length > self.hard_cap:
            return "text", 0, 0
        return "count", i + 1, length


def split_frames(data: bytes, framing: str = "lines") -> list[bytes]:
    """Cut a whole byte string into messages: framing is "lines", "octet-counting" or "non-transparent".

    Over-long messages are cut to the default max frame size; use FrameDecoder to know which.
    """
    if framing not in _FRAMINGS:
        raise ValueError(f"unknown framing {framing!r}, expected one of {', '.join(_FRAMINGS)}")
    dec = FrameDecoder(mode=framing)
    frames = dec.feed(data)
    frames += dec.flush()
    return [f.data for f in frames]
