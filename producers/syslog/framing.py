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
counted in size, hashed (CappedFrame.sha256: the SHA-256 of the whole frame, so that a dead letter
can identify what it could not keep) and dropped.

Speed: a run of plain LF-terminated lines (the common case over TCP) is cut with C-level byte
operations (one copy, one split, min and max over the lines), not frame by frame in Python:
about ten times cheaper per message. Anything else (octet counts, NUL, blank lines or whitespace
before a frame, over-long lines) goes through the frame-by-frame path, with the same result.
"""

from __future__ import annotations

import hashlib
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

    sha256 = None  # hex SHA-256 of the whole frame; set on a CappedFrame only


class CappedFrame(Frame):
    """A frame longer than hard_cap: original holds its first hard_cap bytes, sha256 the digest of all size bytes.

    A subclass (the digest is an attribute, not a tuple field) so that a CappedFrame still equals the
    Frame of the same data, truncation, original and size.
    """

    def __new__(cls, data: bytes, original: bytes | None, size: int, sha256: str) -> CappedFrame:
        frame = super().__new__(cls, data, True, original, size)
        frame.sha256 = sha256
        return frame


class FrameDecoder:
    """Incremental decoder: feed() any chunks, get complete frames; flush() at end of stream.

    mode: "auto" (octet-counting or non-transparent, decided per frame; the default for TCP),
    "octet-counting" (same detection, counts expected), "non-transparent" (LF or NUL
    terminators, counts never interpreted) or "lines" (LF only).
    """

    plain_runs = True  # cut runs of plain lines at once (False: frame by frame, the reference behaviour)

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
        self._digest = hashlib.sha256()  # that frame's bytes so far, but for a last CR (_last_cr)
        self._scanned = 0
        self.frames_truncated = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes from the stream; returns the frames they complete."""
        return [Frame(f, False, None, len(f)) if f.__class__ is bytes else f for f in self.feed_data(data)]

    def flush(self) -> list[Frame]:
        """End of stream: whatever is buffered becomes a last frame."""
        return [Frame(f, False, None, len(f)) if f.__class__ is bytes else f for f in self.flush_data()]

    def feed_data(self, data: bytes) -> list[bytes | Frame]:
        """feed() for hot paths: a whole frame comes as its bytes, only a cut frame as a Frame (truncated)."""
        if not data:
            return []
        self._buf += data
        out: list[bytes | Frame] = []
        self._drain(out, final=False)
        return out

    def flush_data(self) -> list[bytes | Frame]:
        """flush() in feed_data()'s form."""
        out: list[bytes | Frame] = []
        self._drain(out, final=True)
        return out

    def _make(self, frame: bytes, size: int | None = None) -> bytes | Frame:
        full = len(frame) if size is None else size
        if len(frame) > self.max_frame or full > len(frame):
            self.frames_truncated += 1
            original = frame if len(frame) > self.max_frame else None
            return Frame(frame[: self.max_frame], True, original, full)
        return frame

    def _capped(self, size: int) -> CappedFrame:
        """The frame being skipped, now complete: its kept start and the digest of all of it."""
        self.frames_truncated += 1
        kept = self._kept
        original = kept if len(kept) > self.max_frame else None
        frame = CappedFrame(kept[: self.max_frame], original, size, self._digest.hexdigest())
        self._skipping, self._kept, self._last_cr = 0, b"", False
        return frame

    def _keep(self, buf: bytearray, start: int, stop: int, last_cr: bool) -> None:
        """Keep hard_cap bytes of a frame over the cap and hash what arrived of it (a last CR is held back)."""
        self._kept = bytes(buf[start : start + self.hard_cap])
        self._skipping = stop - start
        self._last_cr = last_cr
        self._digest = hashlib.sha256()
        self._hash(buf, start, stop - last_cr)

    def _hash(self, buf: bytearray, start: int, stop: int) -> None:
        if stop > start:
            with memoryview(buf) as view, view[start:stop] as part:
                self._digest.update(part)

    def _lines(self, buf: bytearray, pos: int, scan: int, n: int, out: list[bytes | Frame]) -> int:
        """Cut the run of plain lines that starts at pos (a non-blank frame start); returns where it ends.

        Plain: LF-terminated (a CR before the LF is stripped), not empty, no leading whitespace, no
        leading digit where counts are read, no NUL, at most max_frame bytes. The frame at pos
        starts with no whitespace, and its first scan bytes hold no terminator. Returns pos when
        that frame is not plain: the frame-by-frame path takes it.
        """
        last = buf.rfind(b"\n", pos + scan, n)
        if last < 0:
            return pos
        end = last + 1
        nul = buf.find(b"\0", pos, end)
        if nul >= 0:
            end = buf.rfind(b"\n", pos, nul) + 1
            if end <= 0:
                return pos
        with memoryview(buf) as view:
            chunk = bytes(view[pos:end])  # one copy (slicing the bytearray first would make two)
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n")
        lines = chunk.split(b"\n")
        lines.pop()  # after the last LF
        # The smallest line starts above "9" only when none is empty or starts with whitespace or a digit.
        if min(lines)[:1] > b"9" and max(map(len, lines)) <= self.max_frame:
            out += lines
            return end
        keep = self._plain_prefix(lines)
        if not keep:
            return pos
        del lines[keep:]
        out += lines
        end = pos
        for _ in range(keep):
            end = buf.find(b"\n", end) + 1
        return end

    def _plain_prefix(self, lines: list[bytes]) -> int:
        """How many lines, from the first, are plain frames (see _lines)."""
        limit, counting = self.max_frame, self._counting
        for i, line in enumerate(lines):
            if not line or len(line) > limit or line[0] in _WS or (counting and 0x30 <= line[0] <= 0x39):
                return i
        return len(lines)

    def _find_end(self, buf: bytearray, start: int) -> int:
        """Index of the terminator (LF, or NUL when enabled) at or after start; -1 if none yet."""
        lf = buf.find(b"\n", start)
        if self._nul:
            nul = buf.find(b"\0", start, lf if lf >= 0 else len(buf))
            if nul >= 0:
                return nul
        return lf

    def _drain(self, out: list[bytes | Frame], final: bool) -> None:
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
                        if self._last_cr:  # held back: not the last byte any more
                            self._digest.update(b"\r")
                        self._last_cr = buf[n - 1] == 0x0D
                        self._hash(buf, pos, n - self._last_cr)
                    pos = n
                    if final:  # a last CR is stripped at end of stream
                        out.append(self._capped(self._skipping - self._last_cr))
                    break
                size = self._skipping + (end - pos)
                crlf = buf[end] == 0x0A and (buf[end - 1] == 0x0D if end > pos else self._last_cr)
                if crlf:
                    size -= 1
                if self._last_cr and not (crlf and end == pos):
                    self._digest.update(b"\r")
                self._hash(buf, pos, end - (crlf and end > pos))
                out.append(self._capped(size))
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
            if self.plain_runs and pos + scan < n:
                # A run of plain lines at once; the frame at pos is neither blank nor a count here.
                after = self._lines(buf, pos, scan, n, out)
                if after > pos:
                    pos, scan = after, 0
                    continue
            end = self._find_end(buf, pos + scan)
            scan = 0
            if end < 0:
                if n - pos > self.hard_cap:
                    self._keep(buf, pos, n, buf[n - 1] == 0x0D)
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
                self._keep(buf, pos, stop, False)
                out.append(self._capped(stop - pos))
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
