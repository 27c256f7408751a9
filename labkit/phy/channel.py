"""What the wire does to a signal: noise, attenuation, finite rise time, clock error.

Each impairment takes samples and returns new samples (the input is never
changed), so they compose::

    rx = add_noise(low_pass(attenuate(tx, 6), tau=2), snr_db=15, rng=rng)

Randomness always comes from a ``numpy.random.Generator`` you pass in, so the
same seed gives the same noise, the same bit errors and the same plots.
"""

from __future__ import annotations

import math

import numpy as np

from labkit.errors import LabkitValueError
from labkit.phy import _validate

__all__ = ["add_noise", "noise_sigma", "attenuate", "low_pass", "clock_skew"]


def add_noise(
    samples: object,
    snr_db: float,
    rng: np.random.Generator | int,
    *,
    signal_power: float | None = None,
) -> np.ndarray:
    """Add white Gaussian noise (AWGN) at a signal-to-noise ratio per sample.

    The SNR compares the signal's power with the noise's variance, in
    decibels: ``snr_db = 10 * log10(signal_power / sigma**2)``. By default
    ``signal_power`` is the variance of ``samples``: the power of the part of
    the signal that moves. A DC level carries no information, so a 0/5 V
    signal with as many 1s as 0s has a signal power of (5/2)**2 = 6.25 V².
    Pass ``signal_power`` to fix it (needed for a flat waveform).
    """
    x = _validate.samples(samples)
    snr = _validate.real(snr_db, "snr_db")
    gen = _validate.rng(rng)
    if x.size == 0:
        return x.copy()
    if signal_power is None:
        power = float(np.var(x))
        if power == 0.0:
            raise LabkitValueError(
                "samples: the waveform is flat (variance 0), so an SNR relative to it means "
                "nothing; pass signal_power=... (for example ((v_high - v_low) / 2) ** 2)"
            )
    else:
        power = _validate.real(signal_power, "signal_power")
        if power <= 0:
            raise LabkitValueError(f"signal_power={signal_power!r}: must be positive")
    return x + gen.normal(0.0, noise_sigma(snr, power), x.size)


def noise_sigma(snr_db: float, signal_power: float) -> float:
    """The noise's standard deviation for ``snr_db`` against ``signal_power`` (V²)."""
    return math.sqrt(signal_power / 10 ** (snr_db / 10))


def attenuate(samples: object, db: float) -> np.ndarray:
    """Scale the voltage down by ``db`` decibels (a long cable loses signal)."""
    x = _validate.samples(samples)
    loss = _validate.real(db, "db")
    return x * 10 ** (-loss / 20)


def low_pass(samples: object, tau: float) -> np.ndarray:
    """A first-order low-pass filter: the wire's resistance and capacitance (an RC circuit).

    ``tau`` is the time constant in samples. A step then rises as
    ``1 - exp(-t / tau)``: from 10% to 90% of the way in ``tau * ln 9 ≈ 2.2 tau``
    samples. Before the first sample the line is taken to have rested at the
    first sample's level.
    """
    x = _validate.samples(samples)
    t = _validate.real(tau, "tau")
    if t < 0:
        raise LabkitValueError(f"tau={tau!r}: a time constant cannot be negative")
    if t == 0 or x.size == 0:
        return x.copy()
    # The RC step response sampled: h[k] = a (1 - a)^k, cut where the tail is below 1e-9.
    decay = math.exp(-1.0 / t)
    length = max(1, math.ceil(t * 9 * math.log(10)))
    kernel = (1 - decay) * decay ** np.arange(length)
    kernel /= kernel.sum()
    padded = np.concatenate([np.full(length - 1, x[0]), x])
    return np.convolve(padded, kernel, mode="valid")


def clock_skew(samples: object, *, offset: float = 0.0, drift: float = 0.0) -> np.ndarray:
    """Resample as a receiver whose clock is not the transmitter's would see the wire.

    The receiver takes its k-th sample at transmitter time ``offset + k * (1 + drift)``
    (in transmitter samples), reading between samples by linear interpolation.
    ``offset=3`` starts 3 samples late; ``drift=0.01`` is a receiver clock 1%
    slow, so a bit lasts 1% fewer receiver samples. Times before the first
    sample read the first sample (the line rested there).
    """
    x = _validate.samples(samples)
    off = _validate.real(offset, "offset")
    d = _validate.real(drift, "drift")
    if d <= -0.5 or d >= 0.5:
        raise LabkitValueError(f"drift={drift!r}: a clock error must be within ±50%")
    if x.size == 0:
        return x.copy()
    step = 1.0 + d
    count = max(0, math.floor((x.size - 1 - off) / step) + 1)
    t = off + step * np.arange(count)
    return np.interp(t, np.arange(x.size), x)
