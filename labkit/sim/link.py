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
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from heapq import heappush
from typing import TYPE_CHECKING

from labkit.sim.errors import TopologyError
from labkit.sim.impair import Impairment
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
        "sent",
        "delivered",
        "dropped_queue",
        "dropped_impaired",
        "_busy",
        "_starts",
        "_xid",
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
        queue: int,
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
        self.queue_limit = queue
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
        starts = self._starts
        while starts and starts[0] <= now:
            starts.popleft()
        if len(starts) >= self.queue_limit and self._busy > now:
            self.dropped_queue += 1
            if taps:
                for tap in taps:
                    tap.record(now, src, "drop", frame, xid, "queue full")
            return
        self.sent += 1
        busy = self._busy
        start = busy if busy > now else now
        bw = self.bandwidth
        end = start if bw is None else start + (len(frame) * 8_000_000_000 + bw - 1) // bw
        self._busy = end
        if start > now:
            starts.append(start)
        arrival = end + self.delay
        deliver = self.dst._deliver
        if not self.impairments:
            self.delivered += 1
            seq = engine._seq
            engine._seq = seq + 1
            heappush(engine._queue, (arrival, seq, deliver, (frame, xid)))
            return
        items = [(0, frame)]
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
                        tap.record(now, src, "drop", frame, xid, imp.name)
                return
            items = out
        for extra, f in items:
            self.delivered += 1
            seq = engine._seq
            engine._seq = seq + 1
            heappush(engine._queue, (arrival + extra, seq, deliver, (f, xid)))

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
