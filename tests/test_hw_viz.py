"""labkit.viz.hw: the plots draw what they claim."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from labkit.errors import LabkitValueError
from labkit.hw.lab import PREAMBLE, open_pair, transfer
from labkit.hw.selftest import run_selftest
from labkit.viz.hw import plot_ber_vs_rate, plot_capture, plot_captures, rc_wire_model


def test_capture_plots():
    tx, rx = open_pair(pair="viz")
    try:
        cap = transfer(tx, rx, np.concatenate([PREAMBLE, [0, 1, 1, 0]]), 1000, "nrz-l",
                       samples_per_bit=10)
        ax = plot_capture(cap, bits=8)
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "samples (10 per bit)"]
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


def test_the_rc_model_shows_the_wire_where_the_samples_cannot():
    tx, rx = open_pair(pair="viz-rc")
    try:
        bits = np.concatenate([PREAMBLE, [0, 1, 1, 0]])
        slow = transfer(tx, rx, bits, 2000, "manchester", samples_per_bit=20)
        fast = transfer(tx, rx, bits, 20000, "manchester", samples_per_bit=2)
    finally:
        tx.close()
        rx.close()
    for cap in (slow, fast):
        t, v = rc_wire_model(cap, 22)
        first = int(np.flatnonzero(t >= 0)[0])
        assert abs(v[first] - 2.5) < 0.2  # time 0 is where the receiver triggered
    _, v_slow = rc_wire_model(slow, 22)
    _, v_fast = rc_wire_model(fast, 22)
    # a 250 µs half-bit is 11 tau: the rails are reached; a 25 µs half-bit is about one tau
    # (1 - e^-1.14 = 0.68 of the way, rising from the previous dip): far from the rails
    assert v_slow.max() > 4.99 and v_slow[v_slow.size // 2:].min() < 0.01
    assert v_fast[v_fast.size // 2:].max() < 4.8 and v_fast[v_fast.size // 2:].min() > 0.2
    ax = plot_capture(fast, wire_tau_us=22)
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "RC wire model, τ = 22 µs" in labels and "samples (2 per bit)" in labels
    model = next(ln for ln in ax.get_lines() if ln.get_label().startswith("RC wire"))
    samples = next(ln for ln in ax.get_lines() if ln.get_label().startswith("samples"))
    assert model.get_xydata().shape[0] > 50 * samples.get_xydata().shape[0]
    plt.close("all")
    with pytest.raises(LabkitValueError):
        rc_wire_model(fast, 0)


def test_wire_panel_redraws_and_counts_errors_as_the_rate_goes_up():
    import ipywidgets as widgets

    from labkit.viz.hw import PANEL_RATES, wire_panel

    tx, rx = open_pair(pair="viz-panel")
    try:
        panel = wire_panel(tx, rx, bit_rate=1000)
        assert isinstance(panel.rate, widgets.SelectionSlider) and panel.rate.description == "bit/s"
        assert tuple(panel.rate.options) == PANEL_RATES
        assert repr(panel) == "WirePanel(code='manchester', bit_rate=1000: 0 of 160 bits wrong)"
        first = panel.out.outputs[0]["data"]["image/png"]
        panel.rate.value = 50_000  # past the documented 20 kbit/s: Manchester loses the clock
        assert panel.out.outputs[0]["data"]["image/png"] != first
        assert panel.errors > 16 and f"{panel.errors} of 160 bits wrong" in repr(panel)
        panel.code.value = "nrz-l"  # NRZ's shortest pulse is a whole bit: it still gets through
        assert panel.errors < 16
        fig = panel.figure()
        labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
        assert "RC wire model, τ = 22 µs" in labels and "samples (4 per bit)" in labels
        assert "digital pin" in fig.axes[0].get_title()  # 40,000 ADC samples/s < 2 per bit
        panel.rate.value = 10_000
        assert "analog pin" in panel.figure().axes[0].get_title()
        with pytest.raises(LabkitValueError):
            wire_panel(tx, rx, bit_rate=12345)
    finally:
        tx.close()
        rx.close()
        plt.close("all")
