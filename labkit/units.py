"""Times and bit rates written the way people write them: ``"1ms"``, ``"10Mbit"``.

The simulator, the scenario helper and the layers' timers all take durations
and rates either as strings with a unit or as plain numbers in a default unit:

==============  =====================================  ==========================
quantity        strings                                a plain number means
==============  =====================================  ==========================
time            ``"2s"``, ``"1ms"``, ``"10us"``,       seconds (``0.001`` = 1 ms)
                ``"10µs"``, ``"500ns"``, ``"1.5 ms"``
bit rate        ``"100kbit"``, ``"10Mbit"``,           bits per second
                ``"1Gbit"``, ``"9600bit/s"``,
                ``"10Mbps"``, ``"1 Gbit/s"``
==============  =====================================  ==========================

Rate prefixes are decimal, as in networking (k = 1000, M = 10**6, G = 10**9).
Bytes per second are refused on purpose (``"1MB/s"`` -> write ``"8Mbit"``):
links are specified in bits.

Times come back as whole nanoseconds (``int``). The arithmetic is exact
(``fractions.Fraction``), so ``"0.1s"`` is exactly 100,000,000 ns and adding
ten of them gives exactly one second: a virtual clock that never drifts. A
value finer than a nanosecond is rounded to the nearest nanosecond.

Anything that cannot be read raises :class:`~labkit.errors.LabkitValueError`
naming the argument and the value::

    >>> parse_time("1ms")
    1000000
    >>> parse_rate("10Mbit")
    10000000
    >>> format_time(1_500_000)
    '1.5 ms'

This module imports nothing from labkit but its errors, so protocol layers and
their tests can use it without the simulator.
"""

from __future__ import annotations

import math
import numbers
import re
from fractions import Fraction

from labkit.errors import LabkitValueError

__all__ = ["NS_PER_S", "parse_time", "parse_rate", "format_time", "format_rate"]

#: Nanoseconds in a second: the virtual clock counts integer nanoseconds.
NS_PER_S = 1_000_000_000

_NUMBER = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?"
_TIME_RE = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-zµμ]*)\s*$")
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-z/]*)\s*$")

_TIME_UNITS = {
    "ns": Fraction(1),
    "us": Fraction(1_000),
    "µs": Fraction(1_000),  # micro sign
    "μs": Fraction(1_000),  # Greek mu
    "ms": Fraction(1_000_000),
    "s": Fraction(NS_PER_S),
    "sec": Fraction(NS_PER_S),
    "min": Fraction(60 * NS_PER_S),
}
_RATE_PREFIX = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "t": 10**12}
_RATE_SUFFIX = ("bit/s", "bits/s", "bps", "bit", "bits", "b/s")


def _number(mantissa: str, exponent: str | None, text: str, name: str) -> Fraction:
    value = Fraction(mantissa)
    if exponent:
        e = int(exponent)
        if abs(e) > 30:  # 10**-30 s is nothing, 10**30 s is longer than the universe
            raise LabkitValueError(f"{name}={text!r}: exponent {e} is out of range")
        value *= Fraction(10) ** e
    return value


def _plain_number(value: object, name: str, what: str) -> Fraction:
    """A Python number as an exact fraction (floats through their shortest repr)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LabkitValueError(
            f"{name}={value!r}: expected {what}, as a string with a unit or a number"
        )
    if isinstance(value, numbers.Integral):
        return Fraction(int(value))
    f = float(value)
    if not math.isfinite(f):
        raise LabkitValueError(f"{name}={value!r}: expected {what}, and a finite one")
    return Fraction(repr(f))


def parse_time(value: object, name: str = "time") -> int:
    """Return a duration or instant as whole nanoseconds.

    ``value`` is a string with a unit (``ns``, ``us``/``µs``, ``ms``, ``s``,
    ``min``) or a number of **seconds**. Negative times are refused.
    ``name`` is the argument's name, used in the error message.
    """
    if isinstance(value, str):
        m = _TIME_RE.match(value)
        unit = m.group(3) if m else None
        if m is None or unit not in _TIME_UNITS:
            if value.strip().startswith("-"):
                hint = "a time cannot be negative"
            elif m is not None and unit == "":
                hint = "add a unit, e.g. '1ms' (a bare number in a string is ambiguous)"
            elif m is not None and unit is not None and unit.lower() in {"ms", "us", "ns", "s"}:
                hint = f"units are lower case: '{m.group(1)}{unit.lower()}'"
            else:
                hint = "write a number and one of the units ns, us, µs, ms, s, min, e.g. '1ms'"
            raise LabkitValueError(f"{name}={value!r}: not a time I can read; {hint}")
        ns = _number(m.group(1), m.group(2), value, name) * _TIME_UNITS[unit]
    else:
        ns = _plain_number(value, name, "a time in seconds") * NS_PER_S
        if ns < 0:
            raise LabkitValueError(f"{name}={value!r}: a time cannot be negative")
    return round(ns)


def parse_rate(value: object, name: str = "bandwidth") -> int:
    """Return a bit rate in bits per second (a positive ``int``).

    ``value`` is a string such as ``"10Mbit"``, ``"100 kbit/s"``, ``"1Gbps"``
    or a number of **bits per second**. Zero and negative rates are refused.
    """
    if isinstance(value, str):
        m = _RATE_RE.match(value)
        if m is None:
            raise LabkitValueError(
                f"{name}={value!r}: not a bit rate I can read; write e.g. '10Mbit' or '100kbit'"
            )
        unit = m.group(3)
        low = unit.lower()
        prefix = None
        for suffix in _RATE_SUFFIX:
            if low.endswith(suffix) and unit[len(unit) - len(suffix) :] != "B/s":
                prefix = low[: len(low) - len(suffix)]
                break
        if prefix is None or prefix not in _RATE_PREFIX:
            if value.strip().startswith("-"):
                hint = "a bit rate must be positive"
            elif "B" in unit or "byte" in low:
                hint = "links are specified in bits: 1 MB/s is '8Mbit'"
            elif unit == "":
                hint = "add a unit, e.g. '10Mbit'"
            else:
                hint = "use bit, kbit, Mbit or Gbit (optionally '/s' or 'bps'), e.g. '10Mbit'"
            raise LabkitValueError(f"{name}={value!r}: not a bit rate I can read; {hint}")
        bps = _number(m.group(1), m.group(2), value, name) * _RATE_PREFIX[prefix]
    else:
        bps = _plain_number(value, name, "a bit rate in bit/s")
    if bps <= 0:
        raise LabkitValueError(f"{name}={value!r}: a bit rate must be positive")
    out = round(bps)
    if out < 1:
        raise LabkitValueError(f"{name}={value!r}: a bit rate must be at least 1 bit/s")
    return out


def format_time(ns: int) -> str:
    """Write nanoseconds in the largest unit that keeps them readable: ``'1.5 ms'``."""
    ns = int(ns)
    if ns == 0:
        return "0 s"
    for unit, scale in (("s", NS_PER_S), ("ms", 1_000_000), ("µs", 1_000)):
        if abs(ns) >= scale:
            return f"{ns / scale:.6g} {unit}"
    return f"{ns} ns"


def format_rate(bps: int) -> str:
    """Write a bit rate with a decimal prefix: ``10_000_000`` -> ``'10 Mbit/s'``."""
    for unit, scale in (("Gbit/s", 10**9), ("Mbit/s", 10**6), ("kbit/s", 10**3)):
        if bps >= scale:
            return f"{bps / scale:.6g} {unit}"
    return f"{bps} bit/s"
