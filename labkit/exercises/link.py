"""Exercise checks for course/03-data-link.ipynb (the ``link.*`` names); see :mod:`labkit.exercises`.

Importing this module registers them; the notebook calls
``check("link.header", my_header)`` and so on (:func:`labkit.exercises.check`
imports this module the first time a ``link.*`` name is checked). Each
checker compares the student's answer with what :mod:`labkit.link` computes
and answers with a hint about the first thing that is wrong, never just "wrong".
"""

from __future__ import annotations

import zlib
from typing import Any

from labkit.exercises import ExerciseResult, exercise
from labkit.link.ethernet import HEADER_LENGTH, MIN_FRAME_LENGTH, EthernetFrame, EtherType
from labkit.link.mac import BROADCAST, MACAddress
from labkit.link.switch import LearningSwitch

__all__ = ["HEADER_TASK", "PADDING_PAYLOAD", "SWITCH_QUIZ"]


def _ok(message: str) -> ExerciseResult:
    return ExerciseResult(True, message)


def _hint(message: str) -> ExerciseResult:
    return ExerciseResult(False, message)


#: Exercise 1: the header of this frame, built by hand.
HEADER_TASK: dict[str, Any] = {
    "dst": "ff:ff:ff:ff:ff:ff",
    "src": "02:00:5e:10:00:01",
    "ethertype": EtherType.ARP,
}


@exercise("link.header")
def _check_header(header: Any) -> ExerciseResult:
    """Exercise 1: the 14 header bytes of :data:`HEADER_TASK`'s frame."""
    want = EthernetFrame(
        HEADER_TASK["dst"], HEADER_TASK["src"], HEADER_TASK["ethertype"], bytes(46)
    ).pack(fcs=False)[:HEADER_LENGTH]
    if not isinstance(header, (bytes, bytearray)):
        return _hint(f"expected bytes, got {type(header).__name__}")
    header = bytes(header)
    if len(header) == 18:
        return _hint("18 bytes: the EtherType is 2 bytes, and the FCS is not part of the header")
    if len(header) != HEADER_LENGTH:
        return _hint(f"{len(header)} bytes; the header is 6 + 6 + 2 = 14 bytes")
    if header[:6] != want[:6]:
        return _hint("the first 6 bytes are the *destination* address (the broadcast address)")
    if header[6:12] != want[6:12]:
        if header[6:12] == want[6:12][::-1]:
            return _hint("the source address's bytes are reversed: write them in the order given")
        return _hint("bytes 6..11 are the source address, 02:00:5e:10:00:01")
    if header[12:14] == want[12:14][::-1]:
        return _hint("the EtherType's bytes are swapped: network byte order is big-endian ('!H')")
    if header != want:
        return _hint(f"the EtherType for ARP is {int(EtherType.ARP):#06x}")
    return _ok("the 14 bytes are right: destination, source, then the EtherType big-endian")


#: Exercise 2: the payload (a 20-byte IPv4 header and a 20-byte TCP header, no data).
PADDING_PAYLOAD = 40


@exercise("link.padding")
def _check_padding(answer: Any) -> ExerciseResult:
    """Exercise 2: how many padding bytes a frame with a :data:`PADDING_PAYLOAD`-byte payload needs."""
    payload_length = PADDING_PAYLOAD
    frame = EthernetFrame(BROADCAST, 1, EtherType.IPV4, bytes(payload_length))
    want = frame.padding_length
    if isinstance(answer, bool) or not isinstance(answer, int):
        return _hint(f"give a whole number of bytes, got {answer!r}")
    if answer == want:
        return _ok(
            f"{payload_length} + {want} = {payload_length + want} bytes of data, "
            f"and the frame is {frame.wire_length()} bytes."
        )
    if answer == MIN_FRAME_LENGTH - payload_length:
        return _hint("the 64-byte minimum includes the 14-byte header and the 4-byte FCS")
    return _hint(f"the data part must be at least {MIN_FRAME_LENGTH - HEADER_LENGTH - 4} bytes")


_MULTICAST_CASES = [
    "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:fb", "33:33:00:00:00:01", "00:1b:21:3a:4f:5e",
    "02:00:00:00:00:01", "03:00:00:00:00:01", "fe:ff:ff:ff:ff:ff", "0f:00:00:00:00:00",
    "10:00:00:00:00:01", "e1:23:45:67:89:ab",
]


@exercise("link.is_multicast")
def _check_is_multicast(fn: Any) -> ExerciseResult:
    """Exercise 3: ``fn(text) -> bool`` tells group (multicast) addresses from unicast ones."""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check(..., is_multicast)")
    for text in _MULTICAST_CASES:
        want = MACAddress(text).is_multicast
        try:
            got = fn(text)
        except NotImplementedError:
            raise  # not written yet: labkit.exercises.evaluate says so
        except Exception as exc:  # the student's code: report, do not crash the check
            return _hint(f"is_multicast({text!r}) raised {type(exc).__name__}: {exc}")
        if bool(got) != want:
            extra = (
                " Look at the lowest bit of the *first* octet, not the last."
                if int(text[-2:], 16) & 1 != int(text[:2], 16) & 1
                else " The I/G bit is the least significant bit of the first octet."
            )
            return _hint(f"is_multicast({text!r}) returned {got!r}, expected {want}.{extra}")
    return _ok(f"is_multicast is right on all {len(_MULTICAST_CASES)} addresses tried")


_CRC_CASES = [b"", b"a", b"123456789", bytes(range(256)), b"\xff" * 7, b"Ethernet"]


@exercise("link.crc32")
def _check_crc32(fn: Any) -> ExerciseResult:
    """Exercise 4: ``fn(data) -> int`` computes CRC-32 bit by bit, equal to zlib.crc32."""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check(..., my_crc32)")
    for data in _CRC_CASES:
        want = zlib.crc32(data)
        try:
            got = fn(data)
        except NotImplementedError:
            raise  # not written yet: labkit.exercises.evaluate says so
        except Exception as exc:
            return _hint(f"crc({data[:12]!r}) raised {type(exc).__name__}: {exc}")
        if got == want:
            continue
        if not isinstance(got, int):
            return _hint(f"return an int, got {type(got).__name__}")
        if got == want ^ 0xFFFFFFFF:
            return _hint("invert the result at the end (XOR with 0xFFFFFFFF)")
        if data == b"" and got != 0:
            return _hint("the CRC of no bytes is 0: start at 0xFFFFFFFF and invert at the end")
        return _hint(
            f"crc({data[:12]!r}) = {got:#010x}, expected {want:#010x}. Start at 0xFFFFFFFF, "
            "XOR each byte into the low end, shift right 8 times XORing 0xEDB88320 when the "
            "bit shifted out is 1, and invert at the end."
        )
    return _ok(f"your CRC-32 equals zlib.crc32 on all {len(_CRC_CASES)} inputs tried")


_A, _B, _C = "02:00:00:00:00:0a", "02:00:00:00:00:0b", "02:00:00:00:00:0c"
#: Exercise 5: (time in s, in port, source, destination) for a 3-port switch with hosts
#: A on port 1, B on port 2 and C on port 3; 60-second ageing.
SWITCH_QUIZ = [
    (0, 1, _A, _B),
    (1, 2, _B, _A),
    (2, 3, _C, "ff:ff:ff:ff:ff:ff"),
    (3, 1, _A, _C),
    (70, 2, _B, _A),
]


@exercise("link.switch_prediction")
def _check_switch_prediction(answers: Any) -> ExerciseResult:
    """Exercise 5: one list of out ports per step of :data:`SWITCH_QUIZ`."""
    switch = LearningSwitch(3, ageing_time_ns=60 * 1_000_000_000)
    if not isinstance(answers, (list, tuple)) or len(answers) != len(SWITCH_QUIZ):
        return _hint(f"give a list of {len(SWITCH_QUIZ)} lists of ports, one per frame")
    for i, ((t, port, src, dst), answer) in enumerate(zip(SWITCH_QUIZ, answers, strict=True)):
        decision = switch.forward(port, EthernetFrame(dst, src, 0x0800, b""), t * 1_000_000_000)
        try:
            got = sorted(answer)
        except TypeError:
            return _hint(f"step {i + 1}: give a list of port numbers, e.g. [2, 3]")
        want: list[Any] = sorted(decision.out_ports)
        if got != want:
            return _hint(
                f"step {i + 1} (t={t} s, port {port}): the switch would {decision.action} "
                f"to {want or 'no port'}, not {got}. "
                "Remember: learn the source first; flood unknown and broadcast destinations; "
                "entries older than the ageing time are forgotten."
            )
    return _ok("every step predicted: learned, forwarded, flooded and aged as the switch did")
