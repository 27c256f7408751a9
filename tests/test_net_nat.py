"""NAT (labkit.net.nat): NAPT after RFC 3022 with RFC 4787's behaviours, on a simulated home network.

PC1, PC2 and a server S sit behind the NAT router on 192.168.1.0/24; the ISP's router R
joins the NAT's public side (203.0.113.0/24) to the "Internet" (198.51.100.0/24), where W
and X are. R has no route to 192.168.1.0/24, as no Internet router has.
"""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.app.ping import ping
from labkit.app.traceroute import traceroute
from labkit.errors import LabkitError, LabkitValueError
from labkit.net.icmp import ICMPMessage
from labkit.net.ipv4 import ICMP, IPv4Packet
from labkit.net.nat import NAPT, TCP, UDP, translate_ports
from labkit.sim import Network
from labkit.sim.routing import install_nat
from labkit.sim.stacks import install_transport, socket
from labkit.transport.sockets import SOCK_DGRAM, SOCK_STREAM
from labkit.transport.udp import UDPDatagram

PUBLIC = IPv4Address("203.0.113.2")


def home(**nat) -> Network:
    net = Network(seed=1)
    for name, ip in (("PC1", "192.168.1.10/24"), ("PC2", "192.168.1.11/24"), ("S", "192.168.1.20/24")):
        net.add_host(name, ip, gateway="192.168.1.1")
    net.add_switch("SW")
    net.add_router("NAT", {"eth0": "192.168.1.1/24", "eth1": "203.0.113.2/24"},
                   forwarding=NAPT(inside="eth0", outside="eth1", **nat))
    net.add_router("R", ["203.0.113.1/24", "198.51.100.1/24"])
    net.add_switch("NET")
    net.add_host("W", "198.51.100.80/24", gateway="198.51.100.1")
    net.add_host("X", "198.51.100.99/24", gateway="198.51.100.1")
    for h in ("PC1", "PC2", "S"):
        net.connect(h, "SW")
    net.connect("SW", "NAT.eth0")
    net.connect("NAT.eth1", "R.eth0")
    net.connect("R.eth1", "NET")
    net.connect("W", "NET")
    net.connect("X", "NET")
    install_transport(net)
    install_nat(net)
    net["NAT"].stack.routes.add_default("203.0.113.1")
    return net


def udp_server(net, host, port, log):
    s = socket(net[host], SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    s.on_datagram(lambda data, peer: (log.append((data, peer)), s.sendto(b"re:" + data, peer)))
    return s


def test_outbound_udp_leaves_from_the_public_address_and_the_reply_comes_back():
    net = home()
    seen = []
    udp_server(net, "W", 5000, seen)
    cap = net.capture("W")
    c = socket(net["PC1"], SOCK_DGRAM)
    c.bind(("0.0.0.0", 40000))
    c.sendto(b"hi", ("198.51.100.80", 5000))
    data, peer = c.recvfrom(100)
    assert (data, peer) == (b"re:hi", ("198.51.100.80", 5000))
    assert seen == [(b"hi", ("203.0.113.2", 40000))]  # W sees the NAT, the port preserved
    nat = net["NAT"].forwarding
    assert nat.table() == [("udp", "192.168.1.10:40000", "203.0.113.2:40000", "300 s")]
    # the rewritten datagram's checksum is right (W's UDP checked it; so does this)
    checked = 0
    for rec in cap.trace:
        if rec.frame[12:14] != b"\x08\x00":
            continue  # ARP
        ip = IPv4Packet.parse(rec.frame[14:])
        if ip.protocol == UDP:
            UDPDatagram.parse(ip.payload, ip.src, ip.dst)
            checked += 1
    assert checked >= 2


def test_mapping_is_endpoint_independent_and_a_taken_port_gets_another():
    net = home()
    seen = []
    udp_server(net, "W", 5000, seen)
    udp_server(net, "X", 6000, seen)
    a = socket(net["PC1"], SOCK_DGRAM)
    a.bind(("0.0.0.0", 40000))
    b = socket(net["PC2"], SOCK_DGRAM)
    b.bind(("0.0.0.0", 40000))
    a.sendto(b"1", ("198.51.100.80", 5000))
    a.recvfrom(10)
    a.sendto(b"2", ("198.51.100.99", 6000))
    a.recvfrom(10)
    b.sendto(b"3", ("198.51.100.80", 5000))
    assert b.recvfrom(10)[0] == b"re:3"
    ports = [peer for _, peer in seen]
    assert ports[0] == ports[1] == ("203.0.113.2", 40000)  # same mapping to two remotes
    assert ports[2][0] == "203.0.113.2" and ports[2][1] != 40000  # PC2 needs another port


def test_ping_identifiers_are_mapped_too():
    net = home()
    assert ping(net["PC1"], "198.51.100.80", count=2).received == 2
    assert ping(net["PC2"], "198.51.100.80", count=1).received == 1
    rows = net["NAT"].forwarding.table()
    assert [r[0] for r in rows] == ["icmp", "icmp"]
    assert {r[1].split(":")[0] for r in rows} == {"192.168.1.10", "192.168.1.11"}


def test_traceroute_from_inside_works_through_the_nat():
    net = home()
    result = traceroute(net["PC1"], "198.51.100.80", verbose=False)
    # the NAT (inside address), R (the address facing the NAT), then W
    assert result.reached
    assert result.path == [IPv4Address("192.168.1.1"), IPv4Address("203.0.113.1"),
                           IPv4Address("198.51.100.80")]
    assert net["NAT"].forwarding.counters["icmp_errors"] >= 1  # time exceeded, turned back inside


def test_a_server_behind_nat_cannot_be_reached_from_outside_until_a_port_is_forwarded():
    net = home()
    seen = []
    udp_server(net, "S", 80, seen)
    w = socket(net["W"], SOCK_DGRAM)
    w.settimeout(2)
    w.sendto(b"hello?", ("203.0.113.2", 80))
    with pytest.raises(TimeoutError):
        w.recvfrom(100)
    assert seen == [] and net["NAT"].forwarding.counters["no_mapping"] == 1
    # the private address is no way in either: the Internet has no route to it
    w.sendto(b"hello?", ("192.168.1.20", 80))
    with pytest.raises(TimeoutError):
        w.recvfrom(100)
    assert seen == [] and net["R"].stack.counters["no_route"] >= 1
    net["NAT"].forwarding.forward_port("udp", 8080, "192.168.1.20", 80)
    w.sendto(b"hello?", ("203.0.113.2", 8080))
    assert w.recvfrom(100) == (b"re:hello?", ("203.0.113.2", 8080))
    assert seen == [(b"hello?", ("198.51.100.80", w.getsockname()[1]))]


def test_tcp_through_the_nat_and_a_forwarded_web_server():
    net = home(forwards={("tcp", 8080): ("192.168.1.20", 80)})
    for host in ("W", "S"):
        srv = socket(net[host], SOCK_STREAM)
        srv.bind(("0.0.0.0", 80))
        srv.listen()
        srv.on_connection(lambda s, peer: s.on_data(lambda d, s=s: s.sendall(d.upper())))
    c = socket(net["PC1"], SOCK_STREAM)
    c.connect(("198.51.100.80", 80))
    c.sendall(b"out")
    assert c.recv(10) == b"OUT"
    o = socket(net["X"], SOCK_STREAM)
    o.connect(("203.0.113.2", 8080))
    o.sendall(b"in")
    assert o.recv(10) == b"IN"
    rows = net["NAT"].forwarding.table()
    assert ("tcp", "192.168.1.20:80", "203.0.113.2:8080", "forever") in rows


@pytest.mark.parametrize("filtering, from_x, from_w_other_port", [
    ("endpoint-independent", True, True),
    ("address-dependent", False, True),
    ("address-and-port-dependent", False, False),
])
def test_filtering_behaviours(filtering, from_x, from_w_other_port):
    net = home(filtering=filtering)
    seen = []
    udp_server(net, "W", 5000, seen)
    c = socket(net["PC1"], SOCK_DGRAM)
    c.bind(("0.0.0.0", 40000))
    c.settimeout(1)
    c.sendto(b"open", ("198.51.100.80", 5000))
    c.recvfrom(100)
    for host, port, allowed in (("X", 7000, from_x), ("W", 5001, from_w_other_port)):
        s = socket(net[host], SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        s.sendto(b"knock", ("203.0.113.2", 40000))
        if allowed:
            assert c.recvfrom(100)[0] == b"knock"
        else:
            with pytest.raises(TimeoutError):
                c.recvfrom(100)


def test_mappings_time_out():
    net = home(udp_timeout=120)
    seen = []
    udp_server(net, "W", 5000, seen)
    c = socket(net["PC1"], SOCK_DGRAM)
    c.bind(("0.0.0.0", 40000))
    c.sendto(b"a", ("198.51.100.80", 5000))
    c.recvfrom(10)
    nat = net["NAT"].forwarding
    net.run_for("100s")
    assert len(nat.table()) == 1
    net.run_for("30s")
    assert nat.table() == [] and nat.counters["expired"] == 1
    w = socket(net["W"], SOCK_DGRAM)
    w.sendto(b"late", ("203.0.113.2", 40000))
    net.run_for("1s")
    assert nat.counters["no_mapping"] == 1


def test_tcp_mappings_are_transitory_until_established():
    nat = NAPT()
    nat.public = PUBLIC
    raw = bytearray(20)  # a TCP header, by hand
    raw[0:4] = (40000).to_bytes(2, "big") + (80).to_bytes(2, "big")
    raw[12] = 0x50
    raw[13] = 0x02  # SYN
    p = IPv4Packet(src="192.168.1.10", dst="198.51.100.80", protocol=TCP, payload=bytes(raw))
    nat.outbound(p, 0)
    m = nat.by_inside[(TCP, IPv4Address("192.168.1.10"), 40000)]
    assert m.expires == 240 * 10**9
    raw[13] = 0x10  # ACK: the handshake is done
    nat.outbound(p.replace(payload=bytes(raw)), 10**9)
    assert m.expires == 10**9 + 7440 * 10**9


def test_hairpinning_an_inside_host_reaches_the_forwarded_server_at_the_public_address():
    net = home(forwards={("udp", 8080): ("192.168.1.20", 80)})
    seen = []
    udp_server(net, "S", 80, seen)
    c = socket(net["PC1"], SOCK_DGRAM)
    c.bind(("0.0.0.0", 40000))
    c.sendto(b"hairpin", ("203.0.113.2", 8080))
    assert c.recvfrom(100) == (b"re:hairpin", ("203.0.113.2", 8080))
    assert seen == [(b"hairpin", ("203.0.113.2", 40000))]  # S sees PC1's public face
    assert net["NAT"].forwarding.counters["hairpin"] == 2  # the request, and the reply


def test_without_hairpinning_it_is_dropped():
    net = home(forwards={("udp", 8080): ("192.168.1.20", 80)}, hairpinning=False)
    seen = []
    udp_server(net, "S", 80, seen)
    c = socket(net["PC1"], SOCK_DGRAM)
    c.settimeout(1)
    c.sendto(b"hairpin", ("203.0.113.2", 8080))
    with pytest.raises(TimeoutError):
        c.recvfrom(100)
    assert seen == [] and net["NAT"].forwarding.counters["filtered"] == 1


def test_arguments_are_checked():
    with pytest.raises(LabkitValueError, match="filtering"):
        NAPT(filtering="cone")
    with pytest.raises(LabkitValueError, match="outside"):
        NAPT(inside="eth0", outside="eth0")
    with pytest.raises(LabkitValueError, match="udp_timeout"):
        NAPT(udp_timeout=0)
    with pytest.raises(LabkitValueError, match="protocol"):
        NAPT().forward_port("sctp", 1, "10.0.0.1", 2)


def test_incremental_checksum_matches_a_full_recompute():
    rng = np.random.default_rng(5)
    for _ in range(200):
        src, dst = IPv4Address(int(rng.integers(0, 2**32))), IPv4Address(int(rng.integers(0, 2**32)))
        new = IPv4Address(int(rng.integers(0, 2**32)))
        d = UDPDatagram(int(rng.integers(0, 65536)), int(rng.integers(0, 65536)),
                        rng.bytes(int(rng.integers(0, 40))))
        port = int(rng.integers(0, 65536))
        out = translate_ports(UDP, d.pack(src, dst), old_ip=src, new_ip=new, src_port=port)
        assert out == UDPDatagram(port, d.dst_port, d.payload).pack(new, dst)


# -- fuzz: random and mutated packets through the translator --------------------------------
def _packet(rng) -> IPv4Packet:
    proto = int(rng.choice([ICMP, TCP, UDP, 47]))
    inside = rng.random() < 0.5
    src = "192.168.1.10" if inside else "198.51.100.80"
    dst = "198.51.100.80" if inside else str(PUBLIC)
    if rng.random() < 0.3:
        payload = rng.bytes(int(rng.integers(0, 30)))
    elif proto == UDP:  # inbound, half of them to the forwarded port 8080
        dport = 8080 if not inside and rng.random() < 0.5 else int(rng.integers(0, 65536))
        payload = UDPDatagram(int(rng.integers(0, 65536)), dport,
                              rng.bytes(int(rng.integers(0, 20)))).pack(src, dst)
    elif proto == ICMP:
        payload = ICMPMessage.echo_request(int(rng.integers(0, 65536)), 1, rng.bytes(4)).pack()
        if rng.random() < 0.3:
            payload = bytes([0]) + payload[1:]
    else:
        payload = bytes(rng.integers(0, 256, int(rng.integers(18, 40)), dtype=np.uint8))
    raw = bytearray(payload)
    if raw and rng.random() < 0.5:
        raw[int(rng.integers(0, len(raw)))] ^= int(rng.integers(1, 256))
    return IPv4Packet(src=src, dst=dst, protocol=proto, payload=bytes(raw),
                      fragment_offset=int(rng.random() < 0.05))


BATCH = 10


@settings(max_examples=max(1, FUZZ_EXAMPLES // BATCH))
@given(st.integers(0, 2**32 - 1))
def test_fuzz_the_translator_drops_or_translates_never_crashes(seed):
    nat = NAPT()
    nat.public = PUBLIC
    nat.inside_networks = [IPv4Network("192.168.1.0/24")]
    nat.forward_port("udp", 8080, "192.168.1.20", 80)
    for k in range(seed * BATCH, seed * BATCH + BATCH):
        note(f"input seed {k}")
        p = _packet(np.random.default_rng(k))
        try:
            out = nat.inbound(p, k) if p.dst == PUBLIC else nat.outbound(p, k)
        except LabkitError as e:
            assert str(e).startswith("nat: "), e
            continue
        if out is None:
            continue
        again = IPv4Packet.parse(out.pack())  # a well-formed packet
        assert again == out
        if out.protocol == UDP and len(p.payload) >= 8:
            try:
                UDPDatagram.parse(p.payload, p.src, p.dst)
            except LabkitError:
                continue  # it came in broken: it goes on as broken, no better, no worse
            UDPDatagram.parse(out.payload, out.src, out.dst)  # its checksum still right


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (Wireshark) is not installed")
def test_wireshark_finds_every_translated_checksum_good(tmp_path):
    net = home()
    path = tmp_path / "nat.pcap"
    net.capture("NAT", pcap=path)
    seen = []
    udp_server(net, "W", 5000, seen)
    c = socket(net["PC1"], SOCK_DGRAM)
    c.sendto(b"x" * 33, ("198.51.100.80", 5000))
    c.recvfrom(100)
    ping(net["PC1"], "198.51.100.80", count=1)
    net.flush()
    out = subprocess.run(["tshark", "-n", "-r", str(path), "-o", "udp.check_checksum:TRUE",
                          "-o", "ip.check_checksum:TRUE", "-Y", "udp || icmp", "-T", "fields",
                          "-e", "ip.checksum.status", "-e", "udp.checksum.status",
                          "-e", "icmp.checksum.status", "-e", "_ws.malformed"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert len(out) >= 8  # in and out of the NAT, each way
    for row in out:
        ip, udp, icmp, malformed = row.split("\t")
        assert ip == "1" and malformed == "" and (udp == "1" or icmp == "1"), row
