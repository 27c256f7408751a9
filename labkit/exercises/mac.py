"""Exercise checks for course/13-medium-access.ipynb (the ``mac.*`` names); see :mod:`labkit.exercises`.

Each checker compares the student's answer with what :mod:`labkit.link.aloha` and
:mod:`labkit.link.csma` compute and answers with a hint about the first thing that is wrong.
"""

from __future__ import annotations

import math
from typing import Any

from labkit.exercises import ExerciseResult, exercise
from labkit.link.aloha import pure_aloha_throughput
from labkit.link.csma import ATTEMPT_LIMIT, BACKOFF_LIMIT, backoff_range, min_frame_bytes

__all__ = ["MIN_FRAME_CASES"]


def _ok(message: str) -> ExerciseResult:
    return ExerciseResult(True, message)


def _hint(message: str) -> ExerciseResult:
    return ExerciseResult(False, message)


def _number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float))


@exercise("mac.aloha_peak")
def _check_aloha_peak(answer: Any) -> ExerciseResult:
    """Exercise 1: ``(G, S)`` where pure ALOHA's throughput ``S = G e^(-2G)`` is largest."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2 or not all(map(_number, answer)):
        return _hint("give two numbers, (G, S): the load at the peak and the throughput there")
    g, s = float(answer[0]), float(answer[1])
    want_g, want_s = 0.5, pure_aloha_throughput(0.5)
    if abs(g - 1.0) < 0.02 and abs(s - 1 / math.e) < 0.005:
        return _hint("that is slotted ALOHA's peak (S = G e^(-G)); pure ALOHA's vulnerable period is 2T")
    if abs(g - want_g) > 0.01:
        return _hint(f"S = G e^(-2G) at G = {g:g} is {pure_aloha_throughput(max(g, 0)):.4f}; set dS/dG = "
                     "e^(-2G) (1 - 2G) to zero")
    if abs(s - want_s) > 0.002:
        return _hint(f"G = 1/2 is right; S there is (1/2) e^(-1), not {s:g}")
    return _ok(f"G = 1/2, S = 1/(2e) = {want_s:.4f}: at best 18% of the channel carries frames")


#: (bit rate in bit/s, largest one-way delay in ns) the checker tries.
MIN_FRAME_CASES = [(10_000_000, 25_600), (100_000_000, 2_560), (1_000_000_000, 2_048),
                   (10_000_000, 10_000), (10_000_000, 1_000), (54_000_000, 3_333)]


@exercise("mac.min_frame")
def _check_min_frame(fn: Any) -> ExerciseResult:
    """Exercise 2: ``fn(bitrate, max_delay_ns) -> bytes``, the smallest frame that lasts the round trip."""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check(..., min_frame)")
    for bitrate, delay in MIN_FRAME_CASES:
        want = min_frame_bytes(bitrate, delay)
        try:
            got = fn(bitrate, delay)
        except NotImplementedError:
            raise
        except Exception as exc:
            return _hint(f"min_frame({bitrate}, {delay}) raised {type(exc).__name__}: {exc}")
        if got == want:
            continue
        if not _number(got):
            return _hint(f"return a number of bytes, got {type(got).__name__}")
        one_way = -(-delay * bitrate // 1_000_000_000)
        if got in (one_way // 8, -(-one_way // 8)):
            return _hint("that frame lasts one propagation delay; the collision's news must come *back*: "
                         "2 x the delay")
        if got in (2 * one_way, 2 * delay * bitrate / 1e9):
            return _hint("that is in bits; a frame is counted in bytes (8 bits)")
        if got == 2 * delay * bitrate / 8e9:
            return _hint("round up: a frame is a whole number of bytes, and a little too short is too short")
        return _hint(f"min_frame({bitrate}, {delay}) = {got!r}, expected {want}: bits = "
                     "2 x delay x bit rate, then bytes, rounded up")
    return _ok(f"right on all {len(MIN_FRAME_CASES)} networks: 10 Mbit/s with a 25.6 us one-way "
               "budget gives Ethernet's 64 bytes")


@exercise("mac.backoff")
def _check_backoff(fn: Any) -> ExerciseResult:
    """Exercise 3: ``fn(collisions) -> how many values r is drawn from``, or ``None`` to give up."""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check(..., backoff_choices)")
    for n in range(1, 20):
        want = backoff_range(n) if n < ATTEMPT_LIMIT else None
        try:
            got = fn(n)
        except NotImplementedError:
            raise
        except Exception as exc:
            return _hint(f"backoff_choices({n}) raised {type(exc).__name__}: {exc}")
        if got == want and (got is None) == (want is None):
            continue
        if want is None:
            return _hint(f"after {n} collisions the frame has had {n} attempts: 802.3 gives up after "
                         f"{ATTEMPT_LIMIT} (return None)")
        if got is None:
            return _hint(f"backoff_choices({n}) returned None: 802.3 tries {ATTEMPT_LIMIT} times before "
                         "giving up")
        if n > BACKOFF_LIMIT and got == 2 ** n:
            return _hint(f"the range stops doubling after {BACKOFF_LIMIT} collisions: at most "
                         f"{2 ** BACKOFF_LIMIT} values")
        if got == 2 ** min(n, BACKOFF_LIMIT) - 1:
            return _hint("count the values: r in 0 .. 2^k - 1 is 2^k values")
        return _hint(f"backoff_choices({n}) = {got!r}, expected {want}")
    return _ok("2, 4, 8 ... 1024 values, then 1024 until the 16th collision, then give up")
