"""Lab 4, part 1: reliable delivery from scratch, over labkit's lossy simulator.

The learner writes the senders and receivers of three ARQ protocols
(stop-and-wait, go-back-N, selective repeat). Each end is given an
:class:`End`: the virtual time, ``send(frame)`` onto a simulated link, and
``timer(delay_ns, fn)``. Frames are this module's own small format (it is no
real protocol), made and read with :func:`data_frame`, :func:`ack_frame` and
:func:`parse_frame`::

    D | seq (4 bytes) | CRC-32 (4 bytes) | data        a data frame
    A | ackno (4 bytes) | CRC-32 (4 bytes)             an acknowledgment

The CRC covers everything else, so a corrupted frame parses as ``None``.
:func:`run_arq` joins two hosts A and B by a link of labkit.sim (delay,
bandwidth, loss, duplication, reordering, corruption, or scripted
:class:`~labkit.sim.Fault` s), hands the sender the messages, runs the
network until everything is delivered (or a deadline) and returns what
happened: every data frame A sent and when, what B delivered, and the
goodput. The lab's tests and plots use it.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit.errors import LabkitValueError
from labkit.sim import Network
from labkit.sim.impair import Fault, Impairment
from labkit.units import parse_time

__all__ = ["End", "ArqRun", "data_frame", "ack_frame", "parse_frame", "run_arq", "is_data",
           "messages"]

MS = 1_000_000
S = 1_000_000_000
_HEAD = struct.Struct("!cI")


def data_frame(seq: int, data: bytes) -> bytes:
    """A data frame carrying ``data`` with sequence number ``seq`` (0 to 2**32 - 1)."""
    if not 0 <= seq < 1 << 32:
        raise LabkitValueError(f"seq={seq!r}: a sequence number from 0 to 2**32 - 1")
    head = _HEAD.pack(b"D", seq)
    return head + zlib.crc32(head + data).to_bytes(4, "big") + bytes(data)


def ack_frame(ackno: int) -> bytes:
    """An acknowledgment frame carrying ``ackno``."""
    if not 0 <= ackno < 1 << 32:
        raise LabkitValueError(f"ackno={ackno!r}: a number from 0 to 2**32 - 1")
    head = _HEAD.pack(b"A", ackno)
    return head + zlib.crc32(head).to_bytes(4, "big")


def parse_frame(frame: bytes) -> tuple[str, int, bytes] | None:
    """``("D", seq, data)`` or ``("A", ackno, b"")``; ``None`` for a damaged or unknown frame."""
    if len(frame) < 9:
        return None
    kind, number = _HEAD.unpack_from(frame)
    if kind not in (b"D", b"A") or (kind == b"A" and len(frame) != 9):
        return None
    if zlib.crc32(frame[:5] + frame[9:]).to_bytes(4, "big") != frame[5:9]:
        return None
    return kind.decode(), number, bytes(frame[9:])


def is_data(frame: bytes) -> bool:
    """True for a data frame (for a :class:`~labkit.sim.Fault`'s ``match``)."""
    return frame[:1] == b"D"


class End:
    """What one end of the link sees: the clock, the link, timers.

    ``now``: the virtual time in nanoseconds. ``send(frame)``: put a frame on
    the link to the other end. ``timer(delay_ns, fn)``: call ``fn()`` after
    ``delay_ns``; returns a timer with ``cancel()`` and ``pending``.
    """

    def __init__(self, host: Any, on_send: Callable[[bytes], None] | None = None,
                 enter: Callable[[Callable[[], Any]], Callable[[], Any]] = lambda fn: fn) -> None:
        self._host = host
        self._on_send = on_send
        self._enter = enter

    @property
    def now(self) -> int:
        return int(self._host.now)

    def send(self, frame: bytes) -> None:
        if self._on_send is not None:
            self._on_send(frame)
        self._host.send(bytes(frame))

    def timer(self, delay_ns: int, fn: Callable[[], Any]) -> Any:
        if isinstance(delay_ns, bool) or not isinstance(delay_ns, int) or delay_ns < 0:
            raise LabkitValueError(f"delay_ns={delay_ns!r}: whole nanoseconds >= 0")
        return self._host.after_ns(delay_ns, self._enter(fn))


@dataclass
class ArqRun:
    """What :func:`run_arq` saw."""

    messages: list[bytes]
    delivered: list[bytes]
    #: (time ns, seq) of every data frame the sender put on the link
    sent: list[tuple[int, int]] = field(default_factory=list)
    #: (time ns, ackno) of every ACK the receiver put on the link
    acks: list[tuple[int, int]] = field(default_factory=list)
    #: when the last message was delivered (ns), or None if not all were
    finished: int | None = None
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.delivered == self.messages

    @property
    def goodput(self) -> float:
        """Delivered payload bits per second of virtual time (0 if not finished)."""
        if not self.finished:
            return 0.0
        return 8 * sum(len(m) for m in self.delivered) * S / self.finished

    def sent_ms(self) -> list[tuple[float, int]]:
        """``sent`` with times in milliseconds (for a step log)."""
        return [(t / MS, seq) for t, seq in self.sent]


def messages(n: int, size: int = 1000) -> list[bytes]:
    """``n`` distinct messages of ``size`` bytes."""
    return [(f"message {i:05d} ".encode() * (size // 14 + 1))[:size] for i in range(n)]


def run_arq(
    sender: Callable[[End], Any],
    receiver: Callable[[End], Any],
    msgs: Sequence[bytes],
    *,
    delay: object = "10ms",
    bandwidth: object = None,
    loss: float = 0.0,
    duplicate: float = 0.0,
    reorder: float = 0.0,
    corrupt: float = 0.0,
    faults: Sequence[Impairment] = (),
    ack_faults: Sequence[Impairment] = (),
    until: object = "600s",
    seed: int = 1,
    graded: bool = False,
) -> ArqRun:
    """Send ``msgs`` from A to B with ``sender(end)`` and ``receiver(end)``; see the module.

    ``faults`` go on the direction A -> B (data), ``ack_faults`` on B -> A.
    The sender is told ``send(msgs)`` at t = 0. The run stops when B has
    delivered as many messages as were sent, or at ``until``. ``graded``: the learner's objects
    and timers run "inside" (:func:`labkit.labs.grading.inside`: labkit's own
    implementations refuse their calls).
    """
    net = Network(seed=seed)
    a = net.add_host("A")
    b = net.add_host("B")
    net.connect(a, b, delay=delay, bandwidth=bandwidth, loss=loss, duplicate=duplicate,
                reorder=reorder, corrupt=corrupt, queue=10_000)
    if faults:
        net.impair(a, b, *faults)
    if ack_faults:
        net.impair(b, a, *ack_faults)
    run = ArqRun(list(msgs), [])

    def log_data(frame: bytes) -> None:
        if is_data(frame) and len(frame) >= 5:
            run.sent.append((net.now, _HEAD.unpack_from(frame)[1]))

    def log_ack(frame: bytes) -> None:
        if frame[:1] == b"A" and len(frame) >= 5:
            run.acks.append((net.now, _HEAD.unpack_from(frame)[1]))

    wrap: Callable[[Any], Any] = lambda x: x
    enter: Callable[[Callable[[], Any]], Callable[[], Any]] = lambda fn: fn
    if graded:
        from labkit.labs.grading import _enter, inside

        wrap, enter = inside, _enter
    tx = wrap(sender(End(a, log_data, enter)))
    rx = wrap(receiver(End(b, log_ack, enter)))
    a.set_handler(lambda iface, frame, now: tx.on_frame(frame))

    def at_b(iface: Any, frame: bytes, now: int) -> None:
        rx.on_frame(frame)
        if run.finished is None and len(rx.delivered) >= len(run.messages):
            run.finished = now

    b.set_handler(at_b)
    deadline = parse_time(until, "until")
    net.at(0, tx.send, list(msgs))
    step = 50 * MS
    while net.now < deadline and run.finished is None:
        net.run(until_ns=min(deadline, net.now + step))
    run.delivered = [bytes(m) for m in rx.delivered]
    return run
