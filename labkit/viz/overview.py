"""Course-wide pictures: the path of a message from one program to another."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["plot_data_path"]

_STEPS = [
    ("1. send(): the client\ncopies its bytes\ninto the kernel", 0),
    ("2. the kernel adds\nTCP, IP, Ethernet\nheaders; drives the NIC", 1),
    ("3. bits cross the\nnetwork as voltages,\nlight or radio", 2),
    ("4. the server's kernel\ntakes the frame from\nits NIC, strips headers", 1),
    ("5. recv(): the server\ncopies the bytes\ninto its memory", 0),
]
#: Half the width and half the height of a step's box, in data units (one step per unit).
_BOX_W, _BOX_H = 0.47, 0.36
_ROWS = ["application\n(user space)", "operating system\n(kernel)", "hardware\n(NIC, wire)"]


def plot_data_path(ax: Axes | None = None) -> Axes:
    """Draw the five steps a message takes from a client program to a server program.

    Each step's text is written inside its box (three short lines; tests check it fits).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4.2), layout="constrained")
    colours = ["#dbeafe", "#fde68a", "#d1fae5"]
    for row, (label, colour) in enumerate(zip(_ROWS, colours)):
        y = 2 - row
        ax.add_patch(FancyBboxPatch((-0.5, y - 0.45), 5.4, 0.9, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="none", zorder=0))
        ax.text(-0.55, y, label, ha="right", va="center", fontsize=9)
    points = []
    for i, (text, row) in enumerate(_STEPS):
        y = 2 - row
        ax.add_patch(FancyBboxPatch((i - _BOX_W, y - _BOX_H), 2 * _BOX_W, 2 * _BOX_H,
                                    boxstyle="round,pad=0.02", facecolor="white",
                                    edgecolor="0.4"))
        ax.text(i, y, text, ha="center", va="center", fontsize=8, linespacing=1.25)
        points.append((i, y))
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        ax.add_patch(FancyArrowPatch((x0 + _BOX_W + 0.02, y0), (x1 - _BOX_W - 0.02, y1), arrowstyle="-|>",
                                     mutation_scale=12, color="tab:blue"))
    ax.text(0, 2.6, "client", ha="center", fontsize=10, fontweight="bold")
    ax.text(4, 2.6, "server", ha="center", fontsize=10, fontweight="bold")
    ax.set_xlim(-1.6, 4.95)
    ax.set_ylim(-0.6, 2.9)
    ax.axis("off")
    return ax
