"""Exercise checks for notebook 09 (the capstone); see :mod:`labkit.exercises`.

They build the capstone network (:mod:`labkit.capstone`), which puts every
layer and the simulator together, so they live here rather than in a layer.
"""

from __future__ import annotations

from typing import Any

from labkit.exercises import ExerciseResult, exercise

_CHANGED = {"eth.dst", "eth.src", "ip.ttl", "ip.checksum"}
_FIELDS = {"eth.dst", "eth.src", "eth.type", "ip.ttl", "ip.checksum", "ip.src", "ip.dst",
           "ip.id", "ip.length", "tcp.sport", "tcp.dport", "tcp.seq", "tcp.ack", "tcp.checksum",
           "http.data"}


def _wire_bytes(http_bytes: int) -> int:
    """Bytes on the wire for one TCP segment carrying ``http_bytes`` of data (no IP/TCP options)."""
    frame = max(60, 14 + 20 + 20 + http_bytes)  # a short frame is padded to 60 bytes
    return 8 + frame + 4  # preamble and SFD in front, FCS behind


@exercise("capstone.wire_bytes")
def _wire_bytes_check(answer: Any) -> ExerciseResult:
    """answer(http_bytes) -> bytes on the wire for one segment carrying that much HTTP data."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., wire_bytes)")
    for n in (74, 1460, 0, 5):
        want, got = _wire_bytes(n), answer(n)
        if got != want:
            hint = ("Count preamble + SFD (8), the Ethernet header (14), IPv4 (20), TCP (20), "
                    "the data and the FCS (4).")
            if n < 6 and got == 8 + 14 + 20 + 20 + n + 4:
                hint = ("Ethernet needs at least 46 bytes of payload: a shorter frame is padded "
                        "to 60 bytes before the FCS.")
            return ExerciseResult(False, f"for {n} bytes of HTTP data you gave {got!r}, "
                                         f"expected {want}. {hint}")
    return ExerciseResult(True, "right, including the padding of short frames: a 74-byte "
                                "request costs 140 bytes on the wire")


@exercise("capstone.router_changes")
def _router_changes(answer: Any) -> ExerciseResult:
    """answer: the set of fields a router rewrites, named as in the list given in the notebook."""
    if not isinstance(answer, (set, frozenset, list, tuple)):
        return ExerciseResult(False, "give a set of field names, e.g. {'ip.ttl'}")
    given = set(answer)
    unknown = given - _FIELDS
    if unknown:
        return ExerciseResult(False, f"unknown field name(s) {sorted(unknown)}; use names from "
                                     f"{sorted(_FIELDS)}")
    if given == _CHANGED:
        return ExerciseResult(True, "yes: a new Ethernet header for the next link, TTL - 1, and "
                                    "so a new IP header checksum; TCP and HTTP are untouched")
    missing, extra = _CHANGED - given, given - _CHANGED
    hints = []
    if missing:
        hints.append(f"the plot shows changes you left out ({len(missing)} field(s)); "
                     "remember that changing the TTL changes what the checksum covers")
    if extra:
        hints.append(f"{sorted(extra)} did not change: routers forward packets, they do not "
                     "rewrite addresses (without NAT) or touch TCP")
    return ExerciseResult(False, "; ".join(hints))


@exercise("capstone.peel")
def _peel(answer: Any) -> ExerciseResult:
    """answer(frame) -> the TCP payload, taken out with the headers' own length fields."""
    from labkit.capstone import build, fetch, layers

    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., peel)")
    with build(seed=3, page="tiny") as cap:
        fetch(cap)
        frames = [r.frame for r in cap.capture.trace if r.frame[12:14] == b"\x08\x00"]
    for frame in frames:
        want = layers(frame)[0].payload
        try:
            got = answer(frame)
        except Exception as exc:  # the student's bug: report it as a hint
            return ExerciseResult(False, f"your function raised {type(exc).__name__}: {exc}")
        if bytes(got) != want:
            hint = ("Use the IPv4 total length (bytes 2-3 of the IP header) to cut off "
                    "Ethernet padding, IHL * 4 for the IP header and the TCP data offset "
                    "(top 4 bits of TCP byte 12) * 4 for the TCP header.")
            return ExerciseResult(False, f"on a {len(frame)}-byte frame you returned "
                                         f"{bytes(got)[:20]!r}... ({len(got)} bytes), expected "
                                         f"{len(want)} bytes. {hint}")
    return ExerciseResult(True, f"your peel agrees with labkit on all {len(frames)} frames, "
                                "padded ACKs included")
