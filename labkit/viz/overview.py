"""Course-wide pictures: the path of a message from one program to another."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["plot_data_path"]

_STEPS = [
    ("1. send(): the client copies\nits bytes into the kernel", 0),
    ("2. the kernel adds TCP, IP and\nEthernet headers, drives the NIC", 1),
    ("3. bits cross the network\nas voltages, light or radio", 2),
    ("4. the server's kernel takes the\nframe from its NIC, strips headers", 1),
    ("5. recv(): the server copies\nthe bytes into its memory", 0),
]
_ROWS = ["application\n(user space)", "operating system\n(kernel)", "hardware\n(NIC, wire)"]


def plot_data_path(ax: Axes | None = None) -> Axes:
    """Draw the five steps a message takes from a client program to a server program."""
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.6), layout="constrained")
    colours = ["#dbeafe", "#fde68a", "#d1fae5"]
    for row, (label, colour) in enumerate(zip(_ROWS, colours)):
        y = 2 - row
        ax.add_patch(FancyBboxPatch((-0.45, y - 0.42), 5.3, 0.84, boxstyle="round,pad=0.02",
                                    facecolor=colour, edgecolor="none", zorder=0))
        ax.text(-0.55, y, label, ha="right", va="center", fontsize=9)
    points = []
    for i, (text, row) in enumerate(_STEPS):
        y = 2 - row
        ax.add_patch(FancyBboxPatch((i - 0.46, y - 0.3), 0.92, 0.6,
                                    boxstyle="round,pad=0.03", facecolor="white",
                                    edgecolor="0.4"))
        ax.text(i, y, text, ha="center", va="center", fontsize=7)
        points.append((i, y))
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        ax.add_patch(FancyArrowPatch((x0 + 0.48, y0), (x1 - 0.48, y1), arrowstyle="-|>",
                                     mutation_scale=12, color="tab:blue"))
    ax.text(0, 2.6, "client", ha="center", fontsize=10, fontweight="bold")
    ax.text(4, 2.6, "server", ha="center", fontsize=10, fontweight="bold")
    ax.set_xlim(-1.5, 4.9)
    ax.set_ylim(-0.6, 2.9)
    ax.axis("off")
    return ax
