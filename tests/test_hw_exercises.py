"""The hardware lab's exercise checks: right answers pass, typical mistakes get their hint."""

from __future__ import annotations

import numpy as np

from labkit.hw.exercises import check_rc_limit, check_sample_decoder, check_tick_cycles
from labkit.phy import bytes_from_bits


def test_tick_cycles(capsys):
    check_tick_cycles(2400, 3333)
    assert capsys.readouterr().out.strip() == "Correct"
    check_tick_cycles(2400, 6667)  # a whole bit
    assert "two half-bits" in capsys.readouterr().out
    check_tick_cycles(2400, 3333.33)  # int() truncates to 3333: accepted as the rounded count
    assert "Correct" in capsys.readouterr().out
    check_tick_cycles(2400, "many")
    assert "whole number" in capsys.readouterr().out
    check_tick_cycles(2400, 1000)
    assert "16,000,000" in capsys.readouterr().out


def test_sample_decoder(capsys):
    def middle(samples, spb):
        n = samples.size // spb
        return bytes_from_bits(samples[np.arange(n) * spb + spb // 2][: n // 8 * 8])

    def at_edges(samples, spb):
        return bytes_from_bits(samples[::spb][: samples.size // spb // 8 * 8])

    def broken(samples, spb):
        raise RuntimeError("oops")

    check_sample_decoder(middle)
    assert capsys.readouterr().out.strip() == "Correct"
    check_sample_decoder(at_edges)
    assert "middle" in capsys.readouterr().out
    check_sample_decoder(broken)
    assert "RuntimeError: oops" in capsys.readouterr().out


def test_rc_limit(capsys):
    check_rc_limit(22, 1 / (2 * 22e-6))
    assert capsys.readouterr().out.strip() == "Correct"
    check_rc_limit(22, 1 / 22e-6)
    assert "half-bits" in capsys.readouterr().out
    check_rc_limit(22, None)
    assert "number" in capsys.readouterr().out
