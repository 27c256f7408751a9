"""A test bench for two TCP connections joined by an impaired wire, on a virtual clock.

Segments cross the wire as bytes, with checksums over an IPv4 pseudo-header,
so a corrupted segment is caught by the real checksum and dropped, as a host
would. Every random choice comes from one seeded generator.

The clock and the queue are labkit.sim's :class:`~labkit.sim.engine.Engine`
(virtual nanoseconds, seeded ``rng``), used through its public API only. A
:class:`TCPConnection` does not schedule anything itself (time is passed in):
after every step the bench asks each end for its :meth:`~TCPConnection.next_timer`
and keeps one engine timer per end at that time, replacing it when the deadline
moves, as ``labkit.transport.sockets`` does. Events at the same nanosecond run
in the order they were scheduled (the engine's rule), so a seed gives the same
run every time. The bench never calls ``Engine.run`` from inside an event.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TypeVar

import numpy as np

from labkit import ParseError
from labkit.sim.engine import Engine, Timer
from labkit.transport.tcp import TCPSegment
from labkit.transport.tcp_connection import TCPConnection

MS = 1_000_000
ADDRESSES = (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"))


@dataclass
class Impairments:
    loss: float = 0.0
    corrupt: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0  # probability a segment is held back by an extra delay
    reorder_delay: int = 15 * MS


@dataclass
class Bench:
    a: TCPConnection
    b: TCPConnection
    engine: Engine
    delay: int = 5 * MS
    bandwidth: float | None = None  # bits per second; None = infinitely fast
    impair: Impairments = field(default_factory=Impairments)
    log: list = field(default_factory=list)  # (time, "A>B" or "B>A", segment summary, fate)
    drop_rule: object = None  # optional callable(direction, segment) -> bool: drop exactly this one

    def __post_init__(self) -> None:
        self._busy = {0: 0, 1: 0}
        self._timers: dict[int, tuple[int, Timer] | None] = {0: None, 1: None}
        self.segments = {0: [], 1: []}  # what each side sent, as parsed segments

    @property
    def now(self) -> int:
        """The virtual time in nanoseconds (the engine's clock)."""
        return self.engine.now

    @property
    def rng(self) -> np.random.Generator:
        """The run's one random generator (the engine's)."""
        return self.engine.rng

    def _conn(self, side: int) -> TCPConnection:
        return self.a if side == 0 else self.b

    def _flush(self, side: int) -> None:
        conn = self._conn(side)
        src, dst = ADDRESSES[side], ADDRESSES[1 - side]
        now = self.now
        for seg in conn.take_output():
            self.segments[side].append(seg)
            direction = "A>B" if side == 0 else "B>A"
            raw = bytearray(seg.pack(src, dst))
            depart = now
            if self.bandwidth:
                start = max(now, self._busy[side])
                depart = start + int(len(raw) * 8 * 1e9 / self.bandwidth)
                self._busy[side] = depart
            if self.drop_rule is not None and self.drop_rule(direction, seg):
                self.log.append((now, direction, seg.summary(), "dropped (scripted)"))
                continue
            imp, rng = self.impair, self.rng
            if imp.loss and rng.random() < imp.loss:
                self.log.append((now, direction, seg.summary(), "lost"))
                continue
            if imp.corrupt and rng.random() < imp.corrupt:
                bit = int(rng.integers(0, len(raw) * 8))
                raw[bit // 8] ^= 1 << (bit % 8)
            copies = 2 if imp.duplicate and rng.random() < imp.duplicate else 1
            for _ in range(copies):
                arrive = depart + self.delay
                if imp.reorder and rng.random() < imp.reorder:
                    arrive += imp.reorder_delay
                self.engine.at(arrive, self._deliver, 1 - side, bytes(raw))
            self.log.append((now, direction, seg.summary(), "sent"))

    def _schedule(self, side: int) -> None:
        """Keep one engine timer per end, at the time its connection's next timer is due."""
        due = self._conn(side).next_timer()
        current = self._timers[side]
        if current is not None and current[0] == due:
            return
        if current is not None:
            current[1].cancel()
            self._timers[side] = None
        if due is not None:
            # A deadline already passed is run now: the clock only moves forward.
            timer = self.engine.timer(max(due, self.now) - self.now, self._fire, side)
            self._timers[side] = (due, timer)

    def _fire(self, side: int) -> None:
        self._timers[side] = None
        self._conn(side).tick(self.now)
        self.flush()

    def _deliver(self, side: int, raw: bytes) -> None:
        src, dst = ADDRESSES[1 - side], ADDRESSES[side]
        try:
            seg = TCPSegment.parse(raw, src, dst)
        except ParseError:
            self.log.append((self.now, "A>B" if side == 1 else "B>A", "corrupt", "dropped"))
            return
        self._conn(side).segment_arrives(seg, self.now)
        self.flush()

    def flush(self) -> None:
        """Put what both ends have queued on the wire, and follow their timers."""
        self._flush(0)
        self._flush(1)
        self._schedule(0)
        self._schedule(1)

    def run(self, until: int, stop=None) -> None:
        """Run events and timers up to virtual time ``until`` (or until ``stop()`` is true)."""
        self.flush()
        if stop is None:
            self.engine.run(until=until)
            return
        # One event at a time, so that stop() is asked before each; run() sets the clock to
        # ``until`` when nothing is left before it.
        while not stop():
            if not self.engine.run(until=until, max_events=1):
                return


def pair(seed: int = 1, **kwargs) -> Bench:
    """A client A (port 40000) and a listening server B (port 80), not yet connected."""
    engine = Engine(seed)
    config = kwargs.pop("config", None)
    a = TCPConnection(40000, 80, iss=engine.rng, config=config, name="A")
    b = TCPConnection(80, iss=engine.rng, config=config, name="B")
    b.listen(0)
    return Bench(a, b, engine, **kwargs)


def transfer(bench: Bench, data: bytes, limit: int) -> bytes:
    """Connect, send ``data`` from A to B, close both ends; return what B read."""
    a, b = bench.a, bench.b
    a.connect(bench.now)
    received = bytearray()
    sent = 0

    def pump() -> bool:
        nonlocal sent
        if a.error or b.error:
            return True
        if sent < len(data) and a.state.value == "ESTABLISHED":
            sent += a.send(data[sent:sent + 65536], bench.now)
            if sent == len(data):
                a.close(bench.now)
        chunk = b.recv(1 << 20, bench.now)
        received.extend(chunk)
        if b.eof and not b.readable and b.state.value == "CLOSE-WAIT":
            b.close(bench.now)
        bench.flush()
        return b.state.value == "CLOSED" and a.state.value in ("TIME-WAIT", "CLOSED")

    step = 1 * MS
    while bench.now < limit:
        bench.run(min(limit, bench.now + step), stop=None)
        if pump():
            break
    return bytes(received)


#: The faults of issue 17's robustness goal, each applied to both directions of the wire.
STRESS = {
    "10% loss": Impairments(loss=0.10),
    "5% corruption": Impairments(corrupt=0.05),
    "5% duplication": Impairments(duplicate=0.05),
    "reordering": Impairments(reorder=0.2),
    "all together": Impairments(loss=0.10, corrupt=0.05, duplicate=0.05, reorder=0.2),
}


@dataclass
class Exchange:
    """What :func:`exchange` saw: the bytes each end read, and the longest wait for progress."""

    a_got: bytes
    b_got: bytes
    longest_wait: int  # ns: the longest time either end waited for new bytes to read or be acked
    end: int  # ns: when both ends were done


def exchange(bench: Bench, a_data: bytes, b_data: bytes, limit: int, chunk: int = 65536) -> Exchange:
    """Both ends send at once (A connects, B listens); each closes when it has sent all.

    A blocking socket would raise a timeout if a ``recv`` (new bytes) or a
    ``send`` (room in the send buffer, that is, bytes acknowledged) waited
    longer than its timeout: :attr:`Exchange.longest_wait` is the longest
    such wait of either end, to compare with the sockets' default.
    """
    a, b = bench.a, bench.b
    a.connect(bench.now)
    got = {0: bytearray(), 1: bytearray()}
    sent = {0: 0, 1: 0}
    data = {0: a_data, 1: b_data}
    last_progress = {0: 0, 1: 0}
    marks = {0: (0, 0), 1: (0, 0)}
    longest = 0

    def pump() -> bool:
        nonlocal longest
        if a.error or b.error:
            return True
        for side, conn in ((0, a), (1, b)):
            if conn.state.value in ("ESTABLISHED", "CLOSE-WAIT") and sent[side] < len(data[side]):
                sent[side] += conn.send(data[side][sent[side]:sent[side] + chunk], bench.now)
                if sent[side] == len(data[side]):
                    conn.close(bench.now)
            got[side].extend(conn.recv(1 << 20, bench.now))
            mark = (len(got[side]), conn.snd_una)
            if mark != marks[side]:
                marks[side], last_progress[side] = mark, bench.now
            waiting = (not conn.eof) or sent[side] < len(data[side]) or conn.unacked
            if waiting and conn.state.value != "CLOSED":
                longest = max(longest, bench.now - last_progress[side])
        bench.flush()
        return (b.state.value == "CLOSED" and a.state.value in ("TIME-WAIT", "CLOSED")) or (
            a.state.value == "CLOSED" and b.state.value in ("TIME-WAIT", "CLOSED"))

    step = 1 * MS
    while bench.now < limit:
        bench.run(min(limit, bench.now + step))
        if pump():
            break
    return Exchange(bytes(got[0]), bytes(got[1]), longest, bench.now)


R = TypeVar("R")


def over_seeds(run: Callable[[int], R], seeds: Iterable[int]) -> list[R]:
    """``[run(seed) for seed in seeds]``, the seeds spread over the machine's cores.

    Each seeded run is independent and deterministic, so running them in
    worker processes changes nothing but the wall time: the suite's long
    fault runs (issue 17's 50 seeds per fault) take half as long on CI's two
    cores. ``run`` must be a module-level function (it is pickled by name) and
    should return something small, such as the facts a test asserts, not the
    bytes moved. Workers are forked, so they see the test module as pytest
    imported it; where fork is not the default start method (Windows, macOS)
    the runs stay in this process.
    """
    seeds = list(seeds)
    workers = min(len(seeds), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if workers < 2 or sys.platform != "linux":
        return [run(seed) for seed in seeds]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(run, seeds))
