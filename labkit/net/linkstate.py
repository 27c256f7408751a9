"""Link state routing, after OSPFv2 (RFC 2328): every router holds the whole map and runs Dijkstra.

Where a distance-vector router knows only its neighbours' opinions, a
link-state router knows the graph: each router describes its own links in a
**link-state advertisement** (LSA: "I am router X, my neighbours are Y at cost
1 and Z at cost 1, and I reach networks N1, N2"), and every LSA is **flooded**
to every router. Each keeps the LSAs in its **link-state database** (LSDB)
and runs **Dijkstra** on it, alone, for its own shortest-path tree; the first
hop of each path becomes a route. Nobody computes for anybody else.

What keeps flooding sane, as in OSPF:

- **hello** every ``hello`` seconds (10) on each interface, listing the
  neighbours heard there: a neighbour that lists me back is *two-way* and
  goes into my LSA; one not heard for ``dead`` seconds (40) is dropped, and
  my LSA is sent again without it;
- **sequence numbers**: an LSA replaces a stored one only when its sequence is
  higher; an older copy is answered with the newer one;
- **ages**: an LSA grows older in the database (1 s per second) and by 1 on
  each hop; at ``max_age`` (3600 s) it is purged, so a router that vanished
  leaves no ghost; each router refreshes its own every ``refresh`` (1800 s);
- **acknowledged flooding**: each LSA sent to a neighbour is acknowledged, and
  sent again every ``retransmit`` seconds (5) until it is, so loss on a link
  delays convergence but does not stop it.

A link is used only when both ends report it (OSPF's two-way check), so a
router that claims a neighbour which does not claim it back gains nothing.

The messages are labkit's own, not OSPF's (OSPF's Hello, Database
Description, Link State Request/Update/Ack and its LSA types are four times
the format for one idea), carried straight in IP, as OSPF is, on protocol
number :data:`PROTOCOL` = 253, which RFC 3692 sets aside for experiments: not
89 (OSPF), so that Wireshark does not dissect them as broken OSPF. A link-state
protocol on its own IP protocol number is part of the network layer, which is
why this module lives in ``labkit.net``. Every message carries an Internet
checksum; a damaged or malformed message is dropped and counted.

:class:`LinkStateRouter` runs on one router's :class:`~labkit.net.stack.IPStack`
with time from its clock; :func:`labkit.sim.routing.install_linkstate` starts
one on every router of a network.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import dataclass, field
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from labkit.errors import LabkitError, LabkitValueError, ParseError, parse_input
from labkit.fields import Layout
from labkit.link.interface import Clock, Timer
from labkit.net.checksum import internet_checksum
from labkit.net.ipv4 import IPv4Packet
from labkit.net.routing import CONNECTED, Route
from labkit.net.stack import IPStack

__all__ = [
    "PROTOCOL", "HELLO", "UPDATE", "ACK", "LSA", "LinkStateMessage", "LinkStateConfig",
    "LinkStateRouter", "HEADER", "LINKSTATE", "MAX_AGE",
]

#: IP protocol number of labkit's link-state messages (RFC 3692: for experiments).
PROTOCOL = 253
HELLO, UPDATE, ACK = 1, 2, 3
VERSION = 1
#: The age (s) at which an LSA is purged.
MAX_AGE = 3600
#: The kind of the routes link state installs in a routing table.
LINKSTATE = "linkstate"
_LAYER = "linkstate"
_S = 1_000_000_000
_BROADCAST = IPv4Address("255.255.255.255")

HEADER = Layout(
    ("version", "B"),
    ("type", "B"),
    ("length", "H"),
    ("router id", "4s"),
    ("checksum", "H"),
    ("count", "H"),
)
_LSA_HEAD = struct.Struct("!4sIHBB")  # advertising router, sequence, age, links, stubs
_LINK = struct.Struct("!4sH")  # neighbour's router id, cost
_STUB = struct.Struct("!4sBH")  # network, prefix length, cost
_ACK = struct.Struct("!4sI")  # advertising router, sequence
_HELLO = struct.Struct("!HH")  # hello interval, dead interval (s); then neighbour ids


@lru_cache(maxsize=65536)
def _addr(raw: bytes | int) -> IPv4Address:
    """An address from 4 bytes or an int, remembered: the same router ids arrive again and again."""
    return IPv4Address(raw)


@lru_cache(maxsize=65536)
def _net(addr: int, prefix: int) -> IPv4Network:
    return IPv4Network((addr, prefix))


def _as_addr(value: Any) -> IPv4Address:
    if type(value) is IPv4Address:
        return value
    try:
        return IPv4Address(value)
    except ValueError:
        raise LabkitValueError(f"address={value!r}: not an IPv4 address") from None


def _as_net(value: Any) -> IPv4Network:
    if type(value) is IPv4Network:
        return value
    try:
        return IPv4Network(value)
    except ValueError:
        raise LabkitValueError(f"network={value!r}: not an IPv4 network") from None


def _check_u(value: object, name: str, bits: int) -> int:
    if type(value) is not int or not 0 <= value < (1 << bits):
        raise LabkitValueError(f"{name}={value!r}: expected an integer 0..{(1 << bits) - 1}")
    return value


@dataclass(frozen=True, slots=True)
class LSA:
    """A router's link-state advertisement: its two-way neighbours and its networks, with costs."""

    router: IPv4Address
    sequence: int
    age: int = 0
    links: tuple[tuple[IPv4Address, int], ...] = ()
    stubs: tuple[tuple[IPv4Network, int], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "router", _as_addr(self.router))
        _check_u(self.sequence, "sequence", 32)
        _check_u(self.age, "age", 16)
        links = tuple((_as_addr(r), _check_u(c, "cost", 16)) for r, c in self.links)
        stubs = tuple((_as_net(n), _check_u(c, "cost", 16)) for n, c in self.stubs)
        if len(links) > 255 or len(stubs) > 255:
            raise LabkitValueError(f"links/stubs: {len(links)}/{len(stubs)}, at most 255 each")
        object.__setattr__(self, "links", links)
        object.__setattr__(self, "stubs", stubs)

    @classmethod
    def _trusted(cls, router: IPv4Address, sequence: int, age: int,
                 links: tuple[tuple[IPv4Address, int], ...],
                 stubs: tuple[tuple[IPv4Network, int], ...]) -> LSA:
        """An LSA from values already checked (by the parser): no second validation."""
        lsa = object.__new__(cls)
        for name, value in (("router", router), ("sequence", sequence), ("age", age),
                            ("links", links), ("stubs", stubs)):
            object.__setattr__(lsa, name, value)
        return lsa

    def with_age(self, age: int) -> LSA:
        """The same advertisement, ``age`` seconds old."""
        return self if age == self.age else LSA._trusted(self.router, self.sequence, age,
                                                         self.links, self.stubs)

    def pack(self) -> bytes:
        out = [_LSA_HEAD.pack(self.router.packed, self.sequence, self.age, len(self.links),
                              len(self.stubs))]
        out += [_LINK.pack(r.packed, c) for r, c in self.links]
        out += [_STUB.pack(n.network_address.packed, n.prefixlen, c) for n, c in self.stubs]
        return b"".join(out)

    @property
    def size(self) -> int:
        return _LSA_HEAD.size + _LINK.size * len(self.links) + _STUB.size * len(self.stubs)

    def summary(self) -> str:
        nbrs = ", ".join(f"{r}:{c}" for r, c in self.links)
        nets = ", ".join(f"{n}:{c}" for n, c in self.stubs)
        return f"LSA {self.router} seq={self.sequence} age={self.age} links=[{nbrs}] nets=[{nets}]"


@dataclass(frozen=True, slots=True)
class LinkStateMessage:
    """One message: a hello (``neighbours``), an update (``lsas``) or an ack (``acks``)."""

    type: int
    router: IPv4Address
    neighbours: tuple[IPv4Address, ...] = ()
    lsas: tuple[LSA, ...] = ()
    acks: tuple[tuple[IPv4Address, int], ...] = ()
    hello: int = 10
    dead: int = 40

    def __post_init__(self) -> None:
        if self.type not in (HELLO, UPDATE, ACK):
            raise LabkitValueError(f"type={self.type!r}: expected 1 (hello), 2 (update) or 3 (ack)")
        object.__setattr__(self, "router", _as_addr(self.router))
        object.__setattr__(self, "neighbours", tuple(_as_addr(n) for n in self.neighbours))
        object.__setattr__(self, "lsas", tuple(self.lsas))
        object.__setattr__(self, "acks", tuple((_as_addr(r), _check_u(s, "sequence", 32))
                                               for r, s in self.acks))
        _check_u(self.hello, "hello", 16)
        _check_u(self.dead, "dead", 16)

    def pack(self) -> bytes:
        if self.type == HELLO:
            count = len(self.neighbours)
            body = _HELLO.pack(self.hello, self.dead) + b"".join(n.packed for n in self.neighbours)
        elif self.type == UPDATE:
            count = len(self.lsas)
            body = b"".join(a.pack() for a in self.lsas)
        else:
            count = len(self.acks)
            body = b"".join(_ACK.pack(r.packed, s) for r, s in self.acks)
        length = HEADER.size + len(body)
        if length > 0xFFFF or count > 0xFFFF:
            raise LabkitValueError(f"message: {length} bytes, {count} items: too many for one message")
        head = HEADER.struct.pack(VERSION, self.type, length, self.router.packed, 0, count)
        csum = internet_checksum(head + body)
        return head[:8] + csum.to_bytes(2, "big") + head[10:] + body

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> LinkStateMessage:
        """Parse a message; a :class:`~labkit.errors.ParseError` names the bad field and value."""
        raw = parse_input(data, _LAYER, HEADER.size, f"shorter than the {HEADER.size}-byte header")
        n = len(raw)
        version, kind, length, rid, _csum, count = HEADER.struct.unpack_from(raw)
        if version != VERSION:
            raise ParseError(_LAYER, "version", version, f"expected {VERSION}")
        if kind not in (HELLO, UPDATE, ACK):
            raise ParseError(_LAYER, "type", kind, "expected 1 (hello), 2 (update) or 3 (ack)")
        if length != n:
            raise ParseError(_LAYER, "length", length, f"but the message has {n} bytes")
        if internet_checksum(raw) != 0:
            raise ParseError(_LAYER, "checksum", f"{_csum:#06x}", "does not match the message")
        router = _addr(rid)
        at = HEADER.size

        def need(size: int, what: str) -> None:
            if at + size > n:
                raise ParseError(_LAYER, what, n - at, f"needs {size} bytes, {n - at} left")

        if kind == HELLO:
            need(_HELLO.size, "hello")
            hello, dead = _HELLO.unpack_from(raw, at)
            at += _HELLO.size
            if n - at != 4 * count:
                raise ParseError(_LAYER, "count", count, f"but {n - at} bytes of neighbours follow")
            nbrs = tuple(_addr(raw[at + 4 * i: at + 4 * i + 4]) for i in range(count))
            return cls(HELLO, router, neighbours=nbrs, hello=hello, dead=dead)
        if kind == ACK:
            if n - at != _ACK.size * count:
                raise ParseError(_LAYER, "count", count, f"but {n - at} bytes of acks follow")
            acks = tuple((_addr(r), s) for r, s in _ACK.iter_unpack(raw[at:]))
            return cls(ACK, router, acks=acks)
        lsas = []
        for i in range(count):
            need(_LSA_HEAD.size, f"lsas[{i}]")
            adv, seq, age, nl, ns = _LSA_HEAD.unpack_from(raw, at)
            at += _LSA_HEAD.size
            need(nl * _LINK.size + ns * _STUB.size, f"lsas[{i}].links")
            links = []
            for _ in range(nl):
                r, c = _LINK.unpack_from(raw, at)
                links.append((_addr(r), c))
                at += _LINK.size
            stubs = []
            for j in range(ns):
                a, p, c = _STUB.unpack_from(raw, at)
                if p > 32:
                    raise ParseError(_LAYER, f"lsas[{i}].stubs[{j}].prefix", p, "expected 0..32")
                try:
                    net = _net(int.from_bytes(a, "big"), p)
                except ValueError:
                    raise ParseError(_LAYER, f"lsas[{i}].stubs[{j}].network",
                                     f"{IPv4Address(a)}/{p}", "has host bits set") from None
                stubs.append((net, c))
                at += _STUB.size
            if age > MAX_AGE:
                raise ParseError(_LAYER, f"lsas[{i}].age", age, f"older than MaxAge ({MAX_AGE} s)")
            lsas.append(LSA._trusted(_addr(adv), seq, age, tuple(links), tuple(stubs)))
        if at != n:
            raise ParseError(_LAYER, "length", n, f"{n - at} bytes after the last LSA")
        return cls(UPDATE, router, lsas=tuple(lsas))

    def summary(self) -> str:
        what = {HELLO: "hello", UPDATE: "update", ACK: "ack"}[self.type]
        items = {HELLO: self.neighbours, UPDATE: self.lsas, ACK: self.acks}[self.type]
        return f"link state {what} from {self.router}, {len(items)} items"


@dataclass
class LinkStateConfig:
    """The timers, in seconds of virtual time (OSPF's defaults), and the cost of each interface."""

    hello: int = 10
    dead: int = 40
    retransmit: float = 5.0
    refresh: float = 1800.0
    spf_delay: float = 0.05
    originate_delay: float = 0.02
    ack_delay: float = 0.5
    flood_delay: float = 0.002
    cost: dict[str, int] = field(default_factory=dict)  # interface name -> cost (default 1)

    def __post_init__(self) -> None:
        for name in ("hello", "dead", "retransmit", "refresh"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v <= 0:
                raise LabkitValueError(f"{name}={v!r}: expected seconds > 0")


@dataclass
class _Neighbour:
    router: IPv4Address
    address: IPv4Address
    interface: str
    two_way: bool
    last_heard: int
    pending: dict[IPv4Address, LSA] = field(default_factory=dict)  # sent, not yet acknowledged


@dataclass
class _Stored:
    lsa: LSA
    arrived: int  # ns

    def age(self, now: int) -> int:
        return min(MAX_AGE, self.lsa.age + (now - self.arrived) // _S)


@dataclass(frozen=True, slots=True)
class SPFRun:
    """One Dijkstra run: when, and the routes it gave (network -> (cost, next hop))."""

    time: int
    routes: dict[IPv4Network, tuple[int, IPv4Address]]


class LinkStateRouter:
    """Link state on one router (see the module docstring).

    ``stack`` is the router's :class:`~labkit.net.stack.IPStack`, ``clock`` the
    time and timers, ``rng`` a ``numpy.random.Generator`` (for the hellos'
    phase). The router id is its highest interface address, as OSPF picks it.
    """

    def __init__(self, stack: IPStack, clock: Clock, rng: Any, config: LinkStateConfig | None = None,
                 *, name: str | None = None) -> None:
        self.stack = stack
        self.clock = clock
        self.rng = rng
        self.config = config or LinkStateConfig()
        self.name = name or stack.name
        addrs = stack.addresses
        if not addrs:
            raise LabkitValueError(f"{self.name}: a router with no numbered interface has no router id")
        self.router_id: IPv4Address = max(addrs)
        self.lsdb: dict[IPv4Address, _Stored] = {}
        self.neighbours: dict[tuple[str, IPv4Address], _Neighbour] = {}
        self.sequence = 0
        self.spf_runs: list[SPFRun] = []
        self.counters = dict.fromkeys(
            ("sent", "received", "hellos", "updates", "acks", "lsas_new", "lsas_old", "lsas_dup",
             "retransmitted", "malformed", "not_neighbour", "spf", "purged"), 0)
        self.errors: list[str] = []
        self._installed: dict[IPv4Network, Route] = {}
        self._outbox: dict[tuple[str, IPv4Address], list[LSA]] = {}
        self._acks_out: dict[tuple[str, IPv4Address], list[tuple[IPv4Address, int]]] = {}
        self._flush_timer: Timer | None = None
        self._spf_timer: Timer | None = None
        self._originate_timer: Timer | None = None
        self._ack_timer: Timer | None = None
        self._by_source: dict[IPv4Address, str | None] = {}
        self._timers: list[Timer] = []
        self.running = False

    # -- life ----------------------------------------------------------------------------------
    def start(self) -> LinkStateRouter:
        """Take IP protocol 253, originate my LSA, start the hellos."""
        if self.running:
            return self
        self.running = True
        self.stack.register(PROTOCOL, self._arrives)
        now = self.clock.now()
        self._originate(now)
        phase = int(float(self.rng.uniform(0, 0.01)) * _S)  # not every router in the same instant
        self._timers.append(self.clock.call_at(now + phase, self._hello_tick))
        self._timers.append(self.clock.call_at(now + int(self.config.retransmit * _S), self._retransmit))
        self._timers.append(self.clock.call_at(now + int(self.config.refresh * _S), self._refresh))
        return self

    def stop(self) -> None:
        self.running = False
        for t in self._timers:
            t.cancel()
        self.stack.protocols.pop(PROTOCOL, None)

    def _interfaces(self) -> list[tuple[str, Any]]:
        return [(n, p.ip) for n, p in self.stack.ports.items() if p.ip is not None]

    # -- hello ---------------------------------------------------------------------------------
    def _hello_tick(self) -> None:
        if not self.running:
            return
        now = self.clock.now()
        dead = self.config.dead * _S
        lost = [k for k, nb in self.neighbours.items() if now - nb.last_heard > dead]
        for k in lost:
            del self.neighbours[k]
        for name, _ip in self._interfaces():
            heard = tuple(nb.router for (i, _), nb in sorted(self.neighbours.items()) if i == name)
            self._send(name, _BROADCAST, LinkStateMessage(
                HELLO, self.router_id, neighbours=heard, hello=int(self.config.hello),
                dead=int(self.config.dead)))
        if lost:
            self._originate_soon(now)
        self._timers = [t for t in self._timers if t.pending]
        self._timers.append(self.clock.call_at(now + int(self.config.hello * _S), self._hello_tick))

    def _hear_hello(self, iface: str, src: IPv4Address, msg: LinkStateMessage, now: int) -> None:
        key = (iface, msg.router)
        nb = self.neighbours.get(key)
        two_way = self.router_id in msg.neighbours
        if nb is None:
            nb = self.neighbours[key] = _Neighbour(msg.router, src, iface, False, now)
            # answer at once, so that the neighbour sees me without waiting a whole period
            heard = tuple(n.router for (i, _), n in sorted(self.neighbours.items()) if i == iface)
            self._send(iface, _BROADCAST, LinkStateMessage(
                HELLO, self.router_id, neighbours=heard, hello=int(self.config.hello),
                dead=int(self.config.dead)))
        nb.last_heard = now
        nb.address = src
        if two_way != nb.two_way:
            nb.two_way = two_way
            if two_way:  # a new adjacency: give it my whole database
                for stored in self.lsdb.values():
                    self._queue(key, self._aged(stored, now))
            self._originate_soon(now)

    # -- my LSA --------------------------------------------------------------------------------
    def _originate_soon(self, now: int) -> None:
        # adjacencies come and go in bursts: one new LSA for the burst (OSPF's MinLSInterval)
        if self._originate_timer is None or not self._originate_timer.pending:
            self._originate_timer = self.clock.call_at(
                now + int(self.config.originate_delay * _S), self._originate_now)

    def _originate_now(self) -> None:
        self._originate_timer = None
        if self.running:
            self._originate(self.clock.now())

    def _originate(self, now: int) -> None:
        cost = self.config.cost
        links = tuple(sorted((nb.router, cost.get(nb.interface, 1))
                             for nb in self.neighbours.values() if nb.two_way))
        stubs = tuple(sorted((ip.network, cost.get(name, 1)) for name, ip in self._interfaces()))
        self.sequence += 1
        lsa = LSA(self.router_id, self.sequence, 0, links, stubs)
        self._install(lsa, now, came_from=None)

    def _refresh(self) -> None:
        if not self.running:
            return
        now = self.clock.now()
        self._originate(now)
        self._timers.append(self.clock.call_at(now + int(self.config.refresh * _S), self._refresh))

    # -- flooding ------------------------------------------------------------------------------
    def _aged(self, stored: _Stored, now: int) -> LSA:
        return stored.lsa.with_age(min(MAX_AGE, stored.age(now) + 1))  # + InfTransDelay, 1 s a hop

    def _install(self, lsa: LSA, now: int, came_from: tuple[str, IPv4Address] | None) -> None:
        stored = self.lsdb[lsa.router] = _Stored(lsa, now)
        aged = self._aged(stored, now)
        for key, nb in self.neighbours.items():
            if nb.two_way and key != came_from:
                self._queue(key, aged)
        self._schedule_spf(now)

    def _queue(self, key: tuple[str, IPv4Address], lsa: LSA) -> None:
        nb = self.neighbours.get(key)
        if nb is None:
            return
        nb.pending[lsa.router] = lsa
        self._outbox.setdefault(key, []).append(lsa)
        self._arm_flush()

    def _arm_flush(self) -> None:
        if self._flush_timer is None or not self._flush_timer.pending:
            self._flush_timer = self.clock.call_at(
                self.clock.now() + int(self.config.flood_delay * _S), self._flush)

    def _flush(self) -> None:
        """Send what was queued in the last ``flood_delay``: one update (or a few, by MTU) a
        neighbour, so that LSAs arriving together travel on together (LSA pacing)."""
        self._flush_timer = None
        outbox, self._outbox = self._outbox, {}
        for key, lsas in outbox.items():
            nb = self.neighbours.get(key)
            if nb is None:
                continue
            latest: dict[IPv4Address, LSA] = {}
            for a in lsas:
                latest[a.router] = a
            self._send_update(key[0], nb.address, list(latest.values()))

    def _flush_acks(self) -> None:
        """Delayed acknowledgements (RFC 2328 §13.5): many LSAs acknowledged in one message."""
        self._ack_timer = None
        acks, self._acks_out = self._acks_out, {}
        for key, items in acks.items():
            nb = self.neighbours.get(key)
            if nb is not None:
                for i in range(0, len(items), 150):
                    self._send(key[0], nb.address,
                               LinkStateMessage(ACK, self.router_id, acks=tuple(items[i:i + 150])))

    def _send_update(self, iface: str, dst: IPv4Address, lsas: list[LSA]) -> None:
        mtu = self.stack.ports[iface].iface.mtu or 1500
        room = mtu - 20 - HEADER.size
        batch: list[LSA] = []
        size = 0
        for a in lsas:
            if batch and size + a.size > room:
                self._send(iface, dst, LinkStateMessage(UPDATE, self.router_id, lsas=tuple(batch)))
                batch, size = [], 0
            batch.append(a)
            size += a.size
        if batch:
            self._send(iface, dst, LinkStateMessage(UPDATE, self.router_id, lsas=tuple(batch)))

    def _retransmit(self) -> None:
        if not self.running:
            return
        now = self.clock.now()
        for key, nb in self.neighbours.items():
            if nb.pending:
                self.counters["retransmitted"] += len(nb.pending)
                self._send_update(key[0], nb.address, list(nb.pending.values()))
        self._purge(now)
        self._timers = [t for t in self._timers if t.pending]
        self._timers.append(self.clock.call_at(now + int(self.config.retransmit * _S), self._retransmit))

    def _purge(self, now: int) -> None:
        old = [r for r, s in self.lsdb.items() if s.age(now) >= MAX_AGE and r != self.router_id]
        for r in old:
            del self.lsdb[r]
            self.counters["purged"] += 1
        if old:
            self._schedule_spf(now)

    # -- receiving -----------------------------------------------------------------------------
    def _neighbour_interface(self, src: IPv4Address) -> str | None:
        if src in self._by_source:
            return self._by_source[src]
        found = None
        for name, ip in self._interfaces():
            if src in ip.network and src != ip.ip:
                found = name
                break
        if len(self._by_source) < 1024:
            self._by_source[src] = found
        return found

    def _arrives(self, packet: IPv4Packet, now: int) -> None:
        self.receive(packet.src, packet.payload, now)

    def receive(self, src: IPv4Address, payload: bytes, now: int) -> None:
        """A message from ``src`` arrived at ``now``."""
        self.counters["received"] += 1
        try:
            msg = LinkStateMessage.parse(payload)
        except LabkitError as e:
            self.counters["malformed"] += 1
            self.errors = [*self.errors[-99:], str(e)]
            return
        iface = self._neighbour_interface(src)
        if iface is None or msg.router == self.router_id:
            self.counters["not_neighbour"] += 1
            return
        if msg.type == HELLO:
            self.counters["hellos"] += 1
            self._hear_hello(iface, src, msg, now)
            return
        key = (iface, msg.router)
        nb = self.neighbours.get(key)
        if nb is None or not nb.two_way:
            self.counters["not_neighbour"] += 1
            return
        if msg.type == ACK:
            self.counters["acks"] += 1
            for router, seq in msg.acks:
                sent = nb.pending.get(router)
                if sent is not None and sent.sequence == seq:
                    del nb.pending[router]
            return
        self.counters["updates"] += 1
        acks = self._acks_out.setdefault(key, [])
        for lsa in msg.lsas:
            acks.append((lsa.router, lsa.sequence))
            have = self.lsdb.get(lsa.router)
            if lsa.router == self.router_id:
                if lsa.sequence >= self.sequence:  # an old self from before a restart: outdo it
                    self.sequence = lsa.sequence
                    self._originate(now)
                continue
            if have is None or lsa.sequence > have.lsa.sequence:
                self.counters["lsas_new"] += 1
                nb.pending.pop(lsa.router, None)
                self._install(lsa, now, came_from=key)
            elif lsa.sequence < have.lsa.sequence:
                self.counters["lsas_old"] += 1
                self._queue(key, self._aged(have, now))  # tell the neighbour the newer one
            else:
                self.counters["lsas_dup"] += 1
                sent = nb.pending.get(lsa.router)
                if sent is not None and sent.sequence == lsa.sequence:
                    del nb.pending[lsa.router]  # an implied acknowledgement (RFC 2328 §13)
        if self._ack_timer is None or not self._ack_timer.pending:
            self._ack_timer = self.clock.call_at(now + int(self.config.ack_delay * _S), self._flush_acks)

    # -- Dijkstra ------------------------------------------------------------------------------
    def _schedule_spf(self, now: int) -> None:
        if self._spf_timer is None or not self._spf_timer.pending:
            self._spf_timer = self.clock.call_at(now + int(self.config.spf_delay * _S), self._spf)

    def shortest_paths(self) -> dict[IPv4Address, tuple[int, tuple[str, IPv4Address] | None]]:
        """Dijkstra on my own LSDB: ``{router: (cost, first hop)}``; the first hop is
        ``(interface, neighbour's address)``, ``None`` for myself."""
        now = self.clock.now()
        db = {r: s.lsa for r, s in self.lsdb.items() if s.age(now) < MAX_AGE}
        first_hops: dict[IPv4Address, tuple[str, IPv4Address]] = {}
        for (iface, rid), nb in sorted(self.neighbours.items()):
            if nb.two_way and rid not in first_hops:
                first_hops[rid] = (iface, nb.address)
        dist: dict[IPv4Address, tuple[int, tuple[str, IPv4Address] | None]] = {}
        heap: list[tuple[int, int, IPv4Address, tuple[str, IPv4Address] | None]] = [
            (0, int(self.router_id), self.router_id, None)]
        while heap:
            d, _, r, hop = heapq.heappop(heap)
            if r in dist:
                continue
            dist[r] = (d, hop)
            lsa = db.get(r)
            if lsa is None:
                continue
            for nbr, cost in lsa.links:
                if nbr in dist:
                    continue
                back = db.get(nbr)
                if back is None or not any(x == r for x, _ in back.links):
                    continue  # one-way: the other end does not report it
                h = hop if hop is not None else first_hops.get(nbr)
                if h is None:
                    continue
                heapq.heappush(heap, (d + cost, int(nbr), nbr, h))
        return dist

    def _spf(self) -> None:
        self._spf_timer = None
        now = self.clock.now()
        self.counters["spf"] += 1
        paths = self.shortest_paths()
        best: dict[IPv4Network, tuple[int, tuple[str, IPv4Address]]] = {}
        mine = {ip.network for _, ip in self._interfaces()}
        for r, (d, hop) in sorted(paths.items()):
            stored = self.lsdb.get(r)
            if hop is None or stored is None:
                continue
            for net, cost in stored.lsa.stubs:
                if net in mine:
                    continue
                total = d + cost
                if net not in best or total < best[net][0]:
                    best[net] = (total, hop)
        routes = self.stack.routes
        for net, old in list(self._installed.items()):
            if net not in best or best[net][1] != (old.interface, old.next_hop) \
                    or best[net][0] != old.metric:
                try:
                    routes.remove(net)
                except LabkitValueError:
                    pass
                del self._installed[net]
        for net, (cost, (iface, gateway)) in best.items():
            if net in self._installed:
                continue
            route = Route(net, gateway, iface, LINKSTATE, cost)
            if any(r.network == net for r in routes.matches(net.network_address)):
                continue  # a static route of the same network stays
            routes.add(route)
            self._installed[net] = route
        self.spf_runs.append(SPFRun(now, {n: (c, h[1]) for n, (c, h) in sorted(best.items())}))

    def routes(self) -> dict[IPv4Network, tuple[int, IPv4Address]]:
        """``{network: (cost, next hop)}`` that my last Dijkstra run installed."""
        return {n: (r.metric, r.next_hop) for n, r in sorted(self._installed.items())
                if r.next_hop is not None}

    # -- sending -------------------------------------------------------------------------------
    def _send(self, iface: str, dst: IPv4Address, msg: LinkStateMessage) -> None:
        ip = self.stack.ports[iface].ip
        if ip is None:
            return
        self.counters["sent"] += 1
        packet = IPv4Packet(src=ip.ip, dst=dst, protocol=PROTOCOL, payload=msg.pack(), ttl=1)
        self.stack.output(packet, Route(ip.network, None, iface, CONNECTED))

    def __repr__(self) -> str:
        return f"<LinkStateRouter {self.name} id {self.router_id}: {len(self.lsdb)} LSAs>"
