"""Benchmark of the shared medium and its access protocols (issue: medium access).

Run from the repository root::

    python benchmarks/bench_mac.py            # 100 stations, 10^5 slot times, 3 runs each
    python benchmarks/bench_mac.py --quick    # 10^4 slot times, 1 run

Goal: 100 stations at full offered load for 10^5 slot times simulate in at most 10 s of
wall time. "Full load" per protocol:

- CSMA/CD: every station always has a 64-byte frame (saturated), on a 2,500 m cable, for
  10^5 slot times of 512 bit times (5.12 s of a 10 Mbit/s Ethernet);
- slotted ALOHA: every station always has a frame and sends with p = 1/100 (G = 1), 10^5 slots;
- ALOHA: every station always has a frame, G = 1 attempt per frame time, 10^5 frame times.

Events scale with transmissions, not with stations times slots: the script also runs CSMA/CD
with 10 and with 1,000 stations, and prints events per transmission for each.
The load average of the machine is printed with the figures (os.getloadavg).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.sim.access import run_access  # noqa: E402

CASES = [
    ("csma/cd", {"load": None, "length_m": 2500.0}),
    ("slotted", {"load": 1.0}),
    ("aloha", {"load": 1.0}),
]


def one(protocol: str, stations: int, slots: int, seed: int, options: dict) -> tuple[float, object]:
    start = time.perf_counter()
    r = run_access(protocol, stations=stations, slots=slots, seed=seed, **options)
    return time.perf_counter() - start, r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 slot times, one run")
    args = parser.parse_args()
    slots = 10_000 if args.quick else 100_000
    runs = 1 if args.quick else 3
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'protocol':<10}{'stations':>9}{'slots':>9}{'wall s (min..max)':>20}"
          f"{'transmissions':>15}{'events':>11}{'ev/tx':>7}{'S':>8}{'goal':>8}")
    for protocol, options in CASES:
        times, r = [], None
        for seed in range(runs):
            t, r = one(protocol, 100, slots, seed, options)
            times.append(t)
        assert r is not None
        goal = "met" if max(times) <= 10 * slots / 100_000 else "MISSED"
        print(f"{protocol:<10}{100:>9}{slots:>9}{min(times):>11.2f}..{max(times):<7.2f}"
              f"{r.transmissions:>15,}{r.events:>11,}{r.events / r.transmissions:>7.2f}"  # type: ignore[attr-defined]
              f"{r.throughput:>8.3f}{goal:>8}")  # type: ignore[attr-defined]
    print("CSMA/CD, full load, scaling with stations:")
    for stations in (10, 1000):
        t, r = one("csma/cd", stations, slots, 0, CASES[0][1])
        print(f"{'csma/cd':<10}{stations:>9}{slots:>9}{t:>11.2f}{'':9}"
              f"{r.transmissions:>15,}{r.events:>11,}{r.events / r.transmissions:>7.2f}"  # type: ignore[attr-defined]
              f"{r.throughput:>8.3f}")  # type: ignore[attr-defined]
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
