"""Length-prefixed message framing for stream sockets (the cure for 粘包, "sticky packets").

TCP carries a stream of bytes, not messages: one ``send`` is not one ``recv``.
Two sends may arrive glued together in one ``recv``, one send may arrive split
over several. To carry messages over a stream, each message is sent as a
*frame*: a fixed-size header that says how long the message is, then the
message itself::

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 length (unsigned, big-endian)                 |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |             message: exactly ``length`` bytes ...             |

**Why exactly this header.** Four bytes in network byte order (``struct``
format ``"!I"``) is what most real protocols on a stream use for lengths (TLS
records, PostgreSQL messages, Kafka, gRPC's own 4-byte length): it is
fixed-size, so a reader always knows how much to read first, and large enough
that no practical message needs two frames. There is deliberately *no*
version or type byte: framing answers one question, "where does a message
end?", and a protocol built on it (``labkit.app.chat``) carries its own
version and command in the message. Keeping the two apart is what lets the
same framing carry any protocol.

**Limits.** A 4-byte length can announce up to 4 GiB; a receiver must never
trust that. :func:`recv_msg` refuses any announced length above ``max_size``
(1 MiB unless told otherwise) *before* it reads or allocates the body, with a
:class:`MessageTooLarge` naming the length. This also catches a peer that
speaks another protocol: an HTTP client's ``b"GET "`` read as a length is
1,195,725,856 bytes.

**Ends of the stream.** A peer that closes cleanly between messages gives
``None`` (the end of the conversation, not an error); one that closes in the
middle of a frame gives :class:`IncompleteMessage`; one that stops sending in
the middle of a frame gives :class:`MessageTimeout` when the socket's timeout
(or ``recv_msg``'s own deadline) expires. Both errors say how many bytes of how
many arrived. After either error the stream is out of step (the next bytes
are the middle of a message): close the connection.

The functions need only a minimal, duck-typed socket: ``sendall(bytes)``,
``recv(n) -> bytes`` (``b""`` at end of stream, ``TimeoutError``/``socket.timeout``
when the socket's timeout expires) and, for ``recv_msg(timeout=...)``,
``settimeout``/``gettimeout``. Real sockets, ``socket.socketpair()`` and
labkit's simulated TCP sockets all qualify. :class:`MessageDecoder` does the
same parsing on bytes fed to it, for non-blocking servers (``selectors``).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from labkit.errors import LabkitError, LabkitValueError, ParseError

__all__ = [
    "HEADER",
    "MAX_MESSAGE_SIZE",
    "FramingError",
    "IncompleteMessage",
    "MessageDecoder",
    "MessageTimeout",
    "MessageTooLarge",
    "StreamSocket",
    "TimeoutSocket",
    "iter_messages",
    "pack_msg",
    "recv_exactly",
    "recv_msg",
    "send_msg",
]

#: The frame header: the message length, 4 bytes, unsigned, big-endian (network byte order).
HEADER = struct.Struct("!I")
#: The largest message :func:`recv_msg` and :class:`MessageDecoder` accept unless told otherwise.
MAX_MESSAGE_SIZE = 1 << 20
_LARGEST = (1 << 32) - 1  # what the header can express
_CHUNK = 64 * 1024  # the most one recv() asks for: the body is read as it arrives, not preallocated


class StreamSocket(Protocol):
    """What the framing functions need of a socket (a real one qualifies)."""

    def sendall(self, data: bytes, /) -> object: ...

    def recv(self, bufsize: int, /) -> bytes: ...


@runtime_checkable
class TimeoutSocket(Protocol):
    """What a ``timeout=`` needs of a socket besides :class:`StreamSocket` (a real one qualifies)."""

    def settimeout(self, value: float | None, /) -> None: ...

    def gettimeout(self) -> float | None: ...



class FramingError(LabkitError):
    """Base of the framing errors: the stream did not carry a well-formed frame."""


class MessageTooLarge(FramingError, ParseError):
    """A frame announced (or a caller tried to send) more than ``max_size`` bytes."""

    def __init__(self, length: int, max_size: int, who: str = "the peer announced") -> None:
        self.length = length
        self.max_size = max_size
        ParseError.__init__(
            self, "framing", "length", length,
            f"{who} a {length:,}-byte message, more than max_size={max_size:,} bytes; "
            "refused before reading it (close the connection)",
        )


class IncompleteMessage(FramingError, ConnectionError):
    """The peer closed the connection in the middle of a frame."""

    def __init__(self, received: int, expected: int, part: str) -> None:
        self.received = received
        self.expected = expected
        self.part = part
        ConnectionError.__init__(
            self,
            f"framing: the peer closed the connection in the middle of a message: {received} of "
            f"{expected} bytes of the {part} arrived",
        )


class MessageTimeout(FramingError, TimeoutError):
    """No (complete) frame arrived in time.

    ``received`` of ``expected`` bytes arrived. ``in_step`` is True when
    nothing of a new frame had arrived (the connection is idle, and
    ``recv_msg`` may be called again); otherwise the stream is out of step.
    """

    def __init__(self, received: int, expected: int, part: str, timeout: float | None) -> None:
        self.received = received
        self.expected = expected
        self.part = part
        self.in_step = received == 0
        limit = "the socket's timeout" if timeout is None else f"the {timeout:g} s timeout"
        if self.in_step:
            text = f"framing: no message arrived before {limit} expired (the connection is idle)"
        else:
            text = (f"framing: the peer stalled in the middle of a message: {received} of {expected} "
                    f"bytes of the {part} arrived before {limit} expired (close the connection)")
        TimeoutError.__init__(self, text)


def _check_max_size(max_size: int) -> None:
    if isinstance(max_size, bool) or not isinstance(max_size, int) or not 0 <= max_size <= _LARGEST:
        raise LabkitValueError(
            f"max_size={max_size!r}: expected an int from 0 to {_LARGEST:,} (what 4 bytes can say)"
        )


def _as_bytes(data: object, what: str = "data") -> bytes | bytearray | memoryview:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise LabkitValueError(
            f"{what}: expected bytes, got {type(data).__name__}; encode text first, "
            "e.g. text.encode('utf-8')"
        )
    return data


def pack_msg(data: bytes | bytearray | memoryview, max_size: int = MAX_MESSAGE_SIZE) -> bytes:
    """The frame for ``data``: its 4-byte length, then the data itself."""
    _check_max_size(max_size)
    data = _as_bytes(data)
    length = memoryview(data).nbytes
    if length > max_size:
        raise MessageTooLarge(length, max_size, who="tried to send")
    return HEADER.pack(length) + bytes(data)


def send_msg(sock: StreamSocket, data: bytes | bytearray | memoryview,
             max_size: int = MAX_MESSAGE_SIZE) -> int:
    """Send ``data`` as one frame; return the bytes put on the stream (4 + len(data)).

    Header and body go in a single ``sendall``, so a small message leaves in
    one TCP segment (two writes could meet Nagle's algorithm and the peer's
    delayed ACK, a classic 40 ms stall). An empty message is a valid frame:
    unlike a bare ``send(b"")``, it *does* arrive, as ``b""``.
    """
    frame = pack_msg(data, max_size)
    sock.sendall(frame)
    return len(frame)


def _recv_into(sock: StreamSocket, chunks: list[bytes], got: int, want: int, part: str,
               deadline: float | None, timeout: float | None,
               clock: Callable[[], float], base: int, total: int, timed: TimeoutSocket | None = None) -> int:
    """Read until ``want`` bytes are in ``chunks``; return the count. Errors count from ``base``.

    With a ``deadline``, ``timed`` is ``sock`` itself, whose timeout is set before each ``recv``.
    """
    while got < want:
        if deadline is not None and timed is not None:
            remaining = deadline - clock()
            if remaining <= 0:
                raise MessageTimeout(base + got, total, part, timeout)
            timed.settimeout(remaining)
        try:
            chunk = sock.recv(min(want - got, _CHUNK))
        except TimeoutError:  # socket.timeout is TimeoutError since Python 3.10
            raise MessageTimeout(base + got, total, part, timeout) from None
        if not chunk:
            if base + got == 0:
                return 0
            raise IncompleteMessage(base + got, total, part)
        chunks.append(chunk)
        got += len(chunk)
    return got


def recv_exactly(sock: StreamSocket, n: int) -> bytes:
    """Read exactly ``n`` bytes (looping over ``recv``, which may return fewer).

    Raises :class:`IncompleteMessage` if the stream ends first and
    :class:`MessageTimeout` if the socket's timeout expires first.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise LabkitValueError(f"n={n!r}: expected a count of bytes >= 0")
    chunks: list[bytes] = []
    got = _recv_into(sock, chunks, 0, n, "data", None, None, time.monotonic, 0, n)
    if got < n:  # clean end of stream before the first byte
        raise IncompleteMessage(0, n, "data")
    return b"".join(chunks)


def recv_msg(sock: StreamSocket, max_size: int = MAX_MESSAGE_SIZE, *, timeout: float | None = None,
             clock: Callable[[], float] = time.monotonic) -> bytes | None:
    """Receive one frame's message; ``None`` if the peer closed cleanly between messages.

    ``timeout`` (seconds), if given, bounds the whole message rather than
    each ``recv``: a peer trickling one byte just inside the socket's own
    timeout cannot hold the reader forever. It is applied with
    ``settimeout`` and the socket's previous timeout is restored.
    ``clock`` (seconds, monotonic) is what the deadline is measured on.
    """
    _check_max_size(max_size)
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise LabkitValueError(f"timeout={timeout!r}: expected a number of seconds > 0, or None")
    timed: TimeoutSocket | None = None
    if timeout is not None:
        if not isinstance(sock, TimeoutSocket):
            raise LabkitValueError(f"timeout={timeout!r}: {type(sock).__name__} has no settimeout() and "
                                   "gettimeout(); pass timeout=None, or a socket that has them")
        timed = sock
    deadline = None if timeout is None else clock() + timeout
    previous = timed.gettimeout() if timed is not None else None
    try:
        head: list[bytes] = []
        size = HEADER.size
        if _recv_into(sock, head, 0, size, "header", deadline, timeout, clock, 0, size, timed) == 0:
            return None
        (length,) = HEADER.unpack(b"".join(head))
        if length > max_size:
            raise MessageTooLarge(length, max_size)
        body: list[bytes] = []
        _recv_into(sock, body, 0, length, "message", deadline, timeout, clock, size, size + length, timed)
        return b"".join(body)
    finally:
        if timed is not None:
            timed.settimeout(previous)


class MessageDecoder:
    """Incremental frame parser: feed it bytes as they arrive, get complete messages back.

    For non-blocking servers, which get whatever ``recv`` had and cannot wait
    for the rest::

        decoder = MessageDecoder()
        for message in decoder.feed(conn.recv(4096)):
            ...

    An oversized announcement raises :class:`MessageTooLarge` as soon as its
    header is complete (the body is never buffered); after that the decoder
    refuses further input. At the end of the stream call :meth:`close`, which
    raises :class:`IncompleteMessage` if a frame was cut short.
    """

    __slots__ = ("max_size", "_buffer", "_length", "_failed")

    def __init__(self, max_size: int = MAX_MESSAGE_SIZE) -> None:
        _check_max_size(max_size)
        self.max_size = max_size
        self._buffer = bytearray()
        self._length: int | None = None  # the body length, once its header has been read
        self._failed = False

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet make a complete frame."""
        return len(self._buffer) + (HEADER.size if self._length is not None else 0)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``data``; return every message it completed, in order (often none, maybe many)."""
        if self._failed:
            raise LabkitValueError("MessageDecoder: the stream already failed; close the connection")
        buf = self._buffer
        buf += _as_bytes(data)
        messages = []
        pos, end, length = 0, len(buf), self._length
        unpack, header, max_size = HEADER.unpack_from, HEADER.size, self.max_size
        while True:  # walk the buffer with an offset; cut the consumed prefix once at the end
            if length is None:
                if end - pos < header:
                    break
                (length,) = unpack(buf, pos)
                if length > max_size:
                    self._failed = True
                    buf.clear()
                    self._length = None
                    raise MessageTooLarge(length, max_size)
                pos += header
            if end - pos < length:
                break
            messages.append(bytes(buf[pos : pos + length]))
            pos += length
            length = None
        del buf[:pos]
        self._length = length
        return messages

    def close(self) -> None:
        """The stream ended: fine between frames, :class:`IncompleteMessage` inside one."""
        if self._length is not None:
            raise IncompleteMessage(HEADER.size + len(self._buffer), HEADER.size + self._length,
                                    "message")
        if self._buffer:
            raise IncompleteMessage(len(self._buffer), HEADER.size, "header")

    def __repr__(self) -> str:
        return f"MessageDecoder(max_size={self.max_size}, pending={self.pending})"


def iter_messages(chunks: Iterable[bytes], max_size: int = MAX_MESSAGE_SIZE) -> list[bytes]:
    """Decode every message in a sequence of received chunks (the stream must end cleanly)."""
    decoder = MessageDecoder(max_size)
    out = [m for chunk in chunks for m in decoder.feed(chunk)]
    decoder.close()
    return out
