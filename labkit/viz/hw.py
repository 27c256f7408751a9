"""Plots for the hardware lab (course/02-hardware-lab.ipynb)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.hw.lab import BitErrorResult, Capture
from labkit.phy import CODES

__all__ = ["plot_capture", "plot_captures", "plot_ber_vs_rate"]


def plot_capture(
    capture: Capture,
    ax: Axes | None = None,
    *,
    bits: int | None = None,
    threshold: float | None = 2.5,
    title: str | None = None,
) -> Axes:
    """The receiver's samples in volts against time, with the bit boundaries dotted.

    ``bits`` limits the plot to the first so many bits.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.8))
    t = capture.times * 1e3
    v = capture.volts
    spb = capture.samples_per_bit
    if bits is not None:
        n = min(v.size, bits * spb)
        t, v = t[:n], v[:n]
    ax.plot(t, v, ".-", lw=1, ms=3, color="tab:blue", label="samples")
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


def plot_captures(captures: Sequence[Capture], *, bits: int | None = None) -> Figure:
    """One panel per capture, stacked, each with its own time axis."""
    fig, axes = plt.subplots(len(captures), 1, figsize=(10, 2.4 * len(captures)),
                             squeeze=False)
    for ax, cap in zip(axes[:, 0], captures, strict=True):
        plot_capture(cap, ax, bits=bits)
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
