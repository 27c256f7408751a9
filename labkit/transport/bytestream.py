"""The byte stream: bytes written at one end, read in order at the other (CS144's ByteStream).

A TCP receiver writes the bytes that have become contiguous into a stream;
the application reads them out. The stream remembers how many bytes went in
and came out, and whether the writer has finished (the peer's FIN)::

    s = ByteStream()
    s.push(b"hello ")
    s.push(b"world")
    s.pop(5)          # b"hello"
    s.buffered        # 6
    s.close()         # the writer is done: once empty, s.finished
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ByteStream", "ByteStreamLike"]


class ByteStreamLike(Protocol):
    """What a TCP receiver needs from its stream (the interface of the TCP lab)."""

    def push(self, data: bytes) -> None:
        """Append ``data`` (the writer's side)."""
        ...

    def pop(self, n: int) -> bytes:
        """Remove and return up to ``n`` bytes from the front (the reader's side)."""
        ...

    def clear(self) -> None:
        """Throw away everything buffered (a reader that stopped reading)."""
        ...

    def close(self) -> None:
        """The writer has finished."""
        ...

    @property
    def buffered(self) -> int:
        """Bytes written and not read yet."""
        ...

    @property
    def finished(self) -> bool:
        """Closed by the writer and read to the end."""
        ...


class ByteStream:
    """An in-order byte stream with counters. See the module docstring."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.bytes_pushed = 0
        self.bytes_popped = 0
        self.closed = False

    def push(self, data: bytes) -> None:
        self._buf += data
        self.bytes_pushed += len(data)

    def pop(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        self.bytes_popped += len(out)
        return out

    def clear(self) -> None:
        self.bytes_popped += len(self._buf)
        self._buf.clear()

    def close(self) -> None:
        self.closed = True

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def finished(self) -> bool:
        return self.closed and not self._buf

    def __len__(self) -> int:
        return len(self._buf)
