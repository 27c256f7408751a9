"""Lab 3's grader: the learner's router in a network of labkit hosts, judged by pings and traceroutes.

The learner writes a whole router node: ``Router(interfaces, clock, *, arp_timeout_ns,
arp_retry_ns, arp_tries)`` with ``add_route(prefix, next_hop, interface)`` and
``receive(iface, frame, now)`` (a node handler, the shape of labkit's
:class:`~labkit.net.stack.IPStack`: it is given the node's interfaces, each with
``name``, ``mac``, ``ip`` and ``send(frame)``, and a clock with ``now()`` and
``call_at(time, fn, *args)``). It does the router's whole job from frames:
ARP (answer, ask, cache with a timeout, queue packets while asking, give up
after ``arp_tries``), longest-prefix match, TTL and header checksum, ICMP time
exceeded and destination unreachable. labkit's own IP stack, forwarding,
routing table and ARP resolver are out of reach of the learner's code; the
hosts around it run labkit's. What the router sends is judged on the wire, by
its bytes: a forwarded packet with a stale header checksum is dropped by the
next hop, and the tests say so.

The network (the learner's routers R1 and R2, labkit's router R3)::

    A 10.0.1.10 --- eth0 R1 eth1 --- eth0 R2 eth1 --- B 10.0.3.20
                         eth2
                          |
                         R3 (labkit's; knows no route to 10.0.3.0/24)
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any

from labkit.labs.grading import _enter, inside, run_checks
from labkit.net.checksum import internet_checksum
from labkit.testing import Scenario

__all__ = [
    "build",
    "check_own_address",
    "check_ping_through",
    "check_traceroute",
    "check_ttl_checksum",
    "check_longest_prefix",
    "check_net_unreachable",
    "check_arp_cache",
    "check_arp_pending",
    "check_host_unreachable",
]

S = 1_000_000_000


class _Clock:
    """The node's clock, with the learner's timers run 'inside' too."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock

    def now(self) -> int:
        return int(self._clock.now())

    def call_at(self, time: int, fn: Callable[..., Any], *args: Any) -> Any:
        return self._clock.call_at(time, _enter(fn), *args)


def build(
    Router: Callable[..., Any], *, lpm: bool = False, arp_timeout_s: float = 60
) -> tuple[Any, dict[str, Any]]:
    """The lab's network with the learner's ``Router`` at R1 and R2; returns (net, routers)."""
    from labkit.sim import Network
    from labkit.sim.stacks import NodeClock, install_ip

    net = Network(seed=3)
    a = net.add_host("A", ip="10.0.1.10/24", gateway="10.0.1.1")
    b = net.add_host("B", ip="10.0.3.20/24", gateway="10.0.3.1")
    r1 = net.add_router("R1", ["10.0.1.1/24", "10.0.12.1/30", "10.0.13.1/30"])
    r2 = net.add_router("R2", ["10.0.12.2/30", "10.0.3.1/24"])
    r3 = net.add_router("R3", ["10.0.13.2/30"])
    net.connect(a, r1["eth0"], delay="1ms")
    net.connect(r1["eth1"], r2["eth0"], delay="2ms")
    net.connect(r1["eth2"], r3["eth0"], delay="2ms")
    net.connect(r2["eth1"], b, delay="1ms")
    stacks = install_ip(net)
    stacks["R3"].routes.add_default("10.0.13.1")
    routers = {}
    for node in (r1, r2):
        router = inside(Router)(
            node.interfaces,
            _Clock(NodeClock(node)),
            arp_timeout_ns=int(arp_timeout_s * S),
            arp_retry_ns=S,
            arp_tries=3,
        )
        node.set_handler(router)
        routers[node.name] = router
    if lpm:  # the most specific route is the second of three: first or last match both go wrong
        routers["R1"].add_route("10.0.0.0/8", "10.0.13.2", "eth2")
        routers["R1"].add_route("10.0.3.0/24", "10.0.12.2", "eth1")
        routers["R1"].add_route("10.0.0.0/16", "10.0.13.2", "eth2")
    else:
        routers["R1"].add_route("10.0.3.0/24", "10.0.12.2", "eth1")
    routers["R2"].add_route("10.0.1.0/24", "10.0.12.1", "eth0")
    return net, routers


def _ping(net: Any, dst: str, count: int = 1, **kw: Any) -> Any:
    from labkit.app.ping import ping

    return ping(net["A"], dst, count, verbose=False, **kw)


def _icmp_seen(net: Any) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int, int]] = []
    net["A"].stack.icmp_listeners.append(
        lambda packet, msg, now: seen.append((str(packet.src), int(msg.type), int(msg.code)))
    )
    return seen


def _expect_icmp_errors(
    s: Scenario[Any], seen: list[tuple[str, int, int]], expected: list[tuple[str, int, int]], hint: str
) -> None:
    """The ICMP errors A heard (from ``_icmp_seen``) must be exactly ``expected``."""
    s.expect_equal("ICMP errors A received (from, type, code)", lambda: seen, expected, hint=hint)


def _run(
    title: str,
    Router: Callable[..., Any],
    script: Callable[[Scenario[Any], Any], None],
    hint: str,
    **build_kw: Any,
) -> None:
    def body() -> int:
        s: Scenario[Any] = Scenario(title, None, hint=hint)
        net, _ = s.do("build the network: your Router at R1 and R2", lambda: build(Router, **build_kw))
        s.subject = net
        script(s, net)
        return len(s.steps)

    run_checks("router", title, body, seconds=30)


def _run_pings(
    title: str, Router: Callable[..., Any], step: str, dst: str, count: int, hint: str, **ping_kw: Any
) -> None:
    """A check that is one step: A pings ``dst`` ``count`` times and every reply must come."""

    def script(s: Scenario[Any], net: Any) -> None:
        r = s.do(step, lambda: _ping(net, dst, count, **ping_kw))
        s.expect_equal("replies received", lambda: r.received, count, hint=hint)

    _run(title, Router, script, "")


def check_own_address(Router: Callable[..., Any]) -> None:
    """R1 answers ARP for its address and pings to it."""
    _run_pings(
        "own address",
        Router,
        "A pings R1 (10.0.1.1) once",
        "10.0.1.1",
        1,
        "A first asks 'who has 10.0.1.1?': answer with an ARP reply from the "
        "interface that has that address, then answer the echo request",
    )


def check_ping_through(Router: Callable[..., Any]) -> None:
    """A pings B through R1 and R2: three requests, three replies."""

    def script(s: Scenario[Any], net: Any) -> None:
        r = s.do("A pings B (10.0.3.20) 3 times", lambda: _ping(net, "10.0.3.20", 3))
        s.expect_equal("replies received", lambda: r.received, 3)

    _run(
        "ping through",
        Router,
        script,
        "forward what is not for you: look the destination up, "
        "find the next hop's MAC by ARP, send the packet on with TTL one less",
    )


def check_traceroute(Router: Callable[..., Any]) -> None:
    """traceroute from A to B names R1, R2 (by the addresses the probes came in on), then B."""
    from labkit.app.traceroute import traceroute

    def script(s: Scenario[Any], net: Any) -> None:
        t = s.do(
            "traceroute from A to B", lambda: traceroute(net["A"], "10.0.3.20", verbose=False, max_hops=6)
        )
        s.expect_equal(
            "the hops",
            lambda: [str(a) for a in t.path],
            ["10.0.1.1", "10.0.12.2", "10.0.3.20"],
            hint="a packet whose TTL would reach 0 is answered with ICMP time exceeded "
            "(type 11) from the address of the interface it came in on",
        )

    _run("traceroute", Router, script, "")


def check_ttl_checksum(Router: Callable[..., Any]) -> None:
    """On the wire after R1 and R2: TTL 63 then 62, and a header checksum right by its bytes."""

    def script(s: Scenario[Any], net: Any) -> None:
        cap = net.capture(net["R2"]["eth0"], net["B"])
        s.do("A pings B once with TTL 64", lambda: _ping(net, "10.0.3.20", 1, ttl=64))

        def requests(node: str) -> list[bytes]:
            out = []
            for rec in cap.trace:
                f = rec.frame
                if (
                    rec.node == node
                    and rec.direction == "in"
                    and f[12:14] == b"\x08\x00"
                    and f[14 + 9] == 1
                    and f[14 + 16 : 14 + 20] == IPv4Address("10.0.3.20").packed
                ):
                    out.append(f[14 : 14 + 4 * (f[14] & 15)])
            return out

        for node, ttl in (("R2", 63), ("B", 62)):
            s.expect(f"an echo request reached {node}", lambda n=node: requests(n))
            s.expect_equal(
                f"its TTL at {node}",
                lambda n=node: requests(n)[0][8],
                ttl,
                hint="each router takes one from the TTL of every packet it forwards",
            )
            s.expect_equal(
                f"its header checksum at {node} (0 when right)",
                lambda n=node: internet_checksum(requests(n)[0]),
                0,
                hint="the header changed (TTL), so its checksum must be computed again",
            )

    _run("TTL and checksum", Router, script, "")


def check_longest_prefix(Router: Callable[..., Any]) -> None:
    """R1 holds 10/8 and 10.0/16 via R3, 10.0.3/24 via R2: traffic for B takes the /24."""

    def script(s: Scenario[Any], net: Any) -> None:
        cap = net.capture(net["R3"])
        r = s.do("A pings B 3 times", lambda: _ping(net, "10.0.3.20", 3))
        s.expect_equal("replies received", lambda: r.received, 3)
        s.expect_equal(
            "IPv4 packets R3 received",
            lambda: sum(1 for rec in cap.trace if rec.direction == "in" and rec.frame[12:14] == b"\x08\x00"),
            0,
        )

    _run(
        "longest prefix",
        Router,
        script,
        "several routes match 10.0.3.20: the one with the longest prefix wins, whatever "
        "order they were added in",
        lpm=True,
    )


def check_net_unreachable(Router: Callable[..., Any]) -> None:
    """No route to 192.168.7.7: A hears ICMP destination unreachable (net) from 10.0.1.1."""

    def script(s: Scenario[Any], net: Any) -> None:
        seen = _icmp_seen(net)
        s.do("A pings 192.168.7.7", lambda: _ping(net, "192.168.7.7", 1, timeout=2 * S))
        _expect_icmp_errors(
            s,
            seen,
            [("10.0.1.1", 3, 0)],
            "no route: answer with ICMP type 3 code 0, from the address of the "
            "interface the packet came in on",
        )

    _run("net unreachable", Router, script, "")


def _arp_requests(cap: Any, node: str) -> int:
    return sum(
        1
        for rec in cap.trace
        if rec.node == node
        and rec.direction == "out"
        and rec.frame[12:14] == b"\x08\x06"
        and rec.frame[20:22] == b"\x00\x01"
    )


def check_arp_cache(Router: Callable[..., Any]) -> None:
    """One ARP request for many packets, and a new one once the entry has timed out (5 s here)."""

    def script(s: Scenario[Any], net: Any) -> None:
        cap = net.capture(net["R1"]["eth1"])
        s.do("A pings B 3 times, 1 s apart", lambda: _ping(net, "10.0.3.20", 3))
        s.expect_equal(
            "ARP requests R1 sent to R2",
            lambda: _arp_requests(cap, "R1"),
            1,
            hint="keep what ARP replies tell you, and look there before you ask again",
        )
        s.do("10 s pass (the entries' timeout is 5 s)", lambda: net.run_for("10s"))
        s.do("A pings B once", lambda: _ping(net, "10.0.3.20", 1))
        s.expect_equal(
            "ARP requests R1 sent to R2, in all",
            lambda: _arp_requests(cap, "R1"),
            2,
            hint="an entry older than arp_timeout_ns is stale: ask again",
        )

    _run("ARP cache", Router, script, "", arp_timeout_s=5)


def check_arp_pending(Router: Callable[..., Any]) -> None:
    """Packets that arrive while ARP is asking wait for the answer: none is lost."""
    _run_pings(
        "ARP pending queue",
        Router,
        "A pings B 4 times, 1 ms apart (before any router knows a MAC)",
        "10.0.3.20",
        4,
        "while you wait for an ARP reply, queue the packets for that next hop "
        "(ask once), and send them all when the reply comes",
        interval=1_000_000,
    )


def check_host_unreachable(Router: Callable[..., Any]) -> None:
    """Nobody answers ARP for 10.0.3.99: after 3 tries, A hears host unreachable from R2."""

    def script(s: Scenario[Any], net: Any) -> None:
        seen = _icmp_seen(net)
        cap = net.capture(net["R2"]["eth1"])
        s.do("A pings 10.0.3.99 (no such host)", lambda: _ping(net, "10.0.3.99", 1))
        s.expect_equal(
            "ARP requests R2 sent",
            lambda: _arp_requests(cap, "R2"),
            3,
            hint="ask arp_tries times, arp_retry_ns apart",
        )
        _expect_icmp_errors(
            s,
            seen,
            [("10.0.12.2", 3, 1)],
            "after the last try, answer every queued packet with ICMP type 3 code 1, "
            "from the address of the interface it came in on",
        )

    _run("host unreachable", Router, script, "")
