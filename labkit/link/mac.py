"""MAC addresses: the 48-bit hardware addresses of Ethernet.

:class:`MACAddress` is a value type modelled on :class:`ipaddress.IPv4Address`:
immutable, hashable, ordered, built from a string, an integer or 6 bytes, with
a ``repr`` that evaluates back to an equal address.

The first octet carries two flag bits (IEEE 802, transmitted first because
Ethernet sends each byte least significant bit first):

- bit 0, I/G (individual/group): 1 means a *group* address (multicast; the
  broadcast address ``ff:ff:ff:ff:ff:ff`` is the group of every station);
  0 an individual (unicast) address;
- bit 1, U/L (universal/local): 0 means *universally administered* (the
  manufacturer's OUI in the first three octets plus a serial number, "burned
  in"); 1 means *locally administered* (set by software: virtual machines,
  containers, randomised Wi-Fi addresses).

>>> mac = MACAddress("00:1b:21:3a:4f:5e")
>>> mac.is_unicast, mac.is_universal, mac.oui
(True, True, '00:1b:21')
>>> MACAddress("ff-ff-ff-ff-ff-ff") == BROADCAST
True
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

from labkit.errors import LabkitValueError

__all__ = ["MACAddress", "MACAddressValueError", "BROADCAST", "MAC_LENGTH"]

#: Bytes in a MAC address.
MAC_LENGTH = 6
_MAX = (1 << 48) - 1
_GROUP_BIT = 1 << 40  # I/G: the least significant bit of the first octet
_LOCAL_BIT = 1 << 41  # U/L: the next bit of the first octet

_PATTERNS = (
    re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}"),  # aa:bb:cc:dd:ee:ff (IEEE/Linux)
    re.compile(r"[0-9a-f]{2}(-[0-9a-f]{2}){5}"),  # aa-bb-cc-dd-ee-ff (IEEE 802/Windows)
    re.compile(r"[0-9a-f]{4}(\.[0-9a-f]{4}){2}"),  # aabb.ccdd.eeff (Cisco)
)
_FORMS = "'aa:bb:cc:dd:ee:ff', 'aa-bb-cc-dd-ee-ff' or 'aabb.ccdd.eeff'"


class MACAddressValueError(LabkitValueError):
    """A value that is not a MAC address (the message names the value and why)."""


class MACAddress:
    """A 48-bit IEEE 802 MAC address.

    Build one from a string in one of the three usual notations, from an
    integer in ``0 .. 2**48 - 1``, from 6 bytes (network order, as in a frame
    header) or from another :class:`MACAddress`. ``str()`` gives the
    lower-case colon form; ``int()`` and :attr:`packed` the other forms.
    """

    __slots__ = ("_mac", "_packed")
    _mac: int
    _packed: bytes  # the same 6 bytes in network order, kept: every frame header packs them

    def __init__(self, address: MACAddress | str | int | bytes | bytearray | memoryview) -> None:
        if isinstance(address, MACAddress):
            value = address._mac
        elif isinstance(address, (bytes, bytearray, memoryview)):
            raw = bytes(address)
            if len(raw) != MAC_LENGTH:
                raise MACAddressValueError(
                    f"address={raw!r}: {len(raw)} bytes, but a MAC address is exactly "
                    f"{MAC_LENGTH} bytes"
                )
            value = int.from_bytes(raw, "big")
        elif isinstance(address, bool):
            raise MACAddressValueError(f"address={address!r}: a bool is not a MAC address")
        elif isinstance(address, numbers.Integral):  # int, numpy integers
            address = int(address)
            if not 0 <= address <= _MAX:
                raise MACAddressValueError(
                    f"address={address!r}: out of range; a MAC address is 48 bits, "
                    f"0 .. {_MAX:#x}"
                )
            value = address
        elif isinstance(address, str):
            value = _parse_str(address)
        else:
            raise MACAddressValueError(
                f"address={address!r}: expected a string ({_FORMS}), an int or 6 bytes, "
                f"not {type(address).__name__}"
            )
        _set_mac(self, value)

    @classmethod
    def _from_int(cls, value: int) -> MACAddress:
        """Build from a known-good 48-bit integer without checks (parsers use this)."""
        obj = object.__new__(cls)
        _set_mac(obj, value)
        return obj

    @classmethod
    def _from_packed(cls, raw: bytes) -> MACAddress:
        """The address for 6 known-good header bytes (parsers use this).

        Addresses are immutable, so every frame from the same station can share
        one object: they are interned, which turns the conversion into a dict
        lookup. The table is emptied when it reaches :data:`_INTERN_LIMIT`
        entries, so a flood of random addresses cannot grow it without bound.
        """
        mac = _interned.get(raw)
        if mac is None:
            if len(_interned) >= _INTERN_LIMIT:
                _interned.clear()
            mac = _interned[raw] = cls._from_int(int.from_bytes(raw, "big"))
        return mac

    @classmethod
    def random(cls, rng: Any, *, local: bool = True, multicast: bool = False) -> MACAddress:
        """A random address from a ``numpy.random.Generator``.

        By default a locally administered unicast address (what a virtual
        machine or a simulated host should use: it cannot clash with a real
        manufacturer's address).
        """
        if not hasattr(rng, "integers"):
            raise MACAddressValueError(
                f"rng={rng!r}: pass a numpy.random.Generator (np.random.default_rng(seed))"
            )
        value = int.from_bytes(bytes(rng.integers(0, 256, MAC_LENGTH, dtype="uint8")), "big")
        value = (value | _LOCAL_BIT) if local else (value & ~_LOCAL_BIT)
        value = (value | _GROUP_BIT) if multicast else (value & ~_GROUP_BIT)
        return cls._from_int(value)

    # -- the value -------------------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"MACAddress is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"MACAddress is immutable (cannot delete {name!r})")

    def __int__(self) -> int:
        return self._mac

    __index__ = __int__

    @property
    def packed(self) -> bytes:
        """The 6 bytes in network order, as they appear in a frame header."""
        return self._packed

    def __bytes__(self) -> bytes:
        return self.packed

    def __str__(self) -> str:
        h = f"{self._mac:012x}"
        return ":".join((h[0:2], h[2:4], h[4:6], h[6:8], h[8:10], h[10:12]))

    def __repr__(self) -> str:
        return f"MACAddress('{self}')"

    def __format__(self, spec: str) -> str:
        """``format(mac, "-")``: dashed form; ``"."``: Cisco form; ``"x"``: 12 hex digits."""
        if spec in ("", ":"):
            return str(self)
        if spec == "-":
            return str(self).replace(":", "-")
        if spec == ".":
            h = f"{self._mac:012x}"
            return f"{h[0:4]}.{h[4:8]}.{h[8:12]}"
        if spec == "x":
            return f"{self._mac:012x}"
        raise MACAddressValueError(f"format spec {spec!r}: use '', ':', '-', '.' or 'x'")

    def __hash__(self) -> int:
        return hash((MACAddress, self._mac))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MACAddress):
            return self._mac == other._mac
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, MACAddress):
            return self._mac < other._mac
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, MACAddress):
            return self._mac <= other._mac
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, MACAddress):
            return self._mac > other._mac
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, MACAddress):
            return self._mac >= other._mac
        return NotImplemented

    def __reduce__(self) -> tuple[type[MACAddress], tuple[int]]:
        return (MACAddress, (self._mac,))

    def __copy__(self) -> MACAddress:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> MACAddress:
        return self

    # -- what the bits say -----------------------------------------------------------------
    @property
    def is_broadcast(self) -> bool:
        """``ff:ff:ff:ff:ff:ff``: every station on the LAN."""
        return self._mac == _MAX

    @property
    def is_multicast(self) -> bool:
        """A group address: the I/G bit (bit 0 of the first octet) is 1. Broadcast is one."""
        return bool(self._mac & _GROUP_BIT)

    @property
    def is_unicast(self) -> bool:
        """An individual address: the I/G bit is 0."""
        return not self._mac & _GROUP_BIT

    @property
    def is_local(self) -> bool:
        """Locally administered: the U/L bit (bit 1 of the first octet) is 1."""
        return bool(self._mac & _LOCAL_BIT)

    @property
    def is_universal(self) -> bool:
        """Universally administered (a manufacturer's OUI): the U/L bit is 0."""
        return not self._mac & _LOCAL_BIT

    @property
    def oui(self) -> str:
        """The first three octets, ``'aa:bb:cc'``: the manufacturer's Organizationally
        Unique Identifier (meaningful for universally administered addresses)."""
        return str(self)[:8]


_interned: dict[bytes, MACAddress] = {}
_INTERN_LIMIT = 4096
#: The slots' own setters, bypassing the immutable __setattr__.
_set_int: Callable[[MACAddress, int], None] = MACAddress.__dict__["_mac"].__set__
_set_packed: Callable[[MACAddress, bytes], None] = MACAddress.__dict__["_packed"].__set__


def _set_mac(mac: MACAddress, value: int) -> None:
    """Set both slots of a new address (bypassing the immutable __setattr__)."""
    _set_int(mac, value)
    _set_packed(mac, value.to_bytes(MAC_LENGTH, "big"))


def _parse_str(text: str) -> int:
    s = text.strip().lower()
    if not any(p.fullmatch(s) for p in _PATTERNS):
        digits = sum(c in "0123456789abcdef" for c in s)
        why = (
            f"has {digits} hex digits, a MAC address has 12"
            if digits != 12
            else "the separators are not one of the usual notations"
        )
        raise MACAddressValueError(f"address={text!r}: not a MAC address ({why}); use {_FORMS}")
    return int(s.replace(":", "").replace("-", "").replace(".", ""), 16)


#: The broadcast address: every station on the LAN receives it.
BROADCAST = MACAddress._from_int(_MAX)
