"""What a TCP sender and a TCP receiver say to each other (CS144's messages), and Wrap32.

The TCP lab splits one end of a connection into parts a learner writes one at
a time (CS144's order): a byte stream, a reassembler, a receiver
(:mod:`labkit.transport.tcp_receiver`) and a sender
(:mod:`labkit.transport.tcp_sender`). The connection
(:class:`~labkit.transport.tcp_connection.TCPConnection`) joins them: it turns
each arriving segment into a :class:`TCPSenderMessage` for the receiver and a
:class:`TCPReceiverMessage` for the sender, and each message the parts
produce back into a segment.

Sequence numbers on the wire are 32 bits and start at a random initial
sequence number (ISN); the parts keep *absolute* sequence numbers (0 is the
SYN, 1 the first data byte, never wrapping) and convert with :class:`Wrap32`::

    isn = Wrap32(0xFFFFFFF0)
    Wrap32.wrap(20, isn)                 # Wrap32(raw=4): 20 past the ISN, wrapped
    Wrap32(4).unwrap(isn, checkpoint=0)  # 20: the absolute number nearest the checkpoint

A stream index is the absolute sequence number minus one (the SYN takes one
number and no byte).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from labkit.errors import LabkitValueError

__all__ = ["Wrap32", "TCPSenderMessage", "TCPReceiverMessage", "Transmit"]

_MASK = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Wrap32:
    """A 32-bit sequence number as it is on the wire (RFC 9293 3.4)."""

    raw: int

    def __post_init__(self) -> None:
        if isinstance(self.raw, bool) or not isinstance(self.raw, int) or not 0 <= self.raw <= _MASK:
            raise LabkitValueError(f"Wrap32 raw={self.raw!r}: must be an integer 0..2**32-1")

    @staticmethod
    def wrap(n: int, zero_point: Wrap32) -> Wrap32:
        """The wire form of absolute sequence number ``n`` for a stream starting at ``zero_point``."""
        return Wrap32((zero_point.raw + n) & _MASK)

    def unwrap(self, zero_point: Wrap32, checkpoint: int) -> int:
        """The absolute sequence number (>= 0) that wraps to this one and is nearest ``checkpoint``."""
        offset = (self.raw - zero_point.raw) & _MASK
        n = offset + ((checkpoint - offset + (1 << 31)) >> 32 << 32)  # offset + k * 2**32, nearest
        return n if n >= 0 else n + (1 << 32)

    def __add__(self, n: int) -> Wrap32:
        return Wrap32((self.raw + n) & _MASK)


@dataclass(frozen=True, slots=True)
class TCPSenderMessage:
    """What a sender sends: the sequence-space half of a segment.

    ``seqno`` is the wrapped sequence number of the first thing in the
    message (the SYN if ``SYN``, else the first payload byte). ``RST`` asks
    the connection to reset (a sender sets it when its stream has an error).
    """

    seqno: Wrap32
    SYN: bool = False
    payload: bytes = b""
    FIN: bool = False
    RST: bool = False

    @property
    def sequence_length(self) -> int:
        """How many sequence numbers the message occupies: SYN + payload + FIN."""
        return self.SYN + len(self.payload) + self.FIN


@dataclass(frozen=True, slots=True)
class TCPReceiverMessage:
    """What a receiver sends back: the acknowledgment number and the window.

    ``ackno`` is None until the receiver has seen the peer's SYN (nothing to
    acknowledge yet). ``window_size`` is the free room in the receiver's
    buffer, in bytes, at most 65,535 (the parts do not scale windows).
    """

    ackno: Wrap32 | None = None
    window_size: int = 0
    RST: bool = False


#: How a sender hands over a message to send: ``transmit(message)``.
Transmit = Callable[[TCPSenderMessage], None]
