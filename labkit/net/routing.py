"""A routing table with longest-prefix match: connected, static and default routes.

For each packet a router (or a host) looks up the destination address in its
table. Several routes may match: ``10.0.0.0/8``, ``10.1.0.0/16`` and the
default route ``0.0.0.0/0`` all contain ``10.1.2.3``. The most specific one,
the route with the **longest prefix**, wins. A route says where to send the
packet: out of which interface, and to which next-hop router (or, for a
*connected* route, straight to the destination, which is on that link).

- connected routes come from the router's own interface addresses;
- static routes are typed in by an administrator (``ip route add``);
- the default route, ``0.0.0.0/0``, matches everything: "anything I know
  nothing better about goes to this gateway".

Lookup keeps one dictionary per prefix length and tries the lengths present,
longest first: at most 33 dictionary probes, independent of the table's
size. Pure logic: no interfaces, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from labkit.errors import LabkitValueError
from labkit.net.addressing import as_address, as_network

__all__ = ["Route", "RoutingTable", "CONNECTED", "STATIC", "DEFAULT"]

CONNECTED = "connected"
STATIC = "static"
DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Route:
    """One entry: destination network, next hop (``None`` when directly connected), interface."""

    network: IPv4Network
    next_hop: IPv4Address | None
    interface: str
    kind: str = STATIC
    metric: int = 0

    def gateway_for(self, dst: object) -> IPv4Address:
        """Where to send a packet for ``dst``: the next hop, or ``dst`` itself if connected."""
        return self.next_hop if self.next_hop is not None else as_address(dst, "dst")

    def summary(self) -> str:
        via = f"via {self.next_hop}" if self.next_hop is not None else "directly connected"
        return f"{self.network} {via} dev {self.interface} ({self.kind})"

    def __str__(self) -> str:
        return self.summary()


class RoutingTable:
    """Routes, and the longest-prefix match over them.

    >>> t = RoutingTable()
    >>> _ = t.add_connected("10.0.1.1/24", "eth0")
    >>> _ = t.add_static("10.0.0.0/8", "10.0.1.254")
    >>> _ = t.add_default("10.0.1.1")
    >>> t.lookup("10.9.9.9").summary()
    '10.0.0.0/8 via 10.0.1.254 dev eth0 (static)'
    """

    def __init__(self) -> None:
        self._by_length: dict[int, dict[int, Route]] = {}
        self._lengths: list[int] = []  # prefix lengths present, longest first

    # -- building ------------------------------------------------------------------------------
    def add(self, route: Route) -> None:
        """Add ``route``, replacing one for the same network only if its metric is not worse."""
        if not isinstance(route, Route):
            raise LabkitValueError(f"route={route!r}: expected a Route")
        p = route.network.prefixlen
        table = self._by_length.setdefault(p, {})
        key = int(route.network.network_address)
        old = table.get(key)
        if old is not None and old.metric < route.metric:
            return
        table[key] = route
        if p not in self._lengths:
            self._lengths = sorted(self._by_length, reverse=True)

    def add_connected(self, interface_address: object, interface: str) -> Route:
        """The route to the subnet of an interface: ``'10.0.1.1/24'`` on ``eth0``."""
        if isinstance(interface_address, IPv4Interface):
            net = interface_address.network
        else:
            net = as_network(interface_address, "interface_address", strict=False)
        route = Route(net, None, _name(interface), CONNECTED)
        self.add(route)
        return route

    def _interface_towards(self, hop: IPv4Address) -> str:
        for p in self._lengths:
            route = self._by_length[p].get(int(hop) & _mask(p))
            if route is not None and route.kind == CONNECTED:
                return route.interface
        raise LabkitValueError(
            f"next_hop={hop}: not on any connected subnet, so no interface reaches it; add the "
            "interface's connected route first, or name the interface"
        )

    def add_static(
        self, network: object, next_hop: object, interface: str | None = None, *, metric: int = 1
    ) -> Route:
        """A route to ``network`` via the router ``next_hop`` (on one of my connected subnets)."""
        net = as_network(network)
        hop = as_address(next_hop, "next_hop")
        iface = _name(interface) if interface is not None else self._interface_towards(hop)
        route = Route(net, hop, iface, DEFAULT if net.prefixlen == 0 else STATIC, metric)
        self.add(route)
        return route

    def add_default(self, next_hop: object, interface: str | None = None) -> Route:
        """The default route ``0.0.0.0/0`` via ``next_hop``."""
        return self.add_static("0.0.0.0/0", next_hop, interface)

    def remove(self, network: object) -> Route:
        """Remove the route to ``network`` (an error if there is none)."""
        net = as_network(network)
        table = self._by_length.get(net.prefixlen, {})
        route = table.pop(int(net.network_address), None)
        if route is None:
            raise LabkitValueError(f"network={net}: no such route")
        if not table:
            del self._by_length[net.prefixlen]
            self._lengths = sorted(self._by_length, reverse=True)
        return route

    # -- lookup --------------------------------------------------------------------------------
    def lookup(self, dst: object) -> Route | None:
        """The matching route with the longest prefix, or ``None`` (no route: unreachable)."""
        value = int(dst) if type(dst) is IPv4Address else int(as_address(dst, "dst"))
        by_length = self._by_length
        for p in self._lengths:
            route = by_length[p].get(value & _mask(p))
            if route is not None:
                return route
        return None

    def matches(self, dst: object) -> list[Route]:
        """Every route that contains ``dst``, longest prefix first (the first one wins)."""
        value = int(as_address(dst, "dst"))
        return [r for p in self._lengths if (r := self._by_length[p].get(value & _mask(p)))]

    # -- display -------------------------------------------------------------------------------
    def routes(self) -> list[Route]:
        """All routes, longest prefix first, then by address."""
        return [self._by_length[p][k] for p in self._lengths for k in sorted(self._by_length[p])]

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes())

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_length.values())

    def table(self) -> str:
        """The table as ``route -n`` prints it (flags: U up, G via a gateway)."""
        lines = [f"{'Destination':<16}{'Gateway':<16}{'Genmask':<16}{'Flags':<6}{'Metric':<7}Iface"]
        for r in self.routes():
            gw = str(r.next_hop) if r.next_hop is not None else "0.0.0.0"
            flags = "UG" if r.next_hop is not None else "U"
            lines.append(f"{str(r.network.network_address):<16}{gw:<16}{str(r.network.netmask):<16}"
                         f"{flags:<6}{r.metric:<7}{r.interface}")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return f"<RoutingTable {len(self)} routes>"

    def _repr_html_(self) -> str:
        cell = "padding:1px 6px;font-family:monospace;text-align:left"
        head = "".join(f'<th style="{cell}">{h}</th>' for h in
                       ("destination", "next hop", "interface", "kind", "metric"))
        rows = "".join(
            "<tr>" + "".join(f'<td style="{cell}">{escape(str(v))}</td>' for v in (
                r.network, r.next_hop if r.next_hop is not None else "directly connected",
                r.interface, r.kind, r.metric)) + "</tr>"
            for r in self.routes()
        )
        return f'<table style="border-collapse:collapse;font-size:12px"><tr>{head}</tr>{rows}</table>'


def _mask(p: int) -> int:
    return (0xFFFFFFFF << (32 - p)) & 0xFFFFFFFF


def _name(interface: object) -> str:
    if not isinstance(interface, str) or not interface:
        raise LabkitValueError(f"interface={interface!r}: expected an interface name like 'eth0'")
    return interface
