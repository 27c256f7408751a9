"""NAT: a router that hides a private network behind one public address (NAPT, RFC 3022).

A home router has one public address (``outside``) and a private network behind
it (``inside``: 192.168.x.x, which no router on the Internet will carry). When an
inside host sends out, the router rewrites the packet's *source* address and
port to its public address and a port of its own choosing, and remembers the
**mapping** in its **translation table**: (inside address, inside port) <->
(public port). A reply comes to the public address and that port; the table
says whom it is for, and the router rewrites the *destination* back. For ICMP
queries (ping) the echo identifier plays the port's part (RFC 5508).

The consequence the course cares about: a packet from outside that matches no
mapping has nowhere to go. **A server behind NAT cannot be reached from
outside** -- the client/server picture of the first lesson (a server anyone can
connect to) breaks, unless the router's owner adds **port forwarding**, a
mapping typed in by hand (``forwards={("tcp", 8080): ("192.168.1.20", 80)}``).
That is why peer-to-peer programs and games need tricks (STUN, relays), and
why the behaviours below were given names.

RFC 4787 (UDP) and RFC 5382 (TCP) name how a NAT behaves; this one says which:

- mapping: **endpoint-independent** (RFC 4787 REQ-1): an inside (address, port)
  keeps the same public port whatever remote it talks to; the public port is the
  inside port when free ("port preservation"), otherwise the next free one;
- filtering (``filtering=``): ``"endpoint-independent"`` (anyone may use a
  mapping once it exists: a "full cone"), ``"address-dependent"`` (only
  addresses the inside host has sent to; RFC 4787's recommendation when
  security matters) or ``"address-and-port-dependent"`` (only the exact
  remote address and port);
- timeouts: UDP ``udp_timeout`` 300 s (REQ-5: at least 2 min, 5 min
  recommended), TCP established ``tcp_timeout`` 7,440 s and transitory
  (before the handshake, after FIN or RST) ``tcp_transitory`` 240 s (RFC 5382
  REQ-5), ICMP queries ``icmp_timeout`` 60 s (RFC 5508 REQ-1); an outbound
  packet refreshes the mapping (REQ-6);
- **hairpinning** (REQ-9): an inside host reaching another inside host at its
  public address and port is turned back inside, with the sender's own public
  address as source, so both see the same addresses an outsider would;
- ICMP errors about a translated packet (time exceeded, unreachable) are
  translated back, the quoted packet too (RFC 5508 REQ-3), so traceroute works
  from inside.

The translator rewrites only what it must: the addresses in the IP header
(whose checksum IPv4 recomputes), the ports in the transport header's first
four bytes, and the transport checksum adjusted by the difference (RFC 1624's
incremental update, as RFC 3022 §4.2 describes). It never parses a whole
TCP segment or UDP datagram, which is why it lives in the network layer
(``labkit.net``, below transport): a NAT is a router's forwarding, not a
host's transport. A packet too short for the ports it should carry, or a
non-first fragment (it has no ports; labkit's NAT does not reassemble), is
dropped and counted.

:class:`NAPT` is a :class:`~labkit.net.stack.Forwarding`:
``net.add_router("NAT", {...}, forwarding=NAPT(inside="eth0", outside="eth1"))``;
packets addressed to the public address arrive at the router's own stack, so
:meth:`NAPT.attach` (called by :func:`labkit.sim.routing.install_nat`) hooks
the translator there too, as UDP and TCP protocol handlers and an ICMP listener.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.net.checksum import fold
from labkit.net.icmp import ICMPMessage, ICMPType
from labkit.net.ipv4 import ICMP, IPv4Packet
from labkit.net.stack import IPForwarding, IPStack

__all__ = ["NAPT", "Mapping", "TCP", "UDP", "FILTERING", "translate_ports"]

TCP, UDP = 6, 17
_NAMES = {TCP: "tcp", UDP: "udp", ICMP: "icmp"}
_NUMBERS = {v: k for k, v in _NAMES.items()}
FILTERING = ("endpoint-independent", "address-dependent", "address-and-port-dependent")
_S = 1_000_000_000
_LAYER = "nat"
_PORTS = struct.Struct("!HH")
#: Where each protocol keeps its checksum, and the shortest header that holds ports and checksum.
_CSUM_AT = {UDP: 6, TCP: 16, ICMP: 2}
_NEEDS = {UDP: 8, TCP: 18, ICMP: 8}


def _adjust(checksum: int, old: Iterable[int], new: Iterable[int]) -> int:
    """RFC 1624: HC' = ~(~HC + ~m + m') over the 16-bit words that changed."""
    total = (~checksum) & 0xFFFF
    for m in old:
        total += (~m) & 0xFFFF
    for m in new:
        total += m
    return (~fold(total)) & 0xFFFF


def _words(ip: IPv4Address) -> tuple[int, int]:
    v = int(ip)
    return v >> 16, v & 0xFFFF


def translate_ports(protocol: int, payload: bytes, *, old_ip: IPv4Address, new_ip: IPv4Address,
                    src_port: int | None = None, dst_port: int | None = None,
                    pseudo: bool = True) -> bytes:
    """``payload`` (a UDP/TCP header and data, or an ICMP echo) with a port (or the echo
    identifier, as ``src_port``) replaced, and its checksum adjusted for that and for an
    address change ``old_ip`` -> ``new_ip`` in the pseudo-header (``pseudo``; ICMP has none).

    A :class:`~labkit.errors.ParseError` when ``payload`` is too short to hold them.
    """
    need = _NEEDS.get(protocol)
    if need is None:
        raise LabkitValueError(f"protocol={protocol!r}: expected 6 (TCP), 17 (UDP) or 1 (ICMP)")
    if len(payload) < need:
        raise ParseError(_LAYER, f"{_NAMES[protocol]} header", len(payload),
                         f"{len(payload)} bytes: too short for the ports and checksum ({need})")
    raw = bytearray(payload)
    at = _CSUM_AT[protocol]
    csum = int.from_bytes(raw[at:at + 2], "big")
    old_words: list[int] = []
    new_words: list[int] = []
    if pseudo and protocol != ICMP and old_ip != new_ip:
        old_words += _words(old_ip)
        new_words += _words(new_ip)
    if protocol == ICMP:  # the identifier sits at bytes 4-5
        if src_port is not None:
            old_words.append(int.from_bytes(raw[4:6], "big"))
            new_words.append(src_port)
            raw[4:6] = src_port.to_bytes(2, "big")
    else:
        sport, dport = _PORTS.unpack_from(raw)
        if src_port is not None:
            old_words.append(sport)
            new_words.append(src_port)
            raw[0:2] = src_port.to_bytes(2, "big")
        if dst_port is not None:
            old_words.append(dport)
            new_words.append(dst_port)
            raw[2:4] = dst_port.to_bytes(2, "big")
    if protocol == UDP and csum == 0:
        return bytes(raw)  # no checksum sent: none to adjust (RFC 768)
    new = _adjust(csum, old_words, new_words)
    if protocol == UDP and new == 0:
        new = 0xFFFF
    raw[at:at + 2] = new.to_bytes(2, "big")
    return bytes(raw)


@dataclass
class Mapping:
    """One row of the translation table."""

    protocol: int
    inside: tuple[IPv4Address, int]  # inside address, port (or echo identifier)
    public_port: int
    created: int
    last_used: int
    expires: int
    forwarded: bool = False  # a port forward, typed in: never expires
    remotes: set[tuple[IPv4Address, int]] = field(default_factory=set)  # whom it has sent to
    fin: int = 0  # TCP: FINs seen (2 = closing)
    established: bool = False

    def row(self, public: IPv4Address, now: int) -> tuple[str, str, str, str]:
        left = "forever" if self.forwarded else f"{max(0, self.expires - now) / _S:.0f} s"
        return (_NAMES[self.protocol], f"{self.inside[0]}:{self.inside[1]}",
                f"{public}:{self.public_port}", left)


class NAPT:
    """Network address and port translation on a router (see the module docstring).

    ``inside``: the interface name(s) of the private side; ``outside``: the
    public one (its address is the public address). ``forwards``:
    ``{("tcp", public_port): ("192.168.1.20", port)}``. ``ports``: the range
    public ports are drawn from when the inside port is taken.
    """

    def __init__(self, inside: str | Iterable[str] = "eth0", outside: str = "eth1", *,
                 filtering: str = "endpoint-independent", hairpinning: bool = True,
                 udp_timeout: float = 300.0, tcp_timeout: float = 7440.0,
                 tcp_transitory: float = 240.0, icmp_timeout: float = 60.0,
                 ports: tuple[int, int] = (1024, 65535),
                 forwards: dict[tuple[str, int], tuple[Any, int]] | None = None) -> None:
        self.inside = {inside} if isinstance(inside, str) else set(inside)
        if not self.inside or not all(isinstance(i, str) for i in self.inside):
            raise LabkitValueError(f"inside={inside!r}: expected interface names like 'eth0'")
        if not isinstance(outside, str) or outside in self.inside:
            raise LabkitValueError(f"outside={outside!r}: expected one interface name, not an inside one")
        self.outside = outside
        if filtering not in FILTERING:
            raise LabkitValueError(f"filtering={filtering!r}: expected one of {', '.join(FILTERING)}")
        self.filtering = filtering
        self.hairpinning = hairpinning
        for name, v in (("udp_timeout", udp_timeout), ("tcp_timeout", tcp_timeout),
                        ("tcp_transitory", tcp_transitory), ("icmp_timeout", icmp_timeout)):
            if not isinstance(v, (int, float)) or v <= 0:
                raise LabkitValueError(f"{name}={v!r}: expected seconds > 0")
        self.timeouts = {UDP: udp_timeout, TCP: tcp_timeout, ICMP: icmp_timeout}
        self.tcp_transitory = tcp_transitory
        lo, hi = ports
        if not (type(lo) is int and type(hi) is int and 1 <= lo <= hi <= 65535):
            raise LabkitValueError(f"ports={ports!r}: expected (low, high) within 1..65535")
        self.port_range = (lo, hi)
        #: (protocol, inside address, inside port) -> mapping
        self.by_inside: dict[tuple[int, IPv4Address, int], Mapping] = {}
        #: (protocol, public port) -> mapping
        self.by_public: dict[tuple[int, int], Mapping] = {}
        self.counters = dict.fromkeys(
            ("out", "in", "hairpin", "new_mappings", "expired", "no_mapping", "filtered",
             "malformed", "fragments", "unsolicited", "icmp_errors"), 0)
        self.errors: list[str] = []
        self.stack: IPStack | None = None
        #: The public address (the outside interface's), and the inside interfaces' networks:
        #: set by :meth:`attach` (or by hand, to run :meth:`outbound` and :meth:`inbound` alone).
        self.public: IPv4Address | None = None
        self.inside_networks: list[IPv4Network] = []
        self._ip = IPForwarding()
        self._previous: dict[int, Callable[[IPv4Packet, int], Any] | None] = {}
        self._next_purge = 0
        for (protocol, public_port), (address, port) in (forwards or {}).items():
            self.forward_port(protocol, public_port, address, port)

    # -- wiring ------------------------------------------------------------------------------
    def attach(self, stack: IPStack) -> NAPT:
        """Hook into ``stack`` (the router's): packets to the public address come here."""
        for name in (*self.inside, self.outside):
            if name not in stack.ports or stack.ports[name].ip is None:
                raise LabkitValueError(f"{stack.name}: no numbered interface {name!r} for the NAT "
                                       f"(it has: {', '.join(stack.ports)})")
        self.stack = stack
        self.public = stack.ports[self.outside].ip.ip  # type: ignore[union-attr]
        self.inside_networks = [p.ip.network for n, p in stack.ports.items()
                                if n in self.inside and p.ip is not None]
        for proto in (UDP, TCP):
            prev = stack.protocols.get(proto)
            self._previous[proto] = prev
            stack.register(proto, self._to_public)
        stack.icmp_listeners.append(self._icmp_to_public)
        return self

    def forward_port(self, protocol: str, public_port: int, address: Any, port: int) -> Mapping:
        """Port forwarding: ``protocol`` (``"tcp"``/``"udp"``) ``public_port`` goes to ``address:port``."""
        proto = _NUMBERS.get(protocol)
        if proto not in (TCP, UDP):
            raise LabkitValueError(f"protocol={protocol!r}: expected 'tcp' or 'udp'")
        for name, v in (("public_port", public_port), ("port", port)):
            if type(v) is not int or not 1 <= v <= 65535:
                raise LabkitValueError(f"{name}={v!r}: expected a port 1..65535")
        try:
            addr = IPv4Address(address)
        except ValueError:
            raise LabkitValueError(f"address={address!r}: not an IPv4 address") from None
        if (proto, public_port) in self.by_public:
            raise LabkitValueError(f"public_port={public_port}: already mapped ({protocol})")
        m = Mapping(proto, (addr, port), public_port, 0, 0, 0, forwarded=True)
        self.by_public[(proto, public_port)] = m
        self.by_inside[(proto, addr, port)] = m
        return m

    def _is_inside(self, addr: IPv4Address) -> bool:
        return any(addr in n for n in self.inside_networks)

    # -- the table ---------------------------------------------------------------------------
    def table(self, now: int | None = None) -> list[tuple[str, str, str, str]]:
        """The translation table: (protocol, inside, public, time left) rows."""
        if now is None:
            now = self.stack.clock.now() if self.stack is not None else 0
        self._purge(now)
        public = self.public or IPv4Address(0)
        return [m.row(public, now) for m in sorted(self.by_public.values(),
                                                   key=lambda m: (m.protocol, m.public_port))]

    def _purge(self, now: int) -> None:
        for key, m in list(self.by_public.items()):
            if not m.forwarded and m.expires <= now:
                del self.by_public[key]
                self.by_inside.pop((m.protocol, *m.inside), None)
                self.counters["expired"] += 1

    def _maybe_purge(self, now: int) -> None:
        if now >= self._next_purge:
            self._purge(now)
            self._next_purge = now + _S

    def _timeout(self, m: Mapping) -> int:
        if m.protocol == TCP and (not m.established or m.fin >= 2):
            return int(self.tcp_transitory * _S)
        return int(self.timeouts[m.protocol] * _S)

    def _allocate(self, proto: int, wanted: int) -> int:
        lo, hi = self.port_range
        if lo <= wanted <= hi and (proto, wanted) not in self.by_public:
            return wanted  # port preservation
        span = hi - lo + 1
        start = wanted if lo <= wanted <= hi else lo
        for i in range(1, span + 1):
            p = lo + (start - lo + i) % span
            if (proto, p) not in self.by_public:
                return p
        raise LabkitError(f"nat: every public {_NAMES[proto]} port in {lo}..{hi} is in use")

    def _mapping_for(self, proto: int, src: IPv4Address, sport: int, now: int) -> Mapping:
        m = self.by_inside.get((proto, src, sport))
        if m is None or (not m.forwarded and m.expires <= now):
            if m is not None:
                self._purge(now)
            port = self._allocate(proto, sport)
            m = Mapping(proto, (src, sport), port, now, now, 0)
            self.by_inside[(proto, src, sport)] = m
            self.by_public[(proto, port)] = m
            self.counters["new_mappings"] += 1
        return m

    # -- reading a packet ----------------------------------------------------------------------
    @staticmethod
    def _ports(packet: IPv4Packet) -> tuple[int, int]:
        """(source port, destination port), or for ICMP echo (identifier, identifier)."""
        payload = packet.payload
        need = _NEEDS.get(packet.protocol)
        if need is None:
            raise ParseError(_LAYER, "protocol", packet.protocol,
                             "labkit's NAT translates TCP (6), UDP (17) and ICMP (1) only")
        if len(payload) < need:
            raise ParseError(_LAYER, f"{_NAMES[packet.protocol]} header", len(payload),
                             f"too short for the ports and checksum ({need} bytes)")
        if packet.protocol == ICMP:
            ident = int.from_bytes(payload[4:6], "big")
            return ident, ident
        sport, dport = _PORTS.unpack_from(payload)
        return int(sport), int(dport)

    def _touch(self, m: Mapping, packet: IPv4Packet, now: int, outbound: bool) -> None:
        if packet.protocol == TCP:
            flags = packet.payload[13]
            if flags & 0x04:  # RST
                m.fin = 2
            elif flags & 0x01:  # FIN
                m.fin += 1
            elif flags & 0x10 and not flags & 0x02:  # ACK, not SYN: the handshake is done
                m.established = True
        m.last_used = now
        if outbound or m.protocol == TCP:  # RFC 4787 REQ-6: outbound refreshes; TCP both ways
            m.expires = now + self._timeout(m)

    def _drop(self, why: str, error: Exception | None = None) -> None:
        self.counters[why] += 1
        if error is not None:
            self.errors = [*self.errors[-99:], str(error)]

    # -- outbound: the Forwarding door -------------------------------------------------------
    def forward(self, stack: IPStack, packet: IPv4Packet, arrived_on: str, now: int) -> None:
        """A packet for someone else: translate it if it leaves by the outside interface."""
        if self.stack is None:
            self.attach(stack)
        self._maybe_purge(now)
        if arrived_on == self.outside:
            if self._is_inside(packet.dst):
                self._drop("unsolicited")  # nobody outside may address the private side
                return
            self._ip.forward(stack, packet, arrived_on, now)
            return
        route = stack.routes.lookup(packet.dst)
        if route is None or route.interface != self.outside:
            self._ip.forward(stack, packet, arrived_on, now)  # inside to inside: plain routing
            return
        try:
            out = self.outbound(packet, now)
        except LabkitError as e:
            self._drop("malformed", e)
            return
        if out is None:
            return
        self._ip.forward(stack, out, arrived_on, now)

    def outbound(self, packet: IPv4Packet, now: int) -> IPv4Packet | None:
        """``packet`` from inside, as it leaves: from the public address and a mapped port."""
        assert self.public is not None
        proto = packet.protocol
        if proto not in (TCP, UDP, ICMP):
            self._drop("malformed", LabkitError(f"nat: protocol={proto}: only TCP, UDP and ICMP"))
            return None
        if packet.fragment_offset:
            self._drop("fragments")
            return None
        if proto == ICMP:
            kind = packet.payload[:1]
            if kind != bytes([ICMPType.ECHO_REQUEST]):
                self._drop("malformed", LabkitError(
                    f"nat: icmp type={kind.hex() or 'none'}: only echo requests go out"))
                return None
        sport, dport = self._ports(packet)
        m = self._mapping_for(proto, packet.src, sport, now)
        m.remotes.add((packet.dst, dport))
        self._touch(m, packet, now, outbound=True)
        self.counters["out"] += 1
        payload = translate_ports(proto, packet.payload, old_ip=packet.src, new_ip=self.public,
                                  src_port=m.public_port)
        return packet.replace(src=self.public, payload=payload)

    # -- inbound: packets to the public address ------------------------------------------------
    def _to_public(self, packet: IPv4Packet, now: int) -> None:
        if packet.dst != self.public:
            prev = self._previous.get(packet.protocol)
            if prev is not None:
                prev(packet, now)
            return
        try:
            out = self.inbound(packet, now)
        except LabkitError as e:
            self._drop("malformed", e)
            return
        if out is not None:
            self._send_inside(out, now)

    def inbound(self, packet: IPv4Packet, now: int) -> IPv4Packet | None:
        """``packet`` to the public address, translated for the inside host; ``None``: dropped."""
        assert self.public is not None
        self._maybe_purge(now)
        proto = packet.protocol
        if packet.fragment_offset:
            self._drop("fragments")
            return None
        sport, dport = self._ports(packet)
        m = self.by_public.get((proto, dport))
        if m is None or (not m.forwarded and m.expires <= now):
            self._drop("no_mapping")  # nobody inside asked: a server behind NAT is unreachable
            return None
        hairpin = self._is_inside(packet.src)
        if hairpin and not self.hairpinning:
            self._drop("filtered")
            return None
        if not m.forwarded and not hairpin and not self._allowed(m, packet.src, sport):
            self._drop("filtered")
            return None
        src = packet.src
        src_port = None
        if hairpin:  # REQ-9: the sender appears with its own public address and port
            back = self._mapping_for(proto, packet.src, sport, now)
            back.remotes.add((self.public, dport))
            self._touch(back, packet, now, outbound=True)
            src, src_port = self.public, back.public_port
            self.counters["hairpin"] += 1
        self._touch(m, packet, now, outbound=False)
        self.counters["in"] += 1
        inside_ip, inside_port = m.inside
        payload = translate_ports(proto, packet.payload, old_ip=packet.dst, new_ip=inside_ip,
                                  dst_port=inside_port if proto != ICMP else None,
                                  src_port=inside_port if proto == ICMP else None)
        if src_port is not None:
            payload = translate_ports(proto, payload, old_ip=packet.src, new_ip=src, src_port=src_port)
        return packet.replace(src=src, dst=inside_ip, payload=payload)

    def _allowed(self, m: Mapping, addr: IPv4Address, port: int) -> bool:
        if self.filtering == "endpoint-independent":
            return True
        if self.filtering == "address-dependent":
            return any(a == addr for a, _ in m.remotes)
        if m.protocol == ICMP:
            return any(a == addr for a, _ in m.remotes)
        return (addr, port) in m.remotes

    def _icmp_to_public(self, packet: IPv4Packet, msg: ICMPMessage, now: int) -> None:
        if packet.dst != self.public:
            return
        try:
            if msg.type == ICMPType.ECHO_REPLY:
                out = self.inbound(packet, now)
            elif msg.is_error:
                out = self._inbound_error(packet, msg, now)
            else:
                return
        except LabkitError as e:
            self._drop("malformed", e)
            return
        if out is not None:
            self._send_inside(out, now)

    def _inbound_error(self, packet: IPv4Packet, msg: ICMPMessage, now: int) -> IPv4Packet | None:
        """An ICMP error about a packet we translated: back to its inside sender (RFC 5508)."""
        assert self.public is not None
        quoted = msg.original
        if quoted.src != self.public or quoted.protocol not in (TCP, UDP, ICMP):
            return None
        sport, _ = self._ports(quoted)
        m = self.by_public.get((quoted.protocol, sport))
        if m is None:
            self._drop("no_mapping")
            return None
        inside_ip, inside_port = m.inside
        inner = translate_ports(quoted.protocol, quoted.payload, old_ip=self.public, new_ip=inside_ip,
                                src_port=inside_port)
        fixed = quoted.replace(src=inside_ip, payload=inner, total_length=quoted.total_length)
        header = fixed.pack()[: quoted.ihl * 4 if quoted.ihl else 20]
        error = ICMPMessage(msg.type, msg.code, None, msg.rest, header + inner)
        self.counters["icmp_errors"] += 1
        return packet.replace(dst=inside_ip, payload=error.pack())

    def _send_inside(self, packet: IPv4Packet, now: int) -> None:
        assert self.stack is not None
        route = self.stack.routes.lookup(packet.dst)
        if route is None or packet.ttl <= 1:
            self._drop("no_mapping")
            return
        self.stack.output(packet.replace(ttl=packet.ttl - 1), route)

    def __repr__(self) -> str:
        inside = ",".join(sorted(self.inside))
        return f"<NAPT inside {inside} outside {self.outside} ({len(self.by_public)} mappings)>"

