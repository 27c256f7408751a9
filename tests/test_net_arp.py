"""ARP: golden packets built with Scapy 2.6.1, fuzzing, cache ageing, resolution with retries, next hop."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES
from test_net_ipv4 import mutated

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.link.ethernet import EtherType
from labkit.link.mac import BROADCAST, MACAddress
from labkit.net.arp import (
    REPLY,
    REQUEST,
    ArpCache,
    ARPPacket,
    ArpResolver,
    NoRouteError,
    Transmit,
    Unresolved,
    next_hop,
)
from labkit.testing import Scenario

# Scapy: ARP(op=1, hwsrc="02:00:00:00:00:01", psrc="192.168.1.10", pdst="192.168.1.1")
SCAPY_REQUEST = bytes.fromhex("0001080006040001020000000001c0a8010a000000000000c0a80101")
# ARP(op=2, hwsrc="02:00:00:00:00:02", psrc="192.168.1.1", hwdst="02:00:00:00:00:01", pdst="192.168.1.10")
SCAPY_REPLY = bytes.fromhex("0001080006040002020000000002c0a80101020000000001c0a8010a")
# ARP(op=1, hwsrc="02:00:00:00:00:03", psrc="192.168.1.20", hwdst="00:00:00:00:00:00", pdst="192.168.1.20")
SCAPY_GRATUITOUS = bytes.fromhex("0001080006040001020000000003c0a80114000000000000c0a80114")

MAC_A, MAC_R, MAC_C = (MACAddress(f"02:00:00:00:00:0{i}") for i in (1, 2, 3))
S = 1_000_000_000


def test_golden_packets():
    req = ARPPacket.request(MAC_A, "192.168.1.10", "192.168.1.1")
    assert req.pack() == SCAPY_REQUEST and ARPPacket.parse(SCAPY_REQUEST) == req
    assert req.summary() == "ARP, Request who-has 192.168.1.1 tell 192.168.1.10"
    rep = req.answer(MAC_R)
    assert rep.pack() == SCAPY_REPLY and ARPPacket.parse(SCAPY_REPLY).operation == REPLY
    assert rep.summary() == "ARP, Reply 192.168.1.1 is-at 02:00:00:00:00:02"
    grat = ARPPacket.gratuitous(MAC_C, "192.168.1.20")
    assert grat.pack() == SCAPY_GRATUITOUS and grat.is_gratuitous
    assert grat.summary().endswith("(gratuitous)")
    assert ARPPacket.parse(SCAPY_REQUEST + bytes(18)) == req  # Ethernet padding ignored
    assert "<table" in req._repr_html_()


@pytest.mark.parametrize(
    "offset, value, field",
    [(0, b"\x00\x06", "hardware_type"), (2, b"\x86\xdd", "protocol_type"), (4, b"\x08", "hardware_length"),
     (5, b"\x10", "protocol_length"), (6, b"\x00\x03", "operation")],
)
def test_parse_errors_name_the_field(offset, value, field):
    data = SCAPY_REQUEST[:offset] + value + SCAPY_REQUEST[offset + len(value):]
    with pytest.raises(ParseError) as info:
        ARPPacket.parse(data)
    assert (info.value.layer, info.value.field) == ("arp", field)
    with pytest.raises(ParseError, match="length=27"):
        ARPPacket.parse(SCAPY_REQUEST[:27])


@given(st.integers(0, 2**48 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**48 - 1),
       st.integers(0, 2**32 - 1), st.sampled_from([REQUEST, REPLY]))
def test_round_trip(smac, sip, tmac, tip, op):
    p = ARPPacket(operation=op, sender_mac=smac, sender_ip=sip, target_mac=tmac, target_ip=tip)
    assert ARPPacket.parse(p.pack()) == p
    assert (p.sender_ip, p.target_mac) == (IPv4Address(sip), MACAddress(tmac))


@settings(max_examples=FUZZ_EXAMPLES)
@given(mutated([SCAPY_REQUEST, SCAPY_REPLY, SCAPY_GRATUITOUS]))
def test_fuzz_parse_raises_only_labkit_errors(data):
    try:
        p = ARPPacket.parse(data)
    except LabkitError:
        return
    p.summary()
    assert p.pack() == data[:28]


# --- next hop: the rule the source teaches ----------------------------------------------------


@pytest.mark.parametrize(
    "dst, want",
    [("192.168.1.20", "192.168.1.20"), ("192.168.2.20", "192.168.1.1"), ("8.8.8.8", "192.168.1.1"),
     ("255.255.255.255", "255.255.255.255"), ("192.168.1.255", "192.168.1.255")],
)
def test_next_hop(dst, want):
    assert next_hop(dst, "192.168.1.10/24", "192.168.1.1") == IPv4Address(want)


def test_next_hop_without_gateway():
    assert next_hop("10.0.0.9", "10.0.0.0/8", None) == IPv4Address("10.0.0.9")
    with pytest.raises(NoRouteError, match="no default gateway"):
        next_hop("11.0.0.9", "10.0.0.1/8", None)
    with pytest.raises(NoRouteError, match="not on my subnet"):
        next_hop("11.0.0.9", "10.0.0.1/8", "11.0.0.1")


# --- the cache -----------------------------------------------------------------------------------


def test_cache_entries_expire():
    ip = IPv4Address("192.168.1.1")
    s = Scenario("ARP entries expire", ArpCache(timeout="20s"))
    s.do("learn 192.168.1.1", lambda c, now: c.learn(ip, MAC_R, now))
    s.expect_equal("it is found", lambda c, now: c.lookup(ip, now), MAC_R)
    s.tick("19.999s")
    s.expect_equal("still there just before 20 s", lambda c, now: c.lookup(ip, now), MAC_R)
    s.tick("1ms")
    s.expect_equal("gone at 20 s", lambda c, now: c.lookup(ip, now), None)
    s.expect_equal("and removed", lambda c: len(c), 0)


def test_cache_refresh_restarts_the_clock_and_static_entries_stay():
    c = ArpCache(timeout=10 * S)
    c.learn("10.0.0.1", MAC_A, 0)
    c.learn("10.0.0.2", MAC_C, 0, static=True)
    c.learn("10.0.0.1", MAC_A, 8 * S)  # refreshed by a new reply
    assert c.lookup("10.0.0.1", 17 * S) == MAC_A
    assert [e.ip for e in c.expire(18 * S)] == [IPv4Address("10.0.0.1")]
    assert c.lookup("10.0.0.2", 10**6 * S) == MAC_C
    c.learn("10.0.0.2", MAC_A, 0)  # traffic does not overwrite a static entry
    assert c.lookup("10.0.0.2", 0) == MAC_C
    assert "10.0.0.2" in c.table(0) and "CM" in c.table(0)
    with pytest.raises(LabkitValueError, match="now="):
        c.lookup("10.0.0.2", 1.5)


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 100)), max_size=30), st.integers(1, 50))
def test_cache_lookup_matches_a_model(events, timeout):
    c = ArpCache(timeout=timeout)
    learned: dict[int, int] = {}
    now = 0
    for host, step in events:
        now += step
        c.learn(f"10.0.0.{host}", MACAddress(host + 1), now)
        learned[host] = now
    later = now + timeout // 2
    for host in range(256):
        got = c.lookup(f"10.0.0.{host}", later)
        fresh = host in learned and later - learned[host] < timeout
        assert got == (MACAddress(host + 1) if fresh else None)


# --- the resolver -------------------------------------------------------------------------------


def resolver(**kw):
    return ArpResolver(MAC_A, "192.168.1.10/24", **kw)


def test_resolution_queues_until_the_reply():
    r = resolver()
    first = r.send("192.168.1.1", b"p1", 0)
    assert first == [Transmit(BROADCAST, EtherType.ARP, SCAPY_REQUEST)]
    assert r.send("192.168.1.1", b"p2", 1) == []  # no second request while one is out
    assert r.waiting() == {IPv4Address("192.168.1.1"): 2}
    out = r.receive(ARPPacket.parse(SCAPY_REPLY), 5)
    assert out == [Transmit(MAC_R, EtherType.IPV4, b"p1"), Transmit(MAC_R, EtherType.IPV4, b"p2")]
    assert r.send("192.168.1.1", b"p3", 6) == [Transmit(MAC_R, EtherType.IPV4, b"p3")]
    assert r.waiting() == {}


def test_lost_request_is_retried_then_answered():
    s = Scenario("ARP request lost, retried", resolver(retry_interval="1s", max_requests=3))
    s.expect_equal("first request goes out",
                   lambda r, now: [a.dst for a in r.send("192.168.1.1", b"data", now)], [BROADCAST])
    s.tick("999ms")
    s.expect_equal("nothing before the retry interval", lambda r, now: r.poll(now), [])
    s.tick("1ms")
    s.expect_equal("a second request at 1 s", lambda r, now: r.poll(now),
                   [Transmit(BROADCAST, EtherType.ARP, SCAPY_REQUEST)])
    s.expect_equal("the reply releases the packet",
                   lambda r, now: r.receive(ARPPacket.parse(SCAPY_REPLY), now),
                   [Transmit(MAC_R, EtherType.IPV4, b"data")])
    s.expect_equal("two requests in all", lambda r: r.counters["requests"], 2)


def test_unanswered_requests_give_up():
    r = resolver(max_requests=3, queue_limit=2)
    r.send("192.168.1.99", b"a", 0)
    r.send("192.168.1.99", b"b", 0)
    r.send("192.168.1.99", b"c", 0)  # the queue holds 2: "a" is dropped
    assert r.counters["queue_drops"] == 1
    assert len(r.poll(1 * S)) == 1 and len(r.poll(2 * S)) == 1  # requests 2 and 3
    assert r.next_deadline() == 3 * S
    assert r.poll(3 * S) == [Unresolved(IPv4Address("192.168.1.99"), (b"b", b"c"))]
    assert r.counters == {"requests": 3, "replies": 0, "queue_drops": 1, "failures": 1}
    assert r.poll(10 * S) == [] and r.next_deadline() is None


def test_answers_requests_for_my_address_and_learns_the_asker():
    r = resolver()
    asker = ARPPacket.request(MAC_C, "192.168.1.20", "192.168.1.10")
    out = r.receive(asker, 0)
    assert out == [Transmit(MAC_C, EtherType.ARP,
                            ARPPacket.reply(MAC_A, "192.168.1.10", MAC_C, "192.168.1.20").pack())]
    assert r.cache.lookup("192.168.1.20", 0) == MAC_C
    # a request for someone else teaches nothing new (RFC 826 only merges known senders)
    r.receive(ARPPacket.request(MAC_R, "192.168.1.1", "192.168.1.30"), 0)
    assert r.cache.lookup("192.168.1.1", 0) is None


def test_gratuitous_arp_updates_a_known_entry_only():
    r = resolver()
    r.cache.learn("192.168.1.20", MAC_C, 0)
    moved = MACAddress("02:00:00:00:00:99")
    assert r.receive(ARPPacket.gratuitous(moved, "192.168.1.20"), 1) == []
    assert r.cache.lookup("192.168.1.20", 1) == moved
    r.receive(ARPPacket.gratuitous(moved, "192.168.1.21"), 1)
    assert r.cache.lookup("192.168.1.21", 1) is None
    assert ARPPacket.parse(r.announce().payload).is_gratuitous


def test_broadcast_needs_no_arp():
    r = resolver()
    assert r.send("192.168.1.255", b"x", 0) == [Transmit(BROADCAST, EtherType.IPV4, b"x")]
    assert r.send("255.255.255.255", b"x", 0)[0].dst == BROADCAST


def test_arp_probe_is_answered_but_not_learned():
    r = resolver()
    probe = ARPPacket.request(MAC_C, "0.0.0.0", "192.168.1.10")  # "is anyone using 192.168.1.10?"
    out = r.receive(probe, 0)
    assert len(out) == 1 and ARPPacket.parse(out[0].payload).operation == REPLY
    assert len(r.cache) == 0
