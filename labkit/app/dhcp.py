"""DHCP (RFC 2131, options RFC 2132): how a host with no address gets one, and keeps it.

The message is BOOTP's (RFC 951): a fixed 236-byte part (:data:`LAYOUT`), then
the *magic cookie* 99.130.83.99 and options, each a code, a length and a
value (0 is padding, 255 ends them). Option 53 says which DHCP message it is.

The exchange is DORA: the client, from 0.0.0.0 to 255.255.255.255,
DISCOVERs; servers OFFER an address; the client REQUESTs one (naming its
server, so the others take their offers back); that server ACKnowledges.
Before using the address the client probes for it with ARP (RFC 5227: a
request *from* 0.0.0.0; an answer means someone has it: DECLINE). At T1 (half
the lease) it renews with its server, unicast; at T2 (7/8) it rebinds with
any server, broadcast; at the end of the lease it stops using the address.
A relay agent on a router forwards the broadcasts to a server on another
subnet, writing its own address in ``giaddr`` so the server knows which pool
to use and where to send the answer.

- :class:`DHCPMessage`: the codec (``parse``/``pack``; typed option access);
- :class:`DHCPServer`, :class:`DHCPClient`, :class:`DHCPRelay`: the three
  programs, on an :class:`~labkit.net.stack.IPStack` (a simulated host's or
  router's ``node.stack``) and its clock. They sit on the stack's UDP
  directly (ports 67 and 68), so they work on a host that has no address yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from labkit.errors import LabkitValueError, ParseError, parse_input
from labkit.fields import Layout
from labkit.link.ethernet import EtherType
from labkit.link.mac import BROADCAST, MACAddress
from labkit.net.arp import ARPPacket
from labkit.net.ipv4 import IPv4Packet
from labkit.transport.udp import UDPDatagram

__all__ = [
    "LAYOUT", "MAGIC_COOKIE", "SERVER_PORT", "CLIENT_PORT", "MESSAGE_TYPES", "OPTIONS",
    "DHCPMessage", "DHCPServer", "DHCPClient", "DHCPRelay", "Lease",
]

_LAYER = "dhcp"
SERVER_PORT, CLIENT_PORT = 67, 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"
BOOTREQUEST, BOOTREPLY = 1, 2

#: The fixed part, field by field (RFC 2131 figure 1).
LAYOUT = Layout(
    ("op", "B"), ("htype", "B"), ("hlen", "B"), ("hops", "B"),
    ("xid", "I"), ("secs", "H"), ("flags", "H"),
    ("ciaddr", "4s"), ("yiaddr", "4s"), ("siaddr", "4s"), ("giaddr", "4s"),
    ("chaddr", "16s"), ("sname", "64s"), ("file", "128s"),
)
_FIXED = LAYOUT.struct
BROADCAST_FLAG = 0x8000

#: Option 53's values (RFC 2132 9.6).
MESSAGE_TYPES = {"DISCOVER": 1, "OFFER": 2, "REQUEST": 3, "DECLINE": 4, "ACK": 5, "NAK": 6,
                 "RELEASE": 7, "INFORM": 8}
_TYPE_NAMES = {v: k for k, v in MESSAGE_TYPES.items()}

# name: (code, kind); kinds: ip, ips, u32, u16, u8, str, bytes, codes
OPTIONS: dict[str, tuple[int, str]] = {
    "subnet_mask": (1, "ip"), "router": (3, "ips"), "dns_servers": (6, "ips"),
    "hostname": (12, "str"), "domain_name": (15, "str"), "broadcast_address": (28, "ip"),
    "requested_ip": (50, "ip"), "lease_time": (51, "u32"), "message_type": (53, "u8"),
    "server_id": (54, "ip"), "parameter_request_list": (55, "codes"), "message": (56, "str"),
    "max_message_size": (57, "u16"), "renewal_time": (58, "u32"), "rebinding_time": (59, "u32"),
    "client_id": (61, "bytes"),
}
_BY_CODE = {code: (name, kind) for name, (code, kind) in OPTIONS.items()}
_ZERO = IPv4Address(0)
_BCAST_IP = IPv4Address("255.255.255.255")


def _encode(kind: str, name: str, value: Any) -> bytes:
    try:
        if kind == "ip":
            return IPv4Address(value).packed
        if kind == "ips":
            items = [value] if isinstance(value, (str, IPv4Address)) else list(value)
            return b"".join(IPv4Address(v).packed for v in items)
        if kind in ("u32", "u16", "u8"):
            return int(value).to_bytes({"u32": 4, "u16": 2, "u8": 1}[kind], "big")
        if kind == "str":
            return value.encode() if isinstance(value, str) else bytes(value)
        if kind == "codes":
            return bytes(value)
        return bytes(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise LabkitValueError(f"{name}={value!r}: {e}") from None


def _decode(kind: str, raw: bytes) -> Any:
    if kind == "ip":
        return IPv4Address(raw) if len(raw) == 4 else None
    if kind == "ips":
        if not raw or len(raw) % 4:
            return None
        return tuple(IPv4Address(raw[i:i + 4]) for i in range(0, len(raw), 4))
    if kind in ("u32", "u16", "u8"):
        return int.from_bytes(raw, "big") if len(raw) == {"u32": 4, "u16": 2, "u8": 1}[kind] else None
    if kind == "str":
        return raw.decode("latin-1")
    if kind == "codes":
        return tuple(raw)
    return raw


@dataclass(frozen=True, slots=True)
class DHCPMessage:
    """A DHCP message: BOOTP's fields and the options, in order, as ``(code, value bytes)``.

    ``DHCPMessage.make("DISCOVER", mac, xid=7, requested_ip="10.0.0.9")``
    builds one from named options; :meth:`get` reads an option typed
    (``m.get("lease_time")`` -> 3600). ``parse(pack(m)) == m``.
    """

    op: int = BOOTREQUEST
    htype: int = 1
    hlen: int = 6
    hops: int = 0
    xid: int = 0
    secs: int = 0
    flags: int = 0
    ciaddr: IPv4Address = _ZERO
    yiaddr: IPv4Address = _ZERO
    siaddr: IPv4Address = _ZERO
    giaddr: IPv4Address = _ZERO
    chaddr: bytes = bytes(16)
    sname: bytes = b""
    file: bytes = b""
    options: tuple[tuple[int, bytes], ...] = ()

    def __post_init__(self) -> None:
        for name, top in (("op", 0xFF), ("htype", 0xFF), ("hlen", 0xFF), ("hops", 0xFF),
                          ("xid", 0xFFFFFFFF), ("secs", 0xFFFF), ("flags", 0xFFFF)):
            v = getattr(self, name)
            if type(v) is not int or not 0 <= v <= top:
                raise LabkitValueError(f"{name}={v!r}: expected an int 0..{top}")
        for name in ("ciaddr", "yiaddr", "siaddr", "giaddr"):
            v = getattr(self, name)
            if type(v) is not IPv4Address:
                try:
                    object.__setattr__(self, name, IPv4Address(v))
                except ValueError:
                    raise LabkitValueError(f"{name}={v!r}: expected an IPv4 address") from None
        ch = self.chaddr
        if isinstance(ch, (MACAddress, str)):
            ch = MACAddress(ch).packed
        if not isinstance(ch, (bytes, bytearray)) or len(ch) > 16:
            raise LabkitValueError(f"chaddr={self.chaddr!r}: expected a MAC address or up to 16 bytes")
        object.__setattr__(self, "chaddr", bytes(ch).ljust(16, b"\0"))
        for name, size in (("sname", 64), ("file", 128)):
            v = getattr(self, name)
            if isinstance(v, str):
                v = v.encode()
            if not isinstance(v, (bytes, bytearray)) or len(v) > size:
                raise LabkitValueError(f"{name}={getattr(self, name)!r}: at most {size} bytes")
            object.__setattr__(self, name, bytes(v).rstrip(b"\0"))
        opts = []
        for item in self.options:
            code, value = item
            if type(code) is not int or not 1 <= code <= 254 or not isinstance(value, (bytes, bytearray)) \
                    or len(value) > 255:
                raise LabkitValueError(f"option {item!r}: expected (code 1..254, up to 255 bytes)")
            opts.append((code, bytes(value)))
        object.__setattr__(self, "options", tuple(opts))

    # ------------------------------------------------------------------ making and reading

    @classmethod
    def make(cls, message_type: str | int, chaddr: object, *, xid: int = 0, op: int | None = None,
             broadcast: bool = False, **fields_and_options: Any) -> DHCPMessage:
        """A message of ``message_type`` from ``chaddr``; other keywords are fields or options."""
        mt = message_type if type(message_type) is int else MESSAGE_TYPES[str(message_type).upper()]
        opts = [(53, bytes((mt,)))]
        fields: dict[str, Any] = {}
        for key, value in fields_and_options.items():
            if key in OPTIONS:
                if value is None:
                    continue
                code, kind = OPTIONS[key]
                opts.append((code, _encode(kind, key, value)))
            elif key in DHCPMessage.__dataclass_fields__:
                fields[key] = value
            else:
                raise LabkitValueError(f"{key}: neither a DHCP field nor an option "
                                       f"({', '.join(OPTIONS)})")
        if op is None:
            op = BOOTREPLY if mt in (2, 5, 6) else BOOTREQUEST
        mac = chaddr if isinstance(chaddr, bytes) else MACAddress(chaddr).packed  # type: ignore[arg-type]
        return cls(op=op, xid=xid, flags=BROADCAST_FLAG if broadcast else 0, chaddr=mac,
                   options=tuple(opts), **fields)

    def get(self, name: str) -> Any:
        """An option by name, typed (an address, a tuple of them, an int, text), or None."""
        code, kind = OPTIONS[name]
        for c, v in self.options:
            if c == code:
                return _decode(kind, v)
        return None

    @property
    def message_type(self) -> str | None:
        """``"DISCOVER"``, ``"OFFER"``... or None for a message without option 53 (plain BOOTP)."""
        t = self.get("message_type")
        return None if t is None else _TYPE_NAMES.get(t, str(t))

    @property
    def mac(self) -> MACAddress:
        """The client's hardware address (the first ``hlen`` bytes of chaddr, an Ethernet MAC)."""
        return MACAddress(self.chaddr[:6])

    @property
    def broadcast(self) -> bool:
        return bool(self.flags & BROADCAST_FLAG)

    def summary(self) -> str:
        t = self.message_type or "BOOTP"
        extra = f" yiaddr={self.yiaddr}" if self.yiaddr != _ZERO else ""
        return f"DHCP {t} xid={self.xid:#010x} from {self.mac}{extra}"

    def named_options(self) -> list[tuple[str, Any]]:
        """The options as (name, typed value), unknown ones as ("option N", bytes)."""
        out = []
        for c, v in self.options:
            if c in _BY_CODE:
                name, kind = _BY_CODE[c]
                val = _decode(kind, v)
                if name == "message_type" and val in _TYPE_NAMES:
                    val = _TYPE_NAMES[val]
                out.append((name, v if val is None else val))
            else:
                out.append((f"option {c}", v))
        return out

    # ------------------------------------------------------------------ the wire

    def pack(self) -> bytes:
        opts = b"".join(bytes((c, len(v))) + v for c, v in self.options)
        return _FIXED.pack(
            self.op, self.htype, self.hlen, self.hops, self.xid, self.secs, self.flags,
            self.ciaddr.packed, self.yiaddr.packed, self.siaddr.packed, self.giaddr.packed,
            self.chaddr, self.sname, self.file) + MAGIC_COOKIE + opts + b"\xff"

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> DHCPMessage:
        """A message from its bytes; a :class:`~labkit.errors.ParseError` names what is wrong."""
        raw = parse_input(data, _LAYER, _FIXED.size + 4,
                          f"shorter than the {_FIXED.size}-byte header and the magic cookie")
        n = len(raw)
        (op, htype, hlen, hops, xid, secs, flags, ci, yi, si, gi, ch, sname, file) = \
            _FIXED.unpack_from(raw)
        cookie = raw[_FIXED.size:_FIXED.size + 4]
        if cookie != MAGIC_COOKIE:
            raise ParseError(_LAYER, "magic cookie", cookie.hex(), "expected 63825363 (DHCP)")
        if hlen > 16:
            raise ParseError(_LAYER, "hlen", hlen, "more than chaddr's 16 bytes")
        opts = []
        p = _FIXED.size + 4
        while p < n:
            code = raw[p]
            if code == 0:
                p += 1
                continue
            if code == 255:
                break
            if p + 1 >= n:
                raise ParseError(_LAYER, f"option {code}", p, "its length byte is cut off")
            length = raw[p + 1]
            if p + 2 + length > n:
                raise ParseError(_LAYER, f"option {code} length", length,
                                 f"runs past the end of the message ({n - p - 2} bytes left)")
            opts.append((code, raw[p + 2:p + 2 + length]))
            p += 2 + length
        return cls(op=op, htype=htype, hlen=hlen, hops=hops, xid=xid, secs=secs, flags=flags,
                   ciaddr=IPv4Address(ci), yiaddr=IPv4Address(yi), siaddr=IPv4Address(si),
                   giaddr=IPv4Address(gi), chaddr=ch, sname=sname, file=file, options=tuple(opts))


# --------------------------------------------------------------------------- on a stack


def _udp_hook(stack: Any, port: int, handler: Callable[[IPv4Packet, UDPDatagram, int], Any]) -> None:
    """Take the UDP datagrams for ``port`` off ``stack``, passing the rest to its UDP handler."""
    previous = stack.protocols.get(17)

    def arrive(packet: IPv4Packet, now: int) -> None:
        try:
            d = UDPDatagram.parse(packet.payload, packet.src, packet.dst)
        except ParseError:
            if previous is not None:
                previous(packet, now)
            return
        if d.dst_port == port:
            handler(packet, d, now)
        elif previous is not None:
            previous(packet, now)

    stack.register(17, arrive)


def _udp(sport: int, dport: int, payload: bytes, src: IPv4Address, dst: IPv4Address) -> bytes:
    return UDPDatagram(sport, dport, payload).pack(src, dst)


@dataclass
class Lease:
    """An address the server has offered or given to a client (by its MAC)."""

    mac: bytes
    ip: IPv4Address
    expires: int  # ns
    state: str  # "offered" or "bound"


class DHCPServer:
    """A DHCP server on a node's IP stack: hands out ``pool`` addresses for ``lease_time`` s.

    ``pool`` is a range (``("10.0.0.100", "10.0.0.149")``) in ``network``.
    An offer holds its address for ``offer_hold`` seconds; past that (or once
    the pool is used up, the oldest expired first) it goes back to the pool,
    so a flood of DISCOVERs from made-up MACs cannot keep it for long, and
    the table never holds more entries than the pool has addresses.
    """

    def __init__(self, stack: Any, *, network: str, pool: tuple[str, str], router: str | None = None,
                 dns_servers: Iterable[str] = (), lease_time: int = 3600, offer_hold: float = 10.0,
                 interface: str | None = None, domain_name: str | None = None) -> None:
        self.stack = stack
        self.clock = stack.clock
        self.network = IPv4Network(network)
        lo, hi = IPv4Address(pool[0]), IPv4Address(pool[1])
        if lo not in self.network or hi not in self.network or hi < lo:
            raise LabkitValueError(f"pool={pool!r}: not a range inside {self.network}")
        self.pool = [IPv4Address(i) for i in range(int(lo), int(hi) + 1)]
        self.router = IPv4Address(router) if router else None
        self.dns_servers = [IPv4Address(d) for d in dns_servers]
        self.lease_time = int(lease_time)
        self.offer_hold = int(offer_hold * 1e9)
        self.domain_name = domain_name
        self.interface = interface or next(iter(stack.ports))
        self.server_id: IPv4Address = stack.ports[self.interface].ip.ip
        self.leases: dict[bytes, Lease] = {}
        self.declined: dict[IPv4Address, int] = {}  # address -> until when it is not offered
        self.log: list[tuple[int, str, str, str]] = []  # (ns, received, mac, answered)
        #: A switched-off server hears nothing (for lessons and tests of renewal and rebinding).
        self.enabled = True
        _udp_hook(stack, SERVER_PORT, self._arrive)

    # ------------------------------------------------------------------ the pool

    def _in_use(self, now: int) -> dict[IPv4Address, Lease]:
        return {lease.ip: lease for lease in self.leases.values() if lease.expires > now}

    def _pick(self, mac: bytes, requested: IPv4Address | None, now: int) -> IPv4Address | None:
        old = self.leases.get(mac)
        if old is not None and (old.expires > now or old.ip not in self._in_use(now)):
            return old.ip
        used = self._in_use(now)
        free = [a for a in self.pool if a not in used and self.declined.get(a, 0) <= now]
        if not free:
            return None
        # forget expired entries, so the table stays as small as the pool
        for m, lease in list(self.leases.items()):
            if lease.expires <= now:
                del self.leases[m]
        if requested is not None and requested in free:
            return requested
        return free[0]

    def _options(self, lease: bool) -> dict[str, Any]:
        o: dict[str, Any] = {"server_id": self.server_id, "subnet_mask": self.network.netmask,
                             "router": self.router, "domain_name": self.domain_name}
        if self.dns_servers:
            o["dns_servers"] = self.dns_servers
        if lease:
            o["lease_time"] = self.lease_time
            o["renewal_time"] = self.lease_time // 2
            o["rebinding_time"] = self.lease_time * 7 // 8
        return o

    # ------------------------------------------------------------------ answering

    def handle(self, m: DHCPMessage, now: int) -> DHCPMessage | None:
        """The answer to one client message (pure logic, time passed in), or None."""
        if m.op != BOOTREQUEST:
            return None
        t = m.message_type
        mac = m.chaddr[:6]
        reply: dict[str, Any] = dict(xid=m.xid, broadcast=m.broadcast, giaddr=m.giaddr, hops=0)
        if t == "DISCOVER":
            ip = self._pick(mac, m.get("requested_ip"), now)
            if ip is None:
                return None  # pool exhausted: stay silent, as servers do
            self.leases[mac] = Lease(mac, ip, now + self.offer_hold, "offered")
            return DHCPMessage.make("OFFER", mac, yiaddr=ip, siaddr=self.server_id,
                                    **reply, **self._options(True))
        if t == "REQUEST":
            sid = m.get("server_id")
            lease = self.leases.get(mac)
            if sid is not None and sid != self.server_id:  # the client chose another server
                if lease is not None and lease.state == "offered":
                    del self.leases[mac]
                return None
            want = m.get("requested_ip") or (m.ciaddr if m.ciaddr != _ZERO else None)
            if lease is None or want is None or want != lease.ip or (
                    lease.state == "bound" and lease.expires <= now):
                if lease is None and sid is None and want is not None and want not in self.network:
                    return DHCPMessage.make("NAK", mac, server_id=self.server_id,
                                            message="wrong network", **reply)
                if lease is None and sid is None:
                    return None  # INIT-REBOOT for an address we know nothing of: silence
                if lease is not None and lease.state == "offered" and lease.expires <= now:
                    del self.leases[mac]
                return DHCPMessage.make("NAK", mac, server_id=self.server_id,
                                        message="address not available", **reply)
            lease.state = "bound"
            lease.expires = now + self.lease_time * 1_000_000_000
            return DHCPMessage.make("ACK", mac, yiaddr=lease.ip, ciaddr=m.ciaddr,
                                    siaddr=self.server_id, **reply, **self._options(True))
        if t == "DECLINE":
            ip = m.get("requested_ip")
            if ip is not None:
                self.declined[ip] = now + 600 * 1_000_000_000  # someone else has it
            self.leases.pop(mac, None)
            return None
        if t == "RELEASE":
            lease = self.leases.get(mac)
            if lease is not None and lease.ip == m.ciaddr:
                del self.leases[mac]
            return None
        if t == "INFORM":
            return DHCPMessage.make("ACK", mac, ciaddr=m.ciaddr, **reply, **self._options(False))
        return None

    def _arrive(self, packet: IPv4Packet, d: UDPDatagram, now: int) -> None:
        if not self.enabled:
            return
        try:
            m = DHCPMessage.parse(d.payload)
        except ParseError:
            return
        out = self.handle(m, now)
        self.log.append((now, m.message_type or "BOOTP", str(m.mac),
                         out.message_type or "" if out is not None else ""))
        if out is None:
            return
        if m.giaddr != _ZERO:  # through a relay: back to it, port 67
            self.stack.send(m.giaddr, 17, _udp(SERVER_PORT, SERVER_PORT, out.pack(),
                                               self.server_id, m.giaddr), src=self.server_id)
        elif m.ciaddr != _ZERO and not m.broadcast and out.message_type != "NAK":
            self.stack.send(m.ciaddr, 17, _udp(SERVER_PORT, CLIENT_PORT, out.pack(),
                                               self.server_id, m.ciaddr), src=self.server_id)
        else:
            self.stack.send_broadcast(self.interface, 17, _udp(SERVER_PORT, CLIENT_PORT, out.pack(),
                                                               self.server_id, _BCAST_IP),
                                      src=self.server_id)

    @property
    def bound(self) -> int:
        now = self.clock.now()
        return sum(1 for x in self.leases.values() if x.state == "bound" and x.expires > now)


class DHCPRelay:
    """A relay agent (RFC 2131 4.1, RFC 1542) on a router: broadcasts to ``server``, and back.

    A client's broadcast arriving on one of the router's interfaces is sent on,
    unicast, to the server, with ``giaddr`` set to that interface's address;
    the server's answer (to giaddr, port 67) is broadcast back out of it.
    """

    def __init__(self, stack: Any, server: str) -> None:
        self.stack = stack
        self.server = IPv4Address(server)
        self.relayed = {"to server": 0, "to client": 0}
        _udp_hook(stack, SERVER_PORT, self._arrive)

    def _arrive(self, packet: IPv4Packet, d: UDPDatagram, now: int) -> None:
        try:
            m = DHCPMessage.parse(d.payload)
        except ParseError:
            return
        if m.op == BOOTREQUEST:
            if m.hops >= 16:
                return
            port = self.stack.ports.get(self.stack.arrival)
            if port is None or port.ip is None:
                return
            gi = m.giaddr if m.giaddr != _ZERO else port.ip.ip
            fwd = _replace(m, giaddr=gi, hops=m.hops + 1)
            src = self.stack.ports[self.stack.routes.lookup(self.server).interface].ip.ip
            self.stack.send(self.server, 17, _udp(SERVER_PORT, SERVER_PORT, fwd.pack(), src,
                                                  self.server))
            self.relayed["to server"] += 1
        elif m.op == BOOTREPLY:
            for name, port in self.stack.ports.items():
                if port.ip is not None and port.ip.ip == m.giaddr:
                    self.stack.send_broadcast(name, 17, _udp(SERVER_PORT, CLIENT_PORT, m.pack(),
                                                             m.giaddr, _BCAST_IP), src=m.giaddr)
                    self.relayed["to client"] += 1
                    return


def _replace(m: DHCPMessage, **changes: Any) -> DHCPMessage:
    from dataclasses import replace
    return replace(m, **changes)


@dataclass
class _Timers:
    items: list[Any] = field(default_factory=list)

    def cancel(self) -> None:
        for t in self.items:
            t.cancel()
        self.items.clear()


class DHCPClient:
    """A DHCP client on one interface of a host's IP stack (RFC 2131 figure 5, RFC 5227).

    ``probes`` ARP probes go out ``probe_wait`` seconds apart and the address
    is announced ``probe_wait`` after the last: a shortened RFC 5227 (whose
    PROBE_NUM is 3, 1 to 2 s apart at random, then ANNOUNCE_WAIT of 2 s), so
    a lesson's clock stays short.

    :meth:`start` begins in INIT. ``state`` is the RFC's name; ``history`` is
    a list of (seconds, event) for the lease timeline; ``address`` the bound
    address (with its prefix) or None. ``rng`` (a NumPy Generator) draws the
    transaction ids and the retransmission jitter.
    """

    def __init__(self, stack: Any, rng: Any, *, interface: str | None = None,
                 hostname: str | None = None, probes: int = 2, probe_wait: float = 1.0,
                 retry: float = 4.0) -> None:
        self.stack = stack
        self.clock = stack.clock
        self.rng = rng
        self.interface = interface or next(iter(stack.ports))
        self.mac = stack.ports[self.interface].iface.mac
        self.hostname = hostname
        self.probes = probes
        self.probe_wait = int(probe_wait * 1e9)
        self.retry = int(retry * 1e9)
        self.state = "INIT"
        self.address: IPv4Interface | None = None
        self.server: IPv4Address | None = None
        self.lease: tuple[int, int, int] | None = None  # (T1, T2, expiry) in ns
        self.history: list[tuple[float, str]] = []
        self.sent: list[str] = []
        self._xid = 0
        self._offer: DHCPMessage | None = None
        self._timers = _Timers()
        self._tries = 0
        self._conflict = False
        _udp_hook(stack, CLIENT_PORT, self._arrive)
        stack.arp_listeners.append(self._arp)

    # ------------------------------------------------------------------ helpers

    def _note(self, event: str) -> None:
        self.history.append((self.clock.now() / 1e9, event))

    def _at(self, t: int, fn: Callable[..., Any], *args: Any) -> None:
        self._timers.items.append(self.clock.call_at(t, fn, *args))

    def _send(self, m: DHCPMessage, unicast_to: IPv4Address | None = None) -> None:
        self.sent.append(m.message_type or "")
        if unicast_to is not None and self.address is not None:
            src = self.address.ip
            self.stack.send(unicast_to, 17, _udp(CLIENT_PORT, SERVER_PORT, m.pack(), src, unicast_to))
            return
        src = self.address.ip if self.address is not None else _ZERO
        self.stack.send_broadcast(self.interface, 17,
                                  _udp(CLIENT_PORT, SERVER_PORT, m.pack(), src, _BCAST_IP), src=src)

    def _backoff(self) -> int:
        """RFC 2131 4.1: 4 s, 8 s, ... up to 64 s, each +-1 s at random."""
        base = min(self.retry << min(self._tries, 4), 64_000_000_000)
        return max(1, base + int(self.rng.uniform(-1e9, 1e9)))

    # ------------------------------------------------------------------ the states

    def start(self) -> None:
        """Begin (or begin again) from INIT: DISCOVER."""
        self._timers.cancel()
        self.state = "SELECTING"
        self._xid = int(self.rng.integers(0, 2**32))
        self._tries = 0
        self._discover()

    def _discover(self) -> None:
        if self.state != "SELECTING":
            return
        self._note("DISCOVER")
        self._send(DHCPMessage.make("DISCOVER", self.mac, xid=self._xid, broadcast=True,
                                    parameter_request_list=[1, 3, 6, 15, 51, 58, 59],
                                    hostname=self.hostname))
        self._tries += 1
        self._at(self.clock.now() + self._backoff(), self._discover)

    def _request(self) -> None:
        if self.state != "REQUESTING" or self._offer is None:
            return
        o = self._offer
        self._note("REQUEST")
        self._send(DHCPMessage.make("REQUEST", self.mac, xid=self._xid, broadcast=True,
                                    requested_ip=o.yiaddr, server_id=o.get("server_id"),
                                    hostname=self.hostname))
        self._tries += 1
        if self._tries > 4:
            self.start()
            return
        self._at(self.clock.now() + self._backoff(), self._request)

    def _arrive(self, packet: IPv4Packet, d: UDPDatagram, now: int) -> None:
        try:
            m = DHCPMessage.parse(d.payload)
        except ParseError:
            return
        if m.op != BOOTREPLY or m.xid != self._xid or m.chaddr[:6] != self.mac:
            return
        t = m.message_type
        if t == "OFFER" and self.state == "SELECTING":
            self._timers.cancel()
            self._offer = m
            self._note(f"OFFER {m.yiaddr}")
            self.state = "REQUESTING"
            self._tries = 0
            self._request()
        elif t == "ACK" and self.state in ("REQUESTING", "RENEWING", "REBINDING"):
            self._timers.cancel()
            self._note(f"ACK {m.yiaddr}")
            if self.state == "REQUESTING":
                self._probe(m, 0)
            else:
                self._bind(m)
        elif t == "NAK" and self.state in ("REQUESTING", "RENEWING", "REBINDING"):
            self._note("NAK")
            self._unbind()
            self.start()

    def _probe(self, ack: DHCPMessage, k: int) -> None:
        """RFC 5227: ARP requests from 0.0.0.0 for the address; any answer is a conflict."""
        if k == 0:
            self.state = "PROBING"
            self._conflict = False
            self._probing = ack.yiaddr
        if self._conflict:
            return
        if k < self.probes:
            self._note(f"ARP probe {ack.yiaddr}")
            probe = ARPPacket.request(MACAddress(self.mac), _ZERO, ack.yiaddr)
            self.stack.send_frame(self.interface, BROADCAST, EtherType.ARP, probe.pack())
            self._at(self.clock.now() + self.probe_wait, self._probe, ack, k + 1)
            return
        self._bind(ack)

    def _arp(self, interface: str, arp: ARPPacket, now: int) -> None:
        if interface != self.interface or self.state != "PROBING":
            return
        if arp.sender_ip == self._probing and arp.sender_mac.packed != self.mac:
            self._conflict = True
            self._timers.cancel()
            self._note(f"conflict: {arp.sender_ip} is at {arp.sender_mac}")
            self.state = "INIT"
            o = self._offer
            self._send(DHCPMessage.make("DECLINE", self.mac, xid=self._xid,
                                        requested_ip=self._probing,
                                        server_id=o.get("server_id") if o else None))
            self._at(now + 10_000_000_000, self.start)  # RFC 2131 3.1.5: wait 10 s

    def _bind(self, ack: DHCPMessage) -> None:
        now = self.clock.now()
        mask = ack.get("subnet_mask") or IPv4Address("255.255.255.0")
        addr = IPv4Interface(f"{ack.yiaddr}/{mask}")
        routers = ack.get("router")
        if self.address != addr:
            self.stack.configure(self.interface, addr, gateway=routers[0] if routers else None)
            if self.state == "PROBING":  # announce it (RFC 5227 2.3)
                self.stack.send_frame(self.interface, BROADCAST, EtherType.ARP,
                                      ARPPacket.gratuitous(MACAddress(self.mac), ack.yiaddr).pack())
        self.address = addr
        self.server = ack.get("server_id")
        lease = ack.get("lease_time") or 3600
        t1 = ack.get("renewal_time") or lease // 2
        t2 = ack.get("rebinding_time") or lease * 7 // 8
        s = 1_000_000_000
        self.lease = (now + t1 * s, now + t2 * s, now + lease * s)
        self.dns_servers = list(ack.get("dns_servers") or ())
        self.state = "BOUND"
        self._note(f"BOUND {addr} for {lease} s")
        self._at(self.lease[0], self._renew)
        self._at(self.lease[1], self._rebind)
        self._at(self.lease[2], self._expire)

    def _renew(self) -> None:
        if self.state not in ("BOUND", "RENEWING"):
            return
        self._note("T1: RENEW" if self.state == "BOUND" else "RENEW again")
        self.state = "RENEWING"
        self._send(DHCPMessage.make("REQUEST", self.mac, xid=self._xid, ciaddr=self.address.ip
                                    if self.address else _ZERO), unicast_to=self.server)
        self._retry_until(self.lease[1] if self.lease else 0, self._renew)

    def _rebind(self) -> None:
        if self.state not in ("RENEWING", "REBINDING"):
            return
        self._note("T2: REBIND" if self.state == "RENEWING" else "REBIND again")
        self.state = "REBINDING"
        self._send(DHCPMessage.make("REQUEST", self.mac, xid=self._xid, ciaddr=self.address.ip
                                    if self.address else _ZERO))
        self._retry_until(self.lease[2] if self.lease else 0, self._rebind)

    def _retry_until(self, deadline: int, fn: Callable[[], Any]) -> None:
        """RFC 2131 4.4.5: try again after half the time left, but not sooner than 1 s here."""
        now = self.clock.now()
        nxt = now + max((deadline - now) // 2, 1_000_000_000)
        if nxt < deadline:
            self._at(nxt, fn)

    def _expire(self) -> None:
        if self.state not in ("RENEWING", "REBINDING", "BOUND"):
            return
        self._note("lease expired")
        self._unbind()
        self.start()

    def _unbind(self) -> None:
        self._timers.cancel()
        if self.address is not None:
            self.stack.configure(self.interface, None)
        self.address = None
        self.state = "INIT"

    def release(self) -> None:
        """Give the address back (DHCPRELEASE) and stop."""
        if self.address is not None and self.server is not None:
            self._send(DHCPMessage.make("RELEASE", self.mac, xid=self._xid, ciaddr=self.address.ip,
                                        server_id=self.server), unicast_to=self.server)
        self._note("RELEASE")
        self._unbind()
