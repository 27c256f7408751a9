"""The simulated pair's wire in bounded memory (issue 24's per-student memory).

SimBoard._wire_volts answers every change of the line at every time asked for,
a matrix of times x changes. Notebook 02's BER sweep asked it for 4096 reads
across a 500-bit Manchester frame's 760 changes: 25 MB a copy, and the lesson's
kernel peaked 53 MB above the rest. It now works a block of times at a time (about 9 MB of temporaries at most, against about 100).
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from labkit.hw import sim
from labkit.hw.lab import bit_error_test, open_pair


def _direct(board: sim.SimBoard, t: np.ndarray) -> np.ndarray:
    """The wire's voltage by the whole matrix at once, as before the blocks."""
    import bisect

    model, wire = board.pair.model, board.in_wire
    tau = model.rc_us * 1e-6
    i0 = bisect.bisect_right(wire.times, t[0] - 12 * tau) - 1
    i1 = bisect.bisect_right(wire.times, t[-1])
    te = np.array(wire.times[i0 + 1 : i1])
    steps = np.diff(np.array(wire.levels[i0:i1], dtype=float))
    dt = t[:, None] - te[None, :]
    rise = np.where(dt > 0, -np.expm1(-np.maximum(dt, 0) / tau), 0.0)
    return model.v_low + (wire.levels[i0] + rise @ steps) * (model.v_high - model.v_low)


def test_a_frame_of_reads_costs_megabytes_not_tens_and_gives_the_same_volts():
    tx, rx = open_pair("sim", "sim", pair="memory-hw", wire={"noise_mv": 400})
    try:
        bit_error_test(tx, rx, 10_000, "manchester", np.random.default_rng(0), payload_bits=500)
        pair = sim.pairs()["memory-hw"]
        board = max(pair.boards, key=lambda b: len(b.in_wire.times))  # the receiving one
        wire = board.in_wire
        assert len(wire.times) > 700  # a whole Manchester frame's changes
        t = np.linspace(wire.times[1], wire.times[-1], 4096)
        tracemalloc.start()
        volts = board._wire_volts(t)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 20e6, f"{peak / 1e6:.1f} MB for 4096 reads"
        whole = _direct(board, t)
        assert np.array_equal(volts, whole)
    finally:
        tx.close()
        rx.close()
