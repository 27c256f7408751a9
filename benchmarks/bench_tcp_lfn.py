"""TCP on a long fat pipe: 64 MiB over 100 Mbit/s with 50 ms one way (issue 17).

Two labkit TCP connections, default ``TCPConfig`` (window scaling, SACK,
timestamps, IW10, 2 MiB receive buffer), joined by a model of one
bottleneck in each direction: a link of ``RATE`` bits per second that
serialises each packet (TCP segment + 20 bytes of IPv4 + 14 of Ethernet),
a drop-tail queue in front of it holding ``QUEUE`` bytes (one
bandwidth-delay product by default), and ``DELAY`` of propagation. Segments
cross as bytes with real checksums, on labkit.sim's engine (virtual time).

Reported: goodput (bytes the receiver read, per second of virtual time) of
the whole transfer, connect to last byte read (slow start included), and of
its second half, each as a fraction of the link rate (ceiling: 1448 of
every 1514 bytes, 95.6%); losses at the queue; and the wall time the
simulation took. Goals: second half at least 90%, whole at least 80%, wall
time at most 30 s on the 2-core machine.

Also: 1 MiB over 10 Mbit/s, 10 ms one way (an unlimited queue), lossless
(goal: at least 90% of the link from connect to the last byte read) and at
1% random loss (goal: at least 0.9 of the Mathis estimate
MSS/RTT x 1.22/sqrt(p)).

Run: ``python benchmarks/bench_tcp_lfn.py`` (``--size 8`` for 8 MiB).
"""

from __future__ import annotations

import argparse
import math
import time
from ipaddress import IPv4Address

import numpy as np

from labkit.errors import ParseError
from labkit.sim.engine import Engine
from labkit.transport.tcp import TCPSegment
from labkit.transport.tcp_connection import State, TCPConfig, TCPConnection

MS = 1_000_000
S = 1_000_000_000
ADDRS = (IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"))
OVERHEAD = 20 + 14  # IPv4 and Ethernet headers per segment on the wire


class Path:
    """A bottleneck each way: drop-tail queue (bytes), serialisation, propagation; optional loss."""

    def __init__(self, engine: Engine, conns: tuple[TCPConnection, TCPConnection], rate: float,
                 delay: int, queue: int | None, loss: float = 0.0) -> None:
        self.engine, self.conns, self.rate, self.delay = engine, conns, rate, delay
        self.queue, self.loss = queue, loss
        self.busy = [0, 0]
        self.drops = [0, 0]
        self.timers: list = [None, None]

    def flush(self, side: int) -> None:
        conn, now = self.conns[side], self.engine.now
        for seg in conn.take_output():
            raw = seg.pack(ADDRS[side], ADDRS[1 - side])
            size = len(raw) + OVERHEAD
            backlog = max(0, self.busy[side] - now) * self.rate / 8 / S
            if self.queue is not None and backlog + size > self.queue:
                self.drops[side] += 1
                continue
            if self.loss and self.engine.rng.random() < self.loss:
                self.drops[side] += 1
                continue
            depart = max(now, self.busy[side]) + int(size * 8 * S / self.rate)
            self.busy[side] = depart
            self.engine.at(depart + self.delay, self.deliver, 1 - side, raw)
        self.schedule(side)

    def schedule(self, side: int) -> None:
        due = self.conns[side].next_timer()
        current = self.timers[side]
        if current is not None and current[0] == due:
            return
        if current is not None:
            current[1].cancel()
            self.timers[side] = None
        if due is not None:
            self.timers[side] = (due, self.engine.timer(max(due, self.engine.now) - self.engine.now,
                                                        self.fire, side))

    def fire(self, side: int) -> None:
        self.timers[side] = None
        self.conns[side].tick(self.engine.now)
        self.flush(side)

    def deliver(self, side: int, raw: bytes) -> None:
        try:
            seg = TCPSegment.parse(raw, ADDRS[1 - side], ADDRS[side])
        except ParseError:
            return
        self.conns[side].segment_arrives(seg, self.engine.now)
        self.flush(side)
        if self.on_deliver is not None:
            self.on_deliver()

    on_deliver = None


def run(size: int, rate: float, delay: int, queue: int | None, loss: float = 0.0,
        seed: int = 1, config: TCPConfig | None = None) -> dict:
    engine = Engine(seed)
    config = config or TCPConfig()
    a = TCPConnection(40000, 80, iss=engine.rng, config=config, name="A")
    b = TCPConnection(80, iss=engine.rng, config=config, name="B")
    b.listen(0)
    path = Path(engine, (a, b), rate, delay, queue, loss)
    data = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    got = bytearray()
    sent = 0
    half_at = done_at = None

    def pump() -> None:
        nonlocal sent, half_at, done_at
        if sent < size and a.state is State.ESTABLISHED and a.send_space > 0:
            sent += a.send(data[sent:sent + a.send_space], engine.now)
            if sent == size:
                a.close(engine.now)
            path.flush(0)
        if b.readable:
            got.extend(b.recv(1 << 22, engine.now))
            if half_at is None and len(got) >= size // 2:
                half_at = engine.now
            if len(got) == size:
                done_at = engine.now
            path.flush(1)

    path.on_deliver = pump
    wall = time.perf_counter()
    a.connect(0)
    path.flush(0)
    while len(got) < size and engine.run(until=engine.now + 3600 * S, max_events=10_000):
        if a.error or b.error:
            break
    wall = time.perf_counter() - wall
    assert bytes(got) == data and done_at is not None and half_at is not None, (
        len(got), a.error, b.error)
    done = done_at
    total = size * 8 / (done / S)
    second = (size - size // 2) * 8 / ((done - half_at) / S)
    return dict(whole=total / rate, second=second / rate, drops=path.drops[0],
                retx=a.retransmissions, wall=wall, virtual=done / S,
                srtt=(a.srtt or 0) / S, smss=a.smss, cwnd_max=max(c for _, c, _ in a.cwnd_history))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=64, help="MiB for the long fat pipe")
    args = parser.parse_args()
    rate, delay = 100e6, 50 * MS
    bdp = int(rate / 8 * 2 * delay / S)
    size = args.size << 20
    r = run(size, rate, delay, queue=bdp)
    print(f"{args.size} MiB, 100 Mbit/s, 50 ms one way, drop-tail queue of one BDP ({bdp} B)")
    print(f"  whole transfer {r['whole']:.1%} of the link (goal >= 80%), second half "
          f"{r['second']:.1%} (goal >= 90%, ceiling 95.6%)")
    print(f"  queue drops {r['drops']}, retransmissions {r['retx']}, max cwnd {r['cwnd_max']} B, "
          f"virtual {r['virtual']:.2f} s, wall {r['wall']:.1f} s (goal <= 30 s for 64 MiB)")
    small = 1 << 20
    r0 = run(small, 10e6, 10 * MS, queue=None)
    print(f"1 MiB, 10 Mbit/s, 10 ms: lossless {r0['whole']:.1%} of the link (goal >= 90%), "
          f"wall {r0['wall']:.2f} s")
    rates, rtts = [], []
    for seed in (1, 2, 3, 4, 5):
        r1 = run(small, 10e6, 10 * MS, queue=None, loss=0.01, seed=seed)
        rates.append(r1["whole"] * 10e6)
        rtts.append(r1["srtt"])
    goodput, rtt = float(np.median(rates)), float(np.median(rtts))
    mathis = r1["smss"] * 8 / rtt * 1.22 / math.sqrt(0.01)
    print(f"1 MiB, 10 Mbit/s, 10 ms, 1% loss: median of 5 seeds {goodput / 1e6:.2f} Mbit/s, "
          f"Mathis {mathis / 1e6:.2f} Mbit/s (RTT {rtt * 1e3:.1f} ms): {goodput / mathis:.2f} "
          f"(goal >= 0.9)")


if __name__ == "__main__":
    main()
