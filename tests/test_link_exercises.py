"""Notebook 03's checks, registered as link.*: right answers pass, wrong ones get hints."""

from __future__ import annotations

import struct
import zlib

from labkit.exercises import EXERCISES, check, evaluate
from labkit.link import crc
from labkit.link.mac import MACAddress

GOOD_HEADER = struct.pack("!6s6sH", b"\xff" * 6, bytes.fromhex("02005e100001"), 0x0806)


def test_link_checks_are_registered_by_name():
    evaluate("link.header", GOOD_HEADER)  # the first link.* name loads labkit.exercises.link
    assert {"link.header", "link.padding", "link.is_multicast", "link.crc32",
            "link.switch_prediction"} <= set(EXERCISES)


def test_check_header(capsys):
    check("link.header", GOOD_HEADER)
    assert capsys.readouterr().out.startswith("✔ the 14 bytes are right")
    assert "EtherType is 2 bytes" in evaluate("link.header", GOOD_HEADER + b"\x00" * 4).message
    swapped = GOOD_HEADER[:12] + GOOD_HEADER[12:14][::-1]
    assert "big-endian" in evaluate("link.header", swapped).message
    reversed_macs = GOOD_HEADER[6:12] + GOOD_HEADER[:6] + GOOD_HEADER[12:]
    assert "destination" in evaluate("link.header", reversed_macs).message
    assert "expected bytes" in evaluate("link.header", "ff").message
    assert not evaluate("link.header", b"")


def test_check_padding():
    result = evaluate("link.padding", 6)
    assert result and "40 + 6 = 46 bytes of data" in result.message and "64 bytes" in result.message
    assert "includes the 14-byte header" in evaluate("link.padding", 24).message
    assert "at least 46" in evaluate("link.padding", 0).message
    assert "whole number" in evaluate("link.padding", None).message


def test_check_is_multicast():
    assert evaluate("link.is_multicast", lambda t: MACAddress(t).is_multicast)
    wrong = evaluate("link.is_multicast", lambda t: int(t[-2:], 16) & 1 == 1)
    assert not wrong and "first" in wrong.message
    assert "ZeroDivisionError" in evaluate("link.is_multicast", lambda t: 1 / 0).message
    assert "not written yet" in evaluate("link.is_multicast", _unwritten).message
    assert "pass your function" in evaluate("link.is_multicast", True).message


def test_check_crc32():
    assert evaluate("link.crc32", crc.crc32)
    assert evaluate("link.crc32", zlib.crc32)
    assert "invert" in evaluate("link.crc32", lambda d: zlib.crc32(d) ^ 0xFFFFFFFF).message
    assert not evaluate("link.crc32", lambda d: 0)
    assert "return an int" in evaluate("link.crc32", lambda d: str(zlib.crc32(d))).message


def test_check_switch_prediction():
    right = [[2, 3], [1], [1, 2], [3], [1, 3]]
    assert evaluate("link.switch_prediction", right)
    wrong = [[2, 3], [1], [1, 2], [3], [1]]  # forgot that A's entry aged out
    result = evaluate("link.switch_prediction", wrong)
    assert not result and "step 5" in result.message and "flood" in result.message
    assert "5 lists" in evaluate("link.switch_prediction", [[2]]).message
    assert "port numbers" in evaluate("link.switch_prediction", [1, 2, 3, 4, 5]).message


def _unwritten(_):
    raise NotImplementedError("your code here")
