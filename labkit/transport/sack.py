"""The sender's SACK scoreboard (RFC 2018) and RFC 6675's loss-recovery arithmetic.

The scoreboard holds the ranges of sequence space (unbounded integers) that
the receiver has reported holding, above the cumulative ACK. From it RFC 6675
computes which holes are lost (:meth:`Scoreboard.lost_edge`: every byte not
SACKed below it has more than ``(DupThresh - 1) * SMSS`` SACKed bytes above
it) and how much is still in the network (:meth:`Scoreboard.pipe`).
Ranges are few (one per hole), so each question costs a walk over them.
"""

from __future__ import annotations

from bisect import bisect_right

__all__ = ["Scoreboard"]


class Scoreboard:
    """SACKed ranges above SND.UNA, disjoint and sorted."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def clear(self) -> None:
        self.ranges = []

    def add(self, start: int, end: int) -> int:
        """Mark ``[start, end)`` SACKed; returns how many bytes were new."""
        if end <= start:
            return 0
        new = end - start
        kept: list[tuple[int, int]] = []
        for lo, hi in self.ranges:
            if hi < start or lo > end:
                kept.append((lo, hi))
            else:  # overlaps or touches: merge
                new -= max(0, min(hi, end) - max(lo, start))
                start, end = min(lo, start), max(hi, end)
        kept.append((start, end))
        kept.sort()
        self.ranges = kept
        return new

    def advance(self, una: int) -> None:
        """Forget what the cumulative ACK ``una`` now covers."""
        self.ranges = [(max(lo, una), hi) for lo, hi in self.ranges if hi > una]

    def sacked(self, seq: int) -> int | None:
        """The end of the SACKed range holding ``seq``, or None if ``seq`` is not SACKed."""
        i = bisect_right(self.ranges, (seq, 1 << 62)) - 1
        if i >= 0 and self.ranges[i][0] <= seq < self.ranges[i][1]:
            return self.ranges[i][1]
        return None

    def next_sacked_start(self, seq: int) -> int | None:
        """The start of the first SACKed range above ``seq``, or None."""
        for lo, _ in self.ranges:
            if lo > seq:
                return lo
        return None

    def unsacked(self, start: int, end: int) -> int:
        """Bytes of ``[start, end)`` not SACKed."""
        if end <= start:
            return 0
        covered = sum(max(0, min(hi, end) - max(lo, start)) for lo, hi in self.ranges)
        return end - start - covered

    def lost_edge(self, una: int, threshold: int) -> int:
        """RFC 6675 IsLost as an edge: a byte below it and not SACKed is lost.

        A byte is lost when more than ``threshold`` bytes above it are SACKed
        (``threshold = (DupThresh - 1) * SMSS``). Returns ``una`` when none is.
        """
        above = 0
        for lo, hi in reversed(self.ranges):
            if above + (hi - lo) > threshold:
                return max(una, hi - (threshold - above))
            above += hi - lo
        return una

    def pipe(self, una: int, high: int, lost: int, rexmit: int) -> int:
        """RFC 6675 SetPipe: bytes in flight in ``[una, high)``.

        Not SACKed and not lost: the original is in flight. Retransmitted
        (below ``rexmit``) and not SACKed: the retransmission is in flight.
        """
        lost = min(max(lost, una), high)
        rexmit = min(max(rexmit, una), high)
        return (self.unsacked(lost, high) + self.unsacked(una, min(lost, rexmit))
                + self.unsacked(lost, rexmit))
