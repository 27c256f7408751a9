"""Plots and the live panel for medium access (course/13-medium-access.ipynb).

- :func:`plot_spacetime`: a space-time diagram of a shared cable: position up, time across,
  each transmission a band that leans as its signal travels; where bands cross, collisions;
- :func:`plot_timeline`: who sent when, one row per station, clean frames green, garbled red,
  aborted ones (with their jam) orange;
- :func:`plot_throughput`: measured throughput against offered load with its 95% bounds,
  beside the theory;
- :class:`MacPanel` (:func:`mac_panel`): sliders for the protocol, the offered load, the number
  of stations and the cable length, redrawing a timeline and the measured throughput.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle

from labkit.link.aloha import pure_aloha_throughput, slotted_aloha_throughput
from labkit.link.csma import csmacd_efficiency, nonpersistent_csma_throughput
from labkit.sim.access import PROTOCOLS, ThroughputCurve, run_access
from labkit.sim.medium import Medium, Transmission
from labkit.viz.phy import _figure_output

__all__ = ["plot_spacetime", "plot_timeline", "plot_throughput", "theory", "MacPanel", "mac_panel"]

CLEAN, GARBLED, ABORTED = "#2ca02c", "#d62728", "#ff7f0e"


def _colour(tx: Transmission) -> str:
    if tx.aborted:
        return ABORTED
    return CLEAN if tx.ok else GARBLED


def plot_spacetime(medium: Medium, ax: Axes | None = None, *, unit: float = 1_000.0,
                   title: str | None = None, labels: bool = True) -> Axes:
    """Every recorded transmission of ``medium`` as a band in (time, position); times in us."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.4))
    us = sorted(p.u for p in medium.ports)
    lo, hi = us[0], us[-1]
    xs = np.linspace(lo, hi, 50)
    k = medium.ns_per_metre or 1.0
    for tx in medium.history:
        d = np.abs(xs - tx.port.u)
        left = np.column_stack([(tx.start + d) / unit, xs / k])
        right = np.column_stack([(tx.end + d) / unit, xs / k])[::-1]
        ax.add_patch(Polygon(np.vstack([left, right]), closed=True, facecolor=_colour(tx), alpha=0.35,
                             edgecolor=_colour(tx), lw=0.8))
        if tx.detected_at is not None:
            ax.plot([tx.detected_at / unit], [tx.port.u / k], "kx", ms=8, mew=2)
    for p in medium.ports:
        ax.axhline(p.u / k, color="grey", lw=0.6, ls=":")
    if labels:
        ax.set_yticks([p.u / k for p in medium.ports],
                      [f"{p.name}  {p.position:g} m" for p in medium.ports], fontsize=9)
    end = max((t.end for t in medium.history), default=1) + (hi - lo)
    start = min((t.start for t in medium.history), default=0)
    ax.set_xlim(start / unit, end / unit)
    pad = max(1.0, (hi - lo) / k * 0.05)
    ax.set_ylim(lo / k - pad, hi / k + pad)
    ax.set_xlabel("time (us)")
    ax.set_ylabel("station and its position" if labels else "position on the cable (m)")
    ax.set_title(title or "signals on the cable: each band is one frame spreading both ways", fontsize=10)
    handles: list[Artist] = [Patch(color=CLEAN, alpha=0.5, label="arrived intact everywhere"),
               Patch(color=GARBLED, alpha=0.5, label="garbled somewhere"),
               Patch(color=ABORTED, alpha=0.5, label="aborted (collision detected), with jam")]
    if any(t.detected_at is not None for t in medium.history):
        handles.append(Line2D([], [], color="black", marker="x", ls="", ms=8, mew=2,
                              label="collision detected"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_timeline(medium: Medium, ax: Axes | None = None, *, until: int | None = None,
                  stations: int = 12, unit: float | None = None, title: str | None = None) -> Axes:
    """One row per station (the first ``stations``), a bar per frame it sent, up to ``until`` ns."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3))
    history = medium.history
    last = until if until is not None else max((t.end for t in history), default=1)
    if unit is None:
        unit = 1_000.0
    names = [p.name for p in medium.ports[:stations]]
    row = {n: i for i, n in enumerate(names)}
    for tx in history:
        if tx.start > last or tx.port.name not in row:
            continue
        y = row[tx.port.name]
        ax.add_patch(Rectangle((tx.start / unit, y - 0.38), (tx.end - tx.start) / unit, 0.76,
                               facecolor=_colour(tx), edgecolor="black", lw=0.5))
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0, last / unit)
    ax.set_xlabel("time (us)")
    ax.set_title(title or "who sent when", fontsize=10)
    ax.legend(handles=[Patch(color=CLEAN, label="through"), Patch(color=GARBLED, label="collided"),
                       Patch(color=ABORTED, label="aborted + jam")],
              fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def theory(protocol: str, a: float = 0.0) -> Callable[[np.ndarray], np.ndarray] | None:
    """The textbook throughput curve S(G) of ``protocol`` (``None`` for CSMA/CD: no S(G) formula)."""
    fns: dict[str, Callable[[float], float]] = {
        "aloha": pure_aloha_throughput,
        "slotted": slotted_aloha_throughput,
        "csma": lambda g: nonpersistent_csma_throughput(g, a),
    }
    fn = fns.get(protocol)
    if fn is None:
        return None
    return np.vectorize(fn)


_LABELS = {"aloha": "ALOHA", "slotted": "slotted ALOHA", "csma": "nonpersistent CSMA",
           "csma/cd": "CSMA/CD"}
_FORMULA = {"aloha": "G e^(-2G)", "slotted": "G e^(-G)", "csma": "Kleinrock-Tobagi"}
_COLOURS = {"aloha": "#1f77b4", "slotted": "#9467bd", "csma": "#2ca02c", "csma/cd": "#d62728"}


def plot_throughput(curves: Sequence[ThroughputCurve], ax: Axes | None = None, *,
                    g_max: float | None = None, title: str | None = None,
                    legend: Any = "upper right") -> Axes:
    """Measured S (mean of the runs, with its 95% bound as error bars) over the theory's lines.

    ALOHA's and slotted ALOHA's points sit at the load set (the runs make exactly that load on
    average); CSMA's at the load its runs made (each listen is an attempt).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.2))
    top = g_max or max(float(c.offered.max()) for c in curves) * 1.05
    grid = np.linspace(0, top, 300)
    protocols = [c.protocol for c in curves]
    spare = iter(["#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"])
    for c in curves:
        colour = _COLOURS.get(c.protocol, "black") if protocols.count(c.protocol) == 1 else next(spare)
        curve = theory(c.protocol, c.a)
        label = _LABELS.get(c.protocol, c.protocol)
        extra = f", a = {c.a:.2g}" if c.protocol in ("csma", "csma/cd") else ""
        if curve is not None:
            ax.plot(grid, curve(grid), color=colour, lw=1.5,
                    label=f"{label}: theory {_FORMULA[c.protocol]}{extra}")
        x = c.loads if c.protocol in ("aloha", "slotted") else c.offered
        ax.errorbar(x, c.throughput, yerr=c.bound, fmt="o", ms=4, color=colour, capsize=3,
                    label=f"{label}{extra}: measured, 95% bound ({c.runs} runs of {c.slots:,} slots)")
    ax.set_xlim(0, top)
    ax.set_ylim(0, None)
    ax.set_xlabel("offered load G (attempts per frame time)")
    ax.set_ylabel("throughput S (frames through per frame time)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc=legend)
    ax.set_title(title or "throughput against offered load", fontsize=10)
    return ax


def _draw_panel(protocol: str, load: float, stations: int, length_m: float, seed: int = 1) -> Figure:
    run = run_access(protocol, stations=stations, load=None if protocol == "csma/cd" else load,
                     slots=400, seed=seed, length_m=length_m, record=True)
    fig, ax = plt.subplots(figsize=(11, 3.4), layout="constrained")
    horizon = 40 * run.bus.slot_ns
    line = f"S = {run.throughput:.3f} measured over 400 slots"
    curve = theory(protocol, run.a)
    if curve is not None:
        line += f"; theory at G = {run.offered:.2f}: {float(curve(np.array(run.offered))):.3f}"
    elif protocol == "csma/cd":
        line += f" (every station always busy); 1/(1+5a) = {csmacd_efficiency(run.a):.3f}"
    plot_timeline(run.bus.medium, ax, until=horizon, stations=min(stations, 12),
                  title=f"{_LABELS[protocol]}, {stations} stations, a = {run.a:.3f}: {line}")
    return fig


class MacPanel(widgets.VBox):
    """A live panel: protocol, offered load, stations and cable length; redraws who sent when.

    As :class:`labkit.viz.phy.PhyPanel`, it puts its drawing into its output area directly, so
    the saved notebook shows the panel as last drawn and a run without a browser sees the same.
    """

    def __init__(self, protocol: str = "slotted", load: float = 1.0, stations: int = 20,
                 length_m: float = 500.0) -> None:
        self.protocol = widgets.ToggleButtons(options=list(PROTOCOLS), value=protocol,
                                              description="protocol")
        self.load = widgets.FloatSlider(value=load, min=0.1, max=4.0, step=0.1, description="G",
                                        continuous_update=False)
        self.stations = widgets.IntSlider(value=stations, min=2, max=100, description="stations",
                                          continuous_update=False)
        self.length = widgets.FloatSlider(value=length_m, min=0.0, max=5000.0, step=100.0,
                                          description="cable (m)", continuous_update=False)
        self.out = widgets.Output()
        super().__init__([self.protocol, widgets.HBox([self.load, self.stations, self.length]), self.out])
        for control in (self.protocol, self.load, self.stations, self.length):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        fig = _draw_panel(self.protocol.value, self.load.value, self.stations.value, self.length.value)
        self.out.outputs = (_figure_output(fig),)

    def __repr__(self) -> str:
        return (f"MacPanel(protocol={self.protocol.value!r}, load={self.load.value:g}, "
                f"stations={self.stations.value}, length_m={self.length.value:g})")


def mac_panel(protocol: str = "slotted", load: float = 1.0, stations: int = 20,
              length_m: float = 500.0) -> MacPanel:
    """Return a :class:`MacPanel`; display it as a cell's last value."""
    return MacPanel(protocol, load, stations, length_m)
