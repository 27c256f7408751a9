"""IPv4 packets (RFC 791): the header, fragmentation to a link MTU, and reassembly.

The header, 20 bytes plus up to 40 bytes of options::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-------+-------+-----------+---+-------------------------------+
    |Version|  IHL  |   DSCP    |ECN|         Total Length          |
    +-------+-------+-----------+---+-----+-------------------------+
    |         Identification        |0|D|M|    Fragment Offset      |
    +---------------+---------------+-----+-------------------------+
    |  Time to Live |    Protocol   |        Header Checksum        |
    +---------------+---------------+-------------------------------+
    |                       Source Address                          |
    +---------------------------------------------------------------+
    |                    Destination Address                        |
    +---------------------------------------------------------------+
    |                    Options (IHL > 5)                          |
    +---------------------------------------------------------------+

- IHL counts the header in 32-bit words (5 to 15: 20 to 60 bytes); Total
  Length counts header plus data in bytes (at most 65,535).
- The fragment offset counts 8-byte units, so every fragment but the last
  carries a multiple of 8 data bytes. DF ("don't fragment") forbids
  fragmenting; MF ("more fragments") is set on every fragment but the last.
- The header checksum is the RFC 1071 Internet checksum of the header alone;
  every router recomputes it, because it decrements the TTL.

Decisions, stated once:

- :meth:`IPv4Packet.pack` fills in IHL, Total Length and the checksum unless
  they were given; given values are written as they are (so a lesson can build
  a broken packet on purpose). :meth:`IPv4Packet.parse` keeps the values it read.
- Bytes after Total Length (Ethernet padding) are ignored by ``parse``.
- :class:`Reassembler` drops a datagram whose fragments overlap (RFC 5722's
  rule for IPv6, applied to IPv4 as Linux does since 2018 to stop overlapping-
  fragment attacks); an exact duplicate fragment is simply ignored. Its
  timeout defaults to 30 s (Linux's ``ipfrag_time``; RFC 791 suggests a timer
  of 15 s as a lower bound, RFC 1122 60 to 120 s), measured from the first
  fragment that arrived.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address

from labkit.display import header_html
from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.net.addressing import _interned as _address_table
from labkit.net.addressing import address_from_int, as_address
from labkit.net.checksum import ones_complement_sum

__all__ = [
    "IPv4Packet",
    "IPProtocol",
    "ICMP",
    "TCP",
    "UDP",
    "HEADER_LENGTH",
    "MAX_HEADER_LENGTH",
    "MAX_PACKET_LENGTH",
    "MAX_UDP_PAYLOAD",
    "DEFAULT_TTL",
    "FragmentationNeeded",
    "fragment",
    "Reassembler",
    "TimedOut",
    "DEFAULT_REASSEMBLY_TIMEOUT_NS",
]

_LAYER = "ipv4"
#: The fixed header: version+IHL, DSCP+ECN, total length, identification, flags+offset,
#: TTL, protocol, checksum, source, destination.
_HEADER = struct.Struct("!BBHHHBBHII")
#: Bytes in a header without options.
HEADER_LENGTH = _HEADER.size
#: The longest header: IHL 15 words.
MAX_HEADER_LENGTH = 60
#: The largest datagram Total Length can describe.
MAX_PACKET_LENGTH = 65_535
#: The largest UDP payload over IPv4: 65,535 - 20 (IPv4 header) - 8 (UDP header).
MAX_UDP_PAYLOAD = MAX_PACKET_LENGTH - HEADER_LENGTH - 8
#: The TTL Linux and macOS put on new packets (Windows uses 128).
DEFAULT_TTL = 64
#: 30 seconds, in nanoseconds.
DEFAULT_REASSEMBLY_TIMEOUT_NS = 30_000_000_000

_DF = 0x4000
_MF = 0x2000
# the usual values of IPv4Packet's fields, which its constructor tests by identity
_FOUR, _ZERO, _NO_OPTIONS = 4, 0, b""
_RESERVED = 0x8000
_OFFSET_MASK = 0x1FFF


class IPProtocol(IntEnum):
    """The Protocol field: what the payload is (IANA's "Assigned Internet Protocol Numbers")."""

    ICMP = 1
    TCP = 6
    UDP = 17


ICMP = IPProtocol.ICMP
TCP = IPProtocol.TCP
UDP = IPProtocol.UDP


def protocol_name(value: int) -> str:
    try:
        return IPProtocol(value).name
    except ValueError:
        return f"proto {value}"


_LIMITS = (
    ("version", 15), ("dscp", 63), ("ecn", 3), ("identification", 0xFFFF),
    ("fragment_offset", _OFFSET_MASK), ("ttl", 255), ("protocol", 255),
)
_OPTIONAL_LIMITS = (("ihl", 15), ("total_length", 0xFFFF), ("checksum", 0xFFFF))


@dataclass(frozen=True, slots=True, kw_only=True, init=False)
class IPv4Packet:
    """An IPv4 datagram: every header field, the options and the payload.

    Only ``src`` and ``dst`` are required (strings, ints, 4 bytes or
    ``IPv4Address``; stored as ``IPv4Address``). ``ihl``, ``total_length`` and
    ``checksum`` left as ``None`` are computed by :meth:`pack`.
    ``fragment_offset`` is in 8-byte units, as on the wire (see
    :attr:`fragment_offset_bytes`).

    >>> p = IPv4Packet(src="192.168.1.10", dst="10.0.0.1", protocol=ICMP, payload=b"hi")
    >>> p.pack().hex()[:24]
    '45000016000000004001af34'
    """

    version: int = 4
    ihl: int | None = None
    dscp: int = 0
    ecn: int = 0
    total_length: int | None = None
    identification: int = 0
    reserved_flag: bool = False
    dont_fragment: bool = False
    more_fragments: bool = False
    fragment_offset: int = 0
    ttl: int = DEFAULT_TTL
    protocol: int = 0
    checksum: int | None = None
    src: IPv4Address
    dst: IPv4Address
    options: bytes = b""
    payload: bytes = b""

    def __new__(
        cls,
        *,
        version: int = 4,
        ihl: int | None = None,
        dscp: int = 0,
        ecn: int = 0,
        total_length: int | None = None,
        identification: int = 0,
        reserved_flag: bool = False,
        dont_fragment: bool = False,
        more_fragments: bool = False,
        fragment_offset: int = 0,
        ttl: int = DEFAULT_TTL,
        protocol: int = 0,
        checksum: int | None = None,
        src: IPv4Address | str | int | bytes,
        dst: IPv4Address | str | int | bytes,
        options: bytes = b"",
        payload: bytes = b"",
    ) -> IPv4Packet:
        # What dataclass's __init__ would do, but faster: a frozen dataclass sets each
        # of its 17 fields through object.__setattr__, which costs more than building
        # and packing the header together. Instead the object is born an _Unchecked
        # (same slots, not frozen), gets its fields by plain assignment, and then its
        # real class (copy and pickle come back through __getnewargs_ex__).
        u = _Unchecked()
        u.version = version
        u.ihl = ihl
        u.dscp = dscp
        u.ecn = ecn
        u.total_length = total_length
        u.identification = identification
        u.reserved_flag = reserved_flag
        u.dont_fragment = dont_fragment
        u.more_fragments = more_fragments
        u.fragment_offset = fragment_offset
        u.ttl = ttl
        u.protocol = protocol
        u.checksum = checksum
        u.src = src
        u.dst = dst
        u.options = options
        u.payload = payload
        u.__class__ = cls
        # The usual packet (addresses already IPv4Address, plain ints in range, version 4,
        # no DSCP, ECN, fragment offset or options, and IHL, Total Length and checksum left
        # to pack) passes this one test on the arguments; anything else goes through
        # __post_init__, which converts or names the bad field. The defaults are tested by
        # identity: CPython keeps one object for each small int and for b"", so `is` finds
        # them whoever computed them, and on an implementation that does not, the packet
        # just takes the longer road.
        if not (
            type(src) is IPv4Address and type(dst) is IPv4Address and type(payload) is bytes
            and len(payload) <= MAX_PACKET_LENGTH - HEADER_LENGTH
            and ihl is total_length is checksum is None and options is _NO_OPTIONS
            and version is _FOUR and dscp is ecn is fragment_offset is _ZERO
            and type(ttl) is int and 0 <= ttl <= 255
            and type(protocol) is int and 0 <= protocol <= 255
            and type(identification) is int and 0 <= identification <= 0xFFFF
        ):
            u.__post_init__()  # type: ignore[attr-defined]
        return u  # type: ignore[return-value]

    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, object]]:
        return (), {name: getattr(self, name) for name in self.__dataclass_fields__}

    def __post_init__(self) -> None:
        setter = object.__setattr__
        if type(self.src) is not IPv4Address:
            setter(self, "src", as_address(self.src, "src"))
        if type(self.dst) is not IPv4Address:
            setter(self, "dst", as_address(self.dst, "dst"))
        # the common case in one expression; the loops below explain what is wrong otherwise
        if not (
            type(self.version) is int and type(self.dscp) is int and type(self.ecn) is int
            and type(self.identification) is int and type(self.fragment_offset) is int
            and type(self.ttl) is int and type(self.protocol) is int
            and self.version == 4 and 0 <= self.dscp <= 63 and 0 <= self.ecn <= 3
            and 0 <= self.identification <= 0xFFFF and 0 <= self.fragment_offset <= _OFFSET_MASK
            and 0 <= self.ttl <= 255 and 0 <= self.protocol <= 255
        ):
            self._check_ints()
        if self.ihl is not None or self.total_length is not None or self.checksum is not None:
            self._check_optional_ints()
        if type(self.options) is not bytes or type(self.payload) is not bytes or self.options:
            self._check_bytes()
        elif self.total_length is None and len(self.payload) > MAX_PACKET_LENGTH - HEADER_LENGTH:
            self._check_bytes()

    def _check_ints(self) -> None:
        setter = object.__setattr__
        for name, top in _LIMITS:
            value = getattr(self, name)
            if type(value) is not int:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise LabkitValueError(f"{name}={value!r}: expected an int 0..{top}")
                setter(self, name, int(value))
                value = int(value)
            if not 0 <= value <= top:
                raise LabkitValueError(f"{name}={value!r}: out of range, the field holds 0..{top}")

    def _check_optional_ints(self) -> None:
        for name, top in _OPTIONAL_LIMITS:
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top
            ):
                raise LabkitValueError(
                    f"{name}={value!r}: expected None (computed by pack) or an int 0..{top}"
                )

    def _check_bytes(self) -> None:
        setter = object.__setattr__
        for name in ("options", "payload"):
            value = getattr(self, name)
            if type(value) is not bytes:
                if not isinstance(value, (bytearray, memoryview)):
                    raise LabkitValueError(f"{name}: expected bytes, got {type(value).__name__}")
                setter(self, name, bytes(value))
        n_opt = len(self.options)
        if n_opt % 4 or n_opt > MAX_HEADER_LENGTH - HEADER_LENGTH:
            raise LabkitValueError(
                f"options: {n_opt} bytes; options fill whole 32-bit words (pad with zero "
                f"bytes, the End of Options List) and at most {MAX_HEADER_LENGTH - HEADER_LENGTH} "
                "bytes fit the header"
            )
        if self.total_length is None and HEADER_LENGTH + n_opt + len(self.payload) > MAX_PACKET_LENGTH:
            raise LabkitValueError(
                f"payload: {len(self.payload)} bytes; with the {HEADER_LENGTH + n_opt}-byte header "
                f"that exceeds the {MAX_PACKET_LENGTH:,}-byte maximum of Total Length"
            )

    # -- derived values ------------------------------------------------------------------------
    @property
    def header_length(self) -> int:
        """Header bytes: ``IHL * 4`` (computed from the options when IHL is not given)."""
        return self.ihl * 4 if self.ihl is not None else HEADER_LENGTH + len(self.options)

    @property
    def length(self) -> int:
        """Total Length as it will be sent (given, or header plus payload)."""
        if self.total_length is not None:
            return self.total_length
        return HEADER_LENGTH + len(self.options) + len(self.payload)

    @property
    def tos(self) -> int:
        """The old Type of Service byte: DSCP and ECN together."""
        return self.dscp << 2 | self.ecn

    @property
    def flags(self) -> int:
        """The three flag bits as a number (reserved, DF, MF)."""
        return self.reserved_flag << 2 | self.dont_fragment << 1 | self.more_fragments

    @property
    def fragment_offset_bytes(self) -> int:
        """Where this fragment's data starts in the original datagram, in bytes."""
        return self.fragment_offset * 8

    @property
    def is_fragment(self) -> bool:
        """True for any piece of a fragmented datagram (MF set or a non-zero offset)."""
        return self.more_fragments or self.fragment_offset != 0

    # -- bytes ---------------------------------------------------------------------------------
    def pack(self) -> bytes:
        """Header, options and payload: the datagram's bytes (IHL, Total Length and checksum
        computed unless given)."""
        options = self.options
        ihl = self.ihl if self.ihl is not None else 5 + len(options) // 4
        vihl = self.version << 4 | ihl
        tos = self.dscp << 2 | self.ecn
        total = self.total_length
        if total is None:
            total = HEADER_LENGTH + len(options) + len(self.payload)
        ff = self.fragment_offset
        if self.dont_fragment:
            ff |= _DF
        if self.more_fragments:
            ff |= _MF
        if self.reserved_flag:
            ff |= _RESERVED
        ident, ttl, proto = self.identification, self.ttl, self.protocol
        # _ip is IPv4Address's integer: int() would add a call (tests/test_net_ipv4.py pins it)
        src, dst = self.src._ip, self.dst._ip  # type: ignore[attr-defined]
        csum = self.checksum
        if csum is None:
            # The ones' complement sum of the header words, straight from the field values.
            # An address is congruent to the sum of its two 16-bit halves modulo 0xFFFF
            # (2**16 = 1 mod 0xFFFF), so it goes into the sum whole.
            s = (vihl << 8 | tos) + total + ident + ff + (ttl << 8 | proto) + src + dst
            if options:
                s += ones_complement_sum(options)
            csum = ~(s % 0xFFFF or 0xFFFF) & 0xFFFF
        return _HEADER.pack(vihl, tos, total, ident, ff, ttl, proto, csum, src, dst) + options + self.payload

    def header(self) -> bytes:
        """The header's bytes (with options), as :meth:`pack` writes them."""
        return self.pack()[: HEADER_LENGTH + len(self.options)]

    def __bytes__(self) -> bytes:
        return self.pack()

    def computed_checksum(self) -> int:
        """The checksum this header should carry (whatever :attr:`checksum` says)."""
        return int.from_bytes(self.replace(checksum=None).header()[10:12], "big")

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        verify_checksum: bool = True,
        partial: bool = False,
    ) -> IPv4Packet:
        """Parse a datagram; raise :class:`~labkit.errors.ParseError` naming the bad field.

        Checks the length, version, IHL, Total Length against the bytes there
        are and (unless ``verify_checksum=False``) the header checksum.
        ``partial=True`` accepts a datagram cut short (Total Length larger
        than the data), as ICMP error messages quote one: the payload is then
        whatever bytes follow the header.
        """
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
            data = bytes(data)
        n = len(data)
        if n < HEADER_LENGTH:
            raise ParseError(_LAYER, "length", n, f"shorter than the {HEADER_LENGTH}-byte header")
        vihl, tos, total, ident, ff, ttl, proto, csum, src, dst = _unpack_header(data)
        if vihl == 0x45 and HEADER_LENGTH <= total <= n:
            # the usual datagram: version 4, no options, all its bytes here
            hlen = HEADER_LENGTH
            options = b""
            # a correct header's words sum to 0xFFFF: the header read as one integer is
            # then a non-zero multiple of 0xFFFF (see labkit.net.checksum)
            if verify_checksum and _from_bytes(data[:HEADER_LENGTH], "big") % 0xFFFF:
                cls._refuse_checksum(data[:HEADER_LENGTH], csum)
        else:
            hlen = cls._check_lengths(vihl, total, n, partial)
            header = data[:hlen]
            if verify_checksum and _from_bytes(header, "big") % 0xFFFF:
                cls._refuse_checksum(header, csum)
            options = header[HEADER_LENGTH:]
        # Every value is in range by construction, so skip the validating constructor:
        # fill an unfrozen object with the same slots, then give it its real class.
        p = _Unchecked()
        p.version = 4
        p.ihl = hlen >> 2
        p.dscp = tos >> 2
        p.ecn = tos & 3
        p.total_length = total
        p.identification = ident
        p.reserved_flag = ff & _RESERVED != 0
        p.dont_fragment = ff & _DF != 0
        p.more_fragments = ff & _MF != 0
        p.fragment_offset = ff & _OFFSET_MASK
        p.ttl = ttl
        p.protocol = proto
        p.checksum = csum
        p.src = _interned_address(src) or address_from_int(src)  # a dict lookup, usually
        p.dst = _interned_address(dst) or address_from_int(dst)
        p.options = options
        p.payload = data[hlen:total]
        p.__class__ = IPv4Packet
        return p  # type: ignore[return-value]

    @staticmethod
    def _check_lengths(vihl: int, total: int, n: int, partial: bool) -> int:
        """The header length in bytes, once version, IHL and Total Length are checked."""
        version = vihl >> 4
        if version != 4:
            raise ParseError(_LAYER, "version", version, "not an IPv4 packet (version must be 4)")
        ihl = vihl & 0x0F
        hlen = ihl * 4
        if ihl < 5:
            raise ParseError(_LAYER, "ihl", ihl, "the header is at least 5 words (20 bytes)")
        if hlen > n:
            raise ParseError(_LAYER, "ihl", ihl, f"says {hlen} header bytes but only {n} are there")
        if total < hlen:
            raise ParseError(
                _LAYER, "total_length", total, f"smaller than the {hlen}-byte header it includes"
            )
        if total > n and not partial:
            raise ParseError(
                _LAYER, "total_length", total, f"says {total} bytes but only {n} arrived (truncated)"
            )
        return hlen

    @staticmethod
    def _refuse_checksum(header: bytes, csum: int) -> None:
        want = ~ones_complement_sum(header[:10] + b"\0\0" + header[12:]) & 0xFFFF
        raise ParseError(
            _LAYER, "checksum", f"{csum:#06x}",
            f"the header's checksum should be {want:#06x}: the header was corrupted",
        )

    def replace(self, **changes: object) -> IPv4Packet:
        """A copy with ``changes``; IHL, Total Length and checksum are recomputed unless given.

        ``packet.replace(ttl=packet.ttl - 1)`` is what a router does (and why
        it must recompute the checksum).
        """
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields.update(ihl=None, total_length=None, checksum=None)
        fields.update(changes)
        return IPv4Packet(**fields)  # type: ignore[arg-type]

    # -- display -------------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: ``IPv4 192.168.1.10 > 10.0.0.1 ICMP ttl=64 id=0 len=84 DF``."""
        text = (
            f"IPv4 {self.src} > {self.dst} {protocol_name(self.protocol)} ttl={self.ttl} "
            f"id={self.identification} len={self.length}"
        )
        if self.dont_fragment:
            text += " DF"
        if self.is_fragment:
            text += f" frag offset={self.fragment_offset_bytes}" + (" MF" if self.more_fragments else "")
        return text

    def __repr__(self) -> str:
        parts = [f"src={str(self.src)!r}", f"dst={str(self.dst)!r}"]
        if self.protocol:
            parts.append(f"protocol={protocol_name(self.protocol)}({self.protocol})"
                         if self.protocol in IPProtocol._value2member_map_ else
                         f"protocol={self.protocol}")
        for name in ("ttl", "identification", "dscp", "ecn", "fragment_offset"):
            value = getattr(self, name)
            default = self.__dataclass_fields__[name].default
            if value != default:
                parts.append(f"{name}={value}")
        for name in ("dont_fragment", "more_fragments", "reserved_flag"):
            if getattr(self, name):
                parts.append(f"{name}=True")
        for name in ("ihl", "total_length"):
            if getattr(self, name) is not None:
                parts.append(f"{name}={getattr(self, name)}")
        if self.checksum is not None:
            parts.append(f"checksum={self.checksum:#06x}")
        if self.options:
            parts.append(f"options={self.options!r}")
        payload = self.payload
        shown = repr(payload[:16]) + ("..." if len(payload) > 16 else "")
        parts.append(f"payload={shown} ({len(payload)} bytes)" if len(payload) > 16 else
                     f"payload={shown}")
        return f"IPv4Packet({', '.join(parts)})"

    def fields(self) -> list[tuple[str, str, str]]:
        """``(field, value, meaning)`` rows for the HTML table."""
        hlen = self.header_length
        data = self.header()
        csum = int.from_bytes(data[10:12], "big")
        ok = self.checksum is None or self.checksum == self.computed_checksum()
        return [
            ("version / IHL", f"{self.version} / {hlen // 4}", f"IPv{self.version}, {hlen}-byte header"),
            ("DSCP / ECN", f"{self.dscp} / {self.ecn}", "priority class / congestion marks"),
            ("total length", str(self.length), "header + payload bytes"),
            ("identification", str(self.identification), "same for every fragment of a datagram"),
            ("flags / offset",
             f"{'DF ' if self.dont_fragment else ''}{'MF ' if self.more_fragments else ''}"
             f"/ {self.fragment_offset}",
             f"fragment data starts at byte {self.fragment_offset_bytes}"),
            ("TTL", str(self.ttl), "hops left; a router that makes it 0 drops the packet"),
            ("protocol", f"{self.protocol}", protocol_name(self.protocol)),
            ("checksum", f"{csum:#06x}",
             "correct" if ok else f"WRONG (should be {self.computed_checksum():#06x})"),
            ("source", str(self.src), ""),
            ("destination", str(self.dst), ""),
        ] + ([("options", self.options.hex(), f"{len(self.options)} bytes")] if self.options else [])

    def spans(self) -> list[tuple[int, int, str]]:
        spans = [
            (0, 1, "version / IHL"), (1, 2, "DSCP / ECN"), (2, 4, "total length"),
            (4, 6, "identification"), (6, 8, "flags / offset"), (8, 9, "TTL"),
            (9, 10, "protocol"), (10, 12, "checksum"), (12, 16, "source"), (16, 20, "destination"),
        ]
        if self.options:
            spans.append((20, 20 + len(self.options), "options"))
        return spans

    def _repr_html_(self) -> str:
        return header_html(self.summary(), self.fields(), self.pack(), self.spans())


_interned_address = _address_table.get
_unpack_header = _HEADER.unpack_from
_from_bytes = int.from_bytes


class _Unchecked:
    """Same slots as :class:`IPv4Packet`, not frozen: :meth:`IPv4Packet.parse` fills one in."""

    __slots__ = IPv4Packet.__slots__


# --- fragmentation ------------------------------------------------------------------------------


class FragmentationNeeded(LabkitError):
    """A packet larger than the link MTU has DF set: it must be dropped.

    A router answers with ICMP destination unreachable, code 4
    "fragmentation needed and DF set", carrying the next-hop MTU (the basis
    of path MTU discovery, RFC 1191).
    """

    def __init__(self, packet: IPv4Packet, mtu: int) -> None:
        self.packet = packet
        self.mtu = mtu
        super().__init__(
            f"a {packet.length}-byte packet with DF set does not fit the {mtu}-byte MTU: "
            "drop it and send ICMP 'fragmentation needed' (type 3, code 4) back"
        )


def _options_for_later_fragments(options: bytes) -> bytes:
    """The options that RFC 791 copies into every fragment: those with the copy bit (0x80) set."""
    out = bytearray()
    i = 0
    while i < len(options):
        kind = options[i]
        if kind == 0:  # End of Options List
            break
        if kind == 1:  # No Operation
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            raise LabkitValueError(f"options: malformed option of type {kind} at byte {i}")
        length = options[i + 1]
        if kind & 0x80:
            out += options[i : i + length]
        i += length
    out += bytes(-len(out) % 4)
    return bytes(out)


def fragment(packet: IPv4Packet, mtu: int) -> list[IPv4Packet]:
    """Split ``packet`` into fragments of at most ``mtu`` bytes each (header included).

    Every fragment but the last carries a multiple of 8 data bytes and has MF
    set; offsets count 8-byte units from the start of the original data.
    A packet that already fits is returned alone. With DF set, a packet that
    does not fit raises :class:`FragmentationNeeded`. Fragmenting a fragment
    works too (a later link with a smaller MTU): offsets add up and the last
    piece keeps the original's MF.
    """
    if isinstance(mtu, bool) or not isinstance(mtu, int):
        raise LabkitValueError(f"mtu={mtu!r}: expected an int number of bytes")
    if packet.length <= mtu:
        return [packet]
    if packet.dont_fragment:
        raise FragmentationNeeded(packet, mtu)
    first_header = HEADER_LENGTH + len(packet.options)
    later_options = _options_for_later_fragments(packet.options)
    later_header = HEADER_LENGTH + len(later_options)
    if mtu < 68 or (mtu - first_header) // 8 < 1:
        raise LabkitValueError(
            f"mtu={mtu}: too small; every IPv4 link carries at least 68 bytes (RFC 791), "
            "enough for a 60-byte header and 8 data bytes"
        )
    data = packet.payload
    pieces: list[IPv4Packet] = []
    start = 0
    while start < len(data):
        header_len = first_header if start == 0 else later_header
        room = (mtu - header_len) // 8 * 8
        chunk = data[start : start + room]
        last = start + len(chunk) >= len(data)
        pieces.append(
            packet.replace(
                options=packet.options if start == 0 else later_options,
                payload=chunk,
                fragment_offset=packet.fragment_offset + start // 8,
                more_fragments=packet.more_fragments if last else True,
            )
        )
        start += len(chunk)
    return pieces


# --- reassembly ---------------------------------------------------------------------------------

_Key = tuple[IPv4Address, IPv4Address, int, int]


@dataclass(frozen=True, slots=True)
class TimedOut:
    """A datagram given up on: its key and its first fragment, if that one had arrived.

    A host that has the first fragment answers with ICMP time exceeded, code 1
    "fragment reassembly time exceeded" (RFC 792); without it, it stays silent.
    """

    src: IPv4Address
    dst: IPv4Address
    protocol: int
    identification: int
    first_fragment: IPv4Packet | None
    received_bytes: int


class _Pending:
    __slots__ = ("deadline", "pieces", "end", "first", "poisoned")

    def __init__(self, deadline: int) -> None:
        self.deadline = deadline
        self.pieces: dict[int, bytes] = {}
        self.end: int | None = None  # the data length, known once the last fragment arrived
        self.first: IPv4Packet | None = None
        self.poisoned = False


class Reassembler:
    """Put fragmented datagrams back together, with time passed in.

    Feed every arriving packet to :meth:`add` with the current time in
    nanoseconds; it returns the whole datagram when the last missing piece
    arrives (and unfragmented packets straight away), else ``None``.
    Datagrams are told apart by (source, destination, protocol,
    identification). Call :meth:`expire` (or any :meth:`add`) to give up on
    datagrams whose first fragment is older than ``timeout`` ns.

    - fragments may arrive in any order;
    - an exact duplicate (same offset, same bytes) is ignored;
    - any other overlap, a fragment past the end, or two different ends drop
      the whole datagram; its later fragments are dropped too until the
      timeout (RFC 5722 style);
    - :attr:`counters` counts what happened (``reassembled``, ``duplicates``,
      ``overlaps``, ``invalid``, ``timeouts``).
    """

    def __init__(self, timeout: int = DEFAULT_REASSEMBLY_TIMEOUT_NS, max_pending: int = 64) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
            raise LabkitValueError(f"timeout={timeout!r}: expected a positive int of nanoseconds")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise LabkitValueError(f"max_pending={max_pending!r}: expected a positive int")
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[_Key, _Pending] = {}
        self.counters = dict.fromkeys(
            ("reassembled", "duplicates", "overlaps", "invalid", "timeouts", "evicted"), 0
        )
        self.timed_out: list[TimedOut] = []

    def __len__(self) -> int:
        """Datagrams waiting for fragments."""
        return sum(1 for p in self._pending.values() if not p.poisoned)

    def next_deadline(self) -> int | None:
        """The earliest time at which a pending datagram times out, or ``None``."""
        return min((p.deadline for p in self._pending.values()), default=None)

    def expire(self, now: int) -> list[TimedOut]:
        """Give up on datagrams older than the timeout; return them (also kept in :attr:`timed_out`)."""
        gone = []
        for key, pend in list(self._pending.items()):
            if pend.deadline <= now:
                del self._pending[key]
                if not pend.poisoned:
                    self.counters["timeouts"] += 1
                    gone.append(TimedOut(*key, pend.first, sum(map(len, pend.pieces.values()))))
        self.timed_out.extend(gone)
        return gone

    def add(self, packet: IPv4Packet, now: int) -> IPv4Packet | None:
        """Take one packet; return a whole datagram when one is complete."""
        self.expire(now)
        if not packet.is_fragment:
            return packet
        key = (packet.src, packet.dst, packet.protocol, packet.identification)
        pend = self._pending.get(key)
        if pend is None:
            if len(self._pending) >= self.max_pending:  # evict the oldest: bounded memory
                oldest = min(self._pending, key=lambda k: self._pending[k].deadline)
                del self._pending[oldest]
                self.counters["evicted"] += 1
            pend = self._pending[key] = _Pending(now + self.timeout)
        if pend.poisoned:
            self.counters["overlaps"] += 1
            return None
        start = packet.fragment_offset_bytes
        data = packet.payload
        end = start + len(data)
        if (packet.more_fragments and len(data) % 8) or end + HEADER_LENGTH > MAX_PACKET_LENGTH or (
            not data and packet.more_fragments
        ):
            self.counters["invalid"] += 1
            return None
        if start in pend.pieces and pend.pieces[start] == data:
            self.counters["duplicates"] += 1
            return None
        clash = (
            any(start < s + len(d) and s < end for s, d in pend.pieces.items())
            or (pend.end is not None and (end > pend.end or (not packet.more_fragments and end != pend.end)))
            or (not packet.more_fragments and any(s + len(d) > end for s, d in pend.pieces.items()))
        )
        if clash:
            pend.poisoned = True
            pend.pieces.clear()
            pend.first = None
            self.counters["overlaps"] += 1
            return None
        pend.pieces[start] = data
        if start == 0:
            pend.first = packet
        if not packet.more_fragments:
            pend.end = end
        if pend.end is None or pend.first is None:
            return None
        if sum(map(len, pend.pieces.values())) != pend.end:
            return None
        del self._pending[key]
        self.counters["reassembled"] += 1
        payload = b"".join(pend.pieces[s] for s in sorted(pend.pieces))
        return pend.first.replace(payload=payload, more_fragments=False, fragment_offset=0)

    def pending(self) -> Iterator[tuple[_Key, list[tuple[int, int]]]]:
        """For each waiting datagram, its key and the byte ranges received so far."""
        for key, pend in self._pending.items():
            if not pend.poisoned:
                yield key, sorted((s, s + len(d)) for s, d in pend.pieces.items())
