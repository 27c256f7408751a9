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

from typing import Any

from labkit.app.rip import RIPConfig, RIPRouter
from labkit.errors import LabkitValueError
from labkit.net.linkstate import LinkStateConfig, LinkStateRouter
from labkit.net.nat import NAPT
from labkit.net.stack import IPStack
from labkit.sim.impair import Impairment
from labkit.sim.link import Link
from labkit.sim.network import Network
from labkit.sim.nodes import Router
from labkit.sim.stacks import NodeClock, install_ip

__all__ = ["install_rip", "install_linkstate", "install_nat", "fail_link", "restore_link", "router_network",
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


def install_rip(net: Network, config: RIPConfig | None = None, *, routers: Any = None,
                start: bool = True) -> dict[str, RIPRouter]:
    """RIPv2 (:class:`labkit.app.rip.RIPRouter`) on every router (or those named), started."""
    out: dict[str, RIPRouter] = {}
    for node, stack in _stacks(net, routers):
        rip = RIPRouter(stack, NodeClock(node), node.rng, config, name=node.name)
        if start:
            rip.start()
        out[node.name] = rip
    return out


def install_linkstate(net: Network, config: LinkStateConfig | None = None, *, routers: Any = None,
                      start: bool = True) -> dict[str, LinkStateRouter]:
    """Link state (:class:`labkit.net.linkstate.LinkStateRouter`) on every router, started."""
    out: dict[str, LinkStateRouter] = {}
    for node, stack in _stacks(net, routers):
        ls = LinkStateRouter(stack, NodeClock(node), node.rng, config, name=node.name)
        if start:
            ls.start()
        out[node.name] = ls
    return out


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
