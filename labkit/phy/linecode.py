"""Line codes: how bits become voltage levels on a wire, and back.

Three codes, chosen by name:

``"nrz-l"`` (non-return-to-zero, level)
    A 1 is ``v_high`` for the whole bit, a 0 is ``v_low``. Simple, but a long
    run of equal bits is a flat line: nothing tells the receiver where one bit
    ends and the next begins.
``"nrz-i"`` (non-return-to-zero, inverted)
    A 1 is a change of level at the start of the bit, a 0 is no change; the
    line starts low. Runs of 1s now have transitions, runs of 0s still don't.
    Because only changes matter, swapping the two wires changes nothing.
``"manchester"`` (IEEE 802.3 convention, as 10BASE-T Ethernet sends it)
    Every bit has a transition in its middle: a 0 goes high-to-low, a 1 goes
    low-to-high. (G. E. Thomas's older convention is the opposite.) The clock
    travels with the data, at the price of twice the bandwidth.

``samples_per_bit`` is how many samples the simulated wire holds for one bit.
For Manchester with an odd count, the first half gets the smaller share.

:func:`decode` assumes the receiver's sample clock is exactly aligned with the
transmitter's (sample 0 is the start of bit 0). It averages every sample of a
bit (integrate and dump, the best a receiver can do against white noise). See
:mod:`labkit.phy.receiver` for a receiver that finds the clock by itself.
"""

from __future__ import annotations

import numpy as np

from labkit.errors import LabkitValueError
from labkit.phy import _validate

__all__ = ["CODES", "encode", "decode", "levels_from_bits"]

CODES = _validate.CODES


def levels_from_bits(bits: object, code: str = "manchester", samples_per_bit: int = 8) -> np.ndarray:
    """Return the line code's logical levels (0 = low, 1 = high), one per sample."""
    name = _validate.code_name(code)
    spb = _validate.samples_per_bit(samples_per_bit)
    b = _validate.bits(bits)
    if name == "nrz-l":
        return np.repeat(b, spb)
    if name == "nrz-i":
        # The level flips at every 1: the running XOR (parity) of the bits so far.
        return np.repeat(np.bitwise_xor.accumulate(b) if b.size else b, spb)
    # Manchester: the first half of a bit carries its complement, the second the bit.
    first = spb // 2
    halves = np.empty((b.size, spb), dtype=np.uint8)
    halves[:, :first] = (1 - b)[:, None]
    halves[:, first:] = b[:, None]
    return halves.reshape(-1)


def encode(
    bits: object,
    code: str = "manchester",
    samples_per_bit: int = 8,
    v_high: float = 5.0,
    v_low: float = 0.0,
) -> np.ndarray:
    """Turn bits into voltage samples (float64, volts).

    >>> encode([1, 0], "nrz-l", samples_per_bit=2)
    array([5., 5., 0., 0.])
    >>> encode([1, 0], "manchester", samples_per_bit=2)
    array([0., 5., 5., 0.])
    """
    hi = _validate.real(v_high, "v_high")
    lo = _validate.real(v_low, "v_low")
    if hi == lo:
        raise LabkitValueError(f"v_high={v_high!r} equals v_low: the two levels must differ")
    levels = levels_from_bits(bits, code, samples_per_bit)
    return lo + levels * (hi - lo)


def _per_bit(x: np.ndarray, spb: int, name: str = "samples") -> np.ndarray:
    if x.size % spb:
        raise LabkitValueError(
            f"{name}: {x.size} samples is not a whole number of bits at samples_per_bit={spb} "
            f"({x.size % spb} samples left over); trim the waveform or use labkit.phy.receive() "
            "to recover the clock"
        )
    return x.reshape(-1, spb)


def decode(
    samples: object,
    code: str = "manchester",
    samples_per_bit: int = 8,
    threshold: float | None = None,
    v_high: float = 5.0,
    v_low: float = 0.0,
) -> np.ndarray:
    """Turn voltage samples back into bits, with the clock aligned to sample 0.

    NRZ codes compare each bit's mean voltage with ``threshold`` (by default
    halfway between ``v_low`` and ``v_high``). Manchester needs no threshold:
    it compares the mean of a bit's second half with its first, so it is
    immune to attenuation and a DC offset.
    """
    name = _validate.code_name(code)
    spb = _validate.samples_per_bit(samples_per_bit)
    x = _validate.samples(samples)
    per_bit = _per_bit(x, spb)
    if name == "manchester":
        first = spb // 2
        weights = np.empty(spb)
        weights[:first] = -1.0 / first
        weights[first:] = 1.0 / (spb - first)
        return (per_bit @ weights > 0).astype(np.uint8)
    if threshold is None:
        thr = (_validate.real(v_high, "v_high") + _validate.real(v_low, "v_low")) / 2
    else:
        thr = _validate.real(threshold, "threshold")
    high = per_bit @ np.full(spb, 1.0 / spb) > thr
    if name == "nrz-l":
        return high.astype(np.uint8)
    # NRZ-I: a 1 wherever the level differs from the bit before (the line starts low).
    out = np.empty(high.size, dtype=np.uint8)
    if high.size:
        out[0] = high[0]
        np.not_equal(high[1:], high[:-1], out=out[1:])
    return out
