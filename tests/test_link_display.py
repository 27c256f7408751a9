"""Jupyter display of frames (labkit.display) and the data-link plots (labkit.viz.link)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import pytest

from labkit.display import PALETTE, fields_table_html, hex_map_html
from labkit.errors import LabkitValueError
from labkit.link import BROADCAST, EthernetFrame, LearningSwitch, MACAddress, crc, listen, transmit
from labkit.viz.link import (
    plot_crc_register,
    plot_frame_layout,
    plot_frame_on_wire,
    plot_switch_steps,
    record_step,
    switch_stepper,
)


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


def _four_host_steps():
    sw = LearningSwitch(4)
    mac = {n: MACAddress(f"02:00:00:00:00:0{n.lower()}") for n in "ABCD"}
    names = {m: n for n, m in mac.items()}
    script = [(0, 1, "A", mac["B"]), (1, 2, "B", mac["A"]), (2, 3, "C", BROADCAST),
              (400, 2, "B", mac["A"])]
    steps = [record_step(sw, port, EthernetFrame(dst, mac[src], 0x0800, b"hi"), t * 10**9, names)
             for t, port, src, dst in script]
    return steps, {1: "A", 2: "B", 3: "C", 4: "D"}, names


def test_switch_steps_have_a_colour_key():
    steps, hosts, names = _four_host_steps()
    fig = plot_switch_steps(steps, hosts, names, columns=2)
    (legend,) = fig.legends
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["the frame comes in", "forwarded out of one port",
                      "flooded out of every other port", "not used by this frame"]
    colours = [h.get_color() for h in legend.legend_handles]
    # the key's colours are the ones the panels draw: the first floods (in, flood), the
    # second forwards (in, forward, and two ports unused)
    first = {line.get_color() for line in fig.axes[0].lines}
    second = {line.get_color() for line in fig.axes[1].lines}
    assert first == {colours[0], colours[2]} and second == {colours[0], colours[1], colours[3]}
    plt.close("all")


def test_switch_stepper_moves_frame_by_frame_and_redraws():
    steps, hosts, names = _four_host_steps()
    w = switch_stepper(steps, hosts, names)
    assert isinstance(w.frame, widgets.IntSlider) and w.frame.description == "frame"
    assert (w.frame.min, w.frame.max, w.frame.value) == (1, 4, 1)
    first = w.out.outputs[0]["data"]["image/png"]
    assert repr(w) == "SwitchStepper(frame 1 of 4: A -> B, flood)"
    w.next.click()
    assert w.frame.value == 2 and repr(w) == "SwitchStepper(frame 2 of 4: B -> A, forward)"
    second = w.out.outputs[0]["data"]["image/png"]
    assert second != first
    w.back.click()
    w.back.click()  # stays at the first frame
    assert w.frame.value == 1 and w.out.outputs[0]["data"]["image/png"] == first
    w.frame.value = 4
    assert "flood" in repr(w)  # B's frame for A after A aged out
    fig = w.figure()
    tables = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("MAC table")]
    assert tables == ["MAC table\n   B -> port 2"]
    plt.close("all")
    with pytest.raises(LabkitValueError):
        switch_stepper([], hosts, names)


def test_largest_frame_names_its_header_fields():
    big = EthernetFrame(BROADCAST, 1, 0x0800, bytes(1500))
    ax = plot_frame_layout(big)
    names = " ".join(t.get_text() for t in ax.texts)
    for field in ("destination 6 B", "source 6 B", "EtherType 2 B", "FCS 4 B", "payload\n1500 B"):
        assert field in names
    plt.close("all")


def test_crc_register_picture_has_a_key_and_the_register_bits():
    data = bytes.fromhex("ffffffffffff001b213a4f5e")
    ax = plot_crc_register(data)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "bit is 1", "bit is 0", "a new byte enters"]
    image = ax.images[0].get_array()
    assert image.shape == (32, 96)
    last = int("".join(str(int(b)) for b in image[::-1, -1]), 2)
    assert last == list(crc.crc32_steps(data))[-1][2]
    plt.close("all")
    with pytest.raises(LabkitValueError):
        plot_crc_register(b"")
