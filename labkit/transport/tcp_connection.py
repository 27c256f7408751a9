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
- ``TCPConfig(adaptive_reordering=True)`` (off by default) raises the
  duplicate threshold when reordering is seen, as Linux's tp->reordering
  (see ``_late_hole`` and ``_detect_spurious``).

The TCP lab's parts: ``TCPConfig(receiver=..., sender=...)`` makes the
constructor return a :class:`~labkit.transport.tcp_joined.JoinedConnection`,
which joins a receiver and a sender behind the Protocols of
:mod:`labkit.transport.tcp_receiver` and :mod:`labkit.transport.tcp_sender`
(and uses ``TCPConfig.reassembler`` and ``bytestream``). This class keeps
labkit's own full receiver and sender inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from labkit.errors import LabkitError, LabkitValueError
from labkit.transport.congestion import Ack, CongestionControl, CongestionFactory, NewReno
from labkit.transport.bytestream import ByteStream, ByteStreamLike
from labkit.transport.ports import check_port
from labkit.transport.reassembler import Reassembler, ReassemblerLike
from labkit.transport.sack import Scoreboard
from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.tcp_receiver import ReceiverFactory
from labkit.transport.tcp_sender import SenderFactory

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

MASK = 0xFFFFFFFF
MS = 1_000_000
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
    #: Linux's adaptive reordering (tp->reordering), with SACK agreed, off by default: a hole
    #: filled by its late original below SACKed data, or (with timestamps) a fast
    #: retransmission the echo proves spurious (RFC 3522, Eifel detection), raises the
    #: duplicate threshold to the depth seen, up to ``max_reordering`` segments, and SACKed
    #: bytes then free the congestion window (limited transmit); a timeout with SACKed data
    #: outstanding puts it back. See benchmarks/bench_tcp_reorder.py for what it does.
    adaptive_reordering: bool = False
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


def _signed(delta: int) -> int:
    """A 32-bit sequence-number difference as a signed number (-2**31 .. 2**31 - 1)."""
    return ((delta + 0x80000000) & MASK) - 0x80000000


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


class TCPConnection:
    """One end of a TCP connection. See the module docstring for the model.

    With ``config.receiver`` or ``config.sender`` set (the TCP lab's parts),
    constructing a TCPConnection makes a
    :class:`~labkit.transport.tcp_joined.JoinedConnection`, which joins the
    parts instead of using labkit's own data path.
    """

    def __new__(cls, *args: object, **kwargs: object) -> TCPConnection:
        config = kwargs.get("config")
        if (cls is TCPConnection and isinstance(config, TCPConfig)
                and (config.receiver is not None or config.sender is not None)):
            from labkit.transport.tcp_joined import JoinedConnection  # it builds on this class

            return super().__new__(JoinedConnection)
        return super().__new__(cls)

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
        self.reordering = self.config.dupack_threshold
        #: fast and SACK retransmissions not yet acknowledged: seq -> (end, TSval, highest SACKed)
        self._rexmits: dict[int, tuple[int, int, int]] = {}
        #: bytes the peer's SACK blocks reported, beyond the cumulative ACK (RFC 2018)
        self.sacked_bytes = 0
        self.on_state_change: Callable[[TCPConnection, State, int], None] | None = None
        self._out: list[TCPSegment] = []
        self._now = 0  # the time of the call being served (for timestamps)
        # send sequence space (absolute, unwrapped)
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = iss
        self.snd_wnd = 0
        self._snd_wl1 = 0
        self._snd_wl2 = 0
        self._send_buf = bytearray()
        self._buf_start = iss + 1  # sequence number of _send_buf[0]
        self._fin_queued = False
        self._peer_mss = 536
        # options agreed in the handshake (RFC 7323, RFC 2018)
        self.window_scaling = False
        self.timestamps = False
        self.sack = False
        self._snd_shift = 0  # the peer's window scale: applied to windows it sends
        self._rcv_shift = 0  # ours: applied to windows we send
        self._ts_recent = 0  # TS.Recent: the peer's TSval to echo
        self._last_ack_sent = 0  # Last.ACK.sent (absolute)
        self._rto_tsval = 0  # our TSval when the retransmission timer last expired
        # receive sequence space
        self.irs = 0
        self.rcv_nxt = 0
        self._rcv_right = 0  # right edge of the window advertised so far
        self._rx_buf = ByteStream()  # in-order bytes waiting for the application
        self._ooo = Reassembler()
        self._peer_fin: int | None = None
        self.eof = False
        # timers (absolute deadlines, or None)
        self._rtx_deadline: int | None = None
        self._persist_deadline: int | None = None
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
        self._retries = 0
        self._probes = 0  # zero-window probes since the last ACK (the give-up counter)
        self._persist_shift = 0  # persist backoff exponent: reset only when the window opens
        # RTT estimation (RFC 6298)
        self.rto = self.config.rto_initial
        self.srtt: int | None = None
        self.rttvar = 0
        self._rtt_seq: int | None = None
        self._rtt_start = 0
        # congestion control: the controller owns cwnd and ssthresh; recovery is ours
        self.cc: CongestionControl = self.config.congestion()
        self._dupacks = 0
        self._in_recovery = False
        self._scoreboard = Scoreboard()  # RFC 2018: what the peer SACKed above SND.UNA
        self._rexmit_high = iss  # RFC 6675: holes below this were resent in this recovery
        self._lost_edge = iss  # RFC 6675 IsLost: unSACKed bytes below this are lost
        self._recover = iss  # RFC 6582's "recover": no new recovery for data sent before it
        self._syn_timed_out = False
        self.min_rtt: int | None = None
        self._flight_peak = 0  # RFC 7661: the most in flight in this RTT and the last one
        self._pipe_ack = 0
        self._peak_epoch_end = 0
        self._passive = False
        self._highest_sent = iss + 1

    # ------------------------------------------------------------------ congestion window
    @property
    def cwnd(self) -> int:
        """The congestion window in bytes (the controller's, see :attr:`cc`)."""
        return self.cc.cwnd

    @property
    def ssthresh(self) -> int:
        """The slow-start threshold in bytes (the controller's)."""
        return self.cc.ssthresh

    def _cc_record(self, now: int) -> None:
        """Append to cwnd_history if the controller changed cwnd or ssthresh."""
        point = (self.cc.cwnd, self.cc.ssthresh)
        if not self.cwnd_history or self.cwnd_history[-1][1:] != point:
            self.cwnd_history.append((now, *point))

    def _ack_event(self, now: int, acked: int, rtt: int | None, dupack: bool = False) -> Ack:
        flight = self.snd_nxt - self.snd_una
        if now >= self._peak_epoch_end:  # a new RTT-long epoch for RFC 7661's pipeACK
            self._pipe_ack, self._flight_peak = self._flight_peak, flight
            self._peak_epoch_end = now + (self.srtt or self.rto)
        used = max(self._pipe_ack, self._flight_peak)
        if self.sack and self._in_recovery:
            flight = self._pipe()
        return Ack(now=now, acked=acked, flight=flight, rtt=rtt, srtt=self.srtt,
                   min_rtt=self.min_rtt, cwnd_limited=2 * used >= self.cc.cwnd,
                   dupack=dupack, sack=self.sack, ack=self.snd_una, snd_nxt=self.snd_nxt)

    # ------------------------------------------------------------------ user calls
    def connect(self, now: int) -> None:
        """Active open: send SYN, enter SYN-SENT."""
        self._now = now
        if self.state is not State.CLOSED:
            raise TCPError(f"connect: connection is {self.state}, not CLOSED")
        if self.remote_port is None:
            raise LabkitValueError("remote_port: needed to connect")
        self._set_state(State.SYN_SENT, now)
        self._send_syn(now, ack=False)

    def listen(self, now: int = 0) -> None:
        """Passive open: wait in LISTEN for a SYN."""
        self._now = now
        if self.state is not State.CLOSED:
            raise TCPError(f"listen: connection is {self.state}, not CLOSED")
        self._passive = True
        self._set_state(State.LISTEN, now)

    def send(self, data: bytes, now: int) -> int:
        """Queue bytes to send; returns how many fit in the send buffer."""
        self._now = now
        if self.error is not None:
            raise self.error
        if self.state not in _CAN_SEND and self.state not in (State.SYN_SENT, State.SYN_RECEIVED):
            raise ConnectionClosed(f"send: connection is {self.state}")
        if self._fin_queued:
            raise ConnectionClosed("send: this end has already closed its sending side")
        room = self.config.send_buffer - len(self._send_buf)
        chunk = bytes(data[:max(0, room)])
        self._send_buf += chunk
        self._output(now)
        return len(chunk)

    def recv(self, max_bytes: int, now: int) -> bytes:
        """Take up to ``max_bytes`` received bytes (b"" if none are waiting; see :attr:`eof`)."""
        self._now = now
        if max_bytes < 0:
            raise LabkitValueError(f"max_bytes={max_bytes!r}: cannot be negative")
        data = self._rx_buf.pop(max_bytes)
        if data and self.state in _RECEIVES_DATA:
            small = min(self.config.recv_buffer // 2, self.smss)
            was = self.rcv_wnd
            self._advertise()
            # A window update only when the window was too small for a full segment (the
            # sender may be waiting on it); otherwise the next ACK carries the new window.
            if was < small <= self.rcv_wnd:
                self._emit(Flags.ACK, self.snd_nxt)
        return data

    @property
    def readable(self) -> int:
        """Bytes waiting to be read."""
        return self._rx_buf.buffered

    @property
    def send_space(self) -> int:
        return self.config.send_buffer - len(self._send_buf)

    @property
    def unacked(self) -> int:
        """Bytes queued or in flight that the peer has not acknowledged yet."""
        return len(self._send_buf)

    def close(self, now: int) -> None:
        """Close the sending side: FIN after all queued data (RFC 9293 CLOSE call)."""
        self._now = now
        if self.state in (State.CLOSED,):
            return
        if self.state in (State.LISTEN, State.SYN_SENT):
            self._set_state(State.CLOSED, now)
            return
        if self._fin_queued:
            return
        self._fin_queued = True
        if self.state in (State.SYN_RECEIVED, State.ESTABLISHED):
            self._set_state(State.FIN_WAIT_1, now)
        elif self.state is State.CLOSE_WAIT:
            self._set_state(State.LAST_ACK, now)
        self._output(now)

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
        deadlines = [d for d in (self._rtx_deadline, self._persist_deadline,
                                 self._timewait_deadline, self._delack_deadline,
                                 self._keepalive_deadline) if d is not None]
        return min(deadlines) if deadlines else None

    def tick(self, now: int) -> None:
        """Run the timers that are due at ``now``."""
        self._now = now
        if self._timewait_deadline is not None and now >= self._timewait_deadline:
            self._timewait_deadline = None
            self._set_state(State.CLOSED, now)
            return
        if self._rtx_deadline is not None and now >= self._rtx_deadline:
            self._retransmission_timeout(now)
        if self._persist_deadline is not None and now >= self._persist_deadline:
            self._persist_timeout(now)
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
        self._output(now)

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
        if reset and self._rx_buf.buffered:
            self.abort(now)
        else:
            self._rx_buf.clear()

    def _keepalive_timeout(self, now: int) -> None:
        self._keepalive_deadline = None
        if not self.keepalive or self.state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            return
        if self.snd_nxt != self.snd_una or self._persist_deadline is not None:
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
        seq = self.rcv_nxt + _signed(seg.seq - (self.rcv_nxt & MASK))
        flags, seg_len = seg.flags, seg.seg_len
        if state is State.SYN_RECEIVED and flags & Flags.SYN and flags & Flags.ACK and seq == self.irs:
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
        if not self._acceptable(seq, seg_len):
            if flags & Flags.RST:
                return
            if state is State.TIME_WAIT and flags & Flags.FIN and seq + seg_len == self.rcv_nxt:
                # RFC 9293 3.10.7.4: the only thing that can arrive in TIME-WAIT is a
                # retransmission of the remote FIN: acknowledge it and restart the 2 MSL.
                self._timewait_deadline = now + 2 * self.config.msl
            if self.rcv_wnd == 0 and seq == self.rcv_nxt and flags & Flags.ACK:
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
            if seq != self.rcv_nxt:
                self._emit(Flags.ACK, self.snd_nxt)  # RFC 5961 challenge ACK
                return
            if state is State.SYN_RECEIVED and self._passive:
                self._set_state(State.CLOSED, now)  # a half-open passive connection just goes
                return
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
            ack = self.snd_una + _signed(seg.ack - (self.snd_una & MASK))
            if not self.snd_una < ack <= self.snd_nxt:
                self._out.append(TCPSegment(self.local_port, self.remote_port or 0,
                                            seq=seg.ack, flags=Flags.RST))
                return
            self._set_state(State.ESTABLISHED, now)
            self.snd_wnd, self._snd_wl1, self._snd_wl2 = seg.window << self._snd_shift, seq, ack
        if not self._process_ack(seg, seq, now):
            return
        if self.state is State.CLOSED:
            return
        if self.keepalive:
            self._keepalive_probes = 0
            self._keepalive_deadline = now + self.config.keepalive_idle
        # 5. data
        in_order = seq == self.rcv_nxt and not len(self._ooo)
        if seg.payload and self.state in _RECEIVES_DATA:
            if self._read_shut == "reset" and seq + len(seg.payload) > self.rcv_nxt:
                self.abort(now)  # data after close(): nobody will read it (RFC 1122 4.2.2.13)
                return
            self._receive_data(seq, seg.payload)
            if self._read_shut == "discard":
                self._rx_buf.clear()
                self._advertise()
        # 6. FIN
        if flags & Flags.FIN:
            self._peer_fin = seq + len(seg.payload)
        if self._peer_fin is not None and self._peer_fin == self.rcv_nxt and not self.eof:
            self._receive_fin(now)
        if seg.payload or flags & Flags.FIN:
            self._acknowledge(len(seg.payload), in_order and not flags & Flags.FIN, now)
        self._output(now)

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
            self._rtx_deadline = self._persist_deadline = self._timewait_deadline = None
            self._delack_deadline = self._keepalive_deadline = None
        if state is State.TIME_WAIT:
            self._rtx_deadline = self._persist_deadline = None
            self._timewait_deadline = now + 2 * self.config.msl
        if state is State.ESTABLISHED and self.keepalive:
            self._keepalive_deadline = now + self.config.keepalive_idle
        if state not in (State.ESTABLISHED, State.CLOSE_WAIT):
            self._keepalive_deadline = None
        if (state is State.ESTABLISHED and self._syn_timed_out and self.srtt is None
                and self.config.rto_initial < 3 * S):
            self.rto = 3 * S  # RFC 6298 5.7: a SYN timed out, so data starts with RTO = 3 s
        if self.on_state_change is not None:
            self.on_state_change(self, state, now)

    def _fail(self, error: TCPError, now: int) -> None:
        self.error = error
        self._set_state(State.CLOSED, now)

    def _syn_options(self, now: int) -> tuple:
        """MSS, and the RFC 7323/2018 options: all offered on a SYN, only the agreed on a SYN,ACK."""
        cfg, reply = self.config, self.state is State.SYN_RECEIVED
        ws = cfg.window_scaling and (self.window_scaling or not reply)
        ts = cfg.timestamps and (self.timestamps or not reply)
        return tcp_options(mss=cfg.mss, window_scale=cfg.window_shift if ws else None,
                           sack_permitted=cfg.sack and (self.sack or not reply),
                           timestamps=(self._tsval(now), self._ts_recent if reply else 0) if ts else None)

    def _tsval(self, now: int) -> int:
        """Our timestamp clock: virtual milliseconds (RFC 7323 allows 1 ms to 1 s per tick)."""
        return (now // MS) & MASK

    def _send_syn(self, now: int, ack: bool) -> None:
        flags = Flags.SYN | (Flags.ACK if ack else Flags(0))
        self._emit(flags, self.iss, options=self._syn_options(now))
        self.snd_nxt = max(self.snd_nxt, self.iss + 1)
        if self._rtx_deadline is None:
            self._rtx_deadline = now + self.rto
        if self._retries == 0 and self._rtt_seq is None:
            self._rtt_seq, self._rtt_start = self.iss + 1, now

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
        self._send_syn(now, ack=True)

    def _synchronize(self, seg: TCPSegment, now: int) -> None:
        """Take the peer's ISS, MSS and window from its SYN."""
        self.irs = seg.seq
        self.rcv_nxt = seg.seq + 1
        self._rcv_right = self.rcv_nxt
        self._advertise(force=True)
        if seg.mss is not None:
            self._peer_mss = seg.mss
        cfg = self.config
        self.window_scaling = cfg.window_scaling and seg.window_scale is not None
        if self.window_scaling:
            self._snd_shift, self._rcv_shift = seg.window_scale or 0, cfg.window_shift
        ts = seg.timestamps
        self.timestamps = cfg.timestamps and ts is not None
        if ts is not None and self.timestamps:
            self._ts_recent = ts[0]
        self.sack = cfg.sack and seg.sack_permitted
        self.snd_wnd = seg.window  # a SYN's window is never scaled (RFC 7323 2.2)
        self._snd_wl1 = seg.seq
        self._snd_wl2 = self.snd_una
        self.cc.start(self.smss, now, sack=self.sack)
        self._cc_record(now)

    def _arrives_syn_sent(self, seg: TCPSegment, now: int) -> None:
        ack = None
        if seg.flags & Flags.ACK:
            ack = self.snd_una + _signed(seg.ack - (self.snd_una & MASK))
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
            self.snd_una = ack
            self._ack_rtt(ack, now, seg)
            self._retries = 0
            self._rtx_deadline = None
            self.snd_wnd, self._snd_wl1, self._snd_wl2 = seg.window, seg.seq, ack
            self._set_state(State.ESTABLISHED, now)
            self._emit(Flags.ACK, self.snd_nxt)
            self._output(now)
        else:  # simultaneous open
            self._set_state(State.SYN_RECEIVED, now)
            self._emit(Flags.SYN | Flags.ACK, self.iss, options=self._syn_options(now))

    # ------------------------------------------------------------------ internals: receiving
    @property
    def rcv_wnd(self) -> int:
        """The receive window as advertised: from RCV.NXT to the advertised right edge."""
        return max(0, self._rcv_right - self.rcv_nxt)

    def _advertise(self, force: bool = False) -> None:
        """Move the advertised right edge, avoiding silly windows (RFC 9293 3.8.6.2.2)."""
        right = self.rcv_nxt + self.config.recv_buffer - self._rx_buf.buffered
        step = min(self.config.recv_buffer // 2, self.smss)
        if force or right - self._rcv_right >= step:
            self._rcv_right = max(self._rcv_right, right)

    def _acceptable(self, seq: int, seg_len: int) -> bool:
        wnd = self.rcv_wnd
        if seg_len == 0:
            return seq == self.rcv_nxt if wnd == 0 else self.rcv_nxt <= seq < self.rcv_nxt + wnd
        if wnd == 0:
            return False
        end = seq + seg_len - 1
        return (self.rcv_nxt <= seq < self.rcv_nxt + wnd) or (self.rcv_nxt <= end < self.rcv_nxt + wnd)

    def _receive_data(self, seq: int, payload: bytes) -> None:
        start, data = seq, payload
        if start < self.rcv_nxt:
            data = data[self.rcv_nxt - start:]
            start = self.rcv_nxt
        data = data[: max(0, self._rcv_right - start)]
        if not data:
            return
        if start > self.rcv_nxt:
            self._ooo.insert(start, data)
            return
        self._rx_buf.push(data)
        self.rcv_nxt += len(data)
        if len(self._ooo):
            rest = self._ooo.pop(self.rcv_nxt)
            self._rx_buf.push(rest)
            self.rcv_nxt += len(rest)
        self._advertise()

    def _receive_fin(self, now: int) -> None:
        self.rcv_nxt += 1
        self._rcv_right = max(self._rcv_right, self.rcv_nxt)
        self.eof = True
        self._rx_buf.close()
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
    def _data_end(self) -> int:
        return self._buf_start + len(self._send_buf)

    @property
    def _fin_acked(self) -> bool:
        return self._fin_queued and self.snd_una > self._data_end

    def _process_ack(self, seg: TCPSegment, seq: int, now: int) -> bool:
        """Step five of RFC 9293 3.10.7.4; returns False if the segment is to be dropped."""
        ack = self.snd_una + _signed(seg.ack - (self.snd_una & MASK))
        if ack > self._highest_sent:
            self._emit(Flags.ACK, self.snd_nxt)  # acks something never sent
            return False
        self._probes = 0
        flight = self.snd_nxt - self.snd_una
        sacked = self._take_sack(seg) if self.sack else 0
        if ack > self.snd_una:
            self._new_ack(ack, now, seg, sacked)
        elif ack == self.snd_una and flight > 0 and (
                sacked > 0 if self.sack and seg.sack else
                (not seg.payload and not seg.flags & (Flags.SYN | Flags.FIN)
                 and seg.window << self._snd_shift == self.snd_wnd)):
            # a duplicate ACK: RFC 5681's definition, or with SACK one that SACKs new data
            self._duplicate_ack(now, sacked)
        # window update (RFC 9293 3.10.7.4, SND.WL1/WL2 rule)
        if self._snd_wl1 < seq or (self._snd_wl1 == seq and self._snd_wl2 <= ack):
            self.snd_wnd, self._snd_wl1, self._snd_wl2 = seg.window << self._snd_shift, seq, ack
            if self.snd_wnd > 0:
                self._persist_deadline = None
                self._persist_shift = 0
        if self._fin_acked:
            if self.state is State.FIN_WAIT_1:
                self._set_state(State.FIN_WAIT_2, now)
            elif self.state is State.CLOSING:
                self._set_state(State.TIME_WAIT, now)
            elif self.state is State.LAST_ACK:
                self._set_state(State.CLOSED, now)
                return False
        return True

    def _new_ack(self, ack: int, now: int, seg: TCPSegment | None = None, sacked: int = 0) -> None:
        acked = ack - self.snd_una + sacked
        if self.sack and self.config.adaptive_reordering:
            self._late_hole(self.snd_una, ack)
        drop = min(len(self._send_buf), max(0, ack - self._buf_start))
        del self._send_buf[:drop]
        self._buf_start += drop
        self.snd_una = ack
        if self._scoreboard:
            self._scoreboard.advance(ack)
            self._update_lost_edge()
        # After a timeout we went back to resend from SND.UNA; an ACK can cover bytes that
        # were sent before that and arrived after all.
        self.snd_nxt = max(self.snd_nxt, ack)
        self._retries = 0
        if self._rexmits:
            self._detect_spurious(ack, seg)
        rtt = self._ack_rtt(ack, now, seg)
        event = self._ack_event(now, acked, rtt)
        if self._in_recovery:
            reno_exit = not self.sack and getattr(self.cc, "partial_ack_ends_recovery", False)
            if ack >= self._recover or reno_exit:
                self._in_recovery = False  # full ACK: recovery is over (RFC 6582 3.2 step 3)
                self.cc.on_recovery_end(event)
            else:  # partial ACK: the next hole was lost too
                if not self.sack:
                    self._retransmit_first(now)  # resend it at once (with SACK: pipe decides)
                self.cc.on_recovery_ack(event)
        else:
            self.cc.on_ack(event)
        self._cc_record(now)
        self._dupacks = 0
        self._rtx_deadline = None if self.snd_una == self.snd_nxt else now + self.rto

    def _duplicate_ack(self, now: int, sacked: int = 0) -> None:
        self._dupacks += 1
        if self._in_recovery:
            self.cc.on_recovery_ack(self._ack_event(now, sacked, None, dupack=True))
        elif (self._dupacks >= self.reordering
              or (self.sack and self._lost_edge > self.snd_una)):  # RFC 6675 5 (IsLost)
            # RFC 6582 3.2 step 1: only a loss of data sent after the last recovery (or
            # timeout) starts a new one. The RFC says the ACK must cover more than
            # "recover"; labkit lets it equal it, so that losing the first segment sent
            # after a recovery is still repaired without a timeout.
            if self.snd_una < self._recover:
                return
            self.cc.on_loss(self.snd_nxt - self.snd_una, now)
            self._in_recovery = True
            self._recover = self.snd_nxt
            self._rexmit_high = self.snd_una
            self._retransmit_first(now)
        else:
            return
        self._cc_record(now)

    def _ack_rtt(self, ack: int, now: int, seg: TCPSegment | None = None) -> int | None:
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
        ts = seg.timestamps if self.timestamps and seg is not None else None
        if ts is not None and ts[1]:
            elapsed = (self._tsval(now) - ts[1]) & MASK  # whole ticks since the echoed TSval
            if elapsed < 1 << 31 and _signed(ts[1] - self._rto_tsval) >= 0:
                sample = elapsed * MS + now % MS  # from the start of that tick: never too short
                self._rtt_seq = None
                self._rtt_sample(sample, now)
                return sample
        if self._rtt_seq is None or ack < self._rtt_seq:
            return None
        sample = now - self._rtt_start
        self._rtt_seq = None
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

    # ------------------------------------------------------------------ internals: sending
    def _emit(self, flags: Flags, seq: int, payload: bytes = b"", options: tuple = (),
              now: int | None = None) -> None:
        ack = self.rcv_nxt & MASK if flags & Flags.ACK else 0
        if flags & Flags.ACK:
            self._last_ack_sent = self.rcv_nxt
            self._delack_deadline, self._delack_bytes = None, 0  # this one carries the ACK
        if flags & Flags.SYN:
            # Before the peer's SYN there is no receive sequence space yet: offer the whole
            # buffer. A SYN's window is never scaled (RFC 7323 2.2).
            unsynchronized = self.state in (State.CLOSED, State.LISTEN, State.SYN_SENT)
            field = min(self.config.recv_buffer if unsynchronized else self.rcv_wnd, 0xFFFF)
        else:
            # Scaled, rounded up so the advertised edge is exactly what the peer reads;
            # the receiver then takes data up to that edge (RFC 7323 2.4).
            shift = self._rcv_shift
            field = min(0xFFFF, (self.rcv_wnd + (1 << shift) - 1) >> shift)
            self._rcv_right = max(self._rcv_right, self.rcv_nxt + (field << shift))
            if not options:
                options = self._segment_options(self._now if now is None else now)
        self._out.append(TCPSegment(self.local_port, self.remote_port or 0, seq & MASK, ack, flags,
                                    field, payload, options))

    def _segment_options(self, now: int) -> tuple:
        """Options for a segment other than SYN: timestamps and SACK blocks, when agreed.

        RFC 2018: the block holding the latest out-of-order segment first, then
        the others; 3 fit beside timestamps, 4 without.
        """
        ts = (self._tsval(now), self._ts_recent) if self.timestamps else None
        blocks: tuple[tuple[int, int], ...] = ()
        if self.sack and len(self._ooo):
            blocks = tuple((lo & MASK, hi & MASK)
                           for lo, hi in self._ooo.blocks(3 if self.timestamps else 4))
        if ts is None and not blocks:
            return ()
        return tcp_options(timestamps=ts, sack=blocks)

    def _options_length(self) -> int:
        """Bytes of options on the data segments sent now, beyond the timestamps in SMSS."""
        if self.sack and len(self._ooo):
            return 4 + 8 * min(len(self._ooo), 3 if self.timestamps else 4)
        return 0

    def _segment_at(self, seq: int, limit: int) -> tuple[bytes, bool]:
        """Data (at most ``limit`` bytes) starting at ``seq``, and whether FIN follows it."""
        offset = seq - self._buf_start
        data = bytes(self._send_buf[offset:offset + limit])
        fin = self._fin_queued and seq + len(data) == self._data_end
        return data, fin

    def _output(self, now: int) -> None:
        """Send what the windows allow.

        Normally RFC 5681's rule: min(cwnd, rwnd) minus what is in flight. In
        loss recovery with SACK, RFC 6675's: while ``cwnd - pipe`` leaves a
        segment's room, first the lost holes (rule 1 of NextSeg), then new
        data within the peer's window (rule 2).
        """
        if self.state not in _SENDS_DATA:
            return
        smss = self.smss - self._options_length()
        sack_recovery = self._in_recovery and self.sack
        pipe = self._pipe() if sack_recovery else 0
        board = self._scoreboard
        while True:
            if sack_recovery:
                if self.cc.cwnd - pipe < smss:
                    break
                resent = self._retransmit_lost(now, smss)
                if resent:
                    pipe += resent
                    continue
            elif board and self.snd_nxt < self._highest_sent:
                # going back after a timeout: skip what the peer has SACKed
                end = board.sacked(self.snd_nxt)
                if end is not None:
                    self.snd_nxt = min(end, self._highest_sent)
                    continue
            flight = self.snd_nxt - self.snd_una
            unsent = self._data_end - self.snd_nxt
            fin_pending = self._fin_queued and self.snd_nxt <= self._data_end
            if unsent <= 0 and not fin_pending:
                break
            if sack_recovery:
                room = min(self.cc.cwnd - pipe, self.snd_una + self.snd_wnd - self.snd_nxt)
            elif board and self.reordering > self.config.dupack_threshold:
                # Reordering was seen, so the threshold is higher: let SACKed bytes free the
                # congestion window as they would in recovery (RFC 3042's limited transmit,
                # stretched to the threshold, as Linux counts packets in flight), or a small
                # window stalls below the threshold until the RTO.
                pipe_out = board.unsacked(self.snd_una, self.snd_nxt)
                room = min(self.cwnd - pipe_out, self.snd_wnd - flight)
            else:
                room = min(self.cwnd, self.snd_wnd) - flight
            if board and self.snd_nxt < self._highest_sent:
                nxt = board.next_sacked_start(self.snd_nxt)
                if nxt is not None:
                    unsent = min(unsent, nxt - self.snd_nxt)
            if unsent > 0:
                if room <= 0:
                    break
                n = min(smss, unsent, room)
                if n < smss and n < unsent and flight > 0:
                    break  # sender-side silly window avoidance: wait for a full segment's room
                if (n < smss and n == unsent and flight > 0 and not self.nodelay
                        and not self._fin_queued and self.snd_nxt >= self._highest_sent):
                    break  # Nagle (RFC 896): one small segment in flight at a time
            else:
                n = 0
            data, fin = self._segment_at(self.snd_nxt, n)
            flags = Flags.ACK | (Flags.PSH if data and len(data) == unsent else Flags(0))
            if fin:
                flags |= Flags.FIN
            retransmission = self.snd_nxt < self._highest_sent
            self._emit(flags, self.snd_nxt, data)
            if retransmission:
                self.retransmissions += 1
            elif self._rtt_seq is None:
                self._rtt_seq, self._rtt_start = self.snd_nxt + len(data) + fin, now
            self.snd_nxt += len(data) + fin
            pipe += len(data) + fin
            self._highest_sent = max(self._highest_sent, self.snd_nxt)
            self._flight_peak = max(self._flight_peak, self.snd_nxt - self.snd_una)
            if self._rtx_deadline is None:
                self._rtx_deadline = now + self.rto
        # zero window with data waiting and nothing in flight: the persist timer probes
        if (self.snd_wnd == 0 and self._data_end > self.snd_nxt and self.snd_nxt == self.snd_una
                and self._persist_deadline is None):
            self._persist_deadline = now + self.rto

    def _retransmit_first(self, now: int) -> None:
        """Resend the first unacknowledged segment (fast retransmit, partial ACK)."""
        self.retransmissions += 1
        self._rtt_seq = None  # Karn: never time a retransmitted segment
        if self.state in (State.SYN_SENT, State.SYN_RECEIVED):
            flags = Flags.SYN | (Flags.ACK if self.state is State.SYN_RECEIVED else Flags(0))
            self._emit(flags, self.iss, options=self._syn_options(now))
        else:
            limit = self.smss - self._options_length()
            nxt = self._scoreboard.next_sacked_start(self.snd_una)
            if nxt is not None:
                limit = min(limit, nxt - self.snd_una)  # only the hole, not what was SACKed
            data, fin = self._segment_at(self.snd_una, limit)
            flags = Flags.ACK | (Flags.FIN if fin else Flags(0))
            if data or fin:
                self._emit(flags, self.snd_una, data)
                self._rexmit_high = max(self._rexmit_high, self.snd_una + len(data) + fin)
                self._note_rexmit(self.snd_una, now)
        self._rtx_deadline = now + self.rto

    # ------------------------------------------------------------------ internals: SACK
    def _pipe(self) -> int:
        """RFC 6675 SetPipe: the bytes this sender believes are still in the network."""
        return self._scoreboard.pipe(self.snd_una, self.snd_nxt, self._lost_edge,
                                     self._rexmit_high)

    def _retransmit_lost(self, now: int, limit: int) -> int:
        """RFC 6675 NextSeg rule 1: resend the first lost hole not yet resent; bytes sent (or 0)."""
        board = self._scoreboard
        seq = max(self._rexmit_high, self.snd_una)
        end = board.sacked(seq)
        while end is not None:
            seq = end
            end = board.sacked(seq)
        if seq >= self._lost_edge or seq >= self.snd_nxt:
            return 0
        nxt = board.next_sacked_start(seq)
        if nxt is not None:
            limit = min(limit, nxt - seq)
        data, fin = self._segment_at(seq, min(limit, self._lost_edge - seq))
        if not data and not fin:
            return 0
        self._emit(Flags.ACK | (Flags.FIN if fin else Flags(0)), seq, data)
        self.retransmissions += 1
        self._rtt_seq = None
        self._rexmit_high = seq + len(data) + fin
        self._note_rexmit(seq, now)
        if self._rtx_deadline is None:
            self._rtx_deadline = now + self.rto
        return len(data) + fin

    def _take_sack(self, seg: TCPSegment) -> int:
        """Add the segment's SACK blocks to the scoreboard; returns the bytes newly SACKed."""
        blocks = seg.sack
        if not blocks:
            return 0
        una, high, new = self.snd_una, self._highest_sent, 0
        for left, right in blocks:
            lo = una + _signed(left - (una & MASK))
            hi = una + _signed(right - (una & MASK))
            if una < hi <= high and lo < hi:  # RFC 2018: ignore blocks outside the window
                new += self._scoreboard.add(max(lo, una), hi)
        if new:
            self.sacked_bytes += new
            self._update_lost_edge()
        return new

    def _note_rexmit(self, seq: int, now: int) -> None:
        """Remember a fast or SACK retransmission, to tell later whether it was needed."""
        if self.sack and self.config.adaptive_reordering:
            board = self._scoreboard.ranges
            end = self._rexmit_high if self._rexmit_high > seq else seq + 1
            self._rexmits[seq] = (end, self._tsval(now), board[-1][1] if board else self.snd_nxt)

    def _detect_spurious(self, ack: int, seg: TCPSegment | None) -> None:
        """RFC 3522 (Eifel detection): was a retransmission now acknowledged needless?

        The ACK that covers a retransmitted hole echoes the TSval of the
        segment that filled it (RFC 7323 4.3). An echo older than the
        retransmission's own TSval means the original arrived: the segment
        was only late, and the reordering was at least as deep as the SACKed
        data above it then. Linux raises tp->reordering to that depth; so
        does labkit (``self.reordering``, in segments).
        """
        ts = seg.timestamps if self.timestamps and seg is not None else None
        for seq in [s for s in self._rexmits if s < ack]:
            _, tsval, fack = self._rexmits.pop(seq)
            if ts is not None and ts[1] and _signed(ts[1] - tsval) < 0:
                self.spurious_retransmissions += 1
                self._reordered(fack - seq)

    def _reordered(self, depth: int) -> None:
        """Reordering ``depth`` bytes deep was seen: raise the threshold to it (Linux's rule)."""
        segments = (depth + self.smss - 1) // self.smss
        self.reordering = min(self.config.max_reordering, max(self.reordering, segments))

    def _late_hole(self, una: int, ack: int) -> None:
        """A cumulative ACK filled the hole at ``una`` with its original: reordering, not loss.

        Linux's tcp_check_sack_reordering: a segment never retransmitted is
        acknowledged below the highest SACKed byte, so the network reorders
        at least that deep. Seen before any retransmission was needed, it
        saves the spurious fast retransmits the fixed threshold would send.
        Not after a timeout (the go-back resent the holes).
        """
        board = self._scoreboard.ranges
        if not board or not (self._in_recovery or una >= self._recover):
            return
        for seq, (end, _, _) in self._rexmits.items():
            if seq <= una < end:
                return  # the hole was retransmitted: its filling says nothing
        self._reordered(board[-1][1] - una)

    def _update_lost_edge(self) -> None:
        threshold = (self.reordering - 1) * self.smss
        self._lost_edge = self._scoreboard.lost_edge(self.snd_una, threshold)

    def _retransmission_timeout(self, now: int) -> None:
        self._rtx_deadline = None
        outstanding = self.snd_nxt > self.snd_una
        if not outstanding:
            return
        self._retries += 1
        self.timeouts += 1
        self._rto_tsval = self._tsval(now)
        # Linux (tcp_enter_loss): a timeout outside recovery with SACKed segments outstanding
        # says the reordering was over-estimated: back to the default threshold.
        if (not self._in_recovery and self.reordering > self.config.dupack_threshold
                and self._scoreboard.unsacked(self.snd_una, self.snd_nxt)
                < self.snd_nxt - self.snd_una - (self.config.dupack_threshold - 1) * self.smss):
            self.reordering = self.config.dupack_threshold
            self._update_lost_edge()
        self._rexmits.clear()  # go-back resends are not fast retransmissions
        if self._retries > self.config.max_retransmissions:
            self._fail(ConnectionTimeout(
                f"connection timed out: {self.config.max_retransmissions} retransmissions of "
                f"sequence number {self.snd_una & MASK} went unanswered"), now)
            return
        if self.state in _SYNCHRONIZED:
            self.cc.on_timeout(self.snd_nxt - self.snd_una, now)
            self._cc_record(now)
        else:
            self._syn_timed_out = True
        # RFC 6582 section 4: after a timeout, no fast retransmit for the duplicate ACKs
        # that the go-back resends of data already received will draw.
        self._in_recovery = False
        self._recover = self._highest_sent
        self._dupacks = 0
        self.rto = min(self.config.rto_max, self.rto * 2)  # exponential backoff
        self._rtt_seq = None
        if self.state in (State.SYN_SENT, State.SYN_RECEIVED):
            self._retransmit_first(now)
            return
        self.snd_nxt = self.snd_una  # go back: resend from the first unacknowledged byte
        self._output(now)
        if self._rtx_deadline is None:
            self._rtx_deadline = now + self.rto

    def _persist_timeout(self, now: int) -> None:
        self._persist_deadline = None
        if self.snd_wnd > 0 or self._data_end <= self.snd_nxt:
            self._output(now)
            return
        self._probes += 1
        if self._probes > self.config.max_retransmissions:
            self._fail(ConnectionTimeout("connection timed out: zero-window probes unanswered"), now)
            return
        data, _ = self._segment_at(self.snd_nxt, 1)
        self._emit(Flags.ACK, self.snd_nxt, data)  # a one-byte window probe
        # The probe's byte has been sent: a receiver whose window opened meanwhile takes it
        # and acknowledges it, and that ACK must not be refused as acknowledging something
        # never sent (that answer, an ACK of our own, began an ACK war that stalled the
        # connection). SND.NXT stays: the byte goes again, as data, once the window opens.
        self._highest_sent = max(self._highest_sent, self.snd_nxt + len(data))
        # RFC 1122 4.2.2.17: the interval doubles from probe to probe, answered or not
        # (answers reset only the give-up counter, _probes); it resets when the window opens.
        self._persist_shift += 1
        backoff = min(self.config.rto_max, self.rto << min(self._persist_shift, 16))
        self._persist_deadline = now + backoff

    def __repr__(self) -> str:
        label = f"{self.name} " if self.name else ""
        return (f"<TCPConnection {label}{self.local_port}->{self.remote_port} {self.state} "
                f"snd_una={self.snd_una & MASK} snd_nxt={self.snd_nxt & MASK} "
                f"rcv_nxt={self.rcv_nxt & MASK}>")
