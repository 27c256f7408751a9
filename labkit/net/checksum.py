"""The Internet checksum (RFC 1071), used by IPv4, ICMP, UDP and TCP, and the pseudo-header.

The data is read as a sequence of 16-bit big-endian words (an odd final byte
is padded with a zero byte); the words are added with end-around carry (ones'
complement addition) and the sum is inverted. A receiver sums the whole
header *including* the checksum field: a correct header sums to 0xFFFF, so
:func:`internet_checksum` over it returns 0.

Adding with end-around carry is addition modulo 0xFFFF (2**16 = 1 mod 0xFFFF,
so each carry out of bit 15 comes back in at bit 0), with 0xFFFF standing for a
non-zero multiple of 0xFFFF (RFC 1071, 2(A)-(B)). So any plain sum congruent to
the words' sum modulo 0xFFFF will do, and the headers use that: a header's
fields go into the sum as plain integers (a 32-bit address is its high half
times 2**16 plus its low half, congruent to the sum of its halves), and a run
of bytes goes in as one big integer (:func:`data_sum`). :func:`fold` turns any
such sum into the 16-bit ones' complement sum, and :func:`checksum_of` into the
checksum field.

UDP and TCP also cover a *pseudo-header* (RFC 768; RFC 9293 section 3.1): the
source and destination addresses, the protocol number and the segment's length,
so that a segment delivered to the wrong host or protocol fails its check.
:func:`transport_checksum` and :func:`transport_checksum_ok` are that, for both.
"""

from __future__ import annotations

from ipaddress import IPv4Address

from labkit.net.addressing import as_address

__all__ = [
    "internet_checksum",
    "ones_complement_sum",
    "fold",
    "checksum_of",
    "data_sum",
    "pseudo_header_sum",
    "transport_checksum",
    "transport_checksum_ok",
]

_from_bytes = int.from_bytes


def fold(total: int) -> int:
    """The 16-bit ones' complement sum of words whose plain sum is congruent to ``total``."""
    return total % 0xFFFF or (0xFFFF if total else 0)


def checksum_of(total: int) -> int:
    """The checksum field for words whose plain sum is ``total`` (the inverted :func:`fold`)."""
    return ~(total % 0xFFFF or (0xFFFF if total else 0)) & 0xFFFF  # fold's, inline: a call less


def data_sum(data: bytes) -> int:
    """A plain sum congruent to the 16-bit words of ``data`` (an odd last byte padded with 0).

    Every word weighs 1 modulo 0xFFFF, so the bytes read as one integer will do
    (one ``int.from_bytes`` and one ``%``, both in C); padding an odd last byte
    shifts the integer left by 8 bits, and the shift may follow the ``%``.
    """
    value = _from_bytes(data, "big")
    # a non-zero multiple of 0xFFFF stays non-zero: in ones' complement it is 0xFFFF, not 0
    return (value % 0xFFFF or (0xFFFF if value else 0)) << (len(data) & 1) * 8


def ones_complement_sum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The 16-bit ones' complement sum of ``data``, added to ``start``."""
    raw = data if isinstance(data, bytes) else bytes(data)
    return fold(data_sum(raw) + start)


def internet_checksum(data: bytes | bytearray | memoryview, start: int = 0) -> int:
    """The RFC 1071 checksum of ``data`` (with an optional partial sum, e.g. a pseudo-header)."""
    return ~ones_complement_sum(data, start) & 0xFFFF


def pseudo_header_sum(src: IPv4Address | str, dst: IPv4Address | str, protocol: int, length: int) -> int:
    """A plain sum congruent to the IPv4 pseudo-header's words: addresses, protocol, length."""
    if type(src) is IPv4Address and type(dst) is IPv4Address:
        # IPv4Address keeps its integer in _ip; int() would cost a method call each, on every
        # segment sent and received (tests/test_net_ipv4.py pins the attribute).
        return src._ip + dst._ip + protocol + length  # type: ignore[attr-defined]
    return int(as_address(src, "src")) + int(as_address(dst, "dst")) + protocol + length


def transport_checksum(
    src: IPv4Address | str, dst: IPv4Address | str, protocol: int, length: int, header_sum: int, data: bytes
) -> int:
    """The checksum field of a UDP or TCP segment of ``length`` bytes from ``src`` to ``dst``.

    ``header_sum`` is the plain sum of the header's fixed fields (the checksum
    taken as 0) and ``data`` everything after them: options and payload, which
    start at an even offset.
    """
    return checksum_of(pseudo_header_sum(src, dst, protocol, length) + header_sum + data_sum(data))


def transport_checksum_ok(
    src: IPv4Address | str, dst: IPv4Address | str, protocol: int, segment: bytes
) -> bool:
    """True if the UDP or TCP ``segment`` (header with its checksum, and data) checks out.

    A correct segment's words, with the pseudo-header's, sum to 0xFFFF: their
    plain sum is a non-zero multiple of 0xFFFF.
    """
    # data_sum's and pseudo_header_sum's work written out: this runs for every segment received
    if type(src) is IPv4Address and type(dst) is IPv4Address:
        total = src._ip + dst._ip  # type: ignore[attr-defined]  # as in pseudo_header_sum
    else:
        total = int(as_address(src, "src")) + int(as_address(dst, "dst"))
    n = len(segment)
    return not (total + protocol + n + (_from_bytes(segment, "big") % 0xFFFF << (n & 1) * 8)) % 0xFFFF
