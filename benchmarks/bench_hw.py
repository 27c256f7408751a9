"""Speed of the hardware lab's host side, as ratios measured in one run.

    python benchmarks/bench_hw.py

1. Frame codec: FrameParser on a stream of SAMPLES replies (1045-byte frames)
   against a bare loop of struct.unpack_from + binascii.crc_hqx on the same
   bytes, which knows where every frame starts (the lower bound).
2. The simulated pair: virtual seconds simulated per wall second, running the
   full selftest (27 transfers).
3. The twin (the firmware on two simavr cores, ``labkit-twin://``), if it can
   be built: the same selftest, wall time, against the Python simulation.
   (Goodput and the PHY's top rates on the twin: bench_twin.py.)
"""

from __future__ import annotations

import binascii
import struct
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labkit.hw  # noqa: E402,F401
from labkit.hw import protocol as P  # noqa: E402
from labkit.hw.lab import open_pair  # noqa: E402
from labkit.hw.selftest import run_selftest  # noqa: E402
from labkit.hw.twin import missing_tools  # noqa: E402


def best(fn, repeat=5):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_codec() -> None:
    frame = P.Frame(P.SAMPLES, 5, P.Samples(0, 1, 80, 8192, bytes(1024)).pack()).pack()
    stream = frame * 200
    size = len(frame)
    header = struct.Struct("<BBBH")

    def parser():
        out = P.FrameParser().feed(stream)
        assert len(out) == 200

    def baseline():
        n = 0
        for off in range(0, len(stream), size):
            _, _, _, length = header.unpack_from(stream, off)
            body = stream[off + 1 : off + 5 + length]
            (crc,) = struct.unpack_from("<H", stream, off + 5 + length)
            n += binascii.crc_hqx(body, 0xFFFF) == crc
        assert n == 200

    tp, tb = best(parser), best(baseline)
    print(f"codec: FrameParser {200 / tp:,.0f} frames/s ({200 * size / tp / 1e6:.2f} MB/s), "
          f"bare struct+crc {200 / tb:,.0f} frames/s: parser/baseline time ratio {tp / tb:.1f}")
    print(f"       (the USB link carries 50 kB/s: the parser keeps up "
          f"{200 * size / tp / 50e3:,.0f} times over)")


def selftest(tx, rx):
    t = time.perf_counter()
    report = run_selftest(tx, rx, rng=0)
    return time.perf_counter() - t, report


def bench_sim() -> float:
    tx, rx = open_pair(pair="bench")
    try:
        v0 = tx.clock()
        wall, report = selftest(tx, rx)
        virtual = tx.clock() - v0
    finally:
        tx.close()
        rx.close()
    print(f"sim:   selftest {wall:.2f} s wall for {virtual:.2f} s of simulated time "
          f"({virtual / wall:.1f}x real time), {'PASS' if report.passed else 'FAIL'}")
    return wall


def bench_twin(sim_wall: float) -> None:
    if missing_tools():
        print(f"twin:  skipped (needs {', '.join(missing_tools())})")
        return
    tx, rx = open_pair("twin", "twin", pair="bench")
    try:
        v0 = tx.clock()
        wall, report = selftest(tx, rx)
        simulated = tx.clock() - v0
    finally:
        tx.close()
        rx.close()
    print(f"twin:  selftest {wall:.2f} s wall for {simulated:.2f} s of simulated time "
          f"({simulated / wall:.1f}x real time), {'PASS' if report.passed else 'FAIL'}; "
          f"twin/sim wall-time ratio {wall / sim_wall:.1f}")


if __name__ == "__main__":
    bench_codec()
    bench_twin(bench_sim())
