"""Bytes to bits and back.

Bits are NumPy ``uint8`` arrays holding 0 and 1, one element per bit. The
order of bits within a byte is a choice each link makes: most significant bit
first (MSB-first, how we write numbers) or least significant bit first
(LSB-first, how Ethernet and a UART put a byte on the wire).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from labkit.errors import LabkitValueError
from labkit.phy import _validate

__all__ = ["bits_from_bytes", "bytes_from_bits"]


def _bitorder(lsb_first: bool) -> Literal["big", "little"]:
    return "little" if lsb_first else "big"


def bits_from_bytes(data: bytes | bytearray | memoryview, *, lsb_first: bool = False) -> np.ndarray:
    """Return the bits of ``data``, eight per byte.

    >>> bits_from_bytes(b"A")            # 0x41 = 0100 0001
    array([0, 1, 0, 0, 0, 0, 0, 1], dtype=uint8)
    >>> bits_from_bytes(b"A", lsb_first=True)
    array([1, 0, 0, 0, 0, 0, 1, 0], dtype=uint8)
    """
    if isinstance(data, str):
        raise LabkitValueError(
            f"data={data[:20]!r}: text has no bits until it is encoded; use {data[:20]!r}.encode()"
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
    raw = np.frombuffer(bytes(data), dtype=np.uint8)
    return np.unpackbits(raw, bitorder=_bitorder(lsb_first))


def bytes_from_bits(bits: object, *, lsb_first: bool = False) -> bytes:
    """Pack bits (a multiple of eight) back into bytes; the inverse of :func:`bits_from_bytes`."""
    arr = _validate.bits(bits)
    if arr.size % 8:
        raise LabkitValueError(
            f"bits: {arr.size} bits is not a whole number of bytes ({arr.size % 8} left over)"
        )
    return np.packbits(arr, bitorder=_bitorder(lsb_first)).tobytes()
