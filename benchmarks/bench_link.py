"""Ethernet frames per second: labkit.link against plain struct code (and dpkt, Scapy if present).

Run: ``python benchmarks/bench_link.py``. Every figure is measured in this one run;
the ratios (labkit / plain struct) are what to compare across machines.

Frames carry a 64-byte payload (the quick "build" also pads nothing). "build"
constructs the frame object and packs it to bytes; "parse" turns bytes back
into an object and reaches the payload. With FCS means CRC-32 computed on
build and checked on parse; dpkt and Scapy have no FCS, so they are compared
with the no-FCS figures.
"""

from __future__ import annotations

import struct
import sys
import time
import zlib
from collections.abc import Callable

from labkit.link import EthernetFrame, MACAddress

DST = bytes.fromhex("001b213a4f5e")
SRC = bytes.fromhex("525400123456")
PAYLOAD = bytes(range(64))
HEADER = struct.Struct("!6s6sH")


def rate(fn: Callable[[], object], seconds: float = 0.6) -> float:
    """Calls per second, best of 3 timed runs of about ``seconds`` each."""
    n = 1
    while True:  # find a loop count that takes ~0.1 s
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt > 0.1:
            break
        n *= 4
    loops = max(1, int(n * seconds / dt))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, time.perf_counter() - t0)
    return loops / best


def plain_build(fcs: bool) -> Callable[[], bytes]:
    def build() -> bytes:
        data = HEADER.pack(DST, SRC, 0x0800) + PAYLOAD
        if fcs:
            data += zlib.crc32(data).to_bytes(4, "little")
        return data

    return build


def plain_parse(wire: bytes, fcs: bool) -> Callable[[], object]:
    def parse() -> object:
        if fcs:
            if zlib.crc32(wire[:-4]) != int.from_bytes(wire[-4:], "little"):
                raise ValueError("fcs")
            body = wire[:-4]
        else:
            body = wire
        dst, src, ethertype = HEADER.unpack_from(body)
        return dst, src, ethertype, body[14:]

    return parse


def main() -> None:
    dst, src = MACAddress(DST), MACAddress(SRC)
    results: dict[str, float] = {}
    for fcs in (False, True):
        tag = "with FCS" if fcs else "no FCS"
        wire = EthernetFrame(dst, src, 0x0800, PAYLOAD).pack(fcs=fcs)

        def lk_build(fcs: bool = fcs) -> bytes:
            return EthernetFrame(dst, src, 0x0800, PAYLOAD).pack(fcs=fcs)

        def lk_parse(wire: bytes = wire, fcs: bool = fcs) -> bytes:
            return EthernetFrame.parse(wire, fcs=fcs).payload

        results[f"plain struct build, {tag}"] = rate(plain_build(fcs))
        results[f"labkit build, {tag}"] = rate(lk_build)
        results[f"plain struct parse, {tag}"] = rate(plain_parse(wire, fcs))
        results[f"labkit parse, {tag}"] = rate(lk_parse)

    wire = HEADER.pack(DST, SRC, 0x0800) + PAYLOAD
    try:
        import dpkt

        results["dpkt build, no FCS"] = rate(
            lambda: bytes(dpkt.ethernet.Ethernet(dst=DST, src=SRC, type=0x0800, data=PAYLOAD))
        )
        results["dpkt parse, no FCS"] = rate(lambda: dpkt.ethernet.Ethernet(wire).data)
    except ImportError:
        print("dpkt not installed: skipped")
    try:
        from scapy.layers.l2 import Ether
        from scapy.packet import Raw

        results["scapy build, no FCS"] = rate(
            lambda: bytes(Ether(dst=DST.hex(":"), src=SRC.hex(":"), type=0x0800) / Raw(PAYLOAD)),
            seconds=0.3,
        )
        results["scapy parse, no FCS"] = rate(lambda: Ether(wire).payload, seconds=0.3)
    except ImportError:
        print("scapy not installed: skipped")

    print(f"Python {sys.version.split()[0]}, Ethernet II frames with a {len(PAYLOAD)}-byte payload")
    print(f"{'':34}{'frames/s':>12}  {'vs plain struct':>15}")
    for name, value in results.items():
        op = "build" if "build" in name else "parse"
        tag = "with FCS" if "with FCS" in name else "no FCS"
        base = results[f"plain struct {op}, {tag}"]
        print(f"{name:34}{value:12,.0f}  {value / base:15.2f}")
    for other in ("dpkt", "scapy"):
        for op in ("build", "parse"):
            key = f"{other} {op}, no FCS"
            if key in results:
                ratio = results[f"labkit {op}, no FCS"] / results[key]
                print(f"labkit / {other} {op}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
