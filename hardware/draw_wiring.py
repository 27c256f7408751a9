"""Draw hardware/wiring.svg and wiring.png: the lab's two boards, two wires, common ground.

Run from the repository root: python hardware/draw_wiring.py
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent
BOARD, PIN, TEXT = "#1f6f8b", "#f2c14e", "#ffffff"


def resistor(ax, x0, x1, y, color):
    """A zig-zag resistor between x0 and x1 at height y."""
    n = 6
    xs = [x0 + (x1 - x0) * k / (2 * n) for k in range(2 * n + 1)]
    ys = [y + (0 if k in (0, 2 * n) else (0.18 if k % 2 else -0.18)) for k in range(2 * n + 1)]
    ax.plot(xs, ys, color=color, lw=2.5)


def capacitor(ax, x, y_top, y_gnd, color):
    ax.plot([x, x], [y_top, y_top - 0.35], color=color, lw=2.5)
    ax.plot([x - 0.28, x + 0.28], [y_top - 0.35] * 2, color="#333", lw=3)
    ax.plot([x - 0.28, x + 0.28], [y_top - 0.5] * 2, color="#333", lw=3)
    ax.plot([x, x], [y_top - 0.5, y_gnd], color="#333", lw=1.8)
    ax.plot(x, y_top, "o", color=color, ms=6)


def board(ax, x, label, port):
    ax.add_patch(FancyBboxPatch((x, 1.0), 3.0, 6.2, boxstyle="round,pad=0.05,rounding_size=0.2",
                                fc=BOARD, ec="#0b3c4d", lw=2))
    ax.text(x + 1.5, 6.75, label, color=TEXT, ha="center", fontsize=13, weight="bold")
    ax.text(x + 1.5, 6.35, "Arduino Uno or Nano", color=TEXT, ha="center", fontsize=10)
    ax.text(x + 1.5, 6.0, f"USB: {port}", color="#d9f0f7", ha="center", fontsize=9)


def pin(ax, x, y, name, side):
    ax.plot(x, y, "o", ms=10, mfc=PIN, mec="black")
    ax.text(x - 0.3 if side == "left" else x + 0.3, y, name, color=TEXT, fontsize=11,
            ha="right" if side == "left" else "left", va="center", weight="bold")


def main() -> None:
    fig, ax = plt.subplots(figsize=(12, 6.2))
    ax.set_xlim(0, 17)
    ax.set_ylim(-0.9, 8)
    ax.axis("off")
    ax.text(8.5, 7.6, "labkit hardware lab: wiring", ha="center", fontsize=15, weight="bold")
    board(ax, 0.5, "Board A", "LABKIT_TX_PORT")
    board(ax, 13.5, "Board B", "LABKIT_RX_PORT")
    red, green = "#d7263d", "#2a9d3a"
    # wire 0: A.D7 -> 10k -> B.D8 and B.A0, 2.2 nF to ground
    pin(ax, 3.5, 5.4, "D7", "left")
    pin(ax, 13.5, 5.4, "D8", "right")
    pin(ax, 13.5, 4.7, "A0", "right")
    ax.plot([3.5, 5.5], [5.4, 5.4], color=red, lw=2.5)
    resistor(ax, 5.5, 7.3, 5.4, red)
    ax.plot([7.3, 13.5], [5.4, 5.4], color=red, lw=2.5)
    ax.plot([12.5, 12.5, 13.5], [5.4, 4.7, 4.7], color=red, lw=2.5)
    ax.plot(12.5, 5.4, "o", color=red, ms=6)
    capacitor(ax, 10.5, 5.4, 1.6, red)
    ax.text(6.4, 5.75, "10 kΩ", color=red, ha="center", fontsize=11)
    ax.text(10.85, 4.85, "2.2 nF", color="#333", fontsize=11)
    ax.text(8.5, 6.25, "wire 0: A sends, B receives", color=red, ha="center", fontsize=12,
            weight="bold")
    # wire 1: B.D7 -> 10k -> A.D8 and A.A0 (optional: the other direction)
    pin(ax, 13.5, 3.3, "D7", "right")
    pin(ax, 3.5, 3.9, "D8", "left")
    pin(ax, 3.5, 3.3, "A0", "left")
    ax.plot([13.5, 11.5], [3.3, 3.3], color=green, lw=2.5)
    resistor(ax, 9.7, 11.5, 3.3, green)
    ax.plot([9.7, 3.5], [3.3, 3.3], color=green, lw=2.5)
    ax.plot([4.5, 4.5, 3.5], [3.3, 3.9, 3.9], color=green, lw=2.5)
    ax.plot(4.5, 3.3, "o", color=green, ms=6)
    capacitor(ax, 6.5, 3.3, 1.6, green)
    ax.text(10.6, 2.85, "10 kΩ", color=green, ha="center", va="top", fontsize=11)
    ax.text(6.85, 2.75, "2.2 nF", color="#333", fontsize=11)
    ax.text(8.5, 3.75, "wire 1 (optional): B sends, A receives", color=green, ha="center",
            fontsize=12, weight="bold")
    # ground
    pin(ax, 3.5, 1.6, "GND", "left")
    pin(ax, 13.5, 1.6, "GND", "right")
    ax.plot([3.5, 13.5], [1.6, 1.6], color="black", lw=3)
    ax.text(8.5, 1.15, "common ground: GND to GND, always", ha="center", fontsize=12,
            weight="bold")
    ax.text(8.5, 0.35, "Each wire: the sender's D7 through 10 kΩ to the receiver's D8 and A0; "
            "2.2 nF from there to GND (τ = RC = 22 µs).", ha="center", fontsize=10.5)
    ax.text(8.5, -0.2, "A plain jumper instead of the resistor and capacitor works too "
            "(up to the firmware's 50 kbit/s), but hides the wire's physics.", ha="center",
            fontsize=10.5)
    ax.text(8.5, -0.75, "Both boards 5 V: never connect a 5 V output to a 3.3 V board's input.",
            ha="center", fontsize=10.5, color=red)
    plt.rcParams["svg.hashsalt"] = "labkit"  # stable ids: the file only changes with the drawing
    fig.savefig(HERE / "wiring.svg", metadata={"Date": None}, bbox_inches="tight")
    fig.savefig(HERE / "wiring.png", dpi=90, metadata={"Software": None}, bbox_inches="tight")


if __name__ == "__main__":
    main()
