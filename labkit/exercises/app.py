"""Exercise checks for course/08-sockets.ipynb (the ``app.*`` names); see :mod:`labkit.exercises`.

Importing this module registers them (:func:`labkit.exercises.check` imports
it the first time an ``app.*`` name is checked); the notebook calls
``check("app.frame", frame)`` and so on. Each checker runs the student's
answer against labkit's own implementation, on in-memory sockets that
return few bytes per ``recv`` (as a real network may), and answers with a
hint rather than just "wrong".
"""

from __future__ import annotations

import random
import struct
from typing import Any

from labkit.app.chat import ChatMessage
from labkit.app.framing import MessageDecoder, pack_msg
from labkit.app.http import HttpError, Request
from labkit.errors import LabkitError
from labkit.exercises import ExerciseResult, exercise

__all__ = ["TrickleSocket"]

_MESSAGES = [b"", b"a", b"hello", bytes(range(256)), "粘包".encode(), b"x" * 70_000]


class TrickleSocket:
    """A socket-like object over fixed bytes that returns at most ``per_recv`` bytes per call."""

    def __init__(self, data: bytes, per_recv: int = 3) -> None:
        self.data = data
        self.per_recv = per_recv
        self.calls = 0

    def recv(self, n: int) -> bytes:
        self.calls += 1
        chunk = self.data[: min(n, self.per_recv)]
        self.data = self.data[len(chunk) :]
        return chunk

    def settimeout(self, value: object) -> None:
        pass


def _callable(answer: Any, name: str) -> ExerciseResult | None:
    if not callable(answer):
        return ExerciseResult(False, f"pass your function itself, e.g. check(..., {name})")
    return None


@exercise("app.recv_exactly")
def _check_recv_exactly(answer: Any) -> ExerciseResult:
    if (bad := _callable(answer, "recv_exactly")) is not None:
        return bad
    for n, per in ((10, 3), (1, 1), (5, 100)):
        sock = TrickleSocket(b"0123456789ABCDEF", per)
        got = answer(sock, n)
        if got != b"0123456789ABCDEF"[:n]:
            return ExerciseResult(False, f"recv_exactly(sock, {n}) with {per} bytes per recv() "
                                  f"returned {got!r}: recv(n) may return fewer than n bytes, so "
                                  "call it in a loop until you have n")
    if answer(TrickleSocket(b"abc"), 0) != b"":
        return ExerciseResult(False, "recv_exactly(sock, 0) should return b'' without reading")
    try:
        got = answer(TrickleSocket(b"abc"), 5)
    except (EOFError, ConnectionError, LabkitError):
        return ExerciseResult(True, "recv_exactly loops over short reads and refuses a stream "
                              "that ends early")
    return ExerciseResult(False, f"the peer sent 3 bytes and closed, but recv_exactly(sock, 5) "
                          f"returned {got!r}: recv() returning b'' means the stream ended; raise "
                          "ConnectionError (or EOFError) instead of looping forever or returning "
                          "short data")


@exercise("app.frame")
def _check_frame(answer: Any) -> ExerciseResult:
    if (bad := _callable(answer, "frame")) is not None:
        return bad
    for message in _MESSAGES:
        got = answer(message)
        want = pack_msg(message)
        if got != want:
            return ExerciseResult(False, f"frame({message[:10]!r}{'...' if len(message) > 10 else ''}) "
                                  f"starts {bytes(got)[:8]!r}, expected {want[:8]!r}: a 4-byte "
                                  "big-endian length (struct.pack('!I', len(message))), then the "
                                  "message")
    return ExerciseResult(True, "frame matches labkit.app.pack_msg byte for byte")


@exercise("app.split_frames")
def _check_split_frames(answer: Any) -> ExerciseResult:
    if (bad := _callable(answer, "split_frames")) is not None:
        return bad
    rng = random.Random(8)
    stream = b"".join(pack_msg(m) for m in _MESSAGES[:5])
    cases = [stream, stream[:3], stream[:6], stream + b"\x00\x00", b""]
    cases += [stream[: rng.randrange(len(stream))] for _ in range(20)]
    for buffer in cases:
        decoder = MessageDecoder()
        want_msgs = decoder.feed(buffer)
        consumed = len(buffer) - decoder.pending
        got = answer(buffer)
        if not (isinstance(got, tuple) and len(got) == 2):
            return ExerciseResult(False, "return a pair: (list of complete messages, leftover bytes)")
        msgs, rest = got
        if list(msgs) != want_msgs:
            return ExerciseResult(False, f"on a {len(buffer)}-byte buffer you found {len(msgs)} "
                                  f"messages, expected {len(want_msgs)}: read 4 bytes of length, "
                                  "then take that many bytes, while the buffer holds a whole frame")
        if bytes(rest) != buffer[consumed:]:
            return ExerciseResult(False, f"on a {len(buffer)}-byte buffer the leftover should be "
                                  f"the {len(buffer) - consumed} bytes of the incomplete frame "
                                  "(header included), to be completed by the next recv()")
    return ExerciseResult(True, "split_frames finds every complete message and keeps the rest")


def _line_ends(data: bytes) -> str | None:
    """What is wrong with the line ends of an HTTP head, or None if every line ends in CRLF."""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[: end + 4]
    bare = [i for i in range(len(head)) if head[i:i + 1] == b"\n" and head[i - 1:i] != b"\r"]
    if bare:
        line = head[: bare[0]].count(b"\n") + 1
        return (f"line {line} ends with a bare \\n (byte {bare[0]}): HTTP/1.1 lines end with "
                "\\r\\n, CR then LF (RFC 9112 2.1); some servers accept a lone LF, many do not")
    if end < 0:
        return ("the header must end with an empty line: the last header line's \\r\\n, then "
                "one more \\r\\n")
    return None


@exercise("app.http_get")
def _check_http_get(answer: Any) -> ExerciseResult:
    if (bad := _callable(answer, "http_get")) is not None:
        return bad
    for target, host in (("/", "127.0.0.1"), ("/index.html?q=1", "localhost:8080")):
        data = answer(target, host)
        if not isinstance(data, bytes):
            return ExerciseResult(False, f"return bytes, not {type(data).__name__} "
                                  "(text.encode('ascii'))")
        # labkit's parser is lenient, as RFC 9112 lets a receiver be; a sender must send CRLF
        if (wrong := _line_ends(data)) is not None:
            return ExerciseResult(False, wrong)
        try:
            request = Request.parse(data)
        except HttpError as exc:
            return ExerciseResult(False, f"labkit could not parse your request: {exc}. Lines end "
                                  "with \\r\\n and the header ends with an empty line.")
        if (request.method, request.target, request.version) != ("GET", target, "HTTP/1.1"):
            return ExerciseResult(False, f"request line {request.method} {request.target} "
                                  f"{request.version}; expected GET {target} HTTP/1.1")
        if request.header("Host") != host:
            return ExerciseResult(False, f"Host header {request.header('Host')!r}, expected {host!r}")
        if data.endswith(b"\r\n\r\n\r\n") or not data.endswith(b"\r\n\r\n"):
            return ExerciseResult(False, "a GET has no body: the request ends right after the "
                                  "empty line (\\r\\n\\r\\n), nothing after it")
    return ExerciseResult(True, "a valid HTTP/1.1 GET request, every line ended by CRLF")


@exercise("app.lcp_say")
def _check_lcp_say(answer: Any) -> ExerciseResult:
    if (bad := _callable(answer, "lcp_say")) is not None:
        return bad
    for text, rid in (("hi", 1), ("hello, 世界", 513), ("x" * 900, 65535)):
        got = answer(text, rid)
        want = ChatMessage.say(text, rid).pack()
        if not isinstance(got, (bytes, bytearray)):
            return ExerciseResult(False, f"return bytes, not {type(got).__name__}")
        got = bytes(got)
        if got == want:
            continue
        call = f"lcp_say({text[:12]!r}, {rid})"
        if len(got) < 4 or got[:4] != want[:4]:
            head: object = struct.unpack("!BBH", got[:4]) if len(got) >= 4 else got
            return ExerciseResult(False, f"{call}: header {head!r}, expected (1, 3, {rid}): "
                                  "version 1, command SAY = 0x03, request id as 2 bytes "
                                  "big-endian (struct '!BBH'), then the UTF-8 text")
        body, want_body = got[4:], want[4:]
        hint = f"{call}: the 4-byte header is right; the body "
        if body == text.encode("utf-8", "replace")[: len(body)] and len(body) < len(want_body):
            hint += (f"stops after {len(body)} of {len(want_body)} bytes: the length of the "
                     "UTF-8 bytes is not the number of characters")
        elif len(body) == len(want_body):
            at = next(i for i in range(len(body)) if body[i] != want_body[i])
            hint += (f"differs from byte {at} of the body on ({body[at:at + 4]!r}, expected "
                     f"{want_body[at:at + 4]!r}): the text goes in as UTF-8, nothing else")
        else:
            hint += (f"is {len(body)} bytes, expected {len(want_body)}: after the header comes "
                     "the text encoded as UTF-8 (text.encode('utf-8')), and nothing else: no "
                     "length, no terminator (the frame carries the length)")
        return ExerciseResult(False, hint)
    return ExerciseResult(True, "your SAY messages are byte-identical to labkit.app.chat's")
