"""UDP (RFC 768): an 8-byte header in front of the application's bytes.

The header is :data:`LAYOUT`: the source port, the destination port, the
length (header + data, in bytes: 8..65535) and a checksum over an IPv4
pseudo-header, the header and the data (0 means "not computed"; a computed 0
is sent as 0xFFFF).

Datagram semantics: one ``sendto`` is one ``recvfrom``; an empty datagram
(length 8) is delivered as an empty message. The length field allows 65,535
bytes, but over IPv4 the largest payload is 65,535 - 20 (IP header) - 8 (UDP
header) = :data:`MAX_IPV4_PAYLOAD` = 65,507 bytes, and anything larger than the
link MTU is fragmented by IP, not by UDP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from labkit.display import header_html
from labkit.errors import LabkitValueError, ParseError
from labkit.fields import Layout, unfrozen_twin
from labkit.net.checksum import transport_checksum, transport_checksum_ok
from labkit.net.ipv4 import HEADER_LENGTH as IPV4_HEADER_LENGTH
from labkit.net.ipv4 import MAX_PACKET_LENGTH
from labkit.transport.ports import check_port

__all__ = ["UDPDatagram", "LAYOUT", "HEADER_LENGTH", "MAX_IPV4_PAYLOAD", "PROTOCOL"]

#: The header, field by field.
LAYOUT = Layout(
    ("source port", "H"),
    ("destination port", "H"),
    ("length", "H"),
    ("checksum", "H"),
)
HEADER_LENGTH = LAYOUT.size
#: IPv4's protocol number for UDP.
PROTOCOL = 17
#: The largest payload over IPv4: 65,535 (IPv4 Total Length) - 20 (IPv4 header) - 8 (UDP header).
MAX_IPV4_PAYLOAD = MAX_PACKET_LENGTH - IPV4_HEADER_LENGTH - HEADER_LENGTH
#: The largest payload the 16-bit length field allows.
_MAX_PAYLOAD = 0xFFFF - HEADER_LENGTH
_LAYER = "udp"


def _checked(src_port: object, dst_port: object, payload: object, length: object,
             checksum: object) -> tuple[int, int, bytes]:
    """The fields as the datagram keeps them, or a LabkitValueError naming the bad one."""
    sport, dport = check_port(src_port, "src_port"), check_port(dst_port, "dst_port")
    if type(payload) is not bytes:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise LabkitValueError(f"payload: expected bytes, got {type(payload).__name__}")
        payload = bytes(payload)
    if len(payload) > _MAX_PAYLOAD:
        raise LabkitValueError(
            f"payload: {len(payload)} bytes does not fit UDP's 16-bit length field "
            f"(at most {_MAX_PAYLOAD}; over IPv4 at most {MAX_IPV4_PAYLOAD})"
        )
    for name, value in (("length", length), ("checksum", checksum)):
        if value is not None and (type(value) is not int or not 0 <= value <= 0xFFFF):
            raise LabkitValueError(f"{name}={value!r}: expected None (computed by pack) or an int 0..65535")
    return sport, dport, payload


@dataclass(frozen=True, slots=True, init=False)
class UDPDatagram:
    """A UDP datagram. ``length`` and ``checksum`` are computed by :meth:`pack` unless given.

    Those two are computed fields: they take no part in equality, so a datagram
    equals its parsed copy (``UDPDatagram.parse(d.pack(src, dst)) == d``).
    """

    src_port: int
    dst_port: int
    payload: bytes = b""
    length: int | None = field(default=None, compare=False)
    checksum: int | None = field(default=None, compare=False)

    def __new__(
        cls,
        src_port: int,
        dst_port: int,
        payload: bytes = b"",
        length: int | None = None,
        checksum: int | None = None,
    ) -> UDPDatagram:
        # The usual datagram passes this one test; anything else is converted or refused.
        if not (
            type(src_port) is int and type(dst_port) is int and type(payload) is bytes
            and 0 <= src_port <= 0xFFFF and 0 <= dst_port <= 0xFFFF
            and len(payload) <= _MAX_PAYLOAD and length is None and checksum is None
        ):
            src_port, dst_port, payload = _checked(src_port, dst_port, payload, length, checksum)
        u: Any = _Twin()  # see labkit.fields.unfrozen_twin: what it buys, measured
        u.src_port = src_port
        u.dst_port = dst_port
        u.payload = payload
        u.length = length
        u.checksum = checksum
        u.__class__ = cls
        return u

    def __getnewargs__(self) -> tuple[object, ...]:
        # copy and pickle call __new__ with these (then restore the slots)
        return (self.src_port, self.dst_port, self.payload, self.length, self.checksum)

    def pack(self, src: IPv4Address | str | None = None, dst: IPv4Address | str | None = None) -> bytes:
        """The datagram's bytes. With ``src`` and ``dst`` the checksum is computed (else 0).

        A computed checksum of 0 is sent as 0xFFFF (its other ones' complement
        form), since 0 in the field means "no checksum" (RFC 768).
        """
        sport, dport, payload = self.src_port, self.dst_port, self.payload
        length = HEADER_LENGTH + len(payload) if self.length is None else self.length
        checksum = self.checksum
        if checksum is None:
            if src is None or dst is None:
                checksum = 0
            else:
                checksum = transport_checksum(
                    src, dst, PROTOCOL, length,
                    sport + dport + length, payload,
                ) or 0xFFFF
        return _pack_header(sport, dport, length, checksum) + payload

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
        if checksum and src is not None and dst is not None and not transport_checksum_ok(
            src, dst, PROTOCOL, raw
        ):
            raise ParseError(_LAYER, "checksum", f"{checksum:#06x}", "does not match the data")
        # The fields came out of a 16-bit unpack, so they are valid.
        d: Any = _Twin()
        d.src_port = sport
        d.dst_port = dport
        d.payload = raw[HEADER_LENGTH:]
        d.length = length
        d.checksum = checksum
        d.__class__ = cls
        return d

    def summary(self) -> str:
        return f"UDP {self.src_port} > {self.dst_port} len={len(self.payload)}"

    def fields(self) -> list[tuple[str, str, str]]:
        """(field, value, meaning) rows for the Jupyter display."""
        raw = self.pack()
        length, checksum = LAYOUT.read(raw, "length"), LAYOUT.read(raw, "checksum")
        return LAYOUT.rows([
            (str(self.src_port), "the sender's port"),
            (str(self.dst_port), "the receiving program's port"),
            (str(length), "header (8) + data, in bytes"),
            (f"{checksum:#06x}", "0 = not computed; pack(src, dst) computes it"),
        ]) + [("data", f"{len(self.payload)} bytes", "")]

    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, end, field)`` byte ranges of :meth:`pack`'s output, for hex maps."""
        return LAYOUT.spans() + [(HEADER_LENGTH, HEADER_LENGTH + len(self.payload), "data")]

    def _repr_html_(self) -> str:
        return header_html(self.summary(), self.fields(), self.pack(), self.spans())

    def __repr__(self) -> str:
        extra = "" if len(self.payload) <= 16 else f" ...({len(self.payload)} bytes)"
        return (f"UDPDatagram(src_port={self.src_port}, dst_port={self.dst_port}, "
                f"payload={self.payload[:16]!r}{extra})")


def _as_bytes(data: object) -> bytes:
    if not isinstance(data, (bytearray, memoryview)):
        raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
    return bytes(data)


_Twin = unfrozen_twin(UDPDatagram)
_pack_header = LAYOUT.struct.pack
_unpack_header = LAYOUT.struct.unpack_from
