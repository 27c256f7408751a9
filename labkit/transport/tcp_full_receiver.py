"""labkit's full TCP receiver: the receive half of a connection's TCB (RFC 9293 3.3.1, 3.8.6).

:class:`~labkit.transport.tcp_connection.TCPConnection` is the state
machine; this part keeps the receive sequence space and what the
application has not read yet:

- RCV.NXT (:attr:`FullReceiver.rcv_nxt`), the IRS, and the right edge of the
  window advertised so far (a window never shrinks, RFC 9293 3.8.6);
- the in-order bytes waiting for ``recv`` (a byte stream) and the
  out-of-order ones (a reassembler), delivered once the hole is filled;
- acceptability of an arriving segment (RFC 9293 3.10.7.4, step one);
- receiver-side silly-window avoidance (3.8.6.2.2): the edge moves only by at
  least a full segment or half the buffer, whichever is less;
- the window field of an outgoing segment, scaled (RFC 7323 2.3) and
  rounded up, so the edge the peer reads is the edge kept here;
- RFC 2018 SACK blocks, the block of the latest out-of-order segment first.

Sequence numbers are absolute (unbounded, starting at the IRS), as in the
rest of labkit's TCP; the connection wraps them to 32 bits on the wire. The
CS144-sized receiver a learner writes is :mod:`labkit.transport.tcp_receiver`;
this one adds window scaling, SACK and silly-window avoidance to its rules.
"""

from __future__ import annotations

from labkit.transport.bytestream import ByteStream
from labkit.transport.reassembler import Reassembler

__all__ = ["FullReceiver", "acceptable"]


def acceptable(rcv_nxt: int, wnd: int, seq: int, seg_len: int) -> bool:
    """RFC 9293 3.10.7.4's four cases: does any of a segment (``seq``, ``seg_len``) fall in the
    receive window [``rcv_nxt``, ``rcv_nxt + wnd``)? A zero window takes only empty segments
    at RCV.NXT."""
    if seg_len == 0:
        return seq == rcv_nxt if wnd == 0 else rcv_nxt <= seq < rcv_nxt + wnd
    if wnd == 0:
        return False
    end = seq + seg_len - 1
    return (rcv_nxt <= seq < rcv_nxt + wnd) or (rcv_nxt <= end < rcv_nxt + wnd)


class FullReceiver:
    """The receive side of one connection. See the module docstring.

    ``capacity`` is the receive buffer in bytes; ``mss`` the effective send
    MSS of the connection (RFC 9293 3.8.6.2.2 uses it), which the connection
    sets once the handshake has fixed it.
    """

    def __init__(self, capacity: int, mss: int = 536) -> None:
        self.capacity = capacity
        self.mss = mss
        self.irs = 0
        self.rcv_nxt = 0
        self.right = 0  # right edge of the window advertised so far
        self.stream = ByteStream()  # in-order bytes waiting for the application
        self.ooo = Reassembler()  # out-of-order bytes, by sequence number
        #: the sequence number of the peer's FIN, once a segment carrying it was accepted
        self.peer_fin: int | None = None
        #: the peer's FIN has been reached: no more bytes will arrive
        self.eof = False

    def synchronize(self, irs: int) -> None:
        """The peer's SYN arrived with ISN ``irs``: the receive sequence space starts after it."""
        self.irs = irs
        self.rcv_nxt = irs + 1
        self.right = self.rcv_nxt
        self.advertise(force=True)

    @property
    def window(self) -> int:
        """RCV.WND as advertised: from RCV.NXT to the advertised right edge."""
        return max(0, self.right - self.rcv_nxt)

    def advertise(self, force: bool = False) -> None:
        """Move the advertised right edge, avoiding silly windows (RFC 9293 3.8.6.2.2)."""
        right = self.rcv_nxt + self.capacity - self.stream.buffered
        step = min(self.capacity // 2, self.mss)
        if force or right - self.right >= step:
            self.right = max(self.right, right)

    def acceptable(self, seq: int, seg_len: int) -> bool:
        """RFC 9293 3.10.7.4's four cases: does any of the segment fall in the window?"""
        return acceptable(self.rcv_nxt, self.window, seq, seg_len)

    @property
    def in_order(self) -> bool:
        """Nothing is waiting out of order (so a segment at RCV.NXT fills no hole)."""
        return not len(self.ooo)

    def receive_data(self, seq: int, payload: bytes) -> None:
        """Keep the part of ``payload`` (starting at ``seq``) that falls in the window."""
        start, data = seq, payload
        if start < self.rcv_nxt:
            data = data[self.rcv_nxt - start:]
            start = self.rcv_nxt
        data = data[: max(0, self.right - start)]
        if not data:
            return
        if start > self.rcv_nxt:
            self.ooo.insert(start, data)
            return
        self.stream.push(data)
        self.rcv_nxt += len(data)
        if len(self.ooo):
            rest = self.ooo.pop(self.rcv_nxt)
            self.stream.push(rest)
            self.rcv_nxt += len(rest)
        self.advertise()

    def receive_fin(self) -> bool:
        """The peer's FIN is next: it takes one sequence number, and the stream ends (True)."""
        self.rcv_nxt += 1
        self.right = max(self.right, self.rcv_nxt)
        self.eof = True
        self.stream.close()
        return True

    def reset(self) -> None:
        """The peer reset the connection (nothing to keep: the connection closes)."""

    def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` in-order bytes for the application (the window opens later)."""
        return self.stream.pop(max_bytes)

    def window_field(self, shift: int) -> int:
        """The window field of a segment sent now, scaled by ``shift`` (RFC 7323 2.3).

        Rounded up, and the advertised edge moved to what the peer reads, so
        that the receiver takes data up to exactly that edge (RFC 7323 2.4).
        """
        field = min(0xFFFF, (self.window + (1 << shift) - 1) >> shift)
        self.right = max(self.right, self.rcv_nxt + (field << shift))
        return field

    def sack_blocks(self, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` SACK blocks (RFC 2018 4): the latest out-of-order block first."""
        return self.ooo.blocks(limit) if len(self.ooo) else []

    @property
    def blocks_waiting(self) -> int:
        """How many out-of-order blocks there are (each SACK block takes 8 option bytes)."""
        return len(self.ooo)
