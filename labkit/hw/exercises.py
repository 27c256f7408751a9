"""Check cells for the hardware lab's exercises (course/02-hardware-lab.ipynb).

Each ``check_*`` prints "Correct" or a hint (and returns nothing, so a check
cell shows only the message).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from labkit.hw import protocol as P
from labkit.phy import bits_from_bytes, encode

__all__ = ["check_tick_cycles", "check_sample_decoder", "check_rc_limit"]


def _say(ok: bool, hint: str) -> None:
    print("Correct" if ok else f"Not yet: {hint}")


def check_tick_cycles(bit_rate: int, answer: object) -> None:
    """Exercise 1: how many CPU cycles does the firmware's timer give one half-bit?"""
    want = P.timer_tick_cycles(2 * bit_rate)
    try:
        got = int(answer)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return _say(False, f"answer with a whole number of cycles, not {answer!r}")
    if got == want:
        return _say(True, "")
    if got == P.timer_tick_cycles(bit_rate):
        return _say(False, "that is a whole bit; the timer ticks twice per bit (two half-bits)")
    if abs(got - P.F_CPU / (2 * bit_rate)) < 1:
        return _say(False, "close: the timer counts whole cycles; round to the nearest count "
                    "(and check whether a prescaler is needed to fit 16 bits)")
    return _say(False, "a half-bit lasts 1 / (2 * bit_rate) seconds, and the CPU makes "
                "16,000,000 cycles a second")


def check_sample_decoder(decoder: Callable[[np.ndarray, int], bytes]) -> None:
    """Exercise 2: ``decoder(samples, samples_per_bit) -> bytes`` for NRZ-L, MSB first.

    ``samples`` are 0/1 digital samples starting at the first bit's start.
    """
    rng = np.random.default_rng(2)
    for spb in (4, 7, 10):
        data = rng.integers(0, 256, 6, dtype=np.uint8).tobytes()
        levels = (encode(bits_from_bytes(data), "nrz-l", spb, v_high=1, v_low=0) > 0.5)
        samples = levels.astype(np.uint8)
        # a sample right at each bit boundary may read either level
        edges = np.arange(spb, samples.size, spb)
        flip = rng.random(edges.size) < 0.5
        samples[edges[flip]] = samples[edges[flip] - 1]
        try:
            got = decoder(samples.copy(), spb)
        except Exception as exc:  # noqa: BLE001  (show the student's error as a hint)
            return _say(False, f"your decoder raised {type(exc).__name__}: {exc}")
        if got != data:
            return _say(False, f"at {spb} samples per bit, expected {data!r}, got {got!r}. "
                        "Read each bit in its middle (sample k * spb + spb // 2), not at its "
                        "edge, and pack 8 bits per byte, most significant first")
    return _say(True, "")


def check_rc_limit(tau_us: float, answer_bit_rate: float) -> None:
    """Exercise 3: the Manchester bit rate at which a half-bit lasts one time constant."""
    want = 1e6 / (2 * tau_us)
    try:
        got = float(answer_bit_rate)
    except (TypeError, ValueError):
        return _say(False, "answer with a number of bits per second")
    if math.isclose(got, want, rel_tol=0.02):
        return _say(True, "")
    if math.isclose(got, 2 * want, rel_tol=0.02):
        return _say(False, "that is where a whole bit lasts tau; Manchester's half-bits are "
                    "what must last tau")
    return _say(False, "a Manchester half-bit lasts 1 / (2 * bit_rate) seconds; set it equal "
                "to tau (in seconds)")
