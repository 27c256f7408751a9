"""IPv4 reassembly: many small fragments of one datagram, and a flood that never completes.

Two cases, each timed and with its peak memory (tracemalloc):

1. One datagram of 64,000 bytes in 8,000 fragments of 8 bytes, in a shuffled
   order, through :class:`labkit.net.ipv4.Reassembler`. The reference in the
   same run is building those 8,000 fragment objects: reassembly should cost a
   small multiple of that (it is n log n), not the n**2 of comparing every
   fragment with every piece held.
2. 100,000 datagrams of which only the first fragment ever arrives, one every
   10 us of virtual time, with the default 30 s timeout: with ``max_pending``
   64 and 1,024 the cost per fragment must not grow with the datagrams held, and
   the memory stays bounded by ``max_pending`` and :data:`TIMED_OUT_KEPT`.

Run: ``python benchmarks/bench_reassembly.py``.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable

from labkit.net.ipv4 import UDP, IPv4Packet, Reassembler

FRAGMENTS = 8_000
FLOOD = 100_000


def fragments(n: int, size: int = 8) -> list[IPv4Packet]:
    data = bytes(i & 0xFF for i in range(n * size))
    return [IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=UDP, identification=1,
                       fragment_offset=i, more_fragments=i < n - 1, payload=data[i * size:(i + 1) * size])
            for i in range(n)]


def measure(func: Callable[[], object]) -> tuple[float, int, object]:
    """(seconds, peak bytes allocated, result): timed alone, then run again under tracemalloc."""
    start = time.perf_counter()
    result = func()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak, result


def one_datagram() -> None:
    build_s, _, pieces = measure(lambda: fragments(FRAGMENTS))
    assert isinstance(pieces, list)
    order = list(pieces)
    random.Random(1).shuffle(order)

    def reassemble() -> IPv4Packet | None:
        r = Reassembler()
        whole = None
        for p in order:
            whole = r.add(p, 0) or whole
        return whole

    seconds, peak, whole = measure(reassemble)
    assert whole is not None and len(whole.payload) == FRAGMENTS * 8
    print(f"{FRAGMENTS:,} fragments of one datagram, shuffled: {seconds * 1e3:.0f} ms "
          f"({seconds / FRAGMENTS * 1e6:.1f} us a fragment), peak {peak / 1e6:.1f} MB; "
          f"{seconds / build_s:.1f}x the time to build the fragments")


def flood(max_pending: int) -> float:
    firsts = [IPv4Packet(src="10.0.0.1", dst="10.0.0.2", protocol=UDP, identification=i & 0xFFFF,
                         more_fragments=True, payload=bytes(8)) for i in range(FLOOD)]

    def run() -> Reassembler:
        r = Reassembler(max_pending=max_pending)
        for i, p in enumerate(firsts):
            r.add(p, i * 10_000)  # one every 10 us of virtual time
        return r

    seconds, peak, r = measure(run)
    assert isinstance(r, Reassembler) and len(r) <= max_pending
    per = seconds / FLOOD
    print(f"{FLOOD:,} datagrams never completed, max_pending={max_pending:,}: {seconds:.2f} s "
          f"({per * 1e6:.1f} us a fragment), peak {peak / 1e6:.1f} MB; held {len(r):,}, "
          f"evicted {r.counters['evicted']:,}, timed out {r.counters['timeouts']:,}")
    return per


def main() -> None:
    one_datagram()
    small = flood(64)
    large = flood(1024)
    print(f"cost a fragment with 1,024 datagrams held / with 64: {large / small:.2f} "
          "(flat: the pending datagrams are indexed)")


if __name__ == "__main__":
    main()
