"""Units: times to integer nanoseconds, bit rates to bit/s, clear errors otherwise."""

from __future__ import annotations

import pytest

from labkit.errors import LabkitValueError
from labkit.units import format_rate, format_time, parse_rate, parse_time


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1ms", 1_000_000),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("2s", 2_000_000_000),
        ("1.5 ms", 1_500_000),
        ("500ns", 500),
        ("1e-3s", 1_000_000),
        ("0.1s", 100_000_000),
        ("1min", 60_000_000_000),
        ("0s", 0),
    ],
)
def test_time_strings(text, ns):
    assert parse_time(text) == ns


def test_numbers_are_seconds():
    assert parse_time(2) == 2_000_000_000
    assert parse_time(0.001) == 1_000_000
    assert parse_time(0.1) == 100_000_000  # exact, no binary drift


def test_time_is_exact():
    assert sum(parse_time("0.1s") for _ in range(10)) == parse_time("1s")
    assert parse_time("0.3s") == 3 * parse_time("0.1s")


def test_sub_nanosecond_rounds():
    assert parse_time("1.4ns") == 1
    assert parse_time("1.6ns") == 2


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("10Mbit", 10_000_000),
        ("1Gbit", 1_000_000_000),
        ("100kbit", 100_000),
        ("9600bit/s", 9600),
        ("10Mbps", 10_000_000),
        ("1 Gbit/s", 1_000_000_000),
        ("2.5Gbit", 2_500_000_000),
    ],
)
def test_rate_strings(text, bps):
    assert parse_rate(text) == bps


def test_rate_numbers_are_bits_per_second():
    assert parse_rate(1_000_000) == 1_000_000
    assert parse_rate(1e6) == 1_000_000


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("10", "add a unit"),
        ("1MS", "lower case"),
        ("fast", "not a time"),
        ("-1ms", "negative"),
        (-1, "negative"),
        (None, "expected a time"),
        (True, "expected a time"),
        (float("nan"), "finite"),
        ("1 hour", "not a time"),
    ],
)
def test_bad_times_name_argument_and_value(value, fragment):
    with pytest.raises(LabkitValueError) as info:
        parse_time(value, "delay")
    msg = str(info.value)
    assert msg.startswith(f"delay={value!r}")
    assert fragment in msg


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1MB/s", "in bits"),
        ("10", "add a unit"),
        ("10MHz", "use bit"),
        (0, "positive"),
        ("0bit", "positive"),
        (-5, "positive"),
        ("fast", "not a bit rate"),
        ([1], "expected a bit rate"),
    ],
)
def test_bad_rates_name_argument_and_value(value, fragment):
    with pytest.raises(LabkitValueError) as info:
        parse_rate(value, "bandwidth")
    msg = str(info.value)
    assert msg.startswith(f"bandwidth={value!r}")
    assert fragment in msg


def test_format():
    assert format_time(1_500_000) == "1.5 ms"
    assert format_time(0) == "0 s"
    assert format_time(250) == "250 ns"
    assert format_time(2_000_000_000) == "2 s"
    assert format_rate(10_000_000) == "10 Mbit/s"
    assert format_rate(300) == "300 bit/s"


def test_huge_exponents_are_refused_quickly():
    with pytest.raises(LabkitValueError, match="exponent 999999999 is out of range"):
        parse_time("1e999999999s", "delay")
    with pytest.raises(LabkitValueError, match="out of range"):
        parse_rate("1e-99999bit")
