"""The Internet checksum (RFC 1071), used by IPv4, ICMP, UDP and TCP.

The data is read as a sequence of 16-bit big-endian words (an odd final byte
is padded with a zero byte); the words are added with end-around carry (ones'
complement addition) and the sum is inverted. A receiver sums the whole
header *including* the checksum field: a correct header sums to 0xFFFF, so
:func:`internet_checksum` over it returns 0.
"""

from __future__ import annotations

import sys

__all__ = ["internet_checksum", "ones_complement_sum"]


def ones_complement_sum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The 16-bit ones' complement sum of ``data``, added to ``start``.

    Summing all words as one big integer first and folding the carries
    afterwards gives the same result as adding word by word (RFC 1071, 2(B)),
    and lets Python add in C.
    """
    raw = bytes(data)
    if len(raw) % 2:
        raw += b"\x00"
    total = start + sum(memoryview(raw).cast("H")) if sys.byteorder == "big" else start + sum(
        memoryview(_swap16(raw)).cast("H")
    )
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _swap16(raw: bytes) -> bytes:
    """Swap the bytes of each 16-bit word, so a little-endian machine reads big-endian words."""
    swapped = bytearray(len(raw))
    swapped[0::2] = raw[1::2]
    swapped[1::2] = raw[0::2]
    return bytes(swapped)


def internet_checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The RFC 1071 checksum of ``data`` (with an optional partial sum, e.g. a pseudo-header)."""
    return ~ones_complement_sum(data, start) & 0xFFFF
