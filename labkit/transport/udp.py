"""UDP (RFC 768): an 8-byte header in front of the application's bytes.

::

    offset  size  field
         0     2  source port
         2     2  destination port
         4     2  length: header + data, in bytes (8..65535)
         6     2  checksum over an IPv4 pseudo-header, the header and the data;
                  0 means "not computed" (a computed 0 is sent as 0xFFFF)

Datagram semantics: one ``sendto`` is one ``recvfrom``; an empty datagram
(length 8) is delivered as an empty message. The length field allows 65,535
bytes, but over IPv4 the largest payload is 65,535 - 20 (IP header) - 8 (UDP
header) = :data:`MAX_IPV4_PAYLOAD` = 65,507 bytes, and anything larger than the
link MTU is fragmented by IP, not by UDP.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address

from labkit.display import header_html
from labkit.errors import LabkitValueError, ParseError
from labkit.transport.ports import check_port

__all__ = ["UDPDatagram", "HEADER_LENGTH", "MAX_IPV4_PAYLOAD", "PROTOCOL", "pseudo_header_sum"]

HEADER_LENGTH = 8
#: IPv4's protocol number for UDP.
PROTOCOL = 17
_IPV4_HEADER = 20
#: 65,535 (IPv4 total length) - 20 (IPv4 header) - 8 (UDP header).
MAX_IPV4_PAYLOAD = 0xFFFF - _IPV4_HEADER - HEADER_LENGTH
_HEADER = struct.Struct("!HHHH")
_LAYER = "udp"


def pseudo_header_sum(src: IPv4Address | str, dst: IPv4Address | str, protocol: int, length: int) -> int:
    """A sum congruent to the IPv4 pseudo-header's ones' complement sum (RFC 768 / RFC 9293 3.1).

    The pseudo-header's 16-bit words are the two halves of each address, the
    protocol and the length. A 32-bit address is its high half times 2**16
    plus its low half, and 2**16 = 1 modulo 0xFFFF, so the address itself is
    congruent to the sum of its halves: the plain sum below, folded modulo
    0xFFFF by :func:`~labkit.net.checksum.internet_checksum`, is the same
    ones' complement sum.
    """
    # _ip is IPv4Address's integer: int() would add a call (tests/test_net_ipv4.py pins it)
    s = src._ip if type(src) is IPv4Address else int(_address(src, "src"))  # type: ignore[union-attr]
    d = dst._ip if type(dst) is IPv4Address else int(_address(dst, "dst"))  # type: ignore[union-attr]
    return s + d + protocol + length


def _as_bytes(data: object) -> bytes:
    if not isinstance(data, (bytearray, memoryview)):
        raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
    return bytes(data)


def _address(value: object, name: str) -> IPv4Address:
    if type(value) is IPv4Address:
        return value
    try:
        return value if isinstance(value, IPv4Address) else IPv4Address(value)  # type: ignore[arg-type]
    except ValueError as exc:
        raise LabkitValueError(f"{name}={value!r}: not an IPv4 address ({exc})") from None


@dataclass(frozen=True, slots=True, init=False)
class UDPDatagram:
    """A UDP datagram. ``length`` and ``checksum`` are computed by :meth:`pack` unless given."""

    src_port: int
    dst_port: int
    payload: bytes = b""
    length: int | None = None
    checksum: int | None = None

    def __new__(
        cls,
        src_port: int,
        dst_port: int,
        payload: bytes = b"",
        length: int | None = None,
        checksum: int | None = None,
    ) -> UDPDatagram:
        # What dataclass's __init__ would do, but faster: a frozen dataclass sets each
        # field through object.__setattr__, which costs more than packing the datagram.
        # The object is born an _Unchecked (same slots, not frozen), takes its fields by
        # plain assignment and then its real class. The usual datagram passes the one
        # test below; __post_init__ converts other values or names the bad field.
        u = _Unchecked()
        u.src_port = src_port
        u.dst_port = dst_port
        u.payload = payload
        u.length = length
        u.checksum = checksum
        u.__class__ = cls
        if not (
            type(src_port) is int and type(dst_port) is int and type(payload) is bytes
            and 0 <= src_port <= 0xFFFF and 0 <= dst_port <= 0xFFFF
            and len(payload) <= 0xFFFF - HEADER_LENGTH and length is None and checksum is None
        ):
            u.__post_init__()  # type: ignore[attr-defined]
        return u  # type: ignore[return-value]

    def __getnewargs__(self) -> tuple[object, ...]:
        # copy and pickle call __new__ with these (then restore the slots)
        return (self.src_port, self.dst_port, self.payload, self.length, self.checksum)

    def __post_init__(self) -> None:
        # Plain ints and bytes, the usual case, pass with a few comparisons.
        sport, dport, payload = self.src_port, self.dst_port, self.payload
        if not (type(sport) is int and type(dport) is int and 0 <= sport <= 0xFFFF
                and 0 <= dport <= 0xFFFF):
            object.__setattr__(self, "src_port", check_port(sport, "src_port"))
            object.__setattr__(self, "dst_port", check_port(dport, "dst_port"))
        if type(payload) is not bytes:
            if not isinstance(payload, (bytes, bytearray, memoryview)):
                raise LabkitValueError(f"payload: expected bytes, got {type(payload).__name__}")
            payload = bytes(payload)
            object.__setattr__(self, "payload", payload)
        if len(payload) > 0xFFFF - HEADER_LENGTH:
            raise LabkitValueError(
                f"payload: {len(payload)} bytes does not fit UDP's 16-bit length field "
                f"(at most {0xFFFF - HEADER_LENGTH}; over IPv4 at most {MAX_IPV4_PAYLOAD})"
            )
        for name in ("length", "checksum"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or not 0 <= value <= 0xFFFF):
                raise LabkitValueError(
                    f"{name}={value!r}: expected None (computed by pack) or an int 0..65535"
                )

    def pack(self, src: IPv4Address | str | None = None, dst: IPv4Address | str | None = None) -> bytes:
        """The datagram's bytes. With ``src`` and ``dst`` the checksum is computed (else 0)."""
        sport, dport, payload = self.src_port, self.dst_port, self.payload
        length = HEADER_LENGTH + len(payload) if self.length is None else self.length
        checksum = self.checksum
        if checksum is None:
            if src is None or dst is None:
                checksum = 0
            else:
                # The header's words (checksum 0) go straight into the sum; the payload
                # starts at an even offset, so it is summed on its own, as one integer
                # folded modulo 0xFFFF (see labkit.net.checksum: every 16-bit word weighs
                # 1 modulo 0xFFFF; an odd last byte is padded with a zero byte, i.e. the
                # integer is shifted left by 8, and the shift can follow the fold).
                total = pseudo_header_sum(src, dst, PROTOCOL, length) + sport + dport + length
                total += _from_bytes(payload, "big") % 0xFFFF << (len(payload) & 1) * 8
                checksum = ~(total % 0xFFFF or 0xFFFF) & 0xFFFF or 0xFFFF
        return _HEADER.pack(sport, dport, length, checksum) + payload

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        src: IPv4Address | str | None = None,
        dst: IPv4Address | str | None = None,
    ) -> UDPDatagram:
        """Parse a datagram; with ``src`` and ``dst`` a non-zero checksum is verified."""
        raw = data if type(data) is bytes else _as_bytes(data)
        n = len(raw)
        if n < HEADER_LENGTH:
            raise ParseError(_LAYER, "length", n, f"shorter than the {HEADER_LENGTH}-byte header")
        sport, dport, length, checksum = _unpack_header(raw)
        if length != n:
            if length < HEADER_LENGTH:
                raise ParseError(_LAYER, "length", length, "smaller than the 8-byte header")
            if length > n:
                raise ParseError(_LAYER, "length", length, f"but only {n} bytes arrived")
            raw = raw[:length]  # bytes after the datagram (link padding) are not UDP's
        if checksum and src is not None and dst is not None:
            # A correct datagram's words, with the pseudo-header's, sum to 0xFFFF: the
            # plain sum is then a (non-zero) multiple of 0xFFFF.
            total = pseudo_header_sum(src, dst, PROTOCOL, length)
            if (total + (_from_bytes(raw, "big") % 0xFFFF << (length & 1) * 8)) % 0xFFFF:
                raise ParseError(_LAYER, "checksum", f"{checksum:#06x}", "does not match the data")
        # The fields came out of a 16-bit unpack, so they are valid: skip the checks
        # (fill an unfrozen twin, then give it its real class, as __new__ does).
        d = _Unchecked()
        d.src_port = sport
        d.dst_port = dport
        d.payload = raw[HEADER_LENGTH:]
        d.length = length
        d.checksum = checksum
        d.__class__ = cls
        return d  # type: ignore[return-value]

    def summary(self) -> str:
        return f"UDP {self.src_port} > {self.dst_port} len={len(self.payload)}"

    def fields(self) -> list[tuple[str, str, str]]:
        """(field, value, meaning) rows for the Jupyter display."""
        raw = self.pack()
        length, checksum = _HEADER.unpack_from(raw)[2:]
        return [
            ("source port", str(self.src_port), "the sender's port"),
            ("destination port", str(self.dst_port), "the receiving program's port"),
            ("length", str(length), "header (8) + data, in bytes"),
            ("checksum", f"{checksum:#06x}", "0 = not computed; pack(src, dst) computes it"),
            ("data", f"{len(self.payload)} bytes", ""),
        ]

    def _repr_html_(self) -> str:
        spans = [(0, 2, "source port"), (2, 4, "destination port"), (4, 6, "length"),
                 (6, 8, "checksum"), (8, HEADER_LENGTH + len(self.payload), "data")]
        return header_html(self.summary(), self.fields(), self.pack(), spans)

    def __repr__(self) -> str:
        extra = "" if len(self.payload) <= 16 else f" ...({len(self.payload)} bytes)"
        return (f"UDPDatagram(src_port={self.src_port}, dst_port={self.dst_port}, "
                f"payload={self.payload[:16]!r}{extra})")


class _Unchecked:
    """Same slots as :class:`UDPDatagram`, not frozen: :meth:`UDPDatagram.parse` fills one in."""

    __slots__ = UDPDatagram.__slots__


_unpack_header = _HEADER.unpack_from
_from_bytes = int.from_bytes
