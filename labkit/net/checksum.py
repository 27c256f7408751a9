"""The Internet checksum (RFC 1071), used by IPv4, ICMP, UDP and TCP.

The data is read as a sequence of 16-bit big-endian words (an odd final byte
is padded with a zero byte); the words are added with end-around carry (ones'
complement addition) and the sum is inverted. A receiver sums the whole
header *including* the checksum field: a correct header sums to 0xFFFF, so
:func:`internet_checksum` over it returns 0.
"""

from __future__ import annotations

__all__ = ["internet_checksum", "ones_complement_sum"]


def ones_complement_sum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The 16-bit ones' complement sum of ``data``, added to ``start``.

    Adding with end-around carry is addition modulo 0xFFFF (2**16 = 1 mod
    0xFFFF, so each carry out of bit 15 comes back in at bit 0), with 0xFFFF
    standing for a non-zero multiple of 0xFFFF (RFC 1071, 2(A)-(B)). Reading
    all the words as one big integer is the same sum modulo 0xFFFF, since
    each word's weight 2**(16k) is 1 modulo 0xFFFF: one ``int.from_bytes``
    and one ``%``, both in C.
    """
    raw = data if isinstance(data, bytes) else bytes(data)
    if len(raw) % 2:
        raw += b"\x00"
    total = int.from_bytes(raw, "big") + start
    if not total:
        return 0
    return total % 0xFFFF or 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The RFC 1071 checksum of ``data`` (with an optional partial sum, e.g. a pseudo-header)."""
    return ~ones_complement_sum(data, start) & 0xFFFF
