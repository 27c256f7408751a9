"""IPv4 build+pack and parse speed, as ratios against plain ``struct`` code measured in the same run.

Each iteration builds (or parses) one IPv4 packet carrying 72 bytes (a UDP
header and a 64-byte payload, as in toolchain-facts.md's reference figures):

- ``labkit``: ``IPv4Packet(src=..., dst=..., protocol=253, payload=...).pack()``
  (validation of every field, IHL, Total Length and header checksum
  computed), and ``IPv4Packet.parse(data)`` (length, version, IHL, Total
  Length and the header checksum checked; every field read, addresses as
  ``IPv4Address``);
- ``plain struct``: the least a Python program can do for the same bytes:
  one ``struct.pack`` with a checksum computed from the field values, and one
  ``unpack_from`` plus the checksum check and the payload slice (addresses
  left as ints, nothing validated);
- dpkt, if it is installed (``pip install dpkt``), the same two operations
  with ``dpkt.ip.IP``.

Run: ``python benchmarks/bench_net.py``.
"""

from __future__ import annotations

import struct
import time
from ipaddress import IPv4Address

from labkit.net.ipv4 import IPv4Packet

N = 100_000
#: RFC 3692's protocol number for experiments: dpkt leaves the payload as bytes (for 17 it
#: would decode a UDP header too, which the others do not do)
PROTO = 253
SRC, DST = IPv4Address("192.168.1.10"), IPv4Address("10.0.0.1")
PAYLOAD = bytes(range(72))
HEADER = struct.Struct("!BBHHHBBHII")


def plain_build() -> bytes:
    src, dst = int(SRC), int(DST)
    total = 20 + len(PAYLOAD)
    s = (0x4500 + total + 0 + 0x4000 + (64 << 8 | PROTO) + (src >> 16) + (src & 0xFFFF)
         + (dst >> 16) + (dst & 0xFFFF))
    csum = ~(s % 0xFFFF or 0xFFFF) & 0xFFFF
    return HEADER.pack(0x45, 0, total, 0, 0x4000, 64, PROTO, csum, src, dst) + PAYLOAD


def plain_parse(data: bytes) -> bytes:
    fields = HEADER.unpack_from(data)
    hlen = (fields[0] & 0x0F) * 4
    if int.from_bytes(data[:hlen], "big") % 0xFFFF:
        raise ValueError("checksum")
    return data[hlen : fields[2]]


def labkit_build() -> bytes:
    return IPv4Packet(src=SRC, dst=DST, protocol=PROTO, dont_fragment=True, payload=PAYLOAD).pack()


def labkit_parse(data: bytes) -> bytes:
    return IPv4Packet.parse(data).payload


def rate(func, *args, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(N):
            func(*args)
        best = min(best, time.perf_counter() - start)
    return N / best


def main() -> None:
    data = labkit_build()
    assert data == plain_build(), "the two builders must produce the same bytes"
    assert labkit_parse(data) == plain_parse(data) == PAYLOAD

    rows = [
        ("plain struct", rate(plain_build), rate(plain_parse, data)),
        ("labkit IPv4Packet", rate(labkit_build), rate(labkit_parse, data)),
    ]
    try:
        import dpkt  # type: ignore[import-not-found]

        def dpkt_build() -> bytes:
            return bytes(dpkt.ip.IP(src=SRC.packed, dst=DST.packed, p=PROTO, df=1, ttl=64, data=PAYLOAD))

        def dpkt_parse(raw: bytes) -> bytes:
            return dpkt.ip.IP(raw).data

        assert dpkt_build() == data and dpkt_parse(data) == PAYLOAD, "dpkt must do the same work"
        rows.append(("dpkt", rate(dpkt_build), rate(dpkt_parse, data)))
    except ImportError:
        pass

    base_build, base_parse = rows[0][1], rows[0][2]
    print(f"IPv4 packets with a 72-byte payload, best of 5 x {N:,} (packets/s)")
    print(f"{'':<20}{'build+pack':>12}{'ratio':>8}{'parse':>12}{'ratio':>8}")
    for name, build, parse in rows:
        print(f"{name:<20}{build:>12,.0f}{build / base_build:>8.2f}{parse:>12,.0f}{parse / base_parse:>8.2f}")


if __name__ == "__main__":
    main()
