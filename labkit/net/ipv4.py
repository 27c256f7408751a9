"""IPv4 packets (RFC 791): the header, fragmentation to a link MTU, and reassembly.

The header is :data:`LAYOUT`, 20 bytes, then up to 40 bytes of options:
version (4) and IHL in one byte, DSCP and ECN (the old Type of Service) in the
next, Total Length, Identification, the flags (reserved, DF, MF) and the
fragment offset in one 16-bit word, TTL, Protocol, the header checksum, and
the source and destination addresses.

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

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from heapq import heappop, heappush
from ipaddress import IPv4Address
from typing import Any

from labkit.display import header_html
from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.fields import Layout, unfrozen_twin
from labkit.net.addressing import _interned as _address_table
from labkit.net.addressing import address_from_int, as_address
from labkit.net.checksum import checksum_of, data_sum

__all__ = [
    "IPv4Packet",
    "IPProtocol",
    "LAYOUT",
    "ICMP",
    "TCP",
    "UDP",
    "HEADER_LENGTH",
    "MAX_HEADER_LENGTH",
    "MAX_PACKET_LENGTH",
    "DEFAULT_TTL",
    "FragmentationNeeded",
    "fragment",
    "Reassembler",
    "TimedOut",
    "TIMED_OUT_KEPT",
    "DEFAULT_REASSEMBLY_TIMEOUT_NS",
]

_LAYER = "ipv4"
#: The fixed header, field by field (the addresses as 32-bit numbers).
LAYOUT = Layout(
    ("version / IHL", "B"),
    ("DSCP / ECN", "B"),
    ("total length", "H"),
    ("identification", "H"),
    ("flags / offset", "H"),
    ("TTL", "B"),
    ("protocol", "B"),
    ("checksum", "H"),
    ("source", "I"),
    ("destination", "I"),
)
_HEADER = LAYOUT.struct
#: Bytes in a header without options.
HEADER_LENGTH = LAYOUT.size
#: The longest header: IHL 15 words.
MAX_HEADER_LENGTH = 60
#: The largest datagram Total Length can describe.
MAX_PACKET_LENGTH = 65_535
#: The TTL Linux and macOS put on new packets (Windows uses 128).
DEFAULT_TTL = 64
#: 30 seconds, in nanoseconds.
DEFAULT_REASSEMBLY_TIMEOUT_NS = 30_000_000_000

_DF = 0x4000
_MF = 0x2000
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
    :attr:`fragment_offset_bytes`). IHL, Total Length and the checksum are
    computed fields: they take no part in equality, so a packet equals its
    parsed copy (``IPv4Packet.parse(p.pack()) == p``).

    >>> p = IPv4Packet(src="192.168.1.10", dst="10.0.0.1", protocol=ICMP, payload=b"hi")
    >>> p.pack().hex()[:24]
    '45000016000000004001af34'
    """

    version: int = 4
    ihl: int | None = field(default=None, compare=False)
    dscp: int = 0
    ecn: int = 0
    total_length: int | None = field(default=None, compare=False)
    identification: int = 0
    reserved_flag: bool = False
    dont_fragment: bool = False
    more_fragments: bool = False
    fragment_offset: int = 0
    ttl: int = DEFAULT_TTL
    protocol: int = 0
    checksum: int | None = field(default=None, compare=False)
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
        # The fields go into an unfrozen twin by plain assignment, which then takes its
        # real class (see labkit.fields.unfrozen_twin for what that buys, measured).
        u: Any = _Twin()
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
        # The usual packet (addresses already IPv4Address, plain ints in range, version 4,
        # no DSCP, ECN, fragment offset or options, and IHL, Total Length and checksum left
        # to pack) passes this one test; anything else is converted or refused, field by
        # field, while the object can still be written to.
        if not (
            type(src) is IPv4Address and type(dst) is IPv4Address and type(payload) is bytes
            and len(payload) <= MAX_PACKET_LENGTH - HEADER_LENGTH and not options
            and ihl is None and total_length is None and checksum is None
            and type(version) is int and type(dscp) is int and type(ecn) is int
            and type(fragment_offset) is int and type(ttl) is int and type(protocol) is int
            and type(identification) is int and type(options) is bytes
            and version == 4 and dscp == ecn == fragment_offset == 0
            and 0 <= ttl <= 255 and 0 <= protocol <= 255 and 0 <= identification <= 0xFFFF
        ):
            _normalise(u)
        u.__class__ = cls
        return u

    def __getnewargs_ex__(self) -> tuple[tuple[()], dict[str, object]]:
        return (), {name: getattr(self, name) for name in self.__dataclass_fields__}

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
        # _ip is IPv4Address's integer: int() would cost a method call each, on every packet
        # sent (tests/test_net_ipv4.py pins the attribute; labkit.net.checksum reads it too)
        src, dst = self.src._ip, self.dst._ip  # type: ignore[attr-defined]
        csum = self.checksum
        if csum is None:
            # The header's words, straight from the field values: an address is congruent to
            # the sum of its two 16-bit halves (see labkit.net.checksum).
            total_sum = (vihl << 8 | tos) + total + ident + ff + (ttl << 8 | proto) + src + dst
            csum = checksum_of(total_sum + data_sum(options) if options else total_sum)
        return _HEADER.pack(vihl, tos, total, ident, ff, ttl, proto, csum, src, dst) + options + self.payload

    def header(self) -> bytes:
        """The header's bytes (with options), as :meth:`pack` writes them."""
        return self.pack()[: HEADER_LENGTH + len(self.options)]

    def __bytes__(self) -> bytes:
        return self.pack()

    def computed_checksum(self) -> int:
        """The checksum this header should carry (whatever :attr:`checksum` says)."""
        return int(LAYOUT.read(self.replace(checksum=None).header(), "checksum"))

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
        p: Any = _Twin()
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
        return p

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
        start, end = LAYOUT.span("checksum")
        want = checksum_of(data_sum(header[:start] + b"\0\0" + header[end:]))
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
        return IPv4Packet(**fields)

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
        csum = LAYOUT.read(self.header(), "checksum")
        ok = self.checksum is None or self.checksum == self.computed_checksum()
        rows = LAYOUT.rows([
            (f"{self.version} / {hlen // 4}", f"IPv{self.version}, {hlen}-byte header"),
            (f"{self.dscp} / {self.ecn}", "priority class / congestion marks"),
            (str(self.length), "header + payload bytes"),
            (str(self.identification), "same for every fragment of a datagram"),
            (f"{'DF ' if self.dont_fragment else ''}{'MF ' if self.more_fragments else ''}"
             f"/ {self.fragment_offset}", f"fragment data starts at byte {self.fragment_offset_bytes}"),
            (str(self.ttl), "hops left; a router that makes it 0 drops the packet"),
            (f"{self.protocol}", protocol_name(self.protocol)),
            (f"{csum:#06x}", "correct" if ok else f"WRONG (should be {self.computed_checksum():#06x})"),
            (str(self.src), ""),
            (str(self.dst), ""),
        ])
        if self.options:
            rows.append(("options", self.options.hex(), f"{len(self.options)} bytes"))
        return rows

    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, end, field)`` byte ranges of :meth:`pack`'s output, for hex maps."""
        spans = LAYOUT.spans()
        if self.options:
            spans.append((HEADER_LENGTH, HEADER_LENGTH + len(self.options), "options"))
        return spans

    def _repr_html_(self) -> str:
        return header_html(self.summary(), self.fields(), self.pack(), self.spans())


_interned_address = _address_table.get
_unpack_header = _HEADER.unpack_from
_from_bytes = int.from_bytes


_Twin = unfrozen_twin(IPv4Packet)


def _normalise(u: Any) -> None:
    """Convert the fields of an IPv4Packet still being built, or refuse the bad one by name."""
    if type(u.src) is not IPv4Address:
        u.src = as_address(u.src, "src")
    if type(u.dst) is not IPv4Address:
        u.dst = as_address(u.dst, "dst")
    for name, top in _LIMITS:
        value = getattr(u, name)
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise LabkitValueError(f"{name}={value!r}: expected an int 0..{top}")
            value = int(value)  # an IntEnum such as ICMP
            setattr(u, name, value)
        if not 0 <= value <= top:
            raise LabkitValueError(f"{name}={value!r}: out of range, the field holds 0..{top}")
    for name, top in _OPTIONAL_LIMITS:
        value = getattr(u, name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top
        ):
            raise LabkitValueError(f"{name}={value!r}: expected None (computed by pack) or an int 0..{top}")
    for name in ("reserved_flag", "dont_fragment", "more_fragments"):
        value = getattr(u, name)
        if type(value) is not bool:
            if value not in (0, 1) or not isinstance(value, int):
                raise LabkitValueError(f"{name}={value!r}: a flag is True or False")
            setattr(u, name, bool(value))
    for name in ("options", "payload"):
        value = getattr(u, name)
        if type(value) is not bytes:
            if not isinstance(value, (bytearray, memoryview)):
                raise LabkitValueError(f"{name}: expected bytes, got {type(value).__name__}")
            setattr(u, name, bytes(value))
    n_opt = len(u.options)
    if n_opt % 4 or n_opt > MAX_HEADER_LENGTH - HEADER_LENGTH:
        raise LabkitValueError(
            f"options: {n_opt} bytes; options fill whole 32-bit words (pad with zero "
            f"bytes, the End of Options List) and at most {MAX_HEADER_LENGTH - HEADER_LENGTH} "
            "bytes fit the header"
        )
    if u.total_length is None and HEADER_LENGTH + n_opt + len(u.payload) > MAX_PACKET_LENGTH:
        raise LabkitValueError(
            f"payload: {len(u.payload)} bytes; with the {HEADER_LENGTH + n_opt}-byte header "
            f"that exceeds the {MAX_PACKET_LENGTH:,}-byte maximum of Total Length"
        )


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

#: A datagram's identity: source, destination, protocol, identification.
_Key = tuple[IPv4Address, IPv4Address, int, int]
#: The same as integers: what the reassembler indexes by (an IPv4Address hashes slowly).
_IntKey = tuple[int, int, int, int]


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
    """The fragments of one datagram so far: their offsets kept sorted, their bytes by offset."""

    __slots__ = ("key", "deadline", "starts", "pieces", "size", "top", "end", "first", "poisoned")

    def __init__(self, key: _Key, deadline: int) -> None:
        self.key = key
        self.deadline = deadline
        self.starts: list[int] = []  # the pieces' offsets, in order (they never overlap)
        self.pieces: dict[int, bytes] = {}
        self.size = 0  # data bytes held
        self.top = 0  # where the highest piece ends
        self.end: int | None = None  # the data length, known once the last fragment arrived
        self.first: IPv4Packet | None = None
        self.poisoned = False

    def overlaps(self, start: int, end: int) -> bool:
        """Does ``[start, end)`` overlap a piece held? Only the neighbours can (n log n in all)."""
        starts = self.starts
        i = bisect_left(starts, start)
        if i < len(starts) and starts[i] < end:
            return True
        return i > 0 and starts[i - 1] + len(self.pieces[starts[i - 1]]) > start

    def insert(self, start: int, data: bytes) -> None:
        insort(self.starts, start)
        self.pieces[start] = data
        self.size += len(data)
        self.top = max(self.top, start + len(data))

    def poison(self) -> None:
        self.poisoned = True
        self.starts.clear()
        self.pieces.clear()
        self.size = 0
        self.first = None


#: How many given-up datagrams :attr:`Reassembler.timed_out` remembers, newest last.
TIMED_OUT_KEPT = 256


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
      ``overlaps``, ``invalid``, ``timeouts``, ``evicted``).

    Memory and time are bounded: at most ``max_pending`` datagrams wait (a new
    one evicts the oldest), :attr:`timed_out` keeps the last
    :data:`TIMED_OUT_KEPT` given up, and a fragment costs O(log n) for the n
    fragments and m datagrams held (sorted offsets, and deadlines in a heap).
    """

    def __init__(self, timeout: int = DEFAULT_REASSEMBLY_TIMEOUT_NS, max_pending: int = 64) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
            raise LabkitValueError(f"timeout={timeout!r}: expected a positive int of nanoseconds")
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise LabkitValueError(f"max_pending={max_pending!r}: expected a positive int")
        self.timeout = timeout
        self.max_pending = max_pending
        self._pending: dict[_IntKey, _Pending] = {}
        # (deadline, order, key, pending) for every datagram held; an entry whose pending is no
        # longer the one held under its key is stale and skipped when it comes up
        self._deadlines: list[tuple[int, int, _IntKey, _Pending]] = []
        self._order = 0
        self.counters = dict.fromkeys(
            ("reassembled", "duplicates", "overlaps", "invalid", "timeouts", "evicted"), 0
        )
        #: The datagrams given up on, newest last (the last :data:`TIMED_OUT_KEPT`).
        self.timed_out: deque[TimedOut] = deque(maxlen=TIMED_OUT_KEPT)

    def __len__(self) -> int:
        """Datagrams waiting for fragments."""
        return sum(1 for p in self._pending.values() if not p.poisoned)

    def _oldest(self) -> tuple[_IntKey, _Pending] | None:
        """The held datagram with the earliest deadline (dropping stale heap entries)."""
        heap = self._deadlines
        while heap:
            _, _, key, pend = heap[0]
            if self._pending.get(key) is pend:
                return key, pend
            heappop(heap)
        return None

    def next_deadline(self) -> int | None:
        """The earliest time at which a pending datagram times out, or ``None``."""
        oldest = self._oldest()
        return None if oldest is None else oldest[1].deadline

    def expire(self, now: int) -> list[TimedOut]:
        """Give up on datagrams older than the timeout; return them (also kept in :attr:`timed_out`)."""
        gone = []
        while (oldest := self._oldest()) is not None and oldest[1].deadline <= now:
            key, pend = oldest
            heappop(self._deadlines)
            del self._pending[key]
            if not pend.poisoned:
                self.counters["timeouts"] += 1
                gone.append(TimedOut(*pend.key, pend.first, pend.size))
        self.timed_out.extend(gone)
        return gone

    def add(self, packet: IPv4Packet, now: int) -> IPv4Packet | None:
        """Take one packet; return a whole datagram when one is complete."""
        self.expire(now)
        if not packet.is_fragment:
            return packet
        src, dst, protocol, ident = packet.src, packet.dst, packet.protocol, packet.identification
        key = (int(src), int(dst), protocol, ident)
        pend = self._pending.get(key)
        if pend is None:
            if len(self._pending) >= self.max_pending:  # evict the oldest: bounded memory
                oldest = self._oldest()
                if oldest is not None:
                    heappop(self._deadlines)
                    del self._pending[oldest[0]]
                    self.counters["evicted"] += 1
            pend = self._pending[key] = _Pending((src, dst, protocol, ident), now + self.timeout)
            self._order += 1
            heappush(self._deadlines, (pend.deadline, self._order, key, pend))
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
        if pend.pieces.get(start) == data:
            self.counters["duplicates"] += 1
            return None
        last = not packet.more_fragments
        if (
            pend.overlaps(start, end)
            or (pend.end is not None and (end > pend.end or (last and end != pend.end)))
            or (last and pend.top > end)
        ):
            pend.poison()
            self.counters["overlaps"] += 1
            return None
        pend.insert(start, data)
        if start == 0:
            pend.first = packet
        if last:
            pend.end = end
        if pend.end is None or pend.first is None or pend.size != pend.end:
            return None
        del self._pending[key]  # its heap entry is now stale
        self.counters["reassembled"] += 1
        payload = b"".join(pend.pieces[s] for s in pend.starts)
        return pend.first.replace(payload=payload, more_fragments=False, fragment_offset=0)

    def pending(self) -> Iterator[tuple[_Key, list[tuple[int, int]]]]:
        """For each waiting datagram, its key and the byte ranges received so far."""
        for pend in self._pending.values():
            if not pend.poisoned:
                yield pend.key, [(s, s + len(pend.pieces[s])) for s in pend.starts]
