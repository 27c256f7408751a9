"""ICMP for IPv4 (RFC 792): echo (ping), destination unreachable, time exceeded.

Every message starts with the same 8 bytes, :data:`LAYOUT`: type, code,
checksum and a 4-byte "rest of header" whose meaning depends on the type;
the data follows.

- echo request (type 8) and echo reply (type 0): the rest of the header is an
  identifier and a sequence number; the data is echoed back unchanged;
- destination unreachable (type 3) and time exceeded (type 11): the rest is
  unused (zero), except for "fragmentation needed" (type 3, code 4), which
  carries the next-hop MTU in its last two bytes (RFC 1191); the data quotes
  the IP header of the packet that caused the error plus its first 8 data
  bytes, so the sender can tell which of its packets (and, through the 8
  bytes, which port or ping) failed.

The checksum is the RFC 1071 checksum of the whole message. ICMP reports
errors; it does not make IP reliable (no retransmission: that is TCP's job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from labkit.display import header_html
from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.fields import Layout
from labkit.net.checksum import checksum_of, data_sum
from labkit.net.ipv4 import IPv4Packet

__all__ = [
    "ICMPMessage",
    "ICMPType",
    "Unreachable",
    "TimeExceeded",
    "LAYOUT",
    "ECHO_LAYOUT",
    "HEADER_LENGTH",
    "quote",
]

_LAYER = "icmp"
#: The header every message has, field by field.
LAYOUT = Layout(
    ("type", "B"),
    ("code", "B"),
    ("checksum", "H"),
    ("rest", "I"),
)
#: The same 8 bytes as echo request and reply read them: the rest is an identifier and a sequence.
ECHO_LAYOUT = Layout(
    ("type", "B"),
    ("code", "B"),
    ("checksum", "H"),
    ("identifier", "H"),
    ("sequence", "H"),
)
_HEADER = LAYOUT.struct
#: Bytes in the ICMP header (type, code, checksum and the 4-byte rest of header).
HEADER_LENGTH = LAYOUT.size


class ICMPType(IntEnum):
    ECHO_REPLY = 0
    DESTINATION_UNREACHABLE = 3
    ECHO_REQUEST = 8
    TIME_EXCEEDED = 11


class Unreachable(IntEnum):
    """Codes of destination unreachable (type 3)."""

    NET = 0
    HOST = 1
    PROTOCOL = 2
    PORT = 3
    FRAGMENTATION_NEEDED = 4


class TimeExceeded(IntEnum):
    """Codes of time exceeded (type 11)."""

    TTL = 0
    REASSEMBLY = 1


_TYPE_NAMES = {0: "echo reply", 3: "destination unreachable", 8: "echo request", 11: "time exceeded"}
_CODE_NAMES = {
    3: {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
        3: "port unreachable", 4: "fragmentation needed and DF set"},
    11: {0: "TTL exceeded in transit", 1: "fragment reassembly time exceeded"},
}
_ERRORS = (ICMPType.DESTINATION_UNREACHABLE, ICMPType.TIME_EXCEEDED)


def quote(packet: IPv4Packet | bytes) -> bytes:
    """What an ICMP error quotes: the offending packet's IP header and its first 8 data bytes."""
    if isinstance(packet, IPv4Packet):
        return packet.header() + packet.payload[:8]
    if isinstance(packet, (bytes, bytearray, memoryview)):
        raw = bytes(packet)
        if len(raw) < 20:
            raise LabkitValueError(f"packet: {len(raw)} bytes, shorter than an IPv4 header")
        return raw[: (raw[0] & 0x0F) * 4 + 8]
    raise LabkitValueError(f"packet: expected an IPv4Packet or bytes, got {type(packet).__name__}")


def _u(name: str, value: object, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise LabkitValueError(f"{name}={value!r}: expected an int 0..{(1 << bits) - 1}")
    return value


@dataclass(frozen=True, slots=True)
class ICMPMessage:
    """One ICMP message: type, code, checksum, the 4-byte rest of header, and data.

    Build messages with the class methods (:meth:`echo_request`,
    :meth:`echo_reply`, :meth:`unreachable`, :meth:`time_exceeded`); the
    checksum is computed by :meth:`pack` unless given. It is a computed field:
    it takes no part in equality, so a message equals its parsed copy.
    """

    type: int
    code: int = 0
    checksum: int | None = field(default=None, compare=False)
    rest: int = 0
    data: bytes = b""

    def __post_init__(self) -> None:
        _u("type", self.type, 8)
        _u("code", self.code, 8)
        _u("rest", self.rest, 32)
        if self.checksum is not None:
            _u("checksum", self.checksum, 16)
        if not isinstance(self.data, bytes):
            if not isinstance(self.data, (bytearray, memoryview)):
                raise LabkitValueError(f"data: expected bytes, got {type(self.data).__name__}")
            object.__setattr__(self, "data", bytes(self.data))

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def echo_request(cls, identifier: int, sequence: int, data: bytes = b"") -> ICMPMessage:
        """``ping``'s message: answer me with the same identifier, sequence and data."""
        return cls(ICMPType.ECHO_REQUEST, 0, None,
                   _u("identifier", identifier, 16) << 16 | _u("sequence", sequence, 16), data)

    @classmethod
    def echo_reply(cls, identifier: int, sequence: int, data: bytes = b"") -> ICMPMessage:
        return cls(ICMPType.ECHO_REPLY, 0, None,
                   _u("identifier", identifier, 16) << 16 | _u("sequence", sequence, 16), data)

    def reply(self) -> ICMPMessage:
        """The echo reply to this echo request (same identifier, sequence and data)."""
        if self.type != ICMPType.ECHO_REQUEST:
            raise LabkitValueError(f"type={self.type}: only an echo request (8) gets an echo reply")
        return ICMPMessage(ICMPType.ECHO_REPLY, 0, None, self.rest, self.data)

    @classmethod
    def unreachable(
        cls, code: int, original: IPv4Packet | bytes, *, next_hop_mtu: int = 0
    ) -> ICMPMessage:
        """Destination unreachable (type 3) about ``original`` (``code``: :class:`Unreachable`).

        ``next_hop_mtu`` goes with code 4, fragmentation needed.
        """
        _u("code", code, 8)
        _u("next_hop_mtu", next_hop_mtu, 16)
        if next_hop_mtu and code != Unreachable.FRAGMENTATION_NEEDED:
            raise LabkitValueError("next_hop_mtu: only 'fragmentation needed' (code 4) carries one")
        return cls(ICMPType.DESTINATION_UNREACHABLE, code, None, next_hop_mtu, quote(original))

    @classmethod
    def time_exceeded(cls, original: IPv4Packet | bytes, code: int = TimeExceeded.TTL) -> ICMPMessage:
        """Time exceeded (type 11): TTL reached 0 in transit (code 0) or reassembly timed out (1)."""
        return cls(ICMPType.TIME_EXCEEDED, _u("code", code, 8), None, 0, quote(original))

    # -- reading -------------------------------------------------------------------------------
    @property
    def identifier(self) -> int:
        """Echo messages: the identifier (ping uses its process id)."""
        return self.rest >> 16

    @property
    def sequence(self) -> int:
        """Echo messages: the sequence number (ping counts 1, 2, 3...)."""
        return self.rest & 0xFFFF

    @property
    def next_hop_mtu(self) -> int:
        """Fragmentation needed: the MTU of the link the packet did not fit."""
        return self.rest & 0xFFFF

    @property
    def is_error(self) -> bool:
        """Destination unreachable and time exceeded are errors; echo is not."""
        return self.type in _ERRORS

    @property
    def original(self) -> IPv4Packet:
        """An error's quoted packet: the original header and its first 8 data bytes."""
        if not self.is_error:
            raise LabkitError(f"type={self.type}: only error messages quote a packet")
        return IPv4Packet.parse(self.data, partial=True)

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, f"type {self.type}")

    @property
    def code_name(self) -> str:
        return _CODE_NAMES.get(self.type, {}).get(self.code, f"code {self.code}")

    # -- bytes ---------------------------------------------------------------------------------
    def pack(self) -> bytes:
        """The message's bytes, the checksum computed unless given."""
        csum = self.checksum
        if csum is None:
            # the header's words straight from the fields (the 32-bit rest is congruent to the
            # sum of its halves; see labkit.net.checksum), then the data's
            csum = checksum_of((self.type << 8 | self.code) + self.rest + data_sum(self.data))
        return _HEADER.pack(self.type, self.code, csum, self.rest) + self.data

    def __bytes__(self) -> bytes:
        return self.pack()

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, *, verify_checksum: bool = True) -> ICMPMessage:
        """Parse a message; raise :class:`~labkit.errors.ParseError` naming the bad field."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        raw = bytes(data)
        if len(raw) < HEADER_LENGTH:
            raise ParseError(_LAYER, "length", len(raw), f"shorter than the {HEADER_LENGTH}-byte header")
        typ, code, csum, rest = _HEADER.unpack_from(raw)
        if verify_checksum and data_sum(raw) % 0xFFFF:  # a correct message's words sum to 0xFFFF
            start, end = LAYOUT.span("checksum")
            want = checksum_of(data_sum(raw[:start] + b"\0\0" + raw[end:]))
            raise ParseError(
                _LAYER, "checksum", f"{csum:#06x}",
                f"the message's checksum should be {want:#06x}: it was corrupted",
            )
        if typ in _ERRORS and len(raw) < HEADER_LENGTH + 20:
            raise ParseError(
                _LAYER, "data", raw[HEADER_LENGTH:].hex(),
                "an ICMP error quotes the original IP header (20 bytes or more) and up to 8 "
                f"data bytes; found {len(raw) - HEADER_LENGTH} bytes",
            )
        return cls(typ, code, csum, rest, raw[HEADER_LENGTH:])

    # -- display -------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line, in tcpdump's words: ``ICMP echo request, id 4660, seq 1, length 40``."""
        if self.type in (ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY):
            return (f"ICMP {self.type_name}, id {self.identifier}, seq {self.sequence}, "
                    f"length {HEADER_LENGTH + len(self.data)}")
        text = f"ICMP {self.type_name}: {self.code_name}"
        if self.type == ICMPType.DESTINATION_UNREACHABLE and self.code == Unreachable.FRAGMENTATION_NEEDED:
            text += f" (mtu {self.next_hop_mtu})"
        if self.is_error:
            try:
                orig = self.original
                text += f", about {orig.src} > {orig.dst}"
            except LabkitError:
                text += ", quoting an unreadable packet"
        return text

    def __repr__(self) -> str:
        if self.type in (ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY):
            name = "echo_request" if self.type == ICMPType.ECHO_REQUEST else "echo_reply"
            return f"ICMPMessage.{name}({self.identifier}, {self.sequence}, {self.data!r})"
        return (f"ICMPMessage(type={self.type}, code={self.code}, rest={self.rest:#x}, "
                f"data=<{len(self.data)} bytes>)")

    def fields(self) -> list[tuple[str, str, str]]:
        csum = LAYOUT.read(self.pack(), "checksum")
        common = [
            (str(self.type), self.type_name),
            (str(self.code), self.code_name if self.is_error else ""),
            (f"{csum:#06x}", "RFC 1071, over the whole message"),
        ]
        if self.type in (ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY):
            rows = ECHO_LAYOUT.rows(common + [(str(self.identifier), "which ping"),
                                              (str(self.sequence), "which request")])
        else:
            rows = LAYOUT.rows(common + [(f"{self.rest:#010x}", f"next-hop MTU {self.next_hop_mtu}"
                                          if self.next_hop_mtu else "unused")])
        rows.append(("data", f"{len(self.data)} bytes",
                     "quoted IP header + 8 bytes" if self.is_error else "echoed back"))
        return rows

    def spans(self) -> list[tuple[int, int, str]]:
        layout = ECHO_LAYOUT if self.type in (ICMPType.ECHO_REQUEST, ICMPType.ECHO_REPLY) else LAYOUT
        return layout.spans() + [(HEADER_LENGTH, HEADER_LENGTH + len(self.data), "data")]

    def _repr_html_(self) -> str:
        return header_html(self.summary(), self.fields(), self.pack(), self.spans())
