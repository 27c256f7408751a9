"""Benchmark of the routing protocols on the simulator (issue 22: routing protocols and NAT).

Run from the repository root::

    python benchmarks/bench_routing.py            # 50 routers, 3 seeds, link state and RIP
    python benchmarks/bench_routing.py --quick    # 1 seed

Goal: a 50-router link-state network converges in the simulator, messages and all, in at
most 2 s of wall time on the 2-core machine. The network is
``labkit.sim.routing.router_network(50, hosts=True)``: a random connected graph of 75
links (/30 each) and one LAN per router, 125 networks, no route typed in. The clock starts
before ``install_linkstate`` and stops when every router's table holds a route to every
network it is not on (checked every 10 ms of virtual time); every hello, update and ack
crosses the simulated links as an IPv4 packet in an Ethernet frame, is parsed by the
receiving stack and by the protocol. RIP is run on the same graph for comparison (its
triggered updates wait 1-5 s, so it converges in seconds of virtual time).
The load average of the machine is printed with the figures (os.getloadavg).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labkit.sim.routing import install_linkstate, install_rip, router_network  # noqa: E402


def converge(protocol: str, seed: int, n: int = 50) -> dict[str, float]:
    net = router_network(n, seed=seed, hosts=True)
    every = {ip.network for node in net for ip in (i.ip for i in node.interfaces) if ip is not None}
    start = time.perf_counter()
    procs = (install_linkstate if protocol == "linkstate" else install_rip)(net)
    stacks = {name: net[name].stack for name in procs}

    def done() -> bool:
        for stack in stacks.values():
            for network in every:
                if stack.routes.lookup(network.network_address) is None:
                    return False
        return True

    step = "10ms" if protocol == "linkstate" else "100ms"
    limit = 60e9
    while not done():
        net.run_for(step)
        if net.now > limit:
            raise SystemExit(f"{protocol}: not converged after {limit / 1e9} s of virtual time")
    wall = time.perf_counter() - start
    sent = sum(p.counters["sent"] for p in procs.values())
    frames = sum(link.ab.sent + link.ba.sent for link in net.links)
    return {"wall": wall, "virtual": net.now / 1e9, "messages": sent, "frames": frames,
            "networks": len(every)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed")
    args = ap.parse_args()
    seeds = [1] if args.quick else [1, 2, 3]
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for protocol in ("linkstate", "rip"):
        for seed in seeds:
            r = converge(protocol, seed)
            goal = ""
            if protocol == "linkstate":
                goal = "  goal 2 s: " + ("met" if r["wall"] <= 2.0 else "NOT met")
            print(f"{protocol:9s} seed {seed}: {r['wall']:.2f} s wall, converged at "
                  f"{r['virtual']:.2f} s virtual, {r['messages']:,.0f} messages, "
                  f"{r['frames']:,.0f} frames, {r['networks']:.0f} networks{goal}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
