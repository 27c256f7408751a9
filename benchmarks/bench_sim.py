"""Benchmark of labkit.sim: engine events per second, and memory per queued event.

Run from the repository root::

    python benchmarks/bench_sim.py            # 10^4, 10^5, 10^6 events
    python benchmarks/bench_sim.py --quick    # 10^4, 10^5 only

The network: 50 nodes (48 hosts, 2 switches joined by a trunk, 24 hosts on
each), 1 Gbit/s links with 5 us of propagation delay. Every host sends a
100-byte frame to another host every 20 us (steady traffic, with a per-host
phase so that frames interleave). The switches forward with a fixed table
(destination MAC -> port) plugged in through ``Switch.set_handler``: the way
``labkit.link`` will plug in its learning switch. One event is one engine
callback: a host's send timer, or a frame arriving at an interface.

Cost should grow linearly: the time per event at 10^6 events should be close
to that at 10^4 (a heap push/pop is O(log n) in the queue's size, which stays
about the same here because traffic is steady).

Memory per queued event is measured separately with tracemalloc: N frame
deliveries waiting in the queue (the engine's tuple, its argument tuple and
the integers), divided by N. The frames' bytes are shared and not counted.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.sim import Engine, Network  # noqa: E402
from labkit.units import parse_time  # noqa: E402

HOSTS = 48
PERIOD = "20us"


def build(seed: int = 1) -> tuple[Network, list[int]]:
    net = Network(seed=seed)
    s1 = net.add_switch("S1")
    s2 = net.add_switch("S2")
    hosts = []
    for i in range(HOSTS):
        h = net.add_host(f"H{i}", ip=f"10.0.{i // 200}.{i % 200 + 1}/16")
        net.connect(h, s1 if i < HOSTS // 2 else s2, delay="5us", bandwidth="1Gbit")
        hosts.append(h)
    net.connect(s1, s2, delay="5us", bandwidth="1Gbit", queue=1000)

    # A fixed forwarding table per switch: destination MAC -> outgoing port.
    for sw in (s1, s2):
        table = {}
        for port in sw.interfaces:
            peer = port.peer.node
            if peer.kind == "host":
                table[peer.mac] = port
        trunk = next(p for p in sw.interfaces if p.peer.node.kind == "switch")

        def forward(iface, frame, now, table=table, trunk=trunk):
            table.get(frame[:6], trunk).send(frame)

        sw.set_handler(forward)

    received = [0]

    def sink(iface, frame, now):
        received[0] += 1

    eng = net.engine
    step = parse_time(PERIOD)
    for i, h in enumerate(hosts):
        h.set_handler(sink)
        dst = hosts[(i * 7 + 5) % HOSTS]
        frame = dst.mac + h.mac + b"\x88\xb5" + bytes(86)
        out = h.interfaces[0]

        def tick(out=out, frame=frame):
            out.send(frame)
            eng.after(step, tick)

        eng.at(i * step // HOSTS, tick)
    return net, received


def events_per_second(n_events: int) -> tuple[float, float, int]:
    net, received = build()
    gc.collect()
    t0 = time.perf_counter()
    ran = net.engine.run(max_events=n_events)
    elapsed = time.perf_counter() - t0
    assert ran == n_events
    return n_events / elapsed, elapsed, received[0]


def baseline_events_per_second(n_events: int) -> float:
    """The floor: a bare heapq loop whose events do nothing but schedule the next one.

    Same queue shape as the engine's (time, seq, fn, args) tuples and about as
    many events pending, so engine / baseline is the price of links, nodes and
    forwarding, measured in the same run and so independent of machine load.
    """
    import heapq

    queue: list = []
    seq = [0]

    def noop(frame, xid):
        s = seq[0] = seq[0] + 1
        heapq.heappush(queue, (now[0] + 20_000, s, noop, (frame, xid)))

    now = [0]
    for i in range(150):
        seq[0] += 1
        heapq.heappush(queue, (i * 100, seq[0], noop, (b"", i)))
    pop = heapq.heappop
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(n_events):
        t, _s, fn, args = pop(queue)
        now[0] = t
        fn(*args)
    return n_events / (time.perf_counter() - t0)


def memory_per_event(n: int) -> float:
    eng = Engine(seed=1)
    frame = bytes(100)

    def deliver(frame, xid):
        pass

    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for i in range(n):
        eng.after(1000 + (i * 7919) % 100_000, deliver, frame, 10_000 + i)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert eng.pending == n
    return (current - base) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 10^6-event run")
    args = ap.parse_args()
    sizes = [10_000, 100_000] + ([] if args.quick else [1_000_000])

    print(
        f"labkit.sim benchmark: {HOSTS} hosts + 2 switches = {HOSTS + 2} nodes, "
        f"one {100}-byte frame per host every {PERIOD}"
    )
    print(f"python {sys.version.split()[0]}")
    print()
    print(
        f"{'events':>10}  {'seconds':>8}  {'events/s':>10}  {'us/event':>8}  {'frames rx':>9}"
        f"  {'bare heapq/s':>12}  {'engine/bare':>11}"
    )
    per_event = []
    for n in sizes:
        rate, elapsed, rx = events_per_second(n)
        bare = baseline_events_per_second(n)
        per_event.append(elapsed / n)
        print(
            f"{n:>10,}  {elapsed:>8.3f}  {rate:>10,.0f}  {1e6 * elapsed / n:>8.3f}  {rx:>9,}"
            f"  {bare:>12,.0f}  {rate / bare:>11.2f}"
        )
    print(
        f"cost per event, largest run / smallest run: {per_event[-1] / per_event[0]:.2f} "
        "(1.00 = perfectly linear)"
    )
    print()
    print(f"{'queued':>10}  {'bytes/event':>11}")
    for n in sizes:
        print(f"{n:>10,}  {memory_per_event(n):>11.1f}")
    goal = 200_000
    best = 1 / min(per_event)
    print()
    print(
        f"goal: {goal:,} events/s; measured best {best:,.0f} events/s "
        f"({'met' if best >= goal else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
