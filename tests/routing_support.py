"""The networks the routing protocols' tests run on (tests/test_app_rip.py, tests/test_net_linkstate.py).

    A 10.0.1.10 - R1 - 10.0.12.0/24 - R2 - 10.0.23.0/24 - R3 - B 10.0.3.10
                   \\_______________ 10.0.13.0/24 _______________/   (the triangle only)

No route is typed in anywhere: the protocol under test must find them.
"""

from __future__ import annotations

from labkit.sim import Network


def add_line_nodes(net: Network, *, shortcut: bool = False) -> None:
    """A, R1, R2, R3 and B, not connected; with ``shortcut`` R1 and R3 get an eth2 on 10.0.13.0/24."""
    extra = ["10.0.13.1/24"] if shortcut else []
    net.add_host("A", "10.0.1.10/24", gateway="10.0.1.1")
    net.add_router("R1", ["10.0.1.1/24", "10.0.12.1/24", *extra])
    net.add_router("R2", ["10.0.12.2/24", "10.0.23.2/24"])
    net.add_router("R3", ["10.0.23.3/24", "10.0.3.1/24", *(["10.0.13.3/24"] if shortcut else [])])
    net.add_host("B", "10.0.3.10/24", gateway="10.0.3.1")


def line(seed: int = 1, *, shortcut: bool = False, **connect) -> Network:
    """A - R1 - R2 - R3 - B; ``connect`` (delay, loss...) goes to the R1 - R2 link."""
    net = Network(seed=seed)
    add_line_nodes(net, shortcut=shortcut)
    net.connect("A", "R1")
    net.connect("R1.eth1", "R2.eth0", **connect)
    net.connect("R2.eth1", "R3.eth0")
    net.connect("R3.eth1", "B")
    if shortcut:
        net.connect("R1.eth2", "R3.eth2")
    return net


def triangle(seed: int = 1, **connect) -> Network:
    """The line, and a direct R1 - R3 link (make it cost 3 to keep it the slow way round)."""
    return line(seed, shortcut=True, **connect)
