"""Routing protocols and NAT on a simulated network: the installers, and failing a link.

Beside :mod:`labkit.sim.stacks` (the same place in the layering: where the
layers meet the engine). Each installer builds the protocol on the routers'
:class:`~labkit.net.stack.IPStack` s (IP first, if need be) and hands it the
doors it needs (the stack, the node's clock, the node's seeded generator)::

    net = Network(seed=1)
    ... routers and hosts, connected; no static route anywhere ...
    rip = install_rip(net)             # RIPv2 on every router (labkit.app.rip)
    net.run_for("60s")                 # the routers exchange vectors over the links
    rip["R1"].routes()

    ls = install_linkstate(net)        # or link state (labkit.net.linkstate)

    net.add_router("NAT", {...}, forwarding=NAPT(inside="eth0", outside="eth1"))
    install_nat(net)                   # labkit.net.nat: hooks the translator into its router

:func:`fail_link` and :func:`restore_link` cut a link both ways (every frame
lost, as an unplugged cable) and mend it, so convergence can be watched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any, Protocol, TypeVar

from labkit.app.rip import RIPConfig, RIPRouter
from labkit.app.traceroute import traceroute
from labkit.errors import LabkitError, LabkitValueError
from labkit.net.icmp import ICMPMessage, ICMPType
from labkit.net.ipv4 import ICMP
from labkit.net.linkstate import LinkStateConfig, LinkStateRouter
from labkit.net.nat import NAPT
from labkit.net.stack import IPStack
from labkit.sim.impair import Impairment
from labkit.sim.link import Link
from labkit.sim.network import Network
from labkit.sim.nodes import Router
from labkit.sim.stacks import NodeClock, install_ip
from labkit.units import parse_time

__all__ = ["install_rip", "install_linkstate", "install_nat", "fail_link", "restore_link", "router_network",
           "watch_convergence", "ConvergenceRun", "two_paths",
           "LinkDown"]


def _stacks(net: Network, routers: Any) -> list[tuple[Router, IPStack]]:
    if not all(isinstance(n.stack, IPStack) for n in net if isinstance(n, Router)):
        install_ip(net)
    chosen = [net[r] if isinstance(r, str) else r for r in routers] if routers else \
        [n for n in net if isinstance(n, Router)]
    out = []
    for node in chosen:
        if not isinstance(node, Router):
            raise LabkitValueError(f"routers: {node!r} is not a router of this network")
        stack = node.stack
        assert isinstance(stack, IPStack)
        out.append((node, stack))
    return out


class _Protocol(Protocol):
    def start(self) -> object: ...


_P = TypeVar("_P", bound=_Protocol)


def _install(net: Network, protocol: Callable[..., _P], config: Any, routers: Any,
             start: bool) -> dict[str, _P]:
    """``protocol(stack, clock, rng, config, name=...)`` on each router, started if ``start``."""
    out: dict[str, _P] = {}
    for node, stack in _stacks(net, routers):
        router = protocol(stack, NodeClock(node), node.rng, config, name=node.name)
        if start:
            router.start()
        out[node.name] = router
    return out


def install_rip(net: Network, config: RIPConfig | None = None, *, routers: Any = None,
                start: bool = True) -> dict[str, RIPRouter]:
    """RIPv2 (:class:`labkit.app.rip.RIPRouter`) on every router (or those named), started."""
    return _install(net, RIPRouter, config, routers, start)


def install_linkstate(net: Network, config: LinkStateConfig | None = None, *, routers: Any = None,
                      start: bool = True) -> dict[str, LinkStateRouter]:
    """Link state (:class:`labkit.net.linkstate.LinkStateRouter`) on every router, started."""
    return _install(net, LinkStateRouter, config, routers, start)


def install_nat(net: Network) -> dict[str, NAPT]:
    """Hook every router's :class:`~labkit.net.nat.NAPT` forwarding into its stack (IP first).

    A NAT router is built with ``net.add_router(name, {...}, forwarding=NAPT(...))``;
    packets to its public address arrive at its own stack, where this hooks the translator.
    """
    out: dict[str, NAPT] = {}
    for node, stack in _stacks(net, None):
        if isinstance(node.forwarding, NAPT):
            if node.forwarding.stack is not stack:
                node.forwarding.attach(stack)
            out[node.name] = node.forwarding
    return out


class LinkDown(Impairment):
    """Every frame lost: the cable is unplugged (put on by :func:`fail_link`)."""

    __slots__ = ()
    name = "link down"

    def apply(self, frame: bytes, rng: Any) -> list[tuple[int, bytes]]:
        return []


def fail_link(net: Network, x: Any, y: Any) -> Link:
    """Cut the link between ``x`` and ``y`` (nodes or names) both ways; :func:`restore_link` mends it."""
    link = net.link_between(x, y)
    for ch in (link.ab, link.ba):
        if not any(isinstance(i, LinkDown) for i in ch.impairments):
            ch.impairments.insert(0, LinkDown())
    return link


def restore_link(net: Network, x: Any, y: Any) -> Link:
    """Mend a link cut by :func:`fail_link`."""
    link = net.link_between(x, y)
    for ch in (link.ab, link.ba):
        ch.impairments[:] = [i for i in ch.impairments if not isinstance(i, LinkDown)]
    return link


def router_network(n: int, links: int | None = None, *, seed: int = 0, hosts: bool = False,
                   **connect: Any) -> Network:
    """``n`` routers ``R0``..``R{n-1}`` joined at random into one connected graph of ``links`` links.

    A random spanning tree first (so every router is reachable), then extra links
    (``links`` in all; default ``3n/2``). Link ``k`` is the /30 network
    ``10.(k // 64).(4 (k % 64)).0/30``; with ``hosts`` each router also gets a
    LAN ``172.16.i.0/24`` with host ``H{i}`` at .10. ``connect`` goes to
    :meth:`~labkit.sim.Network.connect` (``delay``, ``loss``...). No route is typed in.
    """
    if type(n) is not int or n < 2:
        raise LabkitValueError(f"n={n!r}: expected at least 2 routers")
    want = (3 * n) // 2 if links is None else links
    if type(want) is not int or not n - 1 <= want <= n * (n - 1) // 2:
        raise LabkitValueError(f"links={links!r}: expected {n - 1}..{n * (n - 1) // 2} for {n} routers")
    net = Network(seed=seed)
    rng = net.rng
    edges: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for i in range(1, n):
        e = (int(rng.integers(0, i)), i)
        edges.append(e)
        seen.add(e)
    while len(edges) < want:
        a, b = sorted(int(x) for x in rng.choice(n, 2, replace=False))
        if (a, b) not in seen:
            seen.add((a, b))
            edges.append((a, b))
    routers = [net.add_router(f"R{i}", []) for i in range(n)]
    for k, (a, b) in enumerate(edges):
        base = f"10.{k // 64}.{4 * (k % 64)}"
        ia = routers[a].add_interface(ip=f"{base}.1/30")
        ib = routers[b].add_interface(ip=f"{base}.2/30")
        net.connect(ia, ib, **connect)
    if hosts:
        for i, r in enumerate(routers):
            lan = r.add_interface(ip=f"172.16.{i}.1/24")
            h = net.add_host(f"H{i}", f"172.16.{i}.10/24", gateway=f"172.16.{i}.1")
            net.connect(lan, h, **connect)
    return net


#: A traceroute's path: the address that answered at each hop (None: no answer).
Path = tuple[IPv4Address | None, ...]


@dataclass
class ConvergenceRun:
    """What :func:`watch_convergence` saw: tables, probes and traceroutes over time.

    ``samples``: ``(time, {router: (next hop, metric)})`` at each probe (``(None, None)``:
    no route); ``probes``: ``(time sent, answered)`` for each echo request; ``paths``:
    ``(time, path)`` from a real traceroute every ``trace_every``; ``events``: ``(time, what)``.
    Times in ns of virtual time.
    """

    destination: IPv4Address
    routers: list[str]
    samples: list[tuple[int, dict[str, tuple[IPv4Address | None, int | None]]]] = field(
        default_factory=list)
    probes: list[tuple[int, bool]] = field(default_factory=list)
    paths: list[tuple[int, tuple[IPv4Address | None, ...]]] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)

    @property
    def lost(self) -> int:
        """Echo requests never answered."""
        return sum(1 for _, ok in self.probes if not ok)

    def loss_windows(self) -> list[tuple[int, int]]:
        """``(first lost, last lost)`` send times of each run of consecutive lost probes."""
        out: list[tuple[int, int]] = []
        start: int | None = None
        last = 0
        for t, ok in self.probes:
            if not ok and start is None:
                start = t
            if not ok:
                last = t
            if ok and start is not None:
                out.append((start, last))
                start = None
        if start is not None:
            out.append((start, last))
        return out

    def complete_paths(self) -> list[tuple[int, tuple[IPv4Address | None, ...]]]:
        """The traceroutes that reached the destination."""
        return [(t, p) for t, p in self.paths if p and p[-1] == self.destination]

    def path_changes(self) -> list[tuple[int, Path, Path]]:
        """``(time, old path, new path)`` each time a traceroute that reached the destination
        found another path than the last one that did (the broken ones in between skipped)."""
        done = self.complete_paths()
        return [(t, a, b) for (_, a), (t, b) in zip(done, done[1:]) if a != b]

    def next_hops(self, router: str) -> list[tuple[int, IPv4Address | None, int | None]]:
        """``(time, next hop, metric)`` of ``router``'s route over time."""
        return [(t, *table[router]) for t, table in self.samples]


_PROBE_ID = 0x5157


def watch_convergence(net: Network, src: Any, dst: Any, *,
                      events: Sequence[tuple[Any, str, Any, Any]] = (), until: Any = "300s",
                      probe_every: Any = "1s", trace_every: Any = "10s",
                      routers: Sequence[str] | None = None) -> ConvergenceRun:
    """Run ``net`` (routing protocol already installed) to ``until``, watching ``src`` -> ``dst``.

    ``events``: ``(time, "fail" | "restore", x, y)`` for the link between ``x`` and
    ``y``. Every ``probe_every`` host ``src`` sends an ICMP echo request to ``dst`` and
    every router's route to ``dst`` is sampled; every ``trace_every`` a real
    :func:`~labkit.app.traceroute.traceroute` runs (one probe a hop, 0.5 s wait).
    """
    host = net[src] if isinstance(src, str) else src
    stack = host.stack
    if not isinstance(stack, IPStack):
        raise LabkitValueError(f"src={src!r}: install IP (and a routing protocol) first")
    d = IPv4Address(str(dst))
    names = list(routers) if routers is not None else [n.name for n in net if isinstance(n, Router)]
    run = ConvergenceRun(d, names)
    end = parse_time(until, "until") + net.now
    every = parse_time(probe_every, "probe_every")
    trace_step = parse_time(trace_every, "trace_every")
    answered: set[int] = set()
    sent: dict[int, int] = {}

    def listen(packet: Any, msg: ICMPMessage, now: int) -> None:
        if msg.type == ICMPType.ECHO_REPLY and msg.identifier == _PROBE_ID:
            answered.add(msg.sequence)

    stack.icmp_listeners.append(listen)

    def probe(seq: int) -> None:
        now = net.now
        table = {}
        for name in names:
            route = net[name].stack.routes.lookup(d)
            table[name] = (None, None) if route is None else (route.next_hop, route.metric)
        run.samples.append((now, table))
        sent[seq] = now
        try:
            stack.send(d, ICMP, ICMPMessage.echo_request(_PROBE_ID, seq & 0xFFFF, b"probe").pack())
        except LabkitError:
            pass  # no route on the host itself: lost
        if now + every <= end:
            net.engine.timer(every, probe, seq + 1)

    for when, what, x, y in events:
        t = parse_time(when, "time")
        if what not in ("fail", "restore"):
            raise LabkitValueError(f"events: {what!r}: expected 'fail' or 'restore'")
        fn = fail_link if what == "fail" else restore_link
        net.engine.at(t, fn, net, x, y)
        run.events.append((t, f"{x}-{y} {'fails' if what == 'fail' else 'restored'}"))
    net.engine.timer(0, probe, 1)
    next_trace = net.now
    try:
        while net.now < end:
            if net.now >= next_trace:
                t0 = net.now
                result = traceroute(host, d, max_hops=10, queries=1, wait=500_000_000, verbose=False)
                path = list(result.path)
                while path and path[-1] is None:
                    path.pop()
                run.paths.append((t0, tuple(path)))
                next_trace = t0 + trace_step
            net.run(until_ns=min(end, next_trace))
        net.run(until_ns=end + 2_000_000_000)  # the last replies
    finally:
        stack.icmp_listeners.remove(listen)
    run.probes = [(t, seq & 0xFFFF in answered) for seq, t in sorted(sent.items())]
    return run


def two_paths(seed: int = 1, **connect: Any) -> Network:
    """The lesson's network: A - R1 - R2 - R4 - B, and a longer way R1 - R3 - R5 - R4.

    A is 10.0.1.10 behind R1, B is 10.0.4.10 behind R4; link ``Rx - Ry`` is
    ``10.0.xy.0/24`` with ``Rx`` at ``.x`` and ``Ry`` at ``.y``. No route typed in.
    """
    net = Network(seed=seed)
    net.add_host("A", "10.0.1.10/24", gateway="10.0.1.1")
    net.add_host("B", "10.0.4.10/24", gateway="10.0.4.1")
    lans = {"R1": "10.0.1.1/24", "R4": "10.0.4.1/24"}
    links = [(1, 2), (2, 4), (1, 3), (3, 5), (5, 4)]
    routers = {}
    for i in range(1, 6):
        name = f"R{i}"
        routers[name] = net.add_router(name, {"lan": lans[name]} if name in lans else {})
    for a, b in links:
        ia = routers[f"R{a}"].add_interface(f"to{b}", ip=f"10.0.{a}{b}.{a}/24")
        ib = routers[f"R{b}"].add_interface(f"to{a}", ip=f"10.0.{a}{b}.{b}/24")
        net.connect(ia, ib, **connect)
    net.connect("A", "R1.lan")
    net.connect("B", "R4.lan")
    return net
