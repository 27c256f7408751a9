"""The learning switch inside labkit.sim: broadcast domains, learning, ageing, filtering."""

from __future__ import annotations

import pytest

from labkit.app.ping import ping
from labkit.errors import LabkitValueError
from labkit.link import BROADCAST, Bridge, EthernetFrame, MACAddress
from labkit.sim import Network
from labkit.sim.stacks import install_ip, install_switching

MS = 1_000_000
S = 1_000_000_000


def frame(dst, src, payload=b"hello") -> bytes:
    """An Ethernet frame between two nodes' MACs (bytes), or to the broadcast address."""
    d = BROADCAST if dst is BROADCAST else MACAddress(dst.mac)
    return EthernetFrame(d, MACAddress(src.mac), 0x88B5, payload).pack(fcs=False)


def lan(n=3, seed=1, **options):
    """Hosts H0..H(n-1) on switch S1 (raw frames, no IP), S1 learning."""
    net = Network(seed=seed)
    s1 = net.add_switch("S1")
    hosts = [net.add_host(f"H{i}") for i in range(n)]
    for h in hosts:
        net.connect(h, s1, delay="1us")
    bridges = install_switching(net, **options)
    return net, hosts, bridges["S1"]


def inbox(host):
    return [r.frame for r in host.inbox]


def test_install_switching_plugs_a_bridge_into_every_switch():
    net, hosts, bridge = lan()
    assert net["S1"].stack is bridge and isinstance(bridge, Bridge)
    assert bridge.switch.ports == ("p1", "p2", "p3")
    assert install_switching(net) == {"S1": bridge}  # a second call keeps the same bridge
    custom = net.add_switch("S2")
    custom.set_handler(lambda iface, f, now: None)
    assert "S2" not in install_switching(net)  # someone else's handler is left alone


def test_second_frame_to_a_host_is_not_flooded():
    net, (a, b, c), bridge = lan()
    net.at("1ms", a.send, frame(b, a, b"1"))
    net.at("2ms", b.send, frame(a, b, b"2"))
    net.at("3ms", a.send, frame(b, a, b"3"))
    net.run(until="10ms")
    # the first frame for B was flooded (C got a copy too); B's answer and the second
    # frame went out of one port each
    assert [EthernetFrame.parse(f, fcs=False).payload[:1] for f in inbox(c)] == [b"1"]
    assert [EthernetFrame.parse(f, fcs=False).payload[:1] for f in inbox(b)] == [b"1", b"3"]
    assert [EthernetFrame.parse(f, fcs=False).payload[:1] for f in inbox(a)] == [b"2"]
    assert bridge.counters == {"forward": 2, "flood": 1, "filter": 0, "drop": 0}
    table = {(e.mac.packed, e.port) for e in bridge.table()}
    assert table == {(a.mac, "p1"), (b.mac, "p2")}
    assert bridge.lookup(a.mac) == "p1" and bridge.lookup(c.mac) is None


def test_broadcast_reaches_every_host_on_the_switch():
    net, hosts, bridge = lan(n=5)
    net.at("1ms", hosts[2].send, frame(BROADCAST, hosts[2]))
    net.run(until="5ms")
    assert [len(h.inbox) for h in hosts] == [1, 1, 0, 1, 1]
    assert bridge.counters["flood"] == 1


def test_arp_broadcast_stays_in_its_broadcast_domain():
    """A, B, C on S1 with R1; D, E on S2 behind R1: A's ARP request reaches B, C, R1, not D, E."""
    net = Network(seed=3)
    s1, s2 = net.add_switch("S1"), net.add_switch("S2")
    r1 = net.add_router("R1", ["10.0.1.1/24", "10.0.2.1/24"])
    for name, ip in (("A", "10.0.1.10"), ("B", "10.0.1.20"), ("C", "10.0.1.30")):
        net.connect(net.add_host(name, ip=f"{ip}/24", gateway="10.0.1.1"), s1)
    for name, ip in (("D", "10.0.2.40"), ("E", "10.0.2.50")):
        net.connect(net.add_host(name, ip=f"{ip}/24", gateway="10.0.2.1"), s2)
    net.connect(r1["eth0"], s1)
    net.connect(r1["eth1"], s2)
    install_ip(net)
    assert isinstance(s1.stack, Bridge) and isinstance(s2.stack, Bridge)  # install_ip did it
    cap = net.capture()
    result = ping(net["A"], "10.0.1.20", count=1, verbose=False)
    assert result.received == 1
    got_request = {r.node for r in cap.trace
                   if r.direction == "in" and "who-has 10.0.1.20" in r.summary}
    assert got_request == {"S1", "B", "C", "R1"}
    # the reply and the echo exchange are unicast: C and R1 see nothing more of them
    later = {r.node for r in cap.trace if r.direction == "in" and "ICMP" in r.summary}
    assert later == {"S1", "A", "B"}
    # across the router it is another broadcast domain: D's ARP request is for S2 only
    cap2 = net.capture()
    ping(net["D"], "10.0.2.50", count=1, verbose=False)
    heard = {r.node for r in cap2.trace if r.direction == "in" and "who-has" in r.summary}
    assert heard == {"S2", "E", "R1"}


def test_entries_age_out_on_the_virtual_clock():
    net, (a, b, c), bridge = lan(ageing_time_ns=2 * S)
    net.at(0, a.send, frame(b, a))
    net.at("1ms", b.send, frame(a, b))  # A is known: forwarded to p1 only
    net.at("1.5s", b.send, frame(c, b))  # refreshes B; C unknown: flooded
    net.at("2.5s", c.send, frame(a, c))  # A heard last at 0 s: aged out, flooded again
    net.run(until="3s")
    assert [str(e) for e in bridge.history] == []  # recording is off by default
    assert bridge.counters == {"forward": 1, "flood": 3, "filter": 0, "drop": 0}
    assert len(inbox(b)) == 2 and len(inbox(c)) == 2  # B got C's flooded frame at 2.5 s
    ports = {e.mac.packed: e.port for e in bridge.table()}
    assert ports == {b.mac: "p2", c.mac: "p3"}  # A is forgotten (not refreshed since 0 s)
    net.run(until="4s")
    assert [e.mac.packed for e in bridge.table()] == [c.mac]  # B last heard at 1.5 s
    net.run(until="4.6s")
    assert bridge.table() == []


def test_filtering_when_source_and_destination_are_on_one_port():
    """A and B share a hub on S1's port p1: S1 filters their frames to each other."""
    net = Network(seed=2)
    hub, s1 = net.add_switch("HUB"), net.add_switch("S1")
    a, b, c = (net.add_host(n) for n in "ABC")
    net.connect(a, hub)
    net.connect(b, hub)
    net.connect(hub, s1)
    net.connect(c, s1)
    bridge = install_switching(net, "S1")["S1"]  # only S1 learns; HUB stays a hub
    net.at("1ms", a.send, frame(b, a))  # S1 learns A on p1; B unknown: flooded to C
    net.at("2ms", b.send, frame(a, b))  # A on p1, where the frame came from: filtered
    net.at("3ms", a.send, frame(b, a))  # B on p1 now too: filtered
    net.run(until="10ms")
    assert bridge.counters == {"forward": 0, "flood": 1, "filter": 2, "drop": 0}
    assert len(inbox(c)) == 1
    assert len(inbox(a)) == 1 and len(inbox(b)) == 2  # the hub still delivered them


def test_ports_connected_after_installing_are_learned():
    net, (a, b, c), bridge = lan()
    d = net.add_host("D")
    net.connect(d, net["S1"])
    net.at("1ms", d.send, frame(a, d))
    net.at("2ms", a.send, frame(d, a))
    net.run(until="5ms")
    assert bridge.switch.ports == ("p1", "p2", "p3", "p4")
    assert bridge.lookup(d.mac) == "p4" and len(inbox(d)) == 1 and len(inbox(b)) == 1


def test_history_and_printed_table():
    printed = []
    net, (a, b, c), bridge = lan(record=True, on_event=lambda e: printed.append(str(e)))
    net.at("1ms", a.send, frame(b, a))
    net.at("2ms", b.send, frame(a, b))
    net.run(until="3ms")
    assert [e.decision.action for e in bridge.history] == ["flood", "forward"]
    assert [len(e.table) for e in bridge.history] == [1, 2]
    # it arrived after the 1 us cable and 60 bytes at 100 Mbit/s (4.8 us)
    assert bridge.history[0].in_port == "p1" and bridge.history[0].time_ns == 1 * MS + 5800
    assert printed == [str(e) for e in bridge.history]
    assert printed[1].startswith("0.002006 s  in p2: forward")
    text = str(bridge).splitlines()
    assert text[0] == "S1 MAC table"
    assert text[2].split() == ["02:00:00:00:00:01", "p1", "0.0"]
    assert "<table" in bridge._repr_html_()


def test_runts_are_dropped_not_forwarded():
    net, (a, b, c), bridge = lan()
    net.at("1ms", a.send, b"\x01\x02\x03")
    net.run(until="2ms")
    assert bridge.counters["drop"] == 1 and not inbox(b) and not inbox(c)


def test_same_seed_same_run():
    def run():
        net, hosts, _ = lan(n=4, seed=9)
        cap = net.capture()
        rng = net.rng
        for k in range(30):
            src, dst = rng.choice(4, 2, replace=False)
            net.at(k * 10_000_000, hosts[src].send, frame(hosts[dst], hosts[src], bytes([k])))
        net.run(until="1s")
        return [(r.time, r.node, r.interface, r.direction, r.frame) for r in cap.trace]

    first = run()
    assert first == run() and len(first) > 60


def test_bad_arguments():
    net = Network()
    s1 = net.add_switch("S1")
    with pytest.raises(LabkitValueError, match="ageing_time_ns"):
        Bridge(s1.interfaces, ageing_time_ns=0)
    with pytest.raises(LabkitValueError, match="the switch's interfaces"):
        Bridge(s1)  # the node itself: a layer is given its interfaces, never the node
    with pytest.raises(LabkitValueError, match="the switch's interfaces"):
        Bridge([object()])
    with pytest.raises(LabkitValueError, match="on_event"):
        Bridge(s1.interfaces, on_event=3)
    with pytest.raises(LabkitValueError, match="forward"):
        Bridge(s1.interfaces, logic=object())
    with pytest.raises(LabkitValueError, match="not a switch"):
        install_switching(net, net.add_host("A"))


def test_history_becomes_drawable_steps():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labkit.viz.link import plot_switch_steps, steps_from_history

    net, (a, b, c), bridge = lan(record=True)
    net.at(0, a.send, frame(BROADCAST, a))
    net.at("1s", b.send, frame(a, b))
    net.run(until="2s")
    names = {MACAddress(h.mac): h.name for h in (a, b, c)}
    steps = steps_from_history(bridge.history, names)
    assert [(s.src_name, s.dst_name, s.in_port) for s in steps] == [
        ("H0", "everyone", "p1"), ("H1", "H0", "p2")]
    assert steps[1].decision.out_ports == ("p1",) and len(steps[1].table) == 2
    fig = plot_switch_steps(steps, {"p1": "H0", "p2": "H1", "p3": "H2"}, names, columns=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0].startswith("t=0.006 ms: H0 -> everyone") and "flood" in titles[0]
    assert titles[1].startswith("t=1.000006 s: H1 -> H0")
    plt.close(fig)
