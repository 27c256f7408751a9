"""The topology API: building, looking up, plugging handlers in, and its error messages."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from labkit.errors import LabkitError, LabkitValueError
from labkit.sim import (
    Host,
    Network,
    NotConnectedError,
    Router,
    Switch,
    TopologyError,
    UnknownNameError,
)


def frame(dst: bytes, src: bytes, payload: bytes = b"") -> bytes:
    return dst + src + b"\x88\xb5" + payload.ljust(46, b"\x00")


BROADCAST = b"\xff" * 6


@pytest.fixture
def lan():
    net = Network(seed=1)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.1.20/24", gateway="192.168.1.1")
    s1 = net.add_switch("S1")
    r1 = net.add_router("R1", interfaces=["192.168.1.1/24", "10.0.0.1/24"])
    net.connect(a, s1, delay="1ms", bandwidth="10Mbit")
    net.connect(b, s1)
    net.connect(r1, s1)
    return net


def test_reads_aloud(lan):
    a, s1, r1 = lan["A"], lan["S1"], lan["R1"]
    assert isinstance(a, Host) and isinstance(s1, Switch) and isinstance(r1, Router)
    assert a.ip == ipaddress.IPv4Interface("192.168.1.10/24")
    assert a.gateway == ipaddress.IPv4Address("192.168.1.1")
    assert [i.name for i in s1.interfaces] == ["p1", "p2", "p3"]
    assert [str(i.ip) for i in r1.interfaces] == ["192.168.1.1/24", "10.0.0.1/24"]
    assert r1["eth0"].peer is s1["p3"]
    assert lan["R1.eth1"].connected is False
    assert lan["A.eth0"] is a.iface
    assert [n.name for n in s1.neighbours] == ["A", "B", "R1"]
    assert "A" in lan and "Z" not in lan
    assert len(lan) == 4
    assert len(lan.links) == 3


def test_macs_are_unique_and_locally_administered(lan):
    macs = [i.mac for i in lan.interfaces]
    assert len(set(macs)) == len(macs)
    assert all(len(m) == 6 and m[0] & 0x02 and not m[0] & 0x01 for m in macs)


def test_host_sends_and_switch_floods(lan):
    a, b, r1 = lan["A"], lan["B"], lan["R1"]
    f = frame(BROADCAST, a.mac, b"hello")
    lan.at("1ms", a.send, f)
    lan.run(until="1s")
    assert [x.frame for x in b.inbox] == [f]
    assert [x.frame for x in r1.inbox] == [f]
    assert a.inbox == []  # a switch does not send a frame back where it came from
    # 60 bytes at 10 Mbit/s = 48 us, + 1 ms; then 4.8 us at 100 Mbit/s + 10 us
    assert b.inbox[0].time == 1_000_000 + 48_000 + 1_000_000 + 4_800 + 10_000
    assert b.inbox[0].iface is b.iface


def test_handler_plug_in_function_and_stack_object(lan):
    a, b, s1 = lan["A"], lan["B"], lan["S1"]
    got = []
    b.set_handler(lambda iface, f, now: got.append((iface.fullname, f[14:19], now)))

    class Stack:
        def __init__(self):
            self.frames = []

        def receive(self, iface, f, now):
            self.frames.append(f)

    stack = Stack()
    lan["R1"].set_handler(stack)
    assert lan["R1"].stack is stack
    # replace the switch's flooding with "send everything to port 2 only"
    s1.set_handler(lambda iface, f, now: s1["p2"].send(f))
    lan.at(0, a.send, frame(BROADCAST, a.mac, b"hello"))
    lan.run()
    assert got == [("B.eth0", b"hello", got[0][2])]
    assert stack.frames == []
    s1.set_handler(None)  # back to flooding
    lan.at(lan.now, a.send, frame(BROADCAST, a.mac, b"again"))
    lan.run()
    assert len(stack.frames) == 1 and len(got) == 2


def test_interface_receive_hook_overrides_node_handler(lan):
    a, b = lan["A"], lan["B"]
    seen = []
    b.iface.on_receive = lambda iface, f, now: seen.append(now)
    lan.at(0, a.send, frame(BROADCAST, a.mac))
    lan.run()
    assert len(seen) == 1 and b.inbox == []


def test_receive_hands_frame_to_handler_now(lan):
    b = lan["B"]
    b.iface.receive(b"\x01\x02")
    assert b.inbox[0].frame == b"\x01\x02" and b.inbox[0].time == 0


def test_call_later_timer(lan):
    a = lan["A"]
    fired = []
    t1 = a.call_later("5ms", fired.append, "t1")
    t2 = a.call_later(2_000_000, fired.append, "t2")
    t2.cancel()
    lan.run()
    assert fired == ["t1"] and lan.now == 5_000_000 and not t1.pending
    assert a.rng is lan.rng


def test_call_later_reads_times_as_network_after(lan):
    """An int is nanoseconds and a bare float is refused, as for Network.after and at."""
    a = lan["A"]
    fired = []
    a.call_later(3, fired.append, "3ns")
    lan.run()
    assert fired == ["3ns"] and lan.now == 3
    refused = r"delay=0\.002: a bare float is ambiguous.*'2 ms'.*2_000_000"
    with pytest.raises(LabkitValueError, match=refused):
        a.call_later(0.002, fired.append, "float")
    with pytest.raises(LabkitValueError, match="fn=5"):
        a.call_later("1ms", 5)


def test_connect_to_named_interface_and_add_interface():
    net = Network()
    r1 = net.add_router("R1", interfaces={"lan": "192.168.1.1/24", "wan": "10.0.0.1/30"})
    h = net.add_host("H", ip="10.0.0.2/30")
    net.connect("R1.wan", h)
    assert r1["wan"].peer is h.iface and not r1["lan"].connected
    extra = r1.add_interface(ip="172.16.0.1/16")
    assert extra.name == "eth2"
    link = net.connect(r1, net.add_switch("S"))
    assert link.a is r1["lan"]


# -- errors ----------------------------------------------------------------------------------


def test_unknown_name_suggests(lan):
    with pytest.raises(UnknownNameError) as info:
        lan["S2"]
    msg = str(info.value)
    assert "no node called 'S2'" in msg and "did you mean 'S1'" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, LabkitError)
    with pytest.raises(UnknownNameError, match="A has no interface 'eth9'"):
        lan["A.eth9"]


def test_duplicate_name(lan):
    with pytest.raises(TopologyError, match="there is already a host called 'A'"):
        lan.add_switch("A")
    with pytest.raises(TopologyError, match="name='my host'"):
        lan.add_host("my host")
    with pytest.raises(TopologyError, match="name='A.1'"):
        lan.add_host("A.1")


def test_duplicate_address(lan):
    with pytest.raises(TopologyError, match="192.168.1.10 is already used by A.eth0"):
        lan.add_host("C", ip="192.168.1.10/24")
    with pytest.raises(TopologyError, match="192.168.1.1 is already used by R1.eth0"):
        lan.add_host("C", ip="192.168.1.1/24")
    with pytest.raises(TopologyError, match="already used by A.eth0"):
        lan.add_host("C", mac=lan["A"].mac)
    assert "C" not in lan  # a failed add leaves nothing behind


def test_router_with_repeated_address_builds_nothing():
    net = Network()
    with pytest.raises(TopologyError, match="appears twice"):
        net.add_router("R", interfaces=["10.0.0.1/24", "10.0.0.1/24"])
    assert "R" not in net and net.interfaces == []


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"ip": "192.168.1.300/24"}, "ip='192.168.1.300/24': not an IPv4 address"),
        ({"ip": "192.168.1.10"}, "give the prefix length too"),
        ({"ip": "192.168.1.0/24"}, "is the network address of 192.168.1.0/24"),
        ({"ip": "192.168.1.255/24"}, "is the broadcast address"),
        ({"ip": 42}, "ip=42: expected a string"),
        ({"ip": "10.0.0.5/8", "gateway": "192.168.1.1"}, "is not in C's subnet 10.0.0.0/8"),
        ({"ip": "10.0.0.5/8", "gateway": "10.0.0.5"}, "that is C's own address"),
        ({"ip": "10.0.0.5/8", "gateway": "10.0.0.500"}, "gateway='10.0.0.500'"),
        ({"gateway": "10.0.0.1"}, "needs its own ip"),
        ({"mac": "02:00:00:00:00"}, "mac='02:00:00:00:00'"),
    ],
)
def test_address_errors(kwargs, fragment):
    net = Network()
    with pytest.raises(TopologyError) as info:
        net.add_host("C", **kwargs)
    assert fragment in str(info.value)
    assert isinstance(info.value, LabkitValueError)


def test_mac_given_as_string():
    net = Network()
    h = net.add_host("H", mac="02-00-00-00-00-AA")
    assert h.mac == bytes.fromhex("0200000000aa")
    assert net.add_host("G").mac != h.mac


def test_unconnected_interface():
    net = Network()
    a = net.add_host("A")
    with pytest.raises(NotConnectedError, match="A.eth0 is not connected to anything"):
        a.interfaces[0].send(b"x")
    with pytest.raises(NotConnectedError, match="A has no connected interface"):
        a.send(b"x")
    net.add_router("R", interfaces=["10.0.0.1/24", "10.0.1.1/24"])
    net.connect("R", net.add_switch("S"))
    with pytest.raises(NotConnectedError, match="R.eth1 is not connected"):
        net["R.eth1"].send(b"x")


def test_connect_errors():
    net = Network()
    a = net.add_host("A")
    b = net.add_host("B")
    net.connect(a, b)
    with pytest.raises(TopologyError, match="every interface of A .eth0. is already connected"):
        net.connect(a, net.add_host("C"))
    with pytest.raises(TopologyError, match="A.eth0: already connected to B.eth0"):
        net.connect("A.eth0", "C")
    s = net.add_switch("S")
    with pytest.raises(TopologyError, match="cannot connect S to itself"):
        net.connect(s, s)
    with pytest.raises(TopologyError, match="expected a node, an interface or a name"):
        net.connect(s, 42)
    with pytest.raises(UnknownNameError, match="no node called 'Q'"):
        net.connect(s, "Q")
    other = Network().add_host("X")
    with pytest.raises(TopologyError, match="in another network"):
        net.connect(s, other)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"delay": "1 hour"}, "delay='1 hour'"),
        ({"delay": "10"}, "add a unit"),
        ({"bandwidth": "10MB/s"}, "bandwidth='10MB/s'"),
        ({"bandwidth": 0}, "bandwidth=0"),
        ({"mtu": 0}, "mtu=0"),
        ({"mtu": 1.5}, "mtu=1.5"),
        ({"queue": -1}, "queue=-1"),
        ({"loss": 1.5}, "loss=1.5: a rate is a probability"),
        ({"corrupt": -0.1}, "corrupt=-0.1"),
        ({"duplicate": "often"}, "duplicate='often'"),
        ({"jitter": "lots"}, "jitter='lots'"),
    ],
)
def test_link_parameter_errors(kwargs, fragment):
    net = Network()
    a, b = net.add_host("A"), net.add_host("B")
    with pytest.raises(LabkitValueError) as info:
        net.connect(a, b, **kwargs)
    assert fragment in str(info.value)
    assert not a.interfaces[0].connected  # nothing half-connected


def test_send_errors():
    net = Network()
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b, mtu=100)
    with pytest.raises(LabkitValueError, match="a frame is bytes, got str"):
        a.send("hello")
    with pytest.raises(LabkitValueError, match="115 bytes .* too long for the link's MTU"):
        a.send(bytes(115))
    a.send(bytes(114))  # 100 + 14 fits
    a.send(bytearray(20))  # accepted, sent as bytes
    net.run()
    assert [type(r.frame) for r in b.inbox] == [bytes, bytes]


def test_run_and_schedule_errors():
    net = Network()
    net.run(until="1s")
    with pytest.raises(LabkitValueError, match="until='0.5s': that is before now"):
        net.run(until="0.5s")
    with pytest.raises(LabkitValueError, match="until='soon'"):
        net.run(until="soon")
    with pytest.raises(LabkitValueError, match="in the past"):
        net.at("0.5s", print)
    with pytest.raises(LabkitValueError, match="expected something to call"):
        net.after("1ms", "not callable")
    with pytest.raises(LabkitValueError, match="seed='abc'"):
        Network(seed="abc")
    net.run_for("250ms")
    assert net.now == 1_250_000_000


def test_an_events_time_is_a_string_with_a_unit_or_int_nanoseconds_never_a_bare_float():
    net = Network()
    fired = []
    net.at("1ms", fired.append, "1ms")
    net.at(2_000_000, fired.append, "2 ms as int ns")
    net.at(np.int64(3_000_000), fired.append, "3 ms as numpy int ns")
    net.run(until="1s")
    assert fired == ["1ms", "2 ms as int ns", "3 ms as numpy int ns"]
    net.at(net.now + 5, fired.append, "now + 5 ns")  # the clock's own unit, as protocol code writes it
    net.after(7, fired.append, "7 ns later")
    net.run()
    assert fired[3:] == ["now + 5 ns", "7 ns later"] and net.now == 1_000_000_007
    for bad in (0.5, 2.0, np.float64(0.25)):
        with pytest.raises(LabkitValueError, match=r"bare float is ambiguous.* as an int"):
            net.at(bad, print)
        with pytest.raises(LabkitValueError, match=r"delay=.*bare float is ambiguous"):
            net.after(bad, print)
    with pytest.raises(LabkitValueError, match="'500 ms', or whole nanoseconds as an int \\(500_000_000 if"):
        net.at(0.5, print)
    for bad in (-1, True, None, float("nan"), "5"):
        with pytest.raises(LabkitValueError, match="time="):
            net.at(bad, print)


def test_handler_must_be_callable(lan):
    with pytest.raises(LabkitValueError, match="handler=42"):
        lan["A"].set_handler(42)


def test_iface_with_several_connected_interfaces_asks_which():
    net = Network()
    r = net.add_router("R", interfaces=["10.0.0.1/24", "10.0.1.1/24"])
    net.connect(r, net.add_host("A"))
    net.connect(r, net.add_host("B"))
    with pytest.raises(TopologyError, match="R has 2 connected interfaces"):
        _ = r.iface


def test_link_between_and_impair_direction(lan):
    link = lan.link_between("A", "S1")
    assert link.channel_from("A").dst is lan["S1.p1"]
    with pytest.raises(TopologyError, match="not directly connected"):
        lan.link_between("A", "B")
    with pytest.raises(TopologyError, match="name one of them"):
        link.channel_from("B")
    with pytest.raises(TopologyError, match="expected an Impairment"):
        lan.impair("A", "S1", "loss")


def test_reprs_are_readable(lan):
    assert repr(lan) == "<Network seed=1 now=0 s: 2 hosts, 1 switch, 1 router, 3 links>"
    assert repr(lan["A.eth0"]) == ("<Interface A.eth0 02:00:00:00:00:01 192.168.1.10/24 -> S1.p1>")
    assert repr(lan.links[0]) == "<Link A.eth0 <-> S1.p1: 10 Mbit/s, delay 1 ms, MTU 1500>"


def test_after_ns_for_layers(lan):
    a = lan["A"]
    fired = []
    a.after_ns(1_500, lambda: fired.append(lan.now))
    lan.run()
    assert fired == [1_500]
    with pytest.raises(LabkitValueError, match="delay_ns=0.5"):
        a.after_ns(0.5, print)
