"""The IP layer of a simulated host or router: ARP, IPv4, ICMP, routing, ping and traceroute.

:class:`IPStack` is the glue between the network layer's pure logic (ARP
resolver, routing table, fragmentation, reassembly, ICMP) and a node of
:mod:`labkit.sim`. The simulator's nodes take a *handler*, an object with
``receive(iface, frame, now)`` (see :meth:`labkit.sim.Node.set_handler`);
this module never imports the simulator: it uses what every node offers
(``interfaces`` with ``name``, ``mac``, ``ip``, ``channel.mtu`` and
``send(frame)``; ``now``; ``after_ns(delay, fn)``; ``net.run``), so the
layer stays below the engine as DESIGN.md asks.

    net = Network(seed=1)
    ... add hosts and routers, connect them ...
    stacks = install_ip(net)                        # every host and router gets a stack,
                                                    # every switch a learning switch
    stacks["R1"].routes.add_static("10.0.3.0/24", "10.0.2.2")
    ping(net["A"], "10.0.3.20")                     # prints what ping prints
    traceroute(net["A"], "10.0.3.20")               # prints what traceroute -n -I prints

What a stack does with a frame (Ethernet II, no FCS, as the simulator carries them):

- not for my MAC (and not broadcast) -> ignored, as a NIC does;
- ARP -> the interface's :class:`~labkit.net.arp.ArpResolver` (learn, answer,
  release queued packets);
- IPv4 with a bad header -> dropped (counted);
- IPv4 for one of my addresses -> reassembled if fragmented, then ICMP echo
  requests are answered and other protocols go to handlers registered with
  :meth:`IPStack.register` (none: ICMP protocol unreachable);
- IPv4 for someone else -> forwarded by a router (TTL 1 or 0: dropped with ICMP
  time exceeded; no route: ICMP net unreachable; too big for the next link:
  fragmented, or with DF set dropped with ICMP fragmentation needed); a host
  drops it.

ICMP errors follow RFC 1122/1812: never about an ICMP error, a broadcast or
a non-first fragment; sent from the address of the interface the offending
packet came in on (that is the address traceroute shows).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from labkit.errors import LabkitError, LabkitValueError
from labkit.link.bridge import install_switching
from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.link.mac import BROADCAST, MACAddress
from labkit.net.addressing import LIMITED_BROADCAST, as_address
from labkit.net.arp import ARPPacket, ArpResolver, NoRouteError, Transmit, Unresolved
from labkit.net.icmp import ICMPMessage, ICMPType, TimeExceeded, Unreachable
from labkit.net.ipv4 import (
    DEFAULT_REASSEMBLY_TIMEOUT_NS,
    DEFAULT_TTL,
    ICMP,
    FragmentationNeeded,
    IPv4Packet,
    Reassembler,
    fragment,
    protocol_name,
)
from labkit.net.routing import Route, RoutingTable

__all__ = [
    "IPStack", "install_ip", "summarise", "short_summary", "ping", "traceroute", "PingResult", "TraceResult",
]

Listener = Callable[[IPv4Packet, ICMPMessage, int], Any]
# destination unreachable, source quench, redirect, time exceeded, parameter problem
_ICMP_ERROR_TYPES = (b"\x03", b"\x04", b"\x05", b"\x0b", b"\x0c")


class _Port:
    """One interface of the node with its ARP resolver and ARP retry timer."""

    __slots__ = ("iface", "arp", "timer")

    def __init__(self, iface: Any, arp: ArpResolver | None) -> None:
        self.iface = iface
        self.arp = arp
        self.timer: Any = None

    @property
    def ip(self) -> IPv4Interface | None:
        return self.iface.ip


class IPStack:
    """IPv4 for one simulated node (a host, or a router when ``forwarding``).

    ``node`` is a :mod:`labkit.sim` node; its interfaces' addresses give the
    connected routes, and a host's ``gateway`` the default route. The stack
    plugs itself in with ``node.set_handler(self)``.
    """

    def __init__(
        self,
        node: Any,
        *,
        forwarding: bool | None = None,
        gateway: object = None,
        ttl: int = DEFAULT_TTL,
        reassembly_timeout: int = DEFAULT_REASSEMBLY_TIMEOUT_NS,
        arp_retry_interval: int = 1_000_000_000,
        arp_max_requests: int = 3,
    ) -> None:
        self.node = node
        self.name = getattr(node, "name", "?")
        self.forwarding = (getattr(node, "kind", "") == "router") if forwarding is None else bool(forwarding)
        self.ttl = ttl
        self.routes = RoutingTable()
        self.ports: dict[str, _Port] = {}
        for iface in node.interfaces:
            arp = None
            if iface.ip is not None:
                arp = ArpResolver(MACAddress(iface.mac), iface.ip, retry_interval=arp_retry_interval,
                                  max_requests=arp_max_requests)
                self.routes.add_connected(iface.ip, iface.name)
            self.ports[iface.name] = _Port(iface, arp)
        gw = gateway if gateway is not None else getattr(node, "gateway", None)
        if gw is not None:
            self.routes.add_default(gw)
        self.reassembler = Reassembler(reassembly_timeout)
        self._reassembly_timer: Any = None
        self._ids = itertools.count(1)
        self.protocols: dict[int, Callable[[IPv4Packet, int], Any]] = {}
        self.icmp_listeners: list[Listener] = []
        #: Packets delivered to this node that no registered protocol took.
        self.inbox: list[IPv4Packet] = []
        self.counters = dict.fromkeys(
            ("received", "delivered", "forwarded", "ttl_expired", "no_route", "frag_needed",
             "fragments_sent", "reassembled", "bad_frames", "bad_packets", "not_for_me",
             "host_unreachable", "icmp_sent"), 0)
        node.set_handler(self)

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

    def arp_cache(self, interface: str | None = None) -> Any:
        """The ARP cache of ``interface`` (default: the only numbered one)."""
        ports = [p for p in self.ports.values() if p.arp is not None]
        if interface is not None:
            ports = [self.ports[interface]]
        if len(ports) != 1:
            raise LabkitValueError(f"{self.name} has several interfaces: say which, e.g. arp_cache('eth0')")
        return ports[0].arp.cache  # type: ignore[union-attr]

    def register(self, protocol: int, handler: Callable[[IPv4Packet, int], Any]) -> None:
        """Deliver packets of ``protocol`` (e.g. 17, UDP) to ``handler(packet, now)``."""
        self.protocols[int(protocol)] = handler

    # -- receiving -----------------------------------------------------------------------------
    def receive(self, iface: Any, frame: bytes, now: int) -> None:
        """The node's handler: one Ethernet frame arrived on ``iface``."""
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
            if port.arp is None:
                return
            try:
                arp = ARPPacket.parse(eth.payload)
            except LabkitError:
                self.counters["bad_frames"] += 1
                return
            self._carry_out(port, port.arp.receive(arp, now), now)
        elif eth.ethertype == EtherType.IPV4:
            try:
                packet = IPv4Packet.parse(eth.payload)
            except LabkitError:
                self.counters["bad_packets"] += 1
                return
            self.counters["received"] += 1
            if self._is_mine(packet.dst):
                self._deliver(packet, port, now)
            elif self.forwarding:
                self._forward(packet, port, now)
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
    def _forward(self, packet: IPv4Packet, port: _Port, now: int) -> None:
        # the route first, then the TTL, as Linux does: a packet nobody can route is
        # "net unreachable" even when its TTL has run out too
        route = self.routes.lookup(packet.dst)
        if route is None:
            self.counters["no_route"] += 1
            self._error(ICMPMessage.unreachable(Unreachable.NET, packet), packet, port, now)
            return
        if packet.ttl <= 1:
            self.counters["ttl_expired"] += 1
            self._error(ICMPMessage.time_exceeded(packet, TimeExceeded.TTL), packet, port, now)
            return
        self.counters["forwarded"] += 1
        self._output(packet.replace(ttl=packet.ttl - 1), route, now, arrived_on=port)

    def _output(self, packet: IPv4Packet, route: Route, now: int, arrived_on: _Port | None = None) -> None:
        out = self.ports[route.interface]
        if out.arp is None or out.iface.channel is None:
            self.counters["no_route"] += 1
            return
        mtu = out.iface.channel.mtu
        try:
            pieces = fragment(packet, mtu)
        except FragmentationNeeded:
            self.counters["frag_needed"] += 1
            if arrived_on is None:
                raise
            self._error(ICMPMessage.unreachable(Unreachable.FRAGMENTATION_NEEDED, packet, next_hop_mtu=mtu),
                        packet, arrived_on, now)
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
        port.timer = self.node.after_ns(max(0, due - self.node.now), self._arp_poll, port)

    def _arp_poll(self, port: _Port) -> None:
        now = self.node.now
        port.timer = None
        self._carry_out(port, port.arp.poll(now), now)  # type: ignore[union-attr]

    def _watch_reassembly(self) -> None:
        due = self.reassembler.next_deadline()
        if due is None:
            return
        t = self._reassembly_timer
        if t is not None and t.pending and t.time <= due:
            return
        self._reassembly_timer = self.node.after_ns(max(0, due - self.node.now), self._reassembly_expire)

    def _reassembly_expire(self) -> None:
        now = self.node.now
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
        self._error(message, about, None, self.node.now)

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
            self.node.after_ns(0, self._deliver, packet, None, self.node.now)
            return packet
        self._output(packet, route, self.node.now)
        return packet

    def __repr__(self) -> str:
        role = "router" if self.forwarding else "host"
        addrs = ", ".join(str(p.ip) for p in self.ports.values() if p.ip is not None)
        return f"<IPStack {self.name} ({role}) {addrs}>"


def install_ip(net: Any, **options: Any) -> dict[str, IPStack]:
    """Give every host and router of ``net`` an :class:`IPStack`, and make captures readable.

    Switches still flooding like hubs become learning switches
    (:func:`labkit.link.install_switching`): IP runs over switched Ethernet.
    Returns the stacks by node name (also reachable as ``net["R1"].stack``).
    Sets ``net.summariser`` to :func:`summarise`, so traces read
    ``ARP, Request who-has ...`` and ``IP a > b: ICMP echo request ...``.
    """
    stacks = {}
    for node in net:
        if getattr(node, "kind", "") in ("host", "router"):
            stacks[node.name] = IPStack(node, **options)
    install_switching(net)
    net.summariser = summarise
    return stacks


def summarise(frame: bytes) -> str:
    """One line about an Ethernet frame carrying ARP or IPv4, in tcpdump's style."""
    try:
        eth = EthernetFrame.parse(frame, fcs=False)
    except LabkitError:
        return f"{len(frame)} bytes (not Ethernet)"
    if eth.ethertype == EtherType.ARP:
        try:
            return ARPPacket.parse(eth.payload).summary()
        except LabkitError as exc:
            return f"ARP, unreadable ({exc.field})"  # type: ignore[attr-defined]
    if eth.ethertype != EtherType.IPV4:
        return f"{eth.summary()}"
    try:
        p = IPv4Packet.parse(eth.payload, verify_checksum=False)
    except LabkitError as exc:
        return f"IP, unreadable ({exc.field})"  # type: ignore[attr-defined]
    head = f"IP {p.src} > {p.dst}: ttl {p.ttl}"
    if p.is_fragment:
        frag = f" (frag {p.identification}:{len(p.payload)}@{p.fragment_offset_bytes}" \
               f"{'+' if p.more_fragments else ''})"
    else:
        frag = ""
    if p.protocol == ICMP and p.fragment_offset == 0:
        try:
            return f"{head}{frag} {ICMPMessage.parse(p.payload, verify_checksum=False).summary()}"
        except LabkitError:
            pass
    return f"{head}{frag} {protocol_name(p.protocol)}, length {len(p.payload)}"


def short_summary(frame: bytes) -> str:
    """A few words about a frame, short enough to label an arrow in a sequence diagram.

    ``ARP who-has 10.0.1.1``, ``ARP 10.0.1.1 is-at ..:00:03``, ``echo request ttl=64``,
    ``time exceeded``, ``frag 552@0+``.
    """
    try:
        eth = EthernetFrame.parse(frame, fcs=False)
        if eth.ethertype == EtherType.ARP:
            arp = ARPPacket.parse(eth.payload)
            if arp.operation == 1:
                return f"ARP who-has {arp.target_ip}" + (" (gratuitous)" if arp.is_gratuitous else "")
            return f"ARP {arp.sender_ip} is-at ..{str(arp.sender_mac)[-5:]}"
        p = IPv4Packet.parse(eth.payload, verify_checksum=False)
    except LabkitError:
        return f"{len(frame)} bytes"
    if p.is_fragment and p.fragment_offset:
        return f"frag {len(p.payload)}@{p.fragment_offset_bytes}{'+' if p.more_fragments else ''}"
    text = f"{protocol_name(p.protocol)} ttl={p.ttl}"
    if p.protocol == ICMP:
        try:
            msg = ICMPMessage.parse(p.payload, verify_checksum=False)
        except LabkitError:
            msg = None
        if msg is not None and msg.is_error:
            text = msg.code_name if msg.type == ICMPType.DESTINATION_UNREACHABLE else msg.type_name
        elif msg is not None:
            text = f"{msg.type_name} ttl={p.ttl}"
    if p.is_fragment:
        text += f" (frag {len(p.payload)}@0+)"
    return text


# --- ping and traceroute --------------------------------------------------------------------------


def _stack_of(host: Any) -> IPStack:
    stack = getattr(host, "stack", None)
    if not isinstance(stack, IPStack):
        raise LabkitValueError(
            f"{getattr(host, 'name', host)!r} has no IP stack: call install_ip(net) first"
        )
    return stack


def _run_until(net: Any, done: Callable[[], bool]) -> None:
    """Run the simulation event by event until ``done()`` (or nothing is left to run)."""
    engine = net.engine
    while not done():
        t = engine.peek()
        if t is None:
            break
        net.run(until=f"{t}ns")  # a bare number would be read as seconds


def _ms(ns: int) -> str:
    """A time in ms with three significant digits, as ping and traceroute print it."""
    ms = ns / 1e6
    if ms < 1:
        return f"{ms:.3f}"
    if ms < 10:
        return f"{ms:.2f}"
    if ms < 100:
        return f"{ms:.1f}"
    return f"{ms:.0f}"


_PING_ERRORS = {
    (3, 0): "Destination Net Unreachable",
    (3, 1): "Destination Host Unreachable",
    (3, 2): "Destination Protocol Unreachable",
    (3, 3): "Destination Port Unreachable",
    (11, 0): "Time to live exceeded",
    (11, 1): "Frag reassembly time exceeded",
}


@dataclass
class PingResult:
    """What a ping run saw: counts, round-trip times (ns) and the printed lines."""

    destination: IPv4Address
    transmitted: int = 0
    received: int = 0
    errors: int = 0
    rtts: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    @property
    def loss(self) -> float:
        """Packet loss in percent."""
        return 100.0 * (self.transmitted - self.received) / self.transmitted if self.transmitted else 0.0

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return (f"<PingResult {self.destination}: {self.transmitted} transmitted, {self.received} "
                f"received, {self.errors} errors>")


def ping(
    host: Any,
    dst: object,
    count: int = 4,
    *,
    interval: int = 1_000_000_000,
    timeout: int = 10_000_000_000,
    size: int = 56,
    ttl: int | None = None,
    dont_fragment: bool = False,
    verbose: bool = True,
) -> PingResult:
    """Ping ``dst`` from simulated ``host``, printing what Linux's ``ping -c count`` prints.

    Sends ``count`` ICMP echo requests of ``size`` data bytes, ``interval``
    ns apart, and runs the simulation until every request is answered (or
    reported failed) or ``timeout`` ns after the last one (10 s, as ping
    waits at the end). Times are virtual.
    """
    stack = _stack_of(host)
    net = host.net
    d = as_address(dst, "dst")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise LabkitValueError(f"count={count!r}: expected a positive int")
    ident = 0x1000 + len(stack.icmp_listeners)
    result = PingResult(d)
    sent_at: dict[int, int] = {}
    answered: set[int] = set()
    state = {"deadline_passed": False}
    start = net.now

    def say(line: str) -> None:
        result.lines.append(line)
        if verbose:
            print(line)

    def listener(packet: IPv4Packet, msg: ICMPMessage, now: int) -> None:
        if msg.type == ICMPType.ECHO_REPLY and msg.identifier == ident and msg.sequence in sent_at:
            seq = msg.sequence
            if seq in answered:
                say(f"{len(msg.pack())} bytes from {packet.src}: icmp_seq={seq} ttl={packet.ttl} "
                    f"time={_ms(now - sent_at[seq])} ms (DUP!)")
                return
            answered.add(seq)
            result.received += 1
            result.rtts.append(now - sent_at[seq])
            say(f"{len(msg.pack())} bytes from {packet.src}: icmp_seq={seq} ttl={packet.ttl} "
                f"time={_ms(now - sent_at[seq])} ms")
        elif msg.is_error:
            try:
                orig = msg.original
                quoted = ICMPMessage.parse(orig.payload, verify_checksum=False)
            except LabkitError:
                return
            if orig.protocol != ICMP or quoted.identifier != ident or quoted.sequence not in sent_at:
                return
            if quoted.sequence in answered:
                return
            answered.add(quoted.sequence)
            result.errors += 1
            text = _PING_ERRORS.get((msg.type, msg.code), f"{msg.type_name}: {msg.code_name}")
            if msg.type == 3 and msg.code == 4:
                text = f"Frag needed and DF set (mtu = {msg.next_hop_mtu})"
            say(f"From {packet.src} icmp_seq={quoted.sequence} {text}")

    def send(seq: int) -> None:
        data = net.now.to_bytes(8, "big") + bytes((0x10 + i) & 0xFF for i in range(max(0, size - 8)))
        sent_at[seq] = net.now
        result.transmitted += 1
        try:
            stack.send(d, ICMP, ICMPMessage.echo_request(ident, seq, data[:size]).pack(), ttl=ttl,
                       dont_fragment=dont_fragment)
        except NoRouteError:
            answered.add(seq)
            result.errors += 1
            say("ping: connect: Network is unreachable")
        except FragmentationNeeded as exc:
            answered.add(seq)
            result.errors += 1
            say(f"ping: local error: message too long, mtu={exc.mtu}")

    def deadline() -> None:
        state["deadline_passed"] = True

    say(f"PING {d} ({d}) {size}({size + 28}) bytes of data.")
    stack.icmp_listeners.append(listener)
    try:
        timers = [host.after_ns(i * interval, send, i + 1) for i in range(count)]
        timers.append(host.after_ns((count - 1) * interval + timeout, deadline))
        _run_until(net, lambda: state["deadline_passed"] or len(answered) == count)
    finally:
        stack.icmp_listeners.remove(listener)
        for timer in timers:
            timer.cancel()
    elapsed = (max(sent_at.values()) - start) // 1_000_000 if sent_at else 0
    say("")
    say(f"--- {d} ping statistics ---")
    errors = f", +{result.errors} errors" if result.errors else ""
    say(f"{result.transmitted} packets transmitted, {result.received} received{errors}, "
        f"{result.loss:.0f}% packet loss, time {elapsed}ms")
    if result.rtts:
        ms = [r / 1e6 for r in result.rtts]
        mdev = statistics.pstdev(ms)
        say(f"rtt min/avg/max/mdev = {min(ms):.3f}/{statistics.fmean(ms):.3f}/{max(ms):.3f}/{mdev:.3f} ms")
    return result


@dataclass
class TraceResult:
    """What traceroute saw: for each hop, the answering address (or None) and the RTTs (ns)."""

    destination: IPv4Address
    hops: list[list[tuple[IPv4Address | None, int | None, str]]] = field(default_factory=list)
    reached: bool = False
    lines: list[str] = field(default_factory=list)

    @property
    def path(self) -> list[IPv4Address | None]:
        """The first address that answered at each hop (``None`` for ``* * *``)."""
        return [next((a for a, _, _ in hop if a is not None), None) for hop in self.hops]

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def __repr__(self) -> str:
        return f"<TraceResult {self.destination}: {len(self.hops)} hops, reached={self.reached}>"


def traceroute(
    host: Any,
    dst: object,
    *,
    max_hops: int = 30,
    queries: int = 3,
    wait: int = 1_000_000_000,
    verbose: bool = True,
) -> TraceResult:
    """Trace the route to ``dst``, printing what ``traceroute -n -I`` prints.

    Sends ICMP echo requests with TTL 1, 2, 3...; the router where the TTL
    runs out answers with ICMP time exceeded from its address, which names
    that hop; the destination answers the echo itself, which ends the trace.
    (Classic Unix traceroute sends UDP to high ports instead and stops at the
    port unreachable; ``-I`` and Windows' ``tracert`` use ICMP echo, as here:
    this layer has no UDP.) Each probe waits at most ``wait`` ns.
    """
    stack = _stack_of(host)
    net = host.net
    d = as_address(dst, "dst")
    ident = 0x2000 + len(stack.icmp_listeners)
    result = TraceResult(d)
    seq_counter = itertools.count(1)
    probe: dict[str, Any] = {"seq": None, "sent": 0, "timer": None, "ttl": 0, "n": 0}
    line: list[str] = []
    state = {"done": False, "last_addr": None}

    def say(text: str) -> None:
        result.lines.append(text)
        if verbose:
            print(text)

    def record(addr: IPv4Address | None, rtt: int | None, mark: str) -> None:
        hop = result.hops[-1]
        hop.append((addr, rtt, mark))
        if addr is None:
            line.append(" *")
        else:
            if addr != state["last_addr"]:
                line.append(f"  {addr}")
                state["last_addr"] = addr
            line.append(f"  {_ms(rtt or 0)} ms{mark}")
        next_probe()

    def next_probe() -> None:
        if probe["timer"] is not None:
            probe["timer"].cancel()
            probe["timer"] = None
        if probe["n"] == queries or probe["ttl"] == 0:
            if probe["ttl"]:
                say(f"{probe['ttl']:>2}" + "".join(line))
                stopped = any(m in (" !N", " !H", " !P") for _, _, m in result.hops[-1])
                if result.reached or stopped or probe["ttl"] >= max_hops:
                    state["done"] = True
                    return
            probe["ttl"] += 1
            probe["n"] = 0
            line.clear()
            state["last_addr"] = None
            result.hops.append([])
        probe["n"] += 1
        seq = next(seq_counter)
        probe["seq"] = seq
        probe["sent"] = net.now
        try:
            stack.send(d, ICMP, ICMPMessage.echo_request(ident, seq, bytes(32)).pack(), ttl=probe["ttl"])
        except NoRouteError:
            say("traceroute: connect: Network is unreachable")
            state["done"] = True
            return
        probe["timer"] = host.after_ns(wait, on_timeout, seq)

    def on_timeout(seq: int) -> None:
        if probe["seq"] == seq:
            probe["timer"] = None
            record(None, None, "")

    def listener(packet: IPv4Packet, msg: ICMPMessage, now: int) -> None:
        if state["done"]:
            return
        if msg.type == ICMPType.ECHO_REPLY:
            if msg.identifier == ident and msg.sequence == probe["seq"]:
                result.reached = True
                record(packet.src, now - probe["sent"], "")
            return
        if not msg.is_error:
            return
        try:
            quoted = ICMPMessage.parse(msg.original.payload, verify_checksum=False)
        except LabkitError:
            return
        if quoted.identifier != ident or quoted.sequence != probe["seq"]:
            return
        mark = ""
        if msg.type == ICMPType.DESTINATION_UNREACHABLE:
            mark = {0: " !N", 1: " !H", 2: " !P"}.get(msg.code, f" !<{msg.code}>")
        record(packet.src, now - probe["sent"], mark)

    say(f"traceroute to {d} ({d}), {max_hops} hops max, 60 byte packets")
    stack.icmp_listeners.append(listener)
    try:
        host.after_ns(0, next_probe)
        _run_until(net, lambda: state["done"])
    finally:
        stack.icmp_listeners.remove(listener)
        if probe["timer"] is not None:
            probe["timer"].cancel()
    return result
