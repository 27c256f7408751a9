"""Fuzz: the pcap reader and the unit parsers never leak a stray exception.

Whatever the input, they return a value or raise labkit's own error
(``ParseError`` / ``LabkitValueError``): never ``IndexError``, ``struct.error``
or ``ZeroDivisionError``. Random bytes get half of FUZZ_EXAMPLES; the slower
structured strategies a tenth, to keep the CI run short.
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitValueError, ParseError
from labkit.sim import PcapWriter, read_pcap
from labkit.units import parse_rate, parse_time


def valid_pcap(frames: list[bytes], nanosecond: bool) -> bytes:
    buf = io.BytesIO()
    w = PcapWriter(buf, nanosecond=nanosecond)
    for i, f in enumerate(frames):
        w.write(i * 1_234_567, f)
    return buf.getvalue()


@settings(max_examples=FUZZ_EXAMPLES // 2)
@given(st.binary(max_size=200))
def test_read_pcap_random_bytes(data):
    try:
        read_pcap(data)
    except ParseError:
        pass


@settings(max_examples=FUZZ_EXAMPLES // 10)
@given(
    frames=st.lists(st.binary(max_size=80), max_size=5),
    nanosecond=st.booleans(),
    cut=st.integers(min_value=0, max_value=600),
    flips=st.lists(st.tuples(st.integers(0, 599), st.integers(1, 255)), max_size=4),
)
def test_read_pcap_mutated_files(frames, nanosecond, cut, flips):
    data = valid_pcap(frames, nanosecond)
    pf = read_pcap(data)
    assert [r.data for r in pf.records] == frames
    assert [r.time_ns for r in pf.records] == [
        i * 1_234_567 if nanosecond else i * 1_234_567 // 1000 * 1000 for i in range(len(frames))
    ]
    mutated = bytearray(data[: min(cut, len(data))] if cut < len(data) else data)
    for pos, x in flips:
        if pos < len(mutated):
            mutated[pos] ^= x
    try:
        pf = read_pcap(bytes(mutated))
    except ParseError:
        return
    for r in pf.records:
        assert len(r.data) <= r.orig_len


@settings(max_examples=FUZZ_EXAMPLES // 10)
@given(st.one_of(st.text(max_size=20), st.floats(), st.integers(), st.none()))
def test_unit_parsers_random_input(value):
    for parse in (parse_time, parse_rate):
        try:
            out = parse(value)
        except LabkitValueError:
            continue
        assert isinstance(out, int) and out >= 0
