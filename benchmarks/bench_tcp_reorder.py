"""Spurious retransmissions under reordering, and what adaptive reordering costs at 10% loss.

labkit's two TCPs on the tests' bench (tests/tcp_harness.py: a 100 Mbit/s
wire, 2 ms one way, seeded faults on both directions): 1 MiB from A to B,
over several seeds, for three configurations measured in the same run:

- ``basic``: TCPConfig.basic() (no SACK, no timestamps: three duplicate ACKs);
- ``sack``: TCPConfig(adaptive_reordering=False): RFC 6675 with a fixed
  DupThresh of 3;
- ``adaptive``: TCPConfig(), the default: reordering seen (a
  hole filled by its late original, or a spurious retransmission found by
  the timestamps, RFC 3522) raises the threshold as Linux's tp->reordering,
  and SACKed bytes free the congestion window (limited transmit).

With reordering alone (20% of segments held back 15 ms, the tests' fault,
or 1 ms, a quarter of the 4 ms round trip, nearer what real paths do) nothing
is lost, so every retransmission is spurious. At 10% loss, the retransmissions and the
timeouts show whether the higher threshold turned losses into timeouts.

Run: ``python benchmarks/bench_tcp_reorder.py`` (``--seeds 10``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from tcp_harness import MS, Impairments, pair, transfer  # noqa: E402

from labkit.transport.tcp_connection import TCPConfig  # noqa: E402

S = 1_000_000_000
CONFIGS = {
    "basic": TCPConfig.basic(),
    "sack": TCPConfig(adaptive_reordering=False),
    "adaptive": TCPConfig(),
}
FAULTS = {
    "20% reordering": Impairments(reorder=0.2),
    "20% reordering by 1 ms": Impairments(reorder=0.2, reorder_delay=1 * MS),
    "10% loss": Impairments(loss=0.1),
    "all together": Impairments(loss=0.10, corrupt=0.05, duplicate=0.05, reorder=0.2),
}


def run(config: TCPConfig, impair: Impairments, seed: int, data: bytes) -> tuple[int, int, int, float]:
    bench = pair(seed, bandwidth=100e6, delay=2 * MS, impair=impair, config=config)
    got = transfer(bench, data, 900 * S)
    assert got == data, "not byte-exact"
    a = bench.a
    return a.retransmissions, a.timeouts, a.spurious_retransmissions, bench.now / S


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--size", type=int, default=1, help="MiB per transfer")
    args = parser.parse_args()
    data = np.random.default_rng(5).integers(0, 256, args.size << 20, dtype=np.uint8).tobytes()
    print(f"load: {os.getloadavg()[0]:.2f}; {args.size} MiB A to B, seeds 0..{args.seeds - 1}")
    for fault, impair in FAULTS.items():
        print(fault)
        for name, config in CONFIGS.items():
            t = time.perf_counter()
            rows = [run(config, impair, seed, data) for seed in range(args.seeds)]
            rexmit = [r[0] for r in rows]
            timeouts = [r[1] for r in rows]
            detected = [r[2] for r in rows]
            print(f"  {name:9s} retransmissions median {np.median(rexmit):6.1f} "
                  f"(range {min(rexmit)}-{max(rexmit)}), timeouts median {np.median(timeouts):4.1f} "
                  f"(max {max(timeouts)}), detected spurious {sum(detected)}, "
                  f"virtual end median {np.median([r[3] for r in rows]):.2f} s, "
                  f"wall {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    main()
