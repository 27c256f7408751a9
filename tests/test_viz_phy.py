"""The physical layer's plots draw what they are given."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from labkit import phy, viz


def test_waveform_marks_wrong_bits_in_red():
    bits = np.array([1, 0, 1, 1], dtype=np.uint8)
    decoded = np.array([1, 1, 1, 1], dtype=np.uint8)
    ax = viz.plot_waveform(phy.encode(bits, "nrz-l"), 8, bits=bits, decoded=decoded)
    red = [t.get_text() for t in ax.texts if t.get_color() == "red"]
    assert red == ["1"]  # the one bit received wrong
    assert ax.get_xlim() == (0, 4)
    plt.close("all")


def test_eye_and_ber_plots():
    rx = phy.add_noise(phy.encode(np.tile([0, 1, 1, 0], 50), "manchester"), 12, 0)
    ax = viz.plot_eye(rx, 8, max_traces=50)
    (traces,) = ax.collections  # one collection of 50 two-bit traces
    assert len(traces.get_segments()) == 50
    ax = viz.plot_ber([0, 2, 4], [1e-2, 1e-3, 0.0], n_bits=1000)
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["theory, nrz-l", "measured", "no errors seen (< 1/n)"]
    plt.close("all")


def test_panel_redraws_on_change():
    panel = viz.phy_panel("nrz-l", snr_db=20, samples_per_bit=8)
    first = panel.out.outputs[0]["data"]["image/png"]
    assert repr(panel) == "PhyPanel(code='nrz-l', snr_db=20, samples_per_bit=8)"
    panel.snr.value = -3
    assert panel.out.outputs[0]["data"]["image/png"] != first
    assert "snr_db=-3" in repr(panel)
