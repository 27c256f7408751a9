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

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from labkit.transport.bytestream import ByteStreamLike
from labkit.transport.congestion import Ack, CongestionControl
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Transmit, Wrap32

if TYPE_CHECKING:
    from labkit.transport.tcp_connection import TCPConfig

__all__ = ["TCPSenderLike", "SenderFactory", "TCPSender"]


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



_MS = 1_000_000


class TCPSender:
    """labkit's reference sender, CS144-sized with congestion control. See the module docstring.

    It is what a learner's sender replaces (``TCPConfig(sender=...)``);
    labkit's own full TCP uses :class:`~labkit.transport.tcp_full_sender.FullSender`,
    with SACK (RFC 6675), timestamps, window scaling, Nagle and RFC 7661 on
    top of these rules. Besides the interface it keeps, for tests and plots,
    ``rto_ms``, ``srtt_ms``, ``cwnd_history`` ((ms, cwnd, ssthresh)) and
    ``retransmissions`` (every segment sent again).

    One thing beyond CS144: after a timeout, each ACK that moves the
    acknowledgment number but stays below what had been sent (a partial
    ACK) resends the new oldest segment at once, as RFC 6582 does in
    recovery, instead of waiting for one more timeout per lost segment.
    """

    def __init__(self, stream: ByteStreamLike, isn: Wrap32, config: TCPConfig) -> None:
        self.stream = stream
        self.isn = isn
        self.config = config
        self.mss = config.mss
        self.cc: CongestionControl = config.congestion()
        self._rto_initial = max(1, config.rto_initial // _MS)
        self._rto_min = max(1, config.rto_min // _MS)
        self._rto_max = max(self._rto_initial, config.rto_max // _MS)
        self._granularity = max(1, config.clock_granularity // _MS)
        self.rto_ms = self._rto_initial
        self.srtt_ms: int | None = None
        self._rttvar = 0
        self._timed: tuple[int, int] | None = None  # (absolute seqno that acks it, send time in ms)
        self._clock = 0  # ms since the sender was made (the sum of the ticks)
        self._next = 0  # absolute seqno of the next new sequence number
        self._acked = 0  # absolute: everything below is acknowledged
        self._outstanding: deque[tuple[int, TCPSenderMessage]] = deque()
        self._window = 1  # CS144: pretend a window of 1 until the peer says otherwise
        self._window_known = False
        self._fin_sent = False
        self._timer: int | None = None  # ms the timer has run, or None when stopped
        self._retx = 0
        self._syn_retransmitted = False
        self._dupacks = 0
        self._last_window = -1
        self._in_recovery = False
        self._recover = 0  # RFC 6582: no new recovery for data sent before this
        self._after_timeout = False
        self._pending_resend = False  # resend the oldest segment at the next push
        self._min_rtt: int | None = None
        self.retransmissions = 0
        self.cwnd_history: list[tuple[int, int, int]] = []

    # ---------------------------------------------------------------- the interface
    def sequence_numbers_in_flight(self) -> int:
        return self._next - self._acked

    def consecutive_retransmissions(self) -> int:
        return self._retx

    def make_empty_message(self) -> TCPSenderMessage:
        return TCPSenderMessage(Wrap32.wrap(self._next, self.isn))

    def next_timeout_ms(self) -> int | None:
        if self._timer is None or not self._outstanding:
            return None
        return max(0, self.rto_ms - self._timer)

    def push(self, transmit: Transmit) -> None:
        if self._next == 0:
            self._send(TCPSenderMessage(self.isn, SYN=True), transmit)
            return
        if not self._window_known:
            return  # the SYN is not acknowledged yet
        if self._pending_resend:
            self._pending_resend = False
            if self._outstanding:
                self._resend(self._outstanding[0][1], transmit)
                self._timer = 0
        window = self._window or 1  # a zero window: one byte, the probe (RFC 9293 3.8.6.1)
        limit = min(self.cc.cwnd, window) if self._window else 1
        while not self._fin_sent:
            room = limit - self.sequence_numbers_in_flight()
            if room <= 0:
                return
            payload = self.stream.pop(min(self.mss, room, self.stream.buffered))
            fin = self.stream.finished and len(payload) < room
            if not payload and not fin:
                return
            self._fin_sent = fin
            self._send(TCPSenderMessage(Wrap32.wrap(self._next, self.isn), payload=payload,
                                        FIN=fin), transmit)

    def receive(self, message: TCPReceiverMessage) -> None:
        if message.ackno is None:
            return
        ack = message.ackno.unwrap(self.isn, self._next)
        if ack > self._next:
            return  # acknowledges something never sent: ignore it
        flight_before = self.sequence_numbers_in_flight()
        if ack > self._acked:
            syn_acked = not self._window_known
            if syn_acked:  # the handshake has fixed the segment size: the controller starts
                self._window_known = True
                self.cc.start(self.mss, self._now, sack=False)
                self._record()
            acked = ack - self._acked
            self._acked = ack
            while self._outstanding and (self._outstanding[0][0]
                                         + self._outstanding[0][1].sequence_length <= ack):
                self._outstanding.popleft()
            rtt = None
            if self._timed is not None and ack >= self._timed[0]:
                rtt = self._clock - self._timed[1]
                self._timed = None
                self._rtt_sample(rtt)
            elif self.srtt_ms is None and self._syn_retransmitted:
                self.rto_ms = max(self.rto_ms, min(self._rto_max, 3000))  # RFC 6298 5.7
            else:
                self.rto_ms = self._rto_of_estimate()
            self._retx = 0
            self._timer = 0 if self._outstanding else None
            self._dupacks = 0
            self._window = message.window_size
            self._last_window = message.window_size
            if not syn_acked:
                self._ack_to_controller(acked, rtt, flight_before, ack)
            return
        if not self._window_known:
            return
        if (ack == self._acked and self._outstanding and message.window_size == self._last_window
                and self._next > 1):
            self._duplicate_ack()
        self._window = message.window_size
        self._last_window = message.window_size

    def tick(self, ms_since_last_tick: int, transmit: Transmit) -> None:
        self._clock += ms_since_last_tick
        if self._timer is None or not self._outstanding:
            return
        self._timer += ms_since_last_tick
        if self._timer < self.rto_ms:
            return
        first = self._outstanding[0][1]
        if first.SYN:
            self._retx += 1
            self._syn_retransmitted = True
        elif self._window:  # a probe of a zero window is not counted: it is answered
            self._retx += 1
            self.cc.on_timeout(self.sequence_numbers_in_flight(), self._now)
            self._record()
            self._in_recovery, self._dupacks = False, 0
            self._recover, self._after_timeout = self._next, True
        self.rto_ms = min(self._rto_max, 2 * self.rto_ms)  # exponential backoff (RFC 6298 5.5)
        self._resend(first, transmit)
        self._timer = 0

    # ---------------------------------------------------------------- internals
    @property
    def _now(self) -> int:
        return self._clock * _MS

    def _send(self, message: TCPSenderMessage, transmit: Transmit) -> None:
        transmit(message)
        self._outstanding.append((self._next, message))
        self._next += message.sequence_length
        if self._timed is None:
            self._timed = (self._next, self._clock)
        if self._timer is None:
            self._timer = 0

    def _resend(self, message: TCPSenderMessage, transmit: Transmit) -> None:
        self.retransmissions += 1
        self._timed = None  # Karn's rule: never time a segment that was sent twice
        transmit(message)

    def _duplicate_ack(self) -> None:
        self._dupacks += 1
        flight = self.sequence_numbers_in_flight()
        if self._in_recovery:
            self.cc.on_recovery_ack(self._ack(0, None, flight, self._acked, dupack=True))
        elif self._dupacks == self.config.dupack_threshold and self._acked >= self._recover:
            self.cc.on_loss(flight, self._now)
            self._in_recovery, self._recover = True, self._next
            self._pending_resend = True
        else:
            return
        self._record()

    def _ack_to_controller(self, acked: int, rtt: int | None, flight_before: int, ack: int) -> None:
        event = self._ack(acked, rtt, self.sequence_numbers_in_flight(), ack,
                          cwnd_limited=2 * flight_before >= self.cc.cwnd)
        if self._in_recovery:
            reno_exit = getattr(self.cc, "partial_ack_ends_recovery", False)
            if ack >= self._recover or reno_exit:
                self._in_recovery = False
                self.cc.on_recovery_end(event)
            else:
                self._pending_resend = True  # partial ACK: the next hole was lost too
                self.cc.on_recovery_ack(event)
        else:
            if self._after_timeout and ack < self._recover:
                self._pending_resend = True  # after a timeout: resend the next oldest at once
            else:
                self._after_timeout = False
            self.cc.on_ack(event)
        self._record()

    def _ack(self, acked: int, rtt: int | None, flight: int, ack: int, dupack: bool = False,
             cwnd_limited: bool = True) -> Ack:
        srtt = None if self.srtt_ms is None else self.srtt_ms * _MS
        return Ack(now=self._now, acked=acked, flight=flight,
                   rtt=None if rtt is None else rtt * _MS, srtt=srtt, min_rtt=self._min_rtt,
                   cwnd_limited=cwnd_limited, dupack=dupack, ack=ack, snd_nxt=self._next)

    def _record(self) -> None:
        point = (self.cc.cwnd, self.cc.ssthresh)
        if not self.cwnd_history or self.cwnd_history[-1][1:] != point:
            self.cwnd_history.append((self._clock, *point))

    def _rtt_sample(self, rtt: int) -> None:
        """RFC 6298 2.2-2.3, in whole milliseconds."""
        self._min_rtt = rtt * _MS if self._min_rtt is None else min(self._min_rtt, rtt * _MS)
        if self.srtt_ms is None:
            self.srtt_ms, self._rttvar = rtt, rtt // 2
        else:
            self._rttvar = (3 * self._rttvar + abs(self.srtt_ms - rtt)) // 4
            self.srtt_ms = (7 * self.srtt_ms + rtt) // 8
        self.rto_ms = self._rto_of_estimate()

    def _rto_of_estimate(self) -> int:
        """RTO = SRTT + max(G, 4 RTTVAR), within rto_min..rto_max (RFC 6298 2.4-2.5)."""
        if self.srtt_ms is None:
            return self.rto_ms if self._retx == 0 else self._rto_initial
        rto = self.srtt_ms + max(self._granularity, 4 * self._rttvar)
        return min(self._rto_max, max(self._rto_min, rto))
