"""ARP for Ethernet and IPv4 (RFC 826): the packet, a cache with ageing, a resolver, next hop.

A host that wants to send an IP packet on Ethernet needs the MAC address of
the next hop. ARP asks the whole LAN (a broadcast *request*: "who has
192.168.1.1? tell 192.168.1.10") and the owner answers alone (a unicast
*reply*: "192.168.1.1 is at 02:00:00:00:00:01"). The answer is kept in a
cache for a while. A *gratuitous* ARP is a request (or reply) for one's own
address: it announces a new or changed MAC and detects address conflicts.

The packet for Ethernet and IPv4 is :data:`LAYOUT` (28 bytes, after a 14-byte
Ethernet header with EtherType 0x0806): the hardware type (1 = Ethernet), the
protocol type (0x0800 = IPv4), the two address lengths (6 and 4), the operation
(1 = request, 2 = reply), then the sender's MAC and IP addresses and the
target's (the target MAC is zeros in a request).

Which address to ARP for is the rule the source teaches (:func:`next_hop`):
a destination on my own subnet is asked for directly; any other destination
is reached through the default gateway, so it is the *gateway's* MAC that is
asked for, and the packet still carries the far destination's IP address.

Everything here is pure logic with time passed in (integer nanoseconds):
:class:`ArpCache` ages entries by the ``now`` it is given, and
:class:`ArpResolver` returns the frames to send instead of sending them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from html import escape
from ipaddress import IPv4Address, IPv4Interface
from typing import Any

from labkit.display import header_html
from labkit.errors import LabkitValueError, ParseError
from labkit.fields import Layout
from labkit.link.ethernet import EtherType
from labkit.link.mac import BROADCAST, MACAddress
from labkit.net.addressing import LIMITED_BROADCAST, UNSPECIFIED, as_address, as_network
from labkit.units import format_time, parse_time

__all__ = [
    "ARPPacket",
    "LAYOUT",
    "REQUEST",
    "REPLY",
    "PACKET_LENGTH",
    "ArpCache",
    "ArpEntry",
    "ArpResolver",
    "Transmit",
    "Unresolved",
    "NoRouteError",
    "next_hop",
    "DEFAULT_CACHE_TIMEOUT_NS",
]

_LAYER = "arp"
#: The packet for Ethernet and IPv4, field by field.
LAYOUT = Layout(
    ("hardware type", "H"),
    ("protocol type", "H"),
    ("hardware length", "B"),
    ("protocol length", "B"),
    ("operation", "H"),
    ("sender MAC", "6s"),
    ("sender IP", "4s"),
    ("target MAC", "6s"),
    ("target IP", "4s"),
)
_PACKET = LAYOUT.struct
#: Bytes in an ARP packet for Ethernet and IPv4.
PACKET_LENGTH = LAYOUT.size
REQUEST = 1
REPLY = 2
_ZERO_MAC = MACAddress(0)
#: 60 s: how long a learned entry stays usable. Real systems differ (Linux keeps an entry
#: "reachable" for 15-45 s and then re-checks it, Windows similarly, Cisco routers 4 hours).
DEFAULT_CACHE_TIMEOUT_NS = 60_000_000_000


def _mac(name: str, value: Any) -> MACAddress:
    if isinstance(value, MACAddress):
        return value
    try:
        return MACAddress(value)
    except LabkitValueError as exc:
        raise LabkitValueError(f"{name}: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ARPPacket:
    """An ARP packet for Ethernet and IPv4. Build one with :meth:`request`,
    :meth:`reply` or :meth:`gratuitous`; :meth:`parse` reads one."""

    hardware_type: int = 1
    protocol_type: int = EtherType.IPV4
    hardware_length: int = 6
    protocol_length: int = 4
    operation: int
    sender_mac: MACAddress
    sender_ip: IPv4Address
    target_mac: MACAddress = _ZERO_MAC
    target_ip: IPv4Address

    def __post_init__(self) -> None:
        object.__setattr__(self, "sender_mac", _mac("sender_mac", self.sender_mac))
        object.__setattr__(self, "target_mac", _mac("target_mac", self.target_mac))
        object.__setattr__(self, "sender_ip", as_address(self.sender_ip, "sender_ip"))
        object.__setattr__(self, "target_ip", as_address(self.target_ip, "target_ip"))
        for name, bits in (("hardware_type", 16), ("protocol_type", 16), ("hardware_length", 8),
                           ("protocol_length", 8), ("operation", 16)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
                raise LabkitValueError(f"{name}={value!r}: expected an int 0..{(1 << bits) - 1}")
            object.__setattr__(self, name, int(value))

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def request(cls, sender_mac: object, sender_ip: object, target_ip: object) -> ARPPacket:
        """"Who has ``target_ip``? Tell ``sender_ip``" (sent to the broadcast MAC)."""
        return cls(operation=REQUEST, sender_mac=_mac("sender_mac", sender_mac),
                   sender_ip=as_address(sender_ip, "sender_ip"), target_ip=as_address(target_ip, "target_ip"))

    @classmethod
    def reply(cls, sender_mac: object, sender_ip: object, target_mac: object, target_ip: object) -> ARPPacket:
        """"``sender_ip`` is at ``sender_mac``" (sent to the asker alone)."""
        return cls(operation=REPLY, sender_mac=_mac("sender_mac", sender_mac),
                   sender_ip=as_address(sender_ip, "sender_ip"), target_mac=_mac("target_mac", target_mac),
                   target_ip=as_address(target_ip, "target_ip"))

    @classmethod
    def gratuitous(cls, mac: object, ip: object) -> ARPPacket:
        """A request for one's own address: announces ``ip`` is at ``mac`` to the whole LAN."""
        address = as_address(ip, "ip")
        return cls(operation=REQUEST, sender_mac=_mac("mac", mac), sender_ip=address, target_ip=address)

    def answer(self, my_mac: object) -> ARPPacket:
        """The reply to this request from the owner of :attr:`target_ip`."""
        if self.operation != REQUEST:
            raise LabkitValueError(f"operation={self.operation}: only a request (1) is answered")
        return ARPPacket.reply(my_mac, self.target_ip, self.sender_mac, self.sender_ip)

    @property
    def is_gratuitous(self) -> bool:
        """Sender and target protocol address are the same: an announcement."""
        return self.sender_ip == self.target_ip

    # -- bytes ---------------------------------------------------------------------------------
    def pack(self) -> bytes:
        return _PACKET.pack(
            self.hardware_type, self.protocol_type, self.hardware_length, self.protocol_length,
            self.operation, self.sender_mac.packed, self.sender_ip.packed, self.target_mac.packed,
            self.target_ip.packed,
        )

    def __bytes__(self) -> bytes:
        return self.pack()

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> ARPPacket:
        """Parse an Ethernet/IPv4 ARP packet (trailing Ethernet padding is ignored)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise LabkitValueError(f"data: expected bytes, got {type(data).__name__}")
        raw = bytes(data)
        if len(raw) < PACKET_LENGTH:
            raise ParseError(
                _LAYER, "length", len(raw), f"an Ethernet/IPv4 ARP packet is {PACKET_LENGTH} bytes"
            )
        htype, ptype, hlen, plen, op, smac, sip, tmac, tip = _PACKET.unpack_from(raw)
        if htype != 1:
            raise ParseError(_LAYER, "hardware_type", htype, "only Ethernet (1) is supported")
        if ptype != EtherType.IPV4:
            raise ParseError(_LAYER, "protocol_type", f"{ptype:#06x}", "only IPv4 (0x0800) is supported")
        if hlen != 6:
            raise ParseError(_LAYER, "hardware_length", hlen, "an Ethernet address is 6 bytes")
        if plen != 4:
            raise ParseError(_LAYER, "protocol_length", plen, "an IPv4 address is 4 bytes")
        if op not in (REQUEST, REPLY):
            raise ParseError(_LAYER, "operation", op, "expected 1 (request) or 2 (reply)")
        return cls(operation=op, sender_mac=MACAddress(smac), sender_ip=IPv4Address(sip),
                   target_mac=MACAddress(tmac), target_ip=IPv4Address(tip))

    # -- display -------------------------------------------------------------------------------
    def summary(self) -> str:
        """tcpdump's words: ``ARP, Request who-has 192.168.1.1 tell 192.168.1.10``."""
        if self.operation == REQUEST:
            text = f"ARP, Request who-has {self.target_ip} tell {self.sender_ip}"
        else:
            text = f"ARP, Reply {self.sender_ip} is-at {self.sender_mac}"
        return text + (" (gratuitous)" if self.is_gratuitous else "")

    def __repr__(self) -> str:
        return (f"ARPPacket(operation={self.operation}, sender_mac='{self.sender_mac}', "
                f"sender_ip='{self.sender_ip}', target_mac='{self.target_mac}', "
                f"target_ip='{self.target_ip}')")

    def fields(self) -> list[tuple[str, str, str]]:
        """``(field, value, meaning)`` rows for the HTML table."""
        return LAYOUT.rows([
            (str(self.hardware_type), "Ethernet" if self.hardware_type == 1 else ""),
            (f"{self.protocol_type:#06x}", "IPv4" if self.protocol_type == 0x800 else ""),
            (str(self.hardware_length), "bytes in a MAC address"),
            (str(self.protocol_length), "bytes in an IPv4 address"),
            (str(self.operation), {1: "request", 2: "reply"}.get(self.operation, "")),
            (str(self.sender_mac), ""),
            (str(self.sender_ip), ""),
            (str(self.target_mac), "unknown yet" if self.target_mac == _ZERO_MAC else ""),
            (str(self.target_ip), "gratuitous: my own" if self.is_gratuitous else ""),
        ])

    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, end, field)`` byte ranges of :meth:`pack`'s output, for hex maps."""
        return LAYOUT.spans()

    def _repr_html_(self) -> str:
        return header_html(self.summary(), self.fields(), self.pack(), self.spans())


# --- the next-hop rule --------------------------------------------------------------------------


class NoRouteError(LabkitValueError):
    """A destination off my subnet, and no default gateway to send it to."""


def next_hop(dst: object, my_interface_network: object, gateway: object | None) -> IPv4Address:
    """Whose MAC address to ARP for, to send a packet to ``dst``.

    ``my_interface_network`` is my subnet (``'192.168.1.0/24'``, or my
    interface ``'192.168.1.10/24'``). On my subnet (same network part): ``dst``
    itself. Anywhere else: the ``gateway``, which must be on my subnet.
    """
    d = as_address(dst, "dst")
    net = as_network(my_interface_network, "my_interface_network", strict=False)
    if d in net or d == LIMITED_BROADCAST:
        return d
    if gateway is None:
        raise NoRouteError(
            f"dst={d}: not on my subnet {net} and no default gateway is set, so there is no "
            "one to send it to (network unreachable)"
        )
    gw = as_address(gateway, "gateway")
    if gw not in net:
        raise NoRouteError(f"gateway={gw}: not on my subnet {net}; a gateway must be reachable directly")
    return gw


# --- the cache ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArpEntry:
    """A cache entry: IP, MAC, when it was learned (ns), and whether it never expires."""

    ip: IPv4Address
    mac: MACAddress
    learned_at: int
    static: bool = False


def _now(now: object) -> int:
    if isinstance(now, bool) or not isinstance(now, int):
        raise LabkitValueError(f"now={now!r}: the time is an int of nanoseconds")
    return now


class ArpCache:
    """IP-to-MAC mappings that age: an entry learned at ``t`` is gone at ``t + timeout``.

    ``timeout`` is nanoseconds or a string like ``"60s"``. Static entries
    (``learn(..., static=True)``, what ``arp -s`` adds) never expire.
    """

    def __init__(self, timeout: object = DEFAULT_CACHE_TIMEOUT_NS) -> None:
        self.timeout = timeout if isinstance(timeout, int) and not isinstance(timeout, bool) else \
            parse_time(timeout, "timeout")
        if self.timeout <= 0:
            raise LabkitValueError(f"timeout={timeout!r}: must be positive")
        self._entries: dict[IPv4Address, ArpEntry] = {}

    def learn(self, ip: object, mac: object, now: int, *, static: bool = False) -> None:
        """Add or refresh the mapping ``ip -> mac`` at time ``now``."""
        addr = as_address(ip, "ip")
        old = self._entries.get(addr)
        if old is not None and old.static and not static:
            return  # a static entry is not overwritten by traffic
        self._entries[addr] = ArpEntry(addr, _mac("mac", mac), _now(now), static)

    def update(self, ip: object, mac: object, now: int) -> bool:
        """Refresh ``ip`` only if it is already cached (RFC 826's "merge" step)."""
        addr = as_address(ip, "ip")
        if self.lookup(addr, now) is None:
            return False
        self.learn(addr, mac, now)
        return True

    def lookup(self, ip: object, now: int) -> MACAddress | None:
        """The MAC for ``ip``, or ``None`` if unknown or expired (an expired entry is removed)."""
        addr = as_address(ip, "ip")
        _now(now)
        entry = self._entries.get(addr)
        if entry is None:
            return None
        if not entry.static and now - entry.learned_at >= self.timeout:
            del self._entries[addr]
            return None
        return entry.mac

    def expire(self, now: int) -> list[ArpEntry]:
        """Remove every entry older than the timeout; return them."""
        _now(now)
        gone = [e for e in self._entries.values() if not e.static and now - e.learned_at >= self.timeout]
        for e in gone:
            del self._entries[e.ip]
        return gone

    def forget(self, ip: object) -> None:
        """Remove ``ip`` (``arp -d``)."""
        self._entries.pop(as_address(ip, "ip"), None)

    def entries(self, now: int) -> list[ArpEntry]:
        """The live entries, by IP address."""
        self.expire(now)
        return sorted(self._entries.values(), key=lambda e: e.ip)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ip: object) -> bool:
        return as_address(ip, "ip") in self._entries

    def table(self, now: int) -> str:
        """The cache as ``arp -n`` prints it, with each entry's age."""
        lines = [f"{'Address':<16} {'HWaddress':<18} {'Flags':<6} Age"]
        for e in self.entries(now):
            age = "static" if e.static else format_time(now - e.learned_at)
            lines.append(f"{str(e.ip):<16} {str(e.mac):<18} {'CM' if e.static else 'C':<6} {age}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{e.ip}</td><td style='font-family:monospace'>{e.mac}</td>"
            f"<td>{'static' if e.static else escape(format_time(e.learned_at)) + ' (learned)'}</td></tr>"
            for e in sorted(self._entries.values(), key=lambda e: e.ip)
        )
        return ("<table><tr><th>IP address</th><th>MAC address</th><th>entry</th></tr>"
                f"{rows}</table>")

    def __repr__(self) -> str:
        return f"<ArpCache {len(self._entries)} entries, timeout {format_time(self.timeout)}>"


# --- the resolver -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transmit:
    """An action: send ``payload`` in an Ethernet frame to ``dst`` with ``ethertype``."""

    dst: MACAddress
    ethertype: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Unresolved:
    """An action: nobody answered for ``ip``; ``packets`` waiting for it are dropped.

    The IP layer answers each with ICMP destination unreachable, "host unreachable".
    """

    ip: IPv4Address
    packets: tuple[bytes, ...]


Action = Transmit | Unresolved


@dataclass
class _Waiting:
    requests_sent: int
    next_retry: int
    packets: deque[tuple[int, bytes]] = field(default_factory=deque)


class ArpResolver:
    """Turn "send this to next hop X" into Ethernet frames, asking ARP when X is unknown.

    Pure logic: every method takes ``now`` (ns) and returns a list of
    actions (:class:`Transmit`, :class:`Unresolved`) for the caller to carry out.

    - :meth:`send`: known MAC -> transmit now; unknown -> queue the packet
      (at most ``queue_limit`` per address; the oldest is dropped when full, as
      Linux does) and broadcast a request;
    - :meth:`poll`: repeat the request every ``retry_interval`` up to
      ``max_requests`` requests in all; then give up (:class:`Unresolved`);
    - :meth:`receive`: an ARP packet arrived: learn from it (RFC 826: update
      a cached sender; add it if the packet is for me), answer requests for my
      address, and release the packets that waited for the sender.
    """

    def __init__(
        self,
        mac: object,
        interface: Any,
        *,
        cache: ArpCache | None = None,
        retry_interval: object = 1_000_000_000,
        max_requests: int = 3,
        queue_limit: int = 3,
    ) -> None:
        self.mac = _mac("mac", mac)
        if isinstance(interface, IPv4Interface):
            self.interface = interface
        else:
            try:
                self.interface = IPv4Interface(interface)
            except ValueError:
                raise LabkitValueError(f"interface={interface!r}: expected an address with a prefix "
                                       "like '192.168.1.10/24'") from None
        self.cache = cache if cache is not None else ArpCache()
        self.retry_interval = parse_time(retry_interval, "retry_interval") if not isinstance(
            retry_interval, int) else retry_interval
        for name, value in (("max_requests", max_requests), ("queue_limit", queue_limit)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LabkitValueError(f"{name}={value!r}: expected a positive int")
        self.max_requests = max_requests
        self.queue_limit = queue_limit
        self._waiting: dict[IPv4Address, _Waiting] = {}
        self.counters = dict.fromkeys(("requests", "replies", "queue_drops", "failures"), 0)

    @property
    def ip(self) -> IPv4Address:
        return self.interface.ip

    def _request(self, target: IPv4Address) -> Transmit:
        self.counters["requests"] += 1
        return Transmit(BROADCAST, EtherType.ARP, ARPPacket.request(self.mac, self.ip, target).pack())

    def waiting(self) -> dict[IPv4Address, int]:
        """Addresses being asked for, with the number of packets queued for each."""
        return {ip: len(w.packets) for ip, w in self._waiting.items()}

    def send(
        self, next_hop: object, payload: bytes, now: int, ethertype: int = EtherType.IPV4
    ) -> list[Action]:
        """Send ``payload`` to the host whose IP is ``next_hop`` on this link."""
        hop = as_address(next_hop, "next_hop")
        _now(now)
        if hop == LIMITED_BROADCAST or hop == self.interface.network.broadcast_address:
            return [Transmit(BROADCAST, ethertype, payload)]
        mac = self.cache.lookup(hop, now)
        if mac is not None:
            return [Transmit(mac, ethertype, payload)]
        wait = self._waiting.get(hop)
        if wait is not None:
            if len(wait.packets) >= self.queue_limit:
                wait.packets.popleft()
                self.counters["queue_drops"] += 1
            wait.packets.append((ethertype, payload))
            return []
        self._waiting[hop] = _Waiting(1, now + self.retry_interval, deque([(ethertype, payload)]))
        return [self._request(hop)]

    def receive(self, packet: ARPPacket, now: int) -> list[Action]:
        """Handle an arriving ARP packet."""
        _now(now)
        actions: list[Action] = []
        for_me = packet.target_ip == self.ip
        # an ARP probe (RFC 5227) comes from 0.0.0.0: answer it, but there is nothing to learn
        learnable = packet.sender_ip != UNSPECIFIED and packet.sender_ip != self.ip
        sender_known = learnable and self.cache.update(packet.sender_ip, packet.sender_mac, now)
        if for_me and learnable and not sender_known:
            self.cache.learn(packet.sender_ip, packet.sender_mac, now)
        if for_me and packet.operation == REQUEST and not packet.is_gratuitous:
            self.counters["replies"] += 1
            actions.append(Transmit(packet.sender_mac, EtherType.ARP, packet.answer(self.mac).pack()))
        wait = self._waiting.pop(packet.sender_ip, None)
        if wait is not None:
            if packet.sender_ip not in self.cache:
                self.cache.learn(packet.sender_ip, packet.sender_mac, now)
            actions.extend(Transmit(packet.sender_mac, et, p) for et, p in wait.packets)
        return actions

    def next_deadline(self) -> int | None:
        """When :meth:`poll` next has something to do, or ``None``."""
        return min((w.next_retry for w in self._waiting.values()), default=None)

    def poll(self, now: int) -> list[Action]:
        """Retry unanswered requests and give up on those asked ``max_requests`` times."""
        _now(now)
        actions: list[Action] = []
        for ip, wait in list(self._waiting.items()):
            if wait.next_retry > now:
                continue
            if wait.requests_sent >= self.max_requests:
                del self._waiting[ip]
                self.counters["failures"] += 1
                actions.append(Unresolved(ip, tuple(p for _, p in wait.packets)))
            else:
                wait.requests_sent += 1
                wait.next_retry = now + self.retry_interval
                actions.append(self._request(ip))
        return actions

    def announce(self) -> Transmit:
        """A gratuitous ARP for my own address (sent when an interface comes up)."""
        return Transmit(BROADCAST, EtherType.ARP, ARPPacket.gratuitous(self.mac, self.ip).pack())
