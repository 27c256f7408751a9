"""Bit error rate against theory, and eye diagrams."""

from __future__ import annotations

import numpy as np
import pytest

from labkit import LabkitError, phy


def test_q_function_known_values():
    assert phy.q_function(0) == pytest.approx(0.5)
    assert phy.q_function(1.0) == pytest.approx(0.158655, rel=1e-5)
    assert phy.q_function(4.753424) == pytest.approx(1e-6, rel=1e-4)


@pytest.mark.parametrize("code", list(phy.CODES))
def test_measured_ber_tracks_theory(code):
    """Within 4 binomial standard deviations (plus 5% for the model), at every SNR."""
    n = 200_000
    snrs = np.array([-6.0, -3.0, 0.0, 2.0])
    measured = phy.measure_ber(snrs, code, 8, n, rng=4)
    theory = phy.ber_theory(snrs, 8, code)
    sigma = np.sqrt(theory * (1 - theory) / n)
    assert np.all(np.abs(measured - theory) <= 4 * sigma + 0.05 * theory), (measured, theory)
    assert np.all(np.diff(measured) < 0)  # more SNR, fewer errors


def test_ber_counts_and_errors():
    assert phy.bit_errors([0, 1, 1, 0], [0, 0, 1, 1]) == 2
    assert phy.ber([0, 1, 1, 0], [0, 0, 1, 1]) == 0.5
    with pytest.raises(LabkitError, match="received: 3 bits, but sent has 4"):
        phy.ber([0, 1, 1, 0], [0, 1, 1])
    with pytest.raises(LabkitError, match="no bits"):
        phy.ber([], [])


def test_eye_closes_with_noise_and_rise_time():
    bits = np.random.default_rng(1).integers(0, 2, 2000, dtype=np.uint8)
    clean = phy.encode(bits, "nrz-l")
    assert phy.eye_opening(clean) == pytest.approx(5.0)
    slow = phy.low_pass(clean, 3)
    noisy = phy.add_noise(slow, 10, 1, signal_power=6.25)
    assert 0 < phy.eye_opening(slow) < 5.0
    assert phy.eye_opening(noisy) < phy.eye_opening(slow)
    traces = phy.eye_traces(clean, 8, span_bits=2)
    assert traces.shape == (1998, 17)  # windows start every bit while 17 samples remain
    assert np.array_equal(traces[3], clean[24:41])
    with pytest.raises(LabkitError, match="less than one window"):
        phy.eye_traces(clean[:10], 8)


@pytest.mark.parametrize("code", ["nrz-l", "nrz-i", "manchester"])
def test_measure_ber_adds_the_noise_add_noise_would_piece_by_piece(code, monkeypatch):
    """measure_ber draws its noise in pieces to save memory: the numbers are add_noise's."""
    import labkit.phy.measure as measure
    from labkit.phy import add_noise, ber, decode, encode

    monkeypatch.setattr(measure, "NOISE_CHUNK", 1000)  # many pieces, one of them short
    n, snrs = 12_345, [-3.0, 0.0, 2.0]
    got = measure.measure_ber(snrs, code, 8, n, np.random.default_rng(11))
    gen = np.random.default_rng(11)
    want = []
    for snr in snrs:
        bits = gen.integers(0, 2, n, dtype=np.uint8)
        rx = add_noise(encode(bits, code, 8), snr, gen, signal_power=6.25)
        want.append(ber(bits, decode(rx, code, 8)))
    assert list(got) == want and max(want) > 0
