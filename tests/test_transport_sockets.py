"""The socket API over the transport layer, on a small stand-in for the simulator.

The stand-in is the least an IP layer and a clock must do (the protocols in
labkit.transport.sockets): deliver payloads between two addresses after a
delay, run timers, and run until a condition holds.
"""

from __future__ import annotations

import heapq
from ipaddress import IPv4Address

import numpy as np
import pytest

from labkit import LabkitError
from labkit.net.icmp import ICMPMessage, Unreachable
from labkit.net.ipv4 import ICMP, IPv4Packet
from labkit.transport.sockets import SOCK_DGRAM, SOCK_STREAM, AddressInUse, SocketTimeout, Transport
from labkit.transport.tcp_connection import State

MS = 1_000_000


class Net:
    def __init__(self, delay: int = 5 * MS, seed: int = 1) -> None:
        self.delay, self.t, self.events, self.n = delay, 0, [], 0
        self.rng = np.random.default_rng(seed)
        self.hosts: dict[IPv4Address, Host] = {}
        self.drop_next = 0

    def now(self) -> int:
        return self.t

    def call_at(self, when: int, fn):
        entry = [when, self.n, fn]
        self.n += 1
        heapq.heappush(self.events, entry)
        return _Handle(entry)

    def run_until(self, predicate, deadline: int) -> bool:
        while not predicate():
            while self.events and self.events[0][2] is None:
                heapq.heappop(self.events)
            if not self.events or self.events[0][0] > deadline:
                self.t = max(self.t, deadline) if self.events else self.t
                return predicate()
            when, _, fn = heapq.heappop(self.events)
            self.t = max(self.t, when)
            fn()
        return True

    def host(self, address: str) -> Transport:
        h = Host(self, IPv4Address(address))
        self.hosts[h.address] = h
        return Transport(h, self, self.rng, name=address)


class _Handle:
    def __init__(self, entry) -> None:
        self.entry = entry

    def cancel(self) -> None:
        self.entry[2] = None


class Host:
    def __init__(self, net: Net, address: IPv4Address) -> None:
        self.net, self.address, self.handlers = net, address, {}
        self.addresses = [address]
        self.icmp: list[IPv4Packet] = []
        self.handlers[ICMP] = lambda packet, now: self.icmp.append(packet)

    def register(self, protocol: int, handler) -> None:
        self.handlers[protocol] = handler

    def send(self, dst: IPv4Address, protocol: int, payload: bytes) -> None:
        if self.net.drop_next:
            self.net.drop_next -= 1
            return
        peer = self.net.hosts[dst]
        packet = IPv4Packet(src=self.address, dst=dst, protocol=protocol, payload=payload)
        self.net.call_at(self.net.t + self.net.delay,
                         lambda: peer.handlers[protocol](packet, self.net.t))


@pytest.fixture
def hosts():
    net = Net()
    return net, net.host("10.0.0.1"), net.host("10.0.0.2")


def test_tcp_echo_reads_like_real_sockets(hosts):
    net, a, b = hosts
    server = b.socket(type=SOCK_STREAM)
    server.bind(("0.0.0.0", 80))
    server.listen()
    client = a.socket(type=SOCK_STREAM)
    client.connect(("10.0.0.2", 80))
    assert net.t == 10 * MS  # SYN there, SYN-ACK back: one round trip
    conn, peer = server.accept()
    assert peer == client.getsockname() and peer[1] >= 49152  # an ephemeral port
    client.sendall(b"hello ")
    client.sendall(b"world")
    # A byte stream: once both segments have arrived, one recv returns both sends together.
    net.run_until(lambda: False, net.t + 20 * MS)
    assert conn.recv(1024) == b"hello world"
    conn.sendall(b"HELLO WORLD")
    assert client.recv(5) == b"HELLO" and client.recv(100) == b" WORLD"
    client.close()
    assert conn.recv(100) == b""  # end of stream
    conn.close()
    net.run_until(lambda: False, net.t + 200_000 * MS)
    assert [c.state for c in a.history] == [State.CLOSED]  # TIME-WAIT over after 2 MSL
    assert not a.connections and not b.connections


def test_connection_refused_and_reset_are_builtin_errors_too(hosts):
    net, a, b = hosts
    client = a.socket()
    with pytest.raises(ConnectionRefusedError, match="port 81"):
        client.connect(("10.0.0.2", 81))
    assert isinstance(client._conn.error, LabkitError)


def test_timeouts_are_virtual(hosts):
    net, a, b = hosts
    server = b.socket()
    server.bind(("", 80))
    server.listen()
    server.settimeout(2.5)
    start = net.t
    with pytest.raises(TimeoutError, match="accept: timed out after 2.5 s"):
        server.accept()
    assert net.t - start <= 2_500 * MS
    udp = a.socket(type=SOCK_DGRAM)
    udp.bind(("", 5000))
    udp.settimeout(1)
    with pytest.raises(SocketTimeout):
        udp.recvfrom(100)


def test_bind_errors(hosts):
    net, a, b = hosts
    s1 = a.socket()
    s1.bind(("", 8080))
    s2 = a.socket()
    with pytest.raises(AddressInUse) as info:
        s2.bind(("", 8080))
    assert isinstance(info.value, OSError) and "8080" in str(info.value)
    with pytest.raises(OSError, match="not an address of this host"):
        a.socket().bind(("10.9.9.9", 1))
    with pytest.raises(LabkitError, match="port=70000"):
        a.socket().bind(("", 70000))


def test_udp_datagrams_keep_boundaries_and_empty_ones_arrive(hosts):
    net, a, b = hosts
    server = b.socket(type=SOCK_DGRAM)
    server.bind(("", 53))
    client = a.socket(type=SOCK_DGRAM)
    client.sendto(b"one", ("10.0.0.2", 53))
    client.sendto(b"", ("10.0.0.2", 53))
    client.sendto(b"three", ("10.0.0.2", 53))
    got = [server.recvfrom(100)[0] for _ in range(3)]
    assert got == [b"one", b"", b"three"]  # one sendto is one recvfrom, even an empty one
    assert not server._datagrams  # three sent, three received, nothing left over
    client.sendto(b"x", ("10.0.0.2", 54))  # nobody there
    net.run_until(lambda: False, net.t + 20 * MS)
    (report,) = a.ip.icmp  # ICMP port unreachable, quoting the datagram's IP header
    message = ICMPMessage.parse(report.payload)
    assert message.code == Unreachable.PORT and message.original.dst == IPv4Address("10.0.0.2")


def test_lost_syn_is_retransmitted_by_connect(hosts):
    net, a, b = hosts
    server = b.socket()
    server.bind(("", 80))
    server.listen()
    net.drop_next = 1  # the first SYN is lost
    client = a.socket()
    client.connect(("10.0.0.2", 80))
    assert net.t == 1000 * MS + 10 * MS  # initial RTO of 1 s, then one round trip
    assert client._conn.retransmissions == 1
