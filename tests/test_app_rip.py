"""RIPv2 (labkit.app.rip): the wire format, routers that learn over the links, count to infinity,
timeouts, a forged advertisement, malformed messages, and Wireshark reading the captures."""

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
from labkit.app.rip import (
    INFINITY,
    PORT,
    REQUEST,
    RESPONSE,
    RIPConfig,
    RIPEntry,
    RIPMessage,
)
from labkit.errors import LabkitError, ParseError
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.net.ipv4 import IPv4Packet
from labkit.net.routing import Route
from labkit.sim import Network
from labkit.sim.routing import fail_link, install_rip, restore_link
from labkit.transport.udp import UDPDatagram
from routing_support import add_line_nodes, line

N3 = IPv4Network("10.0.3.0/24")


def _rip(frame: bytes) -> RIPMessage | None:
    """The RIP message in an Ethernet frame, or None."""
    eth = EthernetFrame.parse(frame, fcs=False)
    if eth.ethertype != EtherType.IPV4:
        return None
    ip = IPv4Packet.parse(eth.payload)
    if ip.protocol != 17:
        return None
    udp = UDPDatagram.parse(ip.payload, ip.src, ip.dst)
    return RIPMessage.parse(udp.payload) if udp.dst_port == PORT else None


# -- the wire format ---------------------------------------------------------------------------
def test_a_response_packs_as_rfc_2453_says():
    msg = RIPMessage(RESPONSE, (RIPEntry("10.0.3.0/24", 2, tag=7),))
    raw = msg.pack()
    assert raw.hex() == ("02020000" "00020007" "0a000300" "ffffff00" "00000000" "00000002")
    assert RIPMessage.parse(raw) == msg
    req = RIPMessage.whole_table_request()
    assert req.pack()[4:].hex() == "0000" "0000" + "00" * 12 + "00000010"  # AF 0, metric 16
    assert RIPMessage.parse(req.pack()) == req
    auth = RIPMessage(RESPONSE, (RIPEntry("10.0.0.0/8", 1),), password=b"secret")
    assert RIPMessage.parse(auth.pack()).password == b"secret"


@pytest.mark.parametrize("raw, field", [
    (b"\x02\x02\x00\x00", "length"),
    (bytes.fromhex("02020000") + bytes(19), "length"),
    (bytes.fromhex("03020000") + bytes(20), "command"),
    (bytes.fromhex("02010000") + bytes(20), "version"),
    (bytes.fromhex("02020000" "00090000" "0a000000" "ff000000" "00000000" "00000001"),
     "entries[0].address family"),
    (bytes.fromhex("02020000" "00020000" "0a000000" "ff000000" "00000000" "00000011"),
     "entries[0].metric"),
    (bytes.fromhex("02020000" "00020000" "0a000000" "ff00ff00" "00000000" "00000001"),
     "entries[0].subnet mask"),
    (bytes.fromhex("02020000" "00020000" "0a000001" "ff000000" "00000000" "00000001"),
     "entries[0].ip address"),
])
def test_malformed_messages_are_refused_naming_the_field(raw, field):
    with pytest.raises(ParseError) as e:
        RIPMessage.parse(raw)
    assert e.value.layer == "rip" and e.value.field == field


# -- routers that learn ------------------------------------------------------------------------
def test_routers_learn_every_network_over_the_links_and_forward():
    net = line()
    cap = net.capture("R2")
    rips = install_rip(net)
    net.run_for("10s")
    # hop counts: a connected network is 1, each router on the way adds 1
    assert rips["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))
    assert rips["R3"].routes()[IPv4Network("10.0.1.0/24")] == (3, IPv4Address("10.0.23.2"))
    route = net["R1"].stack.routes.lookup("10.0.3.10")
    assert (route.kind, route.next_hop, route.metric) == ("rip", IPv4Address("10.0.12.2"), 3)
    assert ping(net["A"], "10.0.3.10", count=2).received == 2
    # what they learned came in real RIP messages, over UDP port 520
    rip_frames = [r for r in cap.trace if _rip(r.frame) is not None]
    assert len(rip_frames) >= 4
    assert any(m.command == RESPONSE and any(e.network == N3 for e in m.entries)
               for m in map(_rip, (r.frame for r in rip_frames)))


def test_a_lossy_link_delays_learning_and_a_dead_one_stops_it():
    dead = line(loss=1.0)
    rips = install_rip(dead)
    dead.run_for("100s")
    assert N3 not in rips["R1"].table
    lossy = line(seed=3, loss=0.5)
    rips = install_rip(lossy)
    lossy.run_for("300s")
    assert rips["R1"].metric(N3) == 3  # periodic updates get through in the end


def test_periodic_updates_every_30_seconds_with_jitter():
    net = line()
    cap = net.capture("R3.eth0")
    install_rip(net, RIPConfig(triggered=False))
    net.run_for("301s")
    sent = [r.time / 1e9 for r in cap.trace if r.direction == "out" and _rip(r.frame) is not None]
    gaps = np.diff(sent[1:])  # after the first request
    assert 9 <= len(gaps) <= 12
    assert all(25 <= g <= 35 for g in gaps), gaps


def test_a_failed_link_times_out_after_180_s_and_is_collected_after_120_s_more():
    net = line()
    rips = install_rip(net)
    net.run_for("60s")
    fail_link(net, "R2", "R3")
    t_fail = net.now
    net.run_for("500s")
    changes = [c for c in rips["R2"].history if c.network == N3 and c.time > t_fail]
    timeout = next(c for c in changes if c.why == "timeout")
    deleted = next(c for c in changes if c.why == "deleted")
    assert 145e9 <= timeout.time - t_fail <= 180e9  # 180 s after it was last heard (every 25-35 s)
    assert 120e9 <= deleted.time - timeout.time <= 121e9
    assert N3 not in rips["R1"].table and net["R1"].stack.routes.lookup("10.0.3.10") is None
    restore_link(net, "R2", "R3")
    net.run_for("40s")
    assert rips["R1"].metric(N3) == 3


def _climb(seed: int, split_horizon: str) -> int:
    """The highest finite metric to 10.0.3.0/24 that R1 or R2 held after R2-R3 failed."""
    net = line(seed=seed)
    rips = install_rip(net, RIPConfig(split_horizon=split_horizon))
    net.run_for("60s")
    t = net.now
    fail_link(net, "R2", "R3")
    net.run_for("600s")
    metrics = [c.metric for r in ("R1", "R2") for c in rips[r].history
               if c.network == N3 and c.time > t and c.metric < INFINITY]
    assert rips["R1"].metric(N3) == INFINITY or N3 not in rips["R1"].table
    return max(metrics, default=0)


def test_count_to_infinity_happens_without_split_horizon_and_never_with_it():
    without = [_climb(s, "off") for s in range(6)]
    # R1 and R2 point at each other and count up to 15, then 16 ends it (a race: when R1's
    # periodic update reaches R2 before R2's news reaches R1)
    assert 15 in without
    assert all(m in (0, 15) for m in without)
    for rule in ("simple", "poisoned"):
        assert [_climb(s, rule) for s in range(6)] == [0] * 6


def test_split_horizon_and_poisoned_reverse_shape_the_vector_per_interface():
    net = line()
    rips = install_rip(net)
    net.run_for("10s")
    r2 = rips["R2"]
    entries = list(r2.table.values())
    towards_r3 = {e.network: e.metric for e in r2._vector_for("eth1", entries)}
    assert towards_r3[N3] == INFINITY  # learned from R3: poisoned back to it
    assert towards_r3[IPv4Network("10.0.1.0/24")] == 2
    r2.config.split_horizon = "simple"
    assert N3 not in {e.network for e in r2._vector_for("eth1", entries)}
    r2.config.split_horizon = "off"
    assert {e.network: e.metric for e in r2._vector_for("eth1", entries)}[N3] == 2


# -- bad input ---------------------------------------------------------------------------------
def _inject(net: Network, router: str, src: str, payload: bytes, sport: int = PORT) -> None:
    stack = net[router].stack
    udp = UDPDatagram(sport, PORT, payload).pack(src, "255.255.255.255")
    stack._deliver(IPv4Packet(src=src, dst="255.255.255.255", protocol=17, payload=udp), None, net.now)


def test_a_forged_advertisement_with_a_better_metric_misleads_the_router():
    net = line()
    net.add_host("M", "10.0.12.66/24")  # the attacker, on the R1-R2 link (a hub would do)
    rips = install_rip(net)
    net.run_for("10s")
    assert rips["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))
    forged = RIPMessage(RESPONSE, (RIPEntry(N3, 1),)).pack()
    _inject(net, "R1", "10.0.12.66", forged)
    assert rips["R1"].routes()[N3] == (2, IPv4Address("10.0.12.66"))  # R1 believed it
    assert net["R1"].stack.routes.lookup("10.0.3.10").next_hop == IPv4Address("10.0.12.66")


def test_a_password_stops_the_forger_and_counts_it():
    net = line()
    rips = install_rip(net, RIPConfig(password=b"labkit"))
    net.run_for("10s")
    assert rips["R1"].metric(N3) == 3  # the routers know the password
    _inject(net, "R1", "10.0.12.66", RIPMessage(RESPONSE, (RIPEntry(N3, 1),)).pack())
    assert rips["R1"].metric(N3) == 3 and rips["R1"].counters["bad_password"] == 1


def test_malformed_or_misplaced_messages_are_dropped_and_counted():
    net = line()
    rips = install_rip(net)
    net.run_for("10s")
    r1 = rips["R1"]
    before = r1.routes()
    _inject(net, "R1", "10.0.12.2", b"\x02\x02\x00\x00garbage")
    _inject(net, "R1", "10.0.12.2", RIPMessage(RESPONSE, (RIPEntry(N3, 1),)).pack(), sport=5000)
    _inject(net, "R1", "192.168.9.9", RIPMessage(RESPONSE, (RIPEntry(N3, 1),)).pack())
    assert r1.counters["malformed"] == 1 and "rip: length" in r1.errors[-1]
    assert r1.counters["bad_port"] == 1 and r1.counters["not_neighbour"] == 1
    assert r1.routes() == before


def _fuzz_input(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if rng.random() < 0.3:
        return rng.bytes(int(rng.integers(0, 80)))
    n = int(rng.integers(1, 26))
    entries = tuple(RIPEntry(IPv4Network((int(rng.integers(0, 2**24)) << 8, 24)),
                             int(rng.integers(1, 17))) for _ in range(n))
    raw = bytearray(RIPMessage(RESPONSE if rng.random() < 0.8 else REQUEST, entries).pack())
    for _ in range(int(rng.integers(1, 4))):
        raw[int(rng.integers(0, len(raw)))] = int(rng.integers(0, 256))
    if rng.random() < 0.2:
        raw = raw[: int(rng.integers(0, len(raw)))]
    return bytes(raw)


BATCH = 10


@settings(max_examples=max(1, FUZZ_EXAMPLES // BATCH))
@given(st.integers(0, 2**32 - 1))
def test_fuzz_rip_parser_raises_only_labkit_errors(seed):
    for k in range(seed * BATCH, seed * BATCH + BATCH):
        note(f"input seed {k}")
        raw = _fuzz_input(k)
        try:
            msg = RIPMessage.parse(raw)
        except ParseError as e:
            assert e.layer == "rip" and e.field
            continue
        except LabkitError:
            continue
        assert RIPMessage.parse(msg.pack()) == msg


def test_the_router_survives_fuzzed_messages_with_its_table_intact():
    net = line()
    rips = install_rip(net)
    net.run_for("10s")
    before = rips["R1"].routes()
    for k in range(300):
        raw = _fuzz_input(10**6 + k)
        try:
            RIPMessage.parse(raw)
            continue  # a valid message may change routes; only the invalid ones here
        except LabkitError:
            pass
        _inject(net, "R1", "10.0.12.2", raw)
    assert rips["R1"].routes() == before
    assert rips["R1"].counters["malformed"] >= 200


# -- Wireshark -------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (Wireshark) is not installed")
def test_wireshark_dissects_the_capture_as_rip_version_2(tmp_path):
    net = line()
    path = tmp_path / "rip.pcap"
    net.capture("R2", pcap=path)
    install_rip(net)
    net.run_for("40s")
    net.flush()
    args = ["tshark", "-n", "-r", str(path), "-o", "udp.check_checksum:TRUE", "-Y", "rip",
            "-T", "fields", "-e", "rip.command", "-e", "rip.version", "-e", "rip.ip",
            "-e", "rip.metric", "-e", "udp.checksum.status", "-e", "_ws.malformed"]
    rows = [line.split("\t") for line in subprocess.run(
        args, capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()]
    assert len(rows) >= 6
    assert {r[0] for r in rows} == {"1", "2"}  # requests and responses
    assert {r[1] for r in rows} == {"2"}
    assert {r[4] for r in rows} == {"1"}  # the UDP checksum verified good
    assert all(r[5] == "" for r in rows)  # nothing malformed
    responses = [r for r in rows if r[0] == "2" and "10.0.3.0" in r[2].split(",")]
    assert responses
    expert = subprocess.run(["tshark", "-n", "-r", str(path), "-q", "-z", "expert"],
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert "Malformed" not in expert and "Error" not in expert, expert


def test_route_is_never_installed_over_a_connected_one():
    net = line()
    rips = install_rip(net)
    net.run_for("10s")
    stack = net["R1"].stack
    _inject(net, "R1", "10.0.12.2", RIPMessage(RESPONSE, (RIPEntry("10.0.1.0/24", 1),)).pack())
    assert stack.routes.lookup("10.0.1.10").kind == "connected"
    assert isinstance(stack.routes.lookup("10.0.1.10"), Route)
    assert rips["R1"].routes()[IPv4Network("10.0.1.0/24")] == (1, None)


def test_convergence_rip_loses_packets_until_the_route_times_out():
    from labkit.sim.routing import two_paths, watch_convergence

    net = two_paths()
    install_rip(net)
    net.run_for("30s")
    run = watch_convergence(net, "A", "10.0.4.10", until="420s", trace_every="5s",
                            events=[("60s", "fail", "R2", "R4"), ("330s", "restore", "R2", "R4")])
    (start, end), = run.loss_windows()
    # no carrier detection: R2 keeps its dead route for the 180 s timeout (heard 25-35 s apart)
    assert start == 60e9 and 60e9 + 140e9 <= end <= 60e9 + 190e9
    paths = run.complete_paths()
    first_long = next(t for t, p in paths if p[1] == IPv4Address("10.0.13.3"))
    back = next(t for t, p in paths if t > first_long and p[1] == IPv4Address("10.0.12.2"))
    # back when the next periodic update crosses the mended link (25-35 s), then the traceroute
    assert end < first_long <= end + 10e9 and 330e9 <= back <= 371e9


def test_a_forger_on_the_wire_sends_a_real_datagram_and_draws_the_traffic():
    """The same attack with nothing injected: M sits on a switch between R1 and R2 and sends
    one UDP datagram from port 520; the pings from A to B then go to M, and are lost."""
    from labkit.sim.stacks import install_transport, socket
    from labkit.transport.sockets import SOCK_DGRAM

    net = Network(seed=1)
    add_line_nodes(net)
    net.add_host("M", "10.0.12.66/24", gateway="10.0.12.1")
    net.add_switch("SW")
    net.connect("A", "R1")
    net.connect("R1.eth1", "SW")
    net.connect("R2.eth0", "SW")
    net.connect("M", "SW")
    net.connect("R2.eth1", "R3.eth0")
    net.connect("R3.eth1", "B")
    install_transport(net)
    rips = install_rip(net)
    assert rips["R1"].metric(N3) == 16  # nothing learned yet
    net.run_for("10s")
    assert rips["R1"].routes()[N3] == (3, IPv4Address("10.0.12.2"))
    assert ping(net["A"], "10.0.3.10", count=2).received == 2
    m = socket(net["M"], SOCK_DGRAM)
    m.bind(("0.0.0.0", PORT))
    m.sendto(RIPMessage(RESPONSE, (RIPEntry(N3, 1),)).pack(), ("255.255.255.255", PORT))
    net.run_for("1s")
    assert rips["R1"].routes()[N3] == (2, IPv4Address("10.0.12.66"))
    assert ping(net["A"], "10.0.3.10", count=2).received == 0  # M has them now
