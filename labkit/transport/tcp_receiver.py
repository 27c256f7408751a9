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

__all__ = ["TCPReceiverLike", "ReceiverFactory"]


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

