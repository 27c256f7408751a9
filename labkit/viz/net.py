"""Pictures of the network layer: address bits, the classes, subnets, fragments, routing tables.

Every function takes an optional ``ax`` and returns the ``Axes`` it drew on.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

from labkit.net import addressing
from labkit.net.ipv4 import HEADER_LENGTH, IPv4Packet
from labkit.viz.phy import figure_output

__all__ = ["plot_address_bits", "plot_address_classes", "plot_subnets", "plot_fragments", "plot_lpm",
           "SubnetCalculator", "subnet_calculator"]

NET_COLOUR = "#aec7e8"
HOST_COLOUR = "#ffbb78"
_CLASS_COLOURS = ("#aec7e8", "#98df8a", "#ffbb78", "#c5b0d5", "#ff9896", "#dddddd")


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_address_bits(address: object, netmask: object | None = None, ax: Axes | None = None) -> Axes:
    """The 32 bits of address, mask, network and broadcast, network part and host part coloured.

    ``plot_address_bits("192.168.1.10/24")`` or ``plot_address_bits("192.168.1.10", "255.255.255.0")``.
    """
    view = addressing.BinaryView(address, netmask)
    p = view.mask.prefix_length
    rows = view.rows()
    ax = _axes(ax, (10, 0.55 * len(rows) + 0.9))
    for r, (label, value, _note) in enumerate(rows):
        y = len(rows) - 1 - r
        bits = f"{int(value):032b}"
        for i, bit in enumerate(bits):
            x = i + (i // 8) * 0.4
            ax.add_patch(Rectangle((x, y), 0.92, 0.8, facecolor=NET_COLOUR if i < p else HOST_COLOUR,
                                   edgecolor="white"))
            ax.text(x + 0.46, y + 0.4, bit, ha="center", va="center", fontsize=9, family="monospace")
        ax.text(-0.6, y + 0.4, label, ha="right", va="center", fontsize=10)
        ax.text(33.8, y + 0.4, str(value), ha="left", va="center", fontsize=10, family="monospace")
    for k in range(4):
        ax.text(k * 8.4 + 3.8, len(rows) + 0.15, f"octet {k + 1}", ha="center", va="bottom", fontsize=8,
                color="0.4")
    boundary = p + (p // 8) * 0.4 - (0.4 if p % 8 == 0 and 0 < p < 32 else 0) - 0.04
    if 0 < p < 32:
        ax.axvline(boundary, color="tab:red", lw=2)
        ax.text(boundary, -0.35, f"/{p}", color="tab:red", ha="center", va="top", fontsize=10)
    ax.set_xlim(-7, 41)
    ax.set_ylim(-0.8, len(rows) + 0.7)
    ax.axis("off")
    ax.set_title(f"{view.address}/{p}: network part {p} bits (blue), host part {32 - p} bits (orange)",
                 fontsize=11)
    return ax


class SubnetCalculator(widgets.VBox):
    """A subnet calculator that draws the bits: type an address, move the prefix slider.

    The figure shows address, mask, network and broadcast bit by bit (network part blue,
    host part orange, the red line where the mask's ones end) and, under it, the host
    range and count. An address that is not one shows the error instead of a figure.
    The drawing goes straight into the output area, as in :class:`labkit.viz.phy.PhyPanel`.
    """

    def __init__(self, address: str = "192.168.1.10", prefix: int = 24) -> None:
        self.address = widgets.Text(value=address, description="address", continuous_update=False)
        self.prefix = widgets.IntSlider(value=prefix, min=0, max=32, step=1, description="prefix /",
                                        continuous_update=False)
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.address, self.prefix]), self.out])
        for control in (self.address, self.prefix):
            control.observe(self._redraw, names="value")
        self._redraw()

    def summary(self) -> str:
        """The calculator's answer in one line of text (what the figure's caption says)."""
        iface = f"{self.address.value.strip()}/{self.prefix.value}"
        first, last = addressing.host_range(iface)
        hosts = addressing.host_count(self.prefix.value)
        return (f"network {addressing.network_part(iface)}/{self.prefix.value}, broadcast "
                f"{addressing.broadcast_address(iface)}, hosts {first} to {last} ({hosts:,})")

    def figure(self) -> Figure:
        """The bits of the current address and prefix (what the output area shows)."""
        iface = f"{self.address.value.strip()}/{self.prefix.value}"
        ax = plot_address_bits(iface)
        fig = ax.figure
        ax.set_title(f"{ax.get_title()}\n{self.summary()}", fontsize=10)
        return fig  # type: ignore[return-value]

    def _redraw(self, _change: object = None) -> None:
        try:
            fig = self.figure()
        except ValueError as err:
            self.out.outputs = ({"output_type": "stream", "name": "stdout", "text": f"{err}\n"},)
            return
        self.out.outputs = (figure_output(fig, "<the bits of an address and its mask>"),)

    def __repr__(self) -> str:
        try:
            return f"SubnetCalculator({self.address.value}/{self.prefix.value}: {self.summary()})"
        except ValueError:
            return f"SubnetCalculator({self.address.value!r}/{self.prefix.value}: not an address)"


def subnet_calculator(address: str = "192.168.1.10", prefix: int = 24) -> SubnetCalculator:
    """Return a :class:`SubnetCalculator`; display it as a cell's last value."""
    return SubnetCalculator(address, prefix)


def plot_address_classes(ax: Axes | None = None) -> Axes:
    """The whole IPv4 address space as one bar, cut into classes A to E by their leading bits.

    Every class shows its leading bits and its first-octet range. Above class E (RFC 1112's
    1111, 240.0.0.0/4) a bracket shows the textbook convention the source follows: 11110 for
    240-247, with 248-255 (11111) left over.
    """
    ax = _axes(ax, (10, 2.9))
    start = 0.0
    for i, cls in enumerate(addressing.CLASSES):
        width = cls.share
        ax.add_patch(Rectangle((start, 0), width, 1, facecolor=_CLASS_COLOURS[i], edgecolor="white"))
        lo, hi = cls.first_octet
        ax.text(start + width / 2, 0.5, f"{cls.name}\n{cls.leading_bits}…\n{lo}-{hi}", ha="center",
                va="center", fontsize=10 if width > 0.1 else 8)
        below = f"{width:.1%}" if width >= 0.1 else f"{width:.2%}"
        ax.text(start + width / 2, -0.12, below, ha="center", va="top", fontsize=8, color="0.35")
        if cls.name == "E":
            t = addressing.TEXTBOOK_CLASS_E
            half = t.share
            for x0, label in ((start, t.leading_bits), (start + half, "11111")):
                ax.plot([x0 + 0.002, x0 + 0.002, x0 + half - 0.002, x0 + half - 0.002],
                        [1.04, 1.1, 1.1, 1.04], color="0.35", lw=0.8)
                ax.text(x0 + half / 2, 1.13, label, ha="center", va="bottom", fontsize=7,
                        color="0.35", rotation=90)
            ax.text(start - 0.01, 1.2, "the source's textbook pattern:\n11110… = 240-247 (its class E), "
                    "11111… = 248-255 (no class)", ha="right", va="center", fontsize=7, color="0.35")
        start += width
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.45, 1.55)
    ax.axis("off")
    ax.set_title("The 2**32 IPv4 addresses by class (share of the address space below)", fontsize=11)
    return ax


def plot_subnets(network: object, subnets: Sequence[object], ax: Axes | None = None) -> Axes:
    """``network`` as a bar of its addresses, with ``subnets`` drawn where they fall in it."""
    net = addressing.as_network(network)
    subs = [addressing.as_network(s, "subnets") for s in subnets]
    ax = _axes(ax, (10, 1.9))
    base, size = int(net.network_address), net.num_addresses
    ax.add_patch(Rectangle((0, 0), 1, 1, facecolor="#eeeeee", edgecolor="0.6"))
    for i, s in enumerate(subs):
        x = (int(s.network_address) - base) / size
        w = s.num_addresses / size
        ax.add_patch(Rectangle((x, 0), w, 1, facecolor=_CLASS_COLOURS[i % 5], edgecolor="white"))
        if w > 0.06:
            hosts = addressing.host_count(s.prefixlen)
            ax.text(x + w / 2, 0.5, f"{s}\n{hosts:,} hosts", ha="center", va="center", fontsize=8)
        ax.text(x, -0.08, f".{int(s.network_address) & 0xFF}" if net.prefixlen >= 24 else
                str(s.network_address), ha="center", va="top", fontsize=7, color="0.35")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.45, 1.1)
    ax.axis("off")
    ax.set_title(f"{net} ({size:,} addresses) split into {len(subs)} subnets", fontsize=11)
    return ax


def plot_fragments(packet: IPv4Packet, fragments: Sequence[IPv4Packet], ax: Axes | None = None) -> Axes:
    """Where each fragment's data sits in the original payload: offsets, lengths and MF."""
    ax = _axes(ax, (10, 0.5 * len(fragments) + 1.4))
    total = max(len(packet.payload), 1)
    n = len(fragments)
    labels: list[tuple[Text, int, int, int]] = []
    ax.add_patch(Rectangle((0, n), total, 0.7, facecolor="#dddddd", edgecolor="0.5"))
    ax.text(total / 2, n + 0.35, f"original payload: {len(packet.payload)} bytes", ha="center", va="center",
            fontsize=9)
    for i, f in enumerate(fragments):
        y = n - 1 - i
        start, length = f.fragment_offset_bytes - packet.fragment_offset_bytes, len(f.payload)
        ax.add_patch(Rectangle((start, y), length, 0.7, facecolor=_CLASS_COLOURS[i % 5], edgecolor="white"))
        inside = ax.text(start + length / 2, y + 0.35,
                         f"offset {f.fragment_offset} (= byte {f.fragment_offset_bytes}), {length} B, "
                         f"MF={int(f.more_fragments)}", ha="center", va="center", fontsize=8)
        labels.append((inside, start, length, y))
        ax.text(-0.01 * total, y + 0.35, f"fragment {i + 1}: {f.length} B on the wire",
                ha="right", va="center", fontsize=8)
    ax.set_xlim(-0.32 * total, total * 1.02)
    ax.set_ylim(-0.3, n + 1)
    ax.set_yticks([])
    ax.set_xticks([t for t in ax.get_xticks() if 0 <= t <= total])
    ax.set_xlabel("byte of the original payload")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{packet.length}-byte packet cut to fit the MTU: every piece gets its own "
                 f"{HEADER_LENGTH}-byte header", fontsize=10)
    # A label wider than its bar moves out beside it, to the left (the last, shortest
    # fragment) or to the right, wherever the row is empty.
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]
    to_data = ax.transData.inverted()
    for text, start, length, y in labels:
        box = text.get_window_extent(renderer)
        (x0, _), (x1, _) = to_data.transform([(box.x0, box.y0), (box.x1, box.y1)])
        if x1 - x0 > 0.96 * length:
            before = start > total - (start + length)
            text.set_position((start - 0.01 * total, y + 0.35) if before
                              else (start + length + 0.01 * total, y + 0.35))
            text.set_horizontalalignment("right" if before else "left")
    return ax


def plot_lpm(routes: Sequence[tuple[object, str]], dst: object, ax: Axes | None = None) -> Axes:
    """Longest-prefix match: each route's prefix bits against the destination's bits.

    ``routes`` are ``(network, label)`` pairs. Bits of a route's prefix that
    agree with ``dst`` are green, the first that disagrees red; the longest
    fully green prefix is the winner.
    """
    d = int(addressing.as_address(dst, "dst"))
    nets = [(addressing.as_network(n, "routes"), label) for n, label in routes]
    ax = _axes(ax, (10, 0.5 * len(nets) + 1.3))
    dbits = f"{d:032b}"
    rows = [("destination", dbits, 32, True, str(addressing.as_address(dst)))]
    best = None
    for net, label in nets:
        match = (d >> (32 - net.prefixlen) if net.prefixlen else 0) == (
            int(net.network_address) >> (32 - net.prefixlen) if net.prefixlen else 0)
        if match and (best is None or net.prefixlen > best.prefixlen):
            best = net
        rows.append((f"{net} {label}", f"{int(net.network_address):032b}", net.prefixlen, match, ""))
    for r, (label, bits, p, match, note) in enumerate(rows):
        y = len(rows) - 1 - r
        for i in range(32):
            x = i + (i // 8) * 0.4
            if r == 0:
                colour = "#eeeeee"
            elif i >= p:
                colour = "white"
            else:
                colour = "#98df8a" if bits[i] == dbits[i] else "#ff9896"
            ax.add_patch(Rectangle((x, y), 0.92, 0.8, facecolor=colour, edgecolor="0.85"))
            if r == 0 or i < p:
                ax.text(x + 0.46, y + 0.4, bits[i], ha="center", va="center", fontsize=8, family="monospace")
        winner = r > 0 and best is not None and label.startswith(f"{best} ")
        ax.text(-0.6, y + 0.4, label, ha="right", va="center", fontsize=9,
                fontweight="bold" if winner else "normal")
        verdict = "longest match: wins" if winner else "matches" if match else "no match"
        if r == 0:
            verdict = note
        ax.text(34, y + 0.4, verdict, ha="left", va="center", fontsize=9,
                color="tab:green" if winner else "0.4")
    ax.set_xlim(-14, 44)
    ax.set_ylim(-0.3, len(rows) + 0.2)
    ax.axis("off")
    ax.set_title(f"Longest-prefix match for {addressing.as_address(dst)}", fontsize=11)
    return ax
