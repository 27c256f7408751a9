"""Plots for the capstone (notebook 09): encapsulation, what routers change, the transfer, and
a step-through of one packet hop by hop (:class:`HopStepper`)."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from labkit.errors import LabkitValueError
from labkit.sim import Network
from labkit.viz.sim import draw_topology, figure_output, layout

__all__ = ["plot_encapsulation", "plot_hop_changes", "plot_progress", "LAYER_COLOURS"]

#: One colour per layer, used for its header in every plot.
LAYER_COLOURS = {
    "HTTP": "#8fd18f",
    "TCP": "#7fb2e5",
    "IPv4": "#f2b36b",
    "Ethernet": "#d99ad9",
    "wire": "#cccccc",
}


def _row(ax: Axes, y: float, layers: Sequence, depth: int, *, removed: bool) -> None:
    """Draw the unit at layer ``depth``: its headers left of the data, trailers right of it."""
    data = layers[0].payload
    left = 0.0
    for k in range(1, depth + 1):
        layer = layers[k]
        width = len(layer.header)
        left -= width
        newest = k == depth
        ax.add_patch(Rectangle(
            (left, y), width, 0.7, facecolor=LAYER_COLOURS[layer.name],
            edgecolor="black", lw=1.6 if newest else 0.6,
            hatch="//" if newest and removed else None, alpha=1.0 if newest else 0.55))
        if newest:
            ax.text(left + width / 2, y + 0.35, f"{layer.name}\n{width} B", ha="center",
                    va="center", fontsize=7)
    ax.add_patch(Rectangle((0, y), len(data), 0.7, facecolor=LAYER_COLOURS["HTTP"],
                           edgecolor="black", lw=1.6 if depth == 0 else 0.6))
    ax.text(len(data) / 2, y + 0.35, f"HTTP data {len(data)} B", ha="center", va="center",
            fontsize=7)
    right = float(len(data))
    for k in range(1, depth + 1):
        trailer = layers[k].trailer
        if trailer:
            ax.add_patch(Rectangle((right, y), len(trailer), 0.7,
                                   facecolor=LAYER_COLOURS[layers[k].name], edgecolor="black",
                                   lw=1.6 if k == depth else 0.6))
            ax.text(right + len(trailer) / 2, y + 0.85, "FCS", ha="center", fontsize=6)
            right += len(trailer)


def plot_encapsulation(layers: Sequence, *, fig: Figure | None = None) -> Figure:
    """The request going down the client's stack and up the server's, one row per layer.

    ``layers`` is :func:`labkit.capstone.layers` of one frame (HTTP first).
    Left: the sender, each layer adding its header (bold edge) in front of
    what the layer above gave it (the Ethernet layer adds the FCS behind too).
    Right: the receiver, each layer taking its header off (hatched) and
    passing the rest up. Widths are bytes.
    """
    if fig is None:
        fig = plt.figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    n = len(layers)
    total_header = sum(len(layer.header) for layer in layers[1:])
    total_trailer = sum(len(layer.trailer) for layer in layers[1:])
    width = len(layers[0].payload)
    for side, ax in enumerate(axes):
        removed = side == 1
        for depth in range(n):
            y = (n - 1 - depth) * 1.0
            _row(ax, y, layers, depth, removed=removed and depth > 0)
            ax.text(-total_header - 4, y + 0.35, layers[depth].name, ha="right", va="center",
                    fontsize=9, color="#333333")
        for depth in range(n - 1):
            y_top, y_bottom = (n - 1 - depth) * 1.0, (n - 2 - depth) * 1.0 + 0.7
            start, end = ((width / 2, y_top), (width / 2, y_bottom)) if not removed else \
                ((width / 2, y_bottom), (width / 2, y_top))
            ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10,
                                         color="#555555", lw=0.8))
        ax.set_xlim(-total_header - 40, width + total_trailer + 6)
        ax.set_ylim(-0.3, n)
        ax.set_yticks([])
        ax.set_xlabel("bytes (0 = first byte of the HTTP data)")
        ax.set_title("client C: down the stack, each layer adds its header" if not removed
                     else "server W: up the stack, each layer removes its header (hatched)",
                     fontsize=10)
        for spine in ("left", "right", "top"):
            ax.spines[spine].set_visible(False)
    fig.tight_layout()
    return fig


def plot_hop_changes(frames: Sequence[tuple[str, bytes]], *, ax: Axes | None = None) -> Axes:
    """Which bytes of the same packet changed from one link to the next.

    ``frames``: ``(link name, frame bytes)`` for the same IP packet as it
    crossed each link in turn. One row per link; a byte that differs from the
    previous link's frame is dark (the first row has nothing to compare with).
    Header regions are labelled along the top.
    """
    if not frames:
        raise ValueError("frames: give at least one (link, frame) pair")
    length = min(len(f) for _, f in frames)
    rows = [np.frombuffer(f[:length], dtype=np.uint8) for _, f in frames]
    changed = np.array([rows[0] != rows[0]] + [rows[i] != rows[i - 1]
                                               for i in range(1, len(rows))], dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.5 * len(frames) + 1.6))
    shown = min(length, 64)
    ax.imshow(changed[:, :shown], aspect="auto", cmap="Greys", vmin=0, vmax=1.4,
              extent=(0, shown, len(frames), 0), interpolation="nearest")
    regions = [(0, 6, "Eth dst"), (6, 12, "Eth src"), (12, 14, "type"), (14, 22, "IPv4"),
               (22, 23, "TTL"), (23, 24, "proto"), (24, 26, "IP sum"), (26, 34, "IP addresses"),
               (34, 54, "TCP header"), (54, shown, "HTTP data")]
    for a, b, label in regions:
        if a >= shown:
            continue
        colour = LAYER_COLOURS["Ethernet"] if a < 14 else LAYER_COLOURS["IPv4"] if a < 34 \
            else LAYER_COLOURS["TCP"] if a < 54 else LAYER_COLOURS["HTTP"]
        ax.add_patch(Rectangle((a, -0.9), min(b, shown) - a, 0.8, facecolor=colour,
                               edgecolor="black", lw=0.5, clip_on=False))
        ax.text((a + min(b, shown)) / 2, -0.5, label, ha="center", va="center", fontsize=6,
                rotation=90 if b - a < 3 else 0)
        ax.axvline(a, color="#999999", lw=0.4)
    ax.set_ylim(len(frames), -1.0)
    ax.set_yticks(np.arange(len(frames)) + 0.5, [name for name, _ in frames], fontsize=8)
    for row in range(len(frames)):
        n = int(changed[row].sum())
        ax.text(shown + 0.5, row + 0.5, "" if row == 0 else f"{n} bytes changed", va="center",
                fontsize=7)
    ax.set_xlim(0, shown)
    ax.set_xlabel("byte offset in the frame (dark: changed since the previous link)")
    ax.set_title("the same request on each link: routers rewrite the Ethernet header, "
                 "TTL and IP checksum", fontsize=10)
    return ax


def plot_progress(progress: Sequence[tuple[int, int, int | None]], *, ax: Axes | None = None,
                  label: str | None = None) -> Axes:
    """Bytes of the reply received against virtual time (from :class:`~labkit.capstone.Exchange`)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    t = np.array([p[0] for p in progress], dtype=float) / 1e6
    received = np.array([p[1] for p in progress])
    ax.step(t, received, where="post", marker="o", ms=4, label=label)
    expected = next((p[2] for p in progress if p[2]), None)
    if expected:
        ax.axhline(expected, color="#999999", ls="--", lw=0.8)
        ax.text(t[0] if t.size else 0, expected, "  whole reply", va="bottom", fontsize=8)
    ax.set_xlabel("virtual time (ms)")
    ax.set_ylabel("reply bytes received")
    ax.set_ylim(0, (expected or (received.max() if received.size else 1)) * 1.15)
    if label:
        ax.legend(fontsize=8)
    return ax


# --- the packet's path, hop by hop (notebook 09's simulation mode) -----------------------------

#: What the node at the end of a hop reads of the frame, by kind of node.
_READS = {
    "switch": ("Ethernet",),
    "router": ("Ethernet", "IPv4"),
    "host": ("Ethernet", "IPv4", "TCP", "HTTP"),
}
_DOES = {
    "switch": "looks up eth.dst in its MAC table and forwards the frame unchanged",
    "router": "takes the frame off, looks up ip.dst, TTL - 1, new checksum, a new frame",
    "host": "takes every header off in turn and hands the HTTP bytes to the server",
}


def draw_hop(net: Network, hops: Sequence[tuple[str, bytes]], index: int, *,
             fig: Figure | None = None) -> Figure:
    """One step of a packet's path: the topology with the link it is on, and its headers there.

    ``hops`` is :func:`labkit.capstone.follow` of one frame (``("C→S1", frame)``, ...).
    Top: the network, the current link thick and orange, an envelope on it. Bottom: every
    header field of the frame on this link, one row per layer, the fields that differ from
    the link before in red; the layers the receiving node reads are marked, and what it does.
    """
    from labkit.capstone import FIELDS, header_fields

    if not hops:
        raise LabkitValueError("hops: give at least one (link, frame) pair")
    if not 0 <= index < len(hops):
        raise LabkitValueError(f"index={index}: expected 0 to {len(hops) - 1}")
    if fig is None:
        fig = plt.figure(figsize=(11, 6.4))
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1.25]})
    fig.subplots_adjust(left=0.02, right=0.98, top=0.93, bottom=0.02, hspace=0.05)
    pos = layout(net)
    draw_topology(net, ax=top)
    name, frame = hops[index]
    sender, receiver = name.split("→")
    (x0, y0), (x1, y1) = pos[sender], pos[receiver]
    top.plot([x0, x1], [y0, y1], color="#ff7f0e", lw=6, alpha=0.8, zorder=2,
             solid_capstyle="round")
    top.annotate("", (x0 + 0.65 * (x1 - x0), y0 + 0.65 * (y1 - y0)), (x0 + 0.35 * (x1 - x0),
                 y0 + 0.35 * (y1 - y0)), arrowprops={"arrowstyle": "-|>", "color": "#b35806",
                                                     "lw": 2.5, "mutation_scale": 22}, zorder=6)
    top.set_title(f"hop {index + 1} of {len(hops)}: the request on the link {sender} → {receiver}",
                  fontsize=11)
    fields = header_fields(frame)
    before = header_fields(hops[index - 1][1]) if index else fields
    kind = net[receiver].kind
    reads = _READS.get(kind, _READS["host"])
    bottom.set_axis_off()
    bottom.set_xlim(0, 1)
    bottom.set_ylim(0, len(FIELDS) + 1.2)
    for row, (layer, names) in enumerate(FIELDS.items()):
        y = len(FIELDS) - row
        read = layer in reads
        bottom.add_patch(Rectangle((0.0, y - 0.42), 0.115, 0.84, facecolor=LAYER_COLOURS[layer],
                                   edgecolor="black", lw=1.6 if read else 0.4,
                                   alpha=1.0 if read else 0.45))
        bottom.text(0.0575, y, layer, ha="center", va="center", fontsize=9,
                    fontweight="bold" if read else "normal")
        x = 0.13
        for field in names:
            value = fields[layer][field]
            changed = value != before[layer][field]
            text = bottom.text(x, y, f"{field.split('.', 1)[1]}={value}", ha="left", va="center",
                               fontsize=8.5, family="monospace",
                               color="#c0392b" if changed else "#222222",
                               fontweight="bold" if changed else "normal")
            x += 0.02 + 0.0075 * len(text.get_text())
    rewritten = [f for layer, names in FIELDS.items() for f in names
                 if fields[layer][f] != before[layer][f]]
    note = (f"{receiver} ({kind}) reads {', '.join(reads)}: {_DOES.get(kind, _DOES['host'])}")
    bottom.text(0.0, 0.45, note, ha="left", va="center", fontsize=9)
    bottom.text(0.0, 0.0, ("changed since the link before (red): " + ", ".join(rewritten))
                if index and rewritten else "first link: nothing to compare with" if not index
                else "nothing changed since the link before: a switch forwards the frame as it is",
                ha="left", va="center", fontsize=9, color="#c0392b" if rewritten else "#555555")
    return fig


class HopStepper(widgets.VBox):
    """A packet's path, one hop at a time, as Packet Tracer's simulation mode steps it.

    A slider (``hop``, counted from 1 as the figure's title counts) and two buttons (``◀ back``, ``next ▶``) choose the link; each change
    redraws :func:`draw_hop` into the panel's output area directly, so that a saved notebook
    shows the step last drawn and a run without a browser sees the same output.
    """

    def __init__(self, net: Network, hops: Sequence[tuple[str, bytes]], hop: int = 1) -> None:
        if not hops:
            raise LabkitValueError("hops: give at least one (link, frame) pair")
        if isinstance(hop, bool) or not isinstance(hop, int) or not 1 <= hop <= len(hops):
            raise LabkitValueError(f"hop={hop!r}: expected a hop from 1 to {len(hops)}")
        self.net, self.hops = net, list(hops)
        # Counted from 1, as the figure's title counts them ("hop 3 of 5").
        self.hop = widgets.IntSlider(value=hop, min=1, max=len(self.hops), step=1,
                                     description="hop", continuous_update=False,
                                     readout_format="d")
        self.back = widgets.Button(description="◀ back", tooltip="the link before")
        self.next = widgets.Button(description="next ▶", tooltip="the next link")
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.back, self.hop, self.next]), self.out])
        self.hop.observe(self._redraw, names="value")
        self.back.on_click(lambda _b: self.step(-1))
        self.next.on_click(lambda _b: self.step(+1))
        self._redraw()

    def step(self, by: int) -> None:
        """Move ``by`` hops (the buttons call this), staying on the path."""
        self.hop.value = min(max(self.hop.value + by, 1), len(self.hops))

    def _redraw(self, _change: object = None) -> None:
        index = self.hop.value - 1
        fig = draw_hop(self.net, self.hops, index)
        self.out.outputs = (figure_output(fig, f"<hop {self.hop.value}: {self.hops[index][0]}>"),)

    def __repr__(self) -> str:
        return f"HopStepper(hop={self.hop.value}, link={self.hops[self.hop.value - 1][0]!r})"


__all__ += ["draw_hop", "HopStepper"]
