"""Plots for the data link layer: frame layouts, frames on the wire, a switch at work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Rectangle

from labkit.display import PALETTE
from labkit.errors import LabkitValueError
from labkit.link.bridge import BridgeEvent
from labkit.link.ethernet import EthernetFrame
from labkit.link.switch import Decision, LearningSwitch, MACTableEntry
from labkit.link.wire import SYNC, WireReception
from labkit.viz.phy import figure_output

__all__ = [
    "plot_frame_layout", "plot_crc_register", "plot_frame_on_wire", "SwitchStep", "record_step",
    "steps_from_history", "plot_switch_steps", "switch_legend_handles", "SwitchStepper", "switch_stepper",
]


def plot_frame_layout(
    frame: EthernetFrame,
    ax: Axes | None = None,
    *,
    with_sync: bool = False,
    title: str | None = None,
) -> Axes:
    """One horizontal bar per frame: each field as wide as its bytes, labelled with its size.

    A field too narrow for its label (the 14 header bytes of a 1518-byte frame) is named
    above the bar, with a line to where it sits, so every field is always labelled.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 1.3))
    spans = list(frame.spans())
    if with_sync:
        spans = [(-8, -1, "preamble"), (-1, 0, "SFD")] + spans
    start = spans[0][0]
    total = spans[-1][1] - start
    outside: list[tuple[float, str]] = []
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
        else:  # too narrow to write in: name it above the bar
            outside.append(((a + b) / 2, f"{label} {b - a} B"))
    if outside:
        # fan the labels out in order, those of the left half from the left edge, those of
        # the right half from the right edge, so that none overlap and no line crosses the bar
        step = 0.085 * total
        middle = start + total / 2
        lefts = [o for o in outside if o[0] < middle]
        rights = [o for o in outside if o[0] >= middle]
        places = [(x, text, start + (k + 0.5) * step) for k, (x, text) in enumerate(lefts)]
        places += [(x, text, spans[-1][1] - (len(rights) - k - 0.5) * step)
                   for k, (x, text) in enumerate(rights)]
        for x, text, tx in places:
            ax.annotate(text, xy=(x, 1.0), xytext=(tx, 1.45), ha="center", va="bottom", fontsize=7,
                        arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.7})
    ax.set_xlim(start, spans[-1][1])
    ax.set_ylim(0, 1.95 if outside else 1)
    ax.set_yticks([])
    for side in ("top", "left", "right"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel("byte offset in the frame")
    ax.set_title(title or f"{frame.summary()}  ({frame.wire_length()} bytes with FCS)", fontsize=9)
    return ax


def plot_crc_register(data: bytes, ax: Axes | None = None) -> Axes:
    """The 32 bits of the CRC-32 register (rows) after each bit of ``data`` enters (columns).

    Black is a 1, white a 0, with a key; the bits enter in Ethernet's order (each byte least
    significant bit first), and dotted lines mark where each byte begins.
    """
    from labkit.link import crc

    steps = list(crc.crc32_steps(data))
    if not steps:
        raise LabkitValueError("data: no bytes, so the register never changes: give at least one")
    register = np.array([[(reg >> k) & 1 for k in range(32)] for _, _, reg in steps])
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.0), layout="constrained")
    ax.imshow(register.T, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
              extent=(0, len(steps), 31.5, -0.5))
    for byte in range(1, len(data)):
        ax.axvline(8 * byte, color="tab:blue", lw=0.5, ls=":")
    ax.set_xlabel("bits of the frame fed in (each byte least significant bit first)")
    ax.set_ylabel("register bit")
    ax.legend(handles=[Rectangle((0, 0), 1, 1, facecolor="black", label="bit is 1"),
                       Rectangle((0, 0), 1, 1, facecolor="white", edgecolor="black", label="bit is 0"),
                       Line2D([], [], color="tab:blue", lw=0.8, ls=":", label="a new byte enters")],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title("the CRC register while a frame streams in", fontsize=10)
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
_IN_COLOUR, _IDLE_COLOUR = "#1f77b4", "#cccccc"


def _host_positions(ports: Sequence[object]) -> dict[object, tuple[float, float]]:
    angles = np.linspace(np.pi / 2, np.pi / 2 - 2 * np.pi, len(ports), endpoint=False)
    return {
        p: (1.6 * np.cos(a), 1.0 * np.sin(a) + 0.35) for p, a in zip(ports, angles, strict=True)
    }


def _draw_step(
    ax: Axes, step: SwitchStep, hosts: Mapping[object, str], names: Mapping[object, str],
    *, table_fontsize: float = 8,
) -> None:
    """One step on ``ax``: hosts around the switch, the frame's way in and out, the table after."""
    ports = list(hosts)
    where = _host_positions(ports)
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
            c, lw = _IN_COLOUR, 3.0
        elif p in step.decision.out_ports:
            c, lw = colour, 3.0
        else:
            c, lw = _IDLE_COLOUR, 1.0
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
    if not step.table:
        lines.append("(empty)")
    ax.text(0, -1.05, "\n".join(lines), ha="center", va="top", fontsize=table_fontsize,
            family="monospace")


def switch_legend_handles() -> list[Line2D]:
    """The key to the colours of :func:`plot_switch_steps` and :class:`SwitchStepper`."""
    return [
        Line2D([], [], color=_IN_COLOUR, lw=3, label="the frame comes in"),
        Line2D([], [], color=_ACTION_COLOUR["forward"], lw=3, label="forwarded out of one port"),
        Line2D([], [], color=_ACTION_COLOUR["flood"], lw=3, label="flooded out of every other port"),
        Line2D([], [], color=_IDLE_COLOUR, lw=1, label="not used by this frame"),
    ]


def plot_switch_steps(
    steps: Sequence[SwitchStep],
    hosts: Mapping[object, str],
    names: Mapping[object, str] | None = None,
    *,
    columns: int = 3,
) -> Figure:
    """A panel per step: hosts around the switch, the frame's way in (blue) and out
    (green: forwarded, orange: flooded), and the MAC table after the step; a key below."""
    names = dict(names or {})
    rows = -(-len(steps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 3.6 * rows + 0.5),
                             squeeze=False)
    for ax, step in zip(axes.flat, steps, strict=False):
        _draw_step(ax, step, hosts, names)
    for ax in list(axes.flat)[len(steps):]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0.5 / (3.6 * rows + 0.5), 1, 1))
    fig.legend(handles=switch_legend_handles(), loc="lower center", ncol=4, fontsize=9,
               frameon=False)
    return fig


class SwitchStepper(widgets.VBox):
    """Step a learning switch frame by frame: a slider (and two buttons) pick the frame.

    The figure shows that frame's way through the switch and the MAC table right after
    it, beside the list of all frames with the current one marked. Like
    :class:`labkit.viz.phy.PhyPanel`, the drawing goes straight into the output area, so
    a saved notebook shows the last step drawn and a run without a browser sees the same.
    """

    def __init__(self, steps: Sequence[SwitchStep], hosts: Mapping[object, str],
                 names: Mapping[object, str] | None = None, *, start: int = 1) -> None:
        if not steps:
            raise LabkitValueError("steps: a switch stepper needs at least one step")
        self.steps = list(steps)
        self.hosts = dict(hosts)
        self.names = dict(names or {})
        self.frame = widgets.IntSlider(
            value=min(max(1, start), len(self.steps)), min=1, max=len(self.steps), step=1,
            description="frame", continuous_update=False,
        )
        self.back = widgets.Button(description="◀ previous", tooltip="the frame before")
        self.next = widgets.Button(description="next ▶", tooltip="the frame after")
        self.back.on_click(lambda _b: self.step(-1))
        self.next.on_click(lambda _b: self.step(+1))
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.back, self.frame, self.next]), self.out])
        self.frame.observe(self._redraw, names="value")
        self._redraw()

    def step(self, by: int) -> None:
        """Move ``by`` frames (the buttons call this), staying within the run."""
        self.frame.value = min(max(1, self.frame.value + by), len(self.steps))

    def figure(self) -> Figure:
        """The figure for the current frame (what the output area shows)."""
        k = self.frame.value - 1
        fig, (ax, log) = plt.subplots(1, 2, figsize=(10, 4.2),
                                      gridspec_kw={"width_ratios": [1.25, 1]})
        _draw_step(ax, self.steps[k], self.hosts, self.names, table_fontsize=9)
        log.axis("off")
        log.set_xlim(0, 1)
        log.set_ylim(0, 1)
        log.set_title(f"frame {k + 1} of {len(self.steps)}", fontsize=10)
        height = min(0.1, 0.9 / len(self.steps))
        for i, s in enumerate(self.steps):
            text = (f"{'▶' if i == k else ' '} {'t=' + _format_seconds(s.time_s):>14}  "
                    f"{s.src_name} -> {s.dst_name:<8} {s.decision.action}")
            log.text(0.0, 0.95 - i * height, text, fontsize=8, family="monospace", va="top",
                     color=_ACTION_COLOUR[s.decision.action] if i == k else "black",
                     fontweight="bold" if i == k else "normal")
        log.legend(handles=switch_legend_handles(), loc="lower left", fontsize=8, frameon=False)
        fig.tight_layout()
        return fig

    def _redraw(self, _change: object = None) -> None:
        self.out.outputs = (figure_output(self.figure(), "<a switch step and its MAC table>"),)

    def __repr__(self) -> str:
        s = self.steps[self.frame.value - 1]
        return (f"SwitchStepper(frame {self.frame.value} of {len(self.steps)}: "
                f"{s.src_name} -> {s.dst_name}, {s.decision.action})")


def switch_stepper(steps: Sequence[SwitchStep], hosts: Mapping[object, str],
                   names: Mapping[object, str] | None = None, *, start: int = 1) -> SwitchStepper:
    """Return a :class:`SwitchStepper`; display it as a cell's last value."""
    return SwitchStepper(steps, hosts, names, start=start)
