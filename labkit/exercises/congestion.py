"""Exercise checks for lesson 10 (congestion control); see :mod:`labkit.exercises`.

``cc.bdp`` (a function: the bandwidth-delay product), ``cc.window_limit`` (a number: what a
64 KiB window allows over 100 ms), ``cc.cubic_k`` (a number: RFC 9438's K) and ``cc.jain``
(a function: Jain's fairness index).
"""

from __future__ import annotations

import math
from typing import Any

from labkit.bottleneck import jain
from labkit.exercises import ExerciseResult, exercise


def _number(answer: Any) -> float | None:
    if isinstance(answer, bool):
        return None
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


@exercise("cc.bdp")
def _bdp(answer: Any) -> ExerciseResult:
    """answer(rate_bps, rtt_s) -> bytes in flight needed to fill the pipe."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check('cc.bdp', bdp)")
    for rate, rtt in ((100e6, 0.1), (10e6, 0.02), (1e9, 0.004), (56e3, 0.3)):
        want = rate * rtt / 8
        got = _number(answer(rate, rtt))
        if got is None:
            return ExerciseResult(False, f"bdp({rate:g}, {rtt:g}) gave {answer(rate, rtt)!r}: "
                                         "return a number of bytes")
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        if math.isclose(got, want * 8, rel_tol=1e-6):
            return ExerciseResult(False, f"bdp({rate:g}, {rtt:g}) = {got:,.0f}: that is a number "
                                         "of bits; the window is counted in bytes")
        if math.isclose(got, want / 2, rel_tol=1e-6) or math.isclose(got, want * 2, rel_tol=1e-6):
            return ExerciseResult(False, f"bdp({rate:g}, {rtt:g}) = {got:,.0f}: off by a factor of "
                                         "two. The sender waits a whole round trip for an ACK: "
                                         "which time is rtt here?")
        return ExerciseResult(False, f"bdp({rate:g} bit/s, {rtt:g} s) = {got!r} is not it: what "
                                     "does the link carry during one round trip?")
    return ExerciseResult(True, "right: 100 Mbit/s × 100 ms is 1.25 MB in flight, 19 times "
                                "the 64 KiB window of 1981")


@exercise("cc.window_limit")
def _window_limit(answer: Any) -> ExerciseResult:
    """The best throughput, in Mbit/s, of a 65,535-byte window over a 100 ms round trip."""
    got = _number(answer)
    want = 65535 * 8 / 0.1 / 1e6  # 5.24 Mbit/s
    if got is None:
        return ExerciseResult(False, f"{answer!r}: give a number of Mbit/s")
    if math.isclose(got, want, rel_tol=0.01):
        return ExerciseResult(True, f"{want:.2f} Mbit/s: one window per round trip, whatever the "
                                    "link could carry")
    if math.isclose(got, want / 8, rel_tol=0.01):
        return ExerciseResult(False, f"{got:g}: that is megabytes per second; the question asks "
                                     "for megabits")
    if math.isclose(got, want * 2, rel_tol=0.01) or math.isclose(got, want / 2, rel_tol=0.01):
        return ExerciseResult(False, f"{got:g}: off by two. One full window can be sent per "
                                     "round trip: how long is the round trip?")
    return ExerciseResult(False, f"{got:g} Mbit/s is not it: at most one window can be in "
                                 "flight at a time, and a window takes one RTT to be acknowledged")


@exercise("cc.cubic_k")
def _cubic_k(answer: Any) -> ExerciseResult:
    """K in seconds for W_max = 1000 segments, beta = 0.7, C = 0.4 (RFC 9438 eq. 2)."""
    got = _number(answer)
    want = (1000 * (1 - 0.7) / 0.4) ** (1 / 3)
    if got is None:
        return ExerciseResult(False, f"{answer!r}: give K as a number of seconds")
    if math.isclose(got, want, rel_tol=1e-3):
        return ExerciseResult(True, f"K = {want:.3f} s: after a loss at 1000 segments CUBIC is "
                                    "back at W_max 9 s later, whatever the RTT (Reno needs 300 RTTs)")
    if math.isclose(got, (1000 * 0.7 / 0.4) ** (1 / 3), rel_tol=1e-3):
        return ExerciseResult(False, f"{got:g}: the window starts the epoch at β·W_max, so the "
                                     "distance to climb is W_max - β·W_max")
    if math.isclose(got, 1000 * 0.3 / 0.4, rel_tol=1e-3):
        return ExerciseResult(False, f"{got:g}: that is K³; the window function is cubic in time")
    return ExerciseResult(False, f"{got:g} s is not it: at t = K, W_cubic(t) = C(t - K)³ + W_max "
                                 "is W_max; at t = 0 it must be the window after the decrease")


@exercise("cc.jain")
def _jain(answer: Any) -> ExerciseResult:
    """answer(throughputs) -> Jain's fairness index."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check('cc.jain', jain)")
    cases = [[5.0, 5.0], [10.0, 0.0], [1.0, 2.0, 3.0, 4.0], [2.5, 2.5, 2.5, 0.1], [7.0]]
    for xs in cases:
        want = jain(xs)
        got = _number(answer(list(xs)))
        if got is None:
            return ExerciseResult(False, f"jain({xs}) gave {answer(list(xs))!r}: return a number")
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        n = len(xs)
        if math.isclose(got, want * n, rel_tol=1e-9):
            return ExerciseResult(False, f"jain({xs}) = {got:g}: equal shares should give 1 "
                                         "whatever the number of flows; what is missing below?")
        return ExerciseResult(False, f"jain({xs}) = {got:g} is not it: equal shares give 1, one "
                                     f"flow taking everything 1/n (here {1 / n:g})")
    return ExerciseResult(True, "your index agrees on every case, 1 for equal shares and 1/n "
                                "when one flow has it all")
