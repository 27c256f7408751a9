"""UDP and TCP headers: golden bytes both ways, round trips, and hostile input."""

from __future__ import annotations

import struct
from ipaddress import IPv4Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit import LabkitError, ParseError
from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.udp import MAX_IPV4_PAYLOAD, UDPDatagram

SRC, DST = IPv4Address("192.168.1.10"), IPv4Address("192.168.1.20")


def reference_checksum(pseudo: bytes, data: bytes) -> int:
    """RFC 768 / 9293 checksum computed word by word, independently of labkit."""
    blob = pseudo + data + b"\x00" * (len(data) % 2)
    total = 0
    for i in range(0, len(blob), 2):
        total += (blob[i] << 8) | blob[i + 1]
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo(protocol: int, length: int) -> bytes:
    return SRC.packed + DST.packed + bytes([0, protocol]) + length.to_bytes(2, "big")


# --- UDP ---------------------------------------------------------------------------------------

UDP_GOLDEN = bytes.fromhex("d43100350011") + b"\x00\x00" + b"labkit ping"  # checksum filled below


def golden_udp() -> bytes:
    raw = bytearray(UDP_GOLDEN[:6] + b"\x00\x00" + UDP_GOLDEN[8:])
    raw[4:6] = (len(raw)).to_bytes(2, "big")
    raw[6:8] = reference_checksum(pseudo(17, len(raw)), bytes(raw)).to_bytes(2, "big")
    return bytes(raw)


def test_udp_golden_pack_and_parse():
    raw = golden_udp()
    assert UDPDatagram(54321, 53, b"labkit ping").pack(SRC, DST) == raw
    d = UDPDatagram.parse(raw, SRC, DST)
    assert (d.src_port, d.dst_port, d.payload, d.length) == (54321, 53, b"labkit ping", 19)
    assert d.summary() == "UDP 54321 > 53 len=11"


def test_udp_datagrams_survive_copy_and_pickle():
    import copy
    import pickle

    for d in (UDPDatagram(54321, 53, b"labkit ping"), UDPDatagram.parse(golden_udp(), SRC, DST)):
        for clone in (copy.copy(d), copy.deepcopy(d), pickle.loads(pickle.dumps(d))):
            assert type(clone) is UDPDatagram and clone == d and clone.pack(SRC, DST) == d.pack(SRC, DST)


def test_udp_checksum_zero_means_none_and_bad_checksum_is_caught():
    raw = UDPDatagram(1, 2, b"x").pack()  # no addresses: checksum 0, "not computed"
    assert raw[6:8] == b"\x00\x00"
    assert UDPDatagram.parse(raw, SRC, DST).payload == b"x"
    bad = bytearray(golden_udp())
    bad[-1] ^= 0x01
    with pytest.raises(ParseError, match="udp: checksum"):
        UDPDatagram.parse(bytes(bad), SRC, DST)


def test_udp_empty_datagram_and_size_limits():
    empty = UDPDatagram(5000, 6000).pack(SRC, DST)
    assert len(empty) == 8 and UDPDatagram.parse(empty, SRC, DST).payload == b""
    assert MAX_IPV4_PAYLOAD == 65507
    with pytest.raises(LabkitError, match="payload: 65528 bytes"):
        UDPDatagram(1, 2, bytes(65528))
    with pytest.raises(LabkitError, match="dst_port=70000"):
        UDPDatagram(1, 70000)


@pytest.mark.parametrize("args, field", [
    ((True, 1), "src_port=True"),
    ((-1, 2), "src_port=-1"),
    ((1, 2, "text"), "payload"),
    ((1, 2, b"", -1), "length=-1"),
    ((1, 2, b"", None, 0x10000), "checksum=65536"),
])
def test_udp_bad_fields_name_the_field(args, field):
    with pytest.raises(LabkitError, match=field):
        UDPDatagram(*args)


@pytest.mark.parametrize("raw, field", [
    (b"\x00\x01\x00", "length=3"),
    (bytes.fromhex("0001000200040000"), "length=4"),
    (bytes.fromhex("00010002002a0000") + b"short", "length=42"),
])
def test_udp_bad_lengths(raw, field):
    with pytest.raises(ParseError, match=field):
        UDPDatagram.parse(raw)


@given(st.integers(0, 65535), st.integers(0, 65535), st.binary(max_size=600))
def test_udp_round_trip(sport, dport, payload):
    d = UDPDatagram.parse(UDPDatagram(sport, dport, payload).pack(SRC, DST), SRC, DST)
    assert (d.src_port, d.dst_port, d.payload) == (sport, dport, payload)


# --- TCP ---------------------------------------------------------------------------------------


def golden_syn() -> bytes:
    """A SYN as Linux sends it, with MSS, SACK-permitted, NOP and window scale (no timestamps)."""
    options = bytes.fromhex("020405b4") + bytes.fromhex("01030307") + bytes.fromhex("01010402")
    header = struct.pack("!HHIIBBHHH", 40000, 80, 0x01020304, 0, (20 + len(options)) // 4 << 4,
                         0x02, 64240, 0, 0) + options
    check = reference_checksum(pseudo(6, len(header)), header)
    return header[:16] + check.to_bytes(2, "big") + header[18:]


def test_tcp_golden_syn_both_ways():
    raw = golden_syn()
    seg = TCPSegment.parse(raw, SRC, DST)
    assert (seg.src_port, seg.dst_port, seg.seq, seg.flags, seg.window) == (
        40000, 80, 0x01020304, Flags.SYN, 64240)
    assert (seg.mss, seg.window_scale, seg.sack_permitted) == (1460, 7, True)
    assert seg.seg_len == 1  # a SYN uses one sequence number
    assert seg.pack(SRC, DST) == raw
    built = TCPSegment(40000, 80, 0x01020304, 0, Flags.SYN, 64240,
                       options=tcp_options(mss=1460, window_scale=7, sack_permitted=True))
    assert built.pack(SRC, DST)[:20] == raw[:20]  # same header, same checksum
    assert sorted(built.options) == sorted(seg.options)


def test_tcp_data_segment_and_summary():
    seg = TCPSegment(80, 40000, 7, 1001, Flags.ACK | Flags.PSH, 65535, b"hello")
    back = TCPSegment.parse(seg.pack(SRC, DST), SRC, DST)
    assert back.payload == b"hello" and back.ack == 1001 and back.flags == Flags.ACK | Flags.PSH
    assert back.summary() == "TCP 80 > 40000 [PSH,ACK] seq=7 ack=1001 win=65535 len=5"
    assert back.seg_len == 5


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r[:19], "length=19"),
    (lambda r: r[:12] + bytes([0x40]) + r[13:], "data offset=4"),
    (lambda r: r[:12] + bytes([0xF0]) + r[13:], "data offset=15"),
    (lambda r: r[:20] + bytes([2, 9]) + r[22:], "option 2 length=9"),
    (lambda r: r[:20] + bytes([2, 3]) + r[22:], "option 2 length=3"),
])
def test_tcp_malformed(mutate, field):
    with pytest.raises(ParseError, match=field):
        TCPSegment.parse(mutate(golden_syn()))  # structure only: no checksum to hide behind


def test_tcp_reserved_bits_are_ignored():
    """RFC 9293 3.1: reserved bits (NS, AccECN's AE) must be ignored by a receiver."""
    raw = golden_syn()
    for bits in (1, 0x0F):
        seg = TCPSegment.parse(raw[:12] + bytes([(raw[12] & 0xF0) | bits]) + raw[13:])
        assert seg.flags == Flags.SYN and seg.mss == 1460


def linux_syn_options() -> bytes:
    """Linux's SYN options: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7."""
    return bytes.fromhex("020405b4" "0402" "080a" "0001e240" "00000000" "01" "030307")


def _with_options(options: bytes) -> bytes:
    return struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, (20 + len(options)) // 4 << 4,
                       0x02, 64240, 0, 0) + options


def test_tcp_linux_syn_with_timestamps_both_ways():
    raw = _with_options(linux_syn_options())
    seg = TCPSegment.parse(raw)
    assert (seg.mss, seg.sack_permitted, seg.timestamps, seg.window_scale) == (1460, True, (123456, 0), 7)
    built = TCPSegment(40000, 80, 1, 0, Flags.SYN, 64240, options=tcp_options(
        mss=1460, window_scale=7, sack_permitted=True, timestamps=(123456, 0)))
    assert built.pack() == raw  # the same bytes, in Linux's order
    assert "wscale=7 sackOK TSval=123456 TSecr=0" in built.summary()


def test_tcp_sack_blocks_round_trip():
    blocks = ((1000, 2000), (3000, 4000), (2**32 - 10, 5))
    seg = TCPSegment(1, 2, 3, 4, Flags.ACK, 100, options=tcp_options(timestamps=(7, 8), sack=blocks))
    back = TCPSegment.parse(seg.pack(SRC, DST), SRC, DST)
    assert back.sack == blocks and back.timestamps == (7, 8)
    assert len(seg.pack()) == 20 + 12 + 28  # NOP NOP TS, NOP NOP SACK(3 blocks): 40 bytes
    with pytest.raises(LabkitError, match="at most 4"):
        tcp_options(sack=((1, 2),) * 5)


@pytest.mark.parametrize("option, field", [
    ("080801020304" "0000", "option 8 length=8"),          # timestamps must be 10
    ("050a0000000100000002" "05060000" "0001", "option 5 length=6"),  # SACK: 2 + 8n
    ("050c" + "00" * 10, "option 5 length=12"),
    ("0502" "0000", "option 5 length=2"),
])
def test_tcp_sack_and_timestamps_of_wrong_length_are_refused(option, field):
    with pytest.raises(ParseError, match=field):
        TCPSegment.parse(_with_options(bytes.fromhex(option)))


def test_tcp_window_scale_above_14_reads_as_14():
    seg = TCPSegment.parse(_with_options(bytes.fromhex("01030363")))  # NOP, WS 99
    assert seg.window_scale == 14


def test_tcp_bad_checksum_names_the_field():
    raw = bytearray(golden_syn())
    raw[4] ^= 0x80
    with pytest.raises(ParseError, match="tcp: checksum"):
        TCPSegment.parse(bytes(raw), SRC, DST)


@given(
    st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1), st.integers(0, 255), st.integers(0, 65535),
    st.binary(max_size=300), st.one_of(st.none(), st.integers(1, 65535)),
)
def test_tcp_round_trip(sport, dport, seq, ack, flags, window, payload, mss):
    seg = TCPSegment(sport, dport, seq, ack, Flags(flags), window, payload, tcp_options(mss=mss))
    back = TCPSegment.parse(seg.pack(SRC, DST), SRC, DST)
    assert (back.src_port, back.dst_port, back.seq, back.ack, back.flags, back.window,
            back.payload, back.mss) == (sport, dport, seq, ack, Flags(flags), window, payload, mss)


def _mutations(raw: bytes):
    return st.one_of(
        st.binary(max_size=80),
        st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)).map(
            lambda t: raw[:t[0]] + bytes([t[1]]) + raw[t[0] + 1:]),
        st.integers(0, len(raw)).map(lambda n: raw[:n]),
        st.binary(max_size=20).map(lambda extra: raw + extra),
    )


@settings(max_examples=FUZZ_EXAMPLES)
@given(data=_mutations(golden_syn()), check=st.booleans())
def test_tcp_parser_raises_only_labkit_errors(data, check):
    try:
        TCPSegment.parse(data, SRC if check else None, DST if check else None)
    except LabkitError:
        pass


def golden_data_with_sack() -> bytes:
    """A data segment as labkit sends it with SACK and timestamps agreed (NOP NOP TS, NOP NOP SACK)."""
    seg = TCPSegment(80, 40000, 1000, 2000, Flags.ACK, 512, b"payload",
                     tcp_options(timestamps=(123, 456), sack=((3000, 4000), (5000, 6000))))
    return seg.pack(SRC, DST)


@settings(max_examples=FUZZ_EXAMPLES)
@given(data=st.one_of(_mutations(_with_options(linux_syn_options())),
                      _mutations(golden_data_with_sack())), check=st.booleans())
def test_tcp_parser_with_timestamps_and_sack_raises_only_labkit_errors(data, check):
    try:
        seg = TCPSegment.parse(data, SRC if check else None, DST if check else None)
    except LabkitError:
        return
    # whatever parsed, its options read without raising
    assert seg.window_scale is None or 0 <= seg.window_scale <= 14
    assert all(len(b) == 2 for b in seg.sack) and len(seg.sack) <= 4
    assert seg.timestamps is None or len(seg.timestamps) == 2


@settings(max_examples=FUZZ_EXAMPLES)
@given(data=_mutations(golden_udp()), check=st.booleans())
def test_udp_parser_raises_only_labkit_errors(data, check):
    try:
        UDPDatagram.parse(data, SRC if check else None, DST if check else None)
    except LabkitError:
        pass


def test_jupyter_display_names_the_fields():
    seg = TCPSegment(1, 2, 3, 4, Flags.SYN, 100, b"hi", tcp_options(mss=1460))
    html = seg._repr_html_()
    for word in ("sequence number", "window", "options", "mss=1460"):
        assert word in html
    assert ("flags", "SYN", "control bits") in seg.fields()
    html = UDPDatagram(5, 53, b"q")._repr_html_()
    assert "destination port" in html and "53" in html
