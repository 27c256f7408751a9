"""Exercise checks for course/12-routing-nat.ipynb (the ``routing.*`` names); see :mod:`labkit.exercises`.

- ``routing.dv_update``: one distance-vector step, as RIP (:mod:`labkit.app.rip`) takes it;
- ``routing.dijkstra``: shortest paths and first hops, as each link-state router computes them;
- ``routing.nat_filter``: which packets from outside a NAT lets in, for RFC 4787's three
  filtering behaviours, checked against :class:`labkit.net.nat.NAPT` itself.

Each checker runs the student's function on cases and answers with a hint about the first
thing that is wrong, never with the answer.
"""

from __future__ import annotations

import heapq
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import numpy as np

from labkit.app.rip import INFINITY
from labkit.errors import LabkitError
from labkit.exercises import ExerciseResult, exercise
from labkit.net.ipv4 import IPv4Packet
from labkit.net.nat import FILTERING, NAPT, UDP
from labkit.transport.udp import UDPDatagram

__all__ = ["dv_reference", "dijkstra_reference", "DV_CASES", "nat_allows"]


def _ok(message: str) -> ExerciseResult:
    return ExerciseResult(True, message)


def _hint(message: str) -> ExerciseResult:
    return ExerciseResult(False, message)


# -- 1. a distance-vector step ----------------------------------------------------------------
def dv_reference(table: dict[str, tuple[int, str | None]], neighbour: str,
                 vector: dict[str, int]) -> dict[str, tuple[int, str | None]]:
    """RIP's rule (RFC 2453 §3.9.2) for a vector heard from ``neighbour`` over a link of cost 1."""
    out = dict(table)
    for net, m in vector.items():
        metric = min(m + 1, INFINITY)
        have = out.get(net)
        if have is None:
            if metric < INFINITY:
                out[net] = (metric, neighbour)
        elif have[1] is None:
            continue  # directly connected
        elif have[1] == neighbour or metric < have[0]:
            out[net] = (metric, neighbour)
    return out


#: (my table, neighbour, its vector, what the case is about)
DV_CASES: list[tuple[dict[str, tuple[int, str | None]], str, dict[str, int], str]] = [
    ({"N1": (1, None)}, "R2", {"N2": 1}, "a network I did not know"),
    ({"N1": (1, None), "N2": (5, "R3")}, "R2", {"N2": 2}, "a better way"),
    ({"N1": (1, None), "N2": (3, "R3")}, "R2", {"N2": 4}, "a worse way from someone else"),
    ({"N1": (1, None), "N2": (3, "R2")}, "R2", {"N2": 6}, "my next hop got worse"),
    ({"N1": (1, None)}, "R2", {"N1": 1}, "a network I am on"),
    ({"N1": (1, None), "N2": (3, "R2")}, "R2", {"N2": 15}, "15 + 1"),
    ({"N1": (1, None)}, "R2", {"N9": 16}, "an unreachable network"),
    ({"N1": (1, None), "N2": (2, "R3")}, "R2", {"N2": 1}, "a tie"),
]


@exercise("routing.dv_update")
def _check_dv_update(fn: Any) -> ExerciseResult:
    """Exercise 1: ``fn(table, neighbour, vector) -> new table`` (RIP's rule, link cost 1)."""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check('routing.dv_update', dv_update)")
    for table, neighbour, vector, about in DV_CASES:
        want = dv_reference(table, neighbour, vector)
        try:
            got = fn(dict(table), neighbour, dict(vector))
        except NotImplementedError:
            raise
        except Exception as exc:
            return _hint(f"on '{about}' your function raised {type(exc).__name__}: {exc}")
        if not isinstance(got, dict):
            return _hint(f"return the new table (a dict), got {type(got).__name__}")
        if got == want:
            continue
        net = next(iter(vector))
        if about == "15 + 1" or about == "an unreachable network":
            return _hint(f"'{about}': look at {net}. RIP counts no further than 16, and a route "
                         "at 16 is one nobody can use")
        if about == "my next hop got worse":
            return _hint("when the router you send through says its way got worse, you have no "
                         "better information: you must believe it, even though the metric went up")
        if about == "a worse way from someone else":
            return _hint("a worse way from a router you do not use changes nothing")
        if about == "a network I am on":
            return _hint("nobody's vector beats being directly connected")
        if about == "a tie":
            return _hint("an equal metric from another router is no reason to move traffic")
        if any(isinstance(v, tuple) and v[0] == vector.get(k) for k, v in got.items() if k in vector):
            return _hint("the neighbour's metric is its distance; yours is one link further")
        return _hint(f"on '{about}' (table {table}, {neighbour} says {vector}) your table is {got}")
    return _ok(f"right on all {len(DV_CASES)} cases: that is Bellman-Ford, one message at a time")


# -- 2. Dijkstra ----------------------------------------------------------------------------
def dijkstra_reference(graph: dict[str, dict[str, int]], source: str) -> dict[str, tuple[int, str | None]]:
    """``{node: (cost, first hop)}`` from ``source`` (``None`` for the source itself); ties go to
    the first hop whose name sorts first."""
    best: dict[str, tuple[int, str | None]] = {}
    heap: list[tuple[int, str, str, str | None]] = [(0, "", source, None)]
    while heap:
        d, hop_key, node, hop = heapq.heappop(heap)
        if node in best:
            continue
        best[node] = (d, hop)
        for nbr, cost in sorted(graph.get(node, {}).items()):
            if nbr not in best:
                first = nbr if hop is None else hop
                heapq.heappush(heap, (d + cost, first, nbr, first))
    return best


def _random_graph(seed: int, n: int = 7) -> dict[str, dict[str, int]]:
    rng = np.random.default_rng(seed)
    names = [f"R{i}" for i in range(1, n + 1)]
    g: dict[str, dict[str, int]] = {x: {} for x in names}
    for i in range(1, n):
        j = int(rng.integers(0, i))
        c = int(rng.integers(1, 10))
        g[names[i]][names[j]] = g[names[j]][names[i]] = c
    for _ in range(n):
        a, b = (int(x) for x in rng.choice(n, 2, replace=False))
        c = int(rng.integers(1, 10))
        g[names[a]][names[b]] = g[names[b]][names[a]] = c
    return g


#: The lesson's network as a graph (the R1 - R3 - R5 - R4 way is longer).
LESSON_GRAPH = {"R1": {"R2": 1, "R3": 1}, "R2": {"R1": 1, "R4": 1}, "R3": {"R1": 1, "R5": 1},
                "R4": {"R2": 1, "R5": 1}, "R5": {"R3": 1, "R4": 1}}


@exercise("routing.dijkstra")
def _check_dijkstra(fn: Any) -> ExerciseResult:
    """Exercise 2: ``fn(graph, source) -> {node: (cost, first hop)}``."""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check('routing.dijkstra', shortest_paths)")
    cases = [("the lesson's network", LESSON_GRAPH, "R1")] + [
        (f"random graph {s}", _random_graph(s), "R1") for s in range(6)]
    for about, graph, source in cases:
        want = dijkstra_reference(graph, source)
        try:
            got = fn({k: dict(v) for k, v in graph.items()}, source)
        except NotImplementedError:
            raise
        except Exception as exc:
            return _hint(f"on {about} your function raised {type(exc).__name__}: {exc}")
        if not isinstance(got, dict) or set(got) != set(want):
            return _hint(f"on {about}: return a dict with every reachable node as a key "
                         f"({len(want)} of them, the source included)")
        for node, (cost, hop) in sorted(want.items()):
            entry = got[node]
            if not isinstance(entry, tuple) or len(entry) != 2:
                return _hint(f"each value is a pair (cost, first hop); for {node} you gave {entry!r}")
            g_cost, g_hop = entry
            if g_cost != cost:
                return _hint(f"on {about}, the cost to {node} should be smaller or larger than "
                             f"{g_cost}: take the cheapest unvisited node next, and only then fix it")
            if g_hop != hop and not _equal_cost_alternative(graph, source, node, g_hop, cost):
                if g_hop is not None and g_hop not in graph.get(source, {}):
                    return _hint(f"the first hop to {node} is {g_hop}, which is not a neighbour of "
                                 f"{source}: the first hop is where the packet goes *first*, not the "
                                 "node just before the destination")
                return _hint(f"on {about}, the first hop to {node} is not {g_hop!r}: a node's first "
                             "hop is inherited from the node it was reached through")
    return _ok(f"right on all {len(cases)} graphs: each link-state router runs exactly this on its "
               "own database")


def _equal_cost_alternative(graph: dict[str, dict[str, int]], source: str, node: str,
                            hop: Any, cost: int) -> bool:
    """True if ``hop`` starts another path to ``node`` of the same ``cost`` (ties are fine)."""
    if hop not in graph.get(source, {}):
        return False
    rest = dijkstra_reference(graph, hop)
    return node in rest and graph[source][hop] + rest[node][0] == cost


# -- 3. NAT filtering -------------------------------------------------------------------------
_INSIDE = IPv4Address("192.168.1.10")
_PUBLIC = IPv4Address("203.0.113.2")


def nat_allows(filtering: str, contacted: list[tuple[str, int]], remote: tuple[str, int]) -> bool:
    """What :class:`~labkit.net.nat.NAPT` does: the inside host (port 40000) sent a datagram to
    each of ``contacted``; is a datagram from ``remote`` to its public port let in?"""
    nat = NAPT(filtering=filtering)
    nat.public = _PUBLIC
    nat.inside_networks = [IPv4Network("192.168.1.0/24")]
    for addr, port in contacted:
        udp = UDPDatagram(40000, port, b"out").pack(_INSIDE, addr)
        nat.outbound(IPv4Packet(src=_INSIDE, dst=addr, protocol=UDP, payload=udp), 0)
    addr, port = remote
    udp = UDPDatagram(port, 40000, b"in").pack(addr, _PUBLIC)
    try:
        return nat.inbound(IPv4Packet(src=addr, dst=_PUBLIC, protocol=UDP, payload=udp), 1) is not None
    except LabkitError:
        return False


_NAT_CASES = [
    ([("198.51.100.80", 5000)], ("198.51.100.80", 5000), "the reply itself"),
    ([("198.51.100.80", 5000)], ("198.51.100.80", 5001), "the same server, another port"),
    ([("198.51.100.80", 5000)], ("198.51.100.99", 5000), "a stranger"),
    ([("198.51.100.80", 5000), ("198.51.100.99", 7)], ("198.51.100.99", 9),
     "an address it sent to, another port"),
    ([], ("198.51.100.80", 5000), "nobody was contacted"),
]


@exercise("routing.nat_filter")
def _check_nat_filter(fn: Any) -> ExerciseResult:
    """Exercise 3: ``fn(filtering, contacted, remote) -> bool``: is the packet let in?"""
    if not callable(fn):
        return _hint("pass your function itself, e.g. check('routing.nat_filter', allowed)")
    n = 0
    for filtering in FILTERING:
        for contacted, remote, about in _NAT_CASES:
            want = nat_allows(filtering, contacted, remote)
            try:
                got = fn(filtering, [tuple(c) for c in contacted], tuple(remote))
            except NotImplementedError:
                raise
            except Exception as exc:
                return _hint(f"{filtering}, '{about}': your function raised {type(exc).__name__}: {exc}")
            n += 1
            if got is want or (isinstance(got, bool) and got == want):
                continue
            if not isinstance(got, bool):
                return _hint(f"return True or False, got {type(got).__name__}")
            if about == "nobody was contacted":
                return _hint("with no mapping at all there is nothing to filter: no inside host "
                             "owns that public port yet")
            return _hint(f"{filtering}, '{about}': the NAT says {'yes' if want else 'no'}. "
                         "Read the behaviour's name: what must the packet's source match?")
    return _ok(f"right on all {n} cases: only an endpoint-independent NAT lets a stranger in, and "
               "only once the inside host has sent something")
