"""Notebook 07's explorer (labkit.viz.congestion.TCPExplorer) and its third exercise."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from labkit.exercises import evaluate  # noqa: E402
from labkit.viz.congestion import TCPExplorer, tcp_transfer  # noqa: E402


def test_transfer_shows_loss_repair_and_flow_control():
    clean = tcp_transfer(loss=0.0, recv_buffer=65_535)
    assert not clean["again"].any() and clean["ack"].max() >= 60_000
    lossy = tcp_transfer(loss=0.1)
    assert lossy["again"].any()  # something was sent again, and still everything arrived
    assert lossy["ack"].max() >= 60_000
    small = tcp_transfer(recv_buffer=4000)
    # never beyond the window B advertised: data stays below ACK + window
    edge_at = small["window_edge"].max()
    assert small["data_seq"].max() < edge_at
    assert float(small["done"]) > float(clean["done"])  # a small buffer slows the transfer


def test_explorer_callbacks_redraw():
    ex = TCPExplorer(loss=0.0, delay=5, buffer=16_000)
    first = ex.out.outputs[0]["data"]["image/png"]
    assert "loss 0%" in repr(ex) and "0 sent again" in repr(ex)
    ex.loss.value = 10.0
    assert ex.run["again"].any() and "loss 10%" in ex.out.outputs[0]["data"]["text/plain"]
    before = float(ex.run["done"])
    ex.delay.value = 50
    assert float(ex.run["done"]) > before
    ex.buffer.value = 4000
    assert "4,000 B" in ex.describe()
    assert ex.out.outputs[0]["data"]["image/png"] != first


def test_the_buffer_slider_goes_below_one_segment_and_every_setting_finishes():
    """The slider starts at 1000 B (below the 1460-byte MSS): at its worst corner (10% loss, 50 ms
    a link) the transfer still ends with every byte acknowledged; a zero-window stall made these
    settings hang before (tests/test_tcp_fixes.py)."""
    ex = TCPExplorer(loss=10.0, delay=50, buffer=16_000)
    assert ex.buffer.options[0] == 1000 and ex.buffer.options[0] < 1460
    for buffer in ex.buffer.options[:3]:
        ex.buffer.value = buffer
        assert f"{buffer:,} B" in ex.describe()
        assert ex.run["ack"].max() >= ex.size  # all of it arrived
        assert ex.run["data_seq"].max() < ex.run["window_edge"].max()  # never beyond B's window


def test_max_segment_exercise():
    assert evaluate("tcp.max_segment", 65495)
    assert "two" in evaluate("tcp.max_segment", 65515).message
    assert "MSS" in evaluate("tcp.max_segment", 1460).message
    assert not evaluate("tcp.max_segment", 65495.0)
    assert not evaluate("tcp.max_segment", 1000)
