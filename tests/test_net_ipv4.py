"""IPv4 packets: golden bytes from a reference tool, round trips, fuzzing, fragmentation and reassembly.

The golden packets were built with Scapy 2.6.1 (in a throwaway environment,
outside this repository), e.g. for the first one::

    IP(src="192.168.1.10", dst="10.0.0.1", id=0x1c46, flags="DF", ttl=64)
      / ICMP(type=8, id=0x1234, seq=1) / b"abcdefghijklmnopqrstuvwabcdefghi"
"""

from __future__ import annotations

import itertools
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.net.checksum import internet_checksum
from labkit.net.ipv4 import (
    ICMP,
    TIMED_OUT_KEPT,
    UDP,
    FragmentationNeeded,
    IPv4Packet,
    Reassembler,
    fragment,
)

SCAPY_PING = bytes.fromhex(
    "4500003c1c464000400152c8c0a8010a0a00000108003b27123400016162636465666768696a6b6c6d6e6f70"
    "71727374757677616263646566676869"
)
# tos 0xb8 (DSCP 46 "expedited forwarding"), TTL 1, UDP, a 4-byte Router Alert option (RFC 2113)
SCAPY_OPTIONS = bytes.fromhex("46b80023d4310000011194c70a000001ac1005049404000068656c6c6f20776f726c64")
# the classic example header (Wikipedia, "IPv4 header checksum")
CLASSIC_HEADER = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")


def test_golden_scapy_ping_parses():
    p = IPv4Packet.parse(SCAPY_PING)
    assert (p.version, p.ihl, p.total_length, p.identification) == (4, 5, 60, 0x1C46)
    assert p.dont_fragment and not p.more_fragments and p.fragment_offset == 0
    assert (p.ttl, p.protocol, p.checksum) == (64, ICMP, 0x52C8)
    assert (p.src, p.dst) == (IPv4Address("192.168.1.10"), IPv4Address("10.0.0.1"))
    assert p.payload == SCAPY_PING[20:]
    assert p.summary() == "IPv4 192.168.1.10 > 10.0.0.1 ICMP ttl=64 id=7238 len=60 DF"


def test_golden_scapy_ping_built():
    built = IPv4Packet(src="192.168.1.10", dst="10.0.0.1", identification=0x1C46, dont_fragment=True,
                       protocol=ICMP, payload=SCAPY_PING[20:])
    assert built.pack() == SCAPY_PING


def test_golden_options_and_tos():
    p = IPv4Packet.parse(SCAPY_OPTIONS)
    assert (p.ihl, p.header_length, p.dscp, p.ecn, p.ttl, p.protocol) == (6, 24, 46, 0, 1, UDP)
    assert p.options == bytes.fromhex("94040000") and p.payload == b"hello world"
    built = IPv4Packet(src="10.0.0.1", dst="172.16.5.4", identification=54321, ttl=1, protocol=17,
                       dscp=46, options=bytes.fromhex("94040000"), payload=b"hello world")
    assert built.pack() == SCAPY_OPTIONS


def test_classic_header_checksum():
    p = IPv4Packet.parse(CLASSIC_HEADER + bytes(0x73 - 20), verify_checksum=False)
    assert p.computed_checksum() == 0xB861
    assert p.replace().header() == CLASSIC_HEADER[:10] + b"\xb8\x61" + CLASSIC_HEADER[12:]


def test_trailing_ethernet_padding_is_ignored():
    p = IPv4Packet(src="1.1.1.1", dst="2.2.2.2", payload=b"x")
    assert IPv4Packet.parse(p.pack() + bytes(25)).payload == b"x"


# --- errors name the field ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, field",
    [
        (SCAPY_PING[:19], "length"),
        (b"\x65" + SCAPY_PING[1:], "version"),
        (b"\x44" + SCAPY_PING[1:], "ihl"),
        (b"\x4f" + SCAPY_PING[1:30], "ihl"),
        (SCAPY_PING[:2] + b"\x00\x10" + SCAPY_PING[4:], "total_length"),
        (SCAPY_PING[:-1], "total_length"),
        (SCAPY_PING[:8] + b"\x3f" + SCAPY_PING[9:], "checksum"),
    ],
)
def test_parse_errors_name_the_field(data, field):
    with pytest.raises(ParseError) as info:
        IPv4Packet.parse(data)
    assert info.value.layer == "ipv4" and info.value.field == field


def test_checksum_error_says_what_it_should_be():
    with pytest.raises(ParseError, match="should be 0x53c8"):
        IPv4Packet.parse(SCAPY_PING[:8] + b"\x3f" + SCAPY_PING[9:])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(ttl=256), "ttl=256"),
        (dict(protocol=-1), "protocol=-1"),
        (dict(dscp=64), "dscp=64"),
        (dict(ttl="64"), "ttl='64'"),
        (dict(src="1.2.3"), "src='1.2.3'"),
        (dict(options=b"\x01\x01"), "options"),
        (dict(payload="text"), "payload"),
        (dict(payload=bytes(65_516)), "65,535"),
        (dict(checksum=0x10000), "checksum="),
        (dict(ttl=True), "ttl=True"),
        (dict(options=None), "options"),
        (dict(version=16), "version=16"),
        (dict(identification=0x10000), "identification=65536"),
        (dict(fragment_offset=0x2000), "fragment_offset=8192"),
        (dict(ecn=4), "ecn=4"),
    ],
)
@pytest.mark.parametrize("addresses", ["strings", "IPv4Address"])
def test_bad_fields_are_refused(kwargs, match, addresses):
    # with IPv4Address values the constructor's one-test fast path is what must notice
    src, dst = ("1.1.1.1", "2.2.2.2") if addresses == "strings" else (
        IPv4Address("1.1.1.1"), IPv4Address("2.2.2.2"))
    args = dict(src=src, dst=dst) | kwargs
    with pytest.raises(LabkitValueError, match=match):
        IPv4Packet(**args)


def test_usual_values_of_other_types_are_stored_as_plain_ints():
    p = IPv4Packet(src=IPv4Address("1.1.1.1"), dst=IPv4Address("2.2.2.2"), protocol=UDP, ttl=64)
    assert type(p.protocol) is int and p.protocol == 17


def test_largest_udp_payload_fits_and_one_more_does_not():
    from labkit.transport.udp import MAX_IPV4_PAYLOAD as MAX_UDP_PAYLOAD  # stated once, by UDP

    assert MAX_UDP_PAYLOAD == 65_507
    IPv4Packet(src="1.1.1.1", dst="2.2.2.2", protocol=UDP, payload=bytes(MAX_UDP_PAYLOAD + 8))
    with pytest.raises(LabkitValueError):
        IPv4Packet(src="1.1.1.1", dst="2.2.2.2", protocol=UDP, payload=bytes(MAX_UDP_PAYLOAD + 9))


# --- properties --------------------------------------------------------------------------------

packets = st.builds(
    IPv4Packet,
    src=st.integers(0, 2**32 - 1),
    dst=st.integers(0, 2**32 - 1),
    dscp=st.integers(0, 63),
    ecn=st.integers(0, 3),
    identification=st.integers(0, 0xFFFF),
    dont_fragment=st.booleans(),
    more_fragments=st.booleans(),
    fragment_offset=st.integers(0, 0x1FFF),
    ttl=st.integers(0, 255),
    protocol=st.integers(0, 255),
    options=st.integers(0, 10).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    payload=st.binary(max_size=200),
)


@given(packets)
def test_round_trip(p):
    data = p.pack()
    assert internet_checksum(data[: p.header_length]) == 0
    q = IPv4Packet.parse(data)
    assert q.pack() == data
    assert q.replace() == p.replace()  # equal once the computed fields are dropped on both sides
    assert q == IPv4Packet.parse(data) and hash(q) == hash(IPv4Packet.parse(data))
    assert q.summary().startswith(f"IPv4 {p.src} > {p.dst}")
    assert "<table" in q._repr_html_()


@given(packets, st.integers(0, 159), st.integers(1, 255))
def test_any_corrupted_header_byte_is_caught(p, position, flip):
    data = bytearray(p.pack())
    position %= p.header_length
    data[position] ^= flip
    try:
        IPv4Packet.parse(bytes(data))
    except ParseError:
        return
    # a flip the checksum cannot see does not exist for one byte: parsing must have failed
    raise AssertionError(f"corruption at byte {position} not detected")


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, and real packets cut short, extended, or with a few bytes overwritten."""

    def mutate(seed: bytes, cut: int, at: int, patch: bytes, tail: bytes) -> bytes:
        data = bytearray(seed[: cut % (len(seed) + 1)] + tail)
        if data:
            at %= len(data)
            data[at : at + len(patch)] = patch
        return bytes(data)

    return st.one_of(
        st.binary(max_size=100),
        st.builds(mutate, st.sampled_from(seeds), st.integers(0, 2000), st.integers(0, 2000),
                  st.binary(max_size=3), st.binary(max_size=4)),
    )


IPV4_SEEDS = [SCAPY_PING, SCAPY_OPTIONS, CLASSIC_HEADER + bytes(0x73 - 20)]


@settings(max_examples=FUZZ_EXAMPLES)
@given(mutated(IPV4_SEEDS))
def test_fuzz_parse_raises_only_labkit_errors(data):
    for partial in (False, True):
        try:
            p = IPv4Packet.parse(data, partial=partial, verify_checksum=partial)
        except LabkitError:
            continue
        p.summary()
        repr(p)
        p.pack()


# --- fragmentation -----------------------------------------------------------------------------


def big_packet(size=4000, **kw):
    payload = bytes(i % 251 for i in range(size))
    return IPv4Packet(src="192.0.2.1", dst="198.51.100.7", identification=777, protocol=UDP,
                      payload=payload, **kw)


def test_fragment_headers_match_scapy():
    # Scapy: fragment(IP(src=..., dst=..., id=777, proto=17)/(bytes(range(256))*12), fragsize=1480)
    want = [
        "450005dc03092000401165ccc0000201c6336407",
        "450005dc030920b940116513c0000201c6336407",
        "4500008403090172401189b2c0000201c6336407",
    ]
    p = IPv4Packet(src="192.0.2.1", dst="198.51.100.7", identification=777, protocol=17,
                   payload=bytes(range(256)) * 12)
    assert [f.header().hex() for f in fragment(p, 1500)] == want


@given(st.integers(0, 6000), st.integers(68, 2000), st.booleans())
def test_fragments_fit_and_add_up(size, mtu, with_options):
    options = bytes.fromhex("94040000") + bytes.fromhex("07070400000000") + b"\x00" if with_options else b""
    p = big_packet(size, options=options)
    pieces = fragment(p, mtu)
    assert all(f.length <= mtu for f in pieces)
    assert b"".join(f.payload for f in pieces) == p.payload
    assert all(f.fragment_offset_bytes == sum(len(g.payload) for g in pieces[:i])
               for i, f in enumerate(pieces))
    assert [f.more_fragments for f in pieces] == [True] * (len(pieces) - 1) + [False]
    assert all(len(f.payload) % 8 == 0 for f in pieces[:-1])
    if len(pieces) > 1:
        # the Router Alert option (copy bit set) is copied, record route (7, not copied) is not
        assert all(f.options == (bytes.fromhex("94040000") if with_options else b"") for f in pieces[1:])
        assert pieces[0].options == options
    assert all(IPv4Packet.parse(f.pack()) == IPv4Packet.parse(f.pack()) for f in pieces)


def test_fragmenting_a_fragment_keeps_offsets_and_mf():
    first, second, third = fragment(big_packet(4000), 1500)
    again = fragment(second, 600)
    assert again[0].fragment_offset == second.fragment_offset
    assert all(f.more_fragments for f in again)  # the original 'second' had MF set
    r = Reassembler()
    out = [r.add(f, 0) for f in [first, *again, third]]
    assert out[-1] is not None and out[-1].payload == big_packet(4000).payload


def test_dont_fragment_raises_fragmentation_needed():
    p = big_packet(2000, dont_fragment=True)
    with pytest.raises(FragmentationNeeded, match="1500-byte MTU") as info:
        fragment(p, 1500)
    assert info.value.mtu == 1500 and info.value.packet is p
    assert fragment(big_packet(1000, dont_fragment=True), 1500) == [big_packet(1000, dont_fragment=True)]


def test_tiny_mtu_is_refused():
    with pytest.raises(LabkitValueError, match="68"):
        fragment(big_packet(100), 40)


# --- reassembly ---------------------------------------------------------------------------------


def test_reassembly_in_every_order():
    p = big_packet(3000)
    pieces = fragment(p, 1000)  # 4 fragments
    assert len(pieces) == 4
    for order in itertools.permutations(pieces):
        r = Reassembler()
        results = [r.add(f, i) for i, f in enumerate(order)]
        assert results[:-1] == [None, None, None]
        whole = results[-1]
        assert whole.payload == p.payload and whole.pack() == p.pack()
        assert len(r) == 0


def test_unfragmented_packets_pass_straight_through():
    r = Reassembler()
    p = big_packet(100)
    assert r.add(p, 0) is p


def test_duplicates_are_ignored():
    p = big_packet(3000)
    a, b, c, d = fragment(p, 1000)
    r = Reassembler()
    assert [r.add(f, 0) for f in (a, b, b, a, c)] == [None] * 5
    assert r.counters["duplicates"] == 2
    assert r.add(d, 0).payload == p.payload


def test_overlap_drops_the_datagram():
    p = big_packet(3000)
    a, b, c, d = fragment(p, 1000)
    sneaky = b.replace(fragment_offset=b.fragment_offset - 1)  # overlaps a by 8 bytes
    r = Reassembler()
    for f in (a, sneaky, b, c, d):
        assert r.add(f, 0) is None
    assert r.counters["overlaps"] == 4 and r.counters["reassembled"] == 0
    # after the timeout the key is forgotten and a fresh copy reassembles
    out = [r.add(f, 31_000_000_000) for f in (a, b, c, d)]
    assert out[-1].payload == p.payload


def test_same_offset_different_bytes_is_an_overlap():
    p = big_packet(3000)
    a, b, c, d = fragment(p, 1000)
    r = Reassembler()
    r.add(b, 0)
    r.add(b.replace(payload=bytes(len(b.payload))), 0)
    assert r.counters["overlaps"] == 1
    assert [r.add(f, 0) for f in (a, c, d)] == [None] * 3


def test_two_different_ends_drop_the_datagram():
    p = big_packet(3000)
    a, b, c, d = fragment(p, 1000)
    r = Reassembler()
    r.add(d, 0)
    r.add(c.replace(more_fragments=False), 0)
    assert r.counters["overlaps"] == 1


def test_missing_fragment_times_out():
    p = big_packet(3000)
    a, b, c, d = fragment(p, 1000)
    r = Reassembler(timeout=15_000_000_000)
    assert r.add(a, 0) is None and r.add(c, 1_000_000_000) is None and r.add(d, 2_000_000_000) is None
    assert r.next_deadline() == 15_000_000_000
    assert r.expire(14_999_999_999) == []
    gone = r.expire(15_000_000_000)
    assert len(gone) == 1 and gone[0].first_fragment == a and gone[0].identification == 777
    assert gone[0].received_bytes == len(a.payload) + len(c.payload) + len(d.payload)
    assert r.counters["timeouts"] == 1 and len(r) == 0
    # b arriving late starts a new (hopeless) datagram rather than completing the old one
    assert r.add(b, 16_000_000_000) is None


def test_timeout_without_first_fragment_has_none():
    a, b, c, d = fragment(big_packet(3000), 1000)
    r = Reassembler()
    r.add(c, 0)
    (gone,) = r.expire(30_000_000_000)
    assert gone.first_fragment is None


def test_datagrams_are_kept_apart_by_identification():
    p, q = big_packet(2000), big_packet(2000).replace(identification=778, payload=bytes(2000))
    fp, fq = fragment(p, 1000), fragment(q, 1000)
    r = Reassembler()
    results = [r.add(f, 0) for f in (fp[0], fq[0], fq[2], fp[2], fq[1], fp[1])]
    assert results[4].payload == q.payload and results[5].payload == p.payload


def test_bad_fragment_lengths_are_invalid():
    a, *_ = fragment(big_packet(3000), 1000)
    r = Reassembler()
    r.add(a.replace(payload=a.payload[:-3]), 0)  # MF set but not a multiple of 8
    assert r.counters["invalid"] == 1


@given(st.integers(1, 5000), st.integers(68, 1500), st.randoms(use_true_random=False))
def test_reassembly_of_shuffled_fragments_with_duplicates(size, mtu, rnd):
    p = big_packet(size)
    pieces = fragment(p, mtu)
    order = pieces + rnd.sample(pieces, k=min(3, len(pieces)))
    rnd.shuffle(order)
    r = Reassembler()
    done = [x for x in (r.add(f, 0) for f in order) if x is not None]
    if len(pieces) == 1:
        assert all(x == p for x in done)
    else:
        assert len(done) >= 1 and done[0].pack() == p.pack()


def test_hand_written_constructor_matches_the_dataclass_fields():
    import dataclasses
    import inspect

    params = inspect.signature(IPv4Packet.__new__).parameters
    fields = dataclasses.fields(IPv4Packet)
    assert [f.name for f in fields] == [p for p in params if p != "cls"]
    for f in fields:
        want = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert params[f.name].default == want, f.name
    p = IPv4Packet(src="1.1.1.1", dst="2.2.2.2")
    assert type(p) is IPv4Packet
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.ttl = 1  # type: ignore[misc]


@pytest.mark.parametrize("packet", [
    IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=17, payload=b"data"),
    IPv4Packet(src="10.0.0.1", dst="10.0.0.2", ttl=1, identification=7, dont_fragment=True,
               options=b"\x01\x01\x01\x00", checksum=0x1234),
    IPv4Packet.parse(CLASSIC_HEADER, partial=True, verify_checksum=False),
])
def test_packets_survive_copy_and_pickle(packet):
    import copy
    import pickle

    for clone in (copy.copy(packet), copy.deepcopy(packet), pickle.loads(pickle.dumps(packet))):
        assert type(clone) is IPv4Packet and clone == packet and clone.pack() == packet.pack()


def test_ipaddress_keeps_the_integer_the_codecs_read():
    # IPv4Packet.pack and UDP's checksum read IPv4Address._ip, a private attribute of
    # the standard library, instead of calling int(): if a Python release renames it,
    # this fails first.
    address = IPv4Address("192.168.1.10")
    assert address._ip == int(address) == 0xC0A8010A


# -- reassembly stays bounded, in memory and in time --------------------------------------------


def _fragments_of(size: int, piece: int, ident: int = 7) -> list[IPv4Packet]:
    """``size`` bytes cut in fragments of ``piece`` bytes (by hand: no link has an MTU that small)."""
    data = bytes(i & 0xFF for i in range(size))
    return [IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=UDP, identification=ident,
                       fragment_offset=start // 8, more_fragments=start + piece < size,
                       payload=data[start:start + piece]) for start in range(0, size, piece)]


def test_reassembly_of_many_small_fragments_in_any_order():
    pieces = _fragments_of(8_000 * 8, 8)
    assert len(pieces) == 8_000
    order = list(range(len(pieces)))
    import random

    random.Random(3).shuffle(order)
    r = Reassembler()
    whole = [r.add(pieces[i], 0) for i in order]
    assert [w for w in whole if w is not None][0].payload == bytes(i & 0xFF for i in range(64_000))
    assert whole[-1] is not None and whole.count(None) == len(pieces) - 1
    assert len(r) == 0 and r.counters["reassembled"] == 1


def test_an_overlap_between_neighbours_is_found_wherever_it_falls():
    pieces = _fragments_of(800, 80)
    r = Reassembler()
    for p in pieces[:4] + pieces[5:]:
        assert r.add(p, 0) is None
    sneaky = pieces[4].replace(fragment_offset=pieces[4].fragment_offset + 1, more_fragments=True,
                               payload=pieces[4].payload)  # 8 bytes later: overlaps the next piece
    assert r.add(sneaky, 0) is None
    assert r.counters["overlaps"] == 1
    assert r.add(pieces[4], 0) is None  # the datagram stays dropped until its timeout
    assert list(r.pending()) == []


def test_a_flood_of_datagrams_never_completed_stays_bounded():
    r = Reassembler(timeout=1_000, max_pending=200)
    for i in range(20_000):
        first = IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=UDP, identification=i & 0xFFFF,
                           more_fragments=True, payload=bytes(8))
        r.add(first, i * 10)  # a new datagram every 10 ns, each given up 1 us later
    assert len(r) <= 101 and len(r._deadlines) <= 101
    assert len(r.timed_out) == TIMED_OUT_KEPT
    assert r.timed_out[-1].identification == (20_000 - 101) & 0xFFFF  # the newest given up
    assert r.counters["timeouts"] + r.counters["evicted"] + len(r) == 20_000
    assert r.next_deadline() == r._pending[next(iter(r._pending))].deadline
