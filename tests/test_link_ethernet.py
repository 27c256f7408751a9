"""EthernetFrame: golden bytes, round trips, sizes, errors, fuzzing, display.

The golden frames were built with Scapy 2.8.0 (and cross-checked with dpkt
1.9.8) outside this project; captures hold frames without their FCS.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.link import (
    BROADCAST,
    FCS_LENGTH,
    HEADER_LENGTH,
    MAX_FRAME_LENGTH,
    MAX_PAYLOAD,
    MAX_TAGGED_FRAME_LENGTH,
    MIN_FRAME_LENGTH,
    MIN_PAYLOAD,
    EthernetFrame,
    EtherType,
    MACAddress,
    VLANTag,
    crc,
    fcs,
)

# Scapy: Ether(dst=ff.., src=00:1b:21:3a:4f:5e)
#        /ARP(op=1, hwsrc=.., psrc=192.168.1.10, pdst=192.168.1.1)
ARP_BYTES = bytes.fromhex(
    "ffffffffffff001b213a4f5e08060001080006040001001b213a4f5ec0a8010a000000000000c0a80101"
)
ARP_PAYLOAD = ARP_BYTES[14:]
ARP_FRAME = EthernetFrame(BROADCAST, MACAddress("00:1b:21:3a:4f:5e"), EtherType.ARP, ARP_PAYLOAD)

# Scapy: Ether(dst=00:1b:21:3a:4f:5e, src=52:54:00:12:34:56)/Dot1Q(prio=5, id=1, vlan=42)
#        /IP(src=10.0.0.1, dst=10.0.0.2, id=1)/UDP(sport=5000, dport=53)/Raw(b"labkit golden frame")
VLAN_BYTES = bytes.fromhex(
    "001b213a4f5e5254001234568100b02a08004500002f00010000401166bb0a0000010a0000021388"
    "0035001b107e6c61626b697420676f6c64656e206672616d65"
)
VLAN_FRAME = EthernetFrame(
    "00:1b:21:3a:4f:5e", "52:54:00:12:34:56", EtherType.IPV4, VLAN_BYTES[18:],
    vlan=VLANTag(vid=42, pcp=5, dei=True),
)

# Scapy: Ether(dst=33:33:00:00:00:01, src=02:42:ac:11:00:02)/IPv6(fe80::42:acff:fe11:2 > ff02::1)
#        /ICMPv6EchoRequest(id=7, seq=1, data=b"ping")
IPV6_BYTES = bytes.fromhex(
    "3333000000010242ac11000286dd60000000000c3a40fe800000000000000042acfffe110002ff02"
    "00000000000000000000000000018000f8050007000170696e67"
)
IPV6_FRAME = EthernetFrame(
    "33:33:00:00:00:01", "02:42:ac:11:00:02", EtherType.IPV6, IPV6_BYTES[14:]
)


# -- golden bytes: smoltcp's four tests (parse, fields, pack, round trip) ----------------------
def test_parse_golden_arp():
    frame = EthernetFrame.parse(ARP_BYTES, fcs=False)
    assert frame.dst == BROADCAST
    assert frame.src == MACAddress("00:1b:21:3a:4f:5e")
    assert frame.ethertype == 0x0806 == EtherType.ARP
    assert frame.payload == ARP_PAYLOAD and len(frame.payload) == 28
    assert frame.vlan is None


def test_pack_golden_arp_pads_to_the_minimum():
    wire = ARP_FRAME.pack(fcs=False)
    assert wire == ARP_BYTES + bytes(MIN_PAYLOAD - 28)
    assert len(wire) == 60
    with_fcs = ARP_FRAME.pack()
    assert len(with_fcs) == MIN_FRAME_LENGTH == 64
    # the FCS is the bit-by-bit CRC-32 (independent of zlib), least significant byte first
    assert with_fcs[-4:] == crc.crc32(wire).to_bytes(4, "little")


def test_parse_golden_vlan():
    frame = EthernetFrame.parse(VLAN_BYTES, fcs=False)
    assert frame.vlan == VLANTag(vid=42, pcp=5, dei=True)
    assert frame.vlan.tci == 0xB02A
    assert frame.ethertype == EtherType.IPV4
    assert frame.payload.endswith(b"labkit golden frame")
    assert frame == VLAN_FRAME


def test_pack_golden_vlan_and_ipv6():
    assert VLAN_FRAME.pack(fcs=False) == VLAN_BYTES  # 65 bytes: no padding needed
    assert IPV6_FRAME.pack(fcs=False) == IPV6_BYTES
    assert EthernetFrame.parse(IPV6_BYTES, fcs=False) == IPV6_FRAME
    assert IPV6_FRAME.dst.is_multicast


@pytest.mark.parametrize("frame", [ARP_FRAME, VLAN_FRAME, IPV6_FRAME])
def test_golden_round_trip_with_fcs(frame):
    wire = frame.pack()
    assert zlib.crc32(wire) == crc.RESIDUE  # an intact frame leaves the CRC residue
    back = EthernetFrame.parse(wire, payload_length=len(frame.payload))
    assert back == frame
    assert back.pack() == wire


@pytest.mark.parametrize("frame", [ARP_FRAME, VLAN_FRAME, IPV6_FRAME])
def test_frames_survive_copy_and_pickle(frame):
    import copy
    import pickle

    for clone in (copy.copy(frame), copy.deepcopy(frame), pickle.loads(pickle.dumps(frame))):
        assert type(clone) is EthernetFrame and clone == frame and clone.pack() == frame.pack()


# -- sizes -----------------------------------------------------------------------------------
def test_sizes_follow_from_the_fields():
    assert HEADER_LENGTH == 6 + 6 + 2 == 14  # not 18: the EtherType is 2 bytes
    assert HEADER_LENGTH + FCS_LENGTH == 18  # the 18 bytes of overhead
    assert MIN_FRAME_LENGTH == 64 and MIN_FRAME_LENGTH * 8 == 512  # one slot time
    assert MAX_FRAME_LENGTH == 1518 and MAX_TAGGED_FRAME_LENGTH == 1522
    smallest = EthernetFrame(BROADCAST, 1, 0x0800, b"")
    assert len(smallest.pack()) == MIN_FRAME_LENGTH
    largest = EthernetFrame(BROADCAST, 1, 0x0800, bytes(MAX_PAYLOAD))
    assert len(largest.pack()) == largest.wire_length() == MAX_FRAME_LENGTH
    tagged = EthernetFrame(BROADCAST, 1, 0x0800, bytes(MAX_PAYLOAD), vlan=VLANTag(1))
    assert len(tagged.pack()) == MAX_TAGGED_FRAME_LENGTH
    short_tagged = EthernetFrame(BROADCAST, 1, 0x0800, b"", vlan=VLANTag(1))
    assert len(short_tagged.pack()) == MIN_FRAME_LENGTH  # 42 bytes of padding, not 46
    assert short_tagged.padding_length == 42


def test_payload_over_the_mtu_is_refused_not_fragmented():
    with pytest.raises(LabkitValueError, match="does not fragment"):
        EthernetFrame(BROADCAST, 1, 0x0800, bytes(MAX_PAYLOAD + 1))


def test_padding_is_removed_by_length_hint_or_trimmed():
    frame = EthernetFrame(BROADCAST, 1, 0x0800, b"abc")
    parsed = EthernetFrame.parse(frame.pack())
    assert parsed.payload == b"abc" + bytes(43)
    assert parsed.trimmed(3) == frame
    assert EthernetFrame.parse(frame.pack(), payload_length=3) == frame
    with pytest.raises(ParseError) as info:
        EthernetFrame.parse(frame.pack(), payload_length=47)
    assert info.value.field == "payload_length"
    with pytest.raises(LabkitValueError, match="length=47"):
        parsed.trimmed(47)


# -- round trips of every field -------------------------------------------------------------
mac_st = st.integers(0, 2**48 - 1).map(MACAddress)
ethertype_st = st.integers(0x0600, 0xFFFF).filter(lambda t: t != 0x8100)
vlan_st = st.none() | st.builds(
    VLANTag, vid=st.integers(0, 4094), pcp=st.integers(0, 7), dei=st.booleans()
)
frame_st = st.builds(
    EthernetFrame, mac_st, mac_st, ethertype_st, st.binary(max_size=MAX_PAYLOAD), vlan_st
)


@given(frame_st, st.booleans())
def test_every_field_round_trips(frame, with_fcs):
    wire = frame.pack(fcs=with_fcs)
    assert len(wire) == frame.wire_length(fcs=with_fcs)
    assert MIN_FRAME_LENGTH - (0 if with_fcs else 4) <= len(wire) <= MAX_TAGGED_FRAME_LENGTH
    back = EthernetFrame.parse(wire, fcs=with_fcs, payload_length=len(frame.payload))
    assert back == frame
    assert (back.dst, back.src, back.ethertype, back.vlan) == (
        frame.dst, frame.src, frame.ethertype, frame.vlan
    )
    assert EthernetFrame.parse(wire, fcs=with_fcs).payload[: len(frame.payload)] == frame.payload


@given(frame_st)
def test_fcs_is_crc32_little_endian(frame):
    wire = frame.pack()
    assert wire[-4:] == fcs(wire[:-4]) == zlib.crc32(wire[:-4]).to_bytes(4, "little")


@given(frame_st, st.data())
def test_any_single_bit_flip_is_caught(frame, data):
    wire = bytearray(frame.pack())
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    wire[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(ParseError) as info:
        EthernetFrame.parse(bytes(wire))
    assert info.value.layer == "ethernet" and info.value.field == "fcs"


# -- errors name the field ------------------------------------------------------------------
def _err(data, **kw):
    with pytest.raises(ParseError) as info:
        EthernetFrame.parse(data, **kw)
    assert info.value.layer == "ethernet"
    return info.value


def test_parse_errors_name_layer_and_field():
    good = ARP_FRAME.pack()
    assert _err(good[:10], fcs=False).field == "length"
    assert _err(good[:17]).field == "length"
    runt = _err(good[:30] + fcs(good[:30]))
    assert runt.field == "length" and "runt" in runt.reason
    assert _err(good[:-1] + bytes([good[-1] ^ 1])).field == "fcs"
    e = _err(bytes(12) + (1500).to_bytes(2, "big") + bytes(46), fcs=False)
    assert e.field == "ethertype" and "802.3 length" in e.reason
    e = _err(bytes(12) + (1530).to_bytes(2, "big") + bytes(46), fcs=False)
    assert e.field == "ethertype" and "undefined" in e.reason
    assert _err(bytes(12) + b"\x81\x00\x00", fcs=False).field == "vlan"
    assert _err(bytes(12) + b"\x81\x00\x0f\xff\x08\x00", fcs=False).field == "vid"
    assert _err(bytes(12) + b"\x81\x00\x00\x01\x81\x00", fcs=False).field == "ethertype"
    assert _err(bytes(12) + b"\x08\x00" + bytes(1501), fcs=False).field == "payload"


def test_constructor_errors():
    with pytest.raises(LabkitValueError, match="dst"):
        EthernetFrame("nonsense", 1, 0x0800)
    with pytest.raises(LabkitValueError, match="0x05dc"):
        EthernetFrame(1, 1, 1500)
    with pytest.raises(LabkitValueError, match="vlan="):
        EthernetFrame(1, 1, 0x8100)
    with pytest.raises(LabkitValueError, match="payload"):
        EthernetFrame(1, 1, 0x0800, "text")
    with pytest.raises(LabkitValueError, match="vid=4095"):
        VLANTag(4095)
    with pytest.raises(LabkitValueError, match="pcp=8"):
        VLANTag(1, pcp=8)
    with pytest.raises(LabkitValueError, match="data"):
        EthernetFrame.parse("ff" * 64)


small_frame_st = st.builds(
    EthernetFrame, mac_st, mac_st, ethertype_st, st.binary(max_size=100), vlan_st
)


# -- fuzzing: only labkit errors, ever ------------------------------------------------------
# Inputs come from hypothesis (short, edge-case-heavy byte strings) and from seeded NumPy
# generators (long buffers and mutated real frames, cheap enough for 10,000 runs in CI).
def _seeded_bytes(seed: int, size: int) -> bytes:
    return np.random.default_rng(seed).bytes(size)


random_input = st.binary(max_size=100) | st.builds(
    _seeded_bytes, st.integers(0, 2**32 - 1), st.integers(0, 1600)
)


@settings(max_examples=FUZZ_EXAMPLES)
@given(random_input, st.booleans())
def test_fuzz_random_bytes(data, with_fcs):
    try:
        frame = EthernetFrame.parse(data, fcs=with_fcs)
    except LabkitError:
        return
    assert frame.pack(fcs=False)[: len(data) - 4 * with_fcs] == data[: len(data) - 4 * with_fcs]


def _mutated_frame(seed: int) -> tuple[bytes, bool, int | None]:
    """A valid frame (random fields, maybe tagged, maybe with FCS), then 1-4 random mutations."""
    rng = np.random.default_rng(seed)
    vlan = None
    if rng.random() < 0.3:
        vlan = VLANTag(int(rng.integers(0, 4095)), int(rng.integers(0, 8)))
    frame = EthernetFrame(
        MACAddress.random(rng, local=bool(rng.random() < 0.5)),
        MACAddress.random(rng),
        int(rng.choice([0x0800, 0x0806, 0x86DD, int(rng.integers(0x0600, 0x10000))]))
        if rng.random() < 0.9 else 0x0800,
        rng.bytes(int(rng.choice([0, 10, 46, 100, 1500]) if rng.random() < 0.5
                      else rng.integers(0, MAX_PAYLOAD + 1))),
        vlan,
    )
    with_fcs = bool(rng.random() < 0.5)
    wire = bytearray(frame.pack(fcs=with_fcs))
    for _ in range(int(rng.integers(1, 5))):
        op = rng.integers(0, 4)
        pos = int(rng.integers(0, max(1, len(wire))))
        if op == 0 and wire:
            wire[pos] ^= int(rng.integers(1, 256))
        elif op == 1:
            del wire[pos:]
        elif op == 2:
            wire[pos:pos] = rng.bytes(int(rng.integers(1, 9)))
        elif wire:
            wire[pos] = int(rng.choice([0x00, 0x81, 0x05, 0xFF]))
    hint = None if rng.random() < 0.5 else int(rng.integers(-2, 1601))
    return bytes(wire), with_fcs, hint


@settings(max_examples=FUZZ_EXAMPLES // 10)
@given(st.integers(0, 2**32 - 1))
def test_fuzz_mutated_frames(seed):
    """FUZZ_EXAMPLES inputs, 10 per hypothesis example (its bookkeeping costs more than a parse)."""
    for s in range(seed * 10, seed * 10 + 10):
        note(f"input seed {s}")
        wire, with_fcs, hint = _mutated_frame(s)
        try:
            EthernetFrame.parse(wire, fcs=with_fcs, payload_length=hint)
        except LabkitError:
            pass


@settings(max_examples=FUZZ_EXAMPLES // 10)
@given(small_frame_st, st.data())
def test_fuzz_mutated_frames_shrinkable(frame, data):
    """The same, with hypothesis choosing fields and mutations (fewer runs: slower to draw)."""
    wire = bytearray(frame.pack(fcs=data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        pos = data.draw(st.integers(0, max(0, len(wire) - 1)))
        if op == "flip" and wire:
            wire[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del wire[pos:]
        elif op == "insert":
            wire[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif wire:
            wire[pos] = data.draw(st.sampled_from([0x00, 0x81, 0x05, 0xFF]))
    try:
        EthernetFrame.parse(bytes(wire), fcs=data.draw(st.booleans()),
                            payload_length=data.draw(st.none() | st.integers(-2, 1600)))
    except LabkitError:
        pass


# -- display ---------------------------------------------------------------------------------
def test_summary_and_repr():
    assert ARP_FRAME.summary() == (
        "Ether 00:1b:21:3a:4f:5e > ff:ff:ff:ff:ff:ff ARP (0x0806) 28 bytes"
    )
    assert "vlan 42 pcp 5" in VLAN_FRAME.summary()
    text = repr(ARP_FRAME)
    assert text.startswith("EthernetFrame(dst=MACAddress('ff:ff:ff:ff:ff:ff'), src=")
    assert "ethertype=0x0806" in text and "+ 12 bytes" in text
    short = EthernetFrame(BROADCAST, 1, 0x0800, b"hi")
    assert eval(repr(short), {"EthernetFrame": EthernetFrame, "MACAddress": MACAddress}) == short


def test_html_has_fields_table_and_hex_map():
    html = VLAN_FRAME._repr_html_()
    assert "<table" in html and "EtherType" in html and "802.1Q tag" in html
    assert "VLAN 42, priority 5, drop eligible" in html
    hexes = VLAN_FRAME.pack().hex()
    assert all(f">{hexes[i:i + 2]}</td>" in html for i in range(0, 32, 2))
    assert html == VLAN_FRAME._repr_html_()  # deterministic
    spans = ARP_FRAME.spans()
    assert [s[2] for s in spans] == [
        "destination", "source", "EtherType", "payload", "padding", "FCS"
    ]
    assert spans[-1][1] == len(ARP_FRAME.pack())
