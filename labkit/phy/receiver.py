"""A receiver that finds everything by itself: levels, threshold, clock and frame start.

:func:`labkit.phy.decode` is told where bits begin. A real receiver is not:
its clock runs at its own rate, it starts listening at an arbitrary moment,
and the wire has shifted and scaled the voltages. This module recovers, in
order:

1. the two voltage levels and the threshold halfway between them
   (:func:`estimate_levels`, a two-cluster k-means on the sample values);
2. the bit clock, from the moments the signal crosses the threshold
   (:func:`recover_clock`): each crossing lies on a grid of bit boundaries
   (NRZ) or half-bits (Manchester); fitting a straight line through
   ``crossing time = phase + n * period`` gives the receiver's own bit period
   (so a 1% clock mismatch is measured, not suffered) and where bits start;
3. the bits, by averaging each bit (or half-bit) at the recovered times
   (:func:`decode_with_clock`);
4. optionally, where a known preamble sits, by correlation
   (:func:`find_preamble` on samples, :func:`receive` on the decoded bits).

Clock recovery needs transitions: Manchester has one in every bit; NRZ only
where the data changes, so a long run of equal bits in NRZ leaves the
receiver guessing. That is why Ethernet's 10 Mbit/s PHY uses Manchester and
faster ones scramble or use 4B5B/8B10B codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from labkit.errors import LabkitValueError, ParseError
from labkit.phy import _validate
from labkit.phy.linecode import encode

__all__ = [
    "Levels",
    "Clock",
    "Reception",
    "Decoder",
    "estimate_levels",
    "slice_levels",
    "recover_clock",
    "decode_with_clock",
    "find_preamble",
    "receive",
]


@dataclass(frozen=True)
class Levels:
    """The low and high voltage a receiver sees, and the threshold between them."""

    low: float
    high: float

    @property
    def threshold(self) -> float:
        return (self.low + self.high) / 2

    def __repr__(self) -> str:
        return f"Levels(low={self.low:.3f}, high={self.high:.3f}, threshold={self.threshold:.3f})"


@dataclass(frozen=True)
class Clock:
    """A recovered bit clock, in receiver samples.

    Bit ``k`` is centred at sample ``first_center + k * period``; ``count``
    bits fit in the waveform.
    """

    period: float
    first_center: float
    count: int

    def centers(self) -> np.ndarray:
        return self.first_center + self.period * np.arange(self.count)

    def __repr__(self) -> str:
        return (
            f"Clock(period={self.period:.4f}, first_center={self.first_center:.3f}, "
            f"count={self.count})"
        )


@dataclass(frozen=True)
class Reception:
    """What :func:`receive` found: the bits, and how it found them."""

    bits: np.ndarray
    levels: Levels
    clock: Clock
    #: index (in decoded bits) of the first bit after the preamble, or 0 without one
    start: int
    #: how many preamble bits matched (None without a preamble)
    preamble_matches: int | None = None


def estimate_levels(samples: object, iterations: int = 20) -> Levels:
    """Estimate the low and high levels as the centres of two clusters of sample values."""
    x = _validate.samples(samples)
    if x.size < 2:
        raise ParseError("phy", "samples", x.size, "need at least 2 samples to find two levels")
    low, high = np.percentile(x, [5, 95])
    if high - low <= 1e-12 * max(1.0, abs(high)):
        raise ParseError(
            "phy", "samples", f"flat at {float(low):.3g} V", "the waveform never changes level"
        )
    for _ in range(iterations):
        upper = x > (low + high) / 2
        new_low, new_high = x[~upper].mean(), x[upper].mean()
        if new_low == low and new_high == high:
            break
        low, high = new_low, new_high
    return Levels(float(low), float(high))


def slice_levels(samples: object, threshold: float) -> np.ndarray:
    """Return 1 where a sample is above ``threshold``, else 0 (a comparator)."""
    x = _validate.samples(samples)
    return (x > _validate.real(threshold, "threshold")).astype(np.uint8)


def _crossings(x: np.ndarray, threshold: float, smooth: int) -> np.ndarray:
    """Times (fractional sample indices) at which the signal crosses ``threshold``."""
    if smooth > 1:
        y = np.convolve(x, np.full(smooth, 1.0 / smooth), mode="valid")
        shift = (smooth - 1) / 2
    else:
        y, shift = x, 0.0
    above = y > threshold
    i = np.flatnonzero(above[1:] != above[:-1])
    y0, y1 = y[i], y[i + 1]
    frac = (threshold - y0) / (y1 - y0)
    return i + frac + shift


def _merge_close(t: np.ndarray, gap: float) -> np.ndarray:
    """Merge crossings closer than ``gap`` (noise chattering around one edge) into their mean."""
    if t.size == 0:
        return t
    group = np.concatenate([[0], np.cumsum(np.diff(t) >= gap)])
    return np.bincount(group, weights=t) / np.bincount(group)


# Transitions per window in _fit_grid, by line code. np.unwrap needs the phase to move
# less than half a cycle from one window to the next, so a window must span few enough
# bits: Manchester has one or two transitions in every bit, so sixteen span at most 16
# bits; NRZ has one every two bits on average, and sixteen (32 bits, often 50) now and
# then crossed the limit at 1% clock error, where eight (about 16 bits) keep well inside.
_WINDOW = {"manchester": 16, "nrz-l": 8, "nrz-i": 8}


def _fit_grid(t: np.ndarray, grid: float, window: int) -> tuple[float, float, np.ndarray]:
    """Fit ``t = phase + n * period`` with integer ``n``; returns (period, phase, n).

    Counting grid steps between neighbouring transitions would let one noise
    glitch or one missing edge shift every later count. Instead the phase of
    each transition on the nominal grid is read as an angle (a point on the
    unit circle, ``exp(2 pi i t / grid)``): averaged over windows of
    transitions, the angles give the local phase, and its slope over time is
    the receiver's clock error. Each transition then gets its grid number on
    its own, glitches (far from the fitted grid) are left out, and a least-
    squares line through the rest gives period and phase.
    """
    angle = np.exp(2j * np.pi * t / grid)
    count = t.size // window
    if count >= 2:
        phases = np.unwrap(np.angle(angle[: count * window].reshape(count, window).sum(axis=1)))
        centres = t[: count * window].reshape(count, window).mean(axis=1)
        slope, _ = np.polyfit(centres, phases, 1)  # radians of phase drift per sample
        period = grid / (1 - slope * grid / (2 * np.pi))
    else:
        period = grid
    phase = float(np.angle(np.sum(np.exp(2j * np.pi * t / period)))) / (2 * np.pi) * period
    for _ in range(3):
        n = np.rint((t - phase) / period)
        residual = t - phase - n * period
        keep = np.abs(residual) < period / 4
        if np.count_nonzero(keep) < 2 or np.ptp(n[keep]) == 0:
            break
        period, phase = np.polyfit(n[keep], t[keep], 1)
    n = np.rint((t - phase) / period)
    n -= n.min()
    phase = float(np.median(t - n * period))
    return float(period), phase, n.astype(np.int64)


def recover_clock(
    samples: object,
    code: str = "manchester",
    samples_per_bit: int = 8,
    *,
    threshold: float | None = None,
) -> Clock:
    """Recover the bit clock from the signal's transitions.

    ``samples_per_bit`` is the nominal rate; the receiver's true rate may be
    off by up to about 1.5% (:func:`labkit.phy.clock_skew`; the tests check 1%,
    and from 2% on 300-bit frames start to be lost, for every code), and the
    waveform may start anywhere within the first bit. Raises
    :class:`ParseError` when there are too few transitions to lock on to.
    """
    name = _validate.code_name(code)
    spb = _validate.samples_per_bit(samples_per_bit)
    x = _validate.samples(samples)
    if x.size < 2 * spb:
        raise ParseError(
            "phy", "samples", x.size, f"too short to recover a clock: need at least 2 bits "
            f"({2 * spb} samples at samples_per_bit={spb})"
        )
    thr = estimate_levels(x).threshold if threshold is None else _validate.real(threshold, "threshold")
    grid = spb / 2 if name == "manchester" else float(spb)
    smooth = max(1, int(grid // 3))
    t = _merge_close(_crossings(x, thr, smooth), grid / 2)
    if t.size < 2:
        raise ParseError(
            "phy", "transitions", int(t.size),
            "need at least two transitions to recover a clock (a long run of equal bits in NRZ "
            "has none; Manchester has one in every bit)",
        )
    period, phase, n = _fit_grid(t, grid, _WINDOW[name])
    if not 0.5 * grid < period < 1.5 * grid:
        raise ParseError(
            "phy", "period", round(period, 3),
            f"the transitions do not fit samples_per_bit={spb}: is the rate right?",
        )
    if name == "manchester":
        # Transitions on one parity of the half-bit grid are bit centres (every bit has
        # one); the others are bit boundaries (only between equal bits).
        odd = int(np.count_nonzero(n & 1))
        even = n.size - odd
        if odd != even:
            parity = 1 if odd > even else 0
        else:
            # All bits equal: a square wave, centre and boundary look alike. Assume the
            # waveform starts at a bit boundary.
            parity = min((0, 1), key=lambda p: abs(((phase + p * period + 0.5) % (2 * period)) - period))
        center0 = phase + parity * period
        bit_period = 2 * period
    else:
        center0 = phase + period / 2  # crossings are boundaries; centres lie halfway
        bit_period = period
    # The first bit whose centre lies inside the waveform, and how many fit.
    # Sample i covers the time from i - 0.5 to i + 0.5, so a bit belongs to the waveform
    # when its centre lies in [-0.5, size - 0.5).
    first = center0 - np.floor((center0 + 0.5) / bit_period) * bit_period
    count = int(np.floor((x.size - 0.5 - first) / bit_period)) + 1
    return Clock(period=float(bit_period), first_center=float(first), count=max(0, count))


def decode_with_clock(
    samples: object,
    clock: Clock,
    code: str = "manchester",
    *,
    threshold: float | None = None,
) -> np.ndarray:
    """Decode bits at the times a recovered :class:`Clock` gives.

    NRZ averages the middle half of each bit; Manchester compares the middle
    halves of its two half-bits. Both read between samples by interpolation,
    so a bit period of 7.92 samples is as easy as 8.
    """
    name = _validate.code_name(code)
    x = _validate.samples(samples)
    if not isinstance(clock, Clock):
        raise LabkitValueError(f"clock={clock!r}: expected a labkit.phy.Clock from recover_clock()")
    centers = clock.centers()
    if centers.size == 0:
        return np.zeros(0, dtype=np.uint8)
    p = clock.period
    points = max(2, int(round(p / 4)))
    spread = np.linspace(-0.125, 0.125, points) * p
    idx = np.arange(x.size)

    def mean_at(offset: float) -> np.ndarray:
        times = centers[:, None] + offset * p + spread[None, :]
        return np.interp(times, idx, x).mean(axis=1)

    if name == "manchester":
        return (mean_at(0.25) > mean_at(-0.25)).astype(np.uint8)
    thr = estimate_levels(x).threshold if threshold is None else _validate.real(threshold, "threshold")
    times = centers[:, None] + np.linspace(-0.25, 0.25, 2 * points)[None, :] * p
    high = np.interp(times, idx, x).mean(axis=1) > thr
    if name == "nrz-l":
        return high.astype(np.uint8)
    out = np.empty(high.size, dtype=np.uint8)
    out[0] = high[0]
    np.not_equal(high[1:], high[:-1], out=out[1:])
    return out


def _correlate(x: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Sliding dot product of ``template`` along ``x`` (FFT-based, 'valid' positions)."""
    n = x.size + template.size - 1
    size = 1 << (n - 1).bit_length()
    spectrum = np.fft.rfft(x, size) * np.conj(np.fft.rfft(template, size))
    full = np.fft.irfft(spectrum, size)
    return full[: x.size - template.size + 1]


def find_preamble(
    samples: object,
    preamble: object,
    code: str = "manchester",
    samples_per_bit: int = 8,
) -> tuple[int, float]:
    """Find where a known bit pattern starts in a sample stream, by correlation.

    Returns ``(index, score)``: the sample index where the encoded preamble
    matches best, and the normalised correlation there (1.0 is a perfect
    match, around 0 is no match at all).
    """
    name = _validate.code_name(code)
    spb = _validate.samples_per_bit(samples_per_bit)
    x = _validate.samples(samples)
    bits = _validate.bits(preamble, "preamble")
    if bits.size == 0:
        raise LabkitValueError("preamble: empty; give the bit pattern to look for")
    template = encode(bits, name, spb, v_high=1.0, v_low=-1.0)
    if x.size < template.size:
        raise ParseError(
            "phy", "samples", x.size,
            f"shorter than the preamble ({template.size} samples for {bits.size} bits)",
        )
    centred = x - estimate_levels(x).threshold
    corr = _correlate(centred, template)
    energy = np.convolve(centred**2, np.ones(template.size), mode="valid")
    score = corr / np.sqrt(np.maximum(energy, 1e-300) * template.size)
    if name == "nrz-i":
        score = np.abs(score)  # NRZ-I does not care which level it starts on
    best = int(np.argmax(score))
    return best, float(score[best])


def receive(
    samples: object,
    code: str = "manchester",
    samples_per_bit: int = 8,
    *,
    preamble: object | None = None,
) -> Reception:
    """Recover levels, clock and bits; with a ``preamble``, return the bits after it.

    The preamble is found in the decoded bits by correlation (the position
    where most preamble bits agree), so a bit error inside the preamble does
    not lose the frame.
    """
    x = _validate.samples(samples)
    levels = estimate_levels(x)
    clock = recover_clock(x, code, samples_per_bit, threshold=levels.threshold)
    bits = decode_with_clock(x, clock, code, threshold=levels.threshold)
    if preamble is None:
        return Reception(bits, levels, clock, 0)
    pre = _validate.bits(preamble, "preamble")
    if pre.size == 0:
        raise LabkitValueError("preamble: empty; give the bit pattern to look for")
    if bits.size < pre.size:
        raise ParseError("phy", "bits", bits.size, f"fewer than the {pre.size} preamble bits")
    agree = np.convolve(2.0 * bits - 1, (2.0 * pre - 1)[::-1], mode="valid")
    pos = int(np.argmax(agree))
    matches = int(round((agree[pos] + pre.size) / 2))
    return Reception(bits[pos + pre.size :], levels, clock, pos + pre.size, matches)


class Decoder(Protocol):
    """The door for a receiver of one's own (lab 1): samples in, the bits after the preamble out.

    ``decode(samples, code, samples_per_bit, preamble)`` is given the receiver's samples
    (anywhere in a frame's transmission: idle line, preamble, payload), the line code
    (``"nrz-l"`` or ``"manchester"``), the nominal samples per bit (the transmitter's
    clock may differ by about 1%) and the preamble's bits; it returns the bits that follow
    the preamble. labkit's own is ``lambda s, c, n, p: receive(s, c, n, preamble=p).bits``;
    :mod:`labkit.labs.receiver` grades a learner's against it.
    """

    def __call__(self, samples: np.ndarray, code: str, samples_per_bit: int,
                 preamble: np.ndarray) -> np.ndarray: ...
