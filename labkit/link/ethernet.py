"""Ethernet II frames (IEEE 802.3 with an EtherType; DIX Ethernet), with optional 802.1Q tag.

On the wire, after the preamble and start-of-frame delimiter, comes the
header, :data:`LAYOUT`: the destination MAC address, the source MAC address and
the EtherType, what the payload is (0x0800 IPv4, 0x0806 ARP, 0x86DD IPv6). An
optional 802.1Q tag (:data:`TAG_LAYOUT`: the TPID 0x8100 in the EtherType's
place, then PCP:3 DEI:1 VID:12, then the real EtherType) may sit in between.
Then the payload, padded with zeros up to 46 bytes, and the FCS: the CRC-32 of
everything from the destination address on, least significant byte first.

The header is 14 bytes (6 + 6 + 2: the EtherType is 2 bytes, not 6), the FCS
4, so a frame carries 18 bytes of overhead. The sizes all follow from these
constants (see :data:`MIN_FRAME_LENGTH`, :data:`MAX_FRAME_LENGTH`).

Decisions, stated once:

- A type/length field below 0x0600 (1536) is an IEEE 802.3 *length* (an
  LLC/SNAP frame, used by spanning tree and some old protocols), and
  1501..1535 is undefined. This module parses Ethernet II only and raises a
  :class:`~labkit.errors.ParseError` on the field ``"ethertype"`` for both.
- Payloads over :data:`MAX_PAYLOAD` (1500, the MTU) are refused: Ethernet never
  fragments. Splitting a packet to fit the MTU is IP's job. Jumbo frames are
  not supported.
- Short payloads are padded with zero bytes on :meth:`EthernetFrame.pack`. The
  frame cannot tell padding from data, so :meth:`EthernetFrame.parse` returns
  the padded payload unless told the real length (``payload_length=``, read
  from the upper layer's own length field, e.g. IPv4's total length); see
  also :meth:`EthernetFrame.trimmed`.
- With ``fcs=True`` (the default, what a NIC sees) :meth:`~EthernetFrame.parse`
  also refuses *runts* shorter than 64 bytes. With ``fcs=False`` (what
  packet captures and raw sockets hold) anything with a whole header is
  accepted, because a capture shows outgoing frames before the NIC pads them.
- An 802.1Q-tagged frame keeps the 64-byte minimum, so its payload minimum is
  42 bytes, and its maximum size grows to 1522. Stacked tags (Q-in-Q) are not
  parsed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from labkit.display import header_html
from labkit.errors import LabkitValueError, ParseError
from labkit.fields import Layout, unfrozen_twin
from labkit.link.mac import MAC_LENGTH, MACAddress
from labkit.link.mac import _interned as _mac_table

__all__ = [
    "EtherType",
    "EthernetFrame",
    "VLANTag",
    "LAYOUT",
    "TAG_LAYOUT",
    "ETHERTYPE_LENGTH",
    "HEADER_LENGTH",
    "VLAN_TAG_LENGTH",
    "FCS_LENGTH",
    "MIN_PAYLOAD",
    "MAX_PAYLOAD",
    "MIN_FRAME_LENGTH",
    "MAX_FRAME_LENGTH",
    "MAX_TAGGED_FRAME_LENGTH",
    "MIN_ETHERTYPE",
    "fcs",
]


class EtherType(IntEnum):
    """Well-known EtherType values (IEEE registry)."""

    IPV4 = 0x0800
    ARP = 0x0806
    VLAN = 0x8100  # the TPID of an 802.1Q tag
    IPV6 = 0x86DD


#: The header, field by field.
LAYOUT = Layout(
    ("destination", f"{MAC_LENGTH}s"),
    ("source", f"{MAC_LENGTH}s"),
    ("EtherType", "H"),
)
#: What follows the TPID 0x8100 of an 802.1Q tag (the TPID takes the EtherType's place).
TAG_LAYOUT = Layout(
    ("tag control", "H"),
    ("EtherType", "H"),
)
#: Bytes in the EtherType field.
ETHERTYPE_LENGTH = LAYOUT.field("EtherType").end - LAYOUT.field("EtherType").start
#: Destination + source + EtherType = 6 + 6 + 2 = 14 bytes.
HEADER_LENGTH = LAYOUT.size
#: The 802.1Q tag inserted before the EtherType: TPID (2) + TCI (2).
VLAN_TAG_LENGTH = TAG_LAYOUT.size
#: The frame check sequence: a CRC-32.
FCS_LENGTH = 4
#: The largest payload: Ethernet's MTU.
MAX_PAYLOAD = 1500
#: The smallest payload. A frame must last at least one slot time, 512 bit times, so that
#: a sender is still transmitting when news of a collision from the far end of a maximum-size
#: shared segment reaches it; 512 bits = 64 bytes of frame, minus header and FCS.
MIN_PAYLOAD = 46
#: 14 + 46 + 4 = 64 bytes (= 512 bits, the slot time).
MIN_FRAME_LENGTH = HEADER_LENGTH + MIN_PAYLOAD + FCS_LENGTH
#: 14 + 1500 + 4 = 1518 bytes.
MAX_FRAME_LENGTH = HEADER_LENGTH + MAX_PAYLOAD + FCS_LENGTH
#: 1518 + 4 = 1522 bytes with an 802.1Q tag.
MAX_TAGGED_FRAME_LENGTH = MAX_FRAME_LENGTH + VLAN_TAG_LENGTH
#: Type/length values from here up are EtherTypes; up to 1500 they are 802.3 lengths.
MIN_ETHERTYPE = 0x0600

_HEADER = LAYOUT.struct
_TAG = TAG_LAYOUT.struct
_PAD = bytes(MIN_PAYLOAD)
_TPID = int(EtherType.VLAN)
_LAYER = "ethernet"


def fcs(data: bytes | bytearray | memoryview) -> bytes:
    """The 4-byte FCS of ``data`` as Ethernet sends it: CRC-32, least significant byte first."""
    return zlib.crc32(data).to_bytes(FCS_LENGTH, "little")


_NAMES: dict[int, str] = {EtherType.IPV4: "IPv4", EtherType.ARP: "ARP", EtherType.VLAN: "802.1Q",
                          EtherType.IPV6: "IPv6"}


def _ethertype_name(value: int) -> str:
    return _NAMES.get(value, "unknown")


def _check_uint(name: str, value: object, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LabkitValueError(f"{name}={value!r}: expected an int")
    if not 0 <= value < (1 << bits):
        raise LabkitValueError(f"{name}={value!r}: a {bits}-bit field holds 0 .. {(1 << bits) - 1}")
    return value


@dataclass(frozen=True, slots=True)
class VLANTag:
    """An IEEE 802.1Q tag: priority (PCP), drop eligible (DEI) and VLAN id (VID).

    On the wire it is the TPID 0x8100 followed by the 16-bit TCI,
    ``PCP(3) | DEI(1) | VID(12)``. VID 0 means "no VLAN, priority only";
    4095 is reserved and refused.
    """

    vid: int
    pcp: int = 0
    dei: bool = False

    def __post_init__(self) -> None:
        _check_uint("pcp", self.pcp, 3)
        if self.dei not in (0, 1) or not isinstance(self.dei, int):
            raise LabkitValueError(f"dei={self.dei!r}: the drop-eligible indicator is a bit")
        object.__setattr__(self, "dei", bool(self.dei))
        _check_uint("vid", self.vid, 12)
        if self.vid == 0xFFF:
            raise LabkitValueError("vid=4095: reserved by IEEE 802.1Q; use 1 .. 4094")

    @property
    def tci(self) -> int:
        """The tag control information: PCP, DEI and VID in one 16-bit number."""
        return (self.pcp << 13) | (int(self.dei) << 12) | self.vid

    @classmethod
    def from_tci(cls, tci: int) -> VLANTag:
        return cls(vid=tci & 0xFFF, pcp=tci >> 13, dei=bool(tci & 0x1000))


def _coerce_mac(name: str, value: Any) -> MACAddress:
    if isinstance(value, MACAddress):
        return value
    try:
        return MACAddress(value)
    except LabkitValueError as exc:
        raise LabkitValueError(f"{name}: {exc}") from None


@dataclass(frozen=True, slots=True, init=False)
class EthernetFrame:
    """An Ethernet II frame: who it is for, who sent it, what it carries.

    ``dst`` and ``src`` accept anything :class:`~labkit.link.MACAddress` does
    (a string, int or 6 bytes). ``payload`` is the upper layer's bytes,
    unpadded; :meth:`pack` adds the padding and, by default, the FCS.

    >>> f = EthernetFrame("ff:ff:ff:ff:ff:ff", "02:00:00:00:00:01", EtherType.ARP, b"hi")
    >>> len(f.pack()), len(f.pack(fcs=False))
    (64, 60)
    """

    dst: MACAddress
    src: MACAddress
    ethertype: int
    payload: bytes = b""
    vlan: VLANTag | None = field(default=None)

    def __new__(
        cls,
        dst: MACAddress | str | int | bytes,
        src: MACAddress | str | int | bytes,
        ethertype: int,
        payload: bytes = b"",
        vlan: VLANTag | None = None,
    ) -> EthernetFrame:
        # What dataclass's __init__ would do, but faster: a frozen dataclass sets each
        # field through object.__setattr__. Instead the fields go into an unfrozen twin by
        # plain assignment, which then takes its real class (labkit.fields.unfrozen_twin
        # says what that buys, measured). The usual frame passes the one test below;
        # anything else is converted or refused by name while it can still be written to.
        u: Any = _Twin()
        u.dst = dst
        u.src = src
        u.ethertype = ethertype
        u.payload = payload
        u.vlan = vlan
        if not (
            type(dst) is MACAddress and type(src) is MACAddress and type(ethertype) is int
            and MIN_ETHERTYPE <= ethertype <= 0xFFFF and ethertype != _TPID
            and type(payload) is bytes and len(payload) <= MAX_PAYLOAD and vlan is None
        ):
            _normalise(u)
        u.__class__ = cls
        return u

    def __getnewargs__(self) -> tuple[object, ...]:
        # copy and pickle call __new__ with these (then restore the slots)
        return (self.dst, self.src, self.ethertype, self.payload, self.vlan)

    @staticmethod
    def _refuse_ethertype(et: int) -> None:
        if not MIN_ETHERTYPE <= et <= 0xFFFF:
            raise LabkitValueError(
                f"ethertype={et:#06x}: EtherTypes run from {MIN_ETHERTYPE:#06x} to 0xffff "
                "(values up to 1500 are IEEE 802.3 length fields, not Ethernet II)"
            )
        if et == EtherType.VLAN:
            raise LabkitValueError(
                "ethertype=0x8100: that is the 802.1Q tag's TPID; give the tag as "
                "vlan=VLANTag(...) and the inner EtherType as ethertype"
            )

    # -- sizes -----------------------------------------------------------------------------
    @property
    def header_length(self) -> int:
        """14 bytes, 18 with an 802.1Q tag."""
        return HEADER_LENGTH + (VLAN_TAG_LENGTH if self.vlan is not None else 0)

    @property
    def padding_length(self) -> int:
        """Zero bytes :meth:`pack` adds to reach the minimum frame size."""
        return max(0, MIN_FRAME_LENGTH - FCS_LENGTH - self.header_length - len(self.payload))

    def wire_length(self, *, fcs: bool = True) -> int:
        """Length of :meth:`pack`'s result (without preamble and SFD)."""
        return (
            self.header_length
            + len(self.payload)
            + self.padding_length
            + (FCS_LENGTH if fcs else 0)
        )

    # -- bytes -----------------------------------------------------------------------------
    def pack(self, *, fcs: bool = True) -> bytes:
        """The frame's bytes: header, payload, zero padding and (by default) the FCS."""
        vlan = self.vlan
        # (_packed is MACAddress's bytes slot: .packed would cost a property call each)
        if vlan is None:
            head = _pack_header(self.dst._packed, self.src._packed, self.ethertype)
        else:
            head = _pack_header(self.dst._packed, self.src._packed, _TPID) + _TAG.pack(
                vlan.tci, self.ethertype
            )
        pad = MIN_FRAME_LENGTH - FCS_LENGTH - len(head) - len(self.payload)
        data = head + self.payload + _PAD[:pad] if pad > 0 else head + self.payload
        if fcs:
            return data + zlib.crc32(data).to_bytes(FCS_LENGTH, "little")
        return data

    def __bytes__(self) -> bytes:
        return self.pack()

    @classmethod
    def parse(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        fcs: bool = True,
        payload_length: int | None = None,
    ) -> EthernetFrame:
        """Parse a frame; raise :class:`~labkit.errors.ParseError` naming the bad field.

        ``fcs=True``: ``data`` ends with the 4-byte FCS, which is checked (a
        mismatch means the frame was corrupted and must be dropped).
        ``payload_length``: the real payload length, when the upper layer
        knows it; the padding after it is removed.
        """
        if type(data) is bytes:
            raw = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
        else:
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        n = len(raw)
        trailer = FCS_LENGTH if fcs else 0
        if n < HEADER_LENGTH + trailer:
            raise ParseError(
                _LAYER, "length", n,
                f"shorter than the {HEADER_LENGTH}-byte header"
                + (f" plus the {FCS_LENGTH}-byte FCS" if fcs else ""),
            )
        if fcs:
            if n < MIN_FRAME_LENGTH:
                raise ParseError(
                    _LAYER, "length", n,
                    f"a runt: frames are at least {MIN_FRAME_LENGTH} bytes (a collision fragment "
                    "or a truncated frame)",
                )
            got = int.from_bytes(raw[-FCS_LENGTH:], "little")
            want = zlib.crc32(raw[:-FCS_LENGTH])
            if got != want:
                raise ParseError(
                    _LAYER, "fcs", f"{got:#010x}",
                    f"the CRC-32 of the frame is {want:#010x}: the frame was corrupted",
                )
        end = n - trailer
        dst, src, ethertype = _HEADER.unpack_from(raw)
        offset = HEADER_LENGTH
        vlan = None
        if ethertype == _TPID:
            if end < HEADER_LENGTH + VLAN_TAG_LENGTH:
                raise ParseError(
                    _LAYER, "vlan", end,
                    f"TPID 0x8100 announces an 802.1Q tag, but only {end} bytes precede the "
                    f"payload end; a tagged header needs {HEADER_LENGTH + VLAN_TAG_LENGTH}",
                )
            tci, ethertype = _TAG.unpack_from(raw, HEADER_LENGTH)
            if tci & 0xFFF == 0xFFF:
                raise ParseError(_LAYER, "vid", 4095, "reserved by IEEE 802.1Q")
            if ethertype == EtherType.VLAN:
                raise ParseError(
                    _LAYER, "ethertype", "0x8100", "stacked 802.1Q tags (Q-in-Q) are not supported"
                )
            vlan = VLANTag.from_tci(tci)
            offset += VLAN_TAG_LENGTH
        if ethertype < MIN_ETHERTYPE:
            raise ParseError(
                _LAYER, "ethertype", f"{ethertype:#06x}",
                "an IEEE 802.3 length field (LLC frame), not an Ethernet II EtherType"
                if ethertype <= MAX_PAYLOAD
                else "undefined: neither a length (<= 1500) nor an EtherType (>= 0x0600)",
            )
        size = end - offset
        if size > MAX_PAYLOAD:
            raise ParseError(
                _LAYER, "payload", size,
                f"longer than Ethernet's maximum of {MAX_PAYLOAD} bytes (a giant or jumbo frame)",
            )
        if payload_length is not None:
            if isinstance(payload_length, bool) or not isinstance(payload_length, int):
                raise LabkitValueError(f"payload_length={payload_length!r}: expected an int")
            if not 0 <= payload_length <= size:
                raise ParseError(
                    _LAYER, "payload_length", payload_length,
                    f"the frame carries only {size} payload bytes",
                )
            end = offset + payload_length
        # every field is checked: fill an unfrozen twin, then give it its real class
        frame: Any = _Twin()
        frame.dst = _interned_mac(dst) or _mac_from_packed(dst)  # a dict lookup, usually
        frame.src = _interned_mac(src) or _mac_from_packed(src)
        frame.ethertype = ethertype
        frame.payload = raw[offset:end]
        frame.vlan = vlan
        frame.__class__ = cls
        return frame

    def trimmed(self, length: int) -> EthernetFrame:
        """A copy whose payload is cut to ``length`` bytes (dropping the padding)."""
        if isinstance(length, bool) or not isinstance(length, int) or not 0 <= length <= len(
            self.payload
        ):
            raise LabkitValueError(
                f"length={length!r}: expected 0 .. {len(self.payload)} (the payload's length)"
            )
        return EthernetFrame(self.dst, self.src, self.ethertype, self.payload[:length], self.vlan)

    # -- inspection ------------------------------------------------------------------------
    def summary(self) -> str:
        """One line: ``Ether 02:..:01 > ff:..:ff ARP (0x0806) 28 bytes``."""
        tag = f" vlan {self.vlan.vid} pcp {self.vlan.pcp}" if self.vlan is not None else ""
        name = _ethertype_name(self.ethertype)
        kind = f"{name} ({self.ethertype:#06x})" if name != "unknown" else f"{self.ethertype:#06x}"
        return f"Ether {self.src} > {self.dst}{tag} {kind} {len(self.payload)} bytes"

    def __repr__(self) -> str:
        shown = self.payload[:16]
        more = f" + {len(self.payload) - 16} bytes" if len(self.payload) > 16 else ""
        vlan = f", vlan={self.vlan!r}" if self.vlan is not None else ""
        return (
            f"EthernetFrame(dst={self.dst!r}, src={self.src!r}, ethertype={self.ethertype:#06x}, "
            f"payload={shown!r}{more}{vlan})"
        )

    def fields(self) -> list[tuple[str, str, str]]:
        """``(field, value, meaning)`` for each field in wire order (header, payload, FCS)."""
        rows = [
            ("destination", str(self.dst), _mac_meaning(self.dst)),
            ("source", str(self.src), _mac_meaning(self.src)),
        ]
        if self.vlan is not None:
            v = self.vlan
            rows.append(("802.1Q tag", f"0x8100 {v.tci:#06x}",
                         f"VLAN {v.vid}, priority {v.pcp}" + (", drop eligible" if v.dei else "")))
        rows.append(("EtherType", f"{self.ethertype:#06x}", _ethertype_name(self.ethertype)))
        rows.append(("payload", f"{len(self.payload)} bytes", "the upper layer's bytes"))
        if self.padding_length:
            rows.append(
                ("padding", f"{self.padding_length} bytes", "zeros up to the 64-byte minimum")
            )
        wire = self.pack()
        rows.append(("FCS", wire[-FCS_LENGTH:].hex(" "), "CRC-32, least significant byte first"))
        return rows

    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, end, field)`` byte ranges of :meth:`pack`'s output, for hex maps."""
        out = LAYOUT.spans(names=("destination", "source"))
        pos = LAYOUT.field("EtherType").start
        if self.vlan is not None:
            out.append((pos, pos + VLAN_TAG_LENGTH, "802.1Q tag"))
            pos += VLAN_TAG_LENGTH
        out.append((pos, pos + ETHERTYPE_LENGTH, "EtherType"))
        pos += ETHERTYPE_LENGTH
        out.append((pos, pos + len(self.payload), "payload"))
        pos += len(self.payload)
        if self.padding_length:
            out.append((pos, pos + self.padding_length, "padding"))
            pos += self.padding_length
        out.append((pos, pos + FCS_LENGTH, "FCS"))
        return out

    def _repr_html_(self) -> str:
        return header_html(
            f"Ethernet II frame, {self.wire_length()} bytes", self.fields(), self.pack(),
            self.spans(),
        )


_Twin = unfrozen_twin(EthernetFrame)
_pack_header = _HEADER.pack


def _normalise(u: Any) -> None:
    """Convert the fields of an EthernetFrame still being built, or refuse the bad one by name."""
    if type(u.dst) is not MACAddress:
        u.dst = _coerce_mac("dst", u.dst)
    if type(u.src) is not MACAddress:
        u.src = _coerce_mac("src", u.src)
    et = u.ethertype
    if type(et) is not int:
        if isinstance(et, bool) or not isinstance(et, int):
            raise LabkitValueError(f"ethertype={et!r}: expected an int such as 0x0800")
        u.ethertype = int(et)  # an IntEnum such as EtherType.ARP
    if not MIN_ETHERTYPE <= et <= 0xFFFF or et == _TPID:
        EthernetFrame._refuse_ethertype(et)
    payload = u.payload
    if type(payload) is not bytes:
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise LabkitValueError(f"payload: expected bytes, got {type(payload).__name__}")
        u.payload = payload = bytes(payload)
    if len(payload) > MAX_PAYLOAD:
        raise LabkitValueError(
            f"payload: {len(payload)} bytes is more than Ethernet's maximum of {MAX_PAYLOAD} "
            "(the MTU). Ethernet does not fragment: IP splits packets to fit the MTU"
        )
    if u.vlan is not None and not isinstance(u.vlan, VLANTag):
        raise LabkitValueError(f"vlan={u.vlan!r}: expected a VLANTag or None")


_mac_from_packed = MACAddress._from_packed
_interned_mac = _mac_table.get


def _mac_meaning(mac: MACAddress) -> str:
    if mac.is_broadcast:
        return "broadcast: every station"
    kind = "multicast" if mac.is_multicast else "unicast"
    admin = "locally administered" if mac.is_local else f"OUI {mac.oui}"
    return f"{kind}, {admin}"
