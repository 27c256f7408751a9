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
   a race against Reno on a shared bottleneck (:mod:`labkit.bottleneck`).

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

__all__ = [
    "End", "ArqRun", "run_arq", "data_frame", "ack_frame", "parse_frame", "is_data", "messages",
    "check_stop_and_wait", "check_go_back_n", "check_selective_repeat", "check_arq_robust",
    "check_byte_stream", "check_reassembler", "check_reassembler_capacity", "check_receiver",
    "check_receiver_out_of_order", "check_sender", "check_sender_window", "check_sender_timer",
    "check_fast_retransmit", "check_zero_window", "check_controller", "check_race",
    "describe", "unlimited_config",
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
