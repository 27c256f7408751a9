"""The reassembler: bytes that arrived out of order, kept until the gap before them fills.

CS144's Reassembler, with sequence numbers as unbounded integers: a TCP
receiver hands it every segment's data at the data's sequence number, and
takes back the bytes that have become contiguous with what it already has::

    r = Reassembler()
    r.insert(110, b"world")
    r.pop(100)            # b"": 100..109 are still missing
    r.insert(100, b"hello, ...")
    r.pop(100)            # b"hello, ...world"

It keeps disjoint, sorted ranges (overlapping or touching pieces are merged
as they arrive), so it answers "which ranges do I hold" for SACK (RFC 2018)
at once, and remembers which ranges were touched most recently: RFC 2018
wants the block holding the latest segment first.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Protocol

__all__ = ["Reassembler", "ReassemblerLike"]


class ReassemblerLike(Protocol):
    """What a receiver needs from a reassembler (the interface of the TCP lab)."""

    def insert(self, seq: int, data: bytes) -> None:
        """Keep ``data``, whose first byte has sequence number ``seq``."""
        ...

    def pop(self, next_seq: int) -> bytes:
        """Remove and return the bytes from ``next_seq`` on that are contiguous; drop older ones."""
        ...

    @property
    def pending(self) -> int:
        """How many bytes are held."""
        ...

    def blocks(self, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` held ranges ``(start, end)``, the most recently changed first."""
        ...


class Reassembler:
    """Out-of-order bytes as disjoint sorted ranges. See the module docstring."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._chunks: list[bytearray] = []
        self._recent: list[int] = []  # starts of recently inserted pieces, newest first

    @property
    def pending(self) -> int:
        return sum(len(c) for c in self._chunks)

    def __len__(self) -> int:
        return len(self._starts)

    def insert(self, seq: int, data: bytes) -> None:
        if not data:
            return
        end = seq + len(data)
        starts, chunks = self._starts, self._chunks
        # the ranges that overlap or touch [seq, end)
        lo = bisect_left(starts, seq)
        if lo > 0 and starts[lo - 1] + len(chunks[lo - 1]) >= seq:
            lo -= 1
        hi = bisect_right(starts, end)
        if lo == hi:
            starts.insert(lo, seq)
            chunks.insert(lo, bytearray(data))
        else:
            new_start = min(seq, starts[lo])
            merged = bytearray()
            cursor = new_start
            pieces = [(starts[i], chunks[i]) for i in range(lo, hi)]
            pieces.append((seq, bytearray(data)))
            pieces.sort(key=lambda p: p[0])
            for start, chunk in pieces:
                chunk_end = start + len(chunk)
                if chunk_end > cursor:
                    merged += chunk[max(0, cursor - start):]
                    cursor = chunk_end
            starts[lo:hi] = [new_start]
            chunks[lo:hi] = [merged]
        self._recent.insert(0, seq)
        del self._recent[8:]

    def pop(self, next_seq: int) -> bytes:
        starts, chunks = self._starts, self._chunks
        out = bytearray()
        while starts and starts[0] <= next_seq:
            start, chunk = starts.pop(0), chunks.pop(0)
            if start + len(chunk) > next_seq:
                out += chunk[next_seq - start:]
                next_seq = start + len(chunk)
        return bytes(out)

    def blocks(self, limit: int) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        starts, chunks = self._starts, self._chunks
        for seq in self._recent:
            i = bisect_right(starts, seq) - 1
            if i >= 0 and seq < starts[i] + len(chunks[i]):
                block = (starts[i], starts[i] + len(chunks[i]))
                if block not in out:
                    out.append(block)
            if len(out) == limit:
                return out
        for i in range(len(starts) - 1, -1, -1):  # then the others, highest first
            block = (starts[i], starts[i] + len(chunks[i]))
            if block not in out:
                out.append(block)
            if len(out) == limit:
                break
        return out
