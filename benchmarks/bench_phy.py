"""Manchester decoding speed, as ratios measured in one run.

Decodes 10 million samples at 8 samples per bit and compares the throughput
with two references measured in the same run on the same machine:

- ``np.copy`` of the same array: reading and writing every sample once, the
  memory-bandwidth limit a vectorised decoder cannot beat by much;
- a straightforward pure-Python loop decoder, one iteration per sample
  (timed on a slice and scaled, since all 10 million samples take minutes),
  run twice: over the NumPy array the decoder is given (each ``samples[i]``
  makes a NumPy scalar), and over the same samples as a Python list (the
  fastest a plain loop gets, after paying for ``tolist()``, not counted).

Goals (issue 2): decoding at least 1/20 of np.copy's speed and at least 100x
the loop. Run: ``python benchmarks/bench_phy.py``.
"""

from __future__ import annotations

import time

import numpy as np

from labkit import phy

SAMPLES = 10_000_000
SPB = 8


def loop_decode(samples, spb):
    """The decoder a student would write first: one Python iteration per sample."""
    half = spb // 2
    bits = []
    for start in range(0, len(samples), spb):
        first = 0.0
        second = 0.0
        for i in range(half):
            first += samples[start + i]
            second += samples[start + half + i]
        bits.append(1 if second > first else 0)
    return bits


def best_of(func, repeat=7):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, SAMPLES // SPB, dtype=np.uint8)
    wave = phy.add_noise(phy.encode(bits, "manchester", SPB), 10, rng)
    assert np.array_equal(phy.decode(wave, "manchester", SPB), bits)

    t_copy = best_of(lambda: np.copy(wave))
    t_decode = best_of(lambda: phy.decode(wave, "manchester", SPB))
    chunk = wave[:200_000]
    as_list = chunk.tolist()
    scale = SAMPLES / chunk.size
    t_loop_array = best_of(lambda: loop_decode(chunk, SPB), repeat=3) * scale
    t_loop_list = best_of(lambda: loop_decode(as_list, SPB), repeat=3) * scale
    assert loop_decode(as_list, SPB) == bits[: chunk.size // SPB].tolist()

    rate = SAMPLES / t_decode
    print(f"Manchester decode, {SAMPLES:,} float64 samples at {SPB} samples/bit")
    print(f"  np.copy          {SAMPLES / t_copy / 1e6:10.1f} Msamples/s")
    print(f"  labkit decode    {rate / 1e6:10.1f} Msamples/s")
    print(f"  loop over array  {SAMPLES / t_loop_array / 1e6:10.3f} Msamples/s (on 200,000, scaled)")
    print(f"  loop over list   {SAMPLES / t_loop_list / 1e6:10.3f} Msamples/s (on 200,000, scaled)")
    print(f"  decode / np.copy         = {t_copy / t_decode:.2f}  (goal: at least 1/20 = 0.05)")
    print(f"  decode / loop over array = {t_loop_array / t_decode:.0f}x  (goal: at least 100x)")
    print(f"  decode / loop over list  = {t_loop_list / t_decode:.0f}x")


if __name__ == "__main__":
    main()
