"""Lab 2's grader: the learner's learning switch, judged by which frames leave which ports.

The learner writes a :class:`labkit.link.bridge.SwitchLogic`: a class
``Switch(ageing_time_ns=..., check_fcs=True)`` with ``add_port(name)`` and
``forward(in_port, frame, now_ns)`` returning the ports a copy leaves by. The
tests hand it frames as bytes (with their 4-byte FCS, as a NIC sees them) at
scripted times and compare the ports it names with what IEEE 802.1D says;
the last test runs two of the learner's switches in a simulated network
(``net.add_switch("S1", logic=...)``) and counts what each host receives.
labkit's :class:`~labkit.link.switch.LearningSwitch` is out of reach.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.labs.grading import inside, run_checks
from labkit.link.ethernet import EthernetFrame
from labkit.testing import Scenario

__all__ = [
    "MACS",
    "frame",
    "check_parse",
    "check_learn_forward",
    "check_flood",
    "check_filter",
    "check_host_moves",
    "check_ageing",
    "check_network",
]

S = 1_000_000_000
MACS = {n: f"02:00:00:00:00:0{i}" for i, n in enumerate("ABCDE", start=1)}
MACS["everyone"] = "ff:ff:ff:ff:ff:ff"
MACS["IPv4 multicast"] = "01:00:5e:00:00:fb"
MACS["nobody yet"] = "02:00:00:00:00:99"
PORTS = ("p1", "p2", "p3", "p4")


def frame(src: str, dst: str, *, fcs: bool = True, payload: bytes = b"hello") -> bytes:
    """An Ethernet II frame from station ``src`` to ``dst`` (names in :data:`MACS`)."""
    return EthernetFrame(MACS[dst], MACS[src], 0x88B5, payload).pack(fcs=fcs)


def _switch(Switch: Callable[..., Any], ageing_s: int = 300, fcs: bool = True) -> Any:
    sw = inside(Switch)(ageing_time_ns=ageing_s * S, check_fcs=fcs)
    for p in PORTS:
        sw.add_port(p)
    return sw


class _Run:
    def __init__(self, title: str, sw: Any, hint: str) -> None:
        self.s: Scenario[Any] = Scenario(title, sw)
        self.sw = sw
        self.hint = hint

    def send(
        self,
        t: float,
        port: str,
        src: str,
        dst: str,
        expect: tuple[str, ...],
        data: bytes | None = None,
        why: str = "",
        hint: str | None = None,
    ) -> None:
        raw = frame(src, dst) if data is None else data
        what = f"t={t:g}s {src}->{dst} in {port}"
        self.s.expect_equal(
            f"{what}: {why or 'out of'} {', '.join(expect) or 'no port'}",
            lambda: sorted(str(p) for p in (self.sw.forward(port, raw, int(t * S)) or ())),
            sorted(expect),
            hint=hint or self.hint,
        )

    def others(self, port: str) -> tuple[str, ...]:
        return tuple(p for p in PORTS if p != port)


def _run(title: str, body: Callable[[], int]) -> None:
    run_checks("switch", title, body)


def check_parse(Switch: Callable[..., Any]) -> None:
    """A frame with a bad FCS, or too short to hold a header, goes nowhere and teaches nothing."""

    def body() -> int:
        r = _Run(
            "parse",
            _switch(Switch),
            "check the FCS: zlib.crc32 of everything before the "
            "last 4 bytes, little-endian, must equal those 4 bytes",
        )
        good = frame("A", "everyone")
        bad = good[:20] + bytes([good[20] ^ 0x01]) + good[21:]
        r.send(0, "p1", "A", "everyone", (), data=bad, why="one bit flipped: dropped,")
        r.send(
            0,
            "p1",
            "A",
            "B",
            (),
            data=good[:10],
            why="10 bytes: dropped,",
            hint="a frame shorter than a header (and FCS) cannot be read: drop it, don't crash",
        )
        r.send(
            1,
            "p2",
            "B",
            "A",
            r.others("p2"),
            why="A was never heard (its frame was bad): flood",
            hint="a damaged frame must not be learned from: check the FCS before you learn",
        )
        return len(r.s.steps)

    _run("parse", body)


def check_learn_forward(Switch: Callable[..., Any]) -> None:
    """Unknown destinations flood; once learned, a station's frames go out of its port only."""

    def body() -> int:
        r = _Run(
            "learn and forward",
            _switch(Switch),
            "learn the source's port from every frame, then look the destination up",
        )
        r.send(0, "p1", "A", "B", r.others("p1"), why="B unknown: flood")
        r.send(1, "p2", "B", "A", ("p2",)[:0] + ("p1",), why="A learned on p1: forward")
        r.send(2, "p1", "A", "B", ("p2",), why="B learned on p2: forward")
        r.send(3, "p3", "C", "A", ("p1",))
        r.send(4, "p1", "A", "C", ("p3",))
        return len(r.s.steps)

    _run("learn and forward", body)


def check_flood(Switch: Callable[..., Any]) -> None:
    """Broadcast, multicast and unknown unicast go out of every port but the one they came in."""

    def body() -> int:
        r = _Run("flood", _switch(Switch), "flood means every port except the one the frame came in on")
        r.send(0, "p1", "A", "everyone", r.others("p1"), why="broadcast:")
        r.send(
            1,
            "p2",
            "B",
            "IPv4 multicast",
            r.others("p2"),
            why="multicast (I/G bit set):",
            hint="a multicast address has the lowest bit of its first byte set: flood it too",
        )
        r.send(2, "p3", "C", "nobody yet", r.others("p3"), why="unknown unicast:")
        r.send(3, "p4", "D", "everyone", r.others("p4"), why="broadcast, even with everyone known:")
        return len(r.s.steps)

    _run("flood", body)


def check_filter(Switch: Callable[..., Any]) -> None:
    """A frame for a station on the port it came in on is filtered (it already arrived)."""

    def body() -> int:
        r = _Run(
            "filter",
            _switch(Switch),
            "the destination is behind the port the frame came in "
            "on: it has heard the frame already; send it nowhere",
        )
        r.send(0, "p1", "A", "everyone", r.others("p1"))
        r.send(1, "p1", "D", "A", (), why="A and D share p1 (a hub): filtered,")
        r.send(2, "p2", "B", "D", ("p1",))
        return len(r.s.steps)

    _run("filter", body)


def check_host_moves(Switch: Callable[..., Any]) -> None:
    """A station that moves to another port is found there as soon as it sends."""

    def body() -> int:
        r = _Run(
            "host moves",
            _switch(Switch),
            "when a known source shows up on another port, its entry must move there",
        )
        r.send(0, "p1", "A", "everyone", r.others("p1"))
        r.send(1, "p2", "B", "A", ("p1",))
        r.send(2, "p3", "A", "B", ("p2",), why="A now on p3:")
        r.send(3, "p2", "B", "A", ("p3",), why="A moved: p3, not p1:")
        r.send(4, "p4", "C", "A", ("p3",))
        return len(r.s.steps)

    _run("host moves", body)


def check_ageing(Switch: Callable[..., Any]) -> None:
    """An entry not refreshed for the ageing time (10 s here) is forgotten; sending refreshes it."""

    def body() -> int:
        r = _Run(
            "ageing",
            _switch(Switch, ageing_s=10),
            "compare now_ns with when you last heard the station: older than ageing_time_ns means unknown",
        )
        r.send(0, "p1", "A", "everyone", r.others("p1"))
        r.send(5, "p2", "B", "A", ("p1",), why="5 s later, A is known:")
        r.send(11, "p2", "B", "A", r.others("p2"), why="11 s after A last sent: aged, flood")
        r.send(12, "p1", "A", "B", ("p2",), why="A sends again; B heard at 11 s:")
        r.send(
            20,
            "p2",
            "B",
            "A",
            ("p1",),
            why="8 s after A's refresh: known",
            hint="every frame a station sends refreshes its entry's time",
        )
        r.send(31, "p3", "C", "A", r.others("p3"), why="19 s after: aged again")
        return len(r.s.steps)

    _run("ageing", body)


def check_network(Switch: Callable[..., Any]) -> None:
    """Two of your switches in a simulated network (labkit.sim, no FCS on its frames)."""
    from labkit.sim import Network
    from labkit.sim.stacks import install_switching

    def body() -> int:
        net = Network(seed=1)
        hosts = [net.add_host(n) for n in "ABCD"]
        s1 = net.add_switch("S1", logic=inside(Switch)(check_fcs=False))
        s2 = net.add_switch("S2", logic=inside(Switch)(check_fcs=False))
        net.connect(hosts[0], s1)
        net.connect(hosts[1], s1)
        net.connect(s1, s2)
        net.connect(hosts[2], s2)
        net.connect(hosts[3], s2)
        install_switching(net)
        a, b, c, d = hosts
        s = Scenario.for_network(
            "two switches",
            net,
            hint="each switch learns on its own: a frame "
            "between switches arrives on the port that links them",
        )

        def got() -> dict[str, int]:
            return {h.name: len(h.inbox) for h in hosts}

        def frame_from(src: Any, dst: Any) -> bytes:
            return EthernetFrame(dst.mac, src.mac, 0x88B5, b"x").pack(fcs=False)

        s.do("A sends to D (nobody known)", lambda: a.send(frame_from(a, d)))
        s.tick("10ms")
        s.expect_equal("flooded: B, C and D each get it", got, {"A": 0, "B": 1, "C": 1, "D": 1})
        s.do("D answers A", lambda: d.send(frame_from(d, a)))
        s.tick("10ms")
        s.expect_equal("only A gets it (both switches know A)", got, {"A": 1, "B": 1, "C": 1, "D": 1})
        s.do("A sends to D again", lambda: a.send(frame_from(a, d)))
        s.tick("10ms")
        s.expect_equal("only D gets it", got, {"A": 1, "B": 1, "C": 1, "D": 2})
        return len(s.steps)

    _run("network", body)
