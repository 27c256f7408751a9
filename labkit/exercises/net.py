"""Exercise checks for the network-layer notebooks (04 addressing, 05 ARP, ICMP and routing).

Importing this module registers the ``net.*`` checkers with :mod:`labkit.exercises`
(:func:`labkit.exercises.check` imports it the first time a ``net.*`` name is
checked); a check cell calls ``check("net.class_of", class_of)``. Each checker
runs the student's answer on many cases, compares it with
:mod:`labkit.net`, and on the first difference says which case failed and
gives a hint.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

import numpy as np

from labkit.exercises import ExerciseResult, exercise
from labkit.net import addressing
from labkit.net.arp import next_hop
from labkit.net.ipv4 import IPv4Packet, fragment
from labkit.net.routing import CONNECTED, Route, RoutingTable

__all__ = ["ADDRESSES", "SUBNET_TASK", "ROUTES_TASK"]

_rng = np.random.default_rng(404)
#: Addresses the addressing checkers try: every class boundary, and random ones.
ADDRESSES = [
    "0.0.0.0", "1.0.0.0", "10.1.2.3", "126.255.255.255", "127.0.0.1", "128.0.0.0", "172.16.5.4",
    "191.255.255.255", "192.0.0.0", "192.168.1.10", "223.255.255.255", "224.0.0.1",
    "239.255.255.255", "240.0.0.0", "247.255.255.255", "248.0.0.1", "255.255.255.255",
] + [str(IPv4Address(int(x))) for x in _rng.integers(0, 2**32, 40, dtype=np.uint64)]


def _callable(answer: Any, example: str) -> ExerciseResult | None:
    if not callable(answer):
        return ExerciseResult(False, f"pass your function itself, e.g. {example}")
    return None


def _same(got: object, want: object) -> bool:
    try:
        return str(got).strip() == str(want)
    except Exception:
        return False


# --- course/04-ip-addressing.ipynb --------------------------------------------------------------


@exercise("net.class_of")
def _check_class_of(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.class_of", class_of)')
    if bad is not None:
        return bad
    for addr in ADDRESSES:
        want = addressing.address_class(addr).name
        got = answer(addr)
        if got != want:
            first = int(IPv4Address(addr)) >> 24
            hint = (f"The first octet is {first} = {first:08b} in binary: count its leading 1 bits "
                    "(0 -> A, 10 -> B, 110 -> C, 1110 -> D, 1111 -> E).")
            if got is None and first >= 248:
                hint = (f"{first} = {first:08b} starts 11111: the source's textbook pattern (11110 for "
                        "E) leaves it without a class, but RFC 1112 defines class E as every address "
                        "starting 1111, 240.0.0.0/4.")
            return ExerciseResult(False, f"class_of({addr!r}) returned {got!r}, expected {want!r}. {hint}")
    return ExerciseResult(True, f"class_of is right on all {len(ADDRESSES)} addresses tried")


@exercise("net.network_address")
def _check_network_address(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.network_address", network_address)')
    if bad is not None:
        return bad
    prefixes = [0, 1, 7, 8, 12, 16, 20, 23, 24, 25, 27, 30, 31, 32]
    for i, addr in enumerate(ADDRESSES):
        p = prefixes[i % len(prefixes)]
        mask = addressing.mask(p).dotted
        want = addressing.network_part(addr, p)
        got = answer(addr, mask)
        if not _same(got, want):
            if _same(got, addressing.broadcast_address(f"{addr}/{p}")):
                hint = ("that is the broadcast address: you set the host bits to 1; the network "
                        "address has them all 0.")
            elif _same(got, addr):
                hint = "that is the address itself: the host bits must be cleared."
            else:
                hint = ("keep each bit of the address where the mask has a 1 and clear it where "
                        "the mask has a 0: one bitwise operator does that, on the whole 32-bit "
                        "numbers (not on the text).")
            return ExerciseResult(
                False,
                f"network_address({addr!r}, {mask!r}) returned {got!r}, expected '{want}': {hint}",
            )
    return ExerciseResult(True, "network_address is right for every address and mask tried")


@exercise("net.hosts_per_prefix")
def _check_hosts(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.hosts_per_prefix", hosts_per_prefix)')
    if bad is not None:
        return bad
    for p in range(0, 31):
        want = addressing.host_count(p)
        got = answer(p)
        if got != want:
            hint = "2 ** (32 - prefix) addresses, minus the network address and the broadcast"
            if got == 2 ** (32 - p):
                hint = "you counted the network address and the broadcast address as hosts"
            return ExerciseResult(False, f"hosts_per_prefix({p}) returned {got!r}, expected {want:,}: {hint}")
    return ExerciseResult(True, "hosts_per_prefix is right for /0 to /30 (a /31 and a /32 are special)")


#: Exercise: split this network into subnets of at least this many hosts each.
SUBNET_NETWORK, SUBNET_HOSTS = "192.168.40.0/24", 50
SUBNET_TASK = {"network": SUBNET_NETWORK, "hosts": SUBNET_HOSTS}


@exercise("net.subnet_plan")
def _check_subnet_plan(answer: Any) -> ExerciseResult:
    want = addressing.subnets_for_hosts(SUBNET_NETWORK, SUBNET_HOSTS)
    try:
        got = [IPv4Network(str(x).strip()) for x in answer]
    except (TypeError, ValueError) as exc:
        return ExerciseResult(False, f"expected a list of networks like '192.168.40.0/26' ({exc})")
    if got == want:
        return ExerciseResult(True, f"{len(want)} subnets of {want[0].num_addresses} addresses "
                                    f"({addressing.host_count(want[0].prefixlen)} hosts) each")
    sizes = {n.prefixlen for n in got}
    if len(sizes) == 1:
        p = sizes.pop()
        if addressing.host_count(p) < SUBNET_HOSTS:
            return ExerciseResult(False, f"a /{p} holds only {addressing.host_count(p)} hosts; "
                                         f"{SUBNET_HOSTS} do not fit")
        if p < want[0].prefixlen:
            return ExerciseResult(False, f"a /{p} fits {SUBNET_HOSTS} hosts but is not the "
                                         f"smallest that does: try /{p + 1}")
    return ExerciseResult(False, f"expected {len(want)} subnets starting at {want[0]}, "
                                 f"{want[1].network_address}, ...; borrow host bits until a subnet "
                                 "is just big enough, and list every subnet in order")


@exercise("net.same_subnet")
def _check_same_subnet(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.same_subnet", same_subnet)')
    if bad is not None:
        return bad
    cases = [("192.168.1.10", "192.168.1.200", "255.255.255.0"),
             ("192.168.1.10", "192.168.2.10", "255.255.255.0"),
             ("192.168.1.10", "192.168.2.10", "255.255.0.0"),
             ("10.0.0.1", "10.0.0.130", "255.255.255.128"),
             ("10.0.0.1", "10.0.0.127", "255.255.255.128")]
    cases += [(a, b, addressing.mask(p).dotted) for a, b, p in zip(ADDRESSES, ADDRESSES[5:], range(33))]
    for a, b, m in cases:
        want = addressing.same_subnet(a, b, m)
        got = answer(a, b, m)
        if got is not want and got != want:
            return ExerciseResult(False, f"same_subnet({a!r}, {b!r}, {m!r}) returned {got!r}, expected "
                                         f"{want}: compare (a AND mask) with (b AND mask)")
    return ExerciseResult(True, f"same_subnet is right on {len(cases)} pairs")


# --- course/05-arp-icmp-routing.ipynb -----------------------------------------------------------


@exercise("net.next_hop")
def _check_next_hop(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.next_hop", my_next_hop)')
    if bad is not None:
        return bad
    cases = [("192.168.1.20", "192.168.1.10/24", "192.168.1.1"),
             ("192.168.2.20", "192.168.1.10/24", "192.168.1.1"),
             ("8.8.8.8", "10.0.0.5/8", "10.0.0.1"),
             ("10.200.3.4", "10.0.0.5/8", "10.0.0.1"),
             ("172.16.0.130", "172.16.0.10/25", "172.16.0.1"),
             ("172.16.0.100", "172.16.0.10/25", "172.16.0.1")]
    for dst, iface, gw in cases:
        want = next_hop(dst, iface, gw)
        got = answer(dst, iface, gw)
        if not _same(got, want):
            where = "on my subnet" if want == IPv4Address(dst) else "not on my subnet"
            return ExerciseResult(False, f"my_next_hop({dst!r}, {iface!r}, {gw!r}) returned {got!r}: "
                                         f"{dst} is {where}, so ARP asks for {want}")
    return ExerciseResult(True, "right: ARP for the destination on my subnet, for the gateway otherwise")


#: Exercise: the routes of a router, as (network, next hop or None for connected).
ROUTES_TASK = [
    ("10.0.0.0/8", "192.168.1.2"),
    ("10.1.0.0/16", "192.168.1.3"),
    ("10.1.2.0/24", None),
    ("0.0.0.0/0", "192.168.1.1"),
    ("192.168.1.0/24", None),
]


def _task_table() -> RoutingTable:
    table = RoutingTable()
    for net, hop in ROUTES_TASK:
        n = IPv4Network(net)
        table.add(Route(n, None if hop is None else IPv4Address(hop), "eth0",
                        CONNECTED if hop is None else "static"))
    return table


@exercise("net.longest_prefix_match")
def _check_lpm(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.longest_prefix_match", lookup)')
    if bad is not None:
        return bad
    table = _task_table()
    dsts = ["10.1.2.3", "10.1.3.3", "10.2.3.4", "11.0.0.1", "192.168.1.77", "10.1.2.255", "0.0.0.1"]
    rng = np.random.default_rng(5)
    dsts += [str(IPv4Address(int(x))) for x in rng.integers(0, 2**32, 30, dtype=np.uint64)]
    for dst in dsts:
        route = table.lookup(dst)
        want = str(route.network) if route is not None else None
        got = answer(ROUTES_TASK, dst)
        if not _same(got, want):
            cands = [str(r.network) for r in table.matches(dst)]
            return ExerciseResult(False, f"lookup(ROUTES_TASK, {dst!r}) returned {got!r}, expected {want!r}: "
                                         f"the routes that contain it are {cands}; the longest prefix wins")
    return ExerciseResult(True, f"longest-prefix match right on {len(dsts)} destinations")


@exercise("net.fragments")
def _check_fragments(answer: Any) -> ExerciseResult:
    bad = _callable(answer, 'check("net.fragments", fragments)')
    if bad is not None:
        return bad
    for size, mtu in ((4000, 1500), (1480, 1500), (1481, 1500), (3000, 576), (100, 68), (20, 1500)):
        packet = IPv4Packet(src="10.0.0.1", dst="10.0.0.2", payload=bytes(size))
        want = [(f.fragment_offset, len(f.payload), f.more_fragments) for f in fragment(packet, mtu)]
        got = answer(size, mtu)
        try:
            got_list = [(int(o), int(n), bool(m)) for o, n, m in got]
        except (TypeError, ValueError):
            return ExerciseResult(False, f"fragments({size}, {mtu}) should return a list of "
                                         "(offset, data_length, more_fragments) tuples")
        if got_list != want:
            return ExerciseResult(False, f"fragments({size}, {mtu}) returned {got_list}, expected {want}. "
                                         "Each fragment carries at most (mtu - 20) // 8 * 8 data bytes; "
                                         "the offset counts 8-byte units; MF is set on all but the last.")
    return ExerciseResult(True, "fragments match labkit.net.ipv4.fragment for every size and MTU tried")
