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
from labkit.phy import add_noise, ber_theory, bits_from_bytes, decode, encode


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
    for value in (0, 1, 0x41, 0x80, 0xA5, 0xFF, 0x0F, 0x12):
        want = bits_from_bytes(bytes([value]))
        got = answer(value)
        hint = ("Most significant bit first: the first bit is the one worth 128, the last the one "
                "worth 1.")
        arr = np.asarray(got)
        if arr.shape == want.shape and np.array_equal(arr.astype(int), want[::-1].astype(int)):
            hint = "Those are the bits in reverse: you gave the least significant bit first."
        elif arr.size and set(np.unique(arr.astype(float))) - {0.0, 1.0}:
            hint = "Each bit must be 0 or 1, not the value it is worth (128, 64, ...)."
        bad = _compare_arrays(got, want, f"bits_of_byte({value:#04x})", hint)
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


#: The noisy test of ``phy.manchester_decode``: 1000 bits at 0 dB per sample, 8 samples per bit.
#: Averaging each half-bit's 4 samples errs with probability Q(sqrt(8)) = 0.0023 per bit (about
#: 2 errors); comparing one sample of each half errs with Q(sqrt(2)) = 0.079 (about 79).
MANCHESTER_NOISY = {"bits": 1000, "snr_db": 0.0, "samples_per_bit": 8, "seed": 16}


@exercise("phy.manchester_decode")
def _check_manchester_decode(answer: Any) -> ExerciseResult:
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., manchester_decode)")
    hint = ("IEEE 802.3: a 0 is high-then-low, a 1 is low-then-high: compare the two halves of "
            "each bit.")
    for bits in _PHY_CASES:
        for spb in (2, 8):
            bad = _compare_arrays(answer(encode(bits, "manchester", spb), spb), bits,
                                  f"manchester_decode(clean, {bits.size} bits, samples_per_bit={spb})",
                                  hint)
            if bad is not None:
                return bad
    task = MANCHESTER_NOISY
    spb = int(task["samples_per_bit"])
    rng = np.random.default_rng(int(task["seed"]))
    bits = rng.integers(0, 2, int(task["bits"]), dtype=np.uint8)
    wave = add_noise(encode(bits, "manchester", spb), float(task["snr_db"]), rng, signal_power=6.25)
    got = np.asarray(answer(wave, spb))
    if got.shape != bits.shape:
        return ExerciseResult(False, f"manchester_decode(noisy, {bits.size} bits): expected "
                                     f"{bits.size} bits, got shape {got.shape}")
    errors = int(np.count_nonzero(got.astype(int) != bits))
    reference = int(np.count_nonzero(decode(wave, "manchester", spb) != bits))
    if errors > 2 * reference + 5:
        return ExerciseResult(
            False,
            f"at {task['snr_db']:g} dB per sample your decoder got {errors} of {bits.size} bits "
            f"wrong, where averaging gets {reference}: use every sample of each half-bit, not one "
            "or two. The mean of n samples has 1/n of the noise's variance.",
        )
    return ExerciseResult(True, f"manchester_decode reads clean waveforms exactly, and {bits.size} "
                                f"noisy bits at {task['snr_db']:g} dB with {errors} errors "
                                f"(averaging the halves: {reference})")


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
