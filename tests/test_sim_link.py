"""Links: serialisation, propagation, drop-tail queues, full duplex, counters."""

from __future__ import annotations

import pytest

from labkit.sim import Network


def pair(**link):
    net = Network(seed=1)
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b, **link)
    return net, a, b


def test_serialisation_plus_propagation():
    net, a, b = pair(delay="2ms", bandwidth="1Mbit")
    a.send(bytes(125))  # 1000 bits at 1 Mbit/s = 1 ms
    net.run()
    assert b.inbox[0].time == 1_000_000 + 2_000_000


def test_serialisation_rounds_up_to_whole_nanoseconds():
    net, a, b = pair(delay=0, bandwidth=3)  # 3 bit/s: one byte takes 8/3 s
    a.send(b"x")
    net.run()
    assert b.inbox[0].time == 2_666_666_667


def test_back_to_back_frames_queue_behind_each_other():
    net, a, b = pair(delay="1ms", bandwidth="8Mbit")  # 1 byte per us
    for _ in range(5):
        a.send(bytes(100))  # 100 us each
    net.run()
    assert [r.time for r in b.inbox] == [1_000_000 + 100_000 * k for k in range(1, 6)]


def test_infinite_bandwidth_and_zero_delay():
    net, a, b = pair(delay=0, bandwidth=None)
    net.at("3ms", a.send, bytes(1000))
    net.run()
    assert b.inbox[0].time == 3_000_000


def test_drop_tail_queue():
    net, a, b = pair(delay=0, bandwidth="8Mbit", queue=3)
    frames = [bytes([k]) * 100 for k in range(10)]
    for f in frames:
        a.send(f)
    ch = net.links[0].channel_from(a)
    assert ch.queued == 3
    net.run()
    # one on the transmitter, three waiting; the other six fall off the tail
    assert [r.frame for r in b.inbox] == frames[:4]
    assert (ch.sent, ch.delivered, ch.dropped_queue) == (4, 4, 6)
    assert ch.queued == 0


def test_queue_drains_and_accepts_again():
    net, a, b = pair(delay=0, bandwidth="8Mbit", queue=1)
    a.send(bytes(100))
    a.send(bytes(100))
    a.send(bytes(100))  # dropped: transmitter busy, queue full
    net.at("150us", a.send, bytes(100))  # first done at 100 us; second being sent: fits
    net.run()
    assert [r.time for r in b.inbox] == [100_000, 200_000, 300_000]


def test_zero_queue_sends_only_when_idle():
    net, a, b = pair(delay=0, bandwidth="8Mbit", queue=0)
    a.send(bytes(10))
    a.send(bytes(10))
    net.at("10us", a.send, bytes(10))  # exactly when the transmitter frees up
    net.run()
    assert [r.time for r in b.inbox] == [10_000, 20_000]


def test_full_duplex_directions_are_independent():
    net, a, b = pair(delay="1ms", bandwidth="8Mbit")
    a.send(bytes(1000))
    b.send(bytes(1000))
    net.run()
    assert a.inbox[0].time == b.inbox[0].time == 2_000_000


def test_switch_stores_and_forwards():
    net = Network()
    a, b, s = net.add_host("A"), net.add_host("B"), net.add_switch("S")
    net.connect(a, s, delay="1us", bandwidth="8Mbit")
    net.connect(s, b, delay="1us", bandwidth="80Mbit")
    a.send(bytes(100))
    net.run()
    # 100 us in, 1 us on the wire, 10 us out again, 1 us: store and forward
    assert b.inbox[0].time == 100_000 + 1_000 + 10_000 + 1_000


@pytest.mark.parametrize("n", [1, 7])
def test_frames_keep_their_order(n):
    net, a, b = pair(delay="5ms", bandwidth="100Mbit")
    frames = [bytes([k]) * (60 + 40 * k) for k in range(n)]
    for f in frames:
        a.send(f)
    net.run()
    assert [r.frame for r in b.inbox] == frames


def test_default_switch_does_not_flood_frames_too_big_for_a_port():
    net = Network()
    a, b, c, s = net.add_host("A"), net.add_host("B"), net.add_host("C"), net.add_switch("S")
    net.connect(a, s, mtu=9000)  # a jumbo-frame link
    net.connect(s, b, mtu=9000)
    net.connect(s, c)  # the usual 1500
    a.send(bytes(3000))
    net.run()
    assert len(b.inbox) == 1 and c.inbox == [] and s.giants == 1
