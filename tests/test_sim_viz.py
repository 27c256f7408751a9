"""Drawings of the simulator: topology and sequence diagram (labkit.viz.sim)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes

from labkit.errors import LabkitValueError
from labkit.sim import Fault, Network
from labkit.viz.sim import draw_sequence, draw_topology, layout


def two_lans(seed: int = 1) -> Network:
    net = Network(seed=seed)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.1.20/24", gateway="192.168.1.1")
    c = net.add_host("C", ip="10.0.0.20/24", gateway="10.0.0.1")
    s1, s2 = net.add_switch("S1"), net.add_switch("S2")
    r1 = net.add_router("R1", interfaces=["192.168.1.1/24", "10.0.0.1/24"])
    net.connect(a, s1, delay="1ms", bandwidth="10Mbit")
    net.connect(b, s1)
    net.connect(r1, s1)
    net.connect(r1, s2)
    net.connect(c, s2)
    return net


def texts(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_topology_draws_every_node_and_address():
    net = two_lans()
    ax = draw_topology(net, show_links=True)
    assert isinstance(ax, Axes)
    labels = texts(ax)
    for name in net.nodes:
        assert name in labels
    for iface in net.interfaces:
        if iface.ip is not None:
            assert str(iface.ip) in labels
    assert "10 Mbit/s, 1 ms" in labels
    assert len(ax.collections) == len(net.nodes)
    assert len(ax.lines) == len(net.links)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["host", "switch", "router"]
    plt.close(ax.figure)


def test_layout_is_deterministic_and_independent_of_seed():
    p1, p2, p3 = layout(two_lans(1)), layout(two_lans(1)), layout(two_lans(99))
    assert p1 == p2 == p3
    xy = np.array(list(p1.values()))
    assert xy.min() >= 0 and xy.max() <= 1
    # no two nodes on top of each other
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    assert d[np.triu_indices(len(xy), 1)].min() > 0.05


def test_layout_keeps_linked_nodes_closer_than_unlinked():
    pos = layout(two_lans())

    def dist(u, v):
        return float(np.hypot(pos[u][0] - pos[v][0], pos[u][1] - pos[v][1]))

    assert dist("A", "S1") < dist("A", "C")
    assert dist("C", "S2") < dist("C", "S1")


def test_positions_override_and_macs():
    net = two_lans()
    ax = draw_topology(net, positions={"A": (0.0, 0.0)}, show_macs=True)
    assert "192.168.1.10/24\n02:00:00:00:00:01" in texts(ax)
    node_a = next(t for t in ax.texts if t.get_text() == "A")
    assert node_a.xy == (0.0, 0.0)
    with pytest.raises(LabkitValueError, match="no node called 'Z'"):
        draw_topology(net, positions={"Z": (0, 0)})
    with pytest.raises(LabkitValueError, match="expected a labkit.sim.Network"):
        draw_topology("net")
    plt.close("all")


def test_empty_and_single_node_networks():
    assert layout(Network()) == {}
    net = Network()
    net.add_host("A")
    assert layout(net) == {"A": (0.5, 0.5)}
    draw_topology(net)
    plt.close("all")


def test_sequence_diagram_arrows_and_drops():
    net = two_lans()
    cap = net.capture()
    net.impair("S1", "B", Fault(nth=2))
    frame = b"\xff" * 6 + net["A"].mac + b"\x08\x06" + bytes(46)
    net.at(0, net["A"].send, frame)
    net.at("3ms", net["A"].send, frame)
    net.run()
    ax = draw_sequence(cap.trace, nodes=["A", "S1", "B", "R1"])
    arrows = [t for t in ax.texts if t.arrow_patch is not None]
    # per frame: A->S1, S1->B, S1->R1; the second S1->B is dropped
    assert len(arrows) == 5
    heads = sorted((a.xy, a.xyann) for a in arrows)
    assert heads[0] == ((1, 1.048), (0, 0.0))  # A at 0 ms -> S1 at 1.048 ms
    assert ax.get_ylabel() == "time (ms)"
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # time runs down
    reds = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(reds) == 1
    assert any("[fault: drop]" in t for t in texts(ax))
    lifelines = [t.get_text() for t in ax.texts if t.get_text() in ("A", "S1", "B", "R1")]
    assert lifelines == ["A", "S1", "B", "R1"]
    plt.close(ax.figure)


def test_sequence_default_order_and_labels_truncated():
    net = Network()
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b, delay="10us")
    net.summariser = lambda f: "x" * 100
    cap = net.capture()
    a.send(bytes(60))
    b.send(bytes(60))
    net.run()
    ax = draw_sequence(cap.trace, label_width=20)
    labels = [t for t in texts(ax) if t.startswith("x")]
    assert len(labels) == 2 and all(len(t) == 20 and t.endswith("…") for t in labels)
    assert ax.get_ylabel() == "time (µs)"
    plt.close(ax.figure)


def test_sequence_of_empty_trace():
    ax = draw_sequence([])
    assert len(ax.texts) == 0
    plt.close(ax.figure)
