"""labkit.viz.hw: the plots draw what they claim."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from labkit.hw.lab import PREAMBLE, open_pair, transfer
from labkit.hw.selftest import run_selftest
from labkit.viz.hw import plot_ber_vs_rate, plot_capture, plot_captures


def test_capture_plots():
    tx, rx = open_pair(pair="viz")
    try:
        cap = transfer(tx, rx, np.concatenate([PREAMBLE, [0, 1, 1, 0]]), 1000, "nrz-l",
                       samples_per_bit=10)
        ax = plot_capture(cap, bits=8)
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "samples"]
        assert line.get_xydata().shape == (80, 2)  # 8 bits of 10 samples
        assert np.allclose(line.get_ydata(), cap.volts[:80])
        assert "nrz-l at 1000 bit/s" in ax.get_title()
        fig = plot_captures([cap, cap])
        assert len(fig.axes) == 2
        report = run_selftest(tx, rx, rates=(1000, 50_000), codes=("manchester",))
    finally:
        tx.close()
        rx.close()
        plt.close("all")
    ax = plot_ber_vs_rate(report.results, documented_max_rate=20_000)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["manchester", "documented limit"]
    assert ax.get_yscale() == "log"
    plt.close("all")
