"""The seam: components plug in where they run, layers work on doors, blocking waits stay outside events."""

from __future__ import annotations

from ipaddress import IPv4Interface

import pytest

from labkit.app.ping import ping
from labkit.app.traceroute import traceroute
from labkit.errors import LabkitValueError
from labkit.link import Bridge, EthernetFrame, MACAddress
from labkit.link.interface import NetworkInterface
from labkit.net.ipv4 import ICMP
from labkit.net.stack import IPForwarding, IPStack
from labkit.sim import Network, TopologyError
from labkit.sim.errors import ReentrantRunError
from labkit.sim.stacks import NodeClock, install_ip, install_switching, install_transport, socket
from labkit.transport import TCPConnection


def two_lans(**router) -> Network:
    net = Network(seed=3)
    net.add_host("A", ip="10.0.1.10/24", gateway="10.0.1.1")
    net.add_host("B", ip="10.0.2.20/24", gateway="10.0.2.1")
    net.add_router("R1", ["10.0.1.1/24", "10.0.2.1/24"], **router)
    net.connect("A", "R1")
    net.connect("R1", "B")
    return net


class Hub:
    """A switch logic of one's own: every frame out of every other port."""

    def __init__(self) -> None:
        self.ports: list[str] = []
        self.frames = 0

    def add_port(self, port: str) -> None:
        self.ports.append(port)

    def forward(self, in_port: str, frame: bytes, now_ns: int) -> list[str]:
        self.frames += 1
        return [p for p in self.ports if p != in_port]


def test_a_switch_logic_of_ones_own_runs_in_the_network():
    net = Network(seed=1)
    a = net.add_host("A", ip="10.0.0.1/24")
    b = net.add_host("B", ip="10.0.0.2/24")
    net.add_switch("S1", logic=Hub)  # a class: one instance per switch
    net.connect(a, "S1")
    net.connect(b, "S1")
    install_ip(net)
    bridge = net["S1"].stack
    assert isinstance(bridge, Bridge) and isinstance(bridge.switch, Hub)
    assert ping(a, "10.0.0.2", count=2, verbose=False).received == 2
    assert bridge.switch.ports == ["p1", "p2"]
    assert bridge.switch.frames == 6  # ARP request and reply, two echo requests and replies
    with pytest.raises(LabkitValueError, match="LearningSwitch"):
        bridge.table()  # a MAC table is labkit's learning switch's, not the hub's


def test_a_switch_given_logic_refuses_to_act_as_a_hub_before_switching_is_installed():
    net = Network()
    a, b = net.add_host("A"), net.add_host("B")
    net.add_switch("S1", logic=Hub())
    net.connect(a, "S1")
    net.connect(b, "S1")
    net.at(0, a.send, bytes(60))
    with pytest.raises(TopologyError, match="install_switching"):
        net.run()
    with pytest.raises(TopologyError, match="logic=3"):
        net.add_switch("S2", logic=3)


class CountingForwarding(IPForwarding):
    """labkit's forwarding, counting what it is asked to forward."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def forward(self, stack, packet, arrived_on, now):
        self.asked.append(arrived_on)
        super().forward(stack, packet, arrived_on, now)


class Blackhole:
    """A router's forwarding that forwards nothing."""

    def forward(self, stack, packet, arrived_on, now):
        stack.counters["no_route"] += 1


def test_a_routers_forwarding_of_ones_own_decides_what_crosses_it():
    counting = CountingForwarding()
    net = two_lans(forwarding=counting)
    install_ip(net)
    assert net["R1"].stack.forwarder is counting and net["R1"].stack.forwarding
    assert not net["A"].stack.forwarding
    assert ping(net["A"], "10.0.2.20", count=3, verbose=False).received == 3
    assert counting.asked == ["eth0", "eth1"] * 3  # each request in on eth0, its reply in on eth1
    trace = traceroute(net["A"], "10.0.2.20", verbose=False)
    assert [str(a) for a in trace.path] == ["10.0.1.1", "10.0.2.20"]

    dark = two_lans(forwarding=Blackhole())
    install_ip(dark)
    assert ping(dark["A"], "10.0.2.20", count=2, timeout=10**9, verbose=False).received == 0
    with pytest.raises(TopologyError, match="forwarding=7"):
        Network().add_router("R", forwarding=7)


def test_a_hosts_tcp_of_ones_own_makes_its_connections():
    made = []

    def tcp(*args, **kwargs):
        conn = TCPConnection(*args, **kwargs)
        made.append(conn)
        return conn

    net = Network(seed=2)
    net.add_host("A", ip="10.0.0.1/24", tcp=tcp)
    net.add_host("B", ip="10.0.0.2/24")
    net.connect("A", "B")
    install_transport(net)
    server = socket(net["B"])
    server.bind(("0.0.0.0", 7))
    server.listen()
    client = socket(net["A"])
    client.connect(("10.0.0.2", 7))
    conn, _ = server.accept()
    client.sendall(b"hello")
    assert conn.recv(5) == b"hello"
    assert made == [client._conn]  # A's connection came from A's factory; B's is labkit's
    assert net["A"].transport.tcp is tcp
    with pytest.raises(TopologyError, match="tcp=5"):
        Network().add_host("X", tcp=5)


def test_a_blocking_call_inside_an_event_says_to_use_the_event_api():
    net = Network(seed=4)
    net.add_host("A", ip="10.0.0.1/24")
    net.add_host("B", ip="10.0.0.2/24")
    net.connect("A", "B")
    install_transport(net)
    server = socket(net["B"])
    server.bind(("0.0.0.0", 9))
    server.listen()
    errors = []

    def connected(sock, peer):
        try:
            sock.recv(10)  # blocking, inside the event that delivered the connection
        except ReentrantRunError as exc:
            errors.append(exc)

    server.on_connection(connected)
    client = socket(net["A"])
    client.connect(("10.0.0.2", 9))
    client.sendall(b"x")
    net.run_for("1s")
    assert len(errors) == 1 and "on_data" in str(errors[0])


class FakeInterface:
    """An interface that is not the simulator's: frames go to a list."""

    def __init__(self, name: str, mac: bytes, ip: str) -> None:
        self.name, self.mac, self.ip = name, mac, IPv4Interface(ip)
        self.mtu, self.max_frame = 1500, 1514
        self.sent: list[bytes] = []

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0
        self.calls: list[tuple[int, object]] = []

    def now(self) -> int:
        return self.t

    def call_at(self, time, fn, *args):
        self.calls.append((time, fn))

        class Handle:
            pending = True

            def cancel(self) -> None:
                self.pending = False

        handle = Handle()
        handle.time = time
        return handle


def test_the_ip_layer_runs_on_any_interface_and_clock():
    eth0 = FakeInterface("eth0", bytes.fromhex("020000000001"), "10.0.0.1/24")
    assert isinstance(eth0, NetworkInterface)
    clock = FakeClock()
    stack = IPStack([eth0], clock, name="fake")
    stack.send("10.0.0.2", ICMP, b"\x08\x00\xf7\xff\x00\x00\x00\x00")
    arp = EthernetFrame.parse(eth0.sent[0], fcs=False)
    assert arp.dst == MACAddress("ff:ff:ff:ff:ff:ff") and arp.ethertype == 0x0806
    assert clock.calls and clock.calls[0][0] == 1_000_000_000  # the ARP retry, on the given clock


def test_install_switching_on_chosen_switches_and_node_clock():
    net = Network()
    s1, s2 = net.add_switch("S1"), net.add_switch("S2")
    net.connect(s1, s2)
    assert list(install_switching(net, "S1")) == ["S1"]
    assert s2.stack is None
    clock = NodeClock(s1)
    net.run(until="3ms")
    assert clock.now() == 3_000_000
    fired = []
    clock.call_at(clock.now() + 5, fired.append, 1)
    assert clock.run_until(lambda: bool(fired)) and net.now == 3_000_005
    assert not clock.run_until(lambda: False)  # nothing left to happen: False at once
    net.at("10ms", fired.append, 2)
    assert not clock.run_until(lambda: len(fired) == 2, deadline=4_000_000)
    assert net.now == 4_000_000


def test_names_notebooks_used_stay_importable_where_they_were():
    import labkit.link
    import labkit.net.stack as old_net
    import labkit.sim.stacks as stacks
    import labkit.transport.sockets as old_transport
    from labkit.app import ping as ping_module
    from labkit.app import traceroute as trace_module
    from labkit.transport import summary

    assert old_net.install_ip is stacks.install_ip
    assert old_net.ping is ping_module.ping and old_net.PingResult is ping_module.PingResult
    assert old_net.traceroute is trace_module.traceroute
    assert old_transport.install_transport is stacks.install_transport
    assert old_transport.socket is stacks.socket and old_transport.NodeClock is stacks.NodeClock
    assert old_transport.summarise is summary.summarise
    assert labkit.link.install_switching is stacks.install_switching
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        old_net.nothing  # noqa: B018


def test_the_layers_import_no_simulator_until_a_moved_name_is_used():
    import subprocess
    import sys

    code = (
        "import sys, labkit.link, labkit.net.stack, labkit.transport.sockets, labkit.app;"
        "print('labkit.sim' in sys.modules);"
        "from labkit.net.stack import install_ip;"
        "print('labkit.sim.stacks' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_ping_and_traceroute_times_are_nanoseconds_or_strings_with_a_unit():
    """A float time is refused at the call, naming the argument (it used to fail deep in
    an event, as "'float' object has no attribute 'to_bytes'")."""
    net = two_lans()
    install_ip(net)
    a = net["A"]
    with pytest.raises(LabkitValueError, match="interval=1e-06"):
        ping(a, "10.0.2.20", count=2, interval=0.000001, verbose=False)
    with pytest.raises(LabkitValueError, match="timeout=0"):
        ping(a, "10.0.2.20", count=1, timeout=0, verbose=False)
    with pytest.raises(LabkitValueError, match="wait=0.5"):
        traceroute(a, "10.0.2.20", wait=0.5, verbose=False)
    result = ping(a, "10.0.2.20", count=3, interval="200ms", verbose=False)
    assert result.received == 3
    assert result.lines[-1].startswith("rtt")
