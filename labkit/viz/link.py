"""Plots for the data link layer: frame layouts, frames on the wire, a switch at work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from labkit.display import PALETTE
from labkit.link.bridge import BridgeEvent
from labkit.link.ethernet import EthernetFrame
from labkit.link.switch import Decision, LearningSwitch, MACTableEntry
from labkit.link.wire import SYNC, WireReception

__all__ = [
    "plot_frame_layout", "plot_frame_on_wire", "SwitchStep", "record_step", "steps_from_history",
    "plot_switch_steps",
]


def plot_frame_layout(
    frame: EthernetFrame,
    ax: Axes | None = None,
    *,
    with_sync: bool = False,
    title: str | None = None,
) -> Axes:
    """One horizontal bar per frame: each field as wide as its bytes, labelled with its size."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.3))
    spans = list(frame.spans())
    if with_sync:
        spans = [(-8, -1, "preamble"), (-1, 0, "SFD")] + spans
    start = spans[0][0]
    total = spans[-1][1] - start
    for i, (a, b, label) in enumerate(spans):
        colour = "#dddddd" if label in ("preamble", "SFD") else PALETTE[(i - 2 * with_sync) % 9]
        ax.add_patch(Rectangle((a, 0), b - a, 1, facecolor=colour, edgecolor="black", lw=0.8))
        share = (b - a) / total
        if share > 0.04:
            ax.text((a + b) / 2, 0.5, f"{label}\n{b - a} B", ha="center", va="center", fontsize=8)
        elif share > 0.01:  # a narrow field: a short label, turned on its side
            short = {"EtherType": "type", "802.1Q tag": "VLAN"}.get(label, label)
            ax.text((a + b) / 2, 0.5, f"{short} {b - a}", ha="center", va="center", fontsize=7,
                    rotation=90)
    ax.set_xlim(start, spans[-1][1])
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("byte offset in the frame")
    ax.set_title(title or f"{frame.summary()}  ({frame.wire_length()} bytes with FCS)", fontsize=9)
    return ax


def plot_frame_on_wire(
    samples: np.ndarray,
    reception: WireReception,
    *,
    bits: int = 120,
    samples_per_bit: int = 8,
    ax: Axes | None = None,
) -> Axes:
    """The received voltages around the start of a frame, with the decoded bits written in
    and preamble, SFD and the first header bytes shaded."""
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 2.6))
    centers = reception.centers
    period = reception.clock.period
    sync_start = reception.start - 8 * len(SYNC)
    first_bit = max(0, sync_start)
    last_bit = min(reception.bits.size, first_bit + bits)

    def edge(k: int) -> float:  # where bit k begins, in samples
        last = min(k, centers.size - 1)
        return float(centers[last] + (k - last - 0.5) * period)

    lo = int(max(0, np.floor(edge(first_bit) - 6 * period)))
    hi = int(min(len(samples), np.ceil(edge(last_bit))))
    t = np.arange(lo, hi)
    ax.plot(t, samples[lo:hi], lw=0.8, color="black")
    regions = [
        (sync_start, sync_start + 56, "preamble 0x55 x 7", "#dddddd"),
        (sync_start + 56, sync_start + 64, "SFD 0xD5", "#ffe08a"),
        (reception.start, reception.start + 48, "destination", PALETTE[0]),
        (reception.start + 48, reception.start + 96, "source", PALETTE[1]),
    ]
    vmax = float(np.max(samples[lo:hi])) if hi > lo else 1.0
    for a, b, label, colour in regions:
        xa, xb = edge(a), edge(b)
        if xb < lo or xa > hi:
            continue
        ax.axvspan(max(xa, lo), min(xb, hi), color=colour, alpha=0.5, lw=0)
        ax.text(max(xa, lo) + 2, vmax * 1.08, label, fontsize=8, va="bottom")
    for k in range(first_bit, last_bit):
        ax.text(centers[k], -0.25 * vmax, str(reception.bits[k]),
                ha="center", fontsize=6, family="monospace")
    ax.set_xlim(lo, hi)
    ax.set_ylim(-0.4 * vmax, 1.35 * vmax)
    ax.set_xlabel("sample")
    ax.set_ylabel("volts")
    ax.set_title(
        "start of a frame on the wire: decoded bits below (each byte LSB first)", fontsize=9
    )
    return ax


@dataclass(frozen=True)
class SwitchStep:
    """One frame through a switch, and the table right after it (for drawing)."""

    time_s: float
    in_port: object
    src_name: str
    dst_name: str
    decision: Decision
    table: tuple[MACTableEntry, ...]


def record_step(
    switch: LearningSwitch, in_port: object, frame: EthernetFrame, now_ns: int,
    names: Mapping[object, str],
) -> SwitchStep:
    """Send ``frame`` through ``switch`` and remember what happened (names: MAC -> host name)."""
    decision = switch.forward(in_port, frame, now_ns)
    return SwitchStep(
        now_ns / 1e9, in_port, names.get(frame.src, str(frame.src)),
        names.get(frame.dst, "everyone" if frame.dst.is_broadcast else str(frame.dst)),
        decision, tuple(switch.entries()),
    )


def _name(mac: object, names: Mapping[object, str]) -> str:
    if mac is None:
        return "?"
    if getattr(mac, "is_broadcast", False):
        return names.get(mac, "everyone")
    return names.get(mac, str(mac))


def steps_from_history(
    history: Sequence[BridgeEvent], names: Mapping[object, str]
) -> list[SwitchStep]:
    """The steps of a simulated switch's run (``Bridge(record=True).history``), for drawing.

    ``names`` maps MAC addresses to host names, as for :func:`record_step`.
    """
    return [
        SwitchStep(e.time_ns / 1e9, e.in_port, _name(e.decision.src, names),
                   _name(e.decision.dst, names), e.decision, e.table)
        for e in history
    ]


def _format_seconds(t: float) -> str:
    """Whole seconds as ``3 s``; otherwise to the microsecond (frames take µs to arrive)."""
    if t == int(t):
        return f"{t:g} s"
    if t < 1:
        return f"{t * 1e3:.3f} ms"
    return f"{t:.6f} s"


_ACTION_COLOUR = {"forward": "#2ca02c", "flood": "#ff7f0e", "filter": "#7f7f7f", "drop": "#d62728"}


def plot_switch_steps(
    steps: Sequence[SwitchStep],
    hosts: Mapping[object, str],
    names: Mapping[object, str] | None = None,
    *,
    columns: int = 3,
) -> Figure:
    """A panel per step: hosts around the switch, the frame's way in (blue) and out
    (green: forwarded, orange: flooded), and the MAC table after the step."""
    names = dict(names or {})
    rows = -(-len(steps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.6 * rows), squeeze=False)
    ports = list(hosts)
    angles = np.linspace(np.pi / 2, np.pi / 2 - 2 * np.pi, len(ports), endpoint=False)
    where = {
        p: (1.6 * np.cos(a), 1.0 * np.sin(a) + 0.35) for p, a in zip(ports, angles, strict=True)
    }
    for ax, step in zip(axes.flat, steps, strict=False):
        ax.set_xlim(-2.4, 2.4)
        ax.set_ylim(-2.3, 1.8)
        ax.axis("off")
        ax.add_patch(FancyBboxPatch((-0.45, 0.1), 0.9, 0.5, boxstyle="round,pad=0.05",
                                    facecolor="#eeeeee", edgecolor="black"))
        ax.text(0, 0.35, "switch", ha="center", va="center", fontsize=8)
        colour = _ACTION_COLOUR[step.decision.action]
        for p in ports:
            x, y = where[p]
            if p == step.in_port:
                c, lw = "#1f77b4", 3.0
            elif p in step.decision.out_ports:
                c, lw = colour, 3.0
            else:
                c, lw = "#cccccc", 1.0
            ax.plot([0, x * 0.8], [0.35, 0.35 + (y - 0.35) * 0.8], color=c, lw=lw, zorder=0)
            ax.text(x, y, f"{hosts[p]}\nport {p}", ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": c})
        ax.set_title(
            f"t={_format_seconds(step.time_s)}: {step.src_name} -> {step.dst_name}\n"
            f"{step.decision.action}" + (f" to port {step.decision.out_ports[0]}"
                                         if step.decision.action == "forward" else ""),
            fontsize=9, color=colour,
        )
        lines = ["MAC table"] + [
            f"{names.get(e.mac, str(e.mac)):>4} -> port {e.port}" for e in step.table
        ]
        ax.text(0, -1.05, "\n".join(lines), ha="center", va="top", fontsize=8, family="monospace")
    for ax in list(axes.flat)[len(steps):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
