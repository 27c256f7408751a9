"""DHCP (labkit.app.dhcp): the codec against Scapy's BOOTP/DHCP both ways, bad input, and the
client, server and relay on the simulator (DORA, T1/T2/expiry, ARP probe, relay, a flood)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES
from scapy.layers.dhcp import BOOTP, DHCP, DHCPOptions

from labkit.app.dhcp import OPTIONS, DHCPClient, DHCPMessage, DHCPRelay, DHCPServer
from labkit.errors import LabkitValueError, ParseError
from labkit.link.ethernet import EthernetFrame
from labkit.net.ipv4 import IPv4Packet
from labkit.sim import Network
from labkit.sim.stacks import install_ip, install_transport, socket
from labkit.transport.udp import UDPDatagram

_KIND = {code: kind for code, kind in OPTIONS.values()}
_SCAPY_NAME = {code: (v if isinstance(v, str) else v.name) for code, v in DHCPOptions.items()
               if code in _KIND}
_SCAPY_CODE = {name: code for code, name in _SCAPY_NAME.items()}

# --------------------------------------------------------------------------- strategies

ips = st.integers(0, 2**32 - 1).map(IPv4Address)


def _value(code: int) -> st.SearchStrategy[bytes]:
    kind = _KIND[code]
    if kind == "ip":
        return ips.map(lambda a: a.packed)
    if kind == "ips":
        return st.lists(ips, min_size=1, max_size=3).map(lambda xs: b"".join(a.packed for a in xs))
    if kind in ("u32", "u16", "u8"):
        n = {"u32": 4, "u16": 2, "u8": 1}[kind]
        return st.binary(min_size=n, max_size=n)
    if kind == "codes":
        return st.binary(min_size=1, max_size=8)
    return st.binary(min_size=1, max_size=20)


options = st.lists(st.sampled_from(sorted(_KIND)).flatmap(lambda c: _value(c).map(lambda v: (c, v))),
                   max_size=8)
messages = st.builds(
    DHCPMessage, op=st.sampled_from([1, 2]), htype=st.just(1), hlen=st.just(6),
    hops=st.integers(0, 255), xid=st.integers(0, 2**32 - 1), secs=st.integers(0, 0xFFFF),
    flags=st.sampled_from([0, 0x8000]), ciaddr=ips, yiaddr=ips, siaddr=ips, giaddr=ips,
    chaddr=st.binary(min_size=6, max_size=6),
    sname=st.binary(max_size=10).map(lambda b: b.replace(b"\0", b"a")),
    file=st.binary(max_size=10).map(lambda b: b.replace(b"\0", b"a")),
    options=options.map(tuple))


def _canon(code: int, raw: bytes) -> object:
    """An option's value as both libraries can be compared: addresses as text, numbers as ints."""
    kind = _KIND.get(code)
    if kind in ("ip", "ips"):
        return tuple(str(IPv4Address(raw[i:i + 4])) for i in range(0, len(raw), 4))
    if kind in ("u32", "u16", "u8"):
        return int.from_bytes(raw, "big")
    if kind == "codes":
        return tuple(raw)
    return bytes(raw)


def _scapy_options(p: BOOTP) -> list[tuple[int, object]]:
    out = []
    for item in p[DHCP].options:
        if item in ("end", "pad"):
            continue
        name, *values = item
        code = _SCAPY_CODE[name]
        kind = _KIND[code]
        if kind in ("ip", "ips"):
            out.append((code, tuple(str(v) for v in values)))
        elif kind == "codes":
            out.append((code, tuple(values[0]) if isinstance(values[0], (list, bytes)) else tuple(values)))
        elif kind in ("u32", "u16", "u8"):
            out.append((code, int(values[0])))
        else:
            out.append((code, values[0] if isinstance(values[0], bytes) else str(values[0]).encode()))
    return out


# --------------------------------------------------------------------------- the codec


@settings(max_examples=200)
@given(messages)
def test_scapy_parses_what_labkit_builds(m: DHCPMessage) -> None:
    p = BOOTP(m.pack())
    assert (p.op, p.htype, p.hlen, p.hops, p.xid, p.secs, int(p.flags)) == (
        m.op, m.htype, m.hlen, m.hops, m.xid, m.secs, m.flags)
    assert [p.ciaddr, p.yiaddr, p.siaddr, p.giaddr] == [str(m.ciaddr), str(m.yiaddr),
                                                         str(m.siaddr), str(m.giaddr)]
    assert p.chaddr == m.chaddr and p.sname.rstrip(b"\0") == m.sname
    assert p.file.rstrip(b"\0") == m.file
    assert _scapy_options(p) == [(c, _canon(c, v)) for c, v in m.options]
    assert DHCPMessage.parse(m.pack()) == m


@settings(max_examples=200)
@given(messages)
def test_labkit_parses_what_scapy_builds(m: DHCPMessage) -> None:
    opts: list[object] = []
    for code, raw in m.options:
        kind, name = _KIND[code], _SCAPY_NAME[code]
        v = _canon(code, raw)
        if kind in ("ip", "ips"):
            opts.append((name, *v))  # type: ignore[misc]
        elif kind == "codes":
            opts.append((name, list(v)))  # type: ignore[call-overload]
        else:
            opts.append((name, v))
    opts.append("end")
    p = BOOTP(op=m.op, htype=m.htype, hlen=m.hlen, hops=m.hops, xid=m.xid, secs=m.secs,
              flags=m.flags, ciaddr=str(m.ciaddr), yiaddr=str(m.yiaddr), siaddr=str(m.siaddr),
              giaddr=str(m.giaddr), chaddr=m.chaddr, sname=m.sname, file=m.file) / DHCP(options=opts)
    assert DHCPMessage.parse(bytes(p)) == m


def test_make_and_typed_options() -> None:
    m = DHCPMessage.make("ACK", "02:00:00:00:00:07", xid=9, yiaddr="10.0.0.9", lease_time=600,
                         router=["10.0.0.1"], dns_servers=["10.0.0.53", "10.0.0.54"],
                         server_id="10.0.0.1", domain_name="lab")
    assert m.op == 2 and m.message_type == "ACK" and m.get("lease_time") == 600
    assert m.get("dns_servers") == (IPv4Address("10.0.0.53"), IPv4Address("10.0.0.54"))
    assert str(m.mac) == "02:00:00:00:00:07" and m.get("hostname") is None
    assert ("domain_name", "lab") in m.named_options()
    with pytest.raises(LabkitValueError, match="neither a DHCP field nor an option"):
        DHCPMessage.make("DISCOVER", "02:00:00:00:00:07", lease=5)
    with pytest.raises(LabkitValueError, match="xid"):
        DHCPMessage(xid=-1)


@pytest.mark.parametrize("data, field", [
    (bytes(100), "length"),
    (bytes(236) + b"\x00\x00\x00\x00", "magic cookie"),
    (bytes(236) + b"\x63\x82\x53\x63" + b"\x35", "option 53"),
    (bytes(236) + b"\x63\x82\x53\x63" + b"\x35\x05\x01", "option 53 length"),
    (b"\x01\x01\x20" + bytes(233) + b"\x63\x82\x53\x63\xff", "hlen"),
])
def test_bad_messages_are_clear_errors(data: bytes, field: str) -> None:
    with pytest.raises(ParseError) as e:
        DHCPMessage.parse(data)
    assert e.value.layer == "dhcp" and e.value.field == field


_SEED = DHCPMessage.make("OFFER", "02:00:00:00:00:05", xid=5, yiaddr="10.0.0.9", lease_time=60,
                         server_id="10.0.0.1", router="10.0.0.1", hostname="pc").pack()


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=60).map(lambda b: _SEED[:240] + b),
    st.tuples(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), min_size=1, max_size=6),
              st.integers(0, len(_SEED))).map(lambda s: _mutate(s[0])[:s[1] + 236]),
))
def test_fuzz_only_labkit_errors(data: bytes) -> None:
    try:
        m = DHCPMessage.parse(data)
    except ParseError as e:
        assert e.layer == "dhcp" and e.field and repr(e.value) in str(e)
        return
    for name in OPTIONS:  # every typed read copes with any value length
        m.get(name)
    m.named_options()
    assert DHCPMessage.parse(m.pack()) == m


def _mutate(edits: list[tuple[int, int]]) -> bytes:
    b = bytearray(_SEED)
    for pos, val in edits:
        b[pos % len(b)] = val
    return bytes(b)


# --------------------------------------------------------------------------- on the simulator


def lan(lease_time: int = 60, extra: tuple[str, ...] = (), transport: bool = False,
        **server_options: object) -> tuple[Network, DHCPServer, DHCPClient]:
    net = Network(seed=3)
    net.add_switch("S")
    srv = net.add_host("SRV", ip="10.0.0.1/24")
    c = net.add_host("C")  # no address: it will ask for one
    net.connect(srv, "S", delay="1ms")
    net.connect(c, "S", delay="1ms")
    for name in extra:
        net.connect(net.add_host(name), "S", delay="1ms")
    install_ip(net)
    if transport:  # UDP and TCP first: DHCP takes ports 67 and 68 off the transport's UDP
        install_transport(net)
    server = DHCPServer(srv.stack, network="10.0.0.0/24", pool=("10.0.0.100", "10.0.0.109"),
                        router="10.0.0.1", dns_servers=["10.0.0.53"], lease_time=lease_time,
                        **server_options)  # type: ignore[arg-type]
    client = DHCPClient(c.stack, np.random.default_rng(7))
    return net, server, client


def _events(client: DHCPClient) -> list[str]:
    return [e.split(" ")[0] if not e.startswith("T") else e for _, e in client.history]


def test_dora_from_an_unaddressed_interface() -> None:
    net, server, client = lan()
    cap = net.capture("C")
    assert net["C"].stack.addresses == []
    net.at(0, client.start)
    net.run(until="3s")
    assert client.state == "BOUND" and client.address == IPv4Interface("10.0.0.100/24")
    assert _events(client) == ["DISCOVER", "OFFER", "REQUEST", "ACK", "ARP", "ARP", "BOUND"]
    assert net["C"].stack.addresses == [IPv4Address("10.0.0.100")]
    assert client.dns_servers == [IPv4Address("10.0.0.53")]
    # the DISCOVER went from 0.0.0.0:68 to 255.255.255.255:67 in a broadcast frame
    first = EthernetFrame.parse([r for r in cap.trace if r.direction == "out"][0].frame, fcs=False)
    ip = IPv4Packet.parse(first.payload)
    udp = UDPDatagram.parse(ip.payload, ip.src, ip.dst)
    assert str(first.dst) == "ff:ff:ff:ff:ff:ff" and str(ip.src) == "0.0.0.0"
    assert str(ip.dst) == "255.255.255.255" and (udp.src_port, udp.dst_port) == (68, 67)
    assert DHCPMessage.parse(udp.payload).message_type == "DISCOVER"
    # and the address works: the client's default route goes via the router option
    assert net["C"].stack.routes.lookup("8.8.8.8").gateway_for(IPv4Address("8.8.8.8")) == \
        IPv4Address("10.0.0.1")


def test_a_host_speaks_tcp_once_dhcp_has_given_it_an_address() -> None:
    net, server, client = lan(transport=True)  # C has no address yet: its transport waits
    with pytest.raises(LabkitValueError, match="no address to send from"):
        socket(net["C"]).getsockname()
    net.at(0, client.start)
    net.run(until="3s")
    assert client.state == "BOUND"
    listener = socket(net["SRV"])
    listener.bind(("", 7))
    listener.listen()
    conn = socket(net["C"])
    conn.connect(("10.0.0.1", 7))
    assert conn.getsockname()[0] == "10.0.0.100"  # the leased address
    peer, (addr, _) = listener.accept()
    assert addr == "10.0.0.100"
    conn.sendall(b"hello from a leased address")
    conn.close()
    got = bytearray()
    while chunk := peer.recv(100):
        got += chunk
    assert got == b"hello from a leased address"


def test_renewal_at_t1_keeps_the_address() -> None:
    net, server, client = lan(lease_time=60)
    net.at(0, client.start)
    net.run(until="100s")
    t = [(round(time), e) for time, e in client.history if e.startswith(("T1", "T2", "BOUND"))]
    assert t[:3] == [(2, "BOUND 10.0.0.100/24 for 60 s"), (32, "T1: RENEW"),
                     (32, "BOUND 10.0.0.100/24 for 60 s")]
    assert client.address == IPv4Interface("10.0.0.100/24") and server.bound == 1


def test_rebinding_at_t2_when_the_server_is_silent() -> None:
    net, server, client = lan(lease_time=100)
    net.at(0, client.start)
    net.at("40s", setattr, server, "enabled", False)  # the server goes away before T1 ...
    net.at("90s", setattr, server, "enabled", True)  # ... and comes back after T2
    net.run(until="99s")
    events = [e for _, e in client.history]
    assert "T1: RENEW" in events and "T2: REBIND" in events
    assert events.index("T2: REBIND") > events.index("T1: RENEW")
    assert client.state == "BOUND" and client.address is not None
    rebind_ack = [t for t, e in client.history if e.startswith("ACK")][-1]
    assert 90 < rebind_ack < 99  # answered to a rebinding retry after the server came back


def test_without_a_server_the_lease_expires_and_the_address_goes() -> None:
    net, server, client = lan(lease_time=60)
    net.at(0, client.start)
    net.at("10s", setattr, server, "enabled", False)
    net.run(until="63s")  # bound at 2 s (after the ARP probes), so it expires at 62 s
    assert client.state == "SELECTING" and client.address is None
    assert "lease expired" in [e for _, e in client.history]
    assert net["C"].stack.addresses == []
    assert [t for t, e in client.history if e == "lease expired"][0] == pytest.approx(62.0, abs=0.1)


def test_arp_probe_finds_a_conflict_and_declines() -> None:
    net = Network(seed=3)
    net.add_switch("S")
    srv = net.add_host("SRV", ip="10.0.0.1/24")
    squatter = net.add_host("X", ip="10.0.0.100/24")  # already uses the first pool address
    c = net.add_host("C")
    for h in (srv, squatter, c):
        net.connect(h, "S", delay="1ms")
    install_ip(net)
    server = DHCPServer(srv.stack, network="10.0.0.0/24", pool=("10.0.0.100", "10.0.0.109"))
    client = DHCPClient(c.stack, np.random.default_rng(7))
    net.at(0, client.start)
    net.run(until="20s")
    events = [e for _, e in client.history]
    assert any(e.startswith("conflict: 10.0.0.100") for e in events)
    assert "DECLINE" in client.sent and IPv4Address("10.0.0.100") in server.declined
    assert client.state == "BOUND" and client.address == IPv4Interface("10.0.0.101/24")


def test_relay_agent_across_a_router() -> None:
    net = Network(seed=3)
    net.add_switch("S1")
    c = net.add_host("C")
    srv = net.add_host("SRV", ip="10.0.2.2/24", gateway="10.0.2.1")
    r = net.add_router("R", interfaces={"eth0": "10.0.1.1/24", "eth1": "10.0.2.1/24"})
    net.connect(c, "S1", delay="1ms")
    net.connect(r["eth0"], "S1", delay="1ms")
    net.connect(r["eth1"], srv, delay="1ms")
    install_ip(net)
    relay = DHCPRelay(r.stack, server="10.0.2.2")
    server = DHCPServer(srv.stack, network="10.0.1.0/24", pool=("10.0.1.100", "10.0.1.109"),
                        router="10.0.1.1")
    client = DHCPClient(c.stack, np.random.default_rng(7))
    net.at(0, client.start)
    net.run(until="5s")
    assert client.address == IPv4Interface("10.0.1.100/24")
    assert relay.relayed == {"to server": 2, "to client": 2}
    assert all(line[1] in ("DISCOVER", "REQUEST") for line in server.log)


def test_a_discover_flood_keeps_the_pool_bounded_and_a_real_client_is_served() -> None:
    net, server, client = lan(offer_hold=5.0, extra=("M",))
    attacker = net["M"]
    rng = np.random.default_rng(99)

    def flood(k: int) -> None:
        for _ in range(50):
            mac = bytes([2]) + rng.integers(0, 256, 5, dtype=np.uint8).tobytes()
            m = DHCPMessage.make("DISCOVER", mac, xid=int(rng.integers(0, 2**32)), broadcast=True)
            attacker.stack.send_broadcast("eth0", 17, UDPDatagram(68, 67, m.pack()).pack(
                "0.0.0.0", "255.255.255.255"))
        if k < 20:
            net.after("100ms", flood, k + 1)

    net.at(0, flood, 0)
    net.at("1s", client.start)  # the real client tries during the flood ...
    peak = []
    net.at("1500ms", lambda: peak.append(len(server.leases)))
    net.run(until="30s")
    assert len(server.log) >= 1000 and peak[0] <= len(server.pool) == 10
    assert len(server.leases) <= len(server.pool)
    # ... and is served once the made-up offers have run out (offer_hold = 5 s)
    events = [e for _, e in client.history]
    assert events[:2] == ["DISCOVER", "DISCOVER"]  # the first went unanswered: the pool was full
    assert client.state == "BOUND" and client.address is not None


@settings(max_examples=FUZZ_EXAMPLES // 5)
@given(st.lists(messages, min_size=1, max_size=5))
def test_the_server_logic_takes_any_message(msgs: list[DHCPMessage]) -> None:
    net, server, _client = lan()
    for k, m in enumerate(msgs):
        out = server.handle(m, k * 1_000_000_000)
        assert out is None or (out.op == 2 and out.xid == m.xid)
        assert len(server.leases) <= len(server.pool)


def test_the_stack_gives_and_takes_an_address() -> None:
    net, server, client = lan()
    stack = net["C"].stack
    assert list(stack.routes) == [] and stack.addresses == []
    stack.configure("eth0", "10.0.0.7/24", gateway="10.0.0.1")
    assert stack.addresses == [IPv4Address("10.0.0.7")]
    assert sorted(str(r.network) for r in stack.routes) == ["0.0.0.0/0", "10.0.0.0/24"]
    stack.configure("eth0", None)
    assert stack.addresses == [] and list(stack.routes) == []
    with pytest.raises(LabkitValueError, match="prefix"):
        stack.configure("eth0", "not an address")
    with pytest.raises(LabkitValueError, match="eth9"):
        stack.send_broadcast("eth9", 17, b"")
    # an unaddressed host takes UDP for its MAC, but nothing else: no ICMP, no forwarding
    heard: list[int] = []
    stack.register(1, lambda packet, now: heard.append(packet.protocol))
    ping = IPv4Packet(src=IPv4Address("10.0.0.1"), dst=IPv4Address("10.0.0.50"), protocol=1,
                      payload=b"\x08\x00\xf7\xff\x00\x00\x00\x00")
    frame = EthernetFrame(net["C"].iface.mac, net["SRV"].iface.mac, 0x0800, ping.pack())
    net.at(0, net["SRV"].send, frame.pack(fcs=False))
    net.run(until="1s")
    assert heard == [] and stack.counters["not_for_me"] >= 1
