"""Exercise checks for course/01-physical-layer.ipynb (the ``phy.*`` names); see :mod:`labkit.exercises`.

Each checker runs the student's function on a few bit patterns, compares the
result with :mod:`labkit.phy`, and on the first difference names the case
and gives a hint.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labkit.exercises import ExerciseResult, exercise
from labkit.phy import add_noise, ber_theory, bits_from_bytes, encode


def _compare_arrays(got: Any, want: np.ndarray, what: str, hint: str) -> ExerciseResult | None:
    arr = np.asarray(got)
    if arr.shape != want.shape:
        return ExerciseResult(
            False, f"{what}: expected {want.size} values, got shape {arr.shape}. {hint}"
        )
    if not np.allclose(arr.astype(float), want.astype(float)):
        i = int(np.flatnonzero(~np.isclose(arr.astype(float), want.astype(float)))[0])
        return ExerciseResult(False, f"{what}: first difference at index {i}: got {arr[i]}, "
                                     f"expected {want[i]}. {hint}")
    return None


_PHY_CASES = [
    np.array([], dtype=np.uint8),
    np.array([1], dtype=np.uint8),
    np.array([0, 0, 1, 1, 0, 1, 0, 0, 0, 1], dtype=np.uint8),
    np.random.default_rng(7).integers(0, 2, 64, dtype=np.uint8),
]


@exercise("phy.bits_of_byte")
def _check_bits_of_byte(answer: Any) -> ExerciseResult:
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., bits_of_byte)")
    for value in (0, 1, 0x41, 0x80, 0xA5, 0xFF):
        want = bits_from_bytes(bytes([value]))
        bad = _compare_arrays(
            answer(value), want, f"bits_of_byte({value:#04x})",
            "Most significant bit first: 0x41 is 0 1 0 0 0 0 0 1. Try (value >> (7 - i)) & 1.",
        )
        if bad is not None:
            return bad
    return ExerciseResult(True, "bits_of_byte matches labkit.phy.bits_from_bytes for every byte tried")


@exercise("phy.nrz_l")
def _check_nrz_l(answer: Any) -> ExerciseResult:
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., nrz_l)")
    for spb in (2, 8):
        for bits in _PHY_CASES:
            want = encode(bits, "nrz-l", spb)
            bad = _compare_arrays(
                answer(bits, spb), want, f"nrz_l({bits.size} bits, samples_per_bit={spb})",
                "Each bit lasts samples_per_bit samples: 5.0 V for a 1, 0.0 V for a 0 "
                "(np.repeat does exactly this).",
            )
            if bad is not None:
                return bad
    return ExerciseResult(True, "nrz_l matches labkit.phy.encode(bits, 'nrz-l') on every case")


@exercise("phy.manchester_decode")
def _check_manchester_decode(answer: Any) -> ExerciseResult:
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., manchester_decode)")
    rng = np.random.default_rng(11)
    for bits in _PHY_CASES:
        clean = encode(bits, "manchester", 8)
        for label, wave in (("clean", clean), ("noisy", add_noise(clean, 6, rng, signal_power=6.25)
                                                 if clean.size else clean)):
            bad = _compare_arrays(
                answer(wave, 8), bits, f"manchester_decode({label}, {bits.size} bits)",
                "IEEE 802.3: a 0 is high-then-low, a 1 is low-then-high. Compare the mean of "
                "each bit's second half with its first half rather than single samples, so "
                "noise averages out.",
            )
            if bad is not None:
                return bad
    return ExerciseResult(True, "manchester_decode reads clean and noisy waveforms correctly")


@exercise("phy.snr_for_ber")
def _check_snr_for_ber(answer: Any) -> ExerciseResult:
    try:
        snr = float(answer)
    except (TypeError, ValueError):
        return ExerciseResult(False, f"expected a number of decibels, got {answer!r}")
    if not math.isfinite(snr):
        return ExerciseResult(False, f"expected a finite number of decibels, got {answer!r}")
    got = float(ber_theory(snr, 8, "nrz-l"))
    if abs(math.log10(got) - math.log10(1e-6)) <= 0.1:
        return ExerciseResult(True, f"at {snr:.2f} dB theory gives a BER of {got:.2e}")
    direction = "more" if got > 1e-6 else "less"
    return ExerciseResult(
        False,
        f"at {snr:.2f} dB theory gives a BER of {got:.2e}, not 1e-6: you need {direction} SNR. "
        "Solve Q(sqrt(8 * snr)) = 1e-6 (Q(4.753) = 1e-6), then snr_db = 10 * log10(snr).",
    )
