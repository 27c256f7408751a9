"""The discrete-event engine: a virtual clock and a queue of things to do.

An :class:`Engine` holds a heap of events ``(time, sequence, function, args)``.
:meth:`Engine.run` pops the earliest, sets :attr:`Engine.now` to its time and
calls ``function(*args)``; that call may schedule more events. Nothing here
reads the wall clock: time only moves when an event is taken off the queue.

- Time is an ``int`` of nanoseconds, so it never drifts (``0.1 s`` added ten
  times is exactly ``1 s``).
- Events at the same time run in the order they were scheduled (the sequence
  number breaks ties), so a run is the same every time.
- One ``numpy.random.Generator`` per engine (:attr:`Engine.rng`), seeded at
  construction: every random choice in a network comes from it, in event order,
  so the same seed gives the same run.

Cancelling an event (:meth:`Engine.cancel`, or :meth:`Timer.cancel`) marks its
sequence number; the event is skipped when it comes up, and :attr:`Engine.pending`
and :meth:`Engine.peek` do not count it. Once cancelled events are most of the
queue, the queue is rebuilt without them (as asyncio does with its timers), so a
protocol that sets and cancels a timer per packet does not grow the heap without
bound. The hot loop is a plain ``heapq`` of tuples.

:meth:`Engine.run` is not re-entrant: an event that calls it (directly, or
through a blocking socket call, ``ping`` or ``net.run``) gets a
:class:`~labkit.sim.errors.ReentrantRunError`, since the events it would run
would interrupt the one still running.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

import numpy as np

from labkit.errors import LabkitValueError
from labkit.sim.errors import ReentrantRunError
from labkit.units import format_time

__all__ = ["Engine", "Timer"]

#: The queue is compacted only past this many entries (below it, skipping is cheaper).
_COMPACT_MIN = 64

_REENTRY_HINT = (
    "the simulation is already running: this was called from inside one of its events "
    "(a frame handler, a timer or a socket callback), and running it again there would run "
    "other events in the middle of this one. Inside an event, use the event API instead: "
    "sock.on_data(...), sock.on_connection(...), sock.on_close(...), net.after(delay, fn); "
    "call blocking functions (recv, accept, connect, ping, traceroute, net.run) only from "
    "the top level of a notebook cell or script"
)


class Timer:
    """A handle on one scheduled call: :meth:`cancel` it, ask if it is :attr:`pending`."""

    __slots__ = ("_engine", "seq", "time", "_done")

    def __init__(self, engine: Engine, seq: int, time: int) -> None:
        self._engine = engine
        self.seq = seq
        #: When the call is due, in nanoseconds of virtual time.
        self.time = time
        self._done = False

    @property
    def pending(self) -> bool:
        """True until the call has run or been cancelled."""
        return not self._done and not self._fired()

    def _fired(self) -> bool:
        # Events run in (time, seq) order, so an event has come up once the clock has
        # passed its time, or stands at its time with a later-or-equal sequence number run.
        e = self._engine
        return e.now > self.time or (e.now == self.time and e._last_seq >= self.seq)

    def cancel(self) -> None:
        """Stop the call from happening (no effect if it already ran)."""
        if self.pending:
            self._engine._cancel_queued(self.seq)
        self._done = True

    def __repr__(self) -> str:
        state = "pending" if self.pending else "done"
        return f"<Timer due at {format_time(self.time)}, {state}>"


class Engine:
    """A virtual clock in nanoseconds and an ordered queue of events.

    ``seed`` seeds :attr:`rng`, the one random generator of the run.
    """

    __slots__ = (
        "now", "rng", "seed", "_queue", "_seq", "_cancelled", "_last_seq", "_running", "events_run",
    )

    def __init__(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise LabkitValueError(
                f"seed={seed!r}: expected a whole number, so that the run can be repeated"
            )
        #: The current virtual time in nanoseconds.
        self.now: int = 0
        self.seed = int(seed)
        #: The run's random generator; impairments and layers draw from it in event order.
        self.rng: np.random.Generator = np.random.default_rng(self.seed)
        self._queue: list[tuple[int, int, Callable[..., Any], tuple]] = []
        self._seq = 0
        self._cancelled: set[int] = set()
        self._last_seq = -1
        self._running = False
        #: Events executed so far (cancelled ones are not counted).
        self.events_run = 0

    # -- scheduling ---------------------------------------------------------------------------
    def at(self, time: int, fn: Callable[..., Any], *args: Any) -> int:
        """Schedule ``fn(*args)`` at virtual time ``time`` (ns); return its sequence number.

        A time in the past is refused: the clock only moves forward.
        """
        if time < self.now:
            raise LabkitValueError(
                f"time={format_time(time)}: that is in the past (now is {format_time(self.now)}); "
                "events can only be scheduled at or after the current time"
            )
        seq = self._seq
        self._seq = seq + 1
        heapq.heappush(self._queue, (time, seq, fn, args))
        return seq

    def after(self, delay: int, fn: Callable[..., Any], *args: Any) -> int:
        """Schedule ``fn(*args)`` ``delay`` nanoseconds from now; return its sequence number."""
        if delay < 0:
            raise LabkitValueError(f"delay={delay!r} ns: cannot schedule into the past")
        seq = self._seq
        self._seq = seq + 1
        heapq.heappush(self._queue, (self.now + delay, seq, fn, args))
        return seq

    def timer(self, delay: int, fn: Callable[..., Any], *args: Any) -> Timer:
        """Like :meth:`after`, but return a :class:`Timer` that can be cancelled."""
        seq = self.after(delay, fn, *args)
        return Timer(self, seq, self.now + delay)

    def cancel(self, seq: int) -> None:
        """Cancel the event with sequence number ``seq`` (returned by :meth:`at`/:meth:`after`).

        An event that already ran, or was already cancelled, is left as it is (and
        nothing is remembered about it).
        """
        if seq in self._cancelled or not any(item[1] == seq for item in self._queue):
            return
        self._cancel_queued(seq)

    def _cancel_queued(self, seq: int) -> None:
        """Mark ``seq``, known to be in the queue, as cancelled; compact the queue if need be."""
        cancelled = self._cancelled
        cancelled.add(seq)
        queue = self._queue
        if len(queue) >= _COMPACT_MIN and 2 * len(cancelled) > len(queue):
            queue[:] = [item for item in queue if item[1] not in cancelled]
            heapq.heapify(queue)
            cancelled.clear()

    # -- running ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Events still to run (cancelled ones are not counted)."""
        return len(self._queue) - len(self._cancelled)

    @property
    def running(self) -> bool:
        """True while :meth:`run` is executing events (inside an event handler, say)."""
        return self._running

    def peek(self) -> int | None:
        """The time of the next event that will run, or ``None`` if there is none."""
        queue = self._queue
        cancelled = self._cancelled
        while queue and queue[0][1] in cancelled:
            cancelled.discard(heapq.heappop(queue)[1])
        return queue[0][0] if queue else None

    def run(self, until: int | None = None, max_events: int | None = None) -> int:
        """Run events in order; return how many ran.

        Stops when the queue is empty, when the next event is later than
        ``until`` (then the clock is set to ``until``: the time has passed with
        nothing happening), or after ``max_events`` events.

        Raises :class:`~labkit.sim.errors.ReentrantRunError` if called from inside
        an event that this engine is running.
        """
        if self._running:
            raise ReentrantRunError(_REENTRY_HINT)
        self._running = True
        queue = self._queue
        pop = heapq.heappop
        cancelled = self._cancelled
        limit = -1 if max_events is None else int(max_events)
        horizon = until
        n = 0
        try:
            while queue and n != limit:
                item = queue[0]
                t = item[0]
                if horizon is not None and t > horizon:
                    break
                pop(queue)
                seq = item[1]
                if cancelled and seq in cancelled:
                    cancelled.discard(seq)
                    continue
                self.now = t
                self._last_seq = seq
                item[2](*item[3])
                n += 1
        except BaseException as exc:
            if hasattr(exc, "add_note"):
                exc.add_note(f"(raised by an event at virtual time {format_time(self.now)})")
            raise
        finally:
            self.events_run += n
            self._running = False
        if horizon is not None and n != limit and horizon > self.now:
            self.now = horizon
        return n

    def step(self) -> bool:
        """Run the next event; return False if there was none."""
        return self.run(max_events=1) == 1

    def __repr__(self) -> str:
        return f"<Engine now={format_time(self.now)} pending={self.pending} seed={self.seed}>"
