"""RFC 1071 checksum against a word-by-word reference and known headers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from labkit.net.checksum import internet_checksum, ones_complement_sum


def reference(data: bytes) -> int:
    """Word-by-word ones' complement addition, exactly as RFC 1071 describes it."""
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for i in range(0, len(data), 2):
        total += (data[i] << 8) | data[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def test_known_ipv4_header():
    # A classic example header (checksum field zeroed): 45 00 00 73 00 00 40 00 40 11 ....
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert internet_checksum(header) == 0xB861
    filled = header[:10] + (0xB861).to_bytes(2, "big") + header[12:]
    assert internet_checksum(filled) == 0  # a receiver's check


def test_rfc1071_example_sum():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    assert ones_complement_sum(bytes.fromhex("0001f203f4f5f6f7")) == 0xDDF2


@given(st.binary(max_size=300))
def test_matches_reference_and_verifies_itself(data):
    assert internet_checksum(data) == reference(data)
    padded = data + b"\x00" * (len(data) % 2)
    # A message followed by its own checksum sums to 0xFFFF: the receiver's check gives 0.
    assert internet_checksum(padded + internet_checksum(data).to_bytes(2, "big")) == 0


@given(st.binary(max_size=64), st.binary(max_size=64).map(lambda b: b + b"\x00" * (len(b) % 2)))
def test_partial_sums_chain(head, tail):
    # Summing a pseudo-header separately and passing it as start equals summing both at once.
    head = head + b"\x00" * (len(head) % 2)
    assert internet_checksum(tail, ones_complement_sum(head)) == internet_checksum(head + tail)
