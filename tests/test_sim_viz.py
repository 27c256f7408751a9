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


# --- what a lecturer would see: nothing clipped, nothing printed on top of something else ------


def _chain(n_routers: int = 3) -> tuple[Network, dict[str, tuple[float, float]]]:
    """Notebook 05's shape: two hosts on a switch, a chain of routers, one host behind them."""
    from labkit.sim.stacks import install_ip

    net = Network(seed=5)
    a = net.add_host("A", ip="10.0.1.10/24", gateway="10.0.1.1")
    c = net.add_host("C", ip="10.0.1.30/24", gateway="10.0.1.1")
    s1 = net.add_switch("S1")
    routers = [net.add_router(f"R{i + 1}", [f"10.0.{i}{i + 1}.2/30" if i else "10.0.1.1/24",
                                             f"10.0.{i + 1}{i + 2}.1/30"])
               for i in range(n_routers)]
    b = net.add_host("B", ip=f"10.0.{n_routers}{n_routers + 1}.2/30")
    net.connect(a, s1)
    net.connect(c, s1)
    net.connect(routers[0]["eth0"], s1)
    for left, right in zip(routers, routers[1:]):
        net.connect(left["eth1"], right["eth0"])
    net.connect(routers[-1]["eth1"], b)
    install_ip(net)
    positions = {"A": (0, 1), "C": (0, 0), "S1": (1, 0.5), "B": (1.6 * n_routers + 1.4, 0.5)}
    positions.update({f"R{i + 1}": (2.6 + 1.6 * i, 0.5) for i in range(n_routers)})
    return net, positions


def _boxes(ax: Axes):
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    from matplotlib.transforms import Bbox

    markers = []
    for c in ax.collections:  # a marker's box: its centre, and half the side of its area
        (x, y), = ax.transData.transform(c.get_offsets())
        half = np.sqrt(c.get_sizes()[0]) / 2 * ax.figure.dpi / 72
        markers.append(Bbox([[x - half, y - half], [x + half, y + half]]))
    labels = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.texts
              if t.get_text() and t.get_color() == "#333333"]
    return markers, labels


@pytest.mark.parametrize("given_positions", [True, False])
def test_topology_keeps_markers_inside_and_addresses_off_the_markers(given_positions):
    net, positions = _chain()
    fig, ax = plt.subplots(figsize=(12, 3.2), gridspec_kw={"left": 0.02, "right": 0.98})
    draw_topology(net, ax=ax, positions=positions if given_positions else None)
    markers, labels = _boxes(ax)
    frame = ax.get_window_extent()
    for m in markers:  # every node's whole marker is inside the axes (notebook 05 cut A, C, B)
        assert frame.x0 <= m.x0 and m.x1 <= frame.x1 and frame.y0 <= m.y0 and m.y1 <= frame.y1
    assert len(labels) == 2 * len(net.links)
    for text, box in labels:  # no address under a node (notebook 09 showed ".0.1.10/24")
        for m in markers:
            assert not box.overlaps(m), (text, box, m)
    plt.close(fig)


def test_topology_of_the_capstone_keeps_every_address_readable():
    from labkit.capstone import build

    with build() as cap:
        ax = draw_topology(cap.net, show_links=True)
    markers, labels = _boxes(ax)
    assert {"10.0.1.10/24", "10.0.1.1/24", "10.0.12.1/24", "10.0.2.80/24"} <= {t for t, _ in labels}
    for text, box in labels:
        assert not any(box.overlaps(m) for m in markers), text
        assert not any(box.overlaps(other) for t, other in labels if t != text), text
    plt.close(ax.figure)


def test_sequence_axis_starts_where_a_late_capture_starts():
    from labkit.app.ping import ping

    net, _ = _chain()
    ping(net["A"], "10.0.1.30", count=1, verbose=False)
    net.run_for("40ms")  # notebook 05's case: 40 ms of nothing before the capture opens
    start = net.now
    cap = net.capture()
    ping(net["A"], "10.0.1.30", count=1, verbose=False)
    ax = draw_sequence(cap.trace, nodes=["A", "S1", "C"])
    bottom, top = ax.get_ylim()  # inverted: time runs down
    assert top < bottom
    unit = {"time (s)": 1e9, "time (ms)": 1e6, "time (µs)": 1e3}[ax.get_ylabel()]
    first = min(r.time for r in cap.trace) / unit
    assert start / unit <= first and first - top < 0.1 * (bottom - top)  # no empty stretch on top
    plt.close(ax.figure)


def test_sequence_labels_of_simultaneous_frames_do_not_overlap():
    from labkit.capstone import build, fetch

    with build() as cap:  # the reply's segments leave W together: their labels used to pile up
        hop = cap.net.capture(cap.net["R1"]["eth1"], cap.net["R2"]["eth0"])
        fetch(cap)
    fig, ax = plt.subplots(figsize=(9, 8))
    draw_sequence(hop.trace, ax=ax, label_width=44)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if t.get_text() and t.get_fontsize() == 7]
    assert len(boxes) >= 15
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b)
    plt.close(fig)


def test_trace_stepper_steps_through_each_run_and_redraws():
    from labkit.app.ping import ping
    from labkit.net.summary import short_summary
    from labkit.viz.sim import TraceStepper, draw_step

    runs = {}
    for name, dst in (("A pings C", "10.0.1.30"), ("A pings B", "10.0.34.2")):
        net, positions = _chain()
        cap = net.capture(summariser=short_summary)
        ping(net["A"], dst, count=1, verbose=False)
        runs[name] = (net, cap.trace)
    stepper = TraceStepper(runs, positions=positions)
    sent = [r for r in runs["A pings C"][1] if r.direction == "out"]
    assert stepper.frame.max == len(sent) - 1 and stepper.frame.description == "frame"
    first = stepper.out.outputs[0]["data"]["image/png"]
    stepper.next.click()
    assert stepper.frame.value == 1 and stepper.out.outputs[0]["data"]["image/png"] != first
    stepper.back.click()
    stepper.back.click()  # stays on the first frame
    assert stepper.frame.value == 0
    stepper.frame.value = 3
    stepper.run.value = "A pings B"  # another run starts from its first frame
    far = [r for r in runs["A pings B"][1] if r.direction == "out"]
    assert (stepper.frame.value, stepper.frame.max) == (0, len(far) - 1)
    assert stepper.out.outputs[0]["data"]["text/plain"] == "<A pings B, frame 1>"
    # the first frame is A's ARP request for its gateway, to everyone; the list says so
    fig = draw_step(*runs["A pings B"], 0, positions=positions)
    lines = [t.get_text() for t in fig.axes[1].texts]
    assert "ARP who-has 10.0.1.1" in lines[1] and "everyone (broadcast)" in lines[1]
    echo = next(i for i, r in enumerate(far) if "echo request" in r.summary)
    fig = draw_step(*runs["A pings B"], echo, positions=positions)
    bold = [t.get_text() for t in fig.axes[1].texts if t.get_fontweight() == "bold"]
    assert len(bold) == 1 and "frame to R1.eth0, packet to 10.0.34.2" in bold[0]
    plt.close("all")
    with pytest.raises(LabkitValueError, match="index"):
        draw_step(*runs["A pings C"], 99)


def test_a_learning_switch_sends_r1_only_the_broadcast_of_a_ping_to_c():
    """What notebook 05's "ARP for C itself" figure shows: its old saved copy had S1 also
    sending the ARP reply and the echo to R1, which a fresh run does not."""
    from labkit.app.ping import ping
    from labkit.net.summary import short_summary

    net, _ = _chain()
    cap = net.capture(summariser=short_summary)
    ping(net["A"], "10.0.1.30", count=1, verbose=False)
    to_r1 = [r.summary for r in cap.trace.where(node="S1", direction="out") if r.peer == "R1"]
    assert to_r1 == ["ARP who-has 10.0.1.30"]
    to_c = [r.summary for r in cap.trace.where(node="S1", direction="out") if r.peer == "C"]
    assert to_c == ["ARP who-has 10.0.1.30", "echo request ttl=64"]


def test_lesson_12s_ring_keeps_every_address_apart():
    """Two links leave R1 (and R4) on the same side: their addresses once printed on each other."""
    from labkit.sim.routing import two_paths
    from labkit.viz.routing import draw_path

    fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")  # as lesson 12 draws it
    draw_path(two_paths(), [], ax, src="A")
    fig.canvas.draw()
    markers, labels = _boxes(ax)
    assert len(labels) == 14  # seven links, an address at each end
    for text, box in labels:
        assert not any(box.overlaps(m) for m in markers), text
        assert not any(box.overlaps(other) for t, other in labels if t != text), text
    plt.close(fig)
