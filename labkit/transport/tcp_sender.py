"""The TCP sender: bytes out as segments, retransmitted until acknowledged (CS144's TCPSender).

A sender reads the bytes the application wrote from its byte stream, cuts
them into segments that fit the peer's window and the congestion window,
keeps each one until it is acknowledged, and retransmits on a timer::

    tx = TCPSender(ByteStream(), Wrap32(isn), TCPConfig.basic())
    tx.push(transmit)                 # SYN
    tx.receive(TCPReceiverMessage(ackno=Wrap32(isn + 1), window_size=4000))
    tx.push(transmit)                 # data, as much as the windows allow
    tx.tick(200, transmit)            # 200 ms later: a retransmission if the timer expired

Times are whole milliseconds, as in CS144: the sender is never told the time,
only how much of it has passed (:meth:`TCPSenderLike.tick`).

The rules (RFC 9293, RFC 6298, RFC 5681, RFC 1122 4.2.2.17, CS144's lab 3):

- the first push sends the SYN (seqno = ISN); FIN goes once the stream is
  finished and the window has room for it (it may ride on the last data);
- the window to fill is min(cwnd, the peer's window) minus the sequence
  numbers in flight; a window of 0 is treated as 1 while nothing is in
  flight, so a one-byte probe goes out (zero-window probing);
- one retransmission timer, for the oldest outstanding segment: started when
  a segment goes and none was running, restarted when an ACK acknowledges
  new data, stopped when nothing is in flight;
- RTO from RTT samples (RFC 6298 2.2-2.4: SRTT, RTTVAR, RTO = SRTT +
  max(G, 4 RTTVAR), within the config's rto_min..rto_max), one segment
  timed at a time and never a retransmitted one (Karn's rule);
- on expiry: resend the oldest outstanding segment; if the peer's window is
  not zero, double the RTO (exponential backoff) and count a consecutive
  retransmission; a zero-window probe's retransmission backs off too (RFC
  1122 4.2.2.17) but does not count towards giving up;
- an ACK of new data resets the RTO to the estimate and the count to zero;
- three duplicate ACKs (same ackno and window, data in flight) resend the
  oldest outstanding segment at once (fast retransmit, RFC 5681 3.2);
- the congestion controller (``config.congestion``, the door of
  :mod:`labkit.transport.congestion`) owns cwnd: the sender calls its
  ``on_ack``, ``on_loss``, ``on_recovery_ack``, ``on_recovery_end`` and
  ``on_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from labkit.transport.bytestream import ByteStreamLike
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Transmit, Wrap32

if TYPE_CHECKING:
    from labkit.transport.tcp_connection import TCPConfig

__all__ = ["TCPSenderLike", "SenderFactory"]


@runtime_checkable
class TCPSenderLike(Protocol):
    """What the connection needs from a sender (the interface of the TCP lab).

    Made by a :data:`SenderFactory`: ``sender(stream, isn, config)``. The
    application's bytes are pushed into ``stream`` by the connection (which
    closes it on ``close()``); the sender pops them out. Each message the
    sender hands to ``transmit`` becomes one segment, with the receiver's
    ackno and window added by the connection.
    """

    def push(self, transmit: Transmit) -> None:
        """Send what the windows allow now (SYN, data, FIN), each message through ``transmit``."""
        ...

    def receive(self, message: TCPReceiverMessage) -> None:
        """Take the peer's acknowledgment number and window from an arriving segment."""
        ...

    def tick(self, ms_since_last_tick: int, transmit: Transmit) -> None:
        """Time has passed: retransmit through ``transmit`` if the timer expired."""
        ...

    def make_empty_message(self) -> TCPSenderMessage:
        """A message with no SYN, payload or FIN, at the next seqno (for a bare ACK)."""
        ...

    def sequence_numbers_in_flight(self) -> int:
        """Sequence numbers sent and not acknowledged yet (SYN and FIN count one each)."""
        ...

    def consecutive_retransmissions(self) -> int:
        """Retransmissions since the last ACK of new data (the connection gives up past a limit)."""
        ...

    def next_timeout_ms(self) -> int | None:
        """Milliseconds until :meth:`tick` has something to do, or None when no timer runs.

        The connection uses it to know when to call :meth:`tick` on the
        virtual clock (CS144's tests tick by hand and need no such method).
        """
        ...


#: Makes a sender: ``sender(stream, isn, config)``
SenderFactory = Callable[[ByteStreamLike, Wrap32, "TCPConfig"], TCPSenderLike]

