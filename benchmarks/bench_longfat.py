"""A long fat pipe (issue 17's speed goal): 100 Mbit/s, 50 ms one way, a drop-tail bottleneck
queue of one bandwidth-delay product, labkit's default TCP settings.

One NewReno flow (``--cc cubic`` for CUBIC) sends through :func:`labkit.bottleneck.bottleneck`
(A -> R1 -> bottleneck -> R2 -> B, the access links ten times faster). Reported, in one run:

- goodput of the second half of the transfer (from the moment B had half the bytes until it
  had them all) and of the whole transfer (from the start, slow start included), each as a
  fraction of the link rate (1448-byte segments with timestamps in 1514-byte frames cap it at
  about 95.6%);
- the wall time the simulation took, and per MiB.

Goals (issue 17): second half >= 90%, whole >= 80%, 64 MiB simulated in <= 30 s of wall time.
Run: ``python benchmarks/bench_longfat.py [--mib 64] [--cc cubic] [--buffer BYTES]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from labkit.bottleneck import bottleneck
from labkit.transport.tcp_connection import TCPConfig

RATE = 100e6
DELAY = "50ms"


def run(mib: int, cc: str, buffer: int | None) -> dict[str, float]:
    volume = mib << 20
    seconds = volume * 8 / RATE * 1.5 + 3
    config = TCPConfig() if buffer is None else TCPConfig(recv_buffer=buffer)
    t0 = time.perf_counter()
    r = bottleneck([cc], rate="100Mbit", delay=DELAY, queue=1.0, duration=f"{seconds:.3f}s",
                   config=config)
    wall = time.perf_counter() - t0
    f = r.flows[0]
    t = np.array([d[0] for d in f.delivered])
    total = np.array([d[1] for d in f.delivered])
    if total.size == 0 or total[-1] < volume:
        got = int(total[-1]) if total.size else 0
        return {"done": 0.0, "got_mib": got / (1 << 20), "wall": wall,
                "timeouts": len(f.times("timeout")), "losses": len(f.times("loss"))}
    t_half = t[np.searchsorted(total, volume // 2)]
    t_all = t[np.searchsorted(total, volume)]
    return {
        "done": 1.0,
        "second_half": (volume / 2) * 8 / ((t_all - t_half) / 1e9) / RATE,
        "whole": volume * 8 / ((t_all - f.start) / 1e9) / RATE,
        "wall": wall, "wall_per_mib": wall / mib,
        "timeouts": len(f.times("timeout")), "losses": len(f.times("loss")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--cc", default="newreno")
    ap.add_argument("--buffer", type=int, default=None, help="receive buffer (default TCPConfig's)")
    a = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    out = run(a.mib, a.cc, a.buffer)
    print(f"{a.mib} MiB, {a.cc}, receive buffer {a.buffer or TCPConfig().recv_buffer:,}:")
    for k, v in out.items():
        print(f"  {k:12s} {v:.3f}")


if __name__ == "__main__":
    main()
