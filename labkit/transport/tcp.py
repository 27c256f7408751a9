"""The TCP segment (RFC 9293 section 3.1): header, options and checksum.

The fixed header is :data:`LAYOUT`: source and destination ports; the
sequence number (of the first data byte, or of the SYN); the acknowledgment
number (the next byte the sender expects, valid with ACK); the data offset
(the header's length in 32-bit words, 5..15, in the high 4 bits; the low 4 are
reserved); the flags (CWR ECE URG ACK PSH RST SYN FIN); the window (how many
bytes the sender is willing to receive); the checksum over an IPv4
pseudo-header, the header and the data; and the urgent pointer (valid with
URG). Up to 40 bytes of options follow, padded to a multiple of 4, then the
data.

Options are kept as the sequence of ``(kind, data)`` pairs they arrived in,
so parsing and packing give back the same bytes; :func:`tcp_options` builds
the usual ones (MSS, window scale and SACK-permitted on a SYN, RFC 7323
timestamps, RFC 2018 SACK blocks) and the properties :attr:`TCPSegment.mss`
and friends read them. An option of a known kind with the wrong length is
refused (:class:`~labkit.errors.ParseError` naming it); a window scale above
14 reads as 14 (RFC 7323 2.3). The four reserved bits of the offset byte are
ignored when parsing (RFC 9293 3.1: "must be zero in generated segments and
must be ignored in received segments"), so newer flags (AccECN's AE) pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from ipaddress import IPv4Address
from typing import Any

from labkit.display import header_html
from labkit.errors import LabkitValueError, ParseError
from labkit.fields import Layout, unfrozen_twin
from labkit.net.checksum import transport_checksum, transport_checksum_ok
from labkit.transport.ports import check_port

__all__ = [
    "Flags",
    "TCPSegment",
    "TCPOption",
    "tcp_options",
    "LAYOUT",
    "HEADER_LENGTH",
    "MAX_OPTIONS_LENGTH",
    "PROTOCOL",
    "OPT_EOL",
    "OPT_NOP",
    "OPT_MSS",
    "OPT_WINDOW_SCALE",
    "OPT_SACK_PERMITTED",
    "OPT_SACK",
    "OPT_TIMESTAMPS",
]

#: The fixed header, field by field.
LAYOUT = Layout(
    ("source port", "H"),
    ("destination port", "H"),
    ("sequence number", "I"),
    ("acknowledgment", "I"),
    ("data offset", "B"),
    ("flags", "B"),
    ("window", "H"),
    ("checksum", "H"),
    ("urgent pointer", "H"),
)
HEADER_LENGTH = LAYOUT.size
MAX_OPTIONS_LENGTH = 40
PROTOCOL = 6
OPT_EOL, OPT_NOP, OPT_MSS, OPT_WINDOW_SCALE, OPT_SACK_PERMITTED = 0, 1, 2, 3, 4
OPT_SACK, OPT_TIMESTAMPS = 5, 8
_OPTION_LENGTHS = {OPT_MSS: 4, OPT_WINDOW_SCALE: 3, OPT_SACK_PERMITTED: 2, OPT_TIMESTAMPS: 10}
#: RFC 2018: a SACK option holds 1 to 4 blocks of two 32-bit edges
_SACK_LENGTHS = (10, 18, 26, 34)
#: RFC 7323 2.3: the largest shift a window scale may ask for
MAX_WINDOW_SCALE = 14
_HEADER = LAYOUT.struct
_LAYER = "tcp"

TCPOption = tuple[int, bytes]


class Flags(IntFlag):
    """The control bits, in header order from the least significant bit."""

    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80

    def __str__(self) -> str:
        order = ["SYN", "FIN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
        return ",".join(n for n in order if self & Flags[n]) or "none"


def tcp_options(
    mss: int | None = None,
    window_scale: int | None = None,
    sack_permitted: bool = False,
    timestamps: tuple[int, int] | None = None,
    sack: tuple[tuple[int, int], ...] = (),
) -> tuple[TCPOption, ...]:
    """Options in the order Linux sends them.

    On a SYN with ``timestamps=(TSval, TSecr)``: MSS, SACK-permitted,
    timestamps, NOP, window scale (20 bytes); without timestamps: MSS, NOP,
    window scale, NOP, NOP, SACK-permitted. On other segments: NOP, NOP,
    timestamps, then NOP, NOP, SACK with ``sack``'s ``(left, right)`` blocks
    (32-bit edges, at most 4; 3 fit beside timestamps).
    """
    out: list[TCPOption] = []
    if mss is not None:
        if not 0 < mss <= 0xFFFF:
            raise LabkitValueError(f"mss={mss!r}: must be 1..65535")
        out.append((OPT_MSS, mss.to_bytes(2, "big")))
    if window_scale is not None and not 0 <= window_scale <= MAX_WINDOW_SCALE:
        raise LabkitValueError(f"window_scale={window_scale!r}: RFC 7323 allows 0..14")
    if timestamps is not None:
        tsval, tsecr = timestamps
        raw = _u32(tsval, "TSval").to_bytes(4, "big") + _u32(tsecr, "TSecr").to_bytes(4, "big")
        if sack_permitted:
            out.append((OPT_SACK_PERMITTED, b""))
        else:
            out += [(OPT_NOP, b""), (OPT_NOP, b"")]
        out.append((OPT_TIMESTAMPS, raw))
        if window_scale is not None:
            out += [(OPT_NOP, b""), (OPT_WINDOW_SCALE, bytes([window_scale]))]
    else:
        if window_scale is not None:
            out += [(OPT_NOP, b""), (OPT_WINDOW_SCALE, bytes([window_scale]))]
        if sack_permitted:
            out += [(OPT_NOP, b""), (OPT_NOP, b""), (OPT_SACK_PERMITTED, b"")]
    if sack:
        if len(sack) > 4:
            raise LabkitValueError(f"sack: {len(sack)} blocks, at most 4 fit (RFC 2018)")
        edges = b"".join(_u32(left, "SACK left edge").to_bytes(4, "big")
                         + _u32(right, "SACK right edge").to_bytes(4, "big")
                         for left, right in sack)
        out += [(OPT_NOP, b""), (OPT_NOP, b""), (OPT_SACK, edges)]
    return tuple(out)


def _pack_options(options: tuple[TCPOption, ...]) -> bytes:
    out = bytearray()
    for kind, data in options:
        if kind in (OPT_EOL, OPT_NOP):
            out.append(kind)
        else:
            out += bytes([kind, 2 + len(data)]) + data
    out += bytes(-len(out) % 4)
    if len(out) > MAX_OPTIONS_LENGTH:
        raise LabkitValueError(f"options: {len(out)} bytes, more than TCP's {MAX_OPTIONS_LENGTH}")
    return bytes(out)


def _parse_options(raw: bytes) -> tuple[TCPOption, ...]:
    out: list[TCPOption] = []
    i = 0
    while i < len(raw):
        kind = raw[i]
        if kind == OPT_EOL:
            if any(raw[i + 1:]):
                raise ParseError(_LAYER, "options", raw.hex(), "non-zero bytes after end-of-list")
            break
        if kind == OPT_NOP:
            out.append((OPT_NOP, b""))
            i += 1
            continue
        if i + 1 >= len(raw):
            raise ParseError(_LAYER, f"option {kind}", "no length byte", "truncated option list")
        length = raw[i + 1]
        if length < 2 or i + length > len(raw):
            raise ParseError(_LAYER, f"option {kind} length", length,
                             f"does not fit the {len(raw) - i} option bytes left")
        if kind in _OPTION_LENGTHS and length != _OPTION_LENGTHS[kind]:
            raise ParseError(_LAYER, f"option {kind} length", length,
                             f"must be {_OPTION_LENGTHS[kind]}")
        if kind == OPT_SACK and length not in _SACK_LENGTHS:
            raise ParseError(_LAYER, f"option {kind} length", length,
                             "must be 2 + 8 per block, 1 to 4 blocks (10, 18, 26 or 34)")
        out.append((kind, raw[i + 2:i + length]))
        i += length
    return tuple(out)


def _u32(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise LabkitValueError(f"{name}={value!r}: must be a 32-bit unsigned number")
    return value


@dataclass(frozen=True, slots=True)
class TCPSegment:
    """A TCP segment. ``checksum`` is computed by :meth:`pack` (given the addresses) unless set.

    The checksum is a computed field: it takes no part in equality, so a segment
    equals its parsed copy (``TCPSegment.parse(s.pack(src, dst)) == s``).
    """

    src_port: int
    dst_port: int
    seq: int = 0
    ack: int = 0
    flags: Flags = Flags(0)
    window: int = 0
    payload: bytes = b""
    options: tuple[TCPOption, ...] = ()
    urgent: int = 0
    checksum: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        check_port(self.src_port, "src_port")
        check_port(self.dst_port, "dst_port")
        _u32(self.seq, "seq")
        _u32(self.ack, "ack")
        if not 0 <= int(self.flags) <= 0xFF:
            raise LabkitValueError(f"flags={self.flags!r}: 8 control bits")
        object.__setattr__(self, "flags", Flags(int(self.flags)))
        for name in ("window", "urgent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
                raise LabkitValueError(f"{name}={value!r}: must be 0..65535")
        object.__setattr__(self, "payload", bytes(self.payload))
        object.__setattr__(self, "options", tuple(self.options))
        _pack_options(self.options)  # validates the size

    # --- sequence space ---------------------------------------------------------------------
    @property
    def seg_len(self) -> int:
        """SEG.LEN: data bytes, plus one for SYN and one for FIN (they use a sequence number)."""
        return len(self.payload) + bool(self.flags & Flags.SYN) + bool(self.flags & Flags.FIN)

    # --- options -------------------------------------------------------------------------------
    def _option(self, kind: int) -> bytes | None:
        for k, data in self.options:
            if k == kind:
                return data
        return None

    @property
    def mss(self) -> int | None:
        data = self._option(OPT_MSS)
        return None if data is None else int.from_bytes(data, "big")

    @property
    def window_scale(self) -> int | None:
        """The shift count of a window scale option; above 14 reads as 14 (RFC 7323 2.3)."""
        data = self._option(OPT_WINDOW_SCALE)
        return None if data is None else min(data[0], MAX_WINDOW_SCALE)

    @property
    def sack_permitted(self) -> bool:
        return self._option(OPT_SACK_PERMITTED) is not None

    @property
    def timestamps(self) -> tuple[int, int] | None:
        """``(TSval, TSecr)`` of an RFC 7323 timestamps option, or None."""
        data = self._option(OPT_TIMESTAMPS)
        if data is None:
            return None
        return int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big")

    @property
    def sack(self) -> tuple[tuple[int, int], ...]:
        """The RFC 2018 SACK blocks, ``(left edge, right edge)`` 32-bit pairs; () if none."""
        data = self._option(OPT_SACK)
        if not data:
            return ()
        return tuple((int.from_bytes(data[i:i + 4], "big"), int.from_bytes(data[i + 4:i + 8], "big"))
                     for i in range(0, len(data) - 7, 8))

    # --- bytes ------------------------------------------------------------------------------
    def pack(self, src: IPv4Address | str | None = None, dst: IPv4Address | str | None = None) -> bytes:
        """The segment's bytes; with ``src`` and ``dst`` the checksum is computed (else 0)."""
        options = _pack_options(self.options)
        offset = (HEADER_LENGTH + len(options)) // 4 << 4
        sport, dport, seq, ack, flags = self.src_port, self.dst_port, self.seq, self.ack, int(self.flags)
        window, urgent, rest = self.window, self.urgent, options + self.payload
        checksum = self.checksum
        if checksum is None:
            checksum = 0
            if src is not None and dst is not None:
                # the fields' plain sum: a 32-bit number is congruent to the sum of its halves
                fields_sum = sport + dport + seq + ack + (offset << 8 | flags) + window + urgent
                checksum = transport_checksum(src, dst, PROTOCOL,
                                              HEADER_LENGTH + len(rest), fields_sum, rest)
        return _HEADER.pack(sport, dport, seq, ack, offset, flags, window, checksum, urgent) + rest

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        src: IPv4Address | str | None = None,
        dst: IPv4Address | str | None = None,
    ) -> TCPSegment:
        """Parse a segment (the whole IP payload); with ``src`` and ``dst`` verify the checksum."""
        if type(data) is bytes:
            raw = data
        elif isinstance(data, (bytearray, memoryview)):
            raw = bytes(data)
        else:
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        if len(raw) < HEADER_LENGTH:
            raise ParseError(_LAYER, "length", len(raw), f"shorter than the {HEADER_LENGTH}-byte header")
        sport, dport, seq, ack, offset_byte, flags, window, checksum, urgent = _HEADER.unpack_from(raw)
        header_length = (offset_byte >> 4) * 4
        if header_length < HEADER_LENGTH:
            raise ParseError(_LAYER, "data offset", offset_byte >> 4, "below the minimum of 5 words")
        if header_length > len(raw):
            raise ParseError(_LAYER, "data offset", offset_byte >> 4,
                             f"header of {header_length} bytes, but only {len(raw)} arrived")
        if src is not None and dst is not None and not transport_checksum_ok(
            src, dst, PROTOCOL, raw
        ):
            raise ParseError(_LAYER, "checksum", f"{checksum:#06x}", "does not match the segment")
        options = _parse_options(raw[HEADER_LENGTH:header_length]) if header_length > 20 else ()
        # Every field came out of the unpack in range: skip __post_init__'s checks and the
        # frozen dataclass's slow setattr (see labkit.fields.unfrozen_twin).
        s: Any = _Twin()
        s.src_port, s.dst_port, s.seq, s.ack = sport, dport, seq, ack
        s.flags, s.window, s.payload, s.options = Flags(flags), window, raw[header_length:], options
        s.urgent, s.checksum = urgent, checksum
        s.__class__ = cls
        return s

    def summary(self) -> str:
        parts = [f"TCP {self.src_port} > {self.dst_port} [{self.flags}] seq={self.seq}"]
        if self.flags & Flags.ACK:
            parts.append(f"ack={self.ack}")
        parts.append(f"win={self.window}")
        if self.mss is not None:
            parts.append(f"mss={self.mss}")
        if self.window_scale is not None:
            parts.append(f"wscale={self.window_scale}")
        if self.sack_permitted:
            parts.append("sackOK")
        if self.sack:
            parts.append("sack=" + ",".join(f"{left}-{right}" for left, right in self.sack))
        ts = self.timestamps
        if ts is not None:
            parts.append(f"TSval={ts[0]} TSecr={ts[1]}")
        parts.append(f"len={len(self.payload)}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def fields(self) -> list[tuple[str, str, str]]:
        """(field, value, meaning) rows for the Jupyter display."""
        raw = self.pack()
        options = ", ".join(f"kind {k}" + (f" ({d.hex()})" if d else "") for k, d in self.options)
        return LAYOUT.rows([
            (str(self.src_port), "the sender's port"),
            (str(self.dst_port), "the receiving program's port"),
            (str(self.seq), "number of the first data byte (or of SYN)"),
            (str(self.ack), "next byte expected (valid with ACK)"),
            (str(LAYOUT.read(raw, "data offset") >> 4), "header length in 32-bit words"),
            (str(self.flags), "control bits"),
            (str(self.window), "bytes the sender can still receive"),
            (f"{LAYOUT.read(raw, 'checksum'):#06x}", "over pseudo-header, header and data"),
            (str(self.urgent), "valid with URG"),
        ]) + [
            ("options", options or "none", f"mss={self.mss}" if self.mss else ""),
            ("data", f"{len(self.payload)} bytes", ""),
        ]

    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, end, field)`` byte ranges of :meth:`pack`'s output, for hex maps."""
        header = HEADER_LENGTH + len(_pack_options(self.options))
        return LAYOUT.spans() + [(HEADER_LENGTH, header, "options"),
                                 (header, header + len(self.payload), "data")]

    def _repr_html_(self) -> str:
        return header_html(self.summary(), self.fields(), self.pack(), self.spans())


_Twin = unfrozen_twin(TCPSegment)
