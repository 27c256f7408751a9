"""The notebook's check functions accept right answers and hint at wrong ones."""

from __future__ import annotations

import struct
import zlib

from labkit.link import crc, exercises
from labkit.link.mac import MACAddress


def test_check_header(capsys):
    good = struct.pack("!6s6sH", b"\xff" * 6, bytes.fromhex("02005e100001"), 0x0806)
    assert exercises.check_header(good)
    assert "Correct" in capsys.readouterr().out
    assert not exercises.check_header(good + b"\x00" * 4)
    assert "EtherType is 2 bytes" in capsys.readouterr().out
    assert not exercises.check_header(good[:12] + good[12:14][::-1])
    assert "big-endian" in capsys.readouterr().out
    assert not exercises.check_header(good[6:12] + good[:6] + good[12:])
    assert "destination" in capsys.readouterr().out


def test_check_padding(capsys):
    assert exercises.check_padding(28, 18)
    assert "64 bytes" in capsys.readouterr().out
    assert not exercises.check_padding(28, 36)
    assert "header" in capsys.readouterr().out
    assert exercises.check_padding(100, 0)


def test_check_is_multicast(capsys):
    assert exercises.check_is_multicast(lambda t: MACAddress(t).is_multicast)
    assert not exercises.check_is_multicast(lambda t: int(t[-2:], 16) & 1 == 1)
    assert "first" in capsys.readouterr().out
    assert not exercises.check_is_multicast(lambda t: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_check_crc32(capsys):
    assert exercises.check_crc32(crc.crc32)
    assert not exercises.check_crc32(lambda d: zlib.crc32(d) ^ 0xFFFFFFFF)
    assert "invert" in capsys.readouterr().out
    assert not exercises.check_crc32(lambda d: 0)


def test_check_switch_prediction(capsys):
    right = [[2, 3], [1], [1, 2], [3], [1, 3]]
    assert exercises.check_switch_prediction(right)
    wrong = [[2, 3], [1], [1, 2], [3], [1]]  # forgot that A's entry aged out
    assert not exercises.check_switch_prediction(wrong)
    assert "step 5" in capsys.readouterr().out
    assert not exercises.check_switch_prediction([[2]])
