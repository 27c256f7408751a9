"""Figures drawn in less memory (issue 24): the same pixels as the artists they replace."""

from __future__ import annotations

import io

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from labkit import phy  # noqa: E402
from labkit.viz import plot_eye  # noqa: E402


def _pixels(fig) -> np.ndarray:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    buf.seek(0)
    return mpimg.imread(buf)


def test_the_eye_diagram_is_one_collection_with_the_pixels_of_a_line_per_trace():
    rng = np.random.default_rng(3)
    wave = phy.add_noise(phy.low_pass(phy.encode(rng.integers(0, 2, 600), "nrz-l", 8), 3), 12, rng)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    plot_eye(wave, 8, ax=ax, title="eye")
    assert not ax.lines and len(ax.collections) == 1  # not 400 Line2D artists
    segments = ax.collections[0].get_segments()
    traces = phy.eye_traces(wave, 8)[:400]
    assert len(segments) == 400 and all(np.array_equal(s[:, 1], t) for s, t in zip(segments, traces))
    new = _pixels(fig)
    # the way it was drawn before: one Line2D per trace
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(traces.shape[1]) / 8, traces.T, color="tab:blue", alpha=0.08, linewidth=1)
    ax.set_xlabel("time (bits)")
    ax.set_ylabel("volts")
    ax.set_xlim(0, 2)
    ax.set_title("eye")
    old = _pixels(fig)
    assert old.shape == new.shape and np.array_equal(old, new)
