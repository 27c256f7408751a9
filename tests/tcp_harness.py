"""A test bench for two TCP connections joined by an impaired wire, on a virtual clock.

Segments cross the wire as bytes, with checksums over an IPv4 pseudo-header,
so a corrupted segment is caught by the real checksum and dropped, as a host
would. Every random choice comes from one seeded generator.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import numpy as np

from labkit import ParseError
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
    rng: np.random.Generator
    delay: int = 5 * MS
    bandwidth: float | None = None  # bits per second; None = infinitely fast
    impair: Impairments = field(default_factory=Impairments)
    now: int = 0
    log: list = field(default_factory=list)  # (time, "A>B" or "B>A", segment summary, fate)
    drop_rule: object = None  # optional callable(direction, segment) -> bool: drop exactly this one

    def __post_init__(self) -> None:
        self._events: list = []
        self._n = 0
        self._busy = {0: 0, 1: 0}
        self.segments = {0: [], 1: []}  # what each side sent, as parsed segments

    def _peer(self, side: int) -> TCPConnection:
        return self.b if side == 0 else self.a

    def _flush(self, side: int) -> None:
        conn = self.a if side == 0 else self.b
        src, dst = ADDRESSES[side], ADDRESSES[1 - side]
        for seg in conn.take_output():
            self.segments[side].append(seg)
            direction = "A>B" if side == 0 else "B>A"
            raw = bytearray(seg.pack(src, dst))
            depart = self.now
            if self.bandwidth:
                start = max(self.now, self._busy[side])
                depart = start + int(len(raw) * 8 * 1e9 / self.bandwidth)
                self._busy[side] = depart
            if self.drop_rule is not None and self.drop_rule(direction, seg):
                self.log.append((self.now, direction, seg.summary(), "dropped (scripted)"))
                continue
            imp, rng = self.impair, self.rng
            if imp.loss and rng.random() < imp.loss:
                self.log.append((self.now, direction, seg.summary(), "lost"))
                continue
            if imp.corrupt and rng.random() < imp.corrupt:
                bit = int(rng.integers(0, len(raw) * 8))
                raw[bit // 8] ^= 1 << (bit % 8)
            copies = 2 if imp.duplicate and rng.random() < imp.duplicate else 1
            for _ in range(copies):
                arrive = depart + self.delay
                if imp.reorder and rng.random() < imp.reorder:
                    arrive += imp.reorder_delay
                self._push(arrive, ("deliver", 1 - side, bytes(raw)))
            self.log.append((self.now, direction, seg.summary(), "sent"))

    def _push(self, when: int, event) -> None:
        heapq.heappush(self._events, (when, self._n, event))
        self._n += 1

    def flush(self) -> None:
        self._flush(0)
        self._flush(1)

    def run(self, until: int, stop=None) -> None:
        """Run events and timers up to virtual time ``until`` (or until ``stop()`` is true)."""
        self.flush()
        while True:
            if stop is not None and stop():
                return
            timers = [(t, side) for side, c in ((0, self.a), (1, self.b))
                      if (t := c.next_timer()) is not None]
            next_event = self._events[0][0] if self._events else None
            next_timer = min(timers) if timers else None
            candidates = [t for t in (next_event, next_timer and next_timer[0]) if t is not None]
            if not candidates or min(candidates) > until:
                self.now = until
                return
            if next_timer is not None and (next_event is None or next_timer[0] < next_event):
                self.now = max(self.now, next_timer[0])
                (self.a if next_timer[1] == 0 else self.b).tick(self.now)
            else:
                when, _, (_, side, raw) = heapq.heappop(self._events)
                self.now = max(self.now, when)
                conn = self.a if side == 0 else self.b
                src, dst = ADDRESSES[1 - side], ADDRESSES[side]
                try:
                    seg = TCPSegment.parse(raw, src, dst)
                except ParseError:
                    self.log.append((self.now, "A>B" if side == 1 else "B>A", "corrupt", "dropped"))
                    continue
                conn.segment_arrives(seg, self.now)
            self.flush()


def pair(seed: int = 1, **kwargs) -> Bench:
    """A client A (port 40000) and a listening server B (port 80), not yet connected."""
    rng = np.random.default_rng(seed)
    config = kwargs.pop("config", None)
    a = TCPConnection(40000, 80, iss=rng, config=config, name="A")
    b = TCPConnection(80, iss=rng, config=config, name="B")
    b.listen(0)
    return Bench(a, b, rng, **kwargs)


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
