"""Jupyter display of frames (labkit.display) and the data-link plots (labkit.viz.link)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from labkit.display import PALETTE, fields_table_html, hex_map_html
from labkit.link import BROADCAST, EthernetFrame, LearningSwitch, MACAddress, listen, transmit
from labkit.viz.link import plot_frame_layout, plot_frame_on_wire, plot_switch_steps, record_step


def test_hex_map_colours_each_span_and_escapes_labels():
    html = hex_map_html(bytes(range(20)), [(0, 2, "a<b"), (2, 4, "c")], width=8)
    assert html.count("<tr>") == 3  # 20 bytes, 8 per row
    assert html.count(f"background:{PALETTE[0]}") == 2 + 1  # two bytes and the legend
    assert "a&lt;b" in html and "a<b" not in html
    assert ">13</td>" in html  # byte 0x13, uncoloured
    assert "0010</td>" in html  # the offset of the third row


def test_hex_map_truncates_long_data():
    html = hex_map_html(bytes(300), max_bytes=32)
    assert "268 more bytes" in html and html.count("<tr>") == 2


def test_fields_table():
    html = fields_table_html("T", [("x", "1", "m&m")], [(0, 1, "x")])
    assert "m&amp;m" in html and PALETTE[0] in html


def test_frame_layout_draws_every_field():
    frame = EthernetFrame(BROADCAST, 1, 0x0800, b"abc")
    ax = plot_frame_layout(frame, with_sync=True)
    assert len(ax.patches) == len(frame.spans()) + 2  # plus preamble and SFD
    widths = [p.get_width() for p in ax.patches]
    assert sum(widths) == 8 + frame.wire_length()
    plt.close("all")


def test_frame_on_wire_and_switch_steps():
    frame = EthernetFrame(BROADCAST, 1, 0x0800, b"abc")
    x = transmit(frame)
    ax = plot_frame_on_wire(x, listen(x), bits=80)
    assert len(ax.lines) == 1 and len(ax.texts) >= 80
    plt.close("all")
    sw = LearningSwitch(3)
    a, b = MACAddress("02:00:00:00:00:0a"), MACAddress("02:00:00:00:00:0b")
    names = {a: "A", b: "B"}
    steps = [
        record_step(sw, 1, EthernetFrame(b, a, 0x0800, b""), 0, names),
        record_step(sw, 2, EthernetFrame(a, b, 0x0800, b""), 10, names),
    ]
    assert [s.decision.action for s in steps] == ["flood", "forward"]
    assert [len(s.table) for s in steps] == [1, 2]
    fig = plot_switch_steps(steps, {1: "A", 2: "B", 3: "C"}, names, columns=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("t=0 s: A -> B") and "forward to port 1" in titles[1]
    plt.close("all")
