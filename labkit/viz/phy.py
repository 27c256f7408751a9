"""Pictures of the physical layer: waveforms, eye diagrams, BER curves, a live panel."""

from __future__ import annotations

import base64
import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from labkit import phy
from labkit.phy import _validate

__all__ = ["plot_waveform", "plot_eye", "plot_ber", "plot_histogram", "phy_panel", "PhyPanel",
           "figure_output"]


def _axes(ax: Axes | None, figsize: tuple[float, float] = (9, 2.6)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_waveform(
    samples: object,
    samples_per_bit: int = 8,
    *,
    bits: object | None = None,
    decoded: object | None = None,
    threshold: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
    max_bits: int = 64,
) -> Axes:
    """Draw voltage against time in bits, with bit boundaries and the bits written in.

    ``bits`` (what was sent) are written above each bit; ``decoded`` (what a
    receiver read) below, in red where they differ from ``bits``. Only the
    first ``max_bits`` bits are drawn, so a long waveform stays readable.
    """
    spb = _validate.samples_per_bit(samples_per_bit)
    x = _validate.samples(samples)[: max_bits * spb]
    ax = _axes(ax)
    t = np.arange(x.size + 1) / spb
    ax.stairs(x, t, color="tab:blue", linewidth=1.6, baseline=None)
    n_bits = int(np.ceil(x.size / spb))
    for k in range(n_bits + 1):
        ax.axvline(k, color="0.85", linewidth=0.8, zorder=0)
    if threshold is not None:
        ax.axhline(threshold, color="tab:orange", linestyle="--", linewidth=1)
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 1.0)
    pad = 0.25 * (hi - lo or 1.0)
    ax.set_ylim(lo - 1.6 * pad, hi + 1.6 * pad)
    sent = None if bits is None else _validate.bits(bits)[:n_bits]
    if sent is not None:
        for k, b in enumerate(sent):
            ax.text(k + 0.5, hi + 0.9 * pad, str(b), ha="center", va="center", fontsize=9)
    if decoded is not None:
        got = _validate.bits(decoded, "decoded")[:n_bits]
        for k, b in enumerate(got):
            wrong = sent is not None and k < sent.size and b != sent[k]
            ax.text(
                k + 0.5, lo - 0.9 * pad, str(b), ha="center", va="center", fontsize=9,
                color="red" if wrong else "0.3", fontweight="bold" if wrong else "normal",
            )
    ax.set_xlim(0, max(n_bits, 1))
    if threshold is not None:
        ax.annotate("threshold", (1.0, threshold), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=8,
                    color="tab:orange")
    ax.set_xlabel("time (bits)")
    ax.set_ylabel("volts")
    if title:
        ax.set_title(title)
    return ax


def plot_eye(
    samples: object,
    samples_per_bit: int = 8,
    *,
    span_bits: int = 2,
    max_traces: int = 400,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Overlay many two-bit windows of the waveform: an eye diagram.

    An open eye (a clear gap between the 1 traces and the 0 traces) means a
    receiver sampling in the middle reads bits reliably; noise and a slow
    rise time close it.
    """
    traces = phy.eye_traces(samples, samples_per_bit, span_bits=span_bits)[:max_traces]
    ax = _axes(ax, (5, 3.2))
    t = np.arange(traces.shape[1]) / samples_per_bit
    # One collection, not a Line2D per trace: the same strokes, drawn in the same order, for a
    # fraction of the memory (400 Line2D artists cost a kernel some 5 MB per eye diagram).
    ax.add_collection(LineCollection(list(np.stack(np.broadcast_arrays(t, traces), axis=-1)),
                                     colors="tab:blue", alpha=0.08, linewidths=1,
                                     capstyle="projecting", joinstyle="round"))  # as Line2D
    ax.autoscale_view()
    ax.set_xlabel("time (bits)")
    ax.set_ylabel("volts")
    ax.set_xlim(0, span_bits)
    ax.set_title(title or f"eye diagram ({traces.shape[0]} traces)")
    return ax


def plot_histogram(
    samples: object, *, threshold: float | None = None, bins: int = 80, ax: Axes | None = None
) -> Axes:
    """Histogram of sample voltages: two humps (the 0s and the 1s) and the threshold between."""
    x = _validate.samples(samples)
    ax = _axes(ax, (5, 3))
    ax.hist(x, bins=bins, color="tab:blue", alpha=0.8)
    if threshold is not None:
        ax.axvline(threshold, color="tab:orange", linestyle="--", label="threshold")
        ax.legend(fontsize=8)
    ax.set_xlabel("volts")
    ax.set_ylabel("samples")
    return ax


def plot_ber(
    snr_db: object,
    measured: object | None = None,
    *,
    samples_per_bit: int = 8,
    code: str = "nrz-l",
    n_bits: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Measured bit error rate (dots) against theory (line), on a log scale.

    With ``n_bits`` given, points where no error was seen are drawn as an
    upper bound at 1/n_bits (zero errors does not mean a BER of zero).
    """
    snr = np.asarray(snr_db, dtype=float)
    ax = _axes(ax, (6, 3.6))
    fine = np.linspace(snr.min(), snr.max(), 200)
    ax.semilogy(fine, phy.ber_theory(fine, samples_per_bit, code), color="tab:orange",
                label=f"theory, {code}")
    if measured is not None:
        m = np.asarray(measured, dtype=float)
        seen = m > 0
        ax.semilogy(snr[seen], m[seen], "o", color="tab:blue", label="measured")
        if n_bits and np.any(~seen):
            ax.semilogy(snr[~seen], np.full((~seen).sum(), 1 / n_bits), "v", color="tab:blue",
                        fillstyle="none", label="no errors seen (< 1/n)")
    ax.set_xlabel("SNR per sample (dB)")
    ax.set_ylabel("bit error rate")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def _draw_panel(code: str, snr_db: float, samples_per_bit: int, seed: int = 1) -> Figure:
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, 400, dtype=np.uint8)
    bits[:8] = 0  # a run of equal bits shows what each code does with it
    tx = phy.encode(bits, code, samples_per_bit)
    rx = phy.add_noise(tx, snr_db, rng, signal_power=6.25)
    got = phy.decode(rx, code, samples_per_bit)
    errors = phy.bit_errors(bits, got)
    fig, (wave, eye) = plt.subplots(
        1, 2, figsize=(11, 3), layout="constrained", gridspec_kw={"width_ratios": [2.2, 1]}
    )
    plot_waveform(rx, samples_per_bit, bits=bits, decoded=got, max_bits=24, ax=wave,
                  title=f"{code}, SNR {snr_db:g} dB: {errors} errors in {bits.size} bits")
    plot_eye(rx, samples_per_bit, ax=eye, title="eye")
    return fig


def figure_output(fig: Figure, text: str = "<waveform and eye diagram>") -> dict:
    """``fig`` as a display output for an ``ipywidgets.Output``'s ``outputs`` (closes ``fig``).

    The widgets of :mod:`labkit.viz` put their drawing there directly instead of capturing
    printed output, so a run without a browser sees exactly what a browser shows.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return {
        "output_type": "display_data",
        "data": {
            "image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
            "text/plain": text,
        },
        "metadata": {},
    }


_figure_output = figure_output  # the old private name, used by labkit.viz.mac


class PhyPanel(widgets.VBox):
    """A live panel: buttons for the line code, sliders for noise and samples per bit.

    Moving a control redraws the waveform (sent bits above, received below,
    errors in red) and the eye diagram. The drawing is placed into the panel's
    output area directly (not captured from printing), so the saved notebook
    shows the panel as last drawn, and a run without a browser (nbval, nbconvert)
    sees exactly the same cell output.
    """

    def __init__(self, code: str = "manchester", snr_db: float = 12.0, samples_per_bit: int = 8):
        self.code = widgets.ToggleButtons(
            options=list(phy.CODES), value=_validate.code_name(code), description="line code"
        )
        self.snr = widgets.FloatSlider(
            value=snr_db, min=-6.0, max=30.0, step=1.0, description="SNR (dB)",
            continuous_update=False,
        )
        self.spb = widgets.IntSlider(
            value=_validate.samples_per_bit(samples_per_bit), min=2, max=32, step=2,
            description="samples/bit", continuous_update=False,
        )
        self.out = widgets.Output()
        super().__init__([self.code, widgets.HBox([self.snr, self.spb]), self.out])
        for control in (self.code, self.snr, self.spb):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        fig = _draw_panel(self.code.value, self.snr.value, self.spb.value)
        self.out.outputs = (figure_output(fig),)

    def __repr__(self) -> str:
        return (
            f"PhyPanel(code={self.code.value!r}, snr_db={self.snr.value:g}, "
            f"samples_per_bit={self.spb.value})"
        )


def phy_panel(code: str = "manchester", snr_db: float = 12.0, samples_per_bit: int = 8) -> PhyPanel:
    """Return a :class:`PhyPanel`; display it as a cell's last value."""
    return PhyPanel(code, snr_db, samples_per_bit)
