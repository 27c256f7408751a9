"""A shared medium: one cable (or one radio channel) that every attached station hears.

A :class:`~labkit.sim.link.Link` joins two interfaces, one frame at a time in each direction.
A :class:`Medium` is what classic Ethernet's coaxial cable and a radio channel are: many
stations attached at *positions* along it, and a signal sent by one reaches every other
after the propagation delay between their positions. Two signals that overlap at a place
garble each other there: a **collision**.

The model, all in integer nanoseconds of the engine's clock:

- a station's position is a distance along the medium, given in metres and turned into a
  *delay coordinate* ``u`` (ns) by the signal's speed (``ns_per_metre``, 5 ns/m for 2/3 of the
  speed of light); the delay between two positions is ``|u1 - u2|``;
- a transmission of ``n`` bytes started at ``s`` lasts ``ceil(8 n / bitrate)`` and ends at
  ``e``; at a position ``x`` it occupies the medium during ``[s + d(x), e + d(x))``;
- a transmission is **garbled** at ``x`` if another one occupies ``x`` at an overlapping
  time (a station's own transmission occupies its own position, so a station that is
  sending cannot receive). It is **clean** when no other station's position saw it garbled;
- **carrier sense** (:meth:`MediumPort.busy`) at ``x`` is "is any signal arriving at ``x``
  now": a transmission is seen only once it has propagated there;
- **collision detection**: a transmission started with ``detect=True`` has its station's
  ``collision(now)`` called the moment another signal reaches the sender while it is still
  sending. The station may then :meth:`~MediumPort.abort` and send a jam signal;
- the outcome is settled once the transmission has left every position (its end plus the
  largest delay on the medium): the sender's ``sent(ok, now)`` is called then (what an
  acknowledgement would tell it), and every station whose ``receive(frame, now)`` is wanted
  and that heard the frame clean gets it at the moment its last bit arrived there.

Events scale with transmissions, not with stations or time: a transmission costs one event
for its outcome, at most one for a collision its sender detects, and one per listening
station that receives it; deciding whether it was clean costs a binary search over the
positions per overlapping transmission. An idle station schedules nothing.

The medium moves opaque bytes: it imports no protocol layer. The medium access protocols
(ALOHA, CSMA, CSMA/CD) are link-layer logic in :mod:`labkit.link.aloha` and
:mod:`labkit.link.csma`; they see a :class:`MediumPort` through the door
:class:`labkit.link.access.MediumPort`, and :mod:`labkit.sim.access` joins the two.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from typing import Any, Protocol

from labkit.errors import LabkitValueError
from labkit.sim.engine import Engine, Timer
from labkit.units import format_time

__all__ = ["Medium", "MediumPort", "Transmission", "Station", "NS_PER_METRE"]

#: Nanoseconds a signal takes per metre of cable (2/3 of the speed of light, as in coax and twisted pair).
NS_PER_METRE = 5.0


class Station(Protocol):
    """What the medium calls on the station behind a port (any of the three may be absent)."""

    def collision(self, now: int) -> None: ...

    def sent(self, ok: bool, now: int) -> None: ...

    def receive(self, frame: bytes, now: int) -> None: ...


class Transmission:
    """One frame on the medium: who sent it, when, and what became of it."""

    __slots__ = (
        "port", "frame", "start", "end", "planned_end", "detect", "aborted", "detected_at",
        "ok", "others", "_detect", "_detect_time", "_settle",
    )

    def __init__(self, port: MediumPort, frame: bytes, start: int, end: int, detect: bool) -> None:
        self.port = port
        self.frame = frame
        #: When its first bit left the sender (ns).
        self.start = start
        #: When its last bit left the sender (ns): earlier than :attr:`planned_end` after an abort
        #: (then it counts the jam signal).
        self.end = end
        self.planned_end = end
        self.detect = detect
        #: True if its sender stopped it (after detecting a collision).
        self.aborted = False
        #: When its sender detected a collision, or ``None``.
        self.detected_at: int | None = None
        #: ``None`` until settled; then True if no station's position saw it garbled.
        self.ok: bool | None = None
        #: Transmissions whose signal may overlap this one somewhere (filled in as they start).
        self.others: list[Transmission] = []
        self._detect: Timer | None = None
        self._detect_time = -1
        self._settle: Timer | None = None

    @property
    def duration(self) -> int:
        """How long the sender sent (ns), the jam included."""
        return self.end - self.start

    def occupies(self, u: int) -> tuple[int, int]:
        """``(first, last)``: when its signal is at delay coordinate ``u`` (``last`` excluded)."""
        d = abs(u - self.port.u)
        return self.start + d, self.end + d

    def overlaps_at(self, other: Transmission, u: int) -> bool:
        """True if this transmission and ``other`` are both at ``u`` at some instant."""
        a0, a1 = self.occupies(u)
        b0, b1 = other.occupies(u)
        return a0 < b1 and b0 < a1

    def clean_at(self, u: int) -> bool:
        """True if no other transmission overlapped this one at delay coordinate ``u``."""
        return not self.aborted and not any(self.overlaps_at(o, u) for o in self.others)

    def __repr__(self) -> str:
        state = "pending" if self.ok is None else ("clean" if self.ok else "garbled")
        cut = ", aborted" if self.aborted else ""
        return (
            f"<Transmission from {self.port.name} {format_time(self.start)}..{format_time(self.end)}"
            f", {len(self.frame)} bytes, {state}{cut}>"
        )


class MediumPort:
    """One station's attachment to a :class:`Medium`: the door its access protocol uses.

    It is a clock (:meth:`now`, :meth:`call_at`, as :class:`labkit.link.interface.Clock`) and
    the medium's four verbs: :meth:`transmit`, :meth:`abort`, :meth:`busy`, :meth:`when_idle`.
    The station behind it (:attr:`station`) is told of collisions, outcomes and frames.
    """

    __slots__ = ("medium", "name", "position", "u", "station", "listening", "current",
                 "_idle_fn", "_idle_timer", "_gap", "_engine")

    def __init__(self, medium: Medium, name: str, position: float, u: int) -> None:
        self.medium = medium
        self.name = name
        #: Where it is attached, in metres from the medium's origin.
        self.position = position
        #: The same, as a delay coordinate in ns.
        self.u = u
        #: The station behind this port (set by whoever attaches one), or ``None``.
        self.station: Any = None
        #: True: frames heard clean are handed to ``station.receive`` (one event per frame); set
        #: by :meth:`Medium.attach`.
        self.listening = False
        #: The transmission this port is sending now, or ``None``.
        self.current: Transmission | None = None
        self._idle_fn: Callable[[], Any] | None = None
        self._idle_timer: Timer | None = None
        self._gap = 0
        self._engine = medium._engine

    # -- the clock --------------------------------------------------------------------------------
    def now(self) -> int:
        return self._engine.now

    def call_at(self, time: int, fn: Callable[..., Any], *args: Any) -> Timer:
        engine = self._engine
        return engine.timer(max(0, time - engine.now), fn, *args)

    @property
    def bitrate(self) -> int:
        """The medium's bit rate (bit/s)."""
        return self.medium.bitrate

    # -- the medium's verbs ------------------------------------------------------------------------
    def transmit(self, frame: bytes, *, detect: bool = False) -> int:
        """Start sending ``frame`` now; return the time its last bit will leave (ns).

        ``detect=True`` asks for collision detection: ``station.collision(now)`` is called when
        another signal reaches this position while the frame is still being sent.
        """
        return self.medium._transmit(self, frame, detect).end

    def abort(self, jam_ns: int = 0) -> int:
        """Stop the frame being sent now, after a jam signal of ``jam_ns``; return when it ends."""
        return self.medium._abort(self, jam_ns)

    def busy(self) -> bool:
        """Carrier sense: is any signal (this station's own included) at this position now?"""
        return self.medium._busy_until(self.u, self._engine.now) is not None

    def when_idle(self, fn: Callable[[], Any], gap: int = 0) -> None:
        """Call ``fn()`` once no signal has been at this position for ``gap`` ns (at once if so now).

        ``gap`` is a quiet time to wait out after the carrier drops, such as Ethernet's
        inter-frame gap; this station's own signal counts too. One wait per port: a second
        call replaces the first.
        """
        self.cancel_idle()
        medium = self.medium
        if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
            raise LabkitValueError(f"gap={gap!r}: expected a whole number of ns, >= 0")
        if gap > medium._linger:
            medium._linger = gap
        now = self._engine.now
        due = medium._quiet_due(self, now, gap)
        if due is None:
            fn()
            return
        self._idle_fn = fn
        self._gap = gap
        self._idle_timer = self._engine.timer(due - now, self._idle_check)
        medium._waiting[self] = None

    def cancel_idle(self) -> None:
        """Forget a wait started with :meth:`when_idle`."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self.medium._waiting.pop(self, None)
        self._idle_timer = None
        self._idle_fn = None

    def _idle_check(self) -> None:
        now = self._engine.now
        due = self.medium._quiet_due(self, now, self._gap)
        if due is not None:  # another signal arrived meanwhile: wait for it too
            self._idle_timer = self._engine.timer(due - now, self._idle_check)
            return
        fn = self._idle_fn
        self._idle_fn = None
        self._idle_timer = None
        self.medium._waiting.pop(self, None)
        if fn is not None:
            fn()

    def __repr__(self) -> str:
        return f"<MediumPort {self.name} at {self.position:g} m>"


class Medium:
    """A shared medium on ``engine`` at ``bitrate`` bit/s (see the module docstring).

    ``ns_per_metre`` is the signal's slowness (5 ns/m: 2e8 m/s); ``record=True`` keeps every
    transmission in :attr:`history`, for drawing.
    """

    __slots__ = (
        "_engine", "bitrate", "ns_per_metre", "ports", "record", "history", "transmissions",
        "clean", "garbled", "aborted", "clean_time", "delivered", "_active", "_us", "_span",
        "_listeners", "_waiting", "_linger",
    )

    def __init__(
        self, engine: Engine, *, bitrate: int = 10_000_000, ns_per_metre: float = NS_PER_METRE,
        record: bool = False,
    ) -> None:
        if not isinstance(engine, Engine):
            raise LabkitValueError(f"engine={engine!r}: expected a labkit.sim.Engine")
        if isinstance(bitrate, bool) or not isinstance(bitrate, int) or bitrate <= 0:
            raise LabkitValueError(f"bitrate={bitrate!r}: expected a positive whole number of bit/s")
        if not isinstance(ns_per_metre, (int, float)) or not ns_per_metre >= 0:
            raise LabkitValueError(f"ns_per_metre={ns_per_metre!r}: expected a number >= 0")
        self._engine = engine
        self.bitrate = bitrate
        self.ns_per_metre = float(ns_per_metre)
        self.ports: list[MediumPort] = []
        self.record = bool(record)
        #: Every transmission, in start order (only with ``record=True``).
        self.history: list[Transmission] = []
        #: Counters: transmissions started, settled clean, settled garbled, aborted by their sender.
        self.transmissions = 0
        self.clean = 0
        self.garbled = 0
        self.aborted = 0
        #: The time spent sending frames that arrived clean (ns): throughput = clean_time / elapsed.
        self.clean_time = 0
        #: Frames handed to listening stations.
        self.delivered = 0
        self._active: list[Transmission] = []
        self._us: list[int] = []  # the ports' delay coordinates, sorted
        self._span = 0  # the largest delay between two ports (ns)
        self._listeners: list[MediumPort] = []
        self._linger = 0  # the longest quiet gap a station waits for: keep signals that long
        self._waiting: dict[MediumPort, None] = {}  # ports waiting for the carrier to drop (in order)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def span(self) -> int:
        """The largest propagation delay between two attached stations (ns)."""
        return self._span

    def frame_time(self, length: int) -> int:
        """Nanoseconds to send ``length`` bytes."""
        return (length * 8_000_000_000 + self.bitrate - 1) // self.bitrate

    def delay(self, a: MediumPort, b: MediumPort) -> int:
        """The propagation delay between two ports (ns)."""
        return abs(a.u - b.u)

    def attach(self, position: float = 0.0, station: Any = None, *, name: str | None = None,
               listening: bool = False) -> MediumPort:
        """Attach a station at ``position`` metres along the medium; return its port."""
        if isinstance(position, bool) or not isinstance(position, (int, float)) or not position >= 0:
            raise LabkitValueError(f"position={position!r}: expected a distance in metres, >= 0")
        if self._active:
            raise LabkitValueError(
                f"position={position!r}: attach every station before the first transmission"
            )
        port = MediumPort(self, name or f"S{len(self.ports)}", float(position),
                          round(position * self.ns_per_metre))
        port.station = station
        port.listening = bool(listening)
        self.ports.append(port)
        if port.listening:
            self._listeners.append(port)
        insort(self._us, port.u)
        self._span = self._us[-1] - self._us[0]
        return port

    # -- what the ports call ---------------------------------------------------------------------
    def _busy_until(self, u: int, now: int) -> int | None:
        """If some signal is at ``u`` now, when the last of those present now leaves; else None."""
        until = None
        for t in self._active:
            d = abs(u - t.port.u)
            if t.start + d < now < t.end + d and (until is None or t.end + d > until):
                until = t.end + d
        return until

    def _quiet_due(self, port: MediumPort, now: int, gap: int) -> int | None:
        """None if no signal has been at ``port`` during the last ``gap`` ns; else when that will be
        so (as far as is known now: a signal arriving later moves it). Its own frame counts."""
        u = port.u
        own = port.current
        last = own.end if own is not None and own.end > now else -1
        for t in self._active:
            d = abs(u - t.port.u)
            if t.start + d < now and t.end + d > last:
                last = t.end + d
        if last < 0 or last + gap <= now:
            return None
        return last + gap

    def _transmit(self, port: MediumPort, frame: bytes, detect: bool) -> Transmission:
        if not isinstance(frame, (bytes, bytearray)) or not frame:
            raise LabkitValueError(f"frame={frame!r:.40}: expected some bytes")
        if port.current is not None and port.current.end > self._engine.now:
            raise LabkitValueError(
                f"port={port.name!r}: it is still sending the frame it started at "
                f"{format_time(port.current.start)}; one frame at a time"
            )
        engine = self._engine
        now = engine.now
        tx = Transmission(port, bytes(frame), now, now + self.frame_time(len(frame)), detect)
        span = self._span
        keep = span + self._linger
        active = [t for t in self._active if t.end + keep > now]
        u = port.u
        for t in active:  # every transmission still on the medium somewhere may overlap this one
            if t.end + span <= now:
                continue
            t.others.append(tx)
            tx.others.append(t)
            if t.detect and t.detected_at is None and not t.aborted and t.end > now:
                # the new signal reaches t's sender after the delay between them
                when = now + abs(u - t.port.u)
                if when < t.end and (t._detect_time < 0 or when < t._detect_time):
                    self._schedule_detection(t, when)
        active.append(tx)
        self._active = active
        port.current = tx
        self.transmissions += 1
        if self.record:
            self.history.append(tx)
        if detect:
            first = self._detection(tx)
            if first is not None:
                self._schedule_detection(tx, first)
        tx._settle = engine.timer(tx.end + span - now, self._settle, tx)
        for p in self._listeners:
            if p is not port:
                engine.at(tx.end + abs(p.u - port.u), self._deliver, tx, p)
        return tx

    @staticmethod
    def _detection(tx: Transmission) -> int | None:
        """The first moment another signal is at ``tx``'s sender while it sends, or None."""
        u = tx.port.u
        first = None
        for o in tx.others:
            d = abs(u - o.port.u)
            when = max(tx.start, o.start + d)
            if when < tx.end and when < o.end + d and (first is None or when < first):
                first = when
        return first

    def _schedule_detection(self, tx: Transmission, when: int) -> None:
        if tx._detect is not None:
            tx._detect.cancel()
        tx._detect_time = when
        engine = self._engine
        tx._detect = engine.timer(when - engine.now, self._detected, tx)

    def _detected(self, tx: Transmission) -> None:
        tx._detect = None
        tx._detect_time = -1
        now = self._engine.now
        if tx.aborted or tx.detected_at is not None or tx.end <= now:
            return
        when = self._detection(tx)  # the others may have been cut short meanwhile
        if when is None:
            return
        if when > now:
            self._schedule_detection(tx, when)
            return
        tx.detected_at = now
        fn = getattr(tx.port.station, "collision", None)
        if fn is not None:
            fn(now)

    def _abort(self, port: MediumPort, jam_ns: int) -> int:
        now = self._engine.now
        tx = port.current
        if tx is None or tx.end <= now:
            raise LabkitValueError(f"port={port.name!r}: it is not sending anything to abort")
        if isinstance(jam_ns, bool) or not isinstance(jam_ns, int) or jam_ns < 0:
            raise LabkitValueError(f"jam_ns={jam_ns!r}: expected a whole number of ns, >= 0")
        tx.aborted = True
        tx.end = now + jam_ns
        self.aborted += 1
        engine = self._engine
        if tx._settle is not None:
            tx._settle.cancel()
        tx._settle = engine.timer(tx.end + self._span - now, self._settle, tx)
        if tx._detect is not None:
            tx._detect.cancel()
            tx._detect = None
        for p in list(self._waiting):  # the carrier may now drop earlier where stations wait for it
            timer = p._idle_timer
            if timer is None:
                continue
            due = self._quiet_due(p, now, p._gap)
            if due is None:
                due = now
            if due < timer.time:
                timer.cancel()
                p._idle_timer = engine.timer(due - now, p._idle_check)
        return tx.end

    def _garbled_somewhere(self, tx: Transmission) -> bool:
        """True if another transmission overlapped ``tx`` at some other station's position."""
        us = self._us
        ui = tx.port.u
        for o in tx.others:
            uj = o.port.u
            # at u, tx is there during [s_i + |u-u_i|, e_i + ...), o during [s_j + |u-u_j|, ...):
            # they overlap iff f(u) = |u-u_i| - |u-u_j| lies in (s_j - e_i, e_j - s_i).
            lo, hi = o.start - tx.end, o.end - tx.start
            if ui == uj:
                hit = range(0, len(us)) if lo < 0 < hi else range(0)
            else:
                sign = 1 if ui < uj else -1  # make f non-decreasing along the sorted positions

                def f(u: int, ui: int = ui, uj: int = uj, sign: int = sign) -> int:
                    return sign * (abs(u - ui) - abs(u - uj))

                a, b = (lo, hi) if sign == 1 else (-hi, -lo)
                hit = range(bisect_right(us, a, key=f), bisect_left(us, b, key=f))
            if not hit:
                continue
            # the sender's own position does not count as a receiver (one port of it)
            own = 1 if bisect_left(us, ui) in hit else 0
            if len(hit) - own > 0:
                return True
        return False

    def _settle(self, tx: Transmission) -> None:
        now = self._engine.now
        ok = not tx.aborted and not self._garbled_somewhere(tx)
        tx.ok = ok
        if ok:
            self.clean += 1
            self.clean_time += tx.end - tx.start
        else:
            self.garbled += 1
        span = self._span
        keep = span + self._linger
        if self._active and self._active[0].end + keep <= now:
            self._active = [t for t in self._active if t.end + keep > now or t.ok is None]
        if tx.port.current is tx:
            tx.port.current = None
        fn = getattr(tx.port.station, "sent", None)
        if fn is not None:
            fn(ok, now)

    def _deliver(self, tx: Transmission, port: MediumPort) -> None:
        if tx.aborted or not tx.clean_at(port.u):
            return
        self.delivered += 1
        fn = getattr(port.station, "receive", None)
        if fn is not None:
            fn(tx.frame, self._engine.now)

    def __repr__(self) -> str:
        return (
            f"<Medium {len(self.ports)} stations over {format_time(self._span)}, "
            f"{self.bitrate} bit/s: {self.transmissions} sent, {self.clean} clean, "
            f"{self.garbled} garbled>"
        )
