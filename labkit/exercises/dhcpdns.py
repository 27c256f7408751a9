"""Exercise checks for notebook 11 (DHCP and DNS); see :mod:`labkit.exercises`.

- ``dhcp.timers``: a function lease -> (T1, T2), the renewal and rebinding times;
- ``dns.name_to_wire``: a function encoding a name as DNS writes it, labels and all;
- ``dns.read_name``: a function reading a name at an offset of a message, compression
  pointers and all, returning the name and the offset after it;
- ``dns.queries``: how many questions a resolver with an empty cache sends for two lookups.
"""

from __future__ import annotations

from typing import Any

from labkit.app.dns import Message, ResourceRecord, name_to_wire
from labkit.exercises import ExerciseResult, exercise


def _call(answer: Any, *args: Any) -> tuple[bool, Any]:
    try:
        return True, answer(*args)
    except Exception as exc:  # the student's code raised: say so as a hint, not a traceback
        return False, f"{type(exc).__name__}: {exc}"


@exercise("dhcp.timers")
def _timers(answer: Any) -> ExerciseResult:
    """answer(lease_seconds) -> (T1, T2) in seconds, RFC 2131's defaults."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself: check('dhcp.timers', timers)")
    for lease in (3600, 86400, 120, 7):
        ok, got = _call(answer, lease)
        if not ok:
            return ExerciseResult(False, f"for a lease of {lease} s your function raised {got}")
        try:
            t1, t2 = got
        except (TypeError, ValueError):
            return ExerciseResult(False, f"return two numbers, (T1, T2); you returned {got!r}")
        if abs(t2 - lease * 0.875) < 1 and abs(t1 - lease * 0.5) < 1:
            continue
        if abs(t1 - lease * 0.875) < 1 and abs(t2 - lease * 0.5) < 1:
            return ExerciseResult(False, "the client renews first (with its own server) and "
                                         "rebinds later (with any server): which is smaller?")
        if abs(t1 - lease * 0.5) >= 1:
            return ExerciseResult(False, f"for {lease} s, T1={t1!r} is off: at what fraction of "
                                         "the lease does the client first ask its server again?")
        return ExerciseResult(False, f"for {lease} s, T2={t2!r} is off: RFC 2131 4.4.5 gives "
                                     "T2 as a fraction of the lease written in eighths")
    return ExerciseResult(True, "T1 is half the lease and T2 seven eighths of it (RFC 2131 4.4.5)")


_NAMES = ["www.example.com", "example.com.", "a.b.c.d.e", "xn--fiqs8s.cn.", "x", "."]


@exercise("dns.name_to_wire")
def _name_to_wire(answer: Any) -> ExerciseResult:
    """answer(name) -> the name's bytes on the wire (no compression)."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself: check('dns.name_to_wire', f)")
    for name in _NAMES:
        want = name_to_wire(name)
        ok, got = _call(answer, name)
        if not ok:
            return ExerciseResult(False, f"for {name!r} your function raised {got}")
        if isinstance(got, (bytearray, memoryview)):
            got = bytes(got)
        if got == want:
            continue
        if not isinstance(got, bytes):
            return ExerciseResult(False, f"return bytes, not {type(got).__name__}")
        if got == want[:-1]:
            return ExerciseResult(False, f"for {name!r}: how does a reader know the name ended?")
        if b"." in got:
            return ExerciseResult(False, f"for {name!r} you wrote {got!r}: DNS writes no dots; "
                                         "what goes in front of each label instead?")
        if name.endswith(".") and len(got) > len(want):
            return ExerciseResult(False, f"for {name!r}: the final dot is the root, which is "
                                         "written as the terminating zero, not as an empty label")
        return ExerciseResult(False, f"for {name!r} you gave {got!r}, which is not what a "
                                     "resolver expects ({len(want)} bytes)")
    return ExerciseResult(True, "each label behind its length byte, and a zero for the root")


def _pointer_messages() -> list[tuple[bytes, int, str, int]]:
    """(message, offset, name there, offset after it) cases, with and without pointers."""
    m = Message.query("example.com", "MX", id=1).reply(
        answers=(ResourceRecord.make("example.com", "MX", (10, "mail.example.com"), ttl=60),))
    raw = m.pack()
    q_at = 12
    ans_at = q_at + len(name_to_wire("example.com")) + 4
    exch_at = ans_at + 2 + 10 + 2  # owner pointer, type/class/ttl/rdlength, preference
    return [
        (raw, q_at, "example.com.", ans_at - 4),
        (raw, ans_at, "example.com.", ans_at + 2),  # a bare pointer
        (raw, exch_at, "mail.example.com.", exch_at + 5 + 2),  # a label, then a pointer
        (b"\x00" * 12 + b"\x00", 12, ".", 13),
    ]


@exercise("dns.read_name")
def _read_name(answer: Any) -> ExerciseResult:
    """answer(message, offset) -> (name as text with a final dot, offset after the name)."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself: check('dns.read_name', f)")
    for raw, offset, name, after in _pointer_messages():
        ok, got = _call(answer, raw, offset)
        if not ok:
            return ExerciseResult(False, f"at offset {offset} your function raised {got}")
        try:
            got_name, got_after = got
        except (TypeError, ValueError):
            return ExerciseResult(False, f"return (name, next_offset); you returned {got!r}")
        if got_name.rstrip(".").lower() != name.rstrip(".").lower():
            if raw[offset] >= 0xC0 or "mail" in name:
                return ExerciseResult(False, f"at offset {offset} you read {got_name!r}, expected "
                                             f"{name!r}: a byte with its top two bits set is not a "
                                             "length: the other 14 bits say where to read on")
            return ExerciseResult(False, f"at offset {offset} you read {got_name!r}, expected {name!r}")
        if got_after != after:
            return ExerciseResult(False, f"for {name!r} at offset {offset} you said the name ends "
                                         f"before {got_after}: after a pointer, reading goes on "
                                         "right after the pointer's two bytes, not where it led")
    loop = b"\x00" * 12 + b"\xc0\x0c"
    ok, got = _call(answer, loop, 12)
    if ok:
        return ExerciseResult(False, f"a pointer to itself (offset 12 -> 12) returned {got!r}: "
                                     "it should raise, since following it never ends")
    return ExerciseResult(True, "labels, pointers and the offset after them, and a loop refused")


@exercise("dns.queries")
def _queries(answer: Any) -> ExerciseResult:
    """How many questions a cold resolver sends for www.example.com, then mail.example.com."""
    if isinstance(answer, bool) or not isinstance(answer, int):
        return ExerciseResult(False, f"give a number of questions (an int), not {answer!r}")
    if answer == 4:
        return ExerciseResult(True, "3 for www (root, com., example.com.), then 1: the resolver "
                                    "remembers example.com.'s servers and asks them directly")
    if answer == 6:
        return ExerciseResult(False, "the second lookup does not start from the root: what did "
                                     "the first one leave in the cache?")
    if answer == 2:
        return ExerciseResult(False, "a resolver with an empty cache knows only the root servers: "
                                     "how many servers does it ask for www?")
    return ExerciseResult(False, "count the servers asked for the first name (start at the root), "
                                 "then for the second, which shares example.com. with it")
