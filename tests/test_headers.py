"""Every header, stated once: parse(pack(x)) == x, layouts that agree with the display, bad input named.

The six header classes (Ethernet, ARP, IPv4, ICMP, UDP, TCP) each have one
:class:`labkit.fields.Layout`; their struct, byte spans and table rows come from
it. Computed fields (lengths, checksums) take no part in equality, so what is
built equals what is parsed back from its bytes.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import LabkitError
from labkit.fields import Layout
from labkit.link import ethernet
from labkit.link.ethernet import EthernetFrame, VLANTag
from labkit.link.mac import MACAddress
from labkit.net import arp, icmp, ipv4
from labkit.net.arp import ARPPacket
from labkit.net.icmp import ICMPMessage
from labkit.net.ipv4 import IPv4Packet
from labkit.transport import tcp, udp
from labkit.transport.tcp import TCPSegment, tcp_options
from labkit.transport.udp import UDPDatagram

ROOT = Path(__file__).resolve().parents[1]

macs = st.integers(0, 2**48 - 1).map(MACAddress)
addresses = st.integers(0, 2**32 - 1).map(IPv4Address)
u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
ethertypes = st.integers(0x0600, 0xFFFF).filter(lambda t: t != 0x8100)
vlans = st.none() | st.builds(VLANTag, vid=st.integers(0, 4094), pcp=st.integers(0, 7), dei=st.booleans())


@given(macs, macs, ethertypes, st.binary(min_size=46, max_size=1500), vlans)
def test_ethernet_round_trip(dst, src, ethertype, payload, vlan):
    frame = EthernetFrame(dst, src, ethertype, payload, vlan)
    assert EthernetFrame.parse(frame.pack()) == frame
    assert EthernetFrame.parse(frame.pack(fcs=False), fcs=False) == frame


@given(macs, macs, ethertypes, st.binary(max_size=45))
def test_ethernet_round_trip_of_a_padded_frame_given_the_payload_length(dst, src, ethertype, payload):
    # A frame cannot tell padding from data: the upper layer's length field says where data ends.
    frame = EthernetFrame(dst, src, ethertype, payload)
    assert EthernetFrame.parse(frame.pack(), payload_length=len(payload)) == frame


@given(st.sampled_from([arp.REQUEST, arp.REPLY]), macs, addresses, macs, addresses)
def test_arp_round_trip(operation, sender_mac, sender_ip, target_mac, target_ip):
    packet = ARPPacket(operation=operation, sender_mac=sender_mac, sender_ip=sender_ip,
                       target_mac=target_mac, target_ip=target_ip)
    assert ARPPacket.parse(packet.pack()) == packet


@given(
    src=addresses, dst=addresses, ttl=u8, protocol=u8, identification=u16,
    dscp=st.integers(0, 63), ecn=st.integers(0, 3), reserved_flag=st.booleans(),
    dont_fragment=st.booleans(), more_fragments=st.booleans(),
    fragment_offset=st.integers(0, 0x1FFF),
    options=st.integers(0, 10).flatmap(lambda words: st.binary(min_size=4 * words, max_size=4 * words)),
    payload=st.binary(max_size=2000),
)
def test_ipv4_round_trip(**fields):
    packet = IPv4Packet(**fields)
    again = IPv4Packet.parse(packet.pack())
    assert again == packet
    assert (again.total_length, again.checksum) == (packet.length, packet.computed_checksum())


@given(
    st.sampled_from([0, 3, 5, 8, 11, 12, 13, 40, 255]), u8, u32,
    st.binary(min_size=28, max_size=600),
)
def test_icmp_round_trip(type_, code, rest, data):
    message = ICMPMessage(type_, code, rest=rest, data=data)
    again = ICMPMessage.parse(message.pack())
    assert again == message and again.checksum is not None


@given(u16, u16, st.binary(max_size=1500), addresses, addresses)
def test_udp_round_trip(src_port, dst_port, payload, src, dst):
    datagram = UDPDatagram(src_port, dst_port, payload)
    again = UDPDatagram.parse(datagram.pack(src, dst), src, dst)
    assert again == datagram and again.checksum != 0  # a computed 0 is sent as 0xFFFF
    assert UDPDatagram.parse(datagram.pack()) == datagram  # no checksum (0): nothing to verify


tcp_option_lists = st.builds(
    tcp_options, mss=st.none() | st.integers(1, 0xFFFF), window_scale=st.none() | st.integers(0, 14),
    sack_permitted=st.booleans(),
)


@given(
    src_port=u16, dst_port=u16, seq=u32, ack=u32, flags=u8, window=u16, urgent=u16,
    payload=st.binary(max_size=1460), options=tcp_option_lists, src=addresses, dst=addresses,
)
def test_tcp_round_trip(src, dst, **fields):
    segment = TCPSegment(**fields)
    assert TCPSegment.parse(segment.pack(src, dst), src, dst) == segment
    assert TCPSegment.parse(segment.pack()) == segment


def test_built_and_parsed_copies_are_equal_and_hash_alike():
    packet = IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=17, payload=b"x")
    parsed = IPv4Packet.parse(packet.pack())
    assert parsed.checksum is not None and packet.checksum is None
    assert parsed == packet and hash(parsed) == hash(packet)
    datagram = UDPDatagram(5, 6, b"y")
    assert UDPDatagram.parse(datagram.pack("1.1.1.1", "2.2.2.2"), "1.1.1.1", "2.2.2.2") == datagram
    assert datagram != UDPDatagram(5, 6, b"z")  # the fields that are not computed still count


# -- one layout per header, and the display follows it -----------------------------------------

SAMPLES = {
    ethernet: EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01", 0x0800, bytes(50)),
    arp: ARPPacket.request("02:00:00:00:00:01", "10.0.0.1", "10.0.0.2"),
    ipv4: IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=6, options=bytes(4), payload=b"hi"),
    icmp: ICMPMessage.unreachable(3, IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=17,
                                                payload=bytes(8))),
    udp: UDPDatagram(1000, 53, b"query"),
    tcp: TCPSegment(1000, 80, seq=1, flags=2, options=tcp_options(mss=1460), payload=b"data"),
}


@pytest.mark.parametrize("module", SAMPLES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_the_display_follows_the_layout(module):
    layout: Layout = module.LAYOUT
    header = SAMPLES[module]
    spans, rows = header.spans(), header.fields()
    raw = header.pack()
    # the hex map's spans and the table's rows name the same fields in the same order, so that
    # each row wears its field's colour; the fixed part's names come from the layout
    assert [s[2] for s in spans] == [r[0] for r in rows]
    assert [s[2] for s in spans][: len(layout.fields)] == [f.name for f in layout.fields]
    for start, end, _ in spans:
        assert 0 <= start < end <= len(raw)
    assert layout.struct.size == layout.size == layout.fields[-1].end


def test_no_header_module_writes_its_own_struct():
    for module in SAMPLES:
        source = Path(module.__file__).read_text()
        assert "struct.Struct(" not in source and "import struct" not in source, module.__name__


def test_the_layout_reads_a_field_where_the_struct_puts_it():
    packet = IPv4Packet(src="10.0.0.1", dst="10.0.0.2", ttl=9, protocol=17, payload=b"x")
    raw = packet.pack()
    assert ipv4.LAYOUT.read(raw, "TTL") == 9
    assert ipv4.LAYOUT.read(raw, "checksum") == packet.computed_checksum()
    assert ipv4.LAYOUT.span("checksum") == (10, 12)
    with pytest.raises(LabkitError, match="field='nope'"):
        ipv4.LAYOUT.field("nope")


# -- bad input gets labkit's own error -----------------------------------------------------------

PARSERS = {
    "ethernet": EthernetFrame.parse,
    "arp": ARPPacket.parse,
    "ipv4": IPv4Packet.parse,
    "icmp": ICMPMessage.parse,
    "udp": UDPDatagram.parse,
    "tcp": TCPSegment.parse,
}


@pytest.mark.parametrize("name", PARSERS)
@pytest.mark.parametrize("bad", [None, "abc", 20, [1, 2, 3], 3.5])
def test_parsers_refuse_what_is_not_bytes_with_a_labkit_error(name, bad):
    with pytest.raises(LabkitError, match="expected bytes"):
        PARSERS[name](bad)


@pytest.mark.parametrize("name", PARSERS)
@given(st.binary(max_size=80))
def test_parsers_raise_only_labkit_errors_on_any_bytes(name, data):
    try:
        PARSERS[name](data)
    except LabkitError:
        pass
