"""The IP layer of a host or router: ARP, IPv4, ICMP and forwarding, on a node's interfaces.

:class:`IPStack` is the glue between the network layer's pure logic (ARP
resolver, routing table, fragmentation, reassembly, ICMP) and the interfaces
of one node. It is given those interfaces (each an :class:`IPInterface`: a
:class:`~labkit.link.interface.NetworkInterface` with an IPv4 address) and a
:class:`~labkit.link.interface.Clock`; it never sees a simulator node or its
engine. :mod:`labkit.sim.stacks` builds one for every host and router of a
:class:`labkit.sim.Network` and makes it the node's handler::

    net = Network(seed=1)
    ... add hosts and routers, connect them ...
    stacks = install_ip(net)                        # labkit.sim.stacks: every host and router
                                                    # gets a stack, every switch a learning switch
    stacks["R1"].routes.add_static("10.0.3.0/24", "10.0.2.2")
    ping(net["A"], "10.0.3.20")                     # labkit.app.ping
    traceroute(net["A"], "10.0.3.20")               # labkit.app.traceroute

What a stack does with a frame (Ethernet II, no FCS, as the simulator carries them):

- not for my MAC (and not broadcast) -> ignored, as a NIC does;
- ARP -> the interface's :class:`~labkit.net.arp.ArpResolver` (learn, answer,
  release queued packets);
- IPv4 with a bad header -> dropped (counted);
- IPv4 for one of my addresses -> reassembled if fragmented, then ICMP echo
  requests are answered and other protocols go to handlers registered with
  :meth:`IPStack.register` (none: ICMP protocol unreachable);
- IPv4 for someone else -> a router's :class:`Forwarding` (labkit's own,
  :class:`IPForwarding`: TTL 1 or 0: dropped with ICMP time exceeded; no route:
  ICMP net unreachable; too big for the next link: fragmented, or with DF set
  dropped with ICMP fragmentation needed); a host drops it.

ICMP errors follow RFC 1122/1812: never about an ICMP error, a broadcast or
a non-first fragment; sent from the address of the interface the offending
packet came in on (that is the address traceroute shows).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Interface
from typing import Any, Protocol

from labkit._moved import moved
from labkit.errors import LabkitError, LabkitValueError
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.link.interface import Clock, NetworkInterface, Timer
from labkit.link.mac import BROADCAST, MACAddress
from labkit.net.addressing import LIMITED_BROADCAST, as_address
from labkit.net.arp import ArpCache, ARPPacket, ArpResolver, NoRouteError, Transmit, Unresolved
from labkit.net.icmp import ICMPMessage, ICMPType, TimeExceeded, Unreachable
from labkit.net.ipv4 import (
    DEFAULT_REASSEMBLY_TIMEOUT_NS,
    DEFAULT_TTL,
    ICMP,
    FragmentationNeeded,
    IPv4Packet,
    Reassembler,
    fragment,
)
from labkit.net.routing import Route, RoutingTable
from labkit.net.summary import short_summary, summarise

__all__ = [
    "IPStack", "IPInterface", "Forwarding", "IPForwarding", "summarise", "short_summary",
]

# Moved up to the layers that use the simulator or run programs; kept importable from here
# so that notebooks saved before the move still run (PEP 562: imported on first use only).
_MOVED = {
    "install_ip": "labkit.sim.stacks",
    "ping": "labkit.app.ping",
    "PingResult": "labkit.app.ping",
    "traceroute": "labkit.app.traceroute",
    "TraceResult": "labkit.app.traceroute",
}


__getattr__, __dir__ = moved(__name__, _MOVED)

Listener = Callable[[IPv4Packet, ICMPMessage, int], Any]
# destination unreachable, source quench, redirect, time exceeded, parameter problem
_ICMP_ERROR_TYPES = (b"\x03", b"\x04", b"\x05", b"\x0b", b"\x0c")


class IPInterface(NetworkInterface, Protocol):
    """An interface as the IP layer sees it: a link-layer interface with an IPv4 address.

    :attr:`ip` is the address with its prefix (``IPv4Interface("10.0.1.1/24")``),
    or ``None`` for an interface without one (a switch port, or an interface
    still waiting for DHCP).
    """

    @property
    def ip(self) -> IPv4Interface | None: ...


class Forwarding(Protocol):
    """A router's forwarding: what happens to a packet that is for someone else.

    :meth:`forward` is called with the router's :class:`IPStack`, the packet,
    the name of the interface it arrived on and the time. It decides (the
    routing table, the TTL) and acts through the stack: :meth:`IPStack.output`
    sends a packet by a route, :meth:`IPStack.send_error` answers with an
    ICMP error. labkit's own is :class:`IPForwarding`; a learner's router plugs
    in with ``net.add_router("R1", [...], forwarding=MyForwarding())``.
    """

    def forward(self, stack: IPStack, packet: IPv4Packet, arrived_on: str, now: int) -> None: ...


class IPForwarding:
    """labkit's forwarding (RFC 1812): longest-prefix match, TTL, ICMP errors, fragmentation."""

    def forward(self, stack: IPStack, packet: IPv4Packet, arrived_on: str, now: int) -> None:
        # the route first, then the TTL, as Linux does: a packet nobody can route is
        # "net unreachable" even when its TTL has run out too
        route = stack.routes.lookup(packet.dst)
        if route is None:
            stack.counters["no_route"] += 1
            stack.send_error(ICMPMessage.unreachable(Unreachable.NET, packet), packet, arrived_on)
            return
        if packet.ttl <= 1:
            stack.counters["ttl_expired"] += 1
            stack.send_error(ICMPMessage.time_exceeded(packet, TimeExceeded.TTL), packet, arrived_on)
            return
        stack.counters["forwarded"] += 1
        stack.output(packet.replace(ttl=packet.ttl - 1), route, arrived_on=arrived_on)

    def __repr__(self) -> str:
        return "IPForwarding()"


class _Port:
    """One interface of the node with its ARP resolver and ARP retry timer."""

    __slots__ = ("iface", "arp", "timer")

    def __init__(self, iface: IPInterface, arp: ArpResolver | None) -> None:
        self.iface = iface
        self.arp = arp
        self.timer: Timer | None = None

    @property
    def ip(self) -> IPv4Interface | None:
        return self.iface.ip


class IPStack:
    """IPv4 for one node: a host, or a router when ``forwarding`` is given.

    ``interfaces`` are the node's :class:`IPInterface` s (a live sequence:
    interfaces added later are taken up as frames arrive on them); their
    addresses give the connected routes, and ``gateway`` the default route.
    ``clock`` gives the time and the timers (ARP retries, reassembly).
    ``forwarding`` is ``False`` for a host, ``True`` for labkit's
    :class:`IPForwarding`, or a :class:`Forwarding` of one's own. Frames are
    handed in with :meth:`receive`.
    """

    def __init__(
        self,
        interfaces: Sequence[IPInterface],
        clock: Clock,
        *,
        name: str = "host",
        forwarding: bool | Forwarding = False,
        gateway: object = None,
        ttl: int = DEFAULT_TTL,
        reassembly_timeout: int = DEFAULT_REASSEMBLY_TIMEOUT_NS,
        arp_retry_interval: int = 1_000_000_000,
        arp_max_requests: int = 3,
    ) -> None:
        if forwarding is True:
            forwarding = IPForwarding()
        if forwarding is not False and not callable(getattr(forwarding, "forward", None)):
            raise LabkitValueError(
                f"forwarding={forwarding!r}: expected True, False or an object with "
                "forward(stack, packet, arrived_on, now) (see labkit.net.stack.Forwarding)"
            )
        self.name = name
        self.clock = clock
        #: The router's forwarding, or ``None`` on a host.
        self.forwarder: Forwarding | None = forwarding or None
        self.ttl = ttl
        self.routes = RoutingTable()
        self.ports: dict[str, _Port] = {}
        for iface in interfaces:
            arp = None
            if iface.ip is not None:
                arp = ArpResolver(MACAddress(iface.mac), iface.ip, retry_interval=arp_retry_interval,
                                  max_requests=arp_max_requests)
                self.routes.add_connected(iface.ip, iface.name)
            self.ports[iface.name] = _Port(iface, arp)
        if gateway is not None:
            self.routes.add_default(gateway)
        self.reassembler = Reassembler(reassembly_timeout)
        self._reassembly_timer: Timer | None = None
        self._ids = itertools.count(1)
        self.protocols: dict[int, Callable[[IPv4Packet, int], Any]] = {}
        self.icmp_listeners: list[Listener] = []
        #: Packets delivered to this node that no registered protocol took.
        self.inbox: list[IPv4Packet] = []
        #: Called as ``listener(interface, arp_packet, now)`` for every ARP packet that arrives,
        #: numbered interface or not (a DHCP client's ARP probe listens here, RFC 5227).
        self.arp_listeners: list[Callable[[str, ARPPacket, int], Any]] = []
        #: The interface the packet being delivered came in on (a DHCP relay needs it).
        self.arrival: str | None = None
        self.counters = dict.fromkeys(
            ("received", "delivered", "forwarded", "ttl_expired", "no_route", "frag_needed",
             "fragments_sent", "reassembled", "bad_frames", "bad_packets", "not_for_me",
             "host_unreachable", "icmp_sent"), 0)

    @property
    def forwarding(self) -> bool:
        """True on a router: packets for others are forwarded, not dropped."""
        return self.forwarder is not None

    # -- addresses -----------------------------------------------------------------------------
    @property
    def addresses(self) -> list[IPv4Address]:
        """My IPv4 addresses, one per numbered interface."""
        return [p.ip.ip for p in self.ports.values() if p.ip is not None]

    def _is_mine(self, dst: IPv4Address) -> bool:
        if dst == LIMITED_BROADCAST:
            return True
        for p in self.ports.values():
            if p.ip is not None and (dst == p.ip.ip or dst == p.ip.network.broadcast_address):
                return True
        return False

    def arp_cache(self, interface: str | None = None) -> ArpCache:
        """The ARP cache of ``interface`` (default: the only numbered one)."""
        resolvers = [p.arp for p in self.ports.values() if p.arp is not None]
        if interface is not None:
            port = self.ports.get(interface)
            if port is None or port.arp is None:
                raise LabkitValueError(f"interface={interface!r}: {self.name} has no numbered "
                                       f"interface of that name (it has: {', '.join(self.ports)})")
            resolvers = [port.arp]
        if len(resolvers) != 1:
            raise LabkitValueError(f"{self.name} has several interfaces: say which, e.g. arp_cache('eth0')")
        return resolvers[0].cache

    def register(self, protocol: int, handler: Callable[[IPv4Packet, int], Any]) -> None:
        """Deliver packets of ``protocol`` (e.g. 17, UDP) to ``handler(packet, now)``."""
        self.protocols[int(protocol)] = handler

    # -- receiving -----------------------------------------------------------------------------
    def receive(self, iface: IPInterface, frame: bytes, now: int) -> None:
        """One Ethernet frame arrived on ``iface`` at ``now`` (ns): the node's handler."""
        port = self.ports.get(iface.name)
        if port is None:  # an interface added after the stack was built
            port = self.ports[iface.name] = _Port(iface, None)
        try:
            eth = EthernetFrame.parse(frame, fcs=False)
        except LabkitError:
            self.counters["bad_frames"] += 1
            return
        if eth.dst != BROADCAST and eth.dst.packed != iface.mac and not eth.dst.is_multicast:
            self.counters["not_for_me"] += 1
            return
        if eth.ethertype == EtherType.ARP:
            try:
                arp = ARPPacket.parse(eth.payload)
            except LabkitError:
                self.counters["bad_frames"] += 1
                return
            for listener in list(self.arp_listeners):
                listener(iface.name, arp, now)
            if port.arp is None:
                return
            self._carry_out(port, port.arp.receive(arp, now), now)
        elif eth.ethertype == EtherType.IPV4:
            try:
                packet = IPv4Packet.parse(eth.payload)
            except LabkitError:
                self.counters["bad_packets"] += 1
                return
            self.counters["received"] += 1
            # an interface with no address yet (a DHCP client's) takes the UDP sent to its MAC:
            # a server may send the offer to the address it offers, before the client has it
            if self._is_mine(packet.dst) or (port.ip is None and self.forwarder is None
                                             and packet.protocol == 17):
                self.arrival = iface.name
                self._deliver(packet, port, now)
            elif self.forwarder is not None:
                self.forwarder.forward(self, packet, iface.name, now)
            else:
                self.counters["not_for_me"] += 1

    def _deliver(self, packet: IPv4Packet, port: _Port | None, now: int) -> None:
        whole = self.reassembler.add(packet, now)
        self._watch_reassembly()
        if whole is None:
            return
        if whole is not packet:
            self.counters["reassembled"] += 1
        self.counters["delivered"] += 1
        if whole.protocol == ICMP:
            self._icmp(whole, port, now)
        elif whole.protocol in self.protocols:
            self.protocols[whole.protocol](whole, now)
        else:
            self.inbox.append(whole)
            self._error(ICMPMessage.unreachable(Unreachable.PROTOCOL, whole), whole, port, now)

    def _icmp(self, packet: IPv4Packet, port: _Port | None, now: int) -> None:
        try:
            msg = ICMPMessage.parse(packet.payload)
        except LabkitError:
            self.counters["bad_packets"] += 1
            return
        if msg.type == ICMPType.ECHO_REQUEST:
            src = packet.dst if not self._is_broadcast(packet.dst) else (
                port.ip.ip if port is not None and port.ip is not None else None)
            self.send(packet.src, ICMP, msg.reply().pack(), src=src)
        for listener in list(self.icmp_listeners):
            listener(packet, msg, now)

    def _is_broadcast(self, dst: IPv4Address) -> bool:
        return dst == LIMITED_BROADCAST or any(
            p.ip is not None and dst == p.ip.network.broadcast_address for p in self.ports.values())

    # -- forwarding ----------------------------------------------------------------------------
    def output(self, packet: IPv4Packet, route: Route, *, arrived_on: str | None = None) -> None:
        """Send ``packet`` out of ``route``'s interface to its next hop, fragmenting if need be.

        For a :class:`Forwarding`: ``arrived_on`` names the interface a forwarded
        packet came in on, so that a packet too big for the next link with DF set
        is answered with ICMP "fragmentation needed" (without it, the
        :class:`~labkit.net.ipv4.FragmentationNeeded` is raised to the sender).
        """
        now = self.clock.now()
        out = self.ports.get(route.interface)
        mtu = None if out is None else out.iface.mtu
        if out is None or out.arp is None or mtu is None:
            self.counters["no_route"] += 1
            return
        try:
            pieces = fragment(packet, mtu)
        except FragmentationNeeded:
            self.counters["frag_needed"] += 1
            if arrived_on is None:
                raise
            self.send_error(ICMPMessage.unreachable(Unreachable.FRAGMENTATION_NEEDED, packet,
                                                    next_hop_mtu=mtu), packet, arrived_on)
            return
        if len(pieces) > 1:
            self.counters["fragments_sent"] += len(pieces)
        hop = route.gateway_for(packet.dst)
        for piece in pieces:
            self._carry_out(out, out.arp.send(hop, piece.pack(), now), now)

    def _carry_out(self, port: _Port, actions: list[Transmit | Unresolved], now: int) -> None:
        iface = port.iface
        for action in actions:
            if isinstance(action, Transmit):
                frame = EthernetFrame(action.dst, MACAddress(iface.mac), action.ethertype, action.payload)
                iface.send(frame.pack(fcs=False))
            else:
                for raw in action.packets:
                    self.counters["host_unreachable"] += 1
                    try:
                        original = IPv4Packet.parse(raw)
                    except LabkitError:
                        continue
                    self._error(ICMPMessage.unreachable(Unreachable.HOST, original), original, port, now)
        self._arm_arp_timer(port)

    def _arm_arp_timer(self, port: _Port) -> None:
        if port.arp is None:
            return
        due = port.arp.next_deadline()
        if due is None:
            return
        if port.timer is not None and port.timer.pending and port.timer.time <= due:
            return
        port.timer = self.clock.call_at(max(due, self.clock.now()), self._arp_poll, port, port.arp)

    def _arp_poll(self, port: _Port, arp: ArpResolver) -> None:
        now = self.clock.now()
        port.timer = None
        self._carry_out(port, arp.poll(now), now)

    def _watch_reassembly(self) -> None:
        due = self.reassembler.next_deadline()
        if due is None:
            return
        t = self._reassembly_timer
        if t is not None and t.pending and t.time <= due:
            return
        self._reassembly_timer = self.clock.call_at(max(due, self.clock.now()), self._reassembly_expire)

    def _reassembly_expire(self) -> None:
        now = self.clock.now()
        self._reassembly_timer = None
        for gone in self.reassembler.expire(now):
            if gone.first_fragment is not None:
                self._error(ICMPMessage.time_exceeded(gone.first_fragment, TimeExceeded.REASSEMBLY),
                            gone.first_fragment, None, now)
        self._watch_reassembly()

    # -- ICMP errors ---------------------------------------------------------------------------
    def report_error(self, message: ICMPMessage, about: IPv4Packet) -> None:
        """Send ICMP error ``message`` about a delivered packet back to its source.

        For the layers above: UDP answers a datagram for a closed port with
        ``report_error(ICMPMessage.unreachable(Unreachable.PORT, packet), packet)``.
        The RFC 1122 rules apply (never about an error, a broadcast or a later fragment).
        """
        if not isinstance(message, ICMPMessage) or not message.is_error:
            raise LabkitValueError(f"message={message!r}: expected an ICMP error message")
        self._error(message, about, None, self.clock.now())

    def send_error(self, message: ICMPMessage, about: IPv4Packet, arrived_on: str) -> None:
        """Answer ``about``, which arrived on interface ``arrived_on``, with ICMP error ``message``.

        For a :class:`Forwarding`. The error is sent from that interface's address
        (the one traceroute shows), if the RFC 1122 rules allow one at all.
        """
        self._error(message, about, self.ports.get(arrived_on), self.clock.now())

    def _error(self, msg: ICMPMessage, about: IPv4Packet, port: _Port | None, now: int) -> None:
        """Send ICMP error ``msg`` about ``about`` back to its source, if the rules allow."""
        if about.fragment_offset != 0 or self._is_broadcast(about.dst) or about.dst.is_multicast:
            return
        if about.src == IPv4Address(0) or about.src == LIMITED_BROADCAST:
            return
        if about.protocol == ICMP and about.payload[:1] in _ICMP_ERROR_TYPES:
            return  # never an error about an error
        src = port.ip.ip if port is not None and port.ip is not None else None
        self.counters["icmp_sent"] += 1
        if about.src in self.addresses:  # my own packet: tell my own listeners
            packet = IPv4Packet(src=src or about.src, dst=about.src, protocol=ICMP, payload=msg.pack())
            for listener in list(self.icmp_listeners):
                listener(packet, msg, now)
            return
        try:
            self.send(about.src, ICMP, msg.pack(), src=src)
        except NoRouteError:
            pass

    # -- sending -------------------------------------------------------------------------------
    def send(
        self,
        dst: object,
        protocol: int,
        payload: bytes,
        *,
        ttl: int | None = None,
        dont_fragment: bool = False,
        src: object = None,
        identification: int | None = None,
    ) -> IPv4Packet:
        """Send ``payload`` to ``dst`` as an IPv4 packet; return the packet (before fragmentation).

        Raises :class:`~labkit.net.arp.NoRouteError` when no route matches
        ("Network is unreachable") and
        :class:`~labkit.net.ipv4.FragmentationNeeded` when DF is set and the
        packet does not fit the outgoing link.
        """
        d = as_address(dst, "dst")
        route = self.routes.lookup(d)
        if d in self.addresses:
            route = None
        elif route is None:
            raise NoRouteError(f"{self.name}: no route to {d} (Network is unreachable)")
        if src is None:
            port = self.ports[route.interface] if route is not None else None
            src = port.ip.ip if port is not None and port.ip is not None else d
        ident = next(self._ids) & 0xFFFF if identification is None else identification
        packet = IPv4Packet(src=src, dst=d, protocol=protocol, payload=payload,  # type: ignore[arg-type]
                            ttl=self.ttl if ttl is None else ttl, dont_fragment=dont_fragment,
                            identification=ident)
        if route is None:  # to myself: loop back without touching a link
            now = self.clock.now()
            self.clock.call_at(now, self._deliver, packet, None, now)
            return packet
        self.output(packet, route)
        return packet

    # -- interfaces without an address (DHCP) ---------------------------------------------------
    def send_frame(self, interface: str, dst_mac: object, ethertype: int, payload: bytes) -> None:
        """Send one Ethernet frame out of ``interface`` as it is: no route, no ARP."""
        port = self.ports.get(interface)
        if port is None:
            raise LabkitValueError(f"interface={interface!r}: {self.name} has none of that name "
                                   f"(it has: {', '.join(self.ports)})")
        dst = MACAddress(dst_mac)  # type: ignore[arg-type]
        frame = EthernetFrame(dst, MACAddress(port.iface.mac), ethertype, payload)
        port.iface.send(frame.pack(fcs=False))

    def send_broadcast(self, interface: str, protocol: int, payload: bytes, *,
                       src: object = "0.0.0.0", ttl: int | None = None) -> IPv4Packet:
        """Send ``payload`` to 255.255.255.255 out of ``interface``, from ``src``.

        What a DHCP client does before it has an address (``src`` 0.0.0.0), and
        a DHCP server or relay answering it. The frame goes to ff:ff:ff:ff:ff:ff.
        """
        packet = IPv4Packet(src=as_address(src, "src"), dst=LIMITED_BROADCAST, protocol=protocol,
                            payload=payload, ttl=self.ttl if ttl is None else ttl,
                            identification=next(self._ids) & 0xFFFF)
        self.send_frame(interface, BROADCAST, EtherType.IPV4, packet.pack())
        return packet

    def configure(self, interface: str, address: object, gateway: object = None) -> None:
        """Give ``interface`` an address (``"10.0.0.7/24"``), or take it away with ``None``.

        The connected route and the ARP resolver follow; ``gateway`` sets the
        default route (removed with the address). What a DHCP client does when
        it binds a lease, and when the lease expires.
        """
        port = self.ports.get(interface)
        if port is None:
            raise LabkitValueError(f"interface={interface!r}: {self.name} has none of that name")
        old = port.iface.ip
        if old is not None:
            for route in list(self.routes):
                if route.interface == interface:
                    self.routes.remove(route.network)
        if address is None:
            new = None
        else:
            try:
                new = IPv4Interface(address)
            except ValueError:
                raise LabkitValueError(f"address={address!r}: expected an address with its prefix, "
                                       "like '10.0.0.7/24'") from None
        try:
            port.iface.ip = new  # type: ignore[misc]
        except AttributeError:
            raise LabkitValueError(f"interface={interface!r}: its address cannot be changed") from None
        port.arp = None
        if new is not None:
            port.arp = ArpResolver(MACAddress(port.iface.mac), new)
            self.routes.add_connected(new, interface)
            if gateway is not None:
                self.routes.add_default(gateway, interface)

    def __repr__(self) -> str:
        role = "router" if self.forwarding else "host"
        addrs = ", ".join(str(p.ip) for p in self.ports.values() if p.ip is not None)
        return f"<IPStack {self.name} ({role}) {addrs}>"


