"""The hardware lab's exercise checks: right answers pass, typical mistakes get their hint.

The older check_* functions print the same ✔ / ✘ verdicts as check("hw.*", ...), the
style of every other notebook, with the same hints.
"""

from __future__ import annotations

import numpy as np
import pytest

from labkit.exercises import EXERCISES, check, evaluate
from labkit.exercises.hw import (
    RC_TAU_US,
    TICK_BIT_RATE,
    check_rc_limit,
    check_sample_decoder,
    check_tick_cycles,
)
from labkit.phy import bytes_from_bits


def test_tick_cycles(capsys):
    check_tick_cycles(2400, 3333)
    assert capsys.readouterr().out.startswith("✔ ")
    check_tick_cycles(2400, 6667)  # a whole bit
    assert "two half-bits" in capsys.readouterr().out
    check_tick_cycles(2400, 3333.33)  # int() truncates to 3333: accepted as the rounded count
    assert capsys.readouterr().out.startswith("✔ ")
    check_tick_cycles(2400, "many")
    assert "whole number" in capsys.readouterr().out
    check_tick_cycles(2400, 1000)
    assert "16,000,000" in capsys.readouterr().out


def _middle(samples, spb):
    n = samples.size // spb
    return bytes_from_bits(samples[np.arange(n) * spb + spb // 2][: n // 8 * 8])


def _at_edges(samples, spb):
    return bytes_from_bits(samples[::spb][: samples.size // spb // 8 * 8])


def _broken(samples, spb):
    raise RuntimeError("oops")


def _unwritten(samples, spb):
    raise NotImplementedError("your code here")


def test_sample_decoder(capsys):
    middle, at_edges, broken = _middle, _at_edges, _broken
    check_sample_decoder(middle)
    assert capsys.readouterr().out.startswith("✔ ")
    check_sample_decoder(at_edges)
    out = capsys.readouterr().out
    assert out.startswith("✘ ") and "edge may read either level" in out
    assert "spb // 2" not in out  # the hint does not give the code
    check_sample_decoder(broken)
    assert "RuntimeError: oops" in capsys.readouterr().out


def test_rc_limit(capsys):
    check_rc_limit(22, 1 / (2 * 22e-6))
    assert capsys.readouterr().out.startswith("✔ ")
    check_rc_limit(22, 1 / 22e-6)
    assert "half-bits" in capsys.readouterr().out
    check_rc_limit(22, None)
    assert "number" in capsys.readouterr().out
    check_sample_decoder(_unwritten)  # as before the registry: the error is the hint
    assert capsys.readouterr().out == "✘ your decoder raised NotImplementedError: your code here\n"


def test_the_checks_are_registered_as_hw_names():
    assert {"hw.tick_cycles", "hw.sample_decoder", "hw.rc_limit"} <= set(EXERCISES)
    assert {EXERCISES[n].__module__ for n in EXERCISES if n.startswith("hw.")} == {"labkit.exercises.hw"}
    assert (TICK_BIT_RATE, RC_TAU_US) == (2400, 22.0)  # the numbers notebook 02 gives


def test_check_prints_the_registry_verdict(capsys):
    check("hw.tick_cycles", 3333)
    assert capsys.readouterr().out == "✔ 3,333 CPU cycles per half-bit at 2400 bit/s\n"
    check("hw.tick_cycles", 6667)
    assert capsys.readouterr().out == ("✘ that is a whole bit; the timer ticks twice per bit "
                                       "(two half-bits)\n")
    check("hw.sample_decoder", _middle)
    assert capsys.readouterr().out.startswith("✔ your decoder reads every byte at 4, 7, 10 samples")
    check("hw.rc_limit", 1 / (2 * 22e-6))
    assert capsys.readouterr().out == "✔ about 22,727 bit/s: there a Manchester half-bit lasts tau = 22 µs\n"


def test_registry_specific_verdicts():
    assert "not written yet" in evaluate("hw.sample_decoder", _unwritten).message
    assert "pass your function" in evaluate("hw.sample_decoder", b"\x00").message
    assert "your decoder raised RuntimeError: oops" == evaluate("hw.sample_decoder", _broken).message
    assert "raised OverflowError" in evaluate("hw.tick_cycles", float("inf")).message


@pytest.mark.parametrize(("name", "legacy", "answers"), [
    ("hw.tick_cycles", lambda a: check_tick_cycles(2400, a), [3333, 6667, 3333.33, "many", 1000, 3334]),
    ("hw.sample_decoder", check_sample_decoder, [_middle, _at_edges, _broken]),
    ("hw.rc_limit", lambda a: check_rc_limit(22, a), [1 / (2 * 22e-6), 1 / 22e-6, None, 5]),
])
def test_registered_and_notebook_checks_agree(capsys, name, legacy, answers):
    for answer in answers:
        result = evaluate(name, answer)
        legacy(answer)
        out = capsys.readouterr().out
        assert out == f"{'✔' if result else '✘'} {result.message}\n"
        check(name, answer)  # the notebook's own cell prints exactly the same
        assert capsys.readouterr().out == out
