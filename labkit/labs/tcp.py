"""Lab 4's grader: the learner's reliable transport, TCP parts and congestion controller.

Three parts, each graded by scenario tests in CS144's style: actions and
expectations on a virtual clock, with exact sequence numbers and exact
retransmission times; a failure prints the step log (what was done, what was
expected, what happened) and a hint.

1. **Reliable delivery from scratch** (:mod:`labkit.labs.arq`): stop-and-wait,
   go-back-N and selective repeat over labkit.sim, with scripted faults (the
   2nd data frame dropped, ...) and then random loss, duplication,
   reordering and corruption together.
2. **TCP by parts**: a byte stream with a capacity, a reassembler (bounded
   memory), a TCP receiver and a TCP sender behind labkit's interfaces
   (:mod:`labkit.transport.bytestream`, :mod:`~labkit.transport.reassembler`,
   :mod:`~labkit.transport.tcp_receiver`, :mod:`~labkit.transport.tcp_sender`;
   messages and :class:`~labkit.transport.tcp_messages.Wrap32` in
   :mod:`~labkit.transport.tcp_messages`). The sender is ticked in whole
   milliseconds, as in CS144, and every message it hands over is logged with
   its time.
3. **A congestion controller of one's own** through
   :mod:`labkit.transport.congestion`'s door: its rules by direct calls, then
   a race against Reno on a shared bottleneck (:func:`race`; the notebook's figure uses
   :mod:`labkit.bottleneck`, which sits above the graders).

labkit's own byte stream, reassembler, receiver, sender and controllers are
out of reach of the learner's code during a test (the peer's labkit TCP
still uses its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.labs.arq import (
    ArqRun,
    End,
    ack_frame,
    data_frame,
    is_data,
    messages,
    parse_frame,
    run_arq,
)
from labkit.labs.grading import _enter, inside, run_checks
from labkit.sim.impair import Fault
from labkit.testing import Scenario
from labkit.transport.congestion import Ack
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32
from labkit.units import parse_rate

__all__ = [
    "End", "ArqRun", "run_arq", "data_frame", "ack_frame", "parse_frame", "is_data", "messages",
    "check_stop_and_wait", "check_go_back_n", "check_selective_repeat", "check_arq_robust",
    "check_byte_stream", "check_reassembler", "check_reassembler_capacity", "check_receiver",
    "check_receiver_out_of_order", "check_sender", "check_sender_window", "check_sender_timer",
    "check_fast_retransmit", "check_zero_window", "check_connection", "check_controller",
    "check_race", "race", "describe", "unlimited_config", "parts_config", "transfer",
]

MS = 1_000_000
S = 1_000_000_000


def _run(title: str, body: Callable[[], int], seconds: float = 20.0) -> None:
    run_checks("tcp", title, body, seconds=seconds)


# ---------------------------------------------------------------------------------- part 1: ARQ
def _arq(title: str, hint: str, make: Callable[[], tuple[Any, Any]], msgs: list[bytes],
         expect_sent: list[tuple[float, int]] | None, expect_finish: float | None,
         why: str, **link: Any) -> int:
    """One scripted ARQ run as a scenario: the data frames sent (ms, seq), delivery, its time."""
    s: Scenario[Any] = Scenario(title, None, hint=hint)
    sender, receiver = make()
    link_text = ", ".join(f"{k}={v}" for k, v in link.items() if k not in ("faults", "ack_faults"))
    result = s.do(f"send {len(msgs)} messages over a link ({link_text}); {why}",
                  lambda: run_arq(sender, receiver, msgs, graded=True, **link))
    s.expect_equal("every message delivered once, in order (first bytes shown)",
                   lambda: [m[:14] for m in result.delivered], [m[:14] for m in msgs])
    if expect_sent is not None:
        s.expect_equal("the data frames the sender sent: (time in ms, seq)",
                       result.sent_ms, expect_sent)
    if expect_finish is not None:
        s.expect_equal("the last message delivered at (ms)",
                       lambda: None if result.finished is None else result.finished / MS,
                       expect_finish)
    return len(s.steps)


def _drop_data(nth: int) -> Fault:
    return Fault(nth=nth, match=is_data)


def _drop_ack(nth: int) -> Fault:
    return Fault(nth=nth, match=lambda f: f[:1] == b"A")


def check_stop_and_wait(StopAndWaitSender: Callable[..., Any], GoBackNReceiver: Callable[..., Any]
                        ) -> None:
    """One frame at a time: the 2nd data frame is lost, then the 3rd ACK; 10 ms each way."""

    def body() -> int:
        make = lambda: (lambda end: StopAndWaitSender(end, 50 * MS), GoBackNReceiver)  # noqa: E731
        n = _arq("stop-and-wait", "send the next frame only when the ACK for this one came "
                 "(ackno = seq + 1); resend the same frame when the timer (50 ms) expires",
                 make, messages(5, 100),
                 [(0.0, 0), (20.0, 1), (70.0, 1), (90.0, 2), (140.0, 2), (160.0, 3), (180.0, 4)],
                 190.0, "data frame #2 and ACK #3 (of seq 2) are lost",
                 delay="10ms", faults=[_drop_data(2)], ack_faults=[_drop_ack(3)])
        return n

    _run("stop and wait", body)


def check_go_back_n(GoBackNSender: Callable[..., Any], GoBackNReceiver: Callable[..., Any]) -> None:
    """Window 4: the 3rd data frame (seq 2) is lost; every frame after it goes again."""

    def body() -> int:
        make = lambda: (lambda end: GoBackNSender(end, 4, 50 * MS), GoBackNReceiver)  # noqa: E731
        return _arq(
            "go-back-N", "one timer, for the oldest unacknowledged frame: (re)started when "
            "an ACK moves the window's base; when it expires, resend every frame in flight",
            make, messages(8, 100),
            [(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3), (20.0, 4), (20.0, 5),
             (70.0, 2), (70.0, 3), (70.0, 4), (70.0, 5), (90.0, 6), (90.0, 7)],
            100.0, "data frame #3 (seq 2) is lost", delay="10ms", faults=[_drop_data(3)])

    _run("go back n", body)


def check_selective_repeat(SelectiveRepeatSender: Callable[..., Any],
                           SelectiveRepeatReceiver: Callable[..., Any]) -> None:
    """Window 4: only the lost frames go again, each when its own timer expires."""

    def body() -> int:
        make = lambda: (lambda end: SelectiveRepeatSender(end, 4, 50 * MS),  # noqa: E731
                        lambda end: SelectiveRepeatReceiver(end, 4))
        n = _arq(
            "selective repeat", "a timer per frame; the receiver keeps frames inside its "
            "window and acknowledges each by its own seq, even one it already has",
            make, messages(8, 100),
            [(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3), (20.0, 4), (20.0, 5), (50.0, 2),
             (70.0, 6), (70.0, 7)],
            80.0, "data frame #3 (seq 2) is lost", delay="10ms", faults=[_drop_data(3)])
        n += _arq(
            "selective repeat, a lost ACK", "an ACK lost: the frame's timer resends it, and the "
            "receiver, which has it already, must acknowledge it again",
            make, messages(6, 100),
            [(0.0, 0), (0.0, 1), (0.0, 2), (0.0, 3), (20.0, 4), (50.0, 1), (70.0, 5)],
            80.0, "ACK #2 (of seq 1) is lost: the window's base waits for it", delay="10ms", ack_faults=[_drop_ack(2)])
        return n

    _run("selective repeat", body)


def check_arq_robust(StopAndWaitSender: Callable[..., Any], GoBackNSender: Callable[..., Any],
                     GoBackNReceiver: Callable[..., Any], SelectiveRepeatSender: Callable[..., Any],
                     SelectiveRepeatReceiver: Callable[..., Any]) -> None:
    """All three over 10% loss, 5% duplication, 5% reordering and 5% corruption, both ways."""

    def body() -> int:
        makers = {
            "stop-and-wait": lambda: (lambda e: StopAndWaitSender(e, 60 * MS), GoBackNReceiver),
            "go-back-N": lambda: (lambda e: GoBackNSender(e, 8, 60 * MS), GoBackNReceiver),
            "selective repeat": lambda: (lambda e: SelectiveRepeatSender(e, 8, 60 * MS),
                                         lambda e: SelectiveRepeatReceiver(e, 8)),
        }
        steps = 0
        for seed, (name, make) in enumerate(makers.items(), start=3):
            steps += _arq(
                name, "a duplicate, a reordered or a corrupted frame (parse_frame gives None) "
                "must never be delivered twice, out of order, or at all",
                make, messages(60, 200), None, None, f"seed {seed}",
                delay="5ms", bandwidth="2Mbit", loss=0.1, duplicate=0.05, reorder=0.05,
                corrupt=0.05, seed=seed)
        return steps

    _run("arq robust", body, seconds=40)


# ---------------------------------------------------------------------------------- part 2: TCP
def check_byte_stream(ByteStream: Callable[..., Any]) -> None:
    """A stream of capacity 10: what fits is taken, what is read makes room, close and finished."""

    def body() -> int:
        s: Scenario[Any] = Scenario("byte stream", inside(ByteStream)(capacity=10),
                                    hint="at most `capacity` bytes may wait to be read")
        s.expect_equal("push 12 bytes into an empty stream of 10: 10 taken",
                       lambda b: b.push(b"hello world!"), 10)
        s.expect_equal("buffered", lambda b: b.buffered, 10)
        s.expect_equal("available_capacity", lambda b: b.available_capacity, 0)
        s.expect_equal("push more: nothing fits", lambda b: b.push(b"x"), 0)
        s.expect_equal("pop(5)", lambda b: b.pop(5), b"hello")
        s.expect_equal("push 3 bytes: they fit now", lambda b: b.push(b"xyz"), 3)
        s.expect_equal("pop(100): everything there is, in order", lambda b: b.pop(100),
                       b" worlxyz")
        s.expect_equal("bytes_pushed, bytes_popped", lambda b: (b.bytes_pushed, b.bytes_popped),
                       (13, 13))
        s.expect_equal("not finished before close", lambda b: b.finished, False)
        s.do("push b'end', close", lambda b: (b.push(b"end"), b.close()))
        s.expect_equal("closed but not read: not finished", lambda b: b.finished, False,
                       hint="finished = closed by the writer AND read to the end")
        s.expect_equal("push after close is refused", lambda b: b.push(b"late"), 0)
        s.expect_equal("pop(3)", lambda b: b.pop(3), b"end")
        s.expect_equal("finished", lambda b: b.finished, True)
        big = inside(ByteStream)()
        s.expect_equal("ByteStream() has no limit: 100,000 bytes taken",
                       lambda: big.push(bytes(100_000)), 100_000)
        return len(s.steps)

    _run("byte stream", body)


def check_reassembler(Reassembler: Callable[..., Any]) -> None:
    """Out of order, overlapping and duplicate pieces: each byte kept once, delivered in order."""

    def body() -> int:
        s: Scenario[Any] = Scenario("reassembler", inside(Reassembler)(),
                                    hint="keep every byte once, whatever pieces it came in")
        s.do("insert(0, 'abc')", lambda r: r.insert(0, b"abc"))
        s.expect_equal("pop(0)", lambda r: r.pop(0), b"abc")
        s.do("insert(6, 'ghi'): out of order", lambda r: r.insert(6, b"ghi"))
        s.expect_equal("pop(3): 3..5 still missing", lambda r: r.pop(3), b"")
        s.expect_equal("pending", lambda r: r.pending, 3)
        s.do("insert(3, 'def'): the gap", lambda r: r.insert(3, b"def"))
        s.expect_equal("pop(3)", lambda r: r.pop(3), b"defghi")
        s.expect_equal("pending", lambda r: r.pending, 0)
        s.do("insert(10, 'klmn'), insert(12, 'mnop'): overlapping",
             lambda r: (r.insert(10, b"klmn"), r.insert(12, b"mnop")))
        s.expect_equal("pending counts each byte once", lambda r: r.pending, 6,
                       hint="two pieces that overlap hold their common bytes once")
        s.do("insert(16, 'q') twice, insert(11, 'lm'): duplicates",
             lambda r: (r.insert(16, b"q"), r.insert(16, b"q"), r.insert(11, b"lm")))
        s.expect_equal("pending", lambda r: r.pending, 7)
        s.do("insert(8, 'ijk'): covers the gap and overlaps", lambda r: r.insert(8, b"ijk"))
        s.expect_equal("pop(9): from 9, 8 was popped before", lambda r: r.pop(9), b"jklmnopq",
                       hint="bytes before next_seq were delivered already: drop them")
        s.do("insert(2, 'cdefgh'): all old", lambda r: r.insert(2, b"cdefgh"))
        s.expect_equal("pending: old bytes are not kept", lambda r: r.pending, 0)
        s.do("insert(20, ''): empty", lambda r: r.insert(20, b""))
        s.expect_equal("pop(17)", lambda r: r.pop(17), b"")
        return len(s.steps)

    _run("reassembler", body)


def check_reassembler_capacity(Reassembler: Callable[..., Any]) -> None:
    """Bounded memory: bytes at or past (first unpopped + capacity) are not kept."""

    def body() -> int:
        s: Scenario[Any] = Scenario(
            "reassembler capacity", inside(Reassembler)(capacity=8),
            hint="a peer can send anything at any seq: keep only [first unpopped, first "
            "unpopped + capacity), or one segment can fill your memory")
        s.do("insert(2, 'cdefghijkl')", lambda r: r.insert(2, b"cdefghijkl"))
        s.expect_equal("pending: only 2..7 fit in 0..7", lambda r: r.pending, 6)
        s.do("insert(1000, 'far away')", lambda r: r.insert(1000, b"far away"))
        s.expect_equal("pending: not kept", lambda r: r.pending, 6)
        s.do("insert(0, 'ab')", lambda r: r.insert(0, b"ab"))
        s.expect_equal("pop(0)", lambda r: r.pop(0), b"abcdefgh")
        s.do("insert(8, 'ijklmnopqrst'): room is 8..15 now", lambda r: r.insert(8, b"ijklmnopqrst"))
        s.expect_equal("pop(8)", lambda r: r.pop(8), b"ijklmnop")
        s.do("10,000 one-byte pieces at 17, 19, 21, ...",
             lambda r: [r.insert(17 + 2 * k, b"x") for k in range(10_000)])
        s.expect_equal("pending: at most the capacity", lambda r: r.pending <= 8, True)
        return len(s.steps)

    _run("reassembler capacity", body)


class _Stream:
    """The grader's own byte stream (the learner's sender reads from it)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = False

    def push(self, data: bytes) -> int:
        self.data += data
        return len(data)

    def pop(self, n: int) -> bytes:
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    def clear(self) -> None:
        self.data.clear()

    def close(self) -> None:
        self.closed = True

    @property
    def buffered(self) -> int:
        return len(self.data)

    @property
    def finished(self) -> bool:
        return self.closed and not self.data


def _msg(seq: int, data: bytes = b"", syn: bool = False, fin: bool = False, rst: bool = False
         ) -> TCPSenderMessage:
    return TCPSenderMessage(Wrap32(seq & 0xFFFFFFFF), SYN=syn, payload=data, FIN=fin, RST=rst)


def _rx_state(rx: Any, stream: _Stream) -> tuple[int | None, int]:
    m = rx.send()
    return (None if m.ackno is None else m.ackno.raw, m.window_size)


def check_receiver(TCPReceiver: Callable[..., Any], Reassembler: Callable[..., Any],
                   ByteStream: Callable[..., Any]) -> None:
    """In-order segments: the ackno and the window, with an ISN 3 below 2**32 (so it wraps)."""

    def body() -> int:
        isn = 2**32 - 3
        stream = inside(ByteStream)()
        rx = inside(TCPReceiver)(inside(Reassembler)(), stream, 4000)
        s: Scenario[Any] = Scenario("receiver", rx, hint="ackno = ISN + 1 (the SYN) + bytes "
                                    "in order (+ 1 for the FIN), wrapped to 32 bits")
        state = lambda: _rx_state(rx, stream)  # noqa: E731
        s.expect_equal("before the SYN: no ackno, the window", state, (None, 4000),
                       hint="nothing to acknowledge before the SYN: ackno None")
        s.do(f"SYN seqno={isn}", lambda r: r.receive(_msg(isn, syn=True)))
        s.expect_equal("(ackno, window)", state, (2**32 - 2, 4000))
        s.do(f"'hello' seqno={2**32 - 2}", lambda r: r.receive(_msg(isn + 1, b"hello")))
        s.expect_equal("(ackno, window): past 2**32, wrapped", state, (3, 3995),
                       hint="the window is the free room in the stream: capacity - buffered")
        s.do("' world' seqno=3", lambda r: r.receive(_msg(3, b" world")))
        s.expect_equal("(ackno, window)", state, (9, 3989))
        s.expect_equal("the application reads 11 bytes", lambda: stream.pop(11), b"hello world")
        s.expect_equal("(ackno, window): room again", state, (9, 4000))
        s.do("'!' + FIN seqno=9", lambda r: r.receive(_msg(9, b"!", fin=True)))
        s.expect_equal("(ackno, window): the FIN counts one", state, (11, 3999))
        s.expect_equal("the stream is closed (finished once read)",
                       lambda: (stream.pop(10), stream.finished), (b"!", True))
        return len(s.steps)

    _run("receiver", body)


def check_receiver_out_of_order(TCPReceiver: Callable[..., Any], Reassembler: Callable[..., Any],
                                ByteStream: Callable[..., Any]) -> None:
    """Out-of-order, duplicate and out-of-window segments; an early FIN; capacity 20."""

    def body() -> int:
        isn = 1000
        stream = inside(ByteStream)()
        rx = inside(TCPReceiver)(inside(Reassembler)(), stream, 20)
        s: Scenario[Any] = Scenario("receiver, out of order", rx, hint="acknowledge only bytes "
                                    "that are in order: the ackno is the first byte missing")
        state = lambda: _rx_state(rx, stream)  # noqa: E731
        s.do("SYN seqno=1000", lambda r: r.receive(_msg(isn, syn=True)))
        s.do("'world' seqno=1006 (1001..1005 missing)", lambda r: r.receive(_msg(1006, b"world")))
        s.expect_equal("(ackno, window): still 1001", state, (1001, 20),
                       hint="data after a hole is kept but not acknowledged (and not in the "
                       "stream yet, so the window is unchanged)")
        s.expect_equal("nothing in the stream yet", lambda: stream.buffered, 0)
        s.do("'hello' seqno=1001: the hole", lambda r: r.receive(_msg(1001, b"hello")))
        s.expect_equal("(ackno, window)", state, (1011, 10))
        s.do("'hello' seqno=1001 again: a duplicate", lambda r: r.receive(_msg(1001, b"hello")))
        s.expect_equal("(ackno, window): unchanged", state, (1011, 10))
        s.do("'zzz' seqno=1021: past the window (1011..1020)",
             lambda r: r.receive(_msg(1021, b"zzz")))
        s.do("FIN seqno=1025: early", lambda r: r.receive(_msg(1025, fin=True)))
        s.expect_equal("(ackno, window): unchanged", state, (1011, 10))
        s.do("'0123456789' seqno=1011: fills the window",
             lambda r: r.receive(_msg(1011, b"0123456789")))
        s.expect_equal("(ackno, window): 'zzz' was not kept", state, (1021, 0),
                       hint="bytes past the window were dropped when they came: the ackno "
                       "stops at the window's edge")
        s.expect_equal("the application reads it all", lambda: stream.pop(100),
                       b"helloworld0123456789")
        s.do("'abcd' seqno=1021", lambda r: r.receive(_msg(1021, b"abcd")))
        s.expect_equal("(ackno, window): the early FIN counts now", state, (1026, 16),
                       hint="remember where the FIN is; close the stream when every byte "
                       "before it is in")
        s.expect_equal("the stream ends", lambda: (stream.pop(100), stream.finished),
                       (b"abcd", True))
        s.do("a segment at the SYN's seqno without SYN", lambda r: r.receive(_msg(isn, b"X")))
        s.expect_equal("(ackno, window): ignored", state, (1026, 20))
        return len(s.steps)

    _run("receiver out of order", body)


class _Unlimited:
    """A congestion controller that never limits (the sender's own tests)."""

    def __init__(self) -> None:
        self.cwnd = 1 << 30
        self.ssthresh = 1 << 30

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        pass

    def on_ack(self, ack: Ack) -> None:
        pass

    def on_loss(self, flight: int, now: int) -> None:
        pass

    def on_recovery_ack(self, ack: Ack) -> None:
        pass

    def on_recovery_end(self, ack: Ack) -> None:
        pass

    def on_timeout(self, flight: int, now: int) -> None:
        pass


def unlimited_config(**changes: Any) -> Any:
    """``TCPConfig.basic`` with a 1000-byte MSS and a controller that never limits."""
    from labkit.transport.tcp_connection import TCPConfig

    fields: dict[str, Any] = dict(mss=1000, congestion=_Unlimited)
    fields.update(changes)
    return TCPConfig.basic(**fields)


def describe(m: TCPSenderMessage) -> str:
    """One message as the step log shows it: ``seq=1001 5B``, ``seq=1000 SYN``, ``+FIN``."""
    parts = [f"seq={m.seqno.raw}"]
    if m.SYN:
        parts.append("SYN")
    if m.payload:
        parts.append(f"{len(m.payload)}B")
    if m.FIN:
        parts.append("FIN")
    return " ".join(parts)


class _SenderRig:
    """The learner's sender, a stream, the clock in ms, and every message it hands over."""

    def __init__(self, TCPSender: Callable[..., Any], isn: int, config: Any) -> None:
        self.stream = _Stream()
        self.isn = isn
        self.sender = inside(TCPSender)(self.stream, Wrap32(isn), config)
        self.now_ms = 0
        self.out: list[tuple[int, str]] = []
        self.seen = 0

    def transmit(self, m: TCPSenderMessage) -> None:
        self.out.append((self.now_ms, describe(m)))

    def advance(self, now_ns: int) -> None:
        ms = now_ns // MS - self.now_ms
        self.now_ms = now_ns // MS
        self.sender.tick(ms, self.transmit)

    def push(self) -> None:
        self.sender.push(self.transmit)

    def ack(self, ackno: int, window: int) -> None:
        self.sender.receive(TCPReceiverMessage(Wrap32(ackno & 0xFFFFFFFF), window))
        self.sender.push(self.transmit)

    def new(self) -> list[tuple[int, str]]:
        """(ms, message) handed over since the last call."""
        out, self.seen = self.out[self.seen:], len(self.out)
        return out


def _sender_scenario(title: str, rig: _SenderRig, hint: str) -> Scenario[Any]:
    return Scenario(title, rig, advance=lambda r, now: r.advance(now), hint=hint)


def check_sender(TCPSender: Callable[..., Any]) -> None:
    """SYN, then data cut at the MSS (1000), the FIN riding on the last; ISN 2**32 - 1000."""

    def body() -> int:
        isn = 2**32 - 1000
        rig = _SenderRig(TCPSender, isn, unlimited_config())
        s = _sender_scenario("sender", rig, "sequence numbers: the SYN takes ISN, the first byte "
                             "ISN + 1; each message at the next number, wrapped to 32 bits")
        s.do("push", lambda r: r.push())
        s.expect_equal("sent", lambda r: r.new(), [(0, f"seq={isn} SYN")])
        s.expect_equal("in flight", lambda r: r.sender.sequence_numbers_in_flight(), 1)
        s.do("push again", lambda r: r.push())
        s.expect_equal("nothing more: the SYN is in flight", lambda r: r.new(), [])
        s.tick("10ms")
        s.do(f"ACK {isn + 1}, window 10000", lambda r: r.ack(isn + 1, 10000))
        s.expect_equal("in flight", lambda r: r.sender.sequence_numbers_in_flight(), 0)
        s.do("the application writes 2500 bytes and closes",
             lambda r: (r.stream.push(bytes(2500)), r.stream.close()))
        s.do("push", lambda r: r.push())
        s.expect_equal("sent: at most an MSS each, the FIN on the last", lambda r: r.new(),
                       [(10, f"seq={isn + 1} 1000B"), (10, "seq=1 1000B"),
                        (10, "seq=1001 500B FIN")],
                       hint="cut at the MSS (config.mss); the FIN fits on the last segment")
        s.expect_equal("in flight", lambda r: r.sender.sequence_numbers_in_flight(), 2501)
        s.tick("10ms")
        s.do("ACK 1502, window 10000", lambda r: r.ack(1502, 10000))
        s.expect_equal("in flight: nothing", lambda r: r.sender.sequence_numbers_in_flight(), 0)
        s.expect_equal("no timer runs", lambda r: r.sender.next_timeout_ms(), None,
                       hint="stop the timer when nothing is in flight")
        s.expect_equal("make_empty_message: the next seqno, nothing in it",
                       lambda r: describe(r.sender.make_empty_message()), "seq=1502")
        return len(s.steps)

    _run("sender", body)


def check_sender_window(TCPSender: Callable[..., Any]) -> None:
    """The peer's window limits what is in flight; a window update opens it."""

    def body() -> int:
        rig = _SenderRig(TCPSender, 0, unlimited_config())
        s = _sender_scenario("sender window", rig, "in flight may never exceed the window the "
                             "receiver advertised (counted from its ackno)")
        s.do("push", lambda r: r.push())
        s.do("ACK 1, window 2500; the application writes 6000 bytes",
             lambda r: (r.ack(1, 2500), r.stream.push(bytes(6000)), r.push()))
        s.expect_equal("sent", lambda r: [m for _, m in r.new()],
                       ["seq=0 SYN", "seq=1 1000B", "seq=1001 1000B", "seq=2001 500B"])
        s.do("ACK 1001, window 2500", lambda r: r.ack(1001, 2500))
        s.expect_equal("sent: 1000 more (1001 + 2500 = 3501)", lambda r: [m for _, m in r.new()],
                       ["seq=2501 1000B"])
        s.do("ACK 1001, window 4000 (a window update)", lambda r: r.ack(1001, 4000))
        s.expect_equal("sent: up to 5001", lambda r: [m for _, m in r.new()],
                       ["seq=3501 1000B", "seq=4501 500B"])
        s.do("ACK 5001, window 500", lambda r: r.ack(5001, 500))
        s.expect_equal("sent", lambda r: [m for _, m in r.new()], ["seq=5001 500B"])
        s.expect_equal("in flight", lambda r: r.sender.sequence_numbers_in_flight(), 500)
        return len(s.steps)

    _run("sender window", body)


def check_sender_timer(TCPSender: Callable[..., Any]) -> None:
    """RFC 6298 on a clock: initial RTO 1 s, backoff, Karn's rule, the first sample, reset."""

    def body() -> int:
        rig = _SenderRig(TCPSender, 0, unlimited_config())
        s = _sender_scenario("sender timer", rig, "RFC 6298: RTO = SRTT + 4 RTTVAR (first "
                             "sample R: SRTT = R, RTTVAR = R/2), at least 200 ms; double it on "
                             "each expiry; never take a sample from a retransmitted segment")
        retx = lambda r: r.sender.consecutive_retransmissions()  # noqa: E731
        s.do("push", lambda r: r.push())
        s.tick("999ms")
        s.expect_equal("only the SYN, at 0", lambda r: r.new(), [(0, "seq=0 SYN")])
        s.tick("1ms")
        s.expect_equal("the SYN again, at the initial RTO (1 s)", lambda r: r.new(),
                       [(1000, "seq=0 SYN")])
        s.expect_equal("consecutive retransmissions", retx, 1)
        s.tick("1999ms")
        s.expect_equal("nothing before 1000 + 2000 ms", lambda r: r.new(), [])
        s.tick("1ms")
        s.expect_equal("again, the RTO doubled", lambda r: r.new(), [(3000, "seq=0 SYN")],
                       hint="exponential backoff: each expiry doubles the RTO (RFC 6298 5.5)")
        s.expect_equal("consecutive retransmissions", retx, 2)
        s.tick("100ms")
        s.do("ACK 1, window 10000; write 1000 bytes",
             lambda r: (r.ack(1, 10000), r.stream.push(bytes(1000)), r.push()))
        s.expect_equal("consecutive retransmissions: reset by new data acked", retx, 0)
        s.expect_equal("sent", lambda r: r.new(), [(3100, "seq=1 1000B")])
        s.tick("999ms")
        s.tick("1ms")
        s.expect_equal("retransmitted after 1 s: the SYN gave no sample (Karn)",
                       lambda r: r.new(), [(4100, "seq=1 1000B")],
                       hint="Karn's rule: the SYN was retransmitted, so its ACK is no RTT sample; "
                       "the RTO goes back to 1 s (no estimate yet), not 2 s and not 300 ms")
        s.tick("120ms")
        s.do("ACK 1001; write 1000 bytes",
             lambda r: (r.ack(1001, 10000), r.stream.push(bytes(1000)), r.push()))
        s.expect_equal("sent", lambda r: r.new(), [(4220, "seq=1001 1000B")])
        s.tick("120ms")
        s.do("ACK 2001 after 120 ms; write 1000 bytes (this one will be lost)",
             lambda r: (r.ack(2001, 10000), r.stream.push(bytes(1000)), r.push()))
        s.expect_equal("next_timeout_ms: RTO = 120 + 4 x 60", lambda r: r.sender.next_timeout_ms(),
                       360)
        s.tick("359ms")
        s.expect_equal("sent", lambda r: r.new(), [(4340, "seq=2001 1000B")])
        s.tick("1ms")
        s.expect_equal("retransmitted at 4340 + 360", lambda r: r.new(), [(4700, "seq=2001 1000B")])
        s.tick("719ms")
        s.expect_equal("nothing before + 720", lambda r: r.new(), [])
        s.tick("1ms")
        s.expect_equal("again at + 720", lambda r: r.new(), [(5420, "seq=2001 1000B")])
        s.tick("1439ms")
        s.expect_equal("nothing before + 1440", lambda r: r.new(), [])
        s.tick("1ms")
        s.expect_equal("again at + 1440", lambda r: r.new(), [(6860, "seq=2001 1000B")])
        s.expect_equal("consecutive retransmissions", retx, 3)
        s.tick("10ms")
        s.do("ACK 3001", lambda r: r.ack(3001, 10000))
        s.expect_equal("consecutive retransmissions", retx, 0)
        s.expect_equal("no timer runs", lambda r: r.sender.next_timeout_ms(), None)
        return len(s.steps)

    _run("sender timer", body)


def check_fast_retransmit(TCPSender: Callable[..., Any]) -> None:
    """Three duplicate ACKs resend the oldest segment at once, before the timer."""

    def body() -> int:
        rig = _SenderRig(TCPSender, 0, unlimited_config())
        s = _sender_scenario("fast retransmit", rig, "a duplicate ACK has the same ackno and "
                             "window as the last one, with data in flight; the third resends")
        s.do("push; ACK 1, window 10000; write 5000 bytes",
             lambda r: (r.push(), r.ack(1, 10000), r.stream.push(bytes(5000)), r.push()))
        s.expect_equal("sent", lambda r: len(r.new()), 6)
        s.tick("50ms")
        s.do("ACK 1001 (new data)", lambda r: r.ack(1001, 10000))
        s.do("ACK 1001 again (duplicate 1)", lambda r: r.ack(1001, 10000))
        s.do("ACK 1001 again (duplicate 2)", lambda r: r.ack(1001, 10000))
        s.expect_equal("nothing sent after two duplicates", lambda r: r.new(), [],
                       hint="two duplicate ACKs may be reordering: RFC 5681 waits for three")
        s.do("ACK 1001 again (duplicate 3)", lambda r: r.ack(1001, 10000))
        s.expect_equal("the oldest segment, at once", lambda r: r.new(),
                       [(50, "seq=1001 1000B")])
        s.do("ACK 1001 again (duplicate 4)", lambda r: r.ack(1001, 10000))
        s.expect_equal("nothing more", lambda r: r.new(), [])
        s.expect_equal("consecutive retransmissions: a fast retransmit is not a timeout",
                       lambda r: r.sender.consecutive_retransmissions(), 0)
        return len(s.steps)

    _run("fast retransmit", body)


def check_zero_window(TCPSender: Callable[..., Any]) -> None:
    """A zero window is probed with one byte, the probe retransmitted with backoff, never given up."""

    def body() -> int:
        rig = _SenderRig(TCPSender, 0, unlimited_config())
        s = _sender_scenario("zero window", rig, "with a zero window send one byte (a probe) "
                             "so that the window update cannot be lost for good")
        s.do("push", lambda r: r.push())
        s.tick("100ms")
        s.do("ACK 1, window 0; write 10 bytes",
             lambda r: (r.ack(1, 0), r.stream.push(b"0123456789"), r.push()))
        s.expect_equal("sent: one byte", lambda r: r.new(), [(0, "seq=0 SYN"), (100, "seq=1 1B")])
        s.do("push again", lambda r: r.push())
        s.expect_equal("nothing more", lambda r: r.new(), [])
        s.tick("299ms")
        s.expect_equal("nothing before the RTO", lambda r: r.new(), [])
        s.tick("1ms")
        s.expect_equal("the probe again after the RTO (100 + 4 x 50 = 300 ms)", lambda r: r.new(),
                       [(400, "seq=1 1B")])
        s.tick("599ms")
        s.expect_equal("nothing before 400 + 600 ms", lambda r: r.new(), [],
                       hint="RFC 1122 4.2.2.17: the probe's timer backs off too")
        s.tick("1ms")
        s.expect_equal("again, backed off", lambda r: r.new(), [(1000, "seq=1 1B")],
                       hint="RFC 1122 4.2.2.17: the probe's timer backs off too")
        s.expect_equal("consecutive retransmissions: probes do not count",
                       lambda r: r.sender.consecutive_retransmissions(), 0,
                       hint="a receiver that answers with a zero window is alive: do not give up")
        s.tick("10ms")
        s.do("ACK 2, window 1000", lambda r: r.ack(2, 1000))
        s.expect_equal("the rest", lambda r: r.new(), [(1010, "seq=2 9B")])
        return len(s.steps)

    _run("zero window", body)


# ---------------------------------------------------------------------------------- part 3
def check_controller(Controller: Callable[..., Any]) -> None:
    """The door's rules, by direct calls: start, slow start, RFC 7661, loss, timeout."""

    def body() -> int:
        smss = 1000
        s: Scenario[Any] = Scenario("controller", inside(Controller)(),
                                    hint="see the docstring of labkit.transport.congestion")

        def ack(c: Any, acked: int, limited: bool = True) -> None:
            c.on_ack(Ack(now=s.now, acked=acked, flight=c.cwnd, rtt=40 * MS, srtt=40 * MS,
                         min_rtt=40 * MS, cwnd_limited=limited, ack=1, snd_nxt=1 + c.cwnd))

        before: dict[str, int] = {}

        def ack_after(c: Any, acked: int, limited: bool = True) -> None:
            before["w"] = c.cwnd
            ack(c, acked, limited)

        s.do("start(smss=1000)", lambda c, now: c.start(smss, now, sack=True))
        s.expect("1 to 10 segments (RFC 6928)", lambda c: smss <= c.cwnd <= 10 * smss)
        s.expect("in slow start: ssthresh above cwnd", lambda c: c.ssthresh > c.cwnd)
        s.do("an ACK of 1000 bytes, window in use", lambda c: ack_after(c, 1000))
        s.expect("grows, by at most what was acked", lambda c: 0 < c.cwnd - before["w"] <= 1000)
        s.do("an ACK of 1000 bytes, window not in use (RFC 7661)",
             lambda c: ack_after(c, 1000, limited=False))
        s.expect("no growth", lambda c: c.cwnd == before["w"],
                 hint="ack.cwnd_limited False: the window was not used; do not grow it")
        s.do("on_loss(flight=20000)", lambda c, now: c.on_loss(20_000, now))
        s.expect("ssthresh: 2 SMSS to less than the flight", lambda c: 2 * smss <= c.ssthresh < 20_000)
        s.expect("cwnd: 1 SMSS to less than the flight", lambda c: smss <= c.cwnd < 20_000)
        s.do("on_recovery_end", lambda c, now: c.on_recovery_end(
            Ack(now=now, acked=1000, flight=10_000, sack=True)))
        s.expect("cwnd at least 1 SMSS", lambda c: c.cwnd >= smss)
        s.do("on_timeout(flight=16000)", lambda c, now: c.on_timeout(16_000, now))
        s.expect_equal("cwnd: one segment, the loss window (RFC 5681 3.1)", lambda c: c.cwnd, smss)
        s.expect("ssthresh at least 2 SMSS", lambda c: c.ssthresh >= 2 * smss)
        s.do("an ACK of 1000 bytes", lambda c: ack_after(c, 1000))
        s.expect("grows again", lambda c: c.cwnd > before["w"])
        return len(s.steps)

    _run("controller", body)


def race(controllers: list[Callable[[], Any]], *, rate: str = "1Mbit", delay: str = "20ms",
         queue: int = 5, duration: float = 5.0, seed: int = 1) -> list[float]:
    """Flows with these congestion controllers share one bottleneck; each one's goodput (bit/s).

    Host Ak sends to B as fast as its controller lets it, through two switches joined by the
    bottleneck (``rate``, ``delay`` one way, a drop-tail queue of ``queue`` frames); the
    goodputs are over the second half of ``duration`` seconds. (labkit.bottleneck runs the same
    experiment with routers and records more; the graders sit below it.)
    """
    from dataclasses import replace

    from labkit.sim import Network
    from labkit.sim.stacks import install_switching, install_transport, socket
    from labkit.transport.tcp_connection import TCPConnection

    net = Network(seed=seed)
    s1, s2 = net.add_switch("S1"), net.add_switch("S2")
    b = net.add_host("B", ip="10.0.0.100/24")
    senders = []
    for k, make in enumerate(controllers):
        def factory(lp: int, rp: int | None, *, iss: Any, config: Any, name: str,
                    _make: Callable[[], Any] = make) -> Any:
            return TCPConnection(lp, rp, iss=iss, config=replace(config, congestion=_make),
                                 name=name)

        senders.append(net.add_host(f"A{k + 1}", ip=f"10.0.0.{k + 1}/24", tcp=factory))
        net.connect(senders[-1], s1, bandwidth="100Mbit", delay="100us", queue=1000)
    net.connect(s1, s2, bandwidth=rate, delay=delay, queue=queue)
    net.connect(s2, b, bandwidth="100Mbit", delay="100us", queue=1000)
    install_switching(net)
    install_transport(net)
    server = socket(b)
    server.bind(("", 5001))
    server.listen(backlog=len(controllers))
    got = [0] * len(controllers)
    half = int(duration * S / 2)

    def accepted(sock: Any, peer: tuple[str, int]) -> None:
        k = int(peer[0].split(".")[3]) - 1

        def data(chunk: bytes) -> None:
            if net.now >= half:
                got[k] += len(chunk)

        sock.on_data(data)

    server.on_connection(accepted)
    enough = int(parse_rate(rate, "rate") * duration / 8) + 100_000
    for a in senders:
        c = socket(a)
        c.connect(("10.0.0.100", 5001))
        c.on_data(lambda d: None)  # event mode: sendall keeps what the buffer cannot take
        c.sendall(bytes(enough))
    net.run(until=f"{duration}s")
    return [8 * g * S / (duration * S - half) for g in got]


def check_race(Controller: Callable[..., Any]) -> None:
    """Your controller and Reno share a 1 Mbit/s bottleneck (20 ms each way) for 5 s."""
    from labkit.transport.congestion import Reno

    def body() -> int:
        s: Scenario[Any] = Scenario("race", None, hint="grow while nothing is lost, cut on loss: "
                                    "too timid and Reno takes it all, too greedy and Reno starves")
        rates = s.do("race: yours and Reno, 1 Mbit/s, a drop-tail queue of 5 frames",
                     lambda: race([inside(Controller), Reno]))
        share = lambda k: rates[k] / 1e6  # noqa: E731
        s.expect("the bottleneck is used: at least 80% in the last 2.5 s",
                 lambda: share(0) + share(1) >= 0.8)
        s.expect("yours gets at least 25% of it", lambda: share(0) >= 0.25)
        s.expect("Reno keeps at least 15%", lambda: share(1) >= 0.15)
        return len(s.steps)

    _run("race", body, seconds=60)


class _Fixed(_Unlimited):
    """A fixed window of ten segments (the connection test: no controller of labkit's needed)."""

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        self.cwnd = 10 * smss


def parts_config(TCPReceiver: Callable[..., Any], TCPSender: Callable[..., Any],
                 Reassembler: Callable[..., Any], ByteStream: Callable[..., Any],
                 graded: bool = True, **changes: Any) -> Any:
    """``TCPConfig.basic`` with the learner's four parts (wrapped 'inside' when ``graded``)."""
    from labkit.transport.tcp_connection import TCPConfig

    w = inside if graded else (lambda x: x)
    fields: dict[str, Any] = dict(receiver=w(TCPReceiver), sender=w(TCPSender),
                                  reassembler=lambda: w(Reassembler)(),
                                  bytestream=lambda: w(ByteStream)(), congestion=_Fixed)
    fields.update(changes)
    return TCPConfig.basic(**fields)


def transfer(config_a: Any, config_b: Any, data: bytes, *, seed: int = 1, until: str = "300s",
             **link: Any) -> tuple[bytes, int | None, Any]:
    """A sends ``data`` to B over labkit.sim and closes; (what B read, when B saw the FIN, net).

    A's connections use ``config_a`` and B's ``config_b`` (None: labkit's own full TCP).
    """
    from labkit.sim import Network
    from labkit.sim.stacks import install_transport, socket
    from labkit.transport.tcp_connection import TCPConfig, TCPConnection

    def factory(config: Any) -> Any:
        if config is None:
            return None
        # the transport passes its own config: this host's connections use ours instead
        return lambda lp, rp, *, iss, config, name, _ours=config: TCPConnection(
            lp, rp, iss=iss, config=_ours, name=name)

    net = Network(seed=seed)
    a = net.add_host("A", ip="10.0.0.1/24", tcp=factory(config_a))
    b = net.add_host("B", ip="10.0.0.2/24", tcp=factory(config_b))
    net.connect(a, b, **link)
    install_transport(net, tcp_config=TCPConfig())
    server = socket(b)
    server.bind(("", 80))
    server.listen()
    got = bytearray()
    fin: list[int] = []

    def accepted(sock: Any, peer: Any) -> None:
        def closed() -> None:
            fin.append(net.now)
            sock.close()

        sock.on_data(got.extend)
        sock.on_close(closed)

    server.on_connection(accepted)
    client = socket(a)
    client.settimeout(300)
    client.connect(("10.0.0.2", 80))
    client.on_data(lambda d: None)  # event mode: sendall queues, close sends FIN after the data
    client.sendall(data)
    client.close()
    net.run(until=until)
    return bytes(got), (fin[0] if fin else None), net


def check_connection(TCPReceiver: Callable[..., Any], TCPSender: Callable[..., Any],
                     Reassembler: Callable[..., Any], ByteStream: Callable[..., Any]) -> None:
    """Your four parts in labkit's connection, against labkit's full TCP, both ways, through faults."""
    import numpy as np

    def body() -> int:
        s: Scenario[Any] = Scenario("connection", None, hint=(
            "run grader.transfer(grader.parts_config(TCPReceiver, TCPSender, Reassembler, "
            "ByteStream, graded=False), None, data, loss=0.05, ...) and look at "
            "net.capture(), or shrink the data until it fails"))
        data = np.random.default_rng(19).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
        faults: dict[str, Any] = dict(delay="5ms", bandwidth="10Mbit", loss=0.05, corrupt=0.02, duplicate=0.02,
                      reorder=0.05)
        mine = parts_config(TCPReceiver, TCPSender, Reassembler, ByteStream)
        for way, (ca, cb) in (("your parts send, labkit's TCP receives", (mine, None)),
                              ("labkit's TCP sends, your parts receive", (None, mine))):
            got, fin, _ = s.do(f"{way}: 100,000 bytes, 5% loss, 2% corrupted, 2% duplicated, "
                               "5% reordered", lambda: transfer(ca, cb, data, seed=7, **faults))
            s.expect_equal("the bytes arrived (count)", lambda: len(got), len(data))
            s.expect("byte for byte", lambda: got == data)
            s.expect("and the FIN", lambda: fin is not None)
        return len(s.steps)

    _run("connection", body, seconds=60)
