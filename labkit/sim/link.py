"""Links: two interfaces joined by a cable with a speed, a length and a queue.

A :class:`Link` has one :class:`Channel` per direction. A channel is a
transmitter with a drop-tail queue, followed by the wire:

- **serialisation**: a frame of ``n`` bytes occupies the transmitter for
  ``ceil(8 n / bandwidth)`` (only the frame's bytes; no preamble or
  inter-frame gap), one frame after the other;
- **queue**: frames that arrive while the transmitter is busy wait, up to
  ``queue`` frames (not counting the one being sent); one more is dropped
  (*drop-tail*) and recorded as ``"drop"`` with note ``"queue full"``;
- **propagation**: the last bit arrives ``delay`` after it left;
- **MTU**: a frame larger than ``mtu + overhead`` bytes is refused at the
  sending interface with an error. ``mtu`` counts the payload, as in
  "Ethernet's MTU is 1500"; ``overhead`` (default 14, the Ethernet II header;
  frames here carry no FCS) is the header it does not count. Ethernet does not
  fragment: IP must;
- **impairments** (:mod:`labkit.sim.impair`) act on each frame as it leaves
  the transmitter: a lost frame still took its time on the transmitter.

Counters per direction: :attr:`Channel.sent`, :attr:`Channel.delivered`,
:attr:`Channel.dropped_queue`, :attr:`Channel.dropped_impaired`.

**Queue disciplines.** ``queue`` may instead be a discipline from
:mod:`labkit.sim.queue` (``DropTail(bytes=...)``, ``CoDel()``), or one can be set
later with :meth:`Link.set_queue`. Then the frames really wait in it, and the
transmitter asks it for the next frame each time it is free, so that an active
queue manager can drop at the head (recorded as ``"drop"`` with the
discipline's name as note, ``"codel"``). :attr:`Channel.qdisc` is the discipline,
with its queue length and sojourn-time log for plots.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from heapq import heappush
from typing import TYPE_CHECKING

from labkit.sim.errors import TopologyError
from labkit.sim.impair import Impairment
from labkit.sim.queue import Queued, QueueDiscipline
from labkit.units import format_rate, format_time

if TYPE_CHECKING:
    from labkit.sim.engine import Engine
    from labkit.sim.nodes import Interface, Node

__all__ = ["Link", "Channel"]


class Channel:
    """One direction of a link: from :attr:`src` to :attr:`dst`."""

    __slots__ = (
        "engine",
        "src",
        "dst",
        "bandwidth",
        "delay",
        "mtu",
        "overhead",
        "max_frame",
        "queue_limit",
        "impairments",
        "qdisc",
        "sent",
        "delivered",
        "dropped_queue",
        "dropped_impaired",
        "_busy",
        "_starts",
        "_xid",
        "_sending",
    )

    def __init__(
        self,
        engine: Engine,
        src: Interface,
        dst: Interface,
        *,
        bandwidth: int | None,
        delay: int,
        mtu: int,
        overhead: int,
        queue: int | QueueDiscipline,
        xid: Iterator[int],
    ) -> None:
        self.engine = engine
        self.src = src
        self.dst = dst
        #: Bits per second, or ``None`` for a transmitter that takes no time.
        self.bandwidth = bandwidth
        #: Propagation delay in ns.
        self.delay = delay
        self.mtu = mtu
        self.overhead = overhead
        self.max_frame = mtu + overhead
        #: The queue discipline, or ``None`` for the built-in drop-tail of ``queue_limit`` frames.
        self.qdisc: QueueDiscipline | None = None
        self.queue_limit = 0
        if isinstance(queue, QueueDiscipline):
            self.set_queue(queue)
        else:
            self.queue_limit = queue
        self._sending = False
        self.impairments: list[Impairment] = []
        self.sent = 0
        self.delivered = 0
        self.dropped_queue = 0
        self.dropped_impaired = 0
        self._busy = 0  # when the transmitter is next free (ns)
        self._starts: deque[int] = deque()  # start times of frames waiting in the queue
        self._xid = xid

    def serialisation(self, length: int) -> int:
        """Nanoseconds the transmitter needs for ``length`` bytes."""
        bw = self.bandwidth
        if bw is None:
            return 0
        return (length * 8_000_000_000 + bw - 1) // bw

    @property
    def queued(self) -> int:
        """Frames waiting for the transmitter right now (not the one being sent)."""
        if self.qdisc is not None:
            return self.qdisc.packets
        now = self.engine.now
        starts = self._starts
        while starts and starts[0] <= now:
            starts.popleft()
        return len(starts)

    def add(self, *impairments: Impairment) -> Channel:
        """Put impairments on this direction (after those already there)."""
        for imp in impairments:
            if not isinstance(imp, Impairment):
                raise TopologyError(
                    f"impairment={imp!r}: expected an Impairment such as Loss(0.1) or Fault(nth=3)"
                )
            self.impairments.append(imp)
        return self

    def set_queue(self, qdisc: QueueDiscipline) -> Channel:
        """Make ``qdisc`` (a :class:`~labkit.sim.queue.QueueDiscipline`) this direction's queue.

        Set it before traffic flows: frames already waiting stay where they are.
        """
        if not isinstance(qdisc, QueueDiscipline):
            raise TopologyError(
                f"queue={qdisc!r}: expected a number of frames or a queue discipline "
                "such as DropTail(bytes=64000) or CoDel()"
            )
        if qdisc.packets:
            raise TopologyError(f"queue={qdisc!r}: give a discipline with an empty queue")
        qdisc.on_drop = self._head_drop
        self.qdisc = qdisc
        return self

    def _head_drop(self, item: Queued, now: int, note: str) -> None:
        self.dropped_queue += 1
        src = self.src
        for tap in src.taps:
            tap.record(now, src, "drop", item.frame, item.xid, note)

    def _next(self) -> None:
        """The transmitter is free: send the next frame the discipline gives, if any."""
        qdisc = self.qdisc
        assert qdisc is not None
        now = self.engine.now
        item = qdisc.dequeue(now)
        if item is None:
            self._sending = False
            return
        self._sending = True
        end = self._wire(item.frame, item.xid, now)
        self.engine.at(end, self._next)

    def transmit(self, frame: bytes) -> None:
        """Queue ``frame`` for sending (called by :meth:`Interface.send`)."""
        engine = self.engine
        now = engine.now
        src = self.src
        xid = next(self._xid)
        taps = src.taps
        if taps:
            for tap in taps:
                tap.record(now, src, "out", frame, xid)
        qdisc = self.qdisc
        if qdisc is not None:
            if not qdisc.enqueue(frame, xid, now):
                self.dropped_queue += 1
                for tap in taps:
                    tap.record(now, src, "drop", frame, xid, qdisc.name)
                return
            if not self._sending:
                self._next()
            return
        starts = self._starts
        while starts and starts[0] <= now:
            starts.popleft()
        if len(starts) >= self.queue_limit and self._busy > now:
            self.dropped_queue += 1
            if taps:
                for tap in taps:
                    tap.record(now, src, "drop", frame, xid, "queue full")
            return
        busy = self._busy
        start = busy if busy > now else now
        bw = self.bandwidth
        end = start if bw is None else start + (len(frame) * 8_000_000_000 + bw - 1) // bw
        self._busy = end
        if start > now:
            starts.append(start)
        self._wire(frame, xid, start, end)

    def _wire(self, frame: bytes, xid: int, start: int, end: int | None = None) -> int:
        """Put ``frame`` on the wire from ``start`` (its last bit leaves at ``end``)."""
        engine = self.engine
        bw = self.bandwidth
        if end is None:
            end = start if bw is None else start + (len(frame) * 8_000_000_000 + bw - 1) // bw
        self.sent += 1
        arrival = end + self.delay
        deliver = self.dst._deliver
        if not self.impairments:
            self.delivered += 1
            seq = engine._seq
            engine._seq = seq + 1
            heappush(engine._queue, (arrival, seq, deliver, (frame, xid)))
            return end
        items = [(0, frame)]
        src = self.src
        taps = src.taps
        rng = engine.rng
        for imp in self.impairments:
            out: list[tuple[int, bytes]] = []
            for extra, f in items:
                for e2, f2 in imp.apply(f, rng):
                    out.append((extra + e2, f2))
            if not out:
                self.dropped_impaired += 1
                if taps:
                    for tap in taps:
                        tap.record(engine.now, src, "drop", frame, xid, imp.name)
                return end
            items = out
        for extra, f in items:
            self.delivered += 1
            seq = engine._seq
            engine._seq = seq + 1
            heappush(engine._queue, (arrival + extra, seq, deliver, (f, xid)))
        return end

    def __repr__(self) -> str:
        return f"<Channel {self.src.fullname} -> {self.dst.fullname}>"


class Link:
    """A full-duplex cable between interfaces :attr:`a` and :attr:`b`.

    :attr:`ab` carries frames from ``a`` to ``b``, :attr:`ba` the other way.
    """

    __slots__ = ("a", "b", "ab", "ba")

    def __init__(self, a: Interface, b: Interface, ab: Channel, ba: Channel) -> None:
        self.a = a
        self.b = b
        self.ab = ab
        self.ba = ba

    def channel_from(self, end: Interface | Node | str) -> Channel:
        """The direction whose sender is ``end`` (an interface, its node, or a name)."""
        for ch in (self.ab, self.ba):
            src = ch.src
            if end is src or end is src.node or end in (src.fullname, src.node.name):
                return ch
        raise TopologyError(
            f"end={getattr(end, 'name', end)!r}: this link joins {self.a.fullname} and "
            f"{self.b.fullname}; name one of them"
        )

    def set_queue(self, qdisc: QueueDiscipline, source: Interface | Node | str | None = None) -> Link:
        """Give the direction sent by ``source`` the queue discipline ``qdisc``.

        With ``source=None`` both directions get one, each its own copy
        (:meth:`~labkit.sim.queue.QueueDiscipline.spawn`).
        """
        if source is not None:
            self.channel_from(source).set_queue(qdisc)
            return self
        if not isinstance(qdisc, QueueDiscipline):
            self.ab.set_queue(qdisc)  # raises the error that names the argument
        self.ab.set_queue(qdisc.spawn())
        self.ba.set_queue(qdisc.spawn())
        return self

    def impair(
        self, *impairments: Impairment, source: Interface | Node | str | None = None
    ) -> Link:
        """Add impairments to the direction sent by ``source``; to both if ``None``.

        With ``source=None`` each impairment object is used on both directions,
        so a stateful one (a :class:`~labkit.sim.impair.Fault`) counts frames of
        both: give each direction its own object instead.
        """
        channels = [self.ab, self.ba] if source is None else [self.channel_from(source)]
        for ch in channels:
            ch.add(*impairments)
        return self

    def __repr__(self) -> str:
        ch = self.ab
        bw = "unlimited" if ch.bandwidth is None else format_rate(ch.bandwidth)
        return (
            f"<Link {self.a.fullname} <-> {self.b.fullname}: {bw}, "
            f"delay {format_time(ch.delay)}, MTU {ch.mtu}>"
        )
