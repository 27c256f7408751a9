"""COBS byte stuffing and the streaming decoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.link import framing

# Examples from Cheshire & Baker's paper, as tabulated in the COBS literature.
GOLDEN = [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255))),
    (bytes(range(0, 255)), b"\x01\xff" + bytes(range(1, 255))),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00", b"\xff" + bytes(range(2, 256)) + b"\x01\x01"),
]


@pytest.mark.parametrize(("raw", "encoded"), GOLDEN)
def test_golden(raw, encoded):
    assert framing.encode(raw) == encoded
    assert framing.decode(encoded) == raw
    assert framing.frame(raw) == encoded + b"\x00"


@given(st.binary(max_size=1600))
def test_round_trip_no_zeros_bounded_overhead(data):
    enc = framing.encode(data)
    assert 0 not in enc
    assert len(enc) <= framing.max_encoded_length(len(data))
    assert framing.decode(enc) == data


def test_worst_case_overhead_is_tiny_compared_with_slip():
    frame = bytes(range(1, 256)) * 6  # 1530 bytes, no zeros
    assert len(framing.encode(frame)) - len(frame) == 7  # SLIP would add up to 1530


def test_decode_errors():
    with pytest.raises(ParseError) as info:
        framing.decode(b"\x05\x11\x22")
    assert info.value.layer == "cobs" and info.value.field == "code" and "truncated" in str(
        info.value
    )
    with pytest.raises(ParseError, match="offset 0"):
        framing.decode(b"\x00\x01")
    with pytest.raises(ParseError, match="offset 2"):
        framing.decode(b"\x03\x11\x00")
    with pytest.raises(ParseError) as info:
        framing.decode(b"")
    assert info.value.field == "length"
    with pytest.raises(LabkitValueError):
        framing.encode("text")


@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_stream_any_chunking(frames, data):
    stream = b"".join(framing.frame(f) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = framing.StreamDecoder()
    got = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += decoder.feed(stream[a:b])
    assert got == frames
    assert decoder.pending == 0 and decoder.dropped == 0 and decoder.frames == len(frames)


def test_stream_resynchronises_after_garbage_and_truncation():
    decoder = framing.StreamDecoder(synced=False)
    line = (
        b"\x17\x42garbage"  # joined mid-frame: discarded up to the first delimiter
        + b"\x00"
        + framing.frame(b"one")
        + framing.encode(b"two, cut short")[:5]  # a truncated frame
        + b"\x00"
        + b"\x00\x00"  # idle delimiters
        + framing.frame(b"three\x00")
    )
    assert decoder.feed(line) == [b"one", b"three\x00"]
    assert decoder.dropped == 1 and decoder.errors[0].field == "code"


def test_stream_bounds_its_buffer():
    decoder = framing.StreamDecoder(max_frame=16)
    assert decoder.feed(b"\x01" * 100) == []
    assert decoder.pending <= 16 and decoder.dropped == 1
    assert decoder.feed(b"\x00" + framing.frame(b"ok")) == [b"ok"]


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.binary(max_size=600))
def test_fuzz_decode(data):
    try:
        framing.decode(data)
    except LabkitError:
        pass
    decoder = framing.StreamDecoder(max_frame=256)
    for frame in decoder.feed(data):
        assert framing.decode(framing.encode(frame)) == frame
