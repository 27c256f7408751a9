"""labkit's full TCP sender: the send half of a connection's TCB, with its timers and recovery.

:class:`~labkit.transport.tcp_connection.TCPConnection` is the state
machine (handshake, states, RST, what arrives); this part keeps the send
sequence space and decides what goes out:

- the send buffer (bytes written and not yet acknowledged), SND.UNA,
  SND.NXT and SND.WND with RFC 9293's SND.WL1/WL2 window-update rule;
- segmentation: min(cwnd, SND.WND) minus what is in flight (RFC 5681),
  sender-side silly-window avoidance and Nagle's algorithm (RFC 896);
- RFC 6298 retransmission timing (SRTT, RTTVAR, Karn's rule, backoff), with
  RFC 7323 timestamps giving an RTT sample on every ACK of new data;
- duplicate ACKs, fast retransmit and NewReno's partial ACKs (RFC 5681,
  RFC 6582), and with SACK the scoreboard and RFC 6675's loss recovery;
- the persist timer (zero-window probes, RFC 1122 4.2.2.17);
- Linux's adaptive reordering threshold and RFC 3522 Eifel detection
  (``TCPConfig.adaptive_reordering``);
- the congestion controller (``TCPConfig.congestion``), told of every ACK,
  loss and timeout, and RFC 7661's window validation.

What it needs from its connection is :class:`SenderHost`: what the
handshake agreed (MSS, SACK, timestamps), the two facts of the state
machine it depends on, and a way to put a segment on the wire. Sequence
numbers are absolute (unbounded, starting at the ISS); times are virtual
nanoseconds. The CS144-sized sender a learner writes is
:mod:`labkit.transport.tcp_sender`; this one is what labkit's hosts run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from labkit.transport.congestion import Ack, CongestionControl
from labkit.transport.sack import Scoreboard
from labkit.transport.tcp import Flags, TCPSegment

if TYPE_CHECKING:
    from labkit.transport.tcp_connection import TCPConfig

__all__ = ["FullSender", "SenderHost", "MASK", "MS", "signed_delta", "tsval"]

MASK = 0xFFFFFFFF
MS = 1_000_000


def signed_delta(delta: int) -> int:
    """A 32-bit sequence-number difference as a signed number (-2**31 .. 2**31 - 1)."""
    return ((delta + 0x80000000) & MASK) - 0x80000000


def tsval(now: int) -> int:
    """labkit's timestamp clock: virtual milliseconds (RFC 7323 allows 1 ms to 1 s per tick)."""
    return (now // MS) & MASK


class SenderHost(Protocol):
    """What a :class:`FullSender` needs from the connection it belongs to."""

    @property
    def smss(self) -> int:
        """The sender's MSS: ours capped by the peer's, less the timestamps option (RFC 6691)."""
        ...

    @property
    def sack(self) -> bool:
        """RFC 2018 SACK was agreed in the handshake."""
        ...

    @property
    def timestamps(self) -> bool:
        """RFC 7323 timestamps were agreed in the handshake."""
        ...

    @property
    def nodelay(self) -> bool:
        """TCP_NODELAY: Nagle's algorithm is off."""
        ...

    @property
    def synchronized(self) -> bool:
        """The handshake is over (RFC 9293's synchronized states)."""
        ...

    @property
    def sends_data(self) -> bool:
        """In a state that sends data and FIN (ESTABLISHED, CLOSE-WAIT, FIN-WAIT-1, CLOSING, LAST-ACK)."""
        ...

    def _emit(self, flags: Flags, seq: int, payload: bytes = b"", options: tuple = (),
              now: int | None = None) -> None:
        """Queue one segment: ``seq`` and ``payload`` from the sender, ACK and window from the receiver."""
        ...

    def _resend_syn(self, now: int) -> None:
        """Send our SYN (or SYN,ACK) again, with the options of the handshake."""
        ...

    def _options_length(self) -> int:
        """Bytes of options the next data segment carries beyond the timestamps in ``smss``."""
        ...

    def _time_out(self, why: str, now: int) -> None:
        """Give up: the connection closes with ConnectionTimeout(``why``)."""
        ...


class FullSender:
    """The send side of one connection. See the module docstring."""

    def __init__(self, iss: int, config: TCPConfig, host: SenderHost) -> None:
        self.config = config
        self.host = host
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = iss
        self.snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.buffer = bytearray()  # bytes written and not yet acknowledged
        self.buf_start = iss + 1  # sequence number of buffer[0]
        self.fin_queued = False
        self.highest_sent = iss + 1
        #: (time, cwnd, ssthresh) whenever the congestion window changes
        self.cwnd_history: list[tuple[int, int, int]] = []
        #: (time, rtt sample, rto) for every RTT measurement
        self.rtt_history: list[tuple[int, int, int]] = []
        self.retransmissions = 0
        #: retransmission-timer expiries with data outstanding
        self.timeouts = 0
        #: fast or SACK retransmissions that the echoed timestamp proved needless (RFC 3522)
        self.spurious_retransmissions = 0
        #: the duplicate-ACK threshold in segments (Linux's tp->reordering), see TCPConfig
        self.reordering = config.dupack_threshold
        #: fast and SACK retransmissions not yet acknowledged: seq -> (end, TSval, highest SACKed)
        self.rexmits: dict[int, tuple[int, int, int]] = {}
        #: bytes the peer's SACK blocks reported, beyond the cumulative ACK (RFC 2018)
        self.sacked_bytes = 0
        self.rto_tsval = 0  # our TSval when the retransmission timer last expired
        # timers (absolute deadlines, or None)
        self.rtx_deadline: int | None = None
        self.persist_deadline: int | None = None
        self.retries = 0
        self.probes = 0  # zero-window probes since the last ACK (the give-up counter)
        self.persist_shift = 0  # persist backoff exponent: reset only when the window opens
        # RTT estimation (RFC 6298)
        self.rto = config.rto_initial
        self.srtt: int | None = None
        self.rttvar = 0
        self.rtt_seq: int | None = None
        self.rtt_start = 0
        self.min_rtt: int | None = None
        # congestion control: the controller owns cwnd and ssthresh; recovery is ours
        self.cc: CongestionControl = config.congestion()
        self.dupacks = 0
        self.in_recovery = False
        self.scoreboard = Scoreboard()  # RFC 2018: what the peer SACKed above SND.UNA
        self.rexmit_high = iss  # RFC 6675: holes below this were resent in this recovery
        self.lost_edge = iss  # RFC 6675 IsLost: unSACKed bytes below this are lost
        self.recover = iss  # RFC 6582's "recover": no new recovery for data sent before it
        self.syn_timed_out = False
        self.flight_peak = 0  # RFC 7661: the most in flight in this RTT and the last one
        self.pipe_ack = 0
        self.peak_epoch_end = 0

    # ------------------------------------------------------------------ the application's bytes
    def write(self, data: bytes) -> int:
        """Queue bytes to send; returns how many fit in the send buffer."""
        chunk = bytes(data[:max(0, self.config.send_buffer - len(self.buffer))])
        self.buffer += chunk
        return len(chunk)

    @property
    def send_space(self) -> int:
        return self.config.send_buffer - len(self.buffer)

    @property
    def unacked(self) -> int:
        """Bytes queued or in flight that the peer has not acknowledged yet."""
        return len(self.buffer)

    def close(self) -> None:
        """The application closed: FIN after the last byte written."""
        self.fin_queued = True

    @property
    def data_end(self) -> int:
        """The sequence number just past the last byte written."""
        return self.buf_start + len(self.buffer)

    @property
    def fin_acked(self) -> bool:
        return self.fin_queued and self.snd_una > self.data_end

    # ------------------------------------------------------------------ congestion window
    def cc_record(self, now: int) -> None:
        """Append to cwnd_history if the controller changed cwnd or ssthresh."""
        point = (self.cc.cwnd, self.cc.ssthresh)
        if not self.cwnd_history or self.cwnd_history[-1][1:] != point:
            self.cwnd_history.append((now, *point))

    def _ack_event(self, now: int, acked: int, rtt: int | None, dupack: bool = False) -> Ack:
        flight = self.snd_nxt - self.snd_una
        if now >= self.peak_epoch_end:  # a new RTT-long epoch for RFC 7661's pipeACK
            self.pipe_ack, self.flight_peak = self.flight_peak, flight
            self.peak_epoch_end = now + (self.srtt or self.rto)
        used = max(self.pipe_ack, self.flight_peak)
        sack = self.host.sack
        if sack and self.in_recovery:
            flight = self._pipe()
        return Ack(now=now, acked=acked, flight=flight, rtt=rtt, srtt=self.srtt,
                   min_rtt=self.min_rtt, cwnd_limited=2 * used >= self.cc.cwnd,
                   dupack=dupack, sack=sack, ack=self.snd_una, snd_nxt=self.snd_nxt)

    # ------------------------------------------------------------------ the handshake
    def start_clock(self, now: int) -> None:
        """Nothing to do: this sender is given the time with every call."""

    def clock(self, now: int) -> None:
        """Nothing to do: this sender's timers are deadlines the connection runs (:meth:`tick`)."""

    def send_syn(self, now: int) -> None:
        """Send our SYN (SYN,ACK on a passive open): it takes a sequence number; time it and
        start the timer."""
        self.host._resend_syn(now)
        self.snd_nxt = max(self.snd_nxt, self.iss + 1)
        if self.rtx_deadline is None:
            self.rtx_deadline = now + self.rto
        if self.retries == 0 and self.rtt_seq is None:
            self.rtt_seq, self.rtt_start = self.iss + 1, now

    def start(self, window: int, wl1: int, now: int) -> None:
        """The peer's SYN: its window (never scaled on a SYN), and the controller starts."""
        self.snd_wnd, self.snd_wl1, self.snd_wl2 = window, wl1, self.snd_una
        self.cc.start(self.host.smss, now, sack=self.host.sack)
        self.cc_record(now)

    def syn_acked(self, ack: int, seg: TCPSegment, now: int) -> None:
        """SYN-SENT: the peer's SYN,ACK acknowledged our SYN (its window is never scaled)."""
        self.snd_una = ack
        self.ack_rtt(ack, now, seg)
        self.retries = 0
        self.rtx_deadline = None
        self.snd_wnd, self.snd_wl1, self.snd_wl2 = seg.window, seg.seq, ack

    def window_from(self, window: int, wl1: int, wl2: int) -> None:
        """SYN-RECEIVED: the ACK that completes the handshake sets SND.WND, WL1 and WL2."""
        self.snd_wnd, self.snd_wl1, self.snd_wl2 = window, wl1, wl2

    def established(self) -> None:
        """RFC 6298 5.7: a SYN timed out, so data starts with RTO = 3 s."""
        if (self.syn_timed_out and self.srtt is None
                and self.config.rto_initial < 3_000_000_000):
            self.rto = 3_000_000_000

    def stop_timers(self) -> None:
        self.rtx_deadline = self.persist_deadline = None

    # ------------------------------------------------------------------ ACKs
    def take_ack(self, seg: TCPSegment, seq: int, ack: int, shift: int, now: int) -> None:
        """Step five of RFC 9293 3.10.7.4 for an ACK at most SND.NXT's highest: new data
        acknowledged, a duplicate ACK, or neither; then the window update.

        ``seq`` is the segment's absolute sequence number (for SND.WL1), ``shift``
        the peer's window scale.
        """
        self.probes = 0
        flight = self.snd_nxt - self.snd_una
        sack = self.host.sack
        sacked = self._take_sack(seg) if sack else 0
        if ack > self.snd_una:
            self._new_ack(ack, now, seg, sacked)
        elif ack == self.snd_una and flight > 0 and (
                sacked > 0 if sack and seg.sack else
                (not seg.payload and not seg.flags & (Flags.SYN | Flags.FIN)
                 and seg.window << shift == self.snd_wnd)):
            # a duplicate ACK: RFC 5681's definition, or with SACK one that SACKs new data
            self._duplicate_ack(now, sacked)
        # window update (RFC 9293 3.10.7.4, SND.WL1/WL2 rule)
        if self.snd_wl1 < seq or (self.snd_wl1 == seq and self.snd_wl2 <= ack):
            self.snd_wnd, self.snd_wl1, self.snd_wl2 = seg.window << shift, seq, ack
            if self.snd_wnd > 0:
                self.persist_deadline = None
                self.persist_shift = 0

    def _new_ack(self, ack: int, now: int, seg: TCPSegment | None = None, sacked: int = 0) -> None:
        acked = ack - self.snd_una + sacked
        sack = self.host.sack
        if sack and self.config.adaptive_reordering:
            self._late_hole(self.snd_una, ack)
        drop = min(len(self.buffer), max(0, ack - self.buf_start))
        del self.buffer[:drop]
        self.buf_start += drop
        self.snd_una = ack
        if self.scoreboard:
            self.scoreboard.advance(ack)
            self._update_lost_edge()
        # After a timeout we went back to resend from SND.UNA; an ACK can cover bytes that
        # were sent before that and arrived after all.
        self.snd_nxt = max(self.snd_nxt, ack)
        self.retries = 0
        if self.rexmits:
            self._detect_spurious(ack, seg)
        rtt = self.ack_rtt(ack, now, seg)
        event = self._ack_event(now, acked, rtt)
        if self.in_recovery:
            reno_exit = not sack and getattr(self.cc, "partial_ack_ends_recovery", False)
            if ack >= self.recover or reno_exit:
                self.in_recovery = False  # full ACK: recovery is over (RFC 6582 3.2 step 3)
                self.cc.on_recovery_end(event)
            else:  # partial ACK: the next hole was lost too
                if not sack:
                    self._retransmit_first(now)  # resend it at once (with SACK: pipe decides)
                self.cc.on_recovery_ack(event)
        else:
            self.cc.on_ack(event)
        self.cc_record(now)
        self.dupacks = 0
        self.rtx_deadline = None if self.snd_una == self.snd_nxt else now + self.rto

    def _duplicate_ack(self, now: int, sacked: int = 0) -> None:
        self.dupacks += 1
        if self.in_recovery:
            self.cc.on_recovery_ack(self._ack_event(now, sacked, None, dupack=True))
        elif (self.dupacks >= self.reordering
              or (self.host.sack and self.lost_edge > self.snd_una)):  # RFC 6675 5 (IsLost)
            # RFC 6582 3.2 step 1: only a loss of data sent after the last recovery (or
            # timeout) starts a new one. The RFC says the ACK must cover more than
            # "recover"; labkit lets it equal it, so that losing the first segment sent
            # after a recovery is still repaired without a timeout.
            if self.snd_una < self.recover:
                return
            self.cc.on_loss(self.snd_nxt - self.snd_una, now)
            self.in_recovery = True
            self.recover = self.snd_nxt
            self.rexmit_high = self.snd_una
            self._retransmit_first(now)
        else:
            return
        self.cc_record(now)

    def ack_rtt(self, ack: int, now: int, seg: TCPSegment | None = None) -> int | None:
        """An RTT sample from an ACK of new data, if it gives one.

        With timestamps, every such ACK does, retransmissions included (RFC
        7323 4.1: the echoed TSval tells which transmission it answers).
        Without, only the one timed segment does, never a retransmitted one
        (RFC 6298, Karn's rule).

        One exception: an echo older than the last retransmission timeout.
        When an ACK is lost and the timeout's retransmission arrives as a
        duplicate, the receiver echoes the TSval of the earlier transmission
        (RFC 7323 4.3), so the "sample" is the whole backed-off RTO plus an
        RTT. Taken, such samples feed the RTO that produced them: under heavy
        loss of ACKs it ratchets up to ``rto_max`` and stays there. labkit
        ignores them (the next ACK of data sent after the timeout measures
        the path again).
        """
        ts = seg.timestamps if self.host.timestamps and seg is not None else None
        if ts is not None and ts[1]:
            elapsed = (tsval(now) - ts[1]) & MASK  # whole ticks since the echoed TSval
            if elapsed < 1 << 31 and signed_delta(ts[1] - self.rto_tsval) >= 0:
                sample = elapsed * MS + now % MS  # from the start of that tick: never too short
                self.rtt_seq = None
                self._rtt_sample(sample, now)
                return sample
        if self.rtt_seq is None or ack < self.rtt_seq:
            return None
        sample = now - self.rtt_start
        self.rtt_seq = None
        self._rtt_sample(sample, now)
        return sample

    def _rtt_sample(self, sample: int, now: int) -> None:
        """Update SRTT, RTTVAR and RTO from one measurement (RFC 6298 2.2-2.4)."""
        self.min_rtt = sample if self.min_rtt is None else min(self.min_rtt, sample)
        if self.srtt is None:
            self.srtt, self.rttvar = sample, sample // 2
        else:
            self.rttvar = (3 * self.rttvar + abs(self.srtt - sample)) // 4
            self.srtt = (7 * self.srtt + sample) // 8
        self.rto = min(self.config.rto_max, max(self.config.rto_min,
                                                self.srtt + max(self.config.clock_granularity,
                                                                4 * self.rttvar)))
        self.rtt_history.append((now, sample, self.rto))

    # ------------------------------------------------------------------ sending
    def _segment_at(self, seq: int, limit: int) -> tuple[bytes, bool]:
        """Data (at most ``limit`` bytes) starting at ``seq``, and whether FIN follows it."""
        offset = seq - self.buf_start
        data = bytes(self.buffer[offset:offset + limit])
        fin = self.fin_queued and seq + len(data) == self.data_end
        return data, fin

    def output(self, now: int) -> None:
        """Send what the windows allow.

        Normally RFC 5681's rule: min(cwnd, rwnd) minus what is in flight. In
        loss recovery with SACK, RFC 6675's: while ``cwnd - pipe`` leaves a
        segment's room, first the lost holes (rule 1 of NextSeg), then new
        data within the peer's window (rule 2).
        """
        host = self.host
        if not host.sends_data:
            return
        smss = host.smss - host._options_length()
        sack_recovery = self.in_recovery and host.sack
        pipe = self._pipe() if sack_recovery else 0
        board = self.scoreboard
        cc = self.cc
        while True:
            if sack_recovery:
                if cc.cwnd - pipe < smss:
                    break
                resent = self._retransmit_lost(now, smss)
                if resent:
                    pipe += resent
                    continue
            elif board and self.snd_nxt < self.highest_sent:
                # going back after a timeout: skip what the peer has SACKed
                end = board.sacked(self.snd_nxt)
                if end is not None:
                    self.snd_nxt = min(end, self.highest_sent)
                    continue
            flight = self.snd_nxt - self.snd_una
            unsent = self.data_end - self.snd_nxt
            fin_pending = self.fin_queued and self.snd_nxt <= self.data_end
            if unsent <= 0 and not fin_pending:
                break
            if sack_recovery:
                room = min(cc.cwnd - pipe, self.snd_una + self.snd_wnd - self.snd_nxt)
            elif board and self.reordering > self.config.dupack_threshold:
                # Reordering was seen, so the threshold is higher: let SACKed bytes free the
                # congestion window as they would in recovery (RFC 3042's limited transmit,
                # stretched to the threshold, as Linux counts packets in flight), or a small
                # window stalls below the threshold until the RTO.
                pipe_out = board.unsacked(self.snd_una, self.snd_nxt)
                room = min(cc.cwnd - pipe_out, self.snd_wnd - flight)
            else:
                room = min(cc.cwnd, self.snd_wnd) - flight
            if board and self.snd_nxt < self.highest_sent:
                nxt = board.next_sacked_start(self.snd_nxt)
                if nxt is not None:
                    unsent = min(unsent, nxt - self.snd_nxt)
            if unsent > 0:
                if room <= 0:
                    break
                n = min(smss, unsent, room)
                if n < smss and n < unsent and flight > 0:
                    break  # sender-side silly window avoidance: wait for a full segment's room
                if (n < smss and n == unsent and flight > 0 and not host.nodelay
                        and not self.fin_queued and self.snd_nxt >= self.highest_sent):
                    break  # Nagle (RFC 896): one small segment in flight at a time
            else:
                n = 0
            data, fin = self._segment_at(self.snd_nxt, n)
            flags = Flags.ACK | (Flags.PSH if data and len(data) == unsent else Flags(0))
            if fin:
                flags |= Flags.FIN
            retransmission = self.snd_nxt < self.highest_sent
            host._emit(flags, self.snd_nxt, data)
            if retransmission:
                self.retransmissions += 1
            elif self.rtt_seq is None:
                self.rtt_seq, self.rtt_start = self.snd_nxt + len(data) + fin, now
            self.snd_nxt += len(data) + fin
            pipe += len(data) + fin
            self.highest_sent = max(self.highest_sent, self.snd_nxt)
            self.flight_peak = max(self.flight_peak, self.snd_nxt - self.snd_una)
            if self.rtx_deadline is None:
                self.rtx_deadline = now + self.rto
        # zero window with data waiting and nothing in flight: the persist timer probes
        if (self.snd_wnd == 0 and self.data_end > self.snd_nxt and self.snd_nxt == self.snd_una
                and self.persist_deadline is None):
            self.persist_deadline = now + self.rto

    def _retransmit_first(self, now: int) -> None:
        """Resend the first unacknowledged segment (fast retransmit, partial ACK)."""
        self.retransmissions += 1
        self.rtt_seq = None  # Karn: never time a retransmitted segment
        host = self.host
        if not host.synchronized:
            host._resend_syn(now)
        else:
            limit = host.smss - host._options_length()
            nxt = self.scoreboard.next_sacked_start(self.snd_una)
            if nxt is not None:
                limit = min(limit, nxt - self.snd_una)  # only the hole, not what was SACKed
            data, fin = self._segment_at(self.snd_una, limit)
            flags = Flags.ACK | (Flags.FIN if fin else Flags(0))
            if data or fin:
                host._emit(flags, self.snd_una, data)
                self.rexmit_high = max(self.rexmit_high, self.snd_una + len(data) + fin)
                self._note_rexmit(self.snd_una, now)
        self.rtx_deadline = now + self.rto

    # ------------------------------------------------------------------ SACK
    def _pipe(self) -> int:
        """RFC 6675 SetPipe: the bytes this sender believes are still in the network."""
        return self.scoreboard.pipe(self.snd_una, self.snd_nxt, self.lost_edge,
                                    self.rexmit_high)

    def _retransmit_lost(self, now: int, limit: int) -> int:
        """RFC 6675 NextSeg rule 1: resend the first lost hole not yet resent; bytes sent (or 0)."""
        board = self.scoreboard
        seq = max(self.rexmit_high, self.snd_una)
        end = board.sacked(seq)
        while end is not None:
            seq = end
            end = board.sacked(seq)
        if seq >= self.lost_edge or seq >= self.snd_nxt:
            return 0
        nxt = board.next_sacked_start(seq)
        if nxt is not None:
            limit = min(limit, nxt - seq)
        data, fin = self._segment_at(seq, min(limit, self.lost_edge - seq))
        if not data and not fin:
            return 0
        self.host._emit(Flags.ACK | (Flags.FIN if fin else Flags(0)), seq, data)
        self.retransmissions += 1
        self.rtt_seq = None
        self.rexmit_high = seq + len(data) + fin
        self._note_rexmit(seq, now)
        if self.rtx_deadline is None:
            self.rtx_deadline = now + self.rto
        return len(data) + fin

    def _take_sack(self, seg: TCPSegment) -> int:
        """Add the segment's SACK blocks to the scoreboard; returns the bytes newly SACKed."""
        blocks = seg.sack
        if not blocks:
            return 0
        una, high, new = self.snd_una, self.highest_sent, 0
        for left, right in blocks:
            lo = una + signed_delta(left - (una & MASK))
            hi = una + signed_delta(right - (una & MASK))
            if una < hi <= high and lo < hi:  # RFC 2018: ignore blocks outside the window
                new += self.scoreboard.add(max(lo, una), hi)
        if new:
            self.sacked_bytes += new
            self._update_lost_edge()
        return new

    def _note_rexmit(self, seq: int, now: int) -> None:
        """Remember a fast or SACK retransmission, to tell later whether it was needed."""
        if self.host.sack and self.config.adaptive_reordering:
            board = self.scoreboard.ranges
            end = self.rexmit_high if self.rexmit_high > seq else seq + 1
            self.rexmits[seq] = (end, tsval(now), board[-1][1] if board else self.snd_nxt)

    def _detect_spurious(self, ack: int, seg: TCPSegment | None) -> None:
        """RFC 3522 (Eifel detection): was a retransmission now acknowledged needless?

        The ACK that covers a retransmitted hole echoes the TSval of the
        segment that filled it (RFC 7323 4.3). An echo older than the
        retransmission's own TSval means the original arrived: the segment
        was only late, and the reordering was at least as deep as the SACKed
        data above it then. Linux raises tp->reordering to that depth; so
        does labkit (``self.reordering``, in segments).
        """
        ts = seg.timestamps if self.host.timestamps and seg is not None else None
        for seq in [s for s in self.rexmits if s < ack]:
            _, sent_at, fack = self.rexmits.pop(seq)
            if ts is not None and ts[1] and signed_delta(ts[1] - sent_at) < 0:
                self.spurious_retransmissions += 1
                self._reordered(fack - seq)

    def _reordered(self, depth: int) -> None:
        """Reordering ``depth`` bytes deep was seen: raise the threshold to it (Linux's rule)."""
        smss = self.host.smss
        segments = (depth + smss - 1) // smss
        self.reordering = min(self.config.max_reordering, max(self.reordering, segments))

    def _late_hole(self, una: int, ack: int) -> None:
        """A cumulative ACK filled the hole at ``una`` with its original: reordering, not loss.

        Linux's tcp_check_sack_reordering: a segment never retransmitted is
        acknowledged below the highest SACKed byte, so the network reorders
        at least that deep. Seen before any retransmission was needed, it
        saves the spurious fast retransmits the fixed threshold would send.
        Not after a timeout (the go-back resent the holes).
        """
        board = self.scoreboard.ranges
        if not board or not (self.in_recovery or una >= self.recover):
            return
        for seq, (end, _, _) in self.rexmits.items():
            if seq <= una < end:
                return  # the hole was retransmitted: its filling says nothing
        self._reordered(board[-1][1] - una)

    def _update_lost_edge(self) -> None:
        threshold = (self.reordering - 1) * self.host.smss
        self.lost_edge = self.scoreboard.lost_edge(self.snd_una, threshold)

    # ------------------------------------------------------------------ timers
    def retransmission_timeout(self, now: int) -> None:
        self.rtx_deadline = None
        outstanding = self.snd_nxt > self.snd_una
        if not outstanding:
            return
        host, cfg = self.host, self.config
        self.retries += 1
        self.timeouts += 1
        self.rto_tsval = tsval(now)
        # Linux (tcp_enter_loss): a timeout outside recovery with SACKed segments outstanding
        # says the reordering was over-estimated: back to the default threshold.
        if (not self.in_recovery and self.reordering > cfg.dupack_threshold
                and self.scoreboard.unsacked(self.snd_una, self.snd_nxt)
                < self.snd_nxt - self.snd_una - (cfg.dupack_threshold - 1) * host.smss):
            self.reordering = cfg.dupack_threshold
            self._update_lost_edge()
        self.rexmits.clear()  # go-back resends are not fast retransmissions
        if self.retries > cfg.max_retransmissions:
            host._time_out(f"connection timed out: {cfg.max_retransmissions} retransmissions of "
                           f"sequence number {self.snd_una & MASK} went unanswered", now)
            return
        synchronized = host.synchronized
        if synchronized:
            self.cc.on_timeout(self.snd_nxt - self.snd_una, now)
            self.cc_record(now)
        else:
            self.syn_timed_out = True
        # RFC 6582 section 4: after a timeout, no fast retransmit for the duplicate ACKs
        # that the go-back resends of data already received will draw.
        self.in_recovery = False
        self.recover = self.highest_sent
        self.dupacks = 0
        self.rto = min(cfg.rto_max, self.rto * 2)  # exponential backoff
        self.rtt_seq = None
        if not synchronized:
            self._retransmit_first(now)
            return
        self.snd_nxt = self.snd_una  # go back: resend from the first unacknowledged byte
        self.output(now)
        if self.rtx_deadline is None:
            self.rtx_deadline = now + self.rto

    def persist_timeout(self, now: int) -> None:
        self.persist_deadline = None
        if self.snd_wnd > 0 or self.data_end <= self.snd_nxt:
            self.output(now)
            return
        self.probes += 1
        if self.probes > self.config.max_retransmissions:
            self.host._time_out("connection timed out: zero-window probes unanswered", now)
            return
        data, _ = self._segment_at(self.snd_nxt, 1)
        self.host._emit(Flags.ACK, self.snd_nxt, data)  # a one-byte window probe
        # The probe's byte has been sent: a receiver whose window opened meanwhile takes it
        # and acknowledges it, and that ACK must not be refused as acknowledging something
        # never sent (that answer, an ACK of our own, began an ACK war that stalled the
        # connection). SND.NXT stays: the byte goes again, as data, once the window opens.
        self.highest_sent = max(self.highest_sent, self.snd_nxt + len(data))
        # RFC 1122 4.2.2.17: the interval doubles from probe to probe, answered or not
        # (answers reset only the give-up counter, probes); it resets when the window opens.
        self.persist_shift += 1
        backoff = min(self.config.rto_max, self.rto << min(self.persist_shift, 16))
        self.persist_deadline = now + backoff
