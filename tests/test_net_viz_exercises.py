"""Network-layer plots draw what they claim; exercise checkers accept right answers, hint on wrong ones."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import matplotlib.pyplot as plt
import pytest
from matplotlib.patches import Rectangle

import labkit.exercises.net as ex
from labkit.exercises import evaluate
from labkit.net import addressing
from labkit.net.ipv4 import IPv4Packet, fragment
from labkit.viz import net as viz


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _colours(ax):
    return [p.get_facecolor() for p in ax.patches if isinstance(p, Rectangle)]


@pytest.mark.parametrize("prefix", [0, 8, 19, 26, 32])
def test_address_bits_colours_network_and_host_bits(prefix):
    ax = viz.plot_address_bits("192.168.1.10", prefix)
    colours = _colours(ax)
    assert len(colours) == 4 * 32
    net = plt.matplotlib.colors.to_rgba(viz.NET_COLOUR)
    assert sum(c == net for c in colours) == 4 * prefix
    texts = [t.get_text() for t in ax.texts]
    assert str(addressing.broadcast_address("192.168.1.10", prefix)) in texts


def test_classes_bar_widths_are_the_class_shares():
    ax = viz.plot_address_classes()
    widths = [p.get_width() for p in ax.patches]
    assert widths == [0.5, 0.25, 0.125, 0.0625, 0.0625]  # RFC 1112: E is 1111, 240.0.0.0/4
    texts = [t.get_text() for t in ax.texts]
    assert "E\n1111…\n240-255" in texts  # class E shows its bits
    assert "11110" in texts and "11111" in texts  # and the textbook's split of it


def test_subnets_and_fragments_and_lpm_draw():
    subs = addressing.subnets_for_hosts("192.168.40.0/24", 50)
    ax = viz.plot_subnets("192.168.40.0/24", subs)
    assert len(ax.patches) == 1 + len(subs)
    p = IPv4Packet(src="1.1.1.1", dst="2.2.2.2", payload=bytes(4000))
    ax = viz.plot_fragments(p, fragment(p, 1500))
    assert sorted(round(r.get_width()) for r in ax.patches) == [1040, 1480, 1480, 4000]
    ax = viz.plot_lpm([("10.0.0.0/8", "A"), ("10.1.0.0/16", "B"), ("10.1.2.0/24", "C")], "10.1.3.7")
    assert "longest match: wins" in [t.get_text() for t in ax.texts]


# --- exercise checkers ----------------------------------------------------------------------------


def class_of(addr):
    first = int(IPv4Address(addr)) >> 24
    for bits, name in ((1, "A"), (2, "B"), (3, "C"), (4, "D")):
        if first >> (8 - bits) == (1 << bits) - 2:
            return name
    return "E"  # RFC 1112: every address starting 1111


def textbook_class_of(addr):
    """The source's convention: E is 11110, and 11111 has no class."""
    first = int(IPv4Address(addr)) >> 24
    return None if first >= 248 else class_of(addr)


def test_right_answers_pass():
    assert evaluate("net.class_of", class_of)
    assert evaluate("net.network_address",
                    lambda a, m: IPv4Address(int(IPv4Address(a)) & int(IPv4Address(m))))
    assert evaluate("net.hosts_per_prefix", lambda p: 2 ** (32 - p) - 2)
    assert evaluate("net.subnet_plan", [f"192.168.40.{i}/26" for i in (0, 64, 128, 192)])
    assert evaluate("net.same_subnet", lambda a, b, m: int(IPv4Address(a)) & int(IPv4Address(m)) ==
                    int(IPv4Address(b)) & int(IPv4Address(m)))
    assert evaluate("net.next_hop", lambda d, i, g: d if IPv4Address(d) in IPv4Network(i, strict=False)
                    else g)

    def lookup(routes, dst):
        hits = [IPv4Network(n) for n, _ in routes if IPv4Address(dst) in IPv4Network(n)]
        return str(max(hits, key=lambda n: n.prefixlen)) if hits else None

    assert evaluate("net.longest_prefix_match", lookup)

    def fragments(size, mtu):
        room = (mtu - 20) // 8 * 8
        out, start = [], 0
        while True:
            n = min(room, size - start)
            out.append((start // 8, n, start + n < size))
            start += n
            if start >= size:
                return out

    assert evaluate("net.fragments", fragments)


def test_wrong_answers_get_hints():
    r = evaluate("net.class_of", lambda a: "A")
    assert not r and "leading 1 bits" in r.message
    r = evaluate("net.class_of", textbook_class_of)
    assert not r and "RFC 1112" in r.message and "textbook" in r.message


def test_network_address_hints_name_the_mistake_not_the_code():
    def broadcast(a, m):
        return IPv4Address(int(IPv4Address(a)) | (~int(IPv4Address(m)) & 0xFFFFFFFF))

    r = evaluate("net.network_address", broadcast)
    assert not r and "broadcast address" in r.message
    r = evaluate("net.network_address", lambda a, m: a)
    assert not r and "address itself" in r.message
    r = evaluate("net.network_address", lambda a, m: "0.0.0.1")
    assert not r and "one bitwise operator" in r.message
    for result in (evaluate("net.network_address", broadcast),
                   evaluate("net.network_address", lambda a, m: "0.0.0.1")):
        assert "&" not in result.message and "int(IPv4Address" not in result.message
    r = evaluate("net.hosts_per_prefix", lambda p: 2 ** (32 - p))
    assert not r and "network address and the broadcast" in r.message
    r = evaluate("net.subnet_plan", [f"192.168.40.{i}/25" for i in (0, 128)])
    assert not r and "try /26" in r.message
    r = evaluate("net.subnet_plan", [f"192.168.40.{i * 32}/27" for i in range(8)])
    assert not r and "only 30 hosts" in r.message
    r = evaluate("net.next_hop", lambda d, i, g: d)
    assert not r and "not on my subnet" in r.message
    r = evaluate("net.longest_prefix_match", lambda routes, d: "0.0.0.0/0")
    assert not r and "longest prefix wins" in r.message
    r = evaluate("net.fragments", lambda s, m: [(0, s, False)])
    assert not r and "8-byte units" in r.message
    r = evaluate("net.same_subnet", 5)
    assert not r and "pass your function" in r.message
    assert len(ex.ADDRESSES) > 40


def test_fragment_labels_stay_inside_their_bar_or_move_beside_it():

    big = IPv4Packet(src="10.0.1.10", dst="10.0.3.20", protocol=1, identification=7,
                     payload=bytes(1408))
    ax = viz.plot_fragments(big, fragment(big, 576))  # notebook 05's: the last label ran past
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    bars = [p.get_window_extent(renderer) for p in ax.patches[1:]]
    labels = [t for t in ax.texts if t.get_text().startswith("offset ")]
    assert len(labels) == len(bars) == 3
    for text, bar in zip(labels, bars):
        box = text.get_window_extent(renderer)
        inside = bar.x0 <= box.x0 and box.x1 <= bar.x1
        beside = box.x1 <= bar.x0 or box.x0 >= bar.x1
        assert inside or beside, text.get_text()
    assert not labels[0].get_window_extent(renderer).x1 > bars[0].x1  # the long ones fit inside
    plt.close(ax.figure)


def test_subnet_calculator_redraws_the_bits_when_the_prefix_moves():
    import ipywidgets as widgets

    calc = viz.subnet_calculator("192.168.1.10", 26)
    assert isinstance(calc.prefix, widgets.IntSlider) and isinstance(calc.address, widgets.Text)
    assert calc.summary() == ("network 192.168.1.0/26, broadcast 192.168.1.63, "
                              "hosts 192.168.1.1 to 192.168.1.62 (62)")
    first = calc.out.outputs[0]["data"]["image/png"]
    calc.prefix.value = 20
    assert calc.out.outputs[0]["data"]["image/png"] != first
    assert "network 192.168.0.0/20" in repr(calc) and "(4,094)" in repr(calc)
    fig = calc.figure()
    bits = [t.get_text() for t in fig.axes[0].texts if t.get_text() in ("0", "1")]
    assert len(bits) == 4 * 32  # address, mask, network and broadcast, bit by bit
    mask_row = "".join(bits[32:64])
    assert mask_row == "1" * 20 + "0" * 12
    calc.address.value = "10.1.300.4"
    (out,) = calc.out.outputs
    assert out["output_type"] == "stream" and "300" in out["text"]
    assert "not an address" in repr(calc)
    plt.close("all")
