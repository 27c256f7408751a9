"""A TCP connection joined from parts: the TCP lab's state machine (CS144's TCPPeer).

``TCPConnection(..., config=TCPConfig(receiver=..., sender=...))`` makes a
:class:`JoinedConnection`: the same calls, the same states, timers and
errors as labkit's own connection, but the data path is the parts'. Each
arriving segment is split into a :class:`~labkit.transport.tcp_messages.TCPSenderMessage`
for the receiver (seqno, SYN, payload, FIN) and a
:class:`~labkit.transport.tcp_messages.TCPReceiverMessage` for the sender
(ackno, window); each message the sender transmits becomes one segment, with
the receiver's ackno and window on it. The part not given is labkit's
reference part (:class:`~labkit.transport.tcp_receiver.TCPReceiver`,
:class:`~labkit.transport.tcp_sender.TCPSender`).

What the connection keeps for itself, whatever the parts:

- the eleven states (RFC 9293 3.3.2), driven by what the parts did: our FIN
  sent and acknowledged (the sender's messages and sequence numbers in
  flight), the peer's FIN reached (the receiver's ackno passes it);
- acceptability of arriving segments (3.10.7.4 step 1), RST (with RFC 5961
  challenge ACKs), SYN in a synchronized state, RST for an ACK of something
  never sent, TIME-WAIT's 2 MSL and RFC 1337;
- RFC 5681's duplicate ACK: a segment with data, SYN or FIN reaches the
  sender only if its ackno or window is new, so a sender that counts
  repeated (ackno, window) pairs counts pure ACKs only;
- an ACK for every arriving segment that occupies sequence space (or is not
  acceptable), when the sender has nothing to carry it;
- a window update when reading opens a window smaller than a segment;
- the clock: the sender is ticked with the whole milliseconds elapsed before
  every call, and woken at its :meth:`~TCPSenderLike.next_timeout_ms`;
- giving up with :class:`ConnectionTimeout` after ``max_retransmissions``
  consecutive retransmissions;
- ``shutdown(SHUT_RD)`` and ``close()``'s RST for data nobody will read.

Negotiated down: the SYN offers the MSS option only, so the peer uses no
window scaling, SACK or timestamps (RFC 7323 and 2018 fall back when the SYN
does not offer them), and the windows stay within 65,535 bytes. Left out
with parts: keep-alive, delayed ACKs and Nagle (a learner's sender decides
what it sends).
"""

from __future__ import annotations

import numpy as np

from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.tcp_connection import (
    ConnectionClosed,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimeout,
    State,
    TCPConfig,
    TCPConnection,
    TCPError,
    rst_for,
)
from labkit.transport.tcp_full_receiver import acceptable
from labkit.transport.tcp_full_sender import MASK, MS
from labkit.transport.tcp_full_sender import signed_delta as _signed
from labkit.errors import LabkitValueError
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32
from labkit.transport.tcp_receiver import TCPReceiver, TCPReceiverLike
from labkit.transport.tcp_sender import TCPSender, TCPSenderLike

__all__ = ["JoinedConnection"]

_SYNCHRONIZED = {State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT,
                 State.CLOSING, State.LAST_ACK, State.TIME_WAIT}
_RECEIVES_DATA = {State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2}
_CAN_SEND = {State.ESTABLISHED, State.CLOSE_WAIT, State.SYN_SENT, State.SYN_RECEIVED}


class JoinedConnection(TCPConnection):
    """One end of a TCP connection whose receiver and sender are parts. See the module docstring."""

    def __init__(
        self,
        local_port: int,
        remote_port: int | None = None,
        *,
        iss: int | np.random.Generator,
        config: TCPConfig | None = None,
        name: str = "",
    ) -> None:
        super().__init__(local_port, remote_port, iss=iss, config=config, name=name)
        cfg = self.config
        self.outbound = cfg.bytestream()  # the application's bytes, for the sender
        self.inbound = cfg.bytestream()  # the receiver's bytes, for the application
        make_receiver = cfg.receiver or TCPReceiver
        make_sender = cfg.sender or TCPSender
        capacity = min(cfg.recv_buffer, 0xFFFF)
        self.receiver: TCPReceiverLike = make_receiver(cfg.reassembler(), self.inbound, capacity)
        self.sender: TCPSenderLike = make_sender(self.outbound, Wrap32(self.iss), cfg)
        self._tick_base = 0  # the virtual time (ns) the sender's clock has reached
        self._sent_any = False
        self._our_fin: int | None = None  # absolute seqno of our FIN, once sent
        self._last_heard: tuple[int, int] | None = None  # (ack, window) last given to the sender

    # ------------------------------------------------------------------ user calls
    def connect(self, now: int) -> None:
        self._now = now
        if self.state is not State.CLOSED:
            raise TCPError(f"connect: connection is {self.state}, not CLOSED")
        if self.remote_port is None:
            raise LabkitValueError("remote_port: needed to connect")
        self._tick_base = now
        self._set_state(State.SYN_SENT, now)
        self._push(now)

    def listen(self, now: int = 0) -> None:
        super().listen(now)
        self._tick_base = now

    def send(self, data: bytes, now: int) -> int:
        self._clock(now)
        if self.error is not None:
            raise self.error
        if self.state not in _CAN_SEND:
            raise ConnectionClosed(f"send: connection is {self.state}")
        if self._fin_queued:
            raise ConnectionClosed("send: this end has already closed its sending side")
        chunk = bytes(data[:max(0, self.send_space)])
        if chunk:
            self.outbound.push(chunk)
        self._push(now)
        return len(chunk)

    def recv(self, max_bytes: int, now: int) -> bytes:
        self._clock(now)
        if max_bytes < 0:
            raise LabkitValueError(f"max_bytes={max_bytes!r}: cannot be negative")
        was = self.receiver.send().window_size
        data = self.inbound.pop(max_bytes)
        if data and self.state in _RECEIVES_DATA:
            small = min(self.config.recv_buffer // 2, self.smss)
            if was < small <= self.receiver.send().window_size:
                self._ack(now)  # the sender may be waiting on a window that had no room
        return data

    @property
    def readable(self) -> int:
        return self.inbound.buffered

    @property
    def send_space(self) -> int:
        return max(0, self.config.send_buffer - self.unacked)

    @property
    def unacked(self) -> int:
        in_flight = self.sender.sequence_numbers_in_flight() if self._sent_any else 0
        return self.outbound.buffered + in_flight

    def close(self, now: int) -> None:
        self._clock(now)
        if self.state is State.CLOSED:
            return
        if self.state in (State.LISTEN, State.SYN_SENT):
            self._set_state(State.CLOSED, now)
            return
        if self._fin_queued:
            return
        self._fin_queued = True
        self.outbound.close()
        if self.state in (State.SYN_RECEIVED, State.ESTABLISHED):
            self._set_state(State.FIN_WAIT_1, now)
        elif self.state is State.CLOSE_WAIT:
            self._set_state(State.LAST_ACK, now)
        self._push(now)

    def abort(self, now: int) -> None:
        self._sync()
        super().abort(now)

    def push(self, now: int) -> None:
        self._clock(now)
        self._push(now)

    def close_read(self, now: int, reset: bool = False) -> None:
        self._now = now
        self._read_shut = "reset" if reset else "discard"
        if reset and self.inbound.buffered:
            self.abort(now)
        else:
            self.inbound.clear()

    def set_keepalive(self, on: bool, now: int) -> None:
        self.keepalive = bool(on)  # recorded; keep-alive probes are not sent with parts

    # ------------------------------------------------------------------ timers
    def next_timer(self) -> int | None:
        deadlines = [d for d in (self._timewait_deadline,) if d is not None]
        if self.state not in (State.CLOSED, State.LISTEN, State.TIME_WAIT) and self._sent_any:
            wait = self.sender.next_timeout_ms()
            if wait is not None:
                deadlines.append(self._tick_base + wait * MS)
        return min(deadlines) if deadlines else None

    def tick(self, now: int) -> None:
        self._now = now
        if self._timewait_deadline is not None and now >= self._timewait_deadline:
            self._timewait_deadline = None
            self._set_state(State.CLOSED, now)
            return
        deadline = self.next_timer()
        self._clock(now, due=deadline is not None and now >= deadline)

    def _clock(self, now: int, due: bool = False) -> None:
        """Tell the sender how many whole milliseconds have passed; give up if it has retried too often.

        ``due``: the sender's timer is due now, so it is ticked even if less
        than a millisecond has passed (a sender may ask for a tick at 0 ms).
        """
        self._now = now
        elapsed = max(0, (now - self._tick_base) // MS)
        self._tick_base += elapsed * MS
        if not self._sent_any or self.state in (State.CLOSED, State.LISTEN, State.TIME_WAIT):
            return
        if elapsed == 0 and not due:
            return
        before = len(self._out)
        self.sender.tick(elapsed, self._transmit)
        if self.sender.consecutive_retransmissions() > self.config.max_retransmissions:
            # the expiry past the limit gives up instead of sending once more, as labkit's TCP
            del self._out[before:]
            self._fail(ConnectionTimeout(
                f"connection timed out: {self.config.max_retransmissions} retransmissions of "
                f"sequence number {self.snd_una & MASK} went unanswered"), now)
        self._sync()

    # ------------------------------------------------------------------ arriving segments
    def segment_arrives(self, seg: TCPSegment, now: int) -> None:
        self._clock(now)
        state = self.state
        if state is State.CLOSED:
            rst = rst_for(seg)
            if rst is not None:
                self._out.append(rst)
            return
        flags = seg.flags
        if state is State.LISTEN:
            if flags & Flags.RST:
                return
            if flags & Flags.ACK:
                self._out.append(TCPSegment(self.local_port, seg.src_port, seq=seg.ack,
                                            flags=Flags.RST))
                return
            if not flags & Flags.SYN:
                return
            self.remote_port = seg.src_port
            self._take_syn(seg)
            self._set_state(State.SYN_RECEIVED, now)
            self._push(now)
            return
        if state is State.SYN_SENT:
            self._arrives_syn_sent_joined(seg, now)
            return
        seq = self.rcv_nxt + _signed(seg.seq - (self.rcv_nxt & MASK))
        seg_len = seg.seg_len
        if state is State.SYN_RECEIVED and flags & Flags.SYN and seq == self.irs:
            flags, seq, seg_len = flags & ~Flags.SYN, seq + 1, seg_len - 1  # simultaneous open
        if not self._acceptable(seq, seg_len):
            if flags & Flags.RST:
                return
            if state is State.TIME_WAIT and flags & Flags.FIN and seq + seg_len == self.rcv_nxt:
                self._timewait_deadline = now + 2 * self.config.msl
            self._ack(now)
            return
        if flags & Flags.RST:
            if state is State.TIME_WAIT:
                return  # RFC 1337
            if seq != self.rcv_nxt:
                self._ack(now)  # RFC 5961 challenge ACK
                return
            if state is State.SYN_RECEIVED and self._passive:
                self._set_state(State.CLOSED, now)
                return
            self.receiver.receive(TCPSenderMessage(Wrap32(seg.seq), RST=True))
            self._fail(ConnectionReset(f"connection reset by peer (port {self.remote_port})"), now)
            return
        if flags & Flags.SYN:
            self._ack(now)  # RFC 5961 4.2
            return
        if not flags & Flags.ACK:
            return
        ack = self.snd_una + _signed(seg.ack - (self.snd_una & MASK))
        if state is State.SYN_RECEIVED:
            if not self.snd_una < ack <= self.snd_nxt:
                self._out.append(TCPSegment(self.local_port, self.remote_port or 0,
                                            seq=seg.ack, flags=Flags.RST))
                return
            self._set_state(State.ESTABLISHED, now)
        if ack > self._highest_sent:
            self._ack(now)  # acknowledges something never sent
            return
        # RFC 5681 2: a segment that carries data (or SYN, FIN) is never a duplicate ACK. The
        # sender sees only ackno and window, so such a segment goes to it only when it tells
        # something new; a bare ACK always goes.
        heard = (seg.ack, seg.window)
        if seg_len == 0 or heard != self._last_heard:
            self._last_heard = heard
            self.sender.receive(TCPReceiverMessage(Wrap32(seg.ack), seg.window))
        self._sync()
        if self._our_fin is not None and self.snd_una > self._our_fin:
            if self.state is State.FIN_WAIT_1:
                self._set_state(State.FIN_WAIT_2, now)
            elif self.state is State.CLOSING:
                self._set_state(State.TIME_WAIT, now)
            elif self.state is State.LAST_ACK:
                self._set_state(State.CLOSED, now)
                return
        if seg.payload or flags & Flags.FIN:
            if self.state in _RECEIVES_DATA:
                if (self._read_shut == "reset" and seg.payload
                        and seq + len(seg.payload) > self.rcv_nxt):
                    self.abort(now)  # data after close(): nobody will read it
                    return
                self.receiver.receive(TCPSenderMessage(Wrap32(seg.seq), payload=seg.payload,
                                                       FIN=bool(flags & Flags.FIN)))
                if self._read_shut == "discard":
                    self.inbound.clear()
                if flags & Flags.FIN:
                    self._peer_fin = seq + len(seg.payload)
                self._sync()
                if self._peer_fin is not None and self.rcv_nxt > self._peer_fin and not self.eof:
                    self._receive_fin(now)
        sent = len(self._out)
        self._push(now)
        if seg_len > 0 and len(self._out) == sent and self.state is not State.CLOSED:
            self._ack(now)

    def _arrives_syn_sent_joined(self, seg: TCPSegment, now: int) -> None:
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
        self._take_syn(seg)
        if ack is not None:
            self._last_heard = (seg.ack, seg.window)
            self.sender.receive(TCPReceiverMessage(Wrap32(seg.ack), seg.window))
            self._sync()
            self._set_state(State.ESTABLISHED, now)
            sent = len(self._out)
            self._push(now)
            if len(self._out) == sent:
                self._ack(now)
        else:  # simultaneous open: our SYN again, now with the ACK of theirs
            self._set_state(State.SYN_RECEIVED, now)
            self._emit_message(TCPSenderMessage(Wrap32(self.iss), SYN=True))

    def _take_syn(self, seg: TCPSegment) -> None:
        self.irs = seg.seq
        if seg.mss is not None:
            self._peer_mss = seg.mss
        self.receiver.receive(TCPSenderMessage(Wrap32(seg.seq), SYN=True))
        self._sync()

    # ------------------------------------------------------------------ internals
    def _receive_fin(self, now: int) -> None:
        self.eof = True
        state = self.state
        if state in (State.SYN_RECEIVED, State.ESTABLISHED):
            self._set_state(State.CLOSE_WAIT, now)
        elif state is State.FIN_WAIT_1:
            self._set_state(State.TIME_WAIT if self._fin_acked else State.CLOSING, now)
        elif state is State.FIN_WAIT_2:
            self._set_state(State.TIME_WAIT, now)

    @property
    def _fin_acked(self) -> bool:
        return self._our_fin is not None and self.snd_una > self._our_fin

    @property
    def rcv_wnd(self) -> int:
        return self.receiver.send().window_size

    def _acceptable(self, seq: int, seg_len: int) -> bool:
        return acceptable(self.rcv_nxt, self.rcv_wnd, seq, seg_len)

    def _sync(self) -> None:
        """Mirror the parts' sequence numbers in the TCB's fields (snd_una, snd_nxt, rcv_nxt)."""
        if self._sent_any:
            nxt = self.sender.make_empty_message().seqno
            self.snd_nxt = self.iss + nxt.unwrap(Wrap32(self.iss), self.snd_nxt - self.iss)
            self.snd_una = self.snd_nxt - self.sender.sequence_numbers_in_flight()
        ackno = self.receiver.send().ackno
        if ackno is not None:
            self.rcv_nxt = self.irs + ackno.unwrap(Wrap32(self.irs & MASK), self.rcv_nxt - self.irs)

    def _push(self, now: int) -> None:
        if self.state in (State.CLOSED, State.LISTEN, State.TIME_WAIT):
            return
        self.sender.push(self._transmit)
        self._sync()

    def _transmit(self, message: TCPSenderMessage) -> None:
        seq = self.iss + message.seqno.unwrap(Wrap32(self.iss), self._highest_sent - self.iss)
        if self._sent_any and seq < self._highest_sent:
            self.retransmissions += 1
        self._sent_any = True
        end = seq + message.sequence_length
        self._highest_sent = max(self._highest_sent, end)
        if message.FIN:
            self._our_fin = end - 1
        self._emit_message(message)

    def _emit_message(self, message: TCPSenderMessage) -> None:
        answer = self.receiver.send()
        flags = Flags(0)
        ack = 0
        if answer.ackno is not None:
            flags |= Flags.ACK
            ack = answer.ackno.raw
        if message.SYN:
            flags |= Flags.SYN
        if message.FIN:
            flags |= Flags.FIN
        if message.RST or answer.RST:
            flags |= Flags.RST
        if message.payload:
            flags |= Flags.PSH
        options = tcp_options(mss=self.config.mss) if message.SYN else ()
        self._out.append(TCPSegment(self.local_port, self.remote_port or 0, message.seqno.raw, ack,
                                    flags, min(0xFFFF, max(0, answer.window_size)),
                                    message.payload, options))

    def _ack(self, now: int) -> None:
        """A bare ACK (the sender's next seqno, the receiver's ackno and window)."""
        if self.state in (State.CLOSED, State.LISTEN):
            return
        self._emit_message(self.sender.make_empty_message() if self._sent_any
                           else TCPSenderMessage(Wrap32(self.iss)))
