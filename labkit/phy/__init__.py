"""The physical layer: bits as voltages on a wire, with NumPy.

Everything here works on whole arrays at once (no per-sample Python loops):

- :mod:`~labkit.phy.bits`: bytes to bits and back, MSB- or LSB-first;
- :mod:`~labkit.phy.linecode`: NRZ-L, NRZ-I and Manchester, ``encode``/``decode``;
- :mod:`~labkit.phy.channel`: noise, attenuation, rise time, clock error;
- :mod:`~labkit.phy.receiver`: levels, clock recovery and preamble search;
- :mod:`~labkit.phy.measure`: bit error rate, its theory, eye diagrams.
"""

from labkit.phy.bits import bits_from_bytes, bytes_from_bits
from labkit.phy.channel import add_noise, attenuate, clock_skew, low_pass
from labkit.phy.linecode import CODES, decode, encode, levels_from_bits
from labkit.phy.measure import (
    ber,
    ber_theory,
    bit_errors,
    eye_opening,
    eye_traces,
    measure_ber,
    q_function,
)
from labkit.phy.receiver import (
    Clock,
    Levels,
    Reception,
    decode_with_clock,
    estimate_levels,
    find_preamble,
    receive,
    recover_clock,
    slice_levels,
)

__all__ = [
    "CODES",
    "Clock",
    "Levels",
    "Reception",
    "add_noise",
    "attenuate",
    "ber",
    "ber_theory",
    "bit_errors",
    "bits_from_bytes",
    "bytes_from_bits",
    "clock_skew",
    "decode",
    "decode_with_clock",
    "encode",
    "estimate_levels",
    "eye_opening",
    "eye_traces",
    "find_preamble",
    "levels_from_bits",
    "low_pass",
    "measure_ber",
    "q_function",
    "receive",
    "recover_clock",
    "slice_levels",
]
