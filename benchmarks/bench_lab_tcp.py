"""The TCP lab's learner-style parts against labkit's own TCP: 1 MiB over 10 Mbit/s, 10 ms (issue 19).

The lab's reference solution (course/labs/solutions/L4.py: plain Python, as a
good student would write it: a list of pieces in the reassembler, a list of
outstanding segments in the sender) is joined into labkit's connection
(``TCPConfig.basic(receiver=..., sender=..., reassembler=..., bytestream=...)``)
and sends 1 MiB to labkit's full TCP across one labkit.sim link of 10 Mbit/s
and 10 ms one way (a 100-frame drop-tail queue). The same transfer is then
made by labkit's own TCP, once with ``TCPConfig.basic()`` (the same 64 KiB
window and RFC 5681 NewReno the parts get) and once with its defaults
(window scaling, SACK, timestamps, IW10). Each case runs ``--runs`` times,
interleaved, and the medians are compared in this one run.

Goodput: bytes B read per second of virtual time, from t = 0 (before the
handshake) to B seeing the FIN. Goals: the parts' goodput at least half of
labkit's (basic), and their wall time at most 3x.

Run: ``python benchmarks/bench_lab_tcp.py`` (``--runs 5``, ``--size`` in MiB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from labkit.labs import tcp
from labkit.labs.wrong import solution
from labkit.transport.tcp_connection import TCPConfig

S = 1_000_000_000


def cases() -> dict[str, TCPConfig]:
    ns: dict = {}
    exec(compile(solution("L4-tcp"), "L4 reference", "exec"), ns)
    basic = TCPConfig.basic()
    parts = tcp.parts_config(ns["TCPReceiver"], ns["TCPSender"], ns["Reassembler"],
                             ns["ByteStream"], graded=False, congestion=basic.congestion)
    return {"learner's parts": parts, "labkit basic": basic, "labkit default": TCPConfig()}


def run(config: TCPConfig, data: bytes) -> tuple[float, float]:
    """(goodput in bit/s, wall seconds) of one transfer A -> B."""
    start = time.perf_counter()
    got, fin, _ = tcp.transfer(config, None, data, delay="10ms", bandwidth="10Mbit",
                               until="600s")
    wall = time.perf_counter() - start
    if got != data or fin is None:
        raise SystemExit(f"the transfer failed: {len(got)} of {len(data)} bytes, FIN {fin}")
    return 8 * len(data) * S / fin, wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=float, default=1.0, help="MiB")
    args = ap.parse_args()
    data = np.random.default_rng(1).integers(0, 256, int(args.size * (1 << 20)),
                                             dtype=np.uint8).tobytes()
    configs = cases()
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
    for _ in range(args.runs):
        for name, config in configs.items():
            results[name].append(run(config, data))
    med = {k: (statistics.median(g for g, _ in v), statistics.median(w for _, w in v))
           for k, v in results.items()}
    print(f"{args.size:g} MiB over 10 Mbit/s, 10 ms one way; median of {args.runs} runs; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':<16} {'goodput':>12} {'of link':>8} {'wall':>8}")
    for name, (g, w) in med.items():
        print(f"{name:<16} {g / 1e6:9.2f} Mb/s {g / 10e6:7.1%} {w:7.2f} s")
    parts, basic = med["learner's parts"], med["labkit basic"]
    goodput_ratio, wall_ratio = parts[0] / basic[0], parts[1] / basic[1]
    print(f"parts / labkit basic: goodput {goodput_ratio:.2f} (goal >= 0.5), "
          f"wall time {wall_ratio:.2f}x (goal <= 3x)")
    print(f"parts / labkit default: goodput {parts[0] / med['labkit default'][0]:.2f}, "
          f"wall time {parts[1] / med['labkit default'][1]:.2f}x")


if __name__ == "__main__":
    main()
