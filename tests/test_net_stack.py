"""The IP stack on labkit.sim: ARP on a LAN and via the gateway, forwarding, ICMP errors, ping, traceroute."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from labkit.app.ping import ping
from labkit.app.traceroute import traceroute
from labkit.errors import LabkitValueError
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.link.mac import MACAddress
from labkit.net.arp import ARPPacket, NoRouteError
from labkit.net.icmp import ICMPMessage
from labkit.net.ipv4 import ICMP, IPv4Packet
from labkit.net.summary import short_summary, summarise
from labkit.sim import Fault, Network
from labkit.sim.stacks import install_ip
from labkit.testing import Scenario

MS = 1_000_000
S = 1_000_000_000


def three_routers(mtu_middle=1500, seed=1):
    """A (10.0.1.0/24) - R1 - R2 - R3 - B (10.0.3.0/24), plus C on A's LAN through a hub."""
    net = Network(seed=seed)
    a = net.add_host("A", ip="10.0.1.10/24", gateway="10.0.1.1")
    c = net.add_host("C", ip="10.0.1.30/24", gateway="10.0.1.1")
    b = net.add_host("B", ip="10.0.3.20/24", gateway="10.0.3.1")
    hub = net.add_switch("S1")
    r1 = net.add_router("R1", ["10.0.1.1/24", "10.0.12.1/30"])
    r2 = net.add_router("R2", ["10.0.12.2/30", "10.0.23.1/30"])
    r3 = net.add_router("R3", ["10.0.23.2/30", "10.0.3.1/24"])
    net.connect(a, hub, delay="1ms")
    net.connect(c, hub, delay="1ms")
    net.connect(r1["eth0"], hub, delay="1ms")
    net.connect(r1["eth1"], r2["eth0"], delay="5ms")
    net.connect(r2["eth1"], r3["eth0"], delay="5ms", mtu=mtu_middle)
    net.connect(r3["eth1"], b, delay="1ms")
    stacks = install_ip(net)
    stacks["R1"].routes.add_default("10.0.12.2")
    stacks["R2"].routes.add_static("10.0.1.0/24", "10.0.12.1")
    stacks["R2"].routes.add_static("10.0.3.0/24", "10.0.23.2")
    stacks["R3"].routes.add_default("10.0.23.1")
    return net, stacks


def arp_requests(trace, node):
    return [r.summary for r in trace if r.node == node and r.direction == "out" and "who-has" in r.summary]


def test_same_subnet_arps_for_the_host_other_subnet_for_the_gateway():
    net, stacks = three_routers()
    cap = net.capture("A")
    ping(net["A"], "10.0.1.30", count=1, verbose=False)
    ping(net["A"], "10.0.3.20", count=1, verbose=False)
    assert arp_requests(cap.trace, "A") == [
        "ARP, Request who-has 10.0.1.30 tell 10.0.1.10",  # on my subnet: the host itself
        "ARP, Request who-has 10.0.1.1 tell 10.0.1.10",  # elsewhere: the gateway
    ]
    # the packet to B goes to the gateway's MAC but still carries B's IP address
    out = [r.frame for r in cap.trace if r.direction == "out" and "echo request" in r.summary][-1]
    eth = EthernetFrame.parse(out, fcs=False)
    assert eth.dst.packed == net["R1"]["eth0"].mac
    assert IPv4Packet.parse(eth.payload).dst == IPv4Address("10.0.3.20")


def test_ping_across_three_routers():
    net, _ = three_routers()
    result = ping(net["A"], "10.0.3.20", count=3, verbose=False)
    assert (result.transmitted, result.received, result.errors) == (3, 3, 0)
    # one-way: 1 + 1 (through the hub) + 5 + 5 + 1 ms of propagation, transmission times on top
    assert all(26 * MS < rtt < 27 * MS for rtt in result.rtts[1:])
    assert result.rtts[0] > result.rtts[1]  # the first one waited for four ARP exchanges
    assert result.lines[0] == "PING 10.0.3.20 (10.0.3.20) 56(84) bytes of data."
    assert result.lines[1].startswith("64 bytes from 10.0.3.20: icmp_seq=1 ttl=61 time=")
    assert result.lines[-2] == "3 packets transmitted, 3 received, 0% packet loss, time 2000ms"
    assert result.lines[-1].startswith("rtt min/avg/max/mdev = ")


def test_ping_prints_like_ping(capsys):
    net, _ = three_routers()
    ping(net["A"], "10.0.1.30", count=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "PING 10.0.1.30 (10.0.1.30) 56(84) bytes of data."
    assert out[2] == "64 bytes from 10.0.1.30: icmp_seq=2 ttl=64 time=4.03 ms"
    assert out[4] == "--- 10.0.1.30 ping statistics ---"


def test_traceroute_finds_the_path():
    net, _ = three_routers()
    result = traceroute(net["A"], "10.0.3.20", verbose=False)
    assert result.reached
    assert result.path == [IPv4Address(x) for x in ("10.0.1.1", "10.0.12.2", "10.0.23.2", "10.0.3.20")]
    assert result.lines[0] == "traceroute to 10.0.3.20 (10.0.3.20), 30 hops max, 60 byte packets"
    assert result.lines[2].startswith(" 2  10.0.12.2  ") and result.lines[2].count(" ms") == 3


def test_traceroute_shows_stars_where_nobody_answers():
    net, stacks = three_routers()
    stacks["R2"].routes.remove("10.0.3.0/24")
    result = traceroute(net["A"], "10.0.3.20", max_hops=4, verbose=False)
    assert not result.reached
    assert result.lines[2].endswith("!N")  # R2 answers net unreachable: the trace stops there
    assert len(result.hops) == 2
    net2, stacks2 = three_routers()
    net2.impair("R3", "B", Fault(action="drop"))  # B never hears anything
    result2 = traceroute(net2["A"], "10.0.3.20", max_hops=5, verbose=False)
    assert result2.lines[4:] == [" 4 * * *", " 5 * * *"] and result2.path[3:] == [None, None]


def test_ttl_expiry_on_a_routing_loop_ends():
    net, stacks = three_routers()
    # R2 sends 10.0.3.0/24 back to R1, R1 sends everything to R2: a loop
    stacks["R2"].routes.add_static("10.0.3.0/24", "10.0.12.1", metric=0)
    result = ping(net["A"], "10.0.3.20", count=1, verbose=False)
    # TTL 64 from A: routers 1..63 (R1, R2, R1, ...) forward the request, the 64th (R2) finds
    # TTL 1 and drops it, and R1 forwards R2's time exceeded back to A
    assert result.lines[1] == "From 10.0.12.2 icmp_seq=1 Time to live exceeded"
    forwarded = stacks["R1"].counters["forwarded"] + stacks["R2"].counters["forwarded"]
    assert forwarded == 63 + 1
    assert stacks["R1"].counters["ttl_expired"] + stacks["R2"].counters["ttl_expired"] == 1
    cap = net.capture()
    net.run_for("60s")
    assert not [r for r in cap.trace if "IP " in r.summary]  # nothing left circulating


def test_net_unreachable_and_host_unreachable():
    net, _ = three_routers()
    r = ping(net["A"], "10.0.9.9", count=1, verbose=False)
    assert r.lines[1] == "From 10.0.12.2 icmp_seq=1 Destination Net Unreachable"
    r = ping(net["A"], "10.0.1.99", count=1, verbose=False)  # nobody has this address
    assert r.lines[1] == "From 10.0.1.10 icmp_seq=1 Destination Host Unreachable"
    r = ping(net["A"], "10.0.3.99", count=1, verbose=False)  # R3 cannot find it on its LAN
    assert r.lines[1] == "From 10.0.3.1 icmp_seq=1 Destination Host Unreachable"


def test_no_gateway_means_network_unreachable():
    net = Network()
    a = net.add_host("A", ip="10.0.1.10/24")
    b = net.add_host("B", ip="10.0.1.20/24")
    net.connect(a, b)
    install_ip(net)
    assert ping(a, "8.8.8.8", count=1, verbose=False).lines[1] == "ping: connect: Network is unreachable"
    with pytest.raises(NoRouteError):
        a.stack.send("8.8.8.8", ICMP, b"")
    with pytest.raises(LabkitValueError, match="install_ip"):
        ping(net.add_host("Z", ip="10.0.1.30/24"), "10.0.1.10")


def test_lost_arp_request_is_retried():
    net, stacks = three_routers()
    net.impair("A", "S1", Fault(nth=1))  # the first frame A sends (its ARP request) is lost
    s = Scenario.for_network("ARP request lost", net)
    s.do("A pings C once", lambda n: ping(n["A"], "10.0.1.30", count=1, verbose=False))
    s.expect("A asked twice", lambda n: stacks["A"].ports["eth0"].arp.counters["requests"] == 2)
    s.expect_equal("C is in A's cache", lambda n, now: stacks["A"].arp_cache().lookup("10.0.1.30", now),
                   MACAddress(net["C"].mac))


def test_arp_cache_expires_and_is_asked_again():
    net, stacks = three_routers()
    cap = net.capture("A")
    ping(net["A"], "10.0.1.30", count=1, verbose=False)
    s = Scenario.for_network("ARP cache ageing", net)
    s.tick("30s")
    s.do("ping again within the minute", lambda n: ping(n["A"], "10.0.1.30", count=1, verbose=False))
    s.expect_equal("no new request", lambda n: len(arp_requests(cap.trace, "A")), 1)
    s.tick("61s")
    s.expect_equal("the entry has expired", lambda n, now: stacks["A"].arp_cache().lookup("10.0.1.30", now),
                   None)
    s.do("ping once more", lambda n: ping(n["A"], "10.0.1.30", count=1, verbose=False))
    s.expect_equal("a second request", lambda n: len(arp_requests(cap.trace, "A")), 2)


def test_fragmentation_on_a_small_mtu_and_reassembly():
    net, stacks = three_routers(mtu_middle=576)
    cap = net.capture("R3")
    result = ping(net["A"], "10.0.3.20", count=1, size=1400, verbose=False)
    assert result.received == 1
    assert result.lines[1].startswith("1408 bytes from 10.0.3.20")
    assert stacks["R2"].counters["fragments_sent"] == 3  # 1428 bytes in 576-byte pieces
    assert stacks["B"].counters["reassembled"] == 1 and stacks["A"].counters["reassembled"] == 1
    frags = [r.summary for r in cap.trace if r.node == "R3" and r.direction == "in" and "frag" in r.summary]
    assert [f.split("(frag ")[1].split(")")[0].split(":")[1] for f in frags[:3]] == [
        "552@0+", "552@552+", "304@1104"]


def test_dont_fragment_gets_fragmentation_needed():
    net, stacks = three_routers(mtu_middle=576)
    result = ping(net["A"], "10.0.3.20", count=1, size=1400, dont_fragment=True, verbose=False)
    assert result.lines[1] == "From 10.0.12.2 icmp_seq=1 Frag needed and DF set (mtu = 576)"
    result = ping(net["A"], "10.0.3.20", count=1, size=2000, dont_fragment=True, verbose=False)
    assert result.lines[1] == "ping: local error: message too long, mtu=1500"


def test_reassembly_timeout_sends_time_exceeded():
    net, stacks = three_routers(mtu_middle=576)
    is_second_fragment = lambda f: b"\x20\x45" in f[20:22]  # noqa: E731  (MF set, offset 552/8 = 69)
    net.impair("R3", "B", Fault(nth=1, match=is_second_fragment))
    result = ping(net["A"], "10.0.3.20", count=1, size=1400, timeout=40 * S, verbose=False)
    assert result.lines[1] == "From 10.0.3.20 icmp_seq=1 Frag reassembly time exceeded"
    assert stacks["B"].reassembler.counters["timeouts"] == 1
    assert 30 * S < net.now < 31 * S


def test_echo_request_to_a_router_and_to_myself():
    net, stacks = three_routers()
    assert ping(net["A"], "10.0.23.2", count=1, verbose=False).received == 1
    assert ping(net["A"], "10.0.1.10", count=1, verbose=False).received == 1


def test_unknown_protocol_gets_protocol_unreachable_and_no_error_about_errors():
    net, stacks = three_routers()
    seen = []
    stacks["A"].icmp_listeners.append(lambda p, m, now: seen.append(m.summary()))
    stacks["A"].send("10.0.1.30", 99, b"hello")
    net.run(until="1s")
    assert seen == ["ICMP destination unreachable: protocol unreachable, about 10.0.1.10 > 10.0.1.30"]
    assert stacks["C"].inbox[0].payload == b"hello"
    # an ICMP error about an ICMP error is never sent: C ignores A's bogus error sent with TTL 1
    bogus = ICMPMessage.unreachable(3, IPv4Packet(src="10.0.1.10", dst="10.0.1.30", protocol=17))
    before = stacks["R1"].counters["icmp_sent"]
    stacks["A"].send("10.0.3.20", ICMP, bogus.pack(), ttl=1)
    net.run(until="2s")
    assert stacks["R1"].counters["ttl_expired"] == 1 and stacks["R1"].counters["icmp_sent"] == before


def test_summarise_reads_frames():
    arp = EthernetFrame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", EtherType.ARP,
                        ARPPacket.request("02:00:00:00:00:01", "10.0.0.1", "10.0.0.2").pack())
    assert summarise(arp.pack(fcs=False)) == "ARP, Request who-has 10.0.0.2 tell 10.0.0.1"
    ip = IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=ICMP, ttl=5,
                    payload=ICMPMessage.echo_request(1, 2).pack())
    frame = EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", EtherType.IPV4, ip.pack())
    assert summarise(frame.pack(fcs=False)) == (
        "IP 10.0.0.1 > 10.0.0.2: ttl 5 ICMP echo request, id 1, seq 2, length 8")
    assert summarise(b"\x00" * 5) == "5 bytes (not Ethernet)"


def test_short_summaries_for_diagrams():
    net, stacks = three_routers(mtu_middle=576)
    cap = net.capture("R3", summariser=short_summary)
    ping(net["A"], "10.0.3.20", count=1, size=1400, verbose=False)
    ping(net["A"], "10.0.3.20", count=1, ttl=3, verbose=False)
    got = [r.summary for r in cap.trace if r.direction == "in" and r.interface.endswith("eth0")]
    assert got[:4] == ["ARP who-has 10.0.23.2", "echo request ttl=62 (frag 552@0+)", "frag 552@552+",
                       "frag 304@1104"]
    assert "time exceeded" in [r.summary for r in cap.trace if r.direction == "out"]
    assert all(len(x) <= 40 for x in got)


def test_corrupted_packets_are_dropped_not_answered():
    net, stacks = three_routers()
    ping(net["A"], "10.0.1.30", count=1, verbose=False)  # ARP done
    # flip the last bit of the next frame C receives: the ICMP checksum no longer matches
    net.impair("S1", "C", Fault(nth=2, action="corrupt"))
    result = ping(net["A"], "10.0.1.30", count=2, timeout=2 * S, verbose=False)
    assert (result.transmitted, result.received) == (2, 1)
    assert stacks["C"].counters["bad_packets"] == 1
    assert "1 received, 50% packet loss" in result.lines[-2]


def test_directed_broadcast_ping_is_answered_by_every_host_on_the_lan():
    net, stacks = three_routers()
    seen = []
    stacks["A"].icmp_listeners.append(lambda p, m, now: seen.append(str(p.src)))
    stacks["A"].send("10.0.1.255", ICMP, ICMPMessage.echo_request(9, 1).pack())
    net.run(until="1s")
    assert sorted(seen) == ["10.0.1.1", "10.0.1.30"]


def test_upper_layers_register_and_report_errors():
    net, stacks = three_routers()
    got, errors = [], []
    stacks["A"].icmp_listeners.append(lambda p, m, now: errors.append(m.summary()))

    def closed_port(packet, now):  # what UDP does for a port nobody listens on
        got.append(packet.payload)
        stacks["B"].report_error(ICMPMessage.unreachable(3, packet), packet)

    stacks["B"].register(17, closed_port)
    stacks["A"].send("10.0.3.20", 17, b"\x12\x34\x00\x35\x00\x0cdata")
    net.run(until="1s")
    assert got == [b"\x12\x34\x00\x35\x00\x0cdata"]
    assert errors == ["ICMP destination unreachable: port unreachable, about 10.0.1.10 > 10.0.3.20"]
    with pytest.raises(LabkitValueError, match="ICMP error"):
        stacks["B"].report_error(ICMPMessage.echo_request(1, 1), IPv4Packet(src="1.1.1.1", dst="2.2.2.2"))
