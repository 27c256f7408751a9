"""Frames as Manchester voltages and back: intact or rejected, never corrupted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.link import EthernetFrame, MACAddress, listen, receive_frame, transmit
from labkit.link.wire import SYNC, frame_bits, frame_from_bits
from labkit.phy import add_noise, clock_skew, low_pass

FRAME = EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, bytes(range(100)))


def test_preamble_sfd_and_bit_order():
    bits = frame_bits(FRAME)
    assert SYNC == b"\x55" * 7 + b"\xd5"
    assert bits[:8].tolist() == [1, 0, 1, 0, 1, 0, 1, 0]  # 0x55 LSB first
    assert bits[56:64].tolist() == [1, 0, 1, 0, 1, 0, 1, 1]  # SFD 0xD5 LSB first
    first = FRAME.pack()[0]  # 0x02: the destination's first octet, I/G bit first
    assert bits[64:72].tolist() == [(first >> k) & 1 for k in range(8)]
    assert bits.size == 8 * (8 + len(FRAME.pack()))


def test_clean_wire_delivers_the_frame():
    samples = transmit(FRAME, samples_per_bit=8, idle_before=20, idle_after=5)
    assert samples.size == 8 * (20 + 5 + 8 * (8 + FRAME.wire_length()))
    assert receive_frame(samples, payload_length=100) == FRAME
    reception = listen(samples)
    assert reception.data == FRAME.pack() and reception.dribble_bits == 0


def test_impaired_but_readable_wire():
    rng = np.random.default_rng(3)
    x = low_pass(transmit(FRAME, v_high=1.0, v_low=-1.0), tau=1.0)
    x = clock_skew(x, offset=2.7, drift=0.001)
    x = add_noise(x, 15, rng, signal_power=1.0)
    assert receive_frame(x, payload_length=100) == FRAME


def test_a_flipped_bit_is_rejected_by_the_fcs():
    wire = bytearray(FRAME.pack())
    wire[40] ^= 0x10
    with pytest.raises(ParseError) as info:
        receive_frame(transmit(bytes(wire)))
    assert info.value.field == "fcs"


def test_no_frame_on_the_line():
    rng = np.random.default_rng(1)
    with pytest.raises(ParseError) as info:
        receive_frame(rng.normal(0, 1, 4000))
    assert info.value.layer in ("ethernet", "phy")
    with pytest.raises(LabkitValueError):
        receive_frame(transmit(FRAME), samples_per_bit=2)
    with pytest.raises(LabkitValueError):
        transmit("not a frame")


def test_many_noisy_frames_are_intact_or_rejected_never_corrupted():
    rng = np.random.default_rng(2026)
    delivered = rejected = 0
    fields: set[str] = set()
    for _ in range(200):
        payload = rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
        frame = EthernetFrame(MACAddress.random(rng), MACAddress.random(rng), 0x0800, payload)
        x = transmit(frame)
        x = low_pass(x, tau=float(rng.uniform(0.5, 1.5)))
        x = clock_skew(x, offset=float(rng.uniform(0, 8)), drift=float(rng.uniform(-1e-3, 1e-3)))
        x = add_noise(x, float(rng.uniform(6, 12)), rng, signal_power=6.25)
        try:
            got = receive_frame(x, payload_length=len(payload))
        except ParseError as err:
            rejected += 1
            fields.add(err.field)
            continue
        assert got == frame  # delivered means delivered intact
        delivered += 1
    assert delivered + rejected == 200
    assert delivered >= 100  # moderate noise: most frames get through
    assert rejected >= 5  # ...and the receiver did have damaged frames to reject
    assert "fcs" in fields  # some arrived whole but with wrong bits: only the FCS could tell
    assert fields <= {"fcs", "length", "sfd", "preamble"}


def test_receiver_tracks_a_clock_that_is_off():
    # 0.5% fast: over a 1518-byte frame the receiver's count would drift by 60 bits
    big = EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, bytes(1500))
    x = clock_skew(transmit(big), drift=0.005)
    reception = listen(x)
    assert reception.data == big.pack()
    assert reception.clock.period == pytest.approx(8 / 1.005, rel=1e-3)
    assert 0.8 < reception.preamble_score <= 1.0


def test_frame_found_after_noise_on_an_idle_line():
    rng = np.random.default_rng(5)
    x = transmit(FRAME, idle_before=300, idle_after=40)
    x = add_noise(x, 12, rng, signal_power=6.25)
    assert receive_frame(x, payload_length=100) == FRAME


# The waveform stage runs a quarter of FUZZ_EXAMPLES (2,500 in CI), with this reason: each run
# demodulates a whole waveform through a clock-tracking loop that steps bit by bit in Python
# (about 4 ms a run, measured by benchmarks/fuzz_link.py), so 10,000 would cost some 45 s of
# CI time on their own. Everything the waveform stage hands on goes through the bit-level
# stage (SFD, end of carrier, bytes, FCS: frame_from_bits), which test_link_fuzz.py fuzzes
# at the full FUZZ_EXAMPLES with random and mutated bit streams; and benchmarks/fuzz_link.py
# is the bounded run of 10,000 waveforms.
_WAVEFORM_KINDS = ("noise", "levels", "cut", "overwrite", "spikes")


def _waveform_input(seed: int, kind: str, size: int) -> np.ndarray:
    """Random voltages, two-level junk, or a real frame's waveform cut, overwritten or spiked."""
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return rng.normal(0, float(rng.uniform(0.01, 5)), size)
    if kind == "levels":  # random two-level junk: looks like a signal, means nothing
        return np.repeat(rng.integers(0, 2, size // 4 + 1) * 5.0, 4)[:size]
    x = transmit(EthernetFrame(MACAddress.random(rng), 1, 0x0800, rng.bytes(size % 80)))
    if kind == "cut":
        x = x[int(rng.integers(0, x.size)) :][: int(rng.integers(0, x.size + 1))]
    elif kind == "overwrite":
        a = int(rng.integers(0, x.size))
        x[a : a + size] = rng.normal(2.5, 3, x[a : a + size].size)
    else:
        x[rng.integers(0, x.size, 1 + size // 100)] = rng.choice([-1e6, 1e6, 0.0])
    return x


@settings(max_examples=FUZZ_EXAMPLES // 4, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(_WAVEFORM_KINDS),
    size=st.integers(0, 1500),
)
def test_fuzz_receiver_raises_only_labkit_errors(seed, kind, size):
    try:
        frame = receive_frame(_waveform_input(seed, kind, size))
    except LabkitError:
        return
    assert isinstance(frame, EthernetFrame)  # only an FCS-checked frame gets out


@settings(max_examples=30)
@given(
    payload=st.binary(max_size=120),
    spb=st.integers(4, 12),
    levels=st.sampled_from([(5.0, 0.0), (1.0, -1.0), (0.3, 0.1), (-2.0, 2.0)]),
    idle=st.integers(0, 40),
)
def test_clean_wire_round_trip(payload, spb, levels, idle):
    frame = EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 0x88B5, payload)
    x = transmit(frame, spb, v_high=levels[0], v_low=levels[1], idle_before=idle, idle_after=idle)
    assert receive_frame(x, spb, payload_length=len(payload)) == frame


def test_swapped_wires_are_detected_and_corrected():
    x = transmit(FRAME, v_high=0.0, v_low=5.0)  # the signal upside down
    reception = listen(x)
    assert reception.inverted
    assert receive_frame(x, payload_length=100) == FRAME
    assert not listen(transmit(FRAME)).inverted


def test_frame_from_bits_is_the_receivers_second_half():
    bits = frame_bits(FRAME)
    assert frame_from_bits(bits, payload_length=100) == FRAME
    assert frame_from_bits(1 - bits, payload_length=100) == FRAME  # swapped wires
    junk = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1], np.uint8)
    noisy = np.concatenate([junk[:4], bits, junk])
    carrier = np.concatenate([np.ones(4 + bits.size, bool), np.zeros(junk.size, bool)])
    assert frame_from_bits(noisy, carrier, payload_length=100) == FRAME  # carrier ends it
    with pytest.raises(ParseError, match="fcs"):
        frame_from_bits(noisy)  # without the carrier, the junk's first 8 bits become a byte
    flipped = bits.copy()
    flipped[200] ^= 1
    with pytest.raises(ParseError, match="fcs"):
        frame_from_bits(flipped)
    with pytest.raises(ParseError, match="sfd"):
        frame_from_bits(bits[:60])
    with pytest.raises(LabkitValueError, match="carrier"):
        frame_from_bits(bits, np.ones(bits.size - 1, bool))
    # the receiver on a waveform gives the same as this on the bits it decided
    reception = listen(transmit(FRAME))
    assert reception.data == FRAME.pack()
