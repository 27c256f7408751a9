"""ICMP messages: golden bytes built with Scapy 2.6.1, round trips, errors, fuzzing."""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES
from test_net_ipv4 import SCAPY_PING, mutated

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.net.checksum import internet_checksum
from labkit.net.icmp import ICMPMessage, ICMPType, TimeExceeded, Unreachable, quote
from labkit.net.ipv4 import ICMP, UDP, IPv4Packet

# IP(src="10.0.0.254", dst="192.168.1.10")/ICMP(type=11, code=0)/raw(
#     IP(src="192.168.1.10", dst="10.0.0.1", ttl=1, id=5)/ICMP(type=8, id=1, seq=9)/b"xy")
SCAPY_TIME_EXCEEDED = bytes.fromhex(
    "4500003a000100004001ae120a0000fec0a8010a0b00f4ff000000004500001e000500000101ee27c0a8010a"
    "0a00000108007f7c000100097879"
)
# IP(src="10.0.0.254", dst="192.168.1.10")/ICMP(type=3, code=4, nexthopmtu=1400)/raw(
#     IP(src="192.168.1.10", dst="10.0.0.1", flags="DF", id=6, proto=17)/b"12345678abcdef")[:28]
SCAPY_FRAG_NEEDED = bytes.fromhex(
    "45000038000100004001ae140a0000fec0a8010a030426af00000578450000220006400040116f12c0a8010a"
    "0a0000013132333435363738"
)


def test_golden_echo_request():
    msg = ICMPMessage.parse(SCAPY_PING[20:])
    assert (msg.type, msg.code, msg.checksum, msg.identifier, msg.sequence) == (8, 0, 0x3B27, 0x1234, 1)
    assert msg.data == b"abcdefghijklmnopqrstuvwabcdefghi"
    assert ICMPMessage.echo_request(0x1234, 1, msg.data).pack() == SCAPY_PING[20:]
    assert msg.summary() == "ICMP echo request, id 4660, seq 1, length 40"


def test_echo_reply_echoes():
    req = ICMPMessage.echo_request(7, 3, b"payload")
    rep = req.reply()
    assert (rep.type, rep.identifier, rep.sequence, rep.data) == (ICMPType.ECHO_REPLY, 7, 3, b"payload")
    assert internet_checksum(rep.pack()) == 0
    with pytest.raises(LabkitValueError, match="only an echo request"):
        rep.reply()


def test_golden_time_exceeded():
    outer = IPv4Packet.parse(SCAPY_TIME_EXCEEDED)
    msg = ICMPMessage.parse(outer.payload)
    assert (msg.type, msg.code) == (ICMPType.TIME_EXCEEDED, TimeExceeded.TTL)
    orig = msg.original
    assert (orig.src, orig.dst, orig.ttl, orig.identification) == (
        IPv4Address("192.168.1.10"), IPv4Address("10.0.0.1"), 1, 5)
    inner = ICMPMessage.parse(orig.payload, verify_checksum=False)
    assert (inner.identifier, inner.sequence) == (1, 9)  # the quoted 8 bytes identify the ping
    offending = IPv4Packet(src="192.168.1.10", dst="10.0.0.1", ttl=1, identification=5, protocol=ICMP,
                           payload=ICMPMessage.echo_request(1, 9, b"xy").pack())
    # labkit quotes header + 8 bytes (RFC 792); Scapy was given the whole 30-byte packet
    # (RFC 1812 lets routers quote more), so compare both ways
    assert ICMPMessage.time_exceeded(offending).data == msg.data[:28]
    built = ICMPMessage(ICMPType.TIME_EXCEEDED, 0, None, 0, offending.pack())
    assert built.pack() == outer.payload
    wrapped = IPv4Packet(src="10.0.0.254", dst="192.168.1.10", identification=1, protocol=ICMP,
                         payload=built.pack())
    assert wrapped.pack() == SCAPY_TIME_EXCEEDED
    assert msg.summary() == "ICMP time exceeded: TTL exceeded in transit, about 192.168.1.10 > 10.0.0.1"


def test_golden_fragmentation_needed():
    msg = ICMPMessage.parse(IPv4Packet.parse(SCAPY_FRAG_NEEDED).payload)
    assert (msg.type, msg.code, msg.next_hop_mtu) == (3, Unreachable.FRAGMENTATION_NEEDED, 1400)
    assert msg.original.dont_fragment and msg.original.protocol == UDP
    offending = IPv4Packet(src="192.168.1.10", dst="10.0.0.1", dont_fragment=True, identification=6,
                           protocol=UDP, payload=b"12345678abcdef")
    assert ICMPMessage.unreachable(4, offending, next_hop_mtu=1400).pack() == msg.pack()
    assert "(mtu 1400)" in msg.summary()


@pytest.mark.parametrize("code, name", [(0, "net"), (1, "host"), (3, "port")])
def test_unreachable_codes_quote_header_plus_8(code, name):
    p = IPv4Packet(src="1.1.1.1", dst="2.2.2.2", protocol=UDP, payload=bytes(range(40)))
    msg = ICMPMessage.unreachable(code, p)
    assert msg.data == p.header() + bytes(range(8))
    assert msg.data == quote(p.pack())
    assert name in msg.summary()
    again = ICMPMessage.parse(msg.pack())
    assert again.original.payload == bytes(range(8)) and again.original.total_length == 60


def test_errors_need_a_quote_and_valid_fields():
    with pytest.raises(ParseError) as info:
        ICMPMessage.parse(ICMPMessage(3, 1, None, 0, b"short").pack())
    assert info.value.field == "data"
    with pytest.raises(ParseError) as info:
        ICMPMessage.parse(b"\x08\x00\x00")
    assert info.value.field == "length"
    bad = bytearray(SCAPY_PING[20:])
    bad[10] ^= 1
    with pytest.raises(ParseError, match="checksum=.0x3b27.: .*should be 0x3c27") as info:
        ICMPMessage.parse(bytes(bad))
    assert info.value.field == "checksum"
    with pytest.raises(LabkitValueError, match="sequence=70000"):
        ICMPMessage.echo_request(1, 70000)
    with pytest.raises(LabkitValueError, match="code 4"):
        ICMPMessage.unreachable(1, SCAPY_PING, next_hop_mtu=1400)
    with pytest.raises(LabkitError, match="only error messages"):
        _ = ICMPMessage.echo_request(1, 1).original


messages = st.builds(
    ICMPMessage, st.integers(0, 255), st.integers(0, 255), st.none(), st.integers(0, 2**32 - 1),
    st.binary(min_size=28, max_size=100),
)


@given(messages)
def test_round_trip(msg):
    data = msg.pack()
    assert internet_checksum(data) == 0
    again = ICMPMessage.parse(data)
    assert again.pack() == data and (again.type, again.code, again.rest, again.data) == (
        msg.type, msg.code, msg.rest, msg.data)
    again.summary()
    assert "<table" in again._repr_html_()


@settings(max_examples=FUZZ_EXAMPLES)
@given(mutated([SCAPY_PING[20:], SCAPY_TIME_EXCEEDED[20:], SCAPY_FRAG_NEEDED[20:]]))
def test_fuzz_parse_raises_only_labkit_errors(data):
    for verify in (True, False):
        try:
            msg = ICMPMessage.parse(data, verify_checksum=verify)
        except LabkitError:
            continue
        msg.summary()
        repr(msg)
        msg.pack()
        if msg.is_error:
            try:
                msg.original.summary()
            except LabkitError:
                pass
