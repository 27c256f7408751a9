"""Plots for the hardware lab (course/02-hardware-lab.ipynb)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.errors import LabkitValueError
from labkit.hw.board import default_idle
from labkit.hw.lab import BitErrorResult, Capture
from labkit.phy import CODES, encode, low_pass

__all__ = ["plot_capture", "plot_captures", "plot_ber_vs_rate", "rc_wire_model"]

#: Points per bit of the RC model curve: fine enough to show an edge at any bit rate.
_MODEL_POINTS_PER_BIT = 400


def rc_wire_model(capture: Capture, tau_us: float) -> tuple[np.ndarray, np.ndarray]:
    """What an RC wire of time constant ``tau_us`` makes of the capture's bits: ``(seconds, volts)``.

    The transmitter's ideal 0/5 V waveform (after the resting level that makes the first
    half-bit an edge) goes through :func:`labkit.phy.low_pass` at 400 points per bit; the
    time axis is shifted so that the curve crosses 2.5 V at 0, where the receiver triggered.
    It is a model, drawn to show the wire's edges where the ADC's samples are too sparse to.
    """
    if not tau_us > 0:
        raise LabkitValueError(f"tau_us={tau_us!r}: a time constant must be positive")
    n = _MODEL_POINTS_PER_BIT
    dt = 1.0 / (capture.bit_rate * n)
    idle = float(default_idle(capture.bits, capture.code)) * 5.0
    tx = np.concatenate([np.full(n, idle), encode(capture.bits, capture.code, n, v_high=5.0,
                                                   v_low=0.0)])
    v = low_pass(tx, tau_us * 1e-6 / dt)
    crossed = np.flatnonzero((v > 2.5) != (idle > 2.5))
    t0 = int(crossed[0]) if crossed.size else n
    return (np.arange(v.size) - t0) * dt, v


def plot_capture(
    capture: Capture,
    ax: Axes | None = None,
    *,
    bits: int | None = None,
    threshold: float | None = 2.5,
    title: str | None = None,
    wire_tau_us: float | None = None,
) -> Axes:
    """The receiver's samples in volts against time, with the bit boundaries dotted.

    ``bits`` limits the plot to the first so many bits. ``wire_tau_us`` adds the RC wire's
    model curve (:func:`rc_wire_model`) behind the samples, to show its edges even where the
    samples are too few to.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.8))
    t = capture.times * 1e3
    v = capture.volts
    spb = capture.samples_per_bit
    if bits is not None:
        n = min(v.size, bits * spb)
        t, v = t[:n], v[:n]
    if wire_tau_us is not None and t.size:
        mt, mv = rc_wire_model(capture, wire_tau_us)
        keep = (mt * 1e3 >= t[0]) & (mt * 1e3 <= t[-1])
        ax.plot(mt[keep] * 1e3, mv[keep], lw=1.2, color="0.6", zorder=1,
                label=f"RC wire model, τ = {wire_tau_us:g} µs")
    ax.plot(t, v, ".-", lw=1, ms=3, color="tab:blue", label=f"samples ({spb} per bit)")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", lw=0.8, ls="--", label=f"{threshold:g} V")
    bit_ms = 1e3 / capture.bit_rate
    for k in range(int(np.ceil((t[-1] if t.size else 0) / bit_ms)) + 1):
        ax.axvline(k * bit_ms, color="0.85", lw=0.6, zorder=0)
    ax.set_xlabel("time since the first edge (ms)")
    ax.set_ylabel("volts")
    ax.set_ylim(-0.3, 5.4)
    ax.set_title(title or f"{capture.code} at {capture.bit_rate} bit/s, "
                 f"{capture.samples.rate:g} samples/s")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return ax


def plot_captures(captures: Sequence[Capture], *, bits: int | None = None,
                  wire_tau_us: float | None = None) -> Figure:
    """One panel per capture, stacked, each with its own time axis (and the RC model, if asked)."""
    fig, axes = plt.subplots(len(captures), 1, figsize=(10, 2.4 * len(captures)),
                             squeeze=False)
    for ax, cap in zip(axes[:, 0], captures, strict=True):
        plot_capture(cap, ax, bits=bits, wire_tau_us=wire_tau_us)
    fig.tight_layout()
    return fig


def plot_ber_vs_rate(
    results: Iterable[BitErrorResult],
    ax: Axes | None = None,
    *,
    documented_max_rate: int | None = None,
    floor: float = 1e-3,
) -> Axes:
    """Bit error rate against bit rate, one line per line code.

    A BER of zero cannot go on a log scale: it is drawn at ``floor`` with an
    open marker ("no error seen in this many bits").
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    results = list(results)
    for code in CODES:
        rows = sorted((r for r in results if r.code == code), key=lambda r: r.bit_rate)
        if not rows:
            continue
        rates = np.array([r.bit_rate for r in rows]) / 1e3
        ber = np.array([r.ber for r in rows])
        line, = ax.plot(rates, np.maximum(ber, floor), "-", label=code)
        seen = ber > 0
        ax.plot(rates[seen], ber[seen], "o", color=line.get_color())
        ax.plot(rates[~seen], np.full((~seen).sum(), floor), "o", mfc="white",
                color=line.get_color())
    if documented_max_rate:
        ax.axvline(documented_max_rate / 1e3, color="0.5", ls=":", label="documented limit")
    ax.set_yscale("log")
    ax.set_ylim(floor / 2, 1)
    ax.set_xlabel("bit rate (kbit/s)")
    ax.set_ylabel("bit error rate")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return ax
