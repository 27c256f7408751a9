"""Line codes: round trips, known waveforms, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit import LabkitError, phy

CODES = list(phy.CODES)
bit_lists = st.lists(st.integers(0, 1), min_size=0, max_size=300)


@pytest.mark.parametrize(
    "data, msb, lsb",
    [
        (b"A", [0, 1, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 1, 0]),
        (b"\x80\x01", [1] + [0] * 14 + [1], [0] * 7 + [1, 1] + [0] * 7),
        (b"", [], []),
    ],
)
def test_bits_from_bytes_both_orders(data, msb, lsb):
    assert phy.bits_from_bytes(data).tolist() == msb
    assert phy.bits_from_bytes(data, lsb_first=True).tolist() == lsb
    assert phy.bytes_from_bits(msb) == data
    assert phy.bytes_from_bits(lsb, lsb_first=True) == data


@given(st.binary(max_size=200), st.booleans())
def test_bytes_bits_round_trip(data, lsb_first):
    bits = phy.bits_from_bytes(data, lsb_first=lsb_first)
    assert bits.dtype == np.uint8 and bits.size == 8 * len(data)
    assert phy.bytes_from_bits(bits, lsb_first=lsb_first) == data


def test_known_waveforms():
    # IEEE 802.3 Manchester: 0 = high then low, 1 = low then high.
    assert phy.encode([0, 1], "manchester", 2).tolist() == [5, 0, 0, 5]
    assert phy.encode([1, 0, 1], "nrz-l", 2, v_high=1, v_low=-1).tolist() == [1, 1, -1, -1, 1, 1]
    # NRZ-I starts low and flips at each 1.
    assert phy.encode([1, 1, 0, 1], "nrz-i", 2).tolist() == [5, 5, 0, 0, 0, 0, 5, 5]
    # Odd samples per bit: the first half of a Manchester bit gets the smaller share.
    assert phy.encode([1], "manchester", 3).tolist() == [0, 5, 5]


@pytest.mark.parametrize("code", CODES)
@given(bits=bit_lists, spb=st.integers(2, 17))
def test_round_trip_every_length(code, bits, spb):
    wave = phy.encode(bits, code, spb)
    assert wave.size == len(bits) * spb
    assert phy.decode(wave, code, spb).tolist() == bits


@pytest.mark.parametrize("code", CODES)
@given(bits=bit_lists.filter(len), seed=st.integers(0, 2**32 - 1))
def test_round_trip_with_noise_at_high_snr(code, bits, seed):
    rng = np.random.default_rng(seed)
    noisy = phy.add_noise(phy.encode(bits, code, 8), 20, rng, signal_power=6.25)
    assert phy.decode(noisy, code, 8).tolist() == bits


def test_manchester_ignores_attenuation_and_offset():
    bits = np.random.default_rng(3).integers(0, 2, 500, dtype=np.uint8)
    weak = phy.attenuate(phy.encode(bits, "manchester"), 30) + 2.0  # 0.16 V swing on 2 V DC
    assert np.array_equal(phy.decode(weak, "manchester"), bits)
    # NRZ with the default 2.5 V threshold cannot read it: it needs estimated levels.
    assert not np.array_equal(phy.decode(phy.attenuate(phy.encode(bits, "nrz-l"), 30), "nrz-l"), bits)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: phy.encode([1, 0], "morse"), ["code='morse'", "nrz-l"]),
        (lambda: phy.encode([1, 0], "nrz-l", 1), ["samples_per_bit=1", "at least 2"]),
        (lambda: phy.encode([1, 0], "nrz-l", 4.0), ["samples_per_bit=4.0", "whole number"]),
        (lambda: phy.encode([1, 0], "nrz-l", True), ["samples_per_bit=True"]),
        (lambda: phy.encode([1, 2, 0], "nrz-l"), ["bits[1]=", "0 or 1"]),
        (lambda: phy.encode([[1, 0]], "nrz-l"), ["1-D"]),
        (lambda: phy.encode(b"\x01", "nrz-l"), ["bits_from_bytes"]),
        (lambda: phy.encode([1], "nrz-l", v_high=1, v_low=1), ["v_high=1"]),
        (lambda: phy.decode(np.zeros(13), "nrz-l", 8), ["13 samples", "5 samples left over"]),
        (lambda: phy.decode([0.0, np.nan], "nrz-l", 2), ["samples[1]=nan", "finite"]),
        (lambda: phy.decode(["a", "b"], "nrz-l", 2), ["samples"]),
        (lambda: phy.bits_from_bytes("hi"), ["'hi'.encode()"]),
        (lambda: phy.bytes_from_bits([1, 0, 1]), ["3 bits", "whole number of bytes"]),
    ],
)
def test_bad_input_is_named(call, words):
    with pytest.raises(LabkitError) as info:
        call()
    assert isinstance(info.value, ValueError)
    for word in words:
        assert word in str(info.value)


def test_code_names_are_forgiving():
    bits = [1, 0, 1, 1]
    assert np.array_equal(phy.encode(bits, "NRZ_L"), phy.encode(bits, "nrz-l"))
    assert np.array_equal(phy.encode(bits, "nrzi"), phy.encode(bits, "nrz-i"))
    assert np.array_equal(phy.encode(bits, " Manchester "), phy.encode(bits, "manchester"))
