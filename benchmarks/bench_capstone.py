"""Capstone speeds, as ratios measured in one run on the same machine.

1. One ``labkit.capstone.fetch`` (4 kB page, two routers) with the routers' hop
   simulated at 100 Mbit/s, against the same with the hop through the
   simulated boards' byte bridge (19.2 kbit/s, every byte through the
   firmware twin): wall time, and virtual time per wall second.
2. The event-driven HTTP server fed a 500 kB POST 500 bytes per segment: labkit's
   server (it parses once the request can be complete) against the same server
   made to re-parse on every arrival (what a first attempt does).

Run: ``python benchmarks/bench_capstone.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import time

from labkit import capstone
from labkit.app import http
from labkit.sim import Network
from labkit.sim.stacks import install_transport, socket


def fetch_once(wire: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with capstone.build(wire=wire) as cap:
        ex = capstone.fetch(cap)
    return time.perf_counter() - t0, ex.times["closed"]


def slow_post(naive: bool) -> tuple[float, int]:
    net = Network(seed=1)
    a = net.add_host("A", ip="10.0.0.1/24")
    b = net.add_host("B", ip="10.0.0.2/24")
    net.connect(a, b, delay="10us", bandwidth=None)
    install_transport(net)
    listener = socket(b)
    listener.bind(("", 80))
    listener.listen()
    server = http.HttpEventServer(listener, lambda r: http.Response(200, body=b"ok"))
    if naive:
        http.HttpEventConnection._complete = lambda self: True  # re-parse on every arrival
    body = b"x" * 500_000
    raw = b"POST / HTTP/1.0\r\nContent-Length: 500000\r\n\r\n" + body
    sock = socket(a)
    sock.connect(("10.0.0.2", 80))
    t0 = time.perf_counter()
    for i in range(0, len(raw), 500):
        sock.sendall(raw[i:i + 500])
        net.run_for("100us")
    reply = sock.recv(100)
    elapsed = time.perf_counter() - t0
    assert reply[9:12] == b"200", reply
    return elapsed, server.connections[0].parses


def main() -> None:
    print("1. capstone fetch (best of 3)")
    results = {}
    for wire in ("sim", "bridge"):
        runs = [fetch_once(wire) for _ in range(3)]
        results[wire] = min(runs)
        wall, virtual = results[wire]
        print(f"   {wire:>6}: {wall * 1e3:8.1f} ms wall for {virtual / 1e6:9.1f} ms virtual "
              f"({virtual / 1e9 / wall:6.2f} virtual s per wall s)")
    print(f"   the bridge hop costs {results['bridge'][0] / results['sim'][0]:.1f}x the wall time")
    print("2. 500 kB POST, 500 bytes per segment")
    original = http.HttpEventConnection._complete
    fast, fast_parses = slow_post(naive=False)
    try:
        slow, slow_parses = slow_post(naive=True)
    finally:
        http.HttpEventConnection._complete = original
    print(f"   labkit: {fast * 1e3:7.1f} ms, {fast_parses} parse(s)")
    print(f"   re-parse on every arrival: {slow * 1e3:7.1f} ms, {slow_parses} parses")
    print(f"   ratio: {slow / fast:.1f}x")


if __name__ == "__main__":
    main()
