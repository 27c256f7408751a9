"""A TCP connection (RFC 9293), with RFC 6298 retransmission timing and Reno congestion control.

One :class:`TCPConnection` is one end of a connection: the Transmission Control
Block (TCB) of RFC 9293 plus the code that moves it through its eleven states.
It never reads a clock and never touches a network: the caller passes the
current virtual time (integer nanoseconds) into every call, hands it the
segments that arrive, and takes the segments it wants to send::

    a = TCPConnection(local_port=40000, remote_port=80, iss=rng_a)
    a.connect(now)
    for segment in a.take_output(): ...     # deliver to the peer somehow
    b.segment_arrives(segment, now)
    a.tick(now)                              # at or after a.next_timer()

So the same code runs in a unit test, on labkit's simulated network, and in a
notebook, and every run with the same seed is the same run.

What it implements, and where the RFCs leave a choice, what it chose:

- all eleven states, active and passive open, simultaneous open and close,
  RST on an unacceptable ACK and on a closed connection, RFC 5961 challenge
  ACKs for in-window RST and SYN;
- sequence numbers are kept internally as unbounded integers starting from a
  random initial sequence number (ISS), and wrapped to 32 bits only on the
  wire, so arithmetic is ordinary arithmetic (the way CS144 teaches it);
- cumulative ACKs, by default one for every segment that arrives (each ACK
  in a capture answers one segment, which is easier to read);
  ``TCPConfig(delayed_ack=40 * MS)`` delays them as RFC 1122 and 5681 allow
  (every second full segment at once; out-of-order, hole-filling and FIN
  segments at once);
- Nagle's algorithm (RFC 896) unless ``nodelay`` (TCP_NODELAY); keep-alive
  probes (RFC 1122 4.2.3.6) when ``keepalive`` is on; :meth:`close_read` for
  ``shutdown(SHUT_RD)`` (data acknowledged and dropped) and for a socket's
  ``close()`` (data arriving afterwards, or left unread, resets the
  connection, RFC 1122 4.2.2.13);
- out-of-order segments are kept and delivered once the gap is filled;
- flow control: the receiver advertises its free buffer, with receiver-side
  silly-window avoidance (RFC 9293 3.8.6.2.2); a sender facing a zero window
  sends one-byte probes on the persist timer, backing off, and never gives up
  while the probes are answered;
- retransmission timeout from RTT samples (RFC 6298: SRTT, RTTVAR, Karn's
  rule, exponential backoff). The minimum RTO is 200 ms, as in Linux; RFC 6298
  says it SHOULD be 1 s (``TCPConfig(rto_min=1_000_000_000)`` gives that);
- congestion control through a door of its own (:mod:`labkit.transport.congestion`,
  ``TCPConfig(congestion=...)``): the controller (NewReno by default, RFC 5681
  with RFC 6582) owns cwnd and ssthresh; the connection does fast retransmit on
  three duplicate ACKs, retransmits the next hole on each partial ACK, keeps
  RFC 6582's ``recover`` guard (set after a timeout too), and tells the
  controller whether the window is validated (RFC 7661: cwnd grows only while
  at least half of it has been in use in the last RTT);
- after a SYN timed out, data starts with RTO = 3 s (RFC 6298 5.7);
- after ``max_retransmissions`` unanswered retransmissions the connection
  gives up with :class:`ConnectionTimeout`;
- TIME-WAIT lasts 2 MSL (MSL = 30 s by default, so 60 s, as in Linux);
- RFC 7323 window scaling and timestamps, and RFC 2018 SACK, each offered
  on the SYN (``TCPConfig`` fields) and used when the peer offers it too;
  with timestamps every ACK of new data gives an RTT sample (retransmissions
  included; echoes older than the last timeout excepted, see ``_ack_rtt``)
  and PAWS drops old duplicates; the timestamp clock is the virtual time in
  milliseconds. With SACK, loss recovery follows RFC 6675 (IsLost by bytes
  SACKed above a hole, ``pipe``, NextSeg rules 1 and 2; no rule 3, no
  DSACK), and after a timeout the go-back skips SACKed ranges (the
  scoreboard is kept: labkit's receiver never reneges);
- without an MSS option the peer's MSS is 536; data carried on a SYN and the
  urgent pointer are ignored;
- with SACK, the duplicate threshold rises when reordering is seen, as
  Linux's tp->reordering does (``TCPConfig.adaptive_reordering``, on by
  default; see ``FullSender._late_hole`` and ``_detect_spurious``).

This class is the state machine (handshake, states, RST, PAWS, TIME-WAIT,
delayed ACKs, keep-alive); it joins two halves through a door of its own
(:class:`SendHalf`, :class:`ReceiveHalf`). labkit's halves are the send side
in :mod:`labkit.transport.tcp_full_sender` (buffer, timers, RTT, congestion
control, SACK recovery) and the receive side in
:mod:`labkit.transport.tcp_full_receiver` (window, reassembly, SACK blocks).
The TCP lab's parts, ``TCPConfig(receiver=..., sender=...)`` (behind the
Protocols of :mod:`labkit.transport.tcp_receiver` and
:mod:`labkit.transport.tcp_sender`, with ``TCPConfig.reassembler`` and
``bytestream``), take their place wrapped by :mod:`labkit.transport.tcp_parts`,
and the same state machine runs them; the SYN then offers the MSS option only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import numpy as np

from labkit.errors import LabkitError, LabkitValueError
from labkit.transport.bytestream import ByteStream, ByteStreamLike
from labkit.transport.congestion import CongestionControl, CongestionFactory, NewReno
from labkit.transport.ports import check_port
from labkit.transport.reassembler import Reassembler, ReassemblerLike
from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.tcp_full_receiver import FullReceiver
from labkit.transport.tcp_full_sender import MASK, MS, FullSender, tsval
from labkit.transport.tcp_full_sender import signed_delta as _signed
from labkit.transport.tcp_parts import PartsReceiver, PartsSender
from labkit.transport.tcp_receiver import ReceiverFactory, TCPReceiverLike
from labkit.transport.tcp_sender import SenderFactory, TCPSenderLike

__all__ = [
    "State",
    "TCPConfig",
    "TCPConnection",
    "TCPError",
    "ConnectionRefused",
    "ConnectionReset",
    "ConnectionTimeout",
    "ConnectionClosed",
    "rst_for",
]

S = 1_000_000_000


class State(Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"

    def __str__(self) -> str:
        return self.value


_SYNCHRONIZED = {State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT,
                 State.CLOSING, State.LAST_ACK, State.TIME_WAIT}
_CAN_SEND = {State.ESTABLISHED, State.CLOSE_WAIT}
_SENDS_DATA = {State.ESTABLISHED, State.CLOSE_WAIT, State.FIN_WAIT_1, State.CLOSING,
               State.LAST_ACK}
_RECEIVES_DATA = {State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2}


class TCPError(LabkitError):
    """A connection failed or was used wrongly.

    Each subclass is also the built-in exception Python's real sockets raise
    in the same case (``ConnectionRefusedError``...), so code written for real
    sockets catches labkit's too.
    """


class ConnectionRefused(TCPError, ConnectionRefusedError):
    """The peer answered our SYN with RST: nothing listens on that port."""


class ConnectionReset(TCPError, ConnectionResetError):
    """The peer reset an established connection."""


class ConnectionTimeout(TCPError, TimeoutError):
    """Too many retransmissions went unanswered."""


class ConnectionClosed(TCPError, BrokenPipeError):
    """The connection is closed (or closing) for sending."""


#: 100 Mbit/s for 100 ms: the path the default buffers are sized to fill
_BDP_100M_100MS = 100_000_000 // 8 // 10


def _newreno_rfc5681() -> CongestionControl:
    """NewReno with RFC 5681's initial window (2-4 segments: 3 for an SMSS of 1460), no HyStart++."""
    return NewReno(initial_segments=None, hystart=False)


@dataclass(frozen=True)
class TCPConfig:
    """Tunable constants; times in nanoseconds, sizes in bytes.

    The defaults are those of a Linux host: window scaling, SACK and
    timestamps offered (each used only if the peer offers it too), an
    initial window of 10 segments (NewReno's default), and buffers that fill
    a 100 Mbit/s path with a 100 ms round trip (2 MiB to receive, 4 MiB to
    send). :meth:`basic` is the TCP of RFC 793 with RFC 6298 and 5681: no
    option but MSS, 64 KiB window, initial window 3.
    """

    mss: int = 1460
    recv_buffer: int = 2 << 20
    send_buffer: int = 4 << 20
    #: RFC 7323 window scaling: offered, and used if the peer offers it too
    window_scaling: bool = True
    #: RFC 7323 timestamps (RTT on every ACK, PAWS): offered, used if the peer agrees
    timestamps: bool = True
    #: RFC 2018 SACK with RFC 6675 loss recovery: offered, used if the peer agrees
    sack: bool = True
    rto_initial: int = 1 * S
    rto_min: int = 200 * MS
    rto_max: int = 60 * S
    clock_granularity: int = 1 * MS
    max_retransmissions: int = 10
    msl: int = 30 * S
    dupack_threshold: int = 3
    #: Linux's adaptive reordering (tp->reordering), with SACK agreed, on by default as in Linux
    #: (``TCPConfig.basic()`` has no SACK, so none there): a hole
    #: filled by its late original below SACKed data, or (with timestamps) a fast
    #: retransmission the echo proves spurious (RFC 3522, Eifel detection), raises the
    #: duplicate threshold to the depth seen, up to ``max_reordering`` segments, and SACKed
    #: bytes then free the congestion window (limited transmit); a timeout with SACKed data
    #: outstanding puts it back. See benchmarks/bench_tcp_reorder.py for what it does.
    adaptive_reordering: bool = True
    max_reordering: int = 300
    #: the congestion controller: a class or no-argument factory (see labkit.transport.congestion)
    congestion: CongestionFactory = NewReno
    #: TCP_NODELAY: send small segments at once (True), or Nagle's algorithm (RFC 896, default)
    nodelay: bool = False
    #: delayed ACKs (RFC 1122 4.2.3.2, RFC 5681 4.2): the longest delay in ns; 0 = off (default:
    #: every segment is answered by its own ACK, which keeps captures easy to read)
    delayed_ack: int = 0
    #: keep-alive (RFC 1122 4.2.3.6), off by default: after keepalive_idle without a segment,
    #: probe every keepalive_interval; give up after keepalive_probes unanswered ones
    keepalive: bool = False
    keepalive_idle: int = 7200 * S
    keepalive_interval: int = 75 * S
    keepalive_probes: int = 9
    #: the TCP lab's parts (see docs in labkit.transport.tcp_receiver / tcp_sender): a
    #: receiver(reassembler, stream, capacity) and a sender(stream, isn, config) factory.
    #: None = labkit's own TCP, built into the connection (SACK, timestamps, window scaling,
    #: RFC 6675, Nagle...). Set either one and the connection joins parts instead: the one
    #: not given is labkit's reference part, and the handshake offers the MSS option only.
    receiver: ReceiverFactory | None = None
    sender: SenderFactory | None = None
    #: the byte stream and reassembler the receiver writes into (classes or factories)
    reassembler: Callable[[], ReassemblerLike] = Reassembler
    bytestream: Callable[[], ByteStreamLike] = ByteStream

    def __post_init__(self) -> None:
        if not 1 <= self.mss <= 65495:
            raise LabkitValueError(f"mss={self.mss!r}: must be 1..65495")
        top = 0xFFFF << 14 if self.window_scaling else 0xFFFF
        if not 1 <= self.recv_buffer <= top:
            raise LabkitValueError(f"recv_buffer={self.recv_buffer!r}: 1..{top}" + (
                "" if self.window_scaling else " (no window scaling)"))
        if self.send_buffer < 1:
            raise LabkitValueError(f"send_buffer={self.send_buffer!r}: must be positive")
        if not 0 < self.rto_min <= self.rto_initial <= self.rto_max:
            raise LabkitValueError("rto_min <= rto_initial <= rto_max must hold, all positive")
        if not callable(self.congestion):
            raise LabkitValueError(f"congestion={self.congestion!r}: a controller class or factory")
        if not 0 <= self.delayed_ack <= 500 * MS:
            raise LabkitValueError(f"delayed_ack={self.delayed_ack!r}: 0 (off) to 500 ms (RFC 1122)")
        if self.keepalive_idle <= 0 or self.keepalive_interval <= 0 or self.keepalive_probes < 1:
            raise LabkitValueError("keepalive_idle, keepalive_interval, keepalive_probes: positive")

    @classmethod
    def basic(cls, **changes: object) -> TCPConfig:
        """RFC 793 TCP with RFC 6298 timers and RFC 5681 congestion control, nothing newer.

        No window scaling, SACK or timestamps (only the MSS option), a 64 KiB
        receive window and RFC 5681's initial window of 3 segments: the TCP
        of the first lesson, whose captures stay simple. ``changes`` override
        any field.
        """
        fields: dict[str, object] = dict(
            recv_buffer=65535, send_buffer=1 << 20, window_scaling=False, timestamps=False,
            sack=False, congestion=_newreno_rfc5681)
        fields.update(changes)
        return cls(**fields)  # type: ignore[arg-type]

    @property
    def window_shift(self) -> int:
        """The window scale this end offers: the least shift that can advertise recv_buffer."""
        shift = 0
        while self.recv_buffer > 0xFFFF << shift:
            shift += 1
        return shift


def rst_for(segment: TCPSegment) -> TCPSegment | None:
    """The RST a host sends for ``segment`` when no connection wants it (RFC 9293 3.10.7.1).

    Returns None for an incoming RST (never answer a reset with a reset).
    """
    if segment.flags & Flags.RST:
        return None
    if segment.flags & Flags.ACK:
        return TCPSegment(segment.dst_port, segment.src_port, seq=segment.ack, flags=Flags.RST)
    return TCPSegment(segment.dst_port, segment.src_port, seq=0,
                      ack=(segment.seq + segment.seg_len) & MASK, flags=Flags.RST | Flags.ACK)


class SendHalf(Protocol):
    """The connection's door to its send half: what :class:`TCPConnection` asks of it.

    Two kinds stand behind it: labkit's
    :class:`~labkit.transport.tcp_full_sender.FullSender`, and
    :class:`~labkit.transport.tcp_parts.PartsSender` around a TCP lab sender
    part. Sequence numbers are absolute, times virtual nanoseconds.
    """

    @property
    def snd_una(self) -> int: ...
    @property
    def snd_nxt(self) -> int: ...
    @property
    def snd_wnd(self) -> int: ...
    @property
    def highest_sent(self) -> int: ...
    @property
    def fin_queued(self) -> bool: ...
    @property
    def fin_acked(self) -> bool: ...
    @property
    def unacked(self) -> int: ...
    @property
    def send_space(self) -> int: ...
    @property
    def rtx_deadline(self) -> int | None: ...
    @property
    def persist_deadline(self) -> int | None: ...
    # what the connection reports (see its properties of the same names)
    @property
    def rto(self) -> int: ...
    @property
    def srtt(self) -> int | None: ...
    @property
    def rttvar(self) -> int: ...
    @property
    def min_rtt(self) -> int | None: ...
    @property
    def cc(self) -> CongestionControl: ...
    @property
    def cwnd_history(self) -> list[tuple[int, int, int]]: ...
    @property
    def rtt_history(self) -> list[tuple[int, int, int]]: ...
    @property
    def retransmissions(self) -> int: ...
    @property
    def timeouts(self) -> int: ...
    @property
    def spurious_retransmissions(self) -> int: ...
    @property
    def reordering(self) -> int: ...
    @property
    def sacked_bytes(self) -> int: ...

    def write(self, data: bytes) -> int:
        """Queue the application's bytes; how many fit."""
        ...

    def close(self) -> None:
        """FIN after the last byte written."""
        ...

    def start_clock(self, now: int) -> None: ...
    def clock(self, now: int) -> None:
        """Called first in every call the connection serves."""
        ...

    def send_syn(self, now: int) -> None: ...
    def start(self, window: int, wl1: int, now: int) -> None:
        """The peer's SYN arrived (its window is never scaled)."""
        ...

    def syn_acked(self, ack: int, seg: TCPSegment, now: int) -> None: ...
    def window_from(self, window: int, wl1: int, wl2: int) -> None: ...
    def established(self) -> None: ...
    def stop_timers(self) -> None: ...
    def take_ack(self, seg: TCPSegment, seq: int, ack: int, shift: int, now: int) -> None:
        """An acceptable ACK at most :attr:`highest_sent`: new data, duplicate, window update."""
        ...

    def output(self, now: int) -> None:
        """Send what the windows allow, through the connection's ``_emit``."""
        ...

    def retransmission_timeout(self, now: int) -> None: ...
    def persist_timeout(self, now: int) -> None: ...


class ReceiveHalf(Protocol):
    """The connection's door to its receive half: labkit's
    :class:`~labkit.transport.tcp_full_receiver.FullReceiver`, or
    :class:`~labkit.transport.tcp_parts.PartsReceiver` around a TCP lab
    receiver part."""

    #: the peer's FIN sequence number, once a segment carrying it was accepted
    peer_fin: int | None
    #: the connection's effective send MSS (for silly-window avoidance)
    mss: int

    @property
    def irs(self) -> int: ...
    @property
    def rcv_nxt(self) -> int: ...
    @property
    def eof(self) -> bool: ...
    @property
    def window(self) -> int: ...
    @property
    def stream(self) -> ByteStreamLike:
        """The bytes waiting for the application."""
        ...

    @property
    def in_order(self) -> bool: ...
    @property
    def blocks_waiting(self) -> int: ...
    def synchronize(self, irs: int) -> None: ...
    def acceptable(self, seq: int, seg_len: int) -> bool: ...
    def receive_data(self, seq: int, payload: bytes) -> None: ...
    def receive_fin(self) -> bool:
        """The FIN is next: True if it was taken (the stream has ended)."""
        ...

    def reset(self) -> None: ...
    def read(self, max_bytes: int) -> bytes: ...
    def advertise(self, force: bool = False) -> None: ...
    def window_field(self, shift: int) -> int: ...
    def sack_blocks(self, limit: int) -> list[tuple[int, int]]: ...


class TCPConnection:
    """One end of a TCP connection. See the module docstring for the model.

    The connection is the state machine; its two halves are parts of their
    own: :attr:`tx`, a :class:`~labkit.transport.tcp_full_sender.FullSender`
    (send buffer, timers, congestion control, loss recovery), and :attr:`rx`,
    a :class:`~labkit.transport.tcp_full_receiver.FullReceiver` (receive
    window, reassembly, SACK blocks). The TCB's fields (``snd_una``,
    ``rcv_nxt``, ``rto``, ``cwnd``...) read through to them.

    With ``config.receiver`` or ``config.sender`` set (the TCP lab's parts),
    the halves are :class:`~labkit.transport.tcp_parts.PartsSender` and
    :class:`~labkit.transport.tcp_parts.PartsReceiver` around the parts
    (the one not given is labkit's reference part), and the same state
    machine runs them.
    """

    def __init__(
        self,
        local_port: int,
        remote_port: int | None = None,
        *,
        iss: int | np.random.Generator,
        config: TCPConfig | None = None,
        name: str = "",
    ) -> None:
        self.local_port = check_port(local_port, "local_port")
        self.remote_port = None if remote_port is None else check_port(remote_port, "remote_port")
        if isinstance(iss, np.random.Generator):
            iss = int(iss.integers(0, 1 << 32))
        if isinstance(iss, bool) or not isinstance(iss, int) or not 0 <= iss <= MASK:
            raise LabkitValueError(f"iss={iss!r}: a 32-bit initial sequence number or a Generator")
        self.config = config or TCPConfig()
        self.name = name
        self.state = State.CLOSED
        self.error: TCPError | None = None
        #: (time, state) for every state the connection has been in
        self.state_history: list[tuple[int, State]] = []
        self.on_state_change: Callable[[TCPConnection, State, int], None] | None = None
        self._out: list[TCPSegment] = []
        self._now = 0  # the time of the call being served (for timestamps)
        self.iss = iss
        self._peer_mss = 536
        # options agreed in the handshake (RFC 7323, RFC 2018)
        self.window_scaling = False
        self.timestamps = False
        self.sack = False
        self._snd_shift = 0  # the peer's window scale: applied to windows it sends
        self._rcv_shift = 0  # ours: applied to windows we send
        self._ts_recent = 0  # TS.Recent: the peer's TSval to echo
        self._last_ack_sent = 0  # Last.ACK.sent (absolute)
        cfg = self.config
        parts = cfg.receiver is not None or cfg.sender is not None
        #: the send half: labkit's FullSender (buffer, SND.*, timers, RTT, congestion control,
        #: recovery), or the TCP lab's sender part wrapped in a PartsSender
        self.tx: SendHalf = PartsSender(iss, cfg, self) if parts else FullSender(iss, cfg, self)
        #: the receive half: labkit's FullReceiver (RCV.*, the bytes to read, out-of-order
        #: data, SACK blocks), or the TCP lab's receiver part wrapped in a PartsReceiver
        self.rx: ReceiveHalf = (PartsReceiver(cfg) if parts
                                else FullReceiver(cfg.recv_buffer, self.smss))
        # what the SYN offers: with parts, the MSS option only (they do not scale windows,
        # SACK or echo timestamps), so the peer falls back to RFC 793's options
        self._offer_ws = cfg.window_scaling and not parts
        self._offer_ts = cfg.timestamps and not parts
        self._offer_sack = cfg.sack and not parts
        # timers of the state machine (absolute deadlines, or None); the sender has its own
        self._timewait_deadline: int | None = None
        self._delack_deadline: int | None = None
        self._delack_bytes = 0  # bytes received and not yet acknowledged (delayed ACK)
        self._keepalive_deadline: int | None = None
        self._keepalive_probes = 0
        #: TCP_NODELAY (see TCPConfig.nodelay); a socket option may change it
        self.nodelay = self.config.nodelay
        #: SO_KEEPALIVE (see TCPConfig.keepalive); set it with :meth:`set_keepalive`
        self.keepalive = self.config.keepalive
        self._read_shut: str | None = None  # None, "discard" (SHUT_RD) or "reset" (close)
        self._passive = False

    # ------------------------------------------------------------------ the TCB, read through
    @property
    def snd_una(self) -> int:
        """SND.UNA: the oldest unacknowledged sequence number (absolute)."""
        return self.tx.snd_una

    @property
    def snd_nxt(self) -> int:
        """SND.NXT: the next sequence number to send (absolute)."""
        return self.tx.snd_nxt

    @property
    def snd_wnd(self) -> int:
        """SND.WND: the peer's window, in bytes (scaled)."""
        return self.tx.snd_wnd

    @property
    def _fin_queued(self) -> bool:
        return self.tx.fin_queued

    @property
    def rto(self) -> int:
        """The retransmission timeout now, in ns (RFC 6298)."""
        return self.tx.rto

    @property
    def srtt(self) -> int | None:
        """The smoothed round-trip time in ns (None before the first sample)."""
        return self.tx.srtt

    @property
    def rttvar(self) -> int:
        return self.tx.rttvar

    @property
    def min_rtt(self) -> int | None:
        """The smallest RTT sample so far, in ns."""
        return self.tx.min_rtt

    @property
    def cc(self) -> CongestionControl:
        """The congestion controller (``TCPConfig.congestion``), owner of cwnd and ssthresh."""
        return self.tx.cc

    @property
    def cwnd(self) -> int:
        """The congestion window in bytes (the controller's, see :attr:`cc`)."""
        return self.tx.cc.cwnd

    @property
    def ssthresh(self) -> int:
        """The slow-start threshold in bytes (the controller's)."""
        return self.tx.cc.ssthresh

    @property
    def cwnd_history(self) -> list[tuple[int, int, int]]:
        """(time, cwnd, ssthresh) whenever the congestion window changes."""
        return self.tx.cwnd_history

    @property
    def rtt_history(self) -> list[tuple[int, int, int]]:
        """(time, rtt sample, rto) for every RTT measurement."""
        return self.tx.rtt_history

    @property
    def retransmissions(self) -> int:
        """Segments sent again (timeouts, fast and SACK retransmissions)."""
        return self.tx.retransmissions

    @property
    def timeouts(self) -> int:
        """Retransmission-timer expiries with data outstanding."""
        return self.tx.timeouts

    @property
    def spurious_retransmissions(self) -> int:
        """Fast or SACK retransmissions that the echoed timestamp proved needless (RFC 3522)."""
        return self.tx.spurious_retransmissions

    @property
    def reordering(self) -> int:
        """The duplicate-ACK threshold in segments (Linux's tp->reordering), see TCPConfig."""
        return self.tx.reordering

    @property
    def sacked_bytes(self) -> int:
        """Bytes the peer's SACK blocks reported, beyond the cumulative ACK (RFC 2018)."""
        return self.tx.sacked_bytes

    @property
    def irs(self) -> int:
        """The peer's initial sequence number."""
        return self.rx.irs

    @property
    def rcv_nxt(self) -> int:
        """RCV.NXT: the next sequence number expected from the peer (absolute)."""
        return self.rx.rcv_nxt

    @property
    def rcv_wnd(self) -> int:
        """The receive window as advertised: from RCV.NXT to the advertised right edge."""
        return self.rx.window

    @property
    def eof(self) -> bool:
        """The peer's FIN has been reached: nothing more will arrive."""
        return self.rx.eof

    @property
    def sender(self) -> TCPSenderLike | None:
        """The TCP lab's sender part, when the connection joins one (else None: see :attr:`tx`)."""
        return self.tx.part if isinstance(self.tx, PartsSender) else None

    @property
    def receiver(self) -> TCPReceiverLike | None:
        """The TCP lab's receiver part, when the connection joins one (else None: see :attr:`rx`)."""
        return self.rx.part if isinstance(self.rx, PartsReceiver) else None

    # ------------------------------------------------------------------ for the sender
    @property
    def synchronized(self) -> bool:
        """The handshake is over (RFC 9293's synchronized states)."""
        return self.state in _SYNCHRONIZED

    @property
    def sends_data(self) -> bool:
        """In a state that sends data and FIN."""
        return self.state in _SENDS_DATA

    def _resend_syn(self, now: int) -> None:
        flags = Flags.SYN | (Flags.ACK if self.state is State.SYN_RECEIVED else Flags(0))
        self._emit(flags, self.iss, options=self._syn_options(now))

    def _time_out(self, why: str, now: int) -> None:
        self._fail(ConnectionTimeout(why), now)

    # ------------------------------------------------------------------ user calls
    def connect(self, now: int) -> None:
        """Active open: send SYN, enter SYN-SENT."""
        self._now = now
        if self.state is not State.CLOSED:
            raise TCPError(f"connect: connection is {self.state}, not CLOSED")
        if self.remote_port is None:
            raise LabkitValueError("remote_port: needed to connect")
        self.tx.start_clock(now)
        self._set_state(State.SYN_SENT, now)
        self._send_syn(now)

    def listen(self, now: int = 0) -> None:
        """Passive open: wait in LISTEN for a SYN."""
        self._now = now
        if self.state is not State.CLOSED:
            raise TCPError(f"listen: connection is {self.state}, not CLOSED")
        self._passive = True
        self._set_state(State.LISTEN, now)
        self.tx.start_clock(now)

    def send(self, data: bytes, now: int) -> int:
        """Queue bytes to send; returns how many fit in the send buffer."""
        self._now = now
        self.tx.clock(now)
        if self.error is not None:
            raise self.error
        if self.state not in _CAN_SEND and self.state not in (State.SYN_SENT, State.SYN_RECEIVED):
            raise ConnectionClosed(f"send: connection is {self.state}")
        if self._fin_queued:
            raise ConnectionClosed("send: this end has already closed its sending side")
        queued = self.tx.write(data)
        self.tx.output(now)
        return queued

    def recv(self, max_bytes: int, now: int) -> bytes:
        """Take up to ``max_bytes`` received bytes (b"" if none are waiting; see :attr:`eof`)."""
        self._now = now
        if max_bytes < 0:
            raise LabkitValueError(f"max_bytes={max_bytes!r}: cannot be negative")
        self.tx.clock(now)
        rx = self.rx
        was = rx.window
        data = rx.read(max_bytes)
        if data and self.state in _RECEIVES_DATA:
            small = min(self.config.recv_buffer // 2, self.smss)
            rx.advertise()
            # A window update only when the window was too small for a full segment (the
            # sender may be waiting on it); otherwise the next ACK carries the new window.
            if was < small <= rx.window:
                self._emit(Flags.ACK, self.snd_nxt)
        return data

    @property
    def readable(self) -> int:
        """Bytes waiting to be read."""
        return self.rx.stream.buffered

    @property
    def send_space(self) -> int:
        return self.tx.send_space

    @property
    def unacked(self) -> int:
        """Bytes queued or in flight that the peer has not acknowledged yet."""
        return self.tx.unacked

    def close(self, now: int) -> None:
        """Close the sending side: FIN after all queued data (RFC 9293 CLOSE call)."""
        self._now = now
        self.tx.clock(now)
        if self.state in (State.CLOSED,):
            return
        if self.state in (State.LISTEN, State.SYN_SENT):
            self._set_state(State.CLOSED, now)
            return
        if self._fin_queued:
            return
        self.tx.close()
        if self.state in (State.SYN_RECEIVED, State.ESTABLISHED):
            self._set_state(State.FIN_WAIT_1, now)
        elif self.state is State.CLOSE_WAIT:
            self._set_state(State.LAST_ACK, now)
        self.tx.output(now)

    def abort(self, now: int) -> None:
        """Reset the connection: send RST and forget it."""
        self._now = now
        if self.state in (State.SYN_RECEIVED, *_SYNCHRONIZED) and self.state is not State.TIME_WAIT:
            self._out.append(TCPSegment(self.local_port, self.remote_port or 0,
                                        seq=self.snd_nxt & MASK, flags=Flags.RST))
        self._set_state(State.CLOSED, now)

    def take_output(self) -> list[TCPSegment]:
        """The segments to send, in order; the list is handed over and cleared."""
        out, self._out = self._out, []
        return out

    # ------------------------------------------------------------------ timers
    def next_timer(self) -> int | None:
        """The virtual time at which :meth:`tick` has something to do, or None."""
        deadlines = [d for d in (self.tx.rtx_deadline, self.tx.persist_deadline,
                                 self._timewait_deadline, self._delack_deadline,
                                 self._keepalive_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def tick(self, now: int) -> None:
        """Run the timers that are due at ``now``."""
        self._now = now
        tx = self.tx
        if self._timewait_deadline is not None and now >= self._timewait_deadline:
            self._timewait_deadline = None
            self._set_state(State.CLOSED, now)
            return
        tx.clock(now)
        if tx.rtx_deadline is not None and now >= tx.rtx_deadline:
            tx.retransmission_timeout(now)
        if tx.persist_deadline is not None and now >= tx.persist_deadline:
            tx.persist_timeout(now)
        if self._delack_deadline is not None and now >= self._delack_deadline:
            self._emit(Flags.ACK, self.snd_nxt)  # the delayed ACK is due
        if self._keepalive_deadline is not None and now >= self._keepalive_deadline:
            self._keepalive_timeout(now)

    # ------------------------------------------------------------------ options set later
    def set_keepalive(self, on: bool, now: int) -> None:
        """SO_KEEPALIVE: probe an idle connection (timings from the config)."""
        self._now = now
        self.keepalive = bool(on)
        self._keepalive_probes = 0
        established = self.state in (State.ESTABLISHED, State.CLOSE_WAIT)
        self._keepalive_deadline = now + self.config.keepalive_idle if on and established else None

    def push(self, now: int) -> None:
        """Send what the windows allow now (after ``nodelay`` was switched on, say)."""
        self._now = now
        self.tx.clock(now)
        self.tx.output(now)

    def close_read(self, now: int, reset: bool = False) -> None:
        """Close the receiving side: nothing more will be read.

        ``reset=False`` is ``shutdown(SHUT_RD)``: what arrives is still
        acknowledged, and thrown away. ``reset=True`` is what a socket's
        ``close()`` does (RFC 1122 4.2.2.13, RFC 9293 3.10.7): if unread data
        is waiting, or new data arrives later, the connection is reset (RST),
        so the peer learns its data was lost.
        """
        self._now = now
        self._read_shut = "reset" if reset else "discard"
        if reset and self.rx.stream.buffered:
            self.abort(now)
        else:
            self.rx.stream.clear()

    def _keepalive_timeout(self, now: int) -> None:
        self._keepalive_deadline = None
        if not self.keepalive or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return
        if self.snd_nxt != self.snd_una or self.tx.persist_deadline is not None:
            self._keepalive_deadline = now + self.config.keepalive_idle  # not idle: data is out
            return
        if self._keepalive_probes >= self.config.keepalive_probes:
            self._fail(ConnectionTimeout(
                f"connection timed out: {self._keepalive_probes} keep-alive probes unanswered"), now)
            return
        self._keepalive_probes += 1
        # RFC 1122 4.2.3.6: SEG.SEQ = SND.NXT - 1, no data: the peer answers with an ACK
        self._emit(Flags.ACK, self.snd_nxt - 1)
        self._keepalive_deadline = now + self.config.keepalive_interval

    # ------------------------------------------------------------------ arriving segments
    def segment_arrives(self, seg: TCPSegment, now: int) -> None:
        """Process one arriving segment (RFC 9293 3.10.7), queueing any answer."""
        self._now = now
        self.tx.clock(now)
        state = self.state
        if state is State.CLOSED:
            rst = rst_for(seg)
            if rst is not None:
                self._out.append(rst)
            return
        if state is State.LISTEN:
            self._arrives_listen(seg, now)
            return
        if state is State.SYN_SENT:
            self._arrives_syn_sent(seg, now)
            return
        rx = self.rx
        seq = rx.rcv_nxt + _signed(seg.seq - (rx.rcv_nxt & MASK))
        flags, seg_len = seg.flags, seg.seg_len
        if state is State.SYN_RECEIVED and flags & Flags.SYN and flags & Flags.ACK and seq == rx.irs:
            # Simultaneous open: the peer's SYN,ACK repeats the SYN we already took; only its
            # ACK is new, so process it as an ACK (only the new part of a segment counts).
            flags, seq, seg_len = flags & ~Flags.SYN, seq + 1, seg_len - 1
        ts = seg.timestamps if self.timestamps else None
        # RFC 7323 5.3: PAWS, a segment whose timestamp is older than TS.Recent is an old
        # duplicate from an earlier wrap of the sequence space: acknowledge and drop it.
        if ts is not None and not flags & Flags.RST and _signed(ts[0] - self._ts_recent) < 0:
            self._emit(Flags.ACK, self.snd_nxt)
            return
        # 1. acceptability
        if not rx.acceptable(seq, seg_len):
            if flags & Flags.RST:
                return
            if state is State.TIME_WAIT and flags & Flags.FIN and seq + seg_len == rx.rcv_nxt:
                # RFC 9293 3.10.7.4: the only thing that can arrive in TIME-WAIT is a
                # retransmission of the remote FIN: acknowledge it and restart the 2 MSL.
                self._timewait_deadline = now + 2 * self.config.msl
            if rx.window == 0 and seq == rx.rcv_nxt and flags & Flags.ACK:
                self._process_ack(seg, seq, now)  # zero window: still take ACKs (and probes)
            self._emit(Flags.ACK, self.snd_nxt)
            return
        # RFC 7323 4.3: remember the timestamp to echo, from segments at or left of Last.ACK.sent
        if ts is not None and seq <= self._last_ack_sent:
            self._ts_recent = ts[0]
        # 2. RST
        if flags & Flags.RST and state is State.TIME_WAIT:
            return  # RFC 1337: ignore RST in TIME-WAIT; the clean close stands, 2 MSL runs out
        if flags & Flags.RST:
            if seq != rx.rcv_nxt:
                self._emit(Flags.ACK, self.snd_nxt)  # RFC 5961 challenge ACK
                return
            if state is State.SYN_RECEIVED and self._passive:
                self._set_state(State.CLOSED, now)  # a half-open passive connection just goes
                return
            rx.reset()
            self._fail(ConnectionReset(f"connection reset by peer (port {self.remote_port})"), now)
            return
        # 3. SYN in a synchronized state: challenge ACK (RFC 5961 4.2)
        if flags & Flags.SYN:
            self._emit(Flags.ACK, self.snd_nxt)
            return
        # 4. ACK
        if not flags & Flags.ACK:
            return
        if state is State.SYN_RECEIVED:
            ack = self._unwrap_ack(seg.ack)
            if not self.snd_una < ack <= self.snd_nxt:
                self._out.append(TCPSegment(self.local_port, self.remote_port or 0,
                                            seq=seg.ack, flags=Flags.RST))
                return
            self._set_state(State.ESTABLISHED, now)
            self.tx.window_from(seg.window << self._snd_shift, seq, ack)
        if not self._process_ack(seg, seq, now):
            return
        if self.state is State.CLOSED:
            return
        if self.keepalive:
            self._keepalive_probes = 0
            self._keepalive_deadline = now + self.config.keepalive_idle
        # 5. data
        in_order = seq == rx.rcv_nxt and rx.in_order
        if seg.payload and self.state in _RECEIVES_DATA:
            if self._read_shut == "reset" and seq + len(seg.payload) > rx.rcv_nxt:
                self.abort(now)  # data after close(): nobody will read it (RFC 1122 4.2.2.13)
                return
            rx.receive_data(seq, seg.payload)
            if self._read_shut == "discard":
                rx.stream.clear()
                rx.advertise()
        # 6. FIN
        if flags & Flags.FIN:
            rx.peer_fin = seq + len(seg.payload)
        if rx.peer_fin is not None and rx.peer_fin == rx.rcv_nxt and not rx.eof:
            self._receive_fin(now)
        if seg.payload or flags & Flags.FIN:
            self._acknowledge(len(seg.payload), in_order and not flags & Flags.FIN, now)
        self.tx.output(now)

    def _acknowledge(self, received: int, delayable: bool, now: int) -> None:
        """ACK arriving data: at once, or with delayed ACKs on, for every second full segment.

        RFC 5681 4.2: out-of-order data, data that fills a hole, and FIN are
        acknowledged at once; in-order data waits at most ``delayed_ack``.
        """
        delay = self.config.delayed_ack
        if not delay or not delayable:
            self._emit(Flags.ACK, self.snd_nxt)
            return
        self._delack_bytes += received
        if self._delack_bytes >= 2 * min(self.config.mss, self._peer_mss) - 24:
            self._emit(Flags.ACK, self.snd_nxt)  # a second full-sized segment: ACK now
        elif self._delack_deadline is None:
            self._delack_deadline = now + delay

    # ------------------------------------------------------------------ internals: states
    def _set_state(self, state: State, now: int) -> None:
        if state is self.state and self.state_history:
            return
        self.state = state
        self.state_history.append((now, state))
        if state is State.CLOSED:
            self.tx.stop_timers()
            self._timewait_deadline = None
            self._delack_deadline = self._keepalive_deadline = None
        if state is State.TIME_WAIT:
            self.tx.stop_timers()
            self._timewait_deadline = now + 2 * self.config.msl
        if state is State.ESTABLISHED and self.keepalive:
            self._keepalive_deadline = now + self.config.keepalive_idle
        if state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            self._keepalive_deadline = None
        if state is State.ESTABLISHED:
            self.tx.established()
        if self.on_state_change is not None:
            self.on_state_change(self, state, now)

    def _fail(self, error: TCPError, now: int) -> None:
        self.error = error
        self._set_state(State.CLOSED, now)

    def _syn_options(self, now: int) -> tuple:
        """MSS, and the RFC 7323/2018 options: all offered on a SYN, only the agreed on a SYN,ACK."""
        cfg, reply = self.config, self.state is State.SYN_RECEIVED
        ws = self._offer_ws and (self.window_scaling or not reply)
        ts = self._offer_ts and (self.timestamps or not reply)
        return tcp_options(mss=cfg.mss, window_scale=cfg.window_shift if ws else None,
                           sack_permitted=self._offer_sack and (self.sack or not reply),
                           timestamps=(tsval(now), self._ts_recent if reply else 0) if ts else None)

    def _send_syn(self, now: int) -> None:
        """Our SYN in SYN-SENT, our SYN,ACK in SYN-RECEIVED (the sender half sends it)."""
        self.tx.send_syn(now)

    def _arrives_listen(self, seg: TCPSegment, now: int) -> None:
        if seg.flags & Flags.RST:
            return
        if seg.flags & Flags.ACK:
            self._out.append(TCPSegment(self.local_port, seg.src_port, seq=seg.ack, flags=Flags.RST))
            return
        if not seg.flags & Flags.SYN:
            return
        self.remote_port = seg.src_port
        self._synchronize(seg, now)
        self._set_state(State.SYN_RECEIVED, now)
        self._send_syn(now)

    def _synchronize(self, seg: TCPSegment, now: int) -> None:
        """Take the peer's ISS, MSS, options and window from its SYN."""
        self.rx.synchronize(seg.seq)
        if seg.mss is not None:
            self._peer_mss = seg.mss
        cfg = self.config
        self.window_scaling = self._offer_ws and seg.window_scale is not None
        if self.window_scaling:
            self._snd_shift, self._rcv_shift = seg.window_scale or 0, cfg.window_shift
        ts = seg.timestamps
        self.timestamps = self._offer_ts and ts is not None
        if ts is not None and self.timestamps:
            self._ts_recent = ts[0]
        self.sack = self._offer_sack and seg.sack_permitted
        self.rx.mss = self.smss
        self.tx.start(seg.window, seg.seq, now)  # a SYN's window is never scaled (RFC 7323 2.2)

    def _arrives_syn_sent(self, seg: TCPSegment, now: int) -> None:
        ack = None
        if seg.flags & Flags.ACK:
            ack = self._unwrap_ack(seg.ack)
            if not self.iss < ack <= self.snd_nxt:
                if not seg.flags & Flags.RST:
                    self._out.append(TCPSegment(self.local_port, seg.src_port, seq=seg.ack,
                                                flags=Flags.RST))
                return
        if seg.flags & Flags.RST:
            if ack is not None:
                self._fail(ConnectionRefused(
                    f"connection refused: nothing listens on port {self.remote_port}"), now)
            return
        if not seg.flags & Flags.SYN:
            return
        self._synchronize(seg, now)
        if ack is not None:
            self.tx.syn_acked(ack, seg, now)
            self._set_state(State.ESTABLISHED, now)
            self._emit(Flags.ACK, self.snd_nxt)
            self.tx.output(now)
        else:  # simultaneous open
            self._set_state(State.SYN_RECEIVED, now)
            self._emit(Flags.SYN | Flags.ACK, self.iss, options=self._syn_options(now))

    def _receive_fin(self, now: int) -> None:
        if not self.rx.receive_fin():
            return  # a receiver part that did not take the FIN: the peer will send it again
        state = self.state
        if state in (State.SYN_RECEIVED, State.ESTABLISHED):
            self._set_state(State.CLOSE_WAIT, now)
        elif state is State.FIN_WAIT_1:
            self._set_state(State.TIME_WAIT if self._fin_acked else State.CLOSING, now)
        elif state is State.FIN_WAIT_2:
            self._set_state(State.TIME_WAIT, now)
        elif state is State.TIME_WAIT:
            self._timewait_deadline = now + 2 * self.config.msl

    # ------------------------------------------------------------------ internals: ACKs
    @property
    def smss(self) -> int:
        """The sender's maximum segment size: ours, capped by what the peer announced.

        Less the 12 bytes a timestamps option takes in every segment (RFC 6691:
        the MSS counts data and options together).
        """
        return min(self.config.mss, self._peer_mss) - (12 if self.timestamps else 0)

    @property
    def _fin_acked(self) -> bool:
        return self.tx.fin_acked

    def _unwrap_ack(self, ack: int) -> int:
        """A 32-bit acknowledgment number as an absolute one, the nearest to SND.UNA."""
        una = self.snd_una
        return una + _signed(ack - (una & MASK))

    def _process_ack(self, seg: TCPSegment, seq: int, now: int) -> bool:
        """Step five of RFC 9293 3.10.7.4; returns False if the segment is to be dropped."""
        tx = self.tx
        ack = self._unwrap_ack(seg.ack)
        if ack > tx.highest_sent:
            self._emit(Flags.ACK, self.snd_nxt)  # acks something never sent
            return False
        tx.take_ack(seg, seq, ack, self._snd_shift, now)
        if tx.fin_acked:
            if self.state is State.FIN_WAIT_1:
                self._set_state(State.FIN_WAIT_2, now)
            elif self.state is State.CLOSING:
                self._set_state(State.TIME_WAIT, now)
            elif self.state is State.LAST_ACK:
                self._set_state(State.CLOSED, now)
                return False
        return True

    # ------------------------------------------------------------------ internals: sending
    def _emit(self, flags: Flags, seq: int, payload: bytes = b"", options: tuple = (),
              now: int | None = None) -> None:
        rx = self.rx
        ack = rx.rcv_nxt & MASK if flags & Flags.ACK else 0
        if flags & Flags.ACK:
            self._last_ack_sent = rx.rcv_nxt
            self._delack_deadline, self._delack_bytes = None, 0  # this one carries the ACK
        if flags & Flags.SYN:
            # Before the peer's SYN there is no receive sequence space yet: offer the whole
            # buffer. A SYN's window is never scaled (RFC 7323 2.2).
            unsynchronized = self.state in (State.CLOSED, State.LISTEN, State.SYN_SENT)
            field = min(self.config.recv_buffer if unsynchronized else rx.window, 0xFFFF)
        else:
            field = rx.window_field(self._rcv_shift)
            if not options:
                options = self._segment_options(self._now if now is None else now)
        self._out.append(TCPSegment(self.local_port, self.remote_port or 0, seq & MASK, ack, flags,
                                    field, payload, options))

    def _segment_options(self, now: int) -> tuple:
        """Options for a segment other than SYN: timestamps and SACK blocks, when agreed.

        RFC 2018: the block holding the latest out-of-order segment first, then
        the others; 3 fit beside timestamps, 4 without.
        """
        ts = (tsval(now), self._ts_recent) if self.timestamps else None
        blocks: tuple[tuple[int, int], ...] = ()
        if self.sack and self.rx.blocks_waiting:
            blocks = tuple((lo & MASK, hi & MASK)
                           for lo, hi in self.rx.sack_blocks(3 if self.timestamps else 4))
        if ts is None and not blocks:
            return ()
        return tcp_options(timestamps=ts, sack=blocks)

    def _options_length(self) -> int:
        """Bytes of options on the data segments sent now, beyond the timestamps in SMSS."""
        waiting = self.rx.blocks_waiting
        if self.sack and waiting:
            return 4 + 8 * min(waiting, 3 if self.timestamps else 4)
        return 0

    def __repr__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return (f"<TCPConnection {label}{self.local_port}->{self.remote_port} {self.state} "
                f"snd_una={self.snd_una & MASK} snd_nxt={self.snd_nxt & MASK} "
                f"rcv_nxt={self.rcv_nxt & MASK}>")
