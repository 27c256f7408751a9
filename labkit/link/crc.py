"""CRC-32 as Ethernet computes it, one bit at a time (for teaching; use ``zlib.crc32``).

A cyclic redundancy check treats the message as a huge binary number and
keeps the remainder of dividing it by a fixed *generator polynomial*, using
arithmetic without carries (XOR instead of subtraction). Ethernet's generator
(IEEE 802.3) is

    x^32 + x^26 + x^23 + x^22 + x^16 + x^12 + x^11 + x^10 + x^8 + x^7 + x^5 + x^4 + x^2 + x + 1

which, without its x^32 term, is the 32-bit number ``0x04C11DB7``.

Ethernet sends each byte least significant bit first, so the division runs
over the bits in that order: the "reflected" form of the algorithm shifts
right and uses the bit-reversed polynomial ``0xEDB88320``. Two more rules
make the check catch lost leading and trailing zero bits: the register starts
at all ones (``0xFFFFFFFF``) and the result is inverted at the end. This is
exactly what :func:`zlib.crc32` computes (with a 256-entry table, eight bits at
a time, in C): :func:`crc32` gives the same numbers, slowly and readably.

The frame check sequence (FCS) is the CRC's 4 bytes, least significant byte
first. A receiver can check a frame in either of two ways: compute the CRC
of everything before the FCS and compare, or run the CRC over the whole frame
including its FCS and find the constant :data:`RESIDUE` every intact frame
gives (what Ethernet hardware does, as the bits stream in).
"""

from __future__ import annotations

from collections.abc import Iterator

from labkit.errors import LabkitValueError

__all__ = [
    "POLY",
    "POLY_REFLECTED",
    "RESIDUE",
    "crc32",
    "crc32_steps",
    "reflect",
]

#: The generator polynomial without its x^32 term, most significant bit first.
POLY = 0x04C11DB7
#: The start value of the register.
INIT = 0xFFFFFFFF
#: XORed into the register at the end (the result is inverted).
XOR_OUT = 0xFFFFFFFF


def reflect(value: int, width: int) -> int:
    """Reverse the lowest ``width`` bits of ``value``: ``reflect(0b001, 3) == 0b100``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LabkitValueError(f"value={value!r}: expected a non-negative int")
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise LabkitValueError(f"width={width!r}: expected a positive int")
    out = 0
    for _ in range(width):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


#: The polynomial with its bits reversed, for the LSB-first (reflected) algorithm: 0xEDB88320.
POLY_REFLECTED = reflect(POLY, 32)


def _check_data(data: object) -> bytes:
    if isinstance(data, str):
        raise LabkitValueError(
            f"data={data[:20]!r}: a CRC is computed over bytes; use {data[:20]!r}.encode()"
        )
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
    return bytes(data)


def crc32(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32 of ``data``, bit by bit; equal to ``zlib.crc32(data, value)``.

    ``value`` continues a running CRC (pass the result of the previous chunk),
    exactly as :func:`zlib.crc32` does.

    >>> hex(crc32(b"123456789"))   # the standard check value of CRC-32
    '0xcbf43926'
    """
    raw = _check_data(data)
    register = (value ^ XOR_OUT) & 0xFFFFFFFF  # undo the final inversion of a previous result
    for byte in raw:
        register ^= byte  # the byte's 8 bits enter at the low end (LSB first)
        for _ in range(8):
            if register & 1:  # the bit leaving the register is 1: subtract (XOR) the generator
                register = (register >> 1) ^ POLY_REFLECTED
            else:
                register >>= 1
    return register ^ XOR_OUT


def crc32_steps(data: bytes | bytearray | memoryview) -> Iterator[tuple[int, int, int]]:
    """Yield ``(bit_index, bit, register)`` after each bit of ``data`` enters the register.

    Bits come in the order Ethernet sends them (each byte LSB first), so this
    is the register a NIC holds while the frame streams past.
    """
    raw = _check_data(data)
    register = INIT
    for i, byte in enumerate(raw):
        for k in range(8):
            bit = (byte >> k) & 1
            out = (register ^ bit) & 1
            register >>= 1
            if out:
                register ^= POLY_REFLECTED
            yield 8 * i + k, bit, register


#: CRC-32 over an intact frame *including* its FCS (least significant byte first) is always this.
RESIDUE = crc32(b"\x00\x00\x00\x00" + crc32(b"\x00\x00\x00\x00").to_bytes(4, "little"))
