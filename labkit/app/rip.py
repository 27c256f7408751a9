"""RIP version 2 (RFC 2453): routers that learn their routes from their neighbours' vectors.

A distance-vector router knows only what its neighbours tell it: every
``update`` seconds (30) it sends each neighbour its whole table, as a list of
(network, metric) pairs, and a neighbour that hears "N at metric m" from
router X knows it can reach N through X at metric m + 1. Nobody sees the
whole graph; each router runs Bellman-Ford one message at a time.

RIP's metric is a hop count and **16 is infinity** ("unreachable"), which keeps
a routing loop from counting for ever: *count to infinity*. When a route goes
bad two routers that point at each other raise each other's metric one step
per message until 16. Three rules shorten that:

- **split horizon**: never advertise a route out of the interface it was learned on;
- **poisoned reverse**: advertise it there, but with metric 16;
- **triggered updates**: send a changed route at once (after 1-5 s), not at the next period.

A route not heard of for ``timeout`` (180 s) gets metric 16 and is advertised
so; after ``garbage`` (120 s) more it is deleted. Both, and the periods, are in
:class:`RIPConfig` (virtual time: a 180 s timeout costs nothing to wait for).

The wire format is RIPv2's (RFC 2453 §4): a 4-byte header (command, version,
zero) and up to 25 route entries of 20 bytes (address family 2, route tag,
address, mask, next hop, metric), over UDP port 520, so Wireshark dissects the
captures as RIP. Messages go to the limited broadcast 255.255.255.255 (RFC
2453 §5.1 allows broadcasting; labkit's IP layer joins no multicast group, so
224.0.0.9 is not used), one per interface, sent out of that interface only.

:class:`RIPMessage` parses and packs; :class:`RIPRouter` is the protocol, run on
one router's :class:`~labkit.net.stack.IPStack` with time from its clock. It
installs what it learns in the stack's routing table (kind ``"rip"``) and
keeps :attr:`RIPRouter.history` of every change, for tables-over-time plots.
:func:`labkit.sim.routing.install_rip` starts one on every router of a network.

Routing needs authentication: a RIP router believes any neighbour, so a
forged response with a better metric draws traffic to the forger
(``tests/test_app_rip.py`` shows it). RFC 2453 §4.1's simple password
(authentication type 2) is here as ``RIPConfig(password=...)``: a message
without it is dropped and counted. (A password sent in clear stops only
mistakes; RFC 4822's keyed digests stop forgers.)
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from labkit.errors import LabkitError, LabkitValueError, ParseError, parse_input
from labkit.fields import Layout
from labkit.link.interface import Clock, Timer
from labkit.net.ipv4 import IPv4Packet
from labkit.net.routing import CONNECTED, Route
from labkit.net.stack import IPStack
from labkit.transport.udp import PROTOCOL as UDP
from labkit.transport.udp import UDPDatagram

__all__ = [
    "RIPMessage", "RIPEntry", "RIPRouter", "RIPConfig", "PORT", "INFINITY", "REQUEST",
    "RESPONSE", "HEADER", "ENTRY", "RIP",
]

#: UDP port of RIP (RFC 2453 §3.9).
PORT = 520
#: The metric that means "unreachable".
INFINITY = 16
REQUEST = 1
RESPONSE = 2
#: Address family identifier of an IPv4 route entry, and of an authentication entry.
AF_INET = 2
AF_AUTH = 0xFFFF
MAX_ENTRIES = 25
#: The kind of the routes RIP installs in a routing table.
RIP = "rip"
_LAYER = "rip"
_BROADCAST = IPv4Address("255.255.255.255")

HEADER = Layout(("command", "B"), ("version", "B"), ("must be zero", "H"))
ENTRY = Layout(
    ("address family", "H"),
    ("route tag", "H"),
    ("ip address", "4s"),
    ("subnet mask", "4s"),
    ("next hop", "4s"),
    ("metric", "I"),
)
_AUTH = struct.Struct("!HH16s")


@dataclass(frozen=True, slots=True)
class RIPEntry:
    """One route entry: a network, the next hop (0.0.0.0: the sender itself) and a metric 1..16."""

    network: IPv4Network
    metric: int
    next_hop: IPv4Address = IPv4Address(0)
    tag: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.network, IPv4Network):
            try:
                object.__setattr__(self, "network", IPv4Network(self.network))
            except ValueError:
                raise LabkitValueError(f"network={self.network!r}: not an IPv4 network") from None
        if not isinstance(self.next_hop, IPv4Address):
            object.__setattr__(self, "next_hop", IPv4Address(self.next_hop))
        if type(self.metric) is not int or not 1 <= self.metric <= INFINITY:
            raise LabkitValueError(f"metric={self.metric!r}: expected 1..16 (16 = unreachable)")
        if type(self.tag) is not int or not 0 <= self.tag <= 0xFFFF:
            raise LabkitValueError(f"tag={self.tag!r}: expected 0..65535")

    def pack(self) -> bytes:
        return ENTRY.struct.pack(AF_INET, self.tag, self.network.network_address.packed,
                                 self.network.netmask.packed, self.next_hop.packed, self.metric)


@dataclass(frozen=True, slots=True)
class RIPMessage:
    """A RIPv2 message: a request or a response, its route entries, and a password if any.

    A request for the whole table is one entry of address family 0 and metric
    16 (RFC 2453 §3.9.1): :meth:`whole_table_request`, with ``entries == ()``.
    """

    command: int
    entries: tuple[RIPEntry, ...] = ()
    password: bytes | None = None
    version: int = 2

    def __post_init__(self) -> None:
        if self.command not in (REQUEST, RESPONSE):
            raise LabkitValueError(f"command={self.command!r}: expected 1 (request) or 2 (response)")
        object.__setattr__(self, "entries", tuple(self.entries))
        room = MAX_ENTRIES - (self.password is not None)
        if len(self.entries) > room:
            raise LabkitValueError(f"entries: {len(self.entries)} entries, at most {room} fit one message")
        if self.password is not None and (not isinstance(self.password, bytes) or len(self.password) > 16):
            raise LabkitValueError(f"password={self.password!r}: expected at most 16 bytes")

    @classmethod
    def whole_table_request(cls, password: bytes | None = None) -> RIPMessage:
        return cls(REQUEST, (), password)

    def pack(self) -> bytes:
        out = [HEADER.struct.pack(self.command, self.version, 0)]
        if self.password is not None:
            out.append(_AUTH.pack(AF_AUTH, 2, self.password.ljust(16, b"\0")))
        if self.command == REQUEST and not self.entries:
            out.append(ENTRY.struct.pack(0, 0, bytes(4), bytes(4), bytes(4), INFINITY))
        out.extend(e.pack() for e in self.entries)
        return b"".join(out)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RIPMessage:
        """Parse a RIPv2 message; a :class:`~labkit.errors.ParseError` names the bad field."""
        raw = parse_input(data, _LAYER, HEADER.size + ENTRY.size, "shorter than a header and one 20-byte entry")
        n = len(raw)
        if (n - HEADER.size) % ENTRY.size:
            raise ParseError(_LAYER, "length", n, "not a 4-byte header plus whole 20-byte entries")
        count = (n - HEADER.size) // ENTRY.size
        if count > MAX_ENTRIES:
            raise ParseError(_LAYER, "length", n, f"{count} entries: at most {MAX_ENTRIES}")
        command, version, _zero = HEADER.struct.unpack_from(raw)
        if command not in (REQUEST, RESPONSE):
            raise ParseError(_LAYER, "command", command, "expected 1 (request) or 2 (response)")
        if version != 2:
            raise ParseError(_LAYER, "version", version, "labkit speaks RIP version 2 only")
        password: bytes | None = None
        entries: list[RIPEntry] = []
        at = HEADER.size
        for i in range(count):
            afi, tag, addr, mask, hop, metric = ENTRY.struct.unpack_from(raw, at)
            where = f"entries[{i}]"
            if afi == AF_AUTH:
                if i != 0:
                    raise ParseError(_LAYER, f"{where}.address family", afi,
                                     "an authentication entry must come first")
                _, auth_type, pw = _AUTH.unpack_from(raw, at)
                if auth_type != 2:
                    raise ParseError(_LAYER, f"{where}.authentication type", auth_type,
                                     "only 2 (simple password) is known")
                password = pw.rstrip(b"\0")
            elif afi == 0 and command == REQUEST and count - (password is not None) == 1 \
                    and metric == INFINITY:
                pass  # a whole-table request
            elif afi != AF_INET:
                raise ParseError(_LAYER, f"{where}.address family", afi, "expected 2 (IP)")
            else:
                if not 1 <= metric <= INFINITY:
                    raise ParseError(_LAYER, f"{where}.metric", metric, "expected 1..16")
                m = int.from_bytes(mask, "big")
                inv = (~m) & 0xFFFFFFFF
                if inv & (inv + 1):
                    raise ParseError(_LAYER, f"{where}.subnet mask", str(IPv4Address(mask)),
                                     "not a contiguous mask")
                prefix = 32 - inv.bit_length()
                a = int.from_bytes(addr, "big")
                if a & inv:
                    raise ParseError(_LAYER, f"{where}.ip address", str(IPv4Address(addr)),
                                     f"has host bits set for mask /{prefix}")
                entries.append(RIPEntry(IPv4Network((a, prefix)), metric, IPv4Address(hop), tag))
            at += ENTRY.size
        return cls(command, tuple(entries), password, version)

    def summary(self) -> str:
        what = "request" if self.command == REQUEST else "response"
        return f"RIPv2 {what}, {len(self.entries)} routes"


@dataclass
class RIPConfig:
    """RIP's timers (seconds of virtual time) and rules. The defaults are RFC 2453's.

    ``split_horizon``: ``"poisoned"`` (poisoned reverse, RFC 2453's advice),
    ``"simple"`` or ``"off"`` (to watch count to infinity happen).
    ``triggered``: send changes at once (after 1-5 s). ``password``: RFC 2453
    §4.1 simple password; messages without it are dropped.
    """

    update: float = 30.0
    jitter: float = 5.0
    timeout: float = 180.0
    garbage: float = 120.0
    triggered_delay: tuple[float, float] = (1.0, 5.0)
    split_horizon: str = "poisoned"
    triggered: bool = True
    password: bytes | None = None

    def __post_init__(self) -> None:
        if self.split_horizon not in ("poisoned", "simple", "off"):
            raise LabkitValueError(
                f"split_horizon={self.split_horizon!r}: expected 'poisoned', 'simple' or 'off'")
        for name in ("update", "timeout", "garbage"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v <= 0:
                raise LabkitValueError(f"{name}={v!r}: expected seconds > 0")
        lo, hi = self.triggered_delay
        if not 0 <= lo <= hi:
            raise LabkitValueError(
                f"triggered_delay={self.triggered_delay!r}: expected (low, high), 0 <= low <= high")


@dataclass
class _Entry:
    network: IPv4Network
    metric: int
    next_hop: IPv4Address | None  # None: directly connected
    interface: str
    changed: bool = True
    expires: int | None = None  # the timeout's deadline (ns), None for connected routes
    garbage: int | None = None  # deletion's deadline, while metric is 16


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a router's RIP table, for tables-over-time plots."""

    time: int
    network: IPv4Network
    metric: int
    next_hop: IPv4Address | None
    why: str


_S = 1_000_000_000


class RIPRouter:
    """RIP on one router: the process that sends, hears and times out routes.

    ``stack`` is the router's :class:`~labkit.net.stack.IPStack` (its numbered
    interfaces are RIP's interfaces; their networks are advertised), ``clock``
    gives the time and timers, ``rng`` (a ``numpy.random.Generator``) the
    jitter. :meth:`start` sends the first requests and arms the timers.
    """

    def __init__(self, stack: IPStack, clock: Clock, rng: Any, config: RIPConfig | None = None,
                 *, name: str | None = None) -> None:
        self.stack = stack
        self.clock = clock
        self.rng = rng
        self.config = config or RIPConfig()
        self.name = name or stack.name
        self.table: dict[IPv4Network, _Entry] = {}
        self.history: list[Change] = []
        self.counters = dict.fromkeys(
            ("sent", "received", "requests", "responses", "malformed", "not_neighbour",
             "bad_password", "bad_port", "triggered", "timeouts", "deleted"), 0)
        #: The last 100 malformed messages' errors, newest last.
        self.errors: list[str] = []
        self._previous = stack.protocols.get(UDP)
        self._update_timer: Timer | None = None
        self._triggered_timer: Timer | None = None
        self._sweep_timer: Timer | None = None
        self.running = False

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> RIPRouter:
        """Take UDP port 520 on the stack, advertise the connected networks, ask the neighbours."""
        if self.running:
            return self
        self.running = True
        self.stack.register(UDP, self._udp)
        now = self.clock.now()
        for name, ip in self._interfaces():
            self._set(ip.network, 1, None, name, now, "connected")
        for name, _ip in self._interfaces():
            self._send(name, RIPMessage.whole_table_request(self.config.password))
        self._schedule_update(now)
        return self

    def stop(self) -> None:
        """Stop sending (the routes already learned time out at the neighbours)."""
        self.running = False
        for t in (self._update_timer, self._triggered_timer, self._sweep_timer):
            if t is not None:
                t.cancel()
        if self._previous is not None:
            self.stack.register(UDP, self._previous)
        else:
            self.stack.protocols.pop(UDP, None)

    def _interfaces(self) -> list[tuple[str, IPv4Interface]]:
        return [(n, p.ip) for n, p in self.stack.ports.items() if p.ip is not None]

    # -- the table -----------------------------------------------------------------------------
    def routes(self) -> dict[IPv4Network, tuple[int, IPv4Address | None]]:
        """``{network: (metric, next hop)}`` of the RIP table now (16: being deleted)."""
        return {n: (e.metric, e.next_hop) for n, e in sorted(self.table.items())}

    def metric(self, network: Any) -> int:
        """The metric to ``network`` now (16 when unknown)."""
        e = self.table.get(IPv4Network(network))
        return INFINITY if e is None else e.metric

    def _set(self, network: IPv4Network, metric: int, hop: IPv4Address | None, iface: str, now: int,
             why: str) -> None:
        old = self.table.get(network)
        e = _Entry(network, metric, hop, iface)
        if hop is not None:
            if metric < INFINITY:
                e.expires = now + int(self.config.timeout * _S)
            else:
                e.garbage = now + int(self.config.garbage * _S)
        self.table[network] = e
        self._install(old, e)
        self.history.append(Change(now, network, metric, hop, why))
        self._arm_sweep()
        self._changed(now)

    def _install(self, old: _Entry | None, new: _Entry) -> None:
        routes = self.stack.routes
        if new.next_hop is None:
            return  # connected: the stack has it already
        if old is not None and old.next_hop is not None and old.metric < INFINITY:
            try:
                routes.remove(old.network)
            except LabkitValueError:
                pass
        if new.metric < INFINITY:
            existing = routes.matches(new.network.network_address)
            if any(r.network == new.network and r.kind != RIP for r in existing):
                return  # a connected or static route of the same network wins
            routes.add(Route(new.network, new.next_hop, new.interface, RIP, new.metric))

    def _changed(self, now: int) -> None:
        if not self.running or not self.config.triggered:
            return
        if self._triggered_timer is not None and self._triggered_timer.pending:
            return
        lo, hi = self.config.triggered_delay
        delay = int(float(self.rng.uniform(lo, hi)) * _S)
        self._triggered_timer = self.clock.call_at(now + delay, self._triggered)

    def _triggered(self) -> None:
        self._triggered_timer = None
        if not self.running:
            return
        changed = [e for e in self.table.values() if e.changed]
        if not changed:
            return
        self.counters["triggered"] += 1
        self._advertise(changed)

    def _schedule_update(self, now: int) -> None:
        c = self.config
        period = c.update + float(self.rng.uniform(-c.jitter, c.jitter)) if c.jitter else c.update
        self._update_timer = self.clock.call_at(now + int(max(period, 0.001) * _S), self._periodic)

    def _periodic(self) -> None:
        if not self.running:
            return
        now = self.clock.now()
        self._advertise(list(self.table.values()))
        self._schedule_update(now)

    def _arm_sweep(self) -> None:
        deadlines = [d for e in self.table.values() for d in (e.expires, e.garbage) if d is not None]
        if not deadlines:
            return
        due = min(deadlines)
        t = self._sweep_timer
        if t is not None and t.pending and t.time <= due:
            return
        if t is not None:
            t.cancel()
        self._sweep_timer = self.clock.call_at(max(due, self.clock.now()), self._sweep)

    def _sweep(self) -> None:
        self._sweep_timer = None
        now = self.clock.now()
        for e in list(self.table.values()):
            if e.expires is not None and e.expires <= now and e.metric < INFINITY:
                self.counters["timeouts"] += 1
                self._set(e.network, INFINITY, e.next_hop, e.interface, now, "timeout")
            elif e.garbage is not None and e.garbage <= now:
                self.counters["deleted"] += 1
                del self.table[e.network]
                self.history.append(Change(now, e.network, INFINITY, None, "deleted"))
        self._arm_sweep()

    # -- sending -------------------------------------------------------------------------------
    def _advertise(self, entries: Iterable[_Entry]) -> None:
        chosen = list(entries)
        for e in chosen:
            e.changed = False
        for name, _ip in self._interfaces():
            self._respond(name, chosen, _BROADCAST)

    def _vector_for(self, iface: str, entries: Iterable[_Entry]) -> list[RIPEntry]:
        rule = self.config.split_horizon
        out = []
        for e in entries:
            metric = e.metric
            if e.next_hop is not None and e.interface == iface:
                if rule == "simple":
                    continue
                if rule == "poisoned":
                    metric = INFINITY
            out.append(RIPEntry(e.network, metric))
        return out

    def _respond(self, iface: str, entries: Iterable[_Entry], dst: IPv4Address,
                 dport: int = PORT) -> None:
        vector = self._vector_for(iface, entries)
        room = MAX_ENTRIES - (self.config.password is not None)
        for i in range(0, len(vector), room):
            self._send(iface, RIPMessage(RESPONSE, tuple(vector[i:i + room]), self.config.password),
                       dst, dport)

    def _send(self, iface: str, message: RIPMessage, dst: IPv4Address = _BROADCAST,
              dport: int = PORT) -> None:
        port = self.stack.ports[iface]
        ip = port.ip
        if ip is None:
            return
        udp = UDPDatagram(PORT, dport, message.pack()).pack(ip.ip, dst)
        packet = IPv4Packet(src=ip.ip, dst=dst, protocol=UDP, payload=udp, ttl=1 if dst == _BROADCAST else 64)
        self.counters["sent"] += 1
        self.stack.output(packet, Route(ip.network, None, iface, CONNECTED))

    # -- receiving -----------------------------------------------------------------------------
    def _udp(self, packet: IPv4Packet, now: int) -> None:
        try:
            udp = UDPDatagram.parse(packet.payload, packet.src, packet.dst)
        except LabkitError as e:
            self._malformed(e)
            return
        if udp.dst_port != PORT:
            if self._previous is not None:
                self._previous(packet, now)
            return
        self.receive(packet.src, udp.src_port, udp.payload, now)

    def _malformed(self, e: Exception) -> None:
        self.counters["malformed"] += 1
        self.errors = [*self.errors[-99:], str(e)]

    def _neighbour_interface(self, src: IPv4Address) -> str | None:
        for name, ip in self._interfaces():
            if src in ip.network and src != ip.ip:
                return name
        return None

    def receive(self, src: IPv4Address, sport: int, payload: bytes, now: int) -> None:
        """A RIP message from ``src`` (UDP port ``sport``) arrived at ``now`` (RFC 2453 §3.9)."""
        self.counters["received"] += 1
        try:
            msg = RIPMessage.parse(payload)
        except LabkitError as e:
            self._malformed(e)
            return
        if self.config.password is not None and msg.password != self.config.password:
            self.counters["bad_password"] += 1
            return
        iface = self._neighbour_interface(src)
        if msg.command == REQUEST:
            self.counters["requests"] += 1
            if iface is None:
                return
            if not msg.entries:
                self._respond(iface, list(self.table.values()), src, sport)
            return
        self.counters["responses"] += 1
        if sport != PORT:
            self.counters["bad_port"] += 1
            return
        if iface is None:
            self.counters["not_neighbour"] += 1
            return
        for entry in msg.entries:
            self._hear(entry, src, iface, now)

    def _hear(self, entry: RIPEntry, src: IPv4Address, iface: str, now: int) -> None:
        metric = min(entry.metric + 1, INFINITY)
        net = entry.network
        e = self.table.get(net)
        if e is None:
            if metric < INFINITY:
                self._set(net, metric, src, iface, now, "learned")
            return
        if e.next_hop is None:
            return  # connected networks are not learned
        if e.next_hop == src:
            if metric != e.metric:
                if metric >= INFINITY and e.metric >= INFINITY:
                    return
                self._set(net, metric, src, iface, now, "worse" if metric > e.metric else "better")
            elif metric < INFINITY:
                e.expires = now + int(self.config.timeout * _S)  # still there: restart the timeout
        elif metric < e.metric:
            self._set(net, metric, src, iface, now, "better")

    def __repr__(self) -> str:
        return f"<RIPRouter {self.name}: {len(self.table)} routes>"
