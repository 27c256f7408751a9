"""Congestion control: the door a controller plugs into, with Reno and NewReno behind it.

A :class:`~labkit.transport.tcp_connection.TCPConnection` decides *what* to
send (which bytes, which hole to retransmit, when a timer fires); a congestion
controller decides only *how much* may be in flight: it owns ``cwnd`` and
``ssthresh`` (both in bytes) and the connection tells it what happened::

    start(smss, now, sack)      once, when the handshake has fixed the segment size
    on_ack(ack)                 new data acknowledged, outside loss recovery
    on_loss(flight, now)        a loss found by duplicate ACKs or SACK: recovery begins
    on_recovery_ack(ack)        every ACK while recovering (duplicate or partial)
    on_recovery_end(ack)        the ACK that covers every byte sent before the loss
    on_timeout(flight, now)     the retransmission timer expired

Every time is virtual nanoseconds, every size bytes. A controller never
sends, never reads a clock, never sees a segment: it is a small object a
student can write in an afternoon, and test with a handful of calls::

    class Mine:                     # or subclass Reno and override two methods
        def start(self, smss, now, sack=False):
            self.smss, self.cwnd, self.ssthresh = smss, 10 * smss, 1 << 30
        ...
    TCPConfig(congestion=Mine)

``TCPConfig(congestion=...)`` takes the class (or any callable with no
arguments that returns a fresh controller): each connection makes its own.

How the connection uses the window. Outside recovery it sends while the bytes
in flight (SND.NXT - SND.UNA) stay below ``min(cwnd, peer's window)``. In
recovery, with SACK agreed, it follows RFC 6675: it sends while its estimate
of the bytes still in the network, ``pipe``, is below ``cwnd``, so a
controller keeps ``cwnd`` at ``ssthresh`` and does not inflate it
(``ack.sack`` is True). Without SACK the connection counts flight as RFC 5681
does, and a controller inflates ``cwnd`` by one SMSS per duplicate ACK, as
:class:`Reno` shows.

What the connection does itself, whatever the controller: fast retransmit of
the first hole after ``dupack_threshold`` duplicate ACKs (or RFC 6675's SACK
rule), a retransmission of the next hole on every partial ACK (RFC 6582), the
``recover`` guard (no new recovery for losses of data sent before the last
one, nor after a timeout, RFC 6582 section 4), going back to SND.UNA after a
timeout, and RFC 7661's validation flag :attr:`Ack.cwnd_limited`. It records
``(now, cwnd, ssthresh)`` in ``cwnd_history`` after every call that changes
them, and never writes either itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

__all__ = ["Ack", "CongestionControl", "CongestionFactory", "Reno", "NewReno",
           "initial_window"]

#: "no threshold yet": RFC 5681 3.1 lets the initial ssthresh be arbitrarily high
INFINITE_SSTHRESH = 1 << 30


@dataclass(frozen=True, slots=True)
class Ack:
    """What one arriving ACK told the sender, as a controller sees it.

    ``acked``: bytes newly acknowledged, by the cumulative ACK (SND.UNA moved)
    plus, with SACK, bytes newly covered by SACK blocks; 0 for a duplicate ACK
    that SACKs nothing new.

    ``flight``: bytes in flight once this ACK is taken into account (RFC 5681
    FlightSize; with SACK, RFC 6675's ``pipe``).

    ``rtt``: the round-trip time this ACK measured (ns), or None when it gave
    no sample (Karn's rule without timestamps; with RFC 7323 timestamps every
    ACK that acknowledges new data gives one).

    ``srtt`` / ``min_rtt``: the connection's smoothed RTT (RFC 6298) and the
    smallest sample seen so far, or None before the first sample.

    ``cwnd_limited``: RFC 7661's test: True when the sender has recently had
    at least half of ``cwnd`` in flight (pipeACK >= cwnd / 2), so the window
    is *validated*. When False the flow is limited by the application or by
    the peer's window, and a controller must not grow ``cwnd`` (a window that
    was never used says nothing about the network).

    ``dupack``: True when this is a duplicate ACK (SND.UNA did not move and
    nothing else but SACK information changed).

    ``sack``: True when SACK is in use and the connection paces recovery by
    RFC 6675's ``pipe`` (a controller then keeps ``cwnd`` flat in recovery).

    ``now``: the virtual time in nanoseconds.

    ``ack`` / ``snd_nxt``: the cumulative acknowledgment and the next
    sequence number to send, as unbounded integers (a controller that counts
    rounds, as HyStart++ does, ends one when ``ack`` passes the ``snd_nxt``
    it saw at the round's start); 0 when unknown.
    """

    now: int
    acked: int
    flight: int
    rtt: int | None = None
    srtt: int | None = None
    min_rtt: int | None = None
    cwnd_limited: bool = True
    dupack: bool = False
    sack: bool = False
    ack: int = 0
    snd_nxt: int = 0


@runtime_checkable
class CongestionControl(Protocol):
    """A congestion controller (RFC 5681's window, whoever computes it).

    Attributes, read by the connection after every call: ``cwnd``, the
    congestion window, and ``ssthresh``, the slow-start threshold, in bytes.
    ``cwnd`` must stay at least one SMSS once :meth:`start` has run.

    Optional class attribute ``partial_ack_ends_recovery`` (default False):
    when True, the first ACK that moves SND.UNA ends recovery, as in RFC 5681
    Reno; when False recovery lasts until the ACK covers ``recover`` (RFC 6582
    NewReno) and each partial ACK retransmits the next hole.
    """

    cwnd: int
    ssthresh: int

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        """Set the initial window; called once, when the peer's SYN has arrived.

        ``smss``: the sender's maximum segment size (bytes) for this
        connection. ``sack``: whether both ends agreed on SACK, so that loss
        recovery is paced by RFC 6675's ``pipe`` (keep ``cwnd`` flat in
        recovery) rather than by RFC 5681's inflated window. Keep both: the
        other calls do not repeat them. The connection passes ``sack`` by
        keyword.
        """
        ...

    def on_ack(self, ack: Ack) -> None:
        """New data was acknowledged outside loss recovery: grow the window.

        Slow start while ``cwnd < ssthresh``, then congestion avoidance, for
        Reno; anything at all for another controller. Not called for
        duplicate ACKs outside recovery (the connection counts those).
        Grow only when ``ack.cwnd_limited`` (RFC 7661).
        """
        ...

    def on_loss(self, flight: int, now: int) -> None:
        """A segment was lost (third duplicate ACK, or RFC 6675's SACK rule).

        Called once per loss event, just before the connection retransmits
        the lost segment and enters recovery. ``flight`` is FlightSize at
        that moment (bytes sent and not cumulatively acknowledged). Set
        ``ssthresh`` and ``cwnd`` for the recovery.
        """
        ...

    def on_recovery_ack(self, ack: Ack) -> None:
        """An ACK during recovery that does not end it.

        ``ack.dupack`` True: a duplicate ACK (one more segment has left the
        network). False: a partial ACK, ``ack.acked`` bytes of the window
        were acknowledged but not all of it. With ``ack.sack`` the connection
        counts ``pipe`` and the window is best left alone.
        """
        ...

    def on_recovery_end(self, ack: Ack) -> None:
        """The ACK that covers every byte in flight when the loss was found.

        ``ack.flight``: what is still in flight after it. Set ``cwnd`` for
        the return to normal sending (RFC 6582: ``min(ssthresh, flight +
        SMSS)``, or ``ssthresh``).
        """
        ...

    def on_timeout(self, flight: int, now: int) -> None:
        """The retransmission timer expired (RFC 5681 3.1, RFC 6298 5.5).

        ``flight``: FlightSize before the timeout. Called once per expiry,
        backed-off repeats included; the connection then resends from
        SND.UNA. Reno: ``ssthresh = max(flight / 2, 2 SMSS)`` and ``cwnd``
        one SMSS (the loss window). A timeout also ends any recovery.
        """
        ...


#: What ``TCPConfig(congestion=...)`` takes: a class or any no-argument factory.
CongestionFactory = Callable[[], CongestionControl]


def initial_window(smss: int, segments: int | None = None) -> int:
    """The initial window in bytes.

    ``segments=None`` gives RFC 5681 3.1's rule (2, 3 or 4 segments by SMSS,
    at most 4380 bytes for the common 1460); a number gives that many
    segments (RFC 6928's IW10 is ``segments=10``).
    """
    if segments is None:
        return min(4 * smss, max(2 * smss, 4380))
    return segments * smss


class Reno:
    """RFC 5681: slow start, congestion avoidance, fast retransmit and fast recovery.

    Reno ends recovery at the first ACK that moves SND.UNA, deflating the
    window to ``ssthresh``. ``initial_segments``: the initial window in
    segments; 10 by default (RFC 6928, as Linux); None gives RFC 5681's 2-4
    segments by SMSS (3 for 1460 bytes).

    ``hystart``: leave slow start when the round-trip time starts to grow,
    before the queue overflows (RFC 9406 HyStart++: a round whose smallest
    RTT exceeds the last round's by max(4 ms, min(last / 8, 16 ms)) starts
    Conservative Slow Start, growth / 4, for 5 rounds, then congestion
    avoidance). Off in :meth:`TCPConfig.basic`'s controller; without it a
    large initial window overshoots a deep queue by half a window.
    """

    partial_ack_ends_recovery: ClassVar[bool] = True
    #: RFC 9406's constants
    MIN_RTT_THRESH, MAX_RTT_THRESH, N_RTT_SAMPLE = 4_000_000, 16_000_000, 8
    CSS_GROWTH_DIVISOR, CSS_ROUNDS = 4, 5

    def __init__(self, initial_segments: int | None = 10, hystart: bool = True) -> None:
        self.initial_segments = initial_segments
        self.hystart = hystart
        self.smss = 536
        self.cwnd = 0
        self.ssthresh = INFINITE_SSTHRESH
        self.sack = False
        #: (time, "slow start exit" / "CSS" / "back to slow start") for plots
        self.hystart_events: list[tuple[int, str]] = []
        self._window_end: int | None = None
        self._last_min: int | None = None
        self._cur_min: int | None = None
        self._samples = 0
        self._css_rounds: int | None = None  # rounds done in CSS, or None outside it
        self._css_baseline = 0

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        self.smss = smss
        self.sack = sack
        self.cwnd = initial_window(smss, self.initial_segments)

    def _hystart_round(self, ack: Ack) -> int:
        """RFC 9406 4.2 bookkeeping; returns the growth divisor (1 in slow start, 4 in CSS)."""
        if self._window_end is None or (ack.ack and ack.ack >= self._window_end):
            self._window_end = ack.snd_nxt
            self._last_min, self._cur_min, self._samples = self._cur_min, None, 0
            if self._css_rounds is not None:
                self._css_rounds += 1
                if self._css_rounds >= self.CSS_ROUNDS:  # CSS done: congestion avoidance
                    self.ssthresh = self.cwnd
                    self._css_rounds = None
                    self.hystart_events.append((ack.now, "slow start exit"))
                    return 1
        if ack.rtt is not None:
            self._cur_min = ack.rtt if self._cur_min is None else min(self._cur_min, ack.rtt)
            self._samples += 1
        if self._css_rounds is None:
            if (self._samples >= self.N_RTT_SAMPLE and self._cur_min is not None
                    and self._last_min is not None):
                thresh = min(self.MAX_RTT_THRESH, max(self.MIN_RTT_THRESH, self._last_min // 8))
                if self._cur_min >= self._last_min + thresh:
                    self._css_rounds, self._css_baseline = 0, self._cur_min
                    self.hystart_events.append((ack.now, "CSS"))
                    return self.CSS_GROWTH_DIVISOR
            return 1
        if self._samples >= self.N_RTT_SAMPLE and self._cur_min is not None \
                and self._cur_min < self._css_baseline:  # the delay went away: it was noise
            self._css_rounds = None
            self.hystart_events.append((ack.now, "back to slow start"))
            return 1
        return self.CSS_GROWTH_DIVISOR

    def on_ack(self, ack: Ack) -> None:
        if not ack.cwnd_limited:
            return  # RFC 7661: an unused window is not grown
        if self.cwnd < self.ssthresh:
            divisor = self._hystart_round(ack) if self.hystart else 1
            if self.cwnd < self.ssthresh:
                self.cwnd += min(ack.acked, self.smss) // divisor  # slow start (RFC 5681 eq. 2)
                return
        self.cwnd += max(1, self.smss * self.smss // self.cwnd)  # congestion avoidance (eq. 3)

    def on_loss(self, flight: int, now: int) -> None:
        self._css_rounds = None
        self.ssthresh = max(flight // 2, 2 * self.smss)  # RFC 5681 eq. 4
        self.cwnd = self.ssthresh if self.sack else self.ssthresh + 3 * self.smss

    def on_recovery_ack(self, ack: Ack) -> None:
        if ack.sack:
            return  # RFC 6675: pipe does the counting, cwnd stays at ssthresh
        if ack.dupack:
            self.cwnd += self.smss  # each duplicate ACK: a segment has left the network
        else:  # partial ACK (RFC 6582 3.2 step 5): deflate by what left, add back one SMSS
            self.cwnd = max(self.smss, self.cwnd - ack.acked + self.smss)

    def on_recovery_end(self, ack: Ack) -> None:
        self.cwnd = self.ssthresh  # deflate (RFC 5681 3.2 step 6)

    def on_timeout(self, flight: int, now: int) -> None:
        self._css_rounds = None
        self.ssthresh = max(flight // 2, 2 * self.smss)
        self.cwnd = self.smss  # the loss window (RFC 5681 3.1)


class NewReno(Reno):
    """RFC 6582 NewReno: Reno whose recovery lasts until the whole window is repaired.

    Each partial ACK retransmits the next hole (the connection does that) and
    deflates the window by the bytes it acknowledged; the full ACK sets
    ``cwnd = min(ssthresh, FlightSize + SMSS)`` (RFC 6582 3.2 step 3, option 1).
    """

    partial_ack_ends_recovery: ClassVar[bool] = False

    def on_recovery_end(self, ack: Ack) -> None:
        self.cwnd = min(self.ssthresh, max(ack.flight, self.smss) + self.smss)
