"""Queue disciplines: what a link's transmitter does with frames that must wait.

A frame that reaches a busy transmitter waits in the channel's queue. The
discipline decides which frames are let in (:meth:`QueueDiscipline.enqueue`) and
which leave, and when, once the transmitter is free
(:meth:`QueueDiscipline.dequeue`). Two are built in:

==============================  =====================================================
``DropTail(packets=100)``       first in, first out; a frame that finds the queue
``DropTail(bytes=150_000)``     full (in frames or in bytes) is dropped at the tail
``CoDel()``                     RFC 8289 Controlled Delay: drops at the head while
                                the time frames spend queued (their *sojourn time*)
                                has stayed above ``target`` (5 ms) for ``interval``
                                (100 ms), at the rate of its control law
==============================  =====================================================

A link takes one with ``net.connect(a, b, queue=CoDel())`` (each direction gets
a fresh copy, :meth:`QueueDiscipline.spawn`) or ``link.set_queue(DropTail(bytes=...),
source="R1")``. A plain number ``queue=100`` keeps the link's original fast
drop-tail of 100 frames.

Everything a plot needs is recorded when the discipline is made with
``record=True``: :attr:`QueueDiscipline.log` holds ``(time, packets, bytes)``
after every change, and :attr:`QueueDiscipline.sojourns` ``(time, sojourn)`` for
every frame that left (times in ns). :meth:`QueueDiscipline.series` returns them
as NumPy arrays. They are kept as blocks of 64-bit integers, not as Python tuples
(24 bytes a row instead of about 150): a lesson that keeps a dozen runs of tens of
thousands of frames each stays small.

This module is part of the engine: it sees frames as bytes and imports no layer.
"""

from __future__ import annotations

import math
import numbers
from collections import deque
from collections.abc import Callable
from typing import NamedTuple, cast

import numpy as np

from labkit.errors import LabkitValueError
from labkit.units import format_time, parse_time

__all__ = ["QueueDiscipline", "Queued", "DropTail", "CoDel"]

#: Rows a :class:`_Table` gathers as tuples before it moves them into a NumPy block.
_BLOCK = 4096


class Queued(NamedTuple):
    """A frame in a queue: its bytes, its capture id and when it came in (ns)."""

    frame: bytes
    xid: int
    arrived: int


DropHook = Callable[[Queued, int, str], None]


class _Table:
    """Rows of ``width`` integers recorded one at a time, kept compact.

    A row is appended as a tuple (as fast as a list's append); every :data:`_BLOCK`
    rows move into an int64 block. A tuple of three ints costs about 150 bytes, a
    block's row 24.
    """

    __slots__ = ("width", "rows", "blocks")

    def __init__(self, width: int) -> None:
        self.width = width
        self.rows: list[tuple[int, ...]] = []
        self.blocks: list[np.ndarray] = []

    def append(self, row: tuple[int, ...]) -> None:
        rows = self.rows
        rows.append(row)
        if len(rows) >= _BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.blocks.append(np.array(self.rows, dtype=np.int64).reshape(-1, self.width))
            self.rows = []

    def array(self) -> np.ndarray:
        """All rows as one ``(n, width)`` int64 array (a copy the table does not share)."""
        self._flush()
        if len(self.blocks) > 1:
            self.blocks = [np.concatenate(self.blocks)]
        return self.blocks[0].copy() if self.blocks else np.zeros((0, self.width), np.int64)

    def tolist(self) -> list[tuple[int, ...]]:
        return [tuple(int(x) for x in row) for block in self.blocks for row in block] + self.rows

    def __len__(self) -> int:
        return sum(len(b) for b in self.blocks) + len(self.rows)


def _whole(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise LabkitValueError(f"{name}={value!r}: expected a whole number >= {minimum}")
    return int(value)


class QueueDiscipline:
    """Base class: a FIFO with counters, a log and the hook that reports drops.

    Subclasses override :meth:`admit` (may this frame come in?) and, for an
    active queue manager such as CoDel, :meth:`dequeue`.
    """

    #: Name used as the capture note of the frames it drops.
    name = "queue"

    def __init__(self, *, record: bool = False) -> None:
        self._q: deque[Queued] = deque()
        #: Frames and bytes waiting now.
        self.packets = 0
        self.bytes = 0
        #: Frames dropped at the tail (queue full) and at the head (an AQM's decision).
        self.dropped_tail = 0
        self.dropped_head = 0
        self.record = bool(record)
        self._log = _Table(3)
        self._sojourns = _Table(2)
        #: Drops at the head are reported here (set by the channel): ``fn(item, now, note)``.
        self.on_drop: DropHook | None = None

    # -- what subclasses change ------------------------------------------------
    def admit(self, frame: bytes) -> bool:
        """Whether ``frame`` may join the queue as it is now (default: always)."""
        return True

    def spawn(self) -> QueueDiscipline:
        """A fresh, empty discipline with the same settings (one per link direction)."""
        raise NotImplementedError

    # -- the queue -------------------------------------------------------------
    def enqueue(self, frame: bytes, xid: int, now: int) -> bool:
        """Offer a frame at time ``now``; ``False`` if it was dropped at the tail."""
        if not self.admit(frame):
            self.dropped_tail += 1
            return False
        self._q.append(Queued(frame, xid, now))
        self.packets += 1
        self.bytes += len(frame)
        if self.record:
            self._log.append((now, self.packets, self.bytes))
        return True

    def _pop(self, now: int) -> Queued | None:
        if not self._q:
            return None
        item = self._q.popleft()
        self.packets -= 1
        self.bytes -= len(item.frame)
        if self.record:
            self._log.append((now, self.packets, self.bytes))
        return item

    def _drop(self, item: Queued, now: int, note: str) -> None:
        self.dropped_head += 1
        if self.on_drop is not None:
            self.on_drop(item, now, note)

    def _leave(self, item: Queued | None, now: int) -> Queued | None:
        if item is not None and self.record:
            self._sojourns.append((now, now - item.arrived))
        return item

    def dequeue(self, now: int) -> Queued | None:
        """The next frame for the transmitter at time ``now`` (``None``: empty)."""
        return self._leave(self._pop(now), now)

    def __len__(self) -> int:
        return self.packets

    @property
    def log(self) -> list[tuple[int, int, int]]:
        """``(time, packets, bytes)`` after every change, if ``record`` (a new list each time)."""
        return cast("list[tuple[int, int, int]]", self._log.tolist())

    @property
    def sojourns(self) -> list[tuple[int, int]]:
        """``(time, sojourn)`` of every frame that left for the wire, if ``record``."""
        return cast("list[tuple[int, int]]", self._sojourns.tolist())

    def series(self) -> dict[str, np.ndarray]:
        """The log as arrays: ``t``, ``packets``, ``bytes``; ``sojourn_t``, ``sojourn`` (ns)."""
        log = self._log.array()
        soj = self._sojourns.array()
        return {
            "t": log[:, 0], "packets": log[:, 1], "bytes": log[:, 2],
            "sojourn_t": soj[:, 0], "sojourn": soj[:, 1],
        }


class DropTail(QueueDiscipline):
    """First in, first out, with room for ``packets`` frames or ``bytes`` bytes.

    Give one of the two (``DropTail(packets=100)``, ``DropTail(bytes=64_000)``).
    A frame that would go past the limit is dropped: the "tail drop" of a router
    whose buffer is full.
    """

    name = "queue full"

    def __init__(
        self, packets: int | None = None, *, bytes: int | None = None, record: bool = False
    ) -> None:
        super().__init__(record=record)
        if (packets is None) == (bytes is None):
            raise LabkitValueError(
                f"packets={packets!r}, bytes={bytes!r}: give the queue's size in packets "
                "or in bytes (one of the two)"
            )
        self.limit_packets = None if packets is None else _whole(packets, "packets", 0)
        self.limit_bytes = None if bytes is None else _whole(bytes, "bytes", 0)

    def admit(self, frame: bytes) -> bool:
        if self.limit_packets is not None:
            return self.packets < self.limit_packets
        assert self.limit_bytes is not None
        return self.bytes + len(frame) <= self.limit_bytes

    def spawn(self) -> DropTail:
        if self.limit_packets is not None:
            return DropTail(self.limit_packets, record=self.record)
        return DropTail(bytes=self.limit_bytes, record=self.record)

    def __repr__(self) -> str:
        size = (
            f"{self.limit_packets} packets" if self.limit_packets is not None
            else f"{self.limit_bytes} bytes"
        )
        return f"<DropTail {size}: {self.packets} waiting>"


class CoDel(QueueDiscipline):
    """Controlled Delay, RFC 8289, as its section 5 pseudocode.

    CoDel watches each frame's sojourn time as it leaves. While that has stayed
    at or above ``target`` (default 5 ms) for a whole ``interval`` (default
    100 ms, about a worst-case round trip), it enters the *dropping state*: it
    drops the frame at the head, then the next after ``interval/sqrt(count)``,
    each drop sooner than the last (the control law), until the sojourn time
    falls below ``target``. A queue that holds at most one MTU-sized frame
    (``maxpacket``, default 1514 bytes) is never above target. ``limit`` (default
    1000 frames, Linux's) is a plain tail-drop bound for when even that is not
    enough.

    The state is public so that a lesson can watch it: :attr:`dropping`,
    :attr:`count`, :attr:`drop_next`, :attr:`first_above_time`.
    """

    name = "codel"

    def __init__(
        self,
        target: object = "5ms",
        interval: object = "100ms",
        *,
        limit: int = 1000,
        maxpacket: int = 1514,
        record: bool = False,
    ) -> None:
        super().__init__(record=record)
        self.target = parse_time(target, "target")
        self.interval = parse_time(interval, "interval")
        if self.interval <= 0:
            raise LabkitValueError(f"interval={interval!r}: must be longer than 0")
        self.limit = _whole(limit, "limit")
        self.maxpacket = _whole(maxpacket, "maxpacket")
        #: When the sojourn time will have been above target for an interval (None: below).
        self.first_above_time: int | None = None
        #: When the next drop is due, in the dropping state.
        self.drop_next = 0
        #: Drops since the dropping state began; ``lastcount`` is the count it began with.
        self.count = 0
        self.lastcount = 0
        self.dropping = False

    def admit(self, frame: bytes) -> bool:
        return self.packets < self.limit

    def spawn(self) -> CoDel:
        return CoDel(
            f"{self.target}ns", f"{self.interval}ns", limit=self.limit,
            maxpacket=self.maxpacket, record=self.record,
        )

    def control_law(self, t: int, count: int) -> int:
        """When the next drop is due: ``t + interval / sqrt(count)`` (RFC 8289 5.5)."""
        return t + int(self.interval / math.sqrt(count))

    def _dodequeue(self, now: int) -> tuple[Queued | None, bool]:
        item = self._pop(now)
        if item is None:
            self.first_above_time = None
            return None, False
        ok_to_drop = False
        sojourn = now - item.arrived
        if sojourn < self.target or self.bytes <= self.maxpacket:
            self.first_above_time = None
        elif self.first_above_time is None:
            self.first_above_time = now + self.interval
        elif now >= self.first_above_time:
            ok_to_drop = True
        return item, ok_to_drop

    def dequeue(self, now: int) -> Queued | None:
        item, ok_to_drop = self._dodequeue(now)
        if item is None:
            self.dropping = False
            return None
        if self.dropping:
            if not ok_to_drop:
                self.dropping = False
            while self.dropping and now >= self.drop_next:
                assert item is not None
                self._drop(item, now, self.name)
                self.count += 1
                item, ok_to_drop = self._dodequeue(now)
                if not ok_to_drop:
                    self.dropping = False
                else:
                    self.drop_next = self.control_law(self.drop_next, self.count)
        elif ok_to_drop:
            self._drop(item, now, self.name)
            item, ok_to_drop = self._dodequeue(now)
            self.dropping = True
            delta = self.count - self.lastcount
            self.count = 1
            if delta > 1 and now - self.drop_next < 16 * self.interval:
                self.count = delta
            self.drop_next = self.control_law(now, self.count)
            self.lastcount = self.count
        return self._leave(item, now)

    def __repr__(self) -> str:
        state = f"dropping, count {self.count}" if self.dropping else "not dropping"
        return (
            f"<CoDel target {format_time(self.target)}, interval {format_time(self.interval)}: "
            f"{self.packets} waiting, {state}>"
        )
