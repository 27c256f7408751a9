"""Classic libpcap files: what Wireshark and tshark open.

A pcap file is a 24-byte global header followed by one record per frame: a
16-byte record header (time in seconds and a fraction, the captured length,
the original length) and the frame's bytes. The magic number at the start says
the byte order and whether the fraction counts microseconds (``0xa1b2c3d4``)
or nanoseconds (``0xa1b23c4d``). :class:`PcapWriter` writes little-endian
files, Ethernet link type 1 by default (frames without their FCS);
:func:`read_pcap` reads either byte order and either resolution back.

Timestamps are the simulator's virtual time since the start of the run (so
the first frame of a run is at 1970-01-01 00:00:00 in Wireshark's absolute
view; its relative times are the run's times).
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from labkit.errors import LabkitValueError, ParseError

__all__ = ["PcapWriter", "PcapRecord", "PcapFile", "read_pcap", "LINKTYPE_ETHERNET"]

#: Link type of Ethernet II frames (DLT_EN10MB).
LINKTYPE_ETHERNET = 1
MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D

_GLOBAL_LE = struct.Struct("<IHHiIII")
_GLOBAL_BE = struct.Struct(">IHHiIII")
_RECORD_LE = struct.Struct("<IIII")
_RECORD_BE = struct.Struct(">IIII")


class PcapWriter:
    """Write frames with virtual timestamps to a classic pcap file.

    ``target`` is a path or a binary file object. ``nanosecond=True`` (the
    default) stores nanosecond timestamps, exactly the simulator's clock;
    ``False`` writes the older microsecond format (times rounded down).
    Frames longer than ``snaplen`` are cut, with their original length kept.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | BinaryIO,
        *,
        nanosecond: bool = True,
        snaplen: int = 262144,
        linktype: int = LINKTYPE_ETHERNET,
    ) -> None:
        if not isinstance(snaplen, int) or isinstance(snaplen, bool) or snaplen < 1:
            raise LabkitValueError(f"snaplen={snaplen!r}: expected a positive whole number")
        if isinstance(target, (str, os.PathLike)):
            self._file: BinaryIO = open(target, "wb")  # noqa: SIM115 (closed by close())
            self._owned = True
            self.path: str | None = os.fspath(target)
        elif hasattr(target, "write"):
            self._file = target
            self._owned = False
            self.path = None
        else:
            raise LabkitValueError(f"pcap={target!r}: expected a file path or a binary file")
        self.nanosecond = bool(nanosecond)
        self.snaplen = snaplen
        self.linktype = linktype
        self.records = 0
        self._file.write(
            _GLOBAL_LE.pack(MAGIC_NS if nanosecond else MAGIC_US, 2, 4, 0, 0, snaplen, linktype)
        )

    def write(self, time_ns: int, frame: bytes) -> None:
        """Append one frame seen at virtual time ``time_ns``."""
        if time_ns < 0:
            raise LabkitValueError(f"time_ns={time_ns!r}: pcap times cannot be negative")
        sec, frac = divmod(int(time_ns), 1_000_000_000)
        if not self.nanosecond:
            frac //= 1000
        data = frame[: self.snaplen]
        self._file.write(_RECORD_LE.pack(sec, frac, len(data), len(frame)))
        self._file.write(data)
        self.records += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        if self._file.closed:
            return
        self._file.flush()
        if self._owned:
            self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class PcapRecord:
    """One captured frame: virtual time in ns, original length, the captured bytes."""

    time_ns: int
    orig_len: int
    data: bytes


@dataclass(frozen=True, slots=True)
class PcapFile:
    """A parsed pcap file: header fields and the records in file order."""

    nanosecond: bool
    big_endian: bool
    version: tuple[int, int]
    snaplen: int
    linktype: int
    records: tuple[PcapRecord, ...]


def read_pcap(source: str | os.PathLike[str] | bytes | BinaryIO) -> PcapFile:
    """Parse a classic pcap file (path, bytes or binary file); raise :class:`ParseError` if bad."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            data = f.read()
    elif isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = source.read()
    else:
        raise LabkitValueError(f"source={source!r}: expected a path, bytes or a binary file")
    if len(data) < 24:
        raise ParseError("pcap", "header", len(data), "a pcap file starts with a 24-byte header")
    (magic_le,) = struct.unpack_from("<I", data)
    if magic_le in (MAGIC_US, MAGIC_NS):
        big, glob, rec = False, _GLOBAL_LE, _RECORD_LE
        magic = magic_le
    else:
        (magic,) = struct.unpack_from(">I", data)
        if magic not in (MAGIC_US, MAGIC_NS):
            raise ParseError(
                "pcap", "magic", hex(magic_le), "not a classic pcap file (pcapng is not supported)"
            )
        big, glob, rec = True, _GLOBAL_BE, _RECORD_BE
    _, vmaj, vmin, _zone, _sigfigs, snaplen, linktype = glob.unpack_from(data)
    ns = magic == MAGIC_NS
    scale = 1 if ns else 1000
    limit = 1_000_000_000 if ns else 1_000_000
    records: list[PcapRecord] = []
    pos = 24
    while pos < len(data):
        if pos + 16 > len(data):
            raise ParseError(
                "pcap",
                f"record {len(records)} header",
                len(data) - pos,
                "truncated (need 16 bytes)",
            )
        sec, frac, incl, orig = rec.unpack_from(data, pos)
        if frac >= limit:
            raise ParseError(
                "pcap", f"record {len(records)} fraction", frac, f"must be below {limit}"
            )
        if incl > orig:
            raise ParseError(
                "pcap", f"record {len(records)} incl_len", incl, f"larger than orig_len {orig}"
            )
        pos += 16
        if pos + incl > len(data):
            raise ParseError(
                "pcap", f"record {len(records)} data", len(data) - pos, f"truncated (need {incl})"
            )
        records.append(PcapRecord(sec * 1_000_000_000 + frac * scale, orig, data[pos : pos + incl]))
        pos += incl
    return PcapFile(ns, big, (vmaj, vmin), snaplen, linktype, tuple(records))
