"""The teaching CRC-32 agrees with zlib, bit for bit."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabkitValueError
from labkit.link import crc


def test_published_check_value():
    # The catalogue check value of CRC-32 (ISO-HDLC / IEEE 802.3): CRC of the ASCII "123456789".
    assert crc.crc32(b"123456789") == 0xCBF43926
    assert crc.crc32(b"") == 0


def test_polynomial_constants():
    assert crc.POLY == 0x04C11DB7
    assert crc.POLY_REFLECTED == 0xEDB88320
    assert crc.reflect(crc.POLY_REFLECTED, 32) == crc.POLY
    assert crc.reflect(0b001, 3) == 0b100
    assert crc.RESIDUE == 0x2144DF1C


@given(st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_equals_zlib(data, start):
    assert crc.crc32(data) == zlib.crc32(data)
    assert crc.crc32(data, start) == zlib.crc32(data, start)


@given(st.binary(max_size=100), st.binary(max_size=100))
def test_running_crc_over_chunks(a, b):
    assert crc.crc32(b, crc.crc32(a)) == crc.crc32(a + b)


@given(st.binary(max_size=100))
def test_residue_of_data_with_its_fcs(data):
    framed = data + crc.crc32(data).to_bytes(4, "little")
    assert crc.crc32(framed) == crc.RESIDUE


@given(st.binary(min_size=1, max_size=60))
def test_steps_end_in_the_crc(data):
    steps = list(crc.crc32_steps(data))
    assert len(steps) == 8 * len(data)
    assert [bit for _, bit, _ in steps[:8]] == [(data[0] >> k) & 1 for k in range(8)]
    assert steps[-1][2] ^ 0xFFFFFFFF == zlib.crc32(data)


def test_bad_input():
    with pytest.raises(LabkitValueError, match="encode"):
        crc.crc32("text")
    with pytest.raises(LabkitValueError, match="bytes"):
        crc.crc32([1, 2])
    with pytest.raises(LabkitValueError, match="width"):
        crc.reflect(1, 0)
