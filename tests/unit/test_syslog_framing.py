"""RFC 6587 framing: octet-counting and non-transparent frames, limits, and chunking that must not matter."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.producers.syslog.framing import Frame, FrameDecoder, split_frames


def decode(data: bytes, **kw) -> list[Frame]:
    dec = FrameDecoder(**kw)
    return dec.feed(data) + dec.flush()


def octet(msg: bytes) -> bytes:
    return b"%d %s" % (len(msg), msg)


# ---------------------------------------------------------------- detection


def test_octet_counting_frames_may_contain_newlines():
    m1, m2 = b"<13>1 - h a - - - line one\nline two", b"<14>Jan 15 10:00:00 h a: x"
    assert split_frames(octet(m1) + octet(m2), "octet-counting") == [m1, m2]


def test_octet_counted_frame_keeps_its_trailing_newline():
    assert split_frames(octet(b"<13>x\n"), "octet-counting") == [b"<13>x\n"]


def test_non_transparent_lf_crlf_and_nul():
    data = b"<13>a\n<13>b\r\n<13>c\x00<13>d"
    assert split_frames(data, "non-transparent") == [b"<13>a", b"<13>b", b"<13>c", b"<13>d"]


def test_a_lone_cr_inside_a_frame_is_kept():
    assert split_frames(b"<13>a\rb\n", "non-transparent") == [b"<13>a\rb"]


def test_auto_detection_is_per_frame():
    data = b"<13>a\n" + octet(b"<13>b\nc") + b"\n<13>d\x00" + octet(b"<13>e")
    assert [f.data for f in decode(data)] == [b"<13>a", b"<13>b\nc", b"<13>d", b"<13>e"]


def test_leading_whitespace_and_blank_lines_are_skipped():
    data = b"\n\n   <166>%ASA-6-302013: x\n \t<13>y\r\n\r\n"
    assert split_frames(data, "non-transparent") == [b"<166>%ASA-6-302013: x", b"<13>y"]


@pytest.mark.parametrize(
    "data",
    [
        b"12a <13>hello\n",  # non-digit in the count
        b"99999999 <13>hello\n",  # absurd length (8 digits)
        b"2000000 <13>hello\n",  # above the hard cap
        b"0 <13>hello\n",  # zero length
        b"5 hello world\n",  # count not followed by a PRI
        b"5<13>hello\n",  # no space after the count
    ],
)
def test_bad_octet_count_falls_back_to_non_transparent(data):
    frames = decode(data + b"<13>next\n")
    assert [f.data for f in frames] == [data.rstrip(b"\n"), b"<13>next"]


def test_non_transparent_mode_never_reads_counts():
    data = octet(b"<13>a") + b"\n"
    assert split_frames(data, "non-transparent") == [b"5 <13>a"]


def test_lines_mode_splits_on_lf_only():
    assert split_frames(b"<13>a\x00b\r\n<13>c\n", "lines") == [b"<13>a\x00b", b"<13>c"]


def test_unknown_framing_is_refused():
    with pytest.raises(ValueError, match="unknown framing"):
        split_frames(b"", "udp")
    with pytest.raises(ValueError):
        FrameDecoder(mode="udp")
    with pytest.raises(ValueError):
        FrameDecoder(max_frame=10, hard_cap=5)


# ---------------------------------------------------------------- streaming


def test_frames_are_returned_as_soon_as_complete():
    dec = FrameDecoder()
    assert dec.feed(b"<13>a\n<13>b") == [Frame(b"<13>a", False, None, 5)]
    assert dec.feed(b"c\n") == [Frame(b"<13>bc", False, None, 6)]
    assert dec.flush() == []


def test_octet_count_waits_for_its_bytes():
    dec = FrameDecoder()
    assert dec.feed(b"1") == []
    assert dec.feed(b"0 ") == []
    assert dec.feed(b"<13>ab") == []
    assert dec.feed(b"cd") == []  # 8 of the 10 bytes
    assert dec.feed(b"ef") == [Frame(b"<13>abcdef", False, None, 10)]


def test_flush_emits_an_unterminated_last_frame():
    dec = FrameDecoder()
    assert dec.feed(b"<13>a\n<13>tail\r") == [Frame(b"<13>a", False, None, 5)]
    assert dec.flush() == [Frame(b"<13>tail", False, None, 8)]
    assert dec.flush() == []


def test_flush_inside_an_octet_frame_reports_it_short():
    dec = FrameDecoder()
    assert dec.feed(b"20 <13>only ten") == []
    assert dec.flush() == [Frame(b"<13>only ten", True, None, 20)]


def test_flush_with_only_digits_is_text():
    assert decode(b"123") == [Frame(b"123", False, None, 3)]


# ---------------------------------------------------------------- limits


def test_over_long_non_transparent_frame_is_cut_and_kept_whole():
    msg = b"<13>" + b"x" * 96
    frames = decode(msg + b"\n<13>ok\n", max_frame=10, hard_cap=1000)
    assert frames == [Frame(msg[:10], True, msg, 100), Frame(b"<13>ok", False, None, 6)]


def test_over_long_octet_frame_is_cut_and_kept_whole():
    msg = b"<13>" + b"y" * 46
    frames = decode(octet(msg) + octet(b"<13>ok"), max_frame=10, hard_cap=1000)
    assert frames == [Frame(msg[:10], True, msg, 50), Frame(b"<13>ok", False, None, 6)]


def test_default_max_frame_is_64_kib():
    msg = b"<13>" + b"z" * 70000
    (frame,) = decode(msg + b"\n")
    assert (len(frame.data), frame.truncated, frame.original, frame.size) == (65536, True, msg, 70004)


def test_frame_beyond_the_hard_cap_keeps_bounded_memory():
    dec = FrameDecoder(max_frame=8, hard_cap=32)
    out = []
    for _ in range(1000):  # 100 kB without a terminator
        out += dec.feed(b"a" * 100)
        assert len(dec._buf) <= 32 + 100
    assert out == []
    out += dec.feed(b"\r\n<13>next\n")
    assert out == [Frame(b"a" * 8, True, b"a" * 32, 100_000), Frame(b"<13>next", False, None, 8)]


def test_frame_beyond_the_hard_cap_at_end_of_stream():
    frames = decode(b"b" * 100, max_frame=8, hard_cap=32)
    assert frames == [Frame(b"b" * 8, True, b"b" * 32, 100)]


def test_truncations_are_counted():
    dec = FrameDecoder(max_frame=4, hard_cap=16)
    dec.feed(b"<13>abc\n<13>\n<13>abcdefghijklmnopq\n")
    assert dec.frames_truncated == 2


def test_byte_by_byte_feeding_of_a_large_frame_is_linear():
    # a quadratic rescan would take minutes here; this completes instantly
    dec = FrameDecoder(max_frame=1 << 16, hard_cap=1 << 20)
    for _ in range(200_000):
        dec.feed(b"x")
    assert dec._scanned == 200_000
    (frame,) = dec.feed(b"\n")
    assert frame.size == 200_000


# ---------------------------------------------------------------- chunking does not matter


def _feed_chunks(data: bytes, cuts: list[int], **kw) -> list[Frame]:
    dec = FrameDecoder(**kw)
    out: list[Frame] = []
    prev = 0
    for cut in sorted(set(cuts)):
        out += dec.feed(data[prev:cut])
        prev = cut
    out += dec.feed(data[prev:])
    return out + dec.flush()


_message = st.binary(max_size=40).map(lambda b: b"<13>" + b)
_piece = st.one_of(
    _message.map(octet),
    _message.map(lambda m: m.replace(b"\n", b"") + b"\n"),
    _message.map(lambda m: m.replace(b"\n", b"").replace(b"\r", b"") + b"\r\n"),
    _message.map(lambda m: m.replace(b"\0", b"").replace(b"\n", b"") + b"\0"),
    st.sampled_from([b" ", b"\n", b"\r\n", b"12", b"99999999 ", b"7 x", b"3 <", b"\r"]),
    st.binary(max_size=20),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_piece, max_size=12).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=600), max_size=20),
    st.sampled_from([(8, 16), (16, 64), (65536, 1 << 20)]),
    st.sampled_from(["auto", "octet-counting", "non-transparent", "lines"]),
)
def test_any_chunking_yields_the_same_frames(data, cuts, limits, mode):
    max_frame, hard_cap = limits
    kw = {"max_frame": max_frame, "hard_cap": hard_cap, "mode": mode}
    whole = decode(data, **kw)
    assert _feed_chunks(data, [c for c in cuts if c < len(data)], **kw) == whole
    assert _feed_chunks(data, list(range(len(data))), **kw) == whole
    for f in whole:
        assert len(f.data) <= max_frame
        assert f.original is None or len(f.original) <= hard_cap


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=60).map(lambda b: b"<13>" + b), max_size=10),
       st.lists(st.integers(min_value=0, max_value=700), max_size=10))
def test_octet_counting_round_trips_any_message(messages, cuts):
    data = b"".join(octet(m) for m in messages)
    frames = _feed_chunks(data, [c for c in cuts if c < len(data)])
    assert [f.data for f in frames] == messages
    assert not any(f.truncated for f in frames)


# ---------------------------------------------------------------- runs of plain lines


class FrameByFrame(FrameDecoder):
    """The reference: every frame through the general path, no run-of-lines shortcut."""

    plain_runs = False


def _both(data: bytes, cuts: list[int], **kw) -> tuple[list[Frame], list[Frame]]:
    fast = _feed_chunks(data, cuts, **kw)
    dec, out, prev = FrameByFrame(**kw), [], 0
    for cut in sorted(set(cuts)):
        out += dec.feed(data[prev:cut])
        prev = cut
    out += dec.feed(data[prev:]) + dec.flush()
    return fast, out


_line = st.one_of(
    st.binary(min_size=1, max_size=30).map(lambda b: b"<13>" + b.replace(b"\n", b"")),
    st.sampled_from([b"", b"\r", b" <13>sp", b"\t<13>tab", b"7 <13>abc", b"12 x", b"<13>a\rb", b"<13>a\x00b",
                     b"\x00", b"<13>" + b"L" * 40, b"<13>crlf\r", b"<13>cr\r\r", b"\r<13>x"]),
)


@settings(max_examples=600, deadline=None)
@given(
    st.lists(_line, max_size=30).map(lambda lines: b"\n".join(lines)),
    st.booleans(),
    st.lists(st.integers(min_value=0, max_value=900), max_size=6),
    st.sampled_from([(8, 16), (24, 64), (65536, 1 << 20)]),
    st.sampled_from(["auto", "octet-counting", "non-transparent", "lines"]),
)
def test_runs_of_lines_match_the_frame_by_frame_path(data, terminated, cuts, limits, mode):
    data += b"\n" if terminated else b""
    kw = {"max_frame": limits[0], "hard_cap": limits[1], "mode": mode}
    fast, reference = _both(data, [c for c in cuts if c < len(data)], **kw)
    assert fast == reference


def test_a_plain_stream_is_cut_in_runs_with_exact_bytes():
    lines = [b"<134>1 2024-05-01T10:00:00Z h app - - - m%d" % i for i in range(3000)]
    data = b"\n".join(lines) + b"\r\n"
    dec = FrameDecoder()
    out = dec.feed_data(data[:100_000]) + dec.feed_data(data[100_000:]) + dec.flush_data()
    assert out == lines
    assert all(type(v) is bytes for v in out)


def test_feed_data_gives_cut_frames_as_frames():
    dec = FrameDecoder(max_frame=8, hard_cap=64)
    out = dec.feed_data(b"<13>ok\n<13>far too long\n<13>ok2\n")
    assert out == [b"<13>ok", Frame(b"<13>far ", True, b"<13>far too long", 16), b"<13>ok2"]


# ---------------------------------------------------------------- frames beyond the hard cap: digest of the whole

_stretch = st.one_of(
    st.integers(min_value=1, max_value=30).map(lambda n: b"x" * n),
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\0", b"\r\r", b"<13>"]),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_stretch, max_size=24).map(b"".join),
    st.lists(st.integers(min_value=0, max_value=400), max_size=20),
    st.sampled_from(["non-transparent", "lines"]),
    st.booleans(),
)
def test_a_frame_beyond_the_hard_cap_carries_the_sha256_of_all_its_bytes(data, cuts, mode, bytewise):
    """Whatever the chunking and wherever CRs fall, the digest is that of the frame a decoder without a cap
    keeps whole (a CR before LF and a CR at end of stream are not part of the frame)."""
    reference = decode(data, max_frame=4, hard_cap=1 << 20, mode=mode)
    chunks = list(range(len(data))) if bytewise else sorted(c for c in cuts if c < len(data))
    capped = _feed_chunks(data, chunks, max_frame=4, hard_cap=8, mode=mode)
    assert capped == [f._replace(original=f.original[:8]) if f.original else f for f in reference]
    for got, want in zip(capped, reference, strict=True):
        whole = want.original if want.original is not None else want.data
        if len(whole) > 8:  # a digest whenever the decoder could not keep the whole frame
            assert got.sha256 is not None and got.size == len(whole)
        if got.sha256 is not None:
            assert got.sha256 == hashlib.sha256(whole).hexdigest()


def test_a_20_mb_frame_keeps_the_cap_and_the_digest_of_20_mb():
    line = b"<13>" + (bytes(range(14, 256)) * 5)[:1018] + b"\t\r"  # 1024 bytes: every 64th chunk ends in a CR
    body = line * 20_000
    dec = FrameDecoder(max_frame=1024, hard_cap=1 << 20)
    out: list[Frame] = []
    for start in range(0, len(body), 65536):
        out += dec.feed(body[start : start + 65536])
    out += dec.feed(b"\r\n<13>next\n")
    (frame, after) = out
    assert frame.size == len(body) == 20_480_000  # the body's own last CR, before the LF, is stripped
    assert frame.original == body[: 1 << 20] and frame.data == body[:1024]
    assert frame.sha256 == hashlib.sha256(body).hexdigest()
    assert after == Frame(b"<13>next", False, None, 8) and after.sha256 is None
