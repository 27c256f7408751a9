"""A learner's Python switch in the network against labkit's own, on the same traffic.

Run: ``python benchmarks/bench_switch_lab.py``. One simulated LAN (one switch, 16 hosts,
each host sending frames to random others, 20,000 frames in all) is run twice in this one
run: once with labkit's ``LearningSwitch`` (``install_switching``'s default) and once with
lab 2's reference solution (``course/labs/solutions/L2.py``, a plain-Python dict switch, as
a learner would write it, run through ``net.add_switch("S1", logic=...)``). The graders'
traps are not armed here: this is the cost in a student's own network. Goal: the learner's
switch costs at most 2x labkit's (wall time of the whole simulation, best of 3).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from labkit.link.ethernet import EthernetFrame
from labkit.sim import Network
from labkit.sim.stacks import install_switching

HOSTS = 16
FRAMES = 20_000
SOLUTION = Path(__file__).resolve().parents[1] / "course" / "labs" / "solutions" / "L2.py"


def learner_switch() -> type:
    namespace: dict[str, object] = {}
    exec(compile(SOLUTION.read_text(), str(SOLUTION), "exec"), namespace)
    return namespace["Switch"]  # type: ignore[return-value]


def run(logic: object | None) -> tuple[float, int]:
    """Seconds to simulate the traffic, and the frames the hosts received."""
    net = Network(seed=1)
    sw = net.add_switch("S1", logic=logic)
    hosts = [net.add_host(f"H{i}") for i in range(HOSTS)]
    for h in hosts:
        net.connect(h, sw)
    install_switching(net)
    rng = np.random.default_rng(7)
    pairs = rng.integers(0, HOSTS, size=(FRAMES, 2))
    for k, (a, b) in enumerate(pairs):
        if a == b:
            b = (b + 1) % HOSTS
        src, dst = hosts[a], hosts[b]
        frame = EthernetFrame(dst.mac, src.mac, 0x88B5, b"x" * 46).pack(fcs=False)
        net.at(k * 10_000, src.send, frame)
    t0 = time.perf_counter()
    net.run()
    return time.perf_counter() - t0, sum(len(h.inbox) for h in hosts)


def main() -> None:
    Switch = learner_switch()
    best = {"labkit": float("inf"), "learner": float("inf")}
    got = {}
    for _ in range(3):
        for name, logic in (("labkit", None), ("learner", Switch(check_fcs=False))):
            seconds, received = run(logic)
            best[name] = min(best[name], seconds)
            got[name] = received
    assert got["labkit"] == got["learner"], got  # the same frames delivered
    for name in best:
        print(f"{name:8s} switch: {best[name]:.3f} s for {FRAMES} frames "
              f"({FRAMES / best[name]:,.0f} frames/s through the whole simulation)")
    ratio = best["learner"] / best["labkit"]
    print(f"learner / labkit: {ratio:.2f}x (goal <= 2x: {'met' if ratio <= 2 else 'NOT met'}); "
          f"{got['labkit']} frames delivered by each")


if __name__ == "__main__":
    main()
