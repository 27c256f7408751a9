"""Exercise checks for the hardware lab, course/02-hardware-lab.ipynb (the ``hw.*`` names).

Like every other exercise they are registered with :func:`labkit.exercises.exercise`,
so ``check("hw.tick_cycles", half_bit_cycles)`` prints ``✔``/``✘`` and a hint. The
registered checks use the numbers the notebook gives (:data:`TICK_BIT_RATE`,
:data:`RC_TAU_US`).

Notebook 02 calls ``check("hw....", answer)`` like every other notebook. The older
``check_*`` functions, which take those numbers as arguments, are kept for notebooks
saved before; they print the same ``✔``/``✘`` verdict with the same hints (and return
nothing, so a check cell shows only the message). :mod:`labkit.hw.exercises`
re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from labkit.exercises import ExerciseResult, exercise
from labkit.hw import protocol as P
from labkit.phy import bits_from_bytes, encode

__all__ = ["TICK_BIT_RATE", "RC_TAU_US", "check_tick_cycles", "check_sample_decoder", "check_rc_limit"]

#: Exercise 1: the bit rate whose half-bit the student times (bit/s).
TICK_BIT_RATE = 2400
#: Exercise 3: the time constant of the standard wire (µs).
RC_TAU_US = 22.0


def _tick_cycles(bit_rate: int, answer: Any) -> ExerciseResult:
    want = P.timer_tick_cycles(2 * bit_rate)
    try:
        got = int(answer)
    except (TypeError, ValueError):
        return ExerciseResult(False, f"answer with a whole number of cycles, not {answer!r}")
    if got == want:
        return ExerciseResult(True, f"{want:,} CPU cycles per half-bit at {bit_rate} bit/s")
    if got == P.timer_tick_cycles(bit_rate):
        return ExerciseResult(False, "that is a whole bit; the timer ticks twice per bit (two half-bits)")
    if abs(got - P.F_CPU / (2 * bit_rate)) < 1:
        return ExerciseResult(False, "close: the timer counts whole cycles; round to the nearest count "
                                     "(and check whether a prescaler is needed to fit 16 bits)")
    return ExerciseResult(False, "a half-bit lasts 1 / (2 * bit_rate) seconds, and the CPU makes "
                                 "16,000,000 cycles a second")


_SPBS = (4, 7, 10)


def _sample_decoder(decoder: Callable[[np.ndarray, int], bytes], *, unwritten_raises: bool) -> ExerciseResult:
    # unwritten_raises: let NotImplementedError through, for evaluate() to say "not written yet"
    rng = np.random.default_rng(2)
    for spb in _SPBS:
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
            if unwritten_raises and isinstance(exc, NotImplementedError):
                raise
            return ExerciseResult(False, f"your decoder raised {type(exc).__name__}: {exc}")
        if got != data:
            return ExerciseResult(False, f"at {spb} samples per bit, expected {data!r}, got {got!r}. "
                                         "A sample at a bit's edge may read either level: which "
                                         "sample of each bit is safest? Then pack 8 bits per byte, "
                                         "most significant first")
    return ExerciseResult(True, f"your decoder reads every byte at {', '.join(map(str, _SPBS))} samples "
                                "per bit, whichever level the boundary samples read")


def _rc_limit(tau_us: float, answer_bit_rate: Any) -> ExerciseResult:
    want = 1e6 / (2 * tau_us)
    try:
        got = float(answer_bit_rate)
    except (TypeError, ValueError):
        return ExerciseResult(False, "answer with a number of bits per second")
    if math.isclose(got, want, rel_tol=0.02):
        return ExerciseResult(True, f"about {want:,.0f} bit/s: there a Manchester half-bit lasts "
                                    f"tau = {tau_us:g} µs")
    if math.isclose(got, 2 * want, rel_tol=0.02):
        return ExerciseResult(False, "that is where a whole bit lasts tau; Manchester's half-bits are "
                                     "what must last tau")
    return ExerciseResult(False, "a Manchester half-bit lasts 1 / (2 * bit_rate) seconds; set it equal "
                                 "to tau (in seconds)")


# --- the registered checks: check("hw.tick_cycles", half_bit_cycles) and so on ------------------


@exercise("hw.tick_cycles")
def _check_tick_cycles(answer: Any) -> ExerciseResult:
    """Exercise 1: the CPU cycles the firmware's timer gives one half-bit at :data:`TICK_BIT_RATE`."""
    return _tick_cycles(TICK_BIT_RATE, answer)


@exercise("hw.sample_decoder")
def _check_sample_decoder(answer: Any) -> ExerciseResult:
    """Exercise 2: ``answer(samples, samples_per_bit) -> bytes`` for NRZ-L, MSB first."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., my_decoder)")
    return _sample_decoder(answer, unwritten_raises=True)


@exercise("hw.rc_limit")
def _check_rc_limit(answer: Any) -> ExerciseResult:
    """Exercise 3: the Manchester bit rate at which a half-bit lasts :data:`RC_TAU_US`."""
    return _rc_limit(RC_TAU_US, answer)


# --- the older check functions, for notebooks saved before (they print the same ✔ / ✘) ----------


def _say(result: ExerciseResult) -> None:
    print(repr(result))


def check_tick_cycles(bit_rate: int, answer: object) -> None:
    """Exercise 1: how many CPU cycles does the firmware's timer give one half-bit?"""
    _say(_tick_cycles(bit_rate, answer))


def check_sample_decoder(decoder: Callable[[np.ndarray, int], bytes]) -> None:
    """Exercise 2: ``decoder(samples, samples_per_bit) -> bytes`` for NRZ-L, MSB first.

    ``samples`` are 0/1 digital samples starting at the first bit's start.
    """
    _say(_sample_decoder(decoder, unwritten_raises=False))


def check_rc_limit(tau_us: float, answer_bit_rate: float) -> None:
    """Exercise 3: the Manchester bit rate at which a half-bit lasts one time constant."""
    _say(_rc_limit(tau_us, answer_bit_rate))
