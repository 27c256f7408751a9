"""Measuring a link: bit error rate, its theory, and eye diagrams.

The theory: a receiver that averages the ``N = samples_per_bit`` samples of
each bit (integrate and dump) against additive white Gaussian noise of
variance ``sigma**2`` errs with probability

    BER = Q(sqrt(N * SNR)),   SNR = signal_power / sigma**2,

where ``Q(x)`` is the tail probability of a standard normal variable and the
signal power is ``((v_high - v_low) / 2) ** 2`` (see :func:`labkit.phy.add_noise`).
This holds for NRZ-L with the threshold midway and for Manchester (which
compares two halves of ``N/2`` samples each: twice the distance, twice the
noise power). NRZ-I decides by comparing two neighbouring levels, so one
level error makes two bit errors: ``BER = 2 p (1 - p)`` with ``p`` the NRZ-L
value. ``N * SNR`` is ``2 Eb/N0`` in textbook notation.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.errors import LabkitValueError
from labkit.phy import _validate
from labkit.phy.channel import noise_sigma
from labkit.phy.linecode import decode, encode

#: Samples of noise drawn at a time by measure_ber.
NOISE_CHUNK = 1 << 16

__all__ = [
    "bit_errors",
    "ber",
    "q_function",
    "ber_theory",
    "measure_ber",
    "eye_traces",
    "eye_opening",
]

_erfc = np.vectorize(math.erfc, otypes=[float])


def bit_errors(sent: object, received: object) -> int:
    """Count the positions where two equally long bit arrays differ."""
    a = _validate.bits(sent, "sent")
    b = _validate.bits(received, "received")
    if a.size != b.size:
        raise LabkitValueError(
            f"received: {b.size} bits, but sent has {a.size}; compare equally long bit arrays "
            "(a receiver that lost or gained bits has lost synchronisation, not just bits)"
        )
    return int(np.count_nonzero(a != b))


def ber(sent: object, received: object) -> float:
    """Bit error rate: the fraction of bits received wrong."""
    errors = bit_errors(sent, received)
    n = np.asarray(sent).size
    if n == 0:
        raise LabkitValueError("sent: no bits, so there is no error rate to measure")
    return errors / n


def q_function(x: object) -> np.ndarray | float:
    """Q(x): the probability that a standard normal variable exceeds ``x``."""
    arr = np.asarray(x, dtype=float)
    out = 0.5 * _erfc(arr / math.sqrt(2))
    return float(out) if out.ndim == 0 else out


def ber_theory(snr_db: object, samples_per_bit: int = 8, code: str = "nrz-l") -> np.ndarray | float:
    """The bit error rate theory predicts at ``snr_db`` (per sample) for ``code``."""
    name = _validate.code_name(code)
    spb = _validate.samples_per_bit(samples_per_bit)
    snr = 10 ** (np.asarray(snr_db, dtype=float) / 10)
    p = q_function(np.sqrt(spb * snr))
    if name == "nrz-i":
        p = 2 * p * (1 - p)
    return p


def measure_ber(
    snr_db: object,
    code: str = "nrz-l",
    samples_per_bit: int = 8,
    n_bits: int = 100_000,
    rng: np.random.Generator | int = 0,
    *,
    v_high: float = 5.0,
    v_low: float = 0.0,
) -> np.ndarray:
    """Send ``n_bits`` random bits through AWGN at each SNR and measure the BER.

    The receiver is the ideal one of the theory (clock aligned, threshold
    midway), so the result can be compared with :func:`ber_theory`.
    """
    gen = _validate.rng(rng)
    if isinstance(n_bits, bool) or not isinstance(n_bits, int) or n_bits < 1:
        raise LabkitValueError(f"n_bits={n_bits!r}: must be a positive whole number")
    snrs = np.atleast_1d(np.asarray(snr_db, dtype=float))
    power = ((v_high - v_low) / 2) ** 2
    out = np.empty(snrs.size)
    for i, snr in enumerate(snrs):
        bits = gen.integers(0, 2, n_bits, dtype=np.uint8)
        rx = np.asarray(encode(bits, code, samples_per_bit, v_high, v_low), dtype=float)
        # add_noise's AWGN, drawn and added in place a piece at a time: the same numbers
        # (a Generator's normal draws are one stream however they are cut), without two
        # more waveforms' worth of memory (the widest cell of notebook 01 held three).
        sigma = noise_sigma(snr, power)
        for start in range(0, rx.size, NOISE_CHUNK):
            stop = min(start + NOISE_CHUNK, rx.size)
            rx[start:stop] += gen.normal(0.0, sigma, stop - start)
        out[i] = ber(bits, decode(rx, code, samples_per_bit, v_high=v_high, v_low=v_low))
    return out


def eye_traces(
    samples: object, samples_per_bit: int = 8, *, span_bits: int = 2, offset: int = 0
) -> np.ndarray:
    """Cut the waveform into overlapping windows of ``span_bits`` bits, one per bit.

    Drawn on top of each other, the rows make an eye diagram. ``offset`` shifts
    where windows start (in samples), to centre the eye.
    """
    spb = _validate.samples_per_bit(samples_per_bit)
    x = _validate.samples(samples)
    if isinstance(span_bits, bool) or not isinstance(span_bits, int) or span_bits < 1:
        raise LabkitValueError(f"span_bits={span_bits!r}: must be a positive whole number")
    width = span_bits * spb + 1
    x = x[offset:]
    if x.size < width:
        raise LabkitValueError(
            f"samples: {x.size} samples after offset {offset} is less than one window of "
            f"{span_bits} bits ({width} samples)"
        )
    return np.lib.stride_tricks.sliding_window_view(x, width)[::spb]


def eye_opening(samples: object, samples_per_bit: int = 8, threshold: float | None = None) -> float:
    """The vertical eye opening (volts) at the best sampling instant, 0 if the eye is closed.

    At each position within a bit, the opening is the lowest sample read as a
    1 minus the highest read as a 0; the best position is reported.
    """
    spb = _validate.samples_per_bit(samples_per_bit)
    x = _validate.samples(samples)
    if x.size < spb:
        raise LabkitValueError(f"samples: {x.size} samples is less than one bit ({spb})")
    per_bit = x[: x.size - x.size % spb].reshape(-1, spb)
    thr = (per_bit.max() + per_bit.min()) / 2 if threshold is None else threshold
    best = 0.0
    for column in per_bit.T:  # one pass per sampling phase: spb columns, not samples
        ones, zeros = column[column > thr], column[column <= thr]
        if ones.size and zeros.size:
            best = max(best, float(ones.min() - zeros.max()))
    return best
