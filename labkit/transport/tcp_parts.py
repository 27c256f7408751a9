"""The TCP lab's parts inside labkit's connection: a learner's receiver and sender as its halves.

``TCPConnection(..., config=TCPConfig(receiver=..., sender=...))`` runs the
same state machine as labkit's own TCP (states, RST, RFC 5961, TIME-WAIT,
delayed ACKs, keep-alive), with :class:`PartsReceiver` and
:class:`PartsSender` as its halves in place of
:class:`~labkit.transport.tcp_full_receiver.FullReceiver` and
:class:`~labkit.transport.tcp_full_sender.FullSender`. Each wraps one part
behind the lab's Protocol (:class:`~labkit.transport.tcp_receiver.TCPReceiverLike`,
:class:`~labkit.transport.tcp_sender.TCPSenderLike`) and speaks the
connection's door for it:

- each acceptable arriving segment becomes a
  :class:`~labkit.transport.tcp_messages.TCPSenderMessage` for the receiver
  (seqno, SYN, payload; the FIN once every byte before it is in), and its
  ackno and window a :class:`~labkit.transport.tcp_messages.TCPReceiverMessage`
  for the sender;
- each message the sender transmits becomes one segment, with the
  receiver's ackno and window added by the connection;
- RFC 5681's duplicate ACK: a segment with data, SYN or FIN reaches the
  sender only if its ackno or window is new, so a sender that counts
  repeated (ackno, window) pairs counts pure ACKs only;
- the clock: the sender is ticked with the whole milliseconds elapsed before
  every call, and woken at its :meth:`~TCPSenderLike.next_timeout_ms`;
- giving up with ConnectionTimeout after ``max_retransmissions``
  consecutive retransmissions (the expiry past the limit sends nothing).

The part not given is labkit's reference part
(:class:`~labkit.transport.tcp_receiver.TCPReceiver`,
:class:`~labkit.transport.tcp_sender.TCPSender`). Negotiated down: the SYN
offers the MSS option only, so the peer uses no window scaling, SACK or
timestamps (RFC 7323 and 2018 fall back when the SYN does not offer them),
and the windows stay within 65,535 bytes. Nagle is the sender's business (a
learner's sender decides what it sends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from labkit.transport.congestion import CongestionControl
from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.tcp_full_receiver import acceptable
from labkit.transport.tcp_full_sender import MASK, MS
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32
from labkit.transport.tcp_receiver import TCPReceiver, TCPReceiverLike
from labkit.transport.tcp_sender import TCPSender, TCPSenderLike

if TYPE_CHECKING:
    from labkit.transport.bytestream import ByteStreamLike
    from labkit.transport.tcp_connection import State, TCPConfig

__all__ = ["PartsReceiver", "PartsSender", "PartsHost"]

#: the states in which the sender part is neither ticked nor pushed
_QUIET = {"CLOSED", "LISTEN", "TIME-WAIT"}


class PartsReceiver:
    """A learner's receiver as the receive half of a connection. See the module docstring."""

    def __init__(self, config: TCPConfig) -> None:
        make = config.receiver or TCPReceiver
        self.reassembler = config.reassembler()
        #: the byte stream the receiver writes and the application reads
        self.stream: ByteStreamLike = config.bytestream()
        self.part: TCPReceiverLike = make(self.reassembler, self.stream,
                                          min(config.recv_buffer, 0xFFFF))
        self.mss = 536  # unused: the part advertises what it likes
        self.irs = 0
        self._rcv_nxt = 0
        self.peer_fin: int | None = None
        self.eof = False

    def _answer(self) -> tuple[int, int]:
        """What the part says now (one ``send()``): its ackno as an absolute sequence number
        (0 before the SYN), and its window."""
        answer = self.part.send()
        if answer.ackno is not None:
            self._rcv_nxt = self.irs + answer.ackno.unwrap(Wrap32(self.irs & MASK),
                                                           self._rcv_nxt - self.irs)
        return self._rcv_nxt, max(0, answer.window_size)

    @property
    def rcv_nxt(self) -> int:
        return self._answer()[0]

    @property
    def window(self) -> int:
        return self._answer()[1]

    def synchronize(self, irs: int) -> None:
        self.irs = irs
        self.part.receive(TCPSenderMessage(Wrap32(irs & MASK), SYN=True))

    def acceptable(self, seq: int, seg_len: int) -> bool:
        return acceptable(*self._answer(), seq, seg_len)

    @property
    def in_order(self) -> bool:
        return not self.reassembler.pending

    def receive_data(self, seq: int, payload: bytes) -> None:
        self.part.receive(TCPSenderMessage(Wrap32(seq & MASK), payload=payload))

    def receive_fin(self) -> bool:
        """Give the part the FIN; True if its ackno now covers it (the stream has ended)."""
        fin = self.peer_fin if self.peer_fin is not None else self.rcv_nxt
        self.part.receive(TCPSenderMessage(Wrap32(fin & MASK), FIN=True))
        if self.rcv_nxt <= fin:
            return False
        self.eof = True
        return True

    def reset(self) -> None:
        """The peer reset the connection: the part hears of it (CS144's RST)."""
        self.part.receive(TCPSenderMessage(Wrap32(0), RST=True))

    def read(self, max_bytes: int) -> bytes:
        return self.stream.pop(max_bytes)

    def advertise(self, force: bool = False) -> None:
        """The part's window is whatever it says (no silly-window avoidance of labkit's)."""

    def window_field(self, shift: int) -> int:
        return min(0xFFFF, self.window)

    def sack_blocks(self, limit: int) -> list[tuple[int, int]]:
        return []

    blocks_waiting = 0


class PartsHost(Protocol):
    """What a :class:`PartsSender` needs from its connection."""

    state: State

    @property
    def synchronized(self) -> bool:
        ...

    def _emit(self, flags: Flags, seq: int, payload: bytes = b"", options: tuple = (),
              now: int | None = None) -> None:
        ...

    def _time_out(self, why: str, now: int) -> None:
        ...


class PartsSender:
    """A learner's sender as the send half of a connection. See the module docstring."""

    def __init__(self, iss: int, config: TCPConfig, host: PartsHost) -> None:
        make = config.sender or TCPSender
        self.config = config
        self.host = host
        self.iss = iss
        #: the application's bytes, which the sender pops
        self.stream: ByteStreamLike = config.bytestream()
        self.part: TCPSenderLike = make(self.stream, Wrap32(iss), config)
        self.snd_una = iss
        self.snd_nxt = iss
        self.snd_wnd = 0
        self.highest_sent = iss + 1
        self.fin_queued = False
        self.retransmissions = 0
        #: expiries of the part's timer that sent something again
        self.timeouts = 0
        self.spurious_retransmissions = 0
        self.sacked_bytes = 0
        self.reordering = config.dupack_threshold
        self.cwnd_history: list[tuple[int, int, int]] = []
        self.rtt_history: list[tuple[int, int, int]] = []
        self.srtt: int | None = None
        self.rttvar = 0
        self.min_rtt: int | None = None
        part_cc = getattr(self.part, "cc", None)
        #: the part's congestion controller if it has one (labkit's TCPSender does)
        self.cc: CongestionControl = (part_cc if isinstance(part_cc, CongestionControl)
                                      else config.congestion())
        self.persist_deadline: int | None = None
        self._tick_base = 0  # the virtual time (ns) the part's clock has reached
        self._sent_any = False
        self._our_fin: int | None = None  # absolute seqno of our FIN, once sent
        self._last_heard: tuple[int, int] | None = None  # (ack, window) last given to the part

    # ------------------------------------------------------------------ what the connection reads
    @property
    def rto(self) -> int:
        rto_ms = getattr(self.part, "rto_ms", None)
        return rto_ms * MS if isinstance(rto_ms, int) else self.config.rto_initial

    @property
    def unacked(self) -> int:
        in_flight = self.part.sequence_numbers_in_flight() if self._sent_any else 0
        return self.stream.buffered + in_flight

    @property
    def send_space(self) -> int:
        return max(0, self.config.send_buffer - self.unacked)

    @property
    def fin_acked(self) -> bool:
        return self._our_fin is not None and self.snd_una > self._our_fin

    @property
    def rtx_deadline(self) -> int | None:
        if not self._sent_any or self.host.state.value in _QUIET:
            return None
        wait = self.part.next_timeout_ms()
        return None if wait is None else self._tick_base + wait * MS

    # ------------------------------------------------------------------ the application's bytes
    def write(self, data: bytes) -> int:
        chunk = bytes(data[:self.send_space])
        if chunk:
            self.stream.push(chunk)
        return len(chunk)

    def close(self) -> None:
        self.fin_queued = True
        self.stream.close()

    # ------------------------------------------------------------------ the clock
    def start_clock(self, now: int) -> None:
        self._tick_base = now

    def clock(self, now: int, due: bool = False) -> None:
        """Tell the part how many whole milliseconds have passed; give up if it retried too often.

        ``due``: its timer is due now, so it is ticked even if less than a
        millisecond has passed (a part may ask for a tick at 0 ms).
        """
        elapsed = max(0, (now - self._tick_base) // MS)
        self._tick_base += elapsed * MS
        if not self._sent_any or self.host.state.value in _QUIET:
            return
        if elapsed == 0 and not due:
            return
        held: list[TCPSenderMessage] = []
        before = self.part.consecutive_retransmissions()
        self.part.tick(elapsed, held.append)
        retries = self.part.consecutive_retransmissions()
        if retries > self.config.max_retransmissions:
            # the expiry past the limit gives up instead of sending once more, as labkit's TCP
            self._sync()
            self.host._time_out(
                f"connection timed out: {self.config.max_retransmissions} retransmissions of "
                f"sequence number {self.snd_una & MASK} went unanswered", now)
            return
        if held and retries > before:
            self.timeouts += 1
        for message in held:
            self._transmit(message)
        self._sync()

    def retransmission_timeout(self, now: int) -> None:
        self.clock(now, due=True)

    def persist_timeout(self, now: int) -> None:
        """Never due: zero-window probing is the part's business."""

    # ------------------------------------------------------------------ the handshake
    def send_syn(self, now: int) -> None:
        """The part's first push sends its SYN (with ACK, once the peer's SYN is in)."""
        self.output(now)

    def start(self, window: int, wl1: int, now: int) -> None:
        """The peer's SYN: nothing for the part (its window comes with the ACK)."""

    def syn_acked(self, ack: int, seg: TCPSegment, now: int) -> None:
        self._hear(seg)

    def established(self) -> None:
        """Nothing to do: RFC 6298 5.7 is the part's business."""

    def window_from(self, window: int, wl1: int, wl2: int) -> None:
        """The ACK that completes the handshake: the part hears it in :meth:`take_ack`."""

    def stop_timers(self) -> None:
        """The part's timer stops with the connection (see :attr:`rtx_deadline`)."""

    # ------------------------------------------------------------------ ACKs and sending
    def take_ack(self, seg: TCPSegment, seq: int, ack: int, shift: int, now: int) -> None:
        # RFC 5681 2: a segment that carries data (or SYN, FIN) is never a duplicate ACK. The
        # part sees only ackno and window, so such a segment goes to it only when it tells
        # something new; a bare ACK always goes.
        if seg.seg_len == 0 or (seg.ack, seg.window) != self._last_heard:
            self._hear(seg)

    def _hear(self, seg: TCPSegment) -> None:
        self._last_heard = (seg.ack, seg.window)
        self.snd_wnd = seg.window
        self.part.receive(TCPReceiverMessage(Wrap32(seg.ack), seg.window))
        self._sync()

    def output(self, now: int) -> None:
        if self.host.state.value in _QUIET:
            return
        self.part.push(self._transmit)
        self._sync()

    def _transmit(self, message: TCPSenderMessage) -> None:
        seq = self.iss + message.seqno.unwrap(Wrap32(self.iss), self.highest_sent - self.iss)
        if self._sent_any and seq < self.highest_sent:
            self.retransmissions += 1
        self._sent_any = True
        end = seq + message.sequence_length
        self.highest_sent = max(self.highest_sent, end)
        if message.FIN:
            self._our_fin = end - 1
        flags = Flags(0) if self.host.state.value == "SYN-SENT" else Flags.ACK
        if message.SYN:
            flags |= Flags.SYN
        if message.FIN:
            flags |= Flags.FIN
        if message.RST:
            flags |= Flags.RST
        if message.payload:
            flags |= Flags.PSH
        options = tcp_options(mss=self.config.mss) if message.SYN else ()
        self.host._emit(flags, seq, message.payload, options)

    def _sync(self) -> None:
        """Mirror the part's sequence numbers in SND.UNA and SND.NXT."""
        if self._sent_any:
            nxt = self.part.make_empty_message().seqno
            self.snd_nxt = self.iss + nxt.unwrap(Wrap32(self.iss), self.snd_nxt - self.iss)
            self.snd_una = self.snd_nxt - self.part.sequence_numbers_in_flight()
