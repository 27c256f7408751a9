"""Plots for the hardware lab (course/02-hardware-lab.ipynb)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.errors import LabkitError, LabkitValueError
from labkit.hw.board import default_idle
from labkit.hw.lab import PREAMBLE, BitErrorResult, Capture, decode, transfer
from labkit.hw.protocol import ANALOG_MAX_RATE, DIGITAL_MAX_RATE
from labkit.phy import CODES, bits_from_bytes, bytes_from_bits, encode, low_pass
from labkit.viz.phy import figure_output

__all__ = ["plot_capture", "plot_captures", "plot_ber_vs_rate", "rc_wire_model", "WirePanel",
           "wire_panel"]

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


#: The bit rates the wire panel offers: the self-test's (bit/s).
PANEL_RATES = (1000, 2000, 5000, 10_000, 20_000, 25_000, 33_333, 40_000, 50_000)


class WirePanel(widgets.VBox):
    """Push the bit rate up on the boards' wire and watch the bits fail: a live panel.

    A slider picks the bit rate, buttons the line code. Each change sends the message
    (after the 16-bit preamble) from ``tx`` to ``rx`` twice: once sampled by the analog pin
    (the first 40 bits' voltages, drawn, when the ADC can take at least 2 samples per bit) and
    once by the
    digital pin at up to 20 samples per bit, which :func:`labkit.hw.lab.decode` decodes. The
    figure shows the samples, the RC wire's model behind them, and the bit errors counted.
    The drawing goes straight into the output area, as in :class:`labkit.viz.phy.PhyPanel`.
    """

    def __init__(self, tx: object, rx: object, message: bytes = b"Bits on a real wire!", *,
                 bit_rate: int = 5000, code: str = "manchester", tau_us: float = 22.0) -> None:
        if bit_rate not in PANEL_RATES:
            raise LabkitValueError(f"bit_rate={bit_rate!r}: choose one of {PANEL_RATES}")
        self.tx, self.rx, self.message, self.tau_us = tx, rx, bytes(message), float(tau_us)
        self.rate = widgets.SelectionSlider(options=list(PANEL_RATES), value=bit_rate,
                                            description="bit/s", continuous_update=False)
        self.code = widgets.ToggleButtons(options=list(CODES), value=code, description="line code")
        self.out = widgets.Output()
        self.errors = 0
        super().__init__([self.code, self.rate, self.out])
        for control in (self.rate, self.code):
            control.observe(self._redraw, names="value")
        self._redraw()

    def measure(self) -> tuple[Capture, int, bytes]:
        """Send the message at the panel's rate and code: (the capture to draw, bit errors, bytes)."""
        rate, code = int(self.rate.value), str(self.code.value)
        data = bits_from_bytes(self.message)
        frame = np.concatenate([PREAMBLE, data])
        digital = transfer(self.tx, self.rx, frame, rate, code,  # type: ignore[arg-type]
                           samples_per_bit=min(20, DIGITAL_MAX_RATE // rate), mode="digital")
        try:
            got = decode(digital)[: data.size]
        except LabkitError:  # no preamble found, no clock: every bit is lost
            got = np.zeros(0, dtype=np.uint8)
        errors = int(np.count_nonzero(got != data[: got.size])) + data.size - got.size
        text = bytes_from_bits(got[: got.size // 8 * 8])
        analog_spb = min(20, ANALOG_MAX_RATE // rate)
        shown = digital
        if analog_spb >= 2:  # the ADC keeps 1024 samples: the first 40 bits are what is drawn
            shown = transfer(self.tx, self.rx, frame[:40], rate, code,  # type: ignore[arg-type]
                             samples_per_bit=analog_spb, mode="analog")
        return shown, errors, text

    def figure(self) -> Figure:
        """Measure and draw (what the output area shows)."""
        shown, self.errors, text = self.measure()
        fig, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
        pin = "analog pin" if shown.samples.mode != 0 else "digital pin (the ADC is too slow here)"
        said = repr(text)
        said = said if len(said) <= 40 else said[:39] + "…"
        plot_capture(shown, ax, bits=24, wire_tau_us=self.tau_us, title=(
            f"{shown.code} at {shown.bit_rate} bit/s, {shown.samples_per_bit} samples per bit "
            f"on the {pin}\n{self.errors} of {8 * len(self.message)} bits wrong: {said}"))
        return fig

    def _redraw(self, _change: object = None) -> None:
        self.out.outputs = (figure_output(self.figure(), "<the wire's voltages and the bit errors>"),)

    def __repr__(self) -> str:
        return (f"WirePanel(code={self.code.value!r}, bit_rate={self.rate.value}: {self.errors} of "
                f"{8 * len(self.message)} bits wrong)")


def wire_panel(tx: object, rx: object, message: bytes = b"Bits on a real wire!", *,
               bit_rate: int = 5000, code: str = "manchester") -> WirePanel:
    """Return a :class:`WirePanel` on the boards ``tx`` and ``rx``; display it as a cell's last value."""
    return WirePanel(tx, rx, message, bit_rate=bit_rate, code=code)
