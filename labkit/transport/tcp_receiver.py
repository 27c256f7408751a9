"""The TCP receiver: segments in, acknowledgment number and window out (CS144's TCPReceiver).

A receiver takes the sequence-space half of every arriving segment (a
:class:`~labkit.transport.tcp_messages.TCPSenderMessage`: seqno, SYN,
payload, FIN), puts the payload into its reassembler at the right stream
index, moves the bytes that have become contiguous into the byte stream the
application reads, and says what to acknowledge::

    rx = TCPReceiver(Reassembler(), ByteStream(), capacity=4000)
    rx.receive(TCPSenderMessage(Wrap32(1000), SYN=True))
    rx.send()       # TCPReceiverMessage(ackno=Wrap32(1001), window_size=4000)
    rx.receive(TCPSenderMessage(Wrap32(1001), payload=b"hello"))
    rx.send()       # ackno=Wrap32(1006), window_size=3995 (5 bytes wait to be read)

The rules (RFC 9293 3.4, 3.8.6 and CS144's lab 2):

- nothing is acknowledged before the SYN (``ackno`` is None); the SYN's
  seqno is the ISN, the zero point for :class:`Wrap32`;
- the absolute sequence number of a payload is its seqno unwrapped near the
  next byte expected; its stream index is that minus one (the SYN's number);
- bytes outside the window (before the next expected byte, or past the free
  room of the stream) are not kept: the window is the free room, at most
  65,535 bytes;
- FIN closes the stream once every byte before it has arrived; the ackno
  then counts the FIN too;
- a message with RST sets :attr:`TCPReceiverMessage.RST` in the answer's
  place (the connection does the resetting).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from labkit.transport.bytestream import ByteStreamLike
from labkit.transport.reassembler import ReassemblerLike
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32

__all__ = ["TCPReceiverLike", "ReceiverFactory", "TCPReceiver"]


@runtime_checkable
class TCPReceiverLike(Protocol):
    """What the connection needs from a receiver (the interface of the TCP lab).

    Made by a :data:`ReceiverFactory`: ``receiver(reassembler, stream, capacity)``.
    The connection calls :meth:`receive` with every acceptable arriving segment
    (RST, SYN, payload, FIN), and :meth:`send` whenever it builds a segment:
    the answer becomes that segment's ACK number (and ACK flag) and window.
    The application reads from ``stream``; the receiver only writes to it.
    """

    def receive(self, message: TCPSenderMessage) -> None:
        """Take one arriving segment's seqno, SYN, payload and FIN (and RST)."""
        ...

    def send(self) -> TCPReceiverMessage:
        """The acknowledgment number (None before the SYN) and the window to advertise now."""
        ...


#: Makes a receiver: ``receiver(reassembler, stream, capacity)`` (capacity: the receive buffer)
ReceiverFactory = Callable[[ReassemblerLike, ByteStreamLike, int], TCPReceiverLike]



class TCPReceiver:
    """labkit's reference receiver, CS144-sized. See the module docstring.

    It is what a learner's receiver replaces (``TCPConfig(receiver=...)``);
    labkit's own full TCP uses :class:`~labkit.transport.tcp_full_receiver.FullReceiver`,
    with SACK blocks, window scaling and silly-window avoidance on top of
    these rules.
    """

    def __init__(self, reassembler: ReassemblerLike, stream: ByteStreamLike, capacity: int) -> None:
        self.reassembler = reassembler
        self.stream = stream
        self.capacity = capacity
        self.isn: Wrap32 | None = None
        self._next = 0  # stream index of the next byte expected
        self._fin: int | None = None  # stream index just past the last byte, once FIN was seen
        self._rst = False

    def receive(self, message: TCPSenderMessage) -> None:
        if message.RST:
            self._rst = True
            return
        if message.SYN:
            if self.isn is None:
                self.isn = message.seqno
        if self.isn is None:
            return  # nothing before the SYN
        absolute = message.seqno.unwrap(self.isn, self._next + 1)
        index = absolute - 1 + message.SYN  # the stream index of the payload's first byte
        if absolute == 0 and not message.SYN:
            return  # the SYN's number carrying no SYN: nothing of the stream
        free = self.window
        data = message.payload
        end = index + len(data)
        if message.FIN and end <= self._next + free:
            self._fin = end
        # keep only what falls in the window [next, next + free)
        lo, hi = max(index, self._next), min(end, self._next + free)
        if lo < hi:
            self.reassembler.insert(lo, data[lo - index:hi - index])
            got = self.reassembler.pop(self._next)
            if got:
                self.stream.push(got)
                self._next += len(got)
        if self._fin is not None and self._next == self._fin:
            self.stream.close()

    @property
    def window(self) -> int:
        """The free room of the stream, at most 65,535 bytes."""
        return max(0, min(0xFFFF, self.capacity - self.stream.buffered))

    def send(self) -> TCPReceiverMessage:
        if self.isn is None:
            return TCPReceiverMessage(None, self.window, self._rst)
        absolute = self._next + 1 + (self._fin is not None and self._next == self._fin)
        return TCPReceiverMessage(Wrap32.wrap(absolute, self.isn), self.window, self._rst)
