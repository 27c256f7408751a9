"""UDP and TCP for one host, and a ``socket``-shaped API on top, for the virtual clock.

:class:`Transport` sits on a host's IP layer. It demultiplexes what arrives:
UDP by destination port, TCP by the four-tuple (local port, remote address,
remote port) and then by listening port; it answers a TCP segment for no
connection with RST and a UDP datagram for a closed port with ICMP "port
unreachable" (if the IP layer offers one). It hands out ephemeral ports, runs
each connection's timers on the simulation clock, and sends what connections
and sockets produce.

:class:`Socket` reads like Python's own ``socket`` module, so notebook code
for the simulated network looks like the real-socket code of notebook 08::

    server = b.transport.socket(SOCK_STREAM)
    server.bind(("0.0.0.0", 80))
    server.listen()
    client = a.transport.socket(SOCK_STREAM)
    client.connect(("192.168.1.20", 80))
    conn, peer = server.accept()
    client.sendall(b"hello")
    conn.recv(1024)

A server inside the simulation cannot sit in a blocking ``accept``/``recv``
loop: the simulation runs one thing at a time, so the client would never get
a turn. It registers callbacks instead, and the simulation calls them as
segments arrive (the shape of asyncio's protocols, or of a selectors loop)::

    def connected(sock, peer):
        sock.on_data(lambda data: sock.sendall(data.upper()))   # bytes as they arrive
        sock.on_close(lambda: sock.close())                     # the peer's FIN (or a reset)
    server.on_connection(connected)

In this event mode ``sendall`` never blocks: what does not fit in the send
buffer waits in the socket and follows as acknowledgements make room, and
``close`` sends its FIN after it.

A call that would block runs the simulation until it can go on, or until its
timeout (``settimeout``, in seconds of *virtual* time; by default 60 s) runs
out: then it raises ``TimeoutError``. If nothing is left to happen in the
simulation, it raises at once instead of waiting for ever. Errors are
labkit's own, and also the built-in ones Python's sockets raise
(``ConnectionRefusedError``, ``ConnectionResetError``, ``TimeoutError``,
``OSError`` for a port in use), so ``except`` clauses read the same.

The two things this module needs from below are small, and written as
protocols: an :class:`IPService` (send a payload to an address with a
protocol number; call a handler for each arriving IPv4 packet of a protocol;
:class:`labkit.net.stack.IPStack` is one) and a
:class:`~labkit.link.interface.WaitingClock` (the time, timers, and letting
time pass until a condition holds). :func:`labkit.sim.stacks.install_transport`
puts both together for every host of a :class:`labkit.sim.Network`, and
:func:`labkit.sim.stacks.socket` makes a socket on a host; this module never
imports the simulator. A transport's TCP connections are made by its ``tcp``
factory (labkit's :class:`~labkit.transport.tcp_connection.TCPConnection` by
default): the place a learner's TCP plugs in.
"""

from __future__ import annotations

import errno
from collections import deque
from collections.abc import Callable
from ipaddress import IPv4Address
from typing import Any, Protocol, TypeVar

from labkit._moved import moved
from labkit.errors import LabkitError, LabkitValueError, ParseError
from labkit.link.interface import WaitingClock
from labkit.net.icmp import ICMPMessage, Unreachable
from labkit.net.ipv4 import ICMP, IPv4Packet
from labkit.transport import tcp as tcp_wire
from labkit.transport import udp as udp_wire
from labkit.transport.ports import PortAllocator, check_port
from labkit.transport.tcp import TCPSegment
from labkit.transport.tcp_connection import (
    ConnectionClosed,
    State,
    TCPConfig,
    TCPConnection,
    rst_for,
)
from labkit.transport.udp import UDPDatagram

__all__ = [
    "AF_INET",
    "SOCK_STREAM",
    "SOCK_DGRAM",
    "SHUT_RD",
    "SHUT_WR",
    "SHUT_RDWR",
    "SOL_SOCKET",
    "SO_KEEPALIVE",
    "IPPROTO_TCP",
    "TCP_NODELAY",
    "IPService",
    "Clock",
    "Transport",
    "Socket",
    "SocketError",
    "AddressInUse",
    "SocketTimeout",
    "ConnectionClosed",
    "TCPFactory",
]

# Moved to the wiring module above the layers (or, for summarise, to its own module); kept
# importable from here so that notebooks saved before the move still run (PEP 562: imported
# on first use only, so importing this module imports no simulator).
_MOVED = {
    "NodeClock": "labkit.sim.stacks",
    "install_transport": "labkit.sim.stacks",
    "socket": "labkit.sim.stacks",
    "summarise": "labkit.transport.summary",
}


__getattr__, __dir__ = moved(__name__, _MOVED)

_T = TypeVar("_T")
#: How many dropped segments a transport remembers (a flood must not grow memory).
DROPPED_KEPT = 1000

AF_INET = 2
SOCK_STREAM = 1
SOCK_DGRAM = 2
# the values of Python's socket module on Linux, so code written for real sockets reads the same
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
SOL_SOCKET, SO_KEEPALIVE = 1, 9
IPPROTO_TCP, TCP_NODELAY = 6, 1
DEFAULT_TIMEOUT = 60.0
_NS = 1_000_000_000


class SocketError(LabkitError, OSError):
    """A socket was used wrongly (closed, not connected, wrong type...)."""


class AddressInUse(SocketError):
    """bind() to a port another socket holds."""

    def __init__(self, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"address already in use: port {port}")


class IPService(Protocol):
    """What the transport layer needs from the host's IP layer."""

    @property
    def addresses(self) -> list[IPv4Address]: ...

    def send(self, dst: IPv4Address, protocol: int, payload: bytes) -> Any: ...

    def register(self, protocol: int, handler: Callable[[IPv4Packet, int], Any]) -> None: ...


#: What the transport layer needs from the host's clock (kept under its old name).
Clock = WaitingClock

#: Makes a TCP connection: ``tcp(local_port, remote_port, *, iss, config, name)``, as
#: :class:`~labkit.transport.tcp_connection.TCPConnection` does (the default).
TCPFactory = Callable[..., TCPConnection]


def _ip(value: object, name: str = "address") -> IPv4Address:
    try:
        return value if isinstance(value, IPv4Address) else IPv4Address(str(value))
    except ValueError:
        raise LabkitValueError(f"{name}={value!r}: not an IPv4 address") from None


def _address(value: object) -> tuple[IPv4Address, int]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise LabkitValueError(f"address={value!r}: expected a tuple (host, port)")
    return _ip(value[0]), check_port(value[1])


class Transport:
    """UDP and TCP for one host (see the module docstring)."""

    @property
    def address(self) -> IPv4Address:
        """The address this host's sockets use: the IP layer's first, read when it is needed.

        A host that gets its address from DHCP has none when its transport is
        installed; its sockets work once the lease is bound.
        """
        addresses = self.ip.addresses
        if not addresses:
            raise LabkitValueError(f"{self.name or 'host'}: the IP layer has no address to send "
                                   "from (yet: a DHCP client gets one when its lease is bound)")
        return addresses[0]

    def __init__(self, ip: IPService, clock: WaitingClock, rng: Any, *,
                 tcp_config: TCPConfig | None = None, tcp: TCPFactory | None = None,
                 name: str = "") -> None:
        if tcp is not None and not callable(tcp):
            raise LabkitValueError(
                f"tcp={tcp!r}: expected a factory tcp(local_port, remote_port, *, iss, config, name) "
                "that makes a connection, as labkit.transport.TCPConnection does")
        self.ip = ip
        self.clock = clock
        self.rng = rng
        self.name = name
        self.tcp_config = tcp_config or TCPConfig()
        #: Makes this host's TCP connections.
        self.tcp: TCPFactory = tcp if tcp is not None else TCPConnection
        self.ports = {6: PortAllocator(rng), 17: PortAllocator(rng)}
        self.udp_sockets: dict[int, Socket] = {}
        self.listeners: dict[int, Socket] = {}
        self.connections: dict[tuple[int, IPv4Address, int], TCPConnection] = {}
        self._owners: dict[TCPConnection, Socket] = {}
        self._timers: dict[TCPConnection, tuple[int, Any]] = {}
        self._remote: dict[TCPConnection, IPv4Address] = {}
        #: every TCP connection this host has had, for plots and checks
        self.history: list[TCPConnection] = []
        #: (time, why) for the last DROPPED_KEPT segments nobody could take, newest last
        self.dropped: deque[tuple[int, str]] = deque(maxlen=DROPPED_KEPT)
        ip.register(tcp_wire.PROTOCOL, self._tcp_arrives)
        ip.register(udp_wire.PROTOCOL, self._udp_arrives)

    # ------------------------------------------------------------------ sockets
    def socket(self, family: int = AF_INET, type: int = SOCK_STREAM) -> Socket:  # noqa: A002
        """A new socket: ``SOCK_STREAM`` (TCP) or ``SOCK_DGRAM`` (UDP)."""
        if family != AF_INET:
            raise LabkitValueError(f"family={family!r}: only AF_INET (IPv4) is simulated")
        if type not in (SOCK_STREAM, SOCK_DGRAM):
            raise LabkitValueError(f"type={type!r}: SOCK_STREAM or SOCK_DGRAM")
        return Socket(self, type)

    # ------------------------------------------------------------------ TCP plumbing
    def _new_connection(self, local_port: int, remote: IPv4Address, remote_port: int) -> TCPConnection:
        conn = self.tcp(local_port, remote_port, iss=self.rng, config=self.tcp_config,
                        name=f"{self.name}:{local_port}")
        self.connections[(local_port, remote, remote_port)] = conn
        self._remote[conn] = remote
        self.history.append(conn)
        return conn

    def _flush(self, conn: TCPConnection) -> None:
        remote = self._remote.get(conn)
        if remote is None:  # already forgotten: a closed connection has nothing to say
            conn.take_output()
            return
        for seg in conn.take_output():
            self.ip.send(remote, tcp_wire.PROTOCOL, seg.pack(self.address, remote))
        self._schedule(conn)
        if conn.state is State.CLOSED:
            self._forget(conn)

    def _schedule(self, conn: TCPConnection) -> None:
        due = conn.next_timer()
        current = self._timers.get(conn)
        if current is not None and current[0] == due:
            return
        if current is not None:
            current[1].cancel()
            del self._timers[conn]
        if due is not None:
            self._timers[conn] = (due, self.clock.call_at(due, lambda: self._fire(conn)))

    def _fire(self, conn: TCPConnection) -> None:
        self._timers.pop(conn, None)
        conn.tick(self.clock.now())
        self._flush(conn)

    def _forget(self, conn: TCPConnection) -> None:
        for key, c in list(self.connections.items()):
            if c is conn:
                del self.connections[key]
        self._remote.pop(conn, None)
        timer = self._timers.pop(conn, None)
        if timer is not None:
            timer[1].cancel()
        owner = self._owners.get(conn)
        if owner is None or owner._closed:
            self._owners.pop(conn, None)
            if not any(k[0] == conn.local_port for k in self.connections) and \
                    conn.local_port not in self.listeners:
                self.ports[6].release(conn.local_port)

    def _parse(self, parse: Callable[[bytes, IPv4Address, IPv4Address], _T], packet: IPv4Packet,
               now: int) -> _T | None:
        """``parse`` the packet's payload (checksum over its addresses); a bad one is dropped, noted."""
        try:
            return parse(packet.payload, packet.src, packet.dst)
        except ParseError as exc:
            self.dropped.append((now, str(exc)))
            return None

    def _tcp_arrives(self, packet: IPv4Packet, now: int) -> None:
        src, dst = packet.src, packet.dst
        seg = self._parse(TCPSegment.parse, packet, now)
        if seg is None:
            return
        key = (seg.dst_port, src, seg.src_port)
        conn = self.connections.get(key)
        if conn is None and seg.dst_port in self.listeners and seg.flags & tcp_wire.Flags.SYN \
                and not seg.flags & (tcp_wire.Flags.ACK | tcp_wire.Flags.RST):
            listener = self.listeners[seg.dst_port]
            if len(listener._pending) >= listener._backlog:
                self.dropped.append((now, f"SYN to port {seg.dst_port}: backlog full"))
                return
            conn = self._new_connection(seg.dst_port, src, seg.src_port)
            conn.remote_port = None  # a passive open learns the peer from its SYN
            conn.listen(now)
            conn.on_state_change = lambda c, state, t, lst=listener, peer=(src, seg.src_port): (
                lst._established(c, peer) if state is State.ESTABLISHED else None)
            listener._pending.add(conn)
        if conn is None:
            rst = rst_for(seg)
            self.dropped.append((now, f"TCP to port {seg.dst_port}: no connection"))
            if rst is not None:
                self.ip.send(src, tcp_wire.PROTOCOL, rst.pack(dst, src))
            return
        conn.segment_arrives(seg, now)
        self._flush(conn)
        accepting = self.listeners.get(seg.dst_port)
        if accepting is not None and accepting._accept_queue and accepting._on_connection is not None:
            accepting._hand_over()
        owner = self._owners.get(conn)
        if owner is not None and owner._events:
            owner._dispatch()

    # ------------------------------------------------------------------ UDP plumbing
    def _udp_arrives(self, packet: IPv4Packet, now: int) -> None:
        src, dst = packet.src, packet.dst
        datagram = self._parse(UDPDatagram.parse, packet, now)
        if datagram is None:
            return
        sock = self.udp_sockets.get(datagram.dst_port)
        if sock is None:
            self.dropped.append((now, f"UDP to port {datagram.dst_port}: port unreachable"))
            message = ICMPMessage.unreachable(Unreachable.PORT, packet)
            report = getattr(self.ip, "report_error", None)
            if report is not None:
                report(message, packet)  # the IP layer applies RFC 1122's rules
            elif dst == self.address:  # never an ICMP error about a broadcast
                self.ip.send(src, ICMP, message.pack())
            return
        sender = (str(src), datagram.src_port)
        if sock._on_datagram is not None:
            sock._on_datagram(datagram.payload, sender)
        else:
            sock._datagrams.append((datagram.payload, sender))

    def _udp_send(self, sport: int, dst: IPv4Address, dport: int, data: bytes) -> None:
        datagram = UDPDatagram(sport, dport, data)
        self.ip.send(dst, udp_wire.PROTOCOL, datagram.pack(self.address, dst))

    def wait(self, predicate: Callable[[], bool], timeout: float | None, what: str) -> None:
        """Run the simulation until ``predicate()`` holds; raise ``TimeoutError`` if it never does."""
        if predicate():
            return
        seconds = DEFAULT_TIMEOUT if timeout is None else timeout
        deadline = self.clock.now() + int(seconds * _NS)
        if not self.clock.run_until(predicate, deadline):
            raise SocketTimeout(f"{what}: timed out after {seconds:g} s of virtual time")


class SocketTimeout(SocketError, TimeoutError):
    """A blocking call's virtual timeout ran out."""

    def __init__(self, message: str) -> None:
        OSError.__init__(self, errno.ETIMEDOUT, message)


class Socket:
    """A socket on a simulated host; see the module docstring."""

    def __init__(self, transport: Transport, type: int) -> None:  # noqa: A002
        self.transport = transport
        self.type = type
        self._timeout: float | None = None
        self._port: int | None = None
        self._closed = False
        self._conn: TCPConnection | None = None
        self._peer: tuple[str, int] | None = None
        self._backlog = 0
        self._pending: set[TCPConnection] = set()
        self._accept_queue: deque[tuple[TCPConnection, tuple[str, int]]] = deque()
        self._datagrams: deque[tuple[bytes, tuple[str, int]]] = deque()
        self._on_datagram: Callable[[bytes, tuple[str, int]], Any] | None = None
        self._on_connection: Callable[[Socket, tuple[str, int]], Any] | None = None
        self._on_data: Callable[[bytes], Any] | None = None
        self._on_close: Callable[[], Any] | None = None
        self._events = False  # event mode: callbacks instead of blocking calls
        self._closed_reported = False
        self._dispatching = False
        self._out = bytearray()  # event mode: bytes waiting for room in the send buffer
        self._close_after_out = False
        self._shut_rd = False
        self._fin_after_out = False  # event mode: shutdown(SHUT_WR) with bytes still waiting
        self._options: dict[tuple[int, int], int] = {}  # set before connect: applied then

    # ------------------------------------------------------------------ common
    def settimeout(self, seconds: float | None) -> None:
        """Virtual seconds a blocking call may wait (None: the default of 60 s)."""
        if seconds is not None and seconds < 0:
            raise LabkitValueError(f"timeout={seconds!r}: cannot be negative")
        self._timeout = seconds

    def gettimeout(self) -> float | None:
        return self._timeout

    def _check_open(self) -> None:
        if self._closed:
            raise SocketError(errno.EBADF, "socket is closed")

    @property
    def _proto(self) -> int:
        return tcp_wire.PROTOCOL if self.type == SOCK_STREAM else udp_wire.PROTOCOL

    def bind(self, address: tuple[str, int]) -> None:
        """Take a local port (0: any free ephemeral port)."""
        self._check_open()
        host, port = address if isinstance(address, tuple) and len(address) == 2 else (None, None)
        if host not in ("", "0.0.0.0") and _ip(host) != self.transport.address:
            raise SocketError(errno.EADDRNOTAVAIL, f"{host} is not an address of this host")
        if self._port is not None:
            raise SocketError(errno.EINVAL, f"already bound to port {self._port}")
        self._take_port(check_port(port))

    def _take_port(self, port: int) -> int:
        allocator = self.transport.ports[self._proto]
        if port == 0:
            port = allocator.allocate()
        else:
            try:
                allocator.reserve(port)
            except LabkitValueError:
                raise AddressInUse(port) from None
        self._port = port
        if self.type == SOCK_DGRAM:
            self.transport.udp_sockets[port] = self
        return port

    def _bound_port(self) -> int:
        """The local port, taking a free ephemeral one first if unbound (as connect and sendto do)."""
        return self._port if self._port is not None else self._take_port(0)

    def getsockname(self) -> tuple[str, int]:
        return (str(self.transport.address), self._port or 0)

    def getpeername(self) -> tuple[str, int]:
        if self._peer is None:
            raise SocketError(errno.ENOTCONN, "socket is not connected")
        return self._peer

    def close(self) -> None:
        """Close; a TCP connection then finishes its FIN exchange on its own, as a kernel's does."""
        if self._closed:
            return
        if self._out and self._conn is not None and self._conn.error is None:
            self._close_after_out = True  # event mode: the FIN follows the waiting bytes
            return
        self._closed = True
        t = self.transport
        if self._conn is not None:
            self._conn.close(t.clock.now())
            # nobody reads any more: unread or later data resets the connection, as Linux does
            self._conn.close_read(t.clock.now(), reset=True)
            t._flush(self._conn)
        if self.type == SOCK_DGRAM and self._port is not None:
            t.udp_sockets.pop(self._port, None)
            t.ports[udp_wire.PROTOCOL].release(self._port)
        if self._port is not None and self._port in t.listeners and t.listeners[self._port] is self:
            del t.listeners[self._port]
            for conn in list(self._pending) + [c for c, _ in self._accept_queue]:
                conn.abort(t.clock.now())
                t._flush(conn)
            if not any(k[0] == self._port for k in t.connections):
                t.ports[6].release(self._port)

    def shutdown(self, how: int) -> None:
        """Half-close: ``SHUT_WR`` sends FIN (reading goes on), ``SHUT_RD`` stops reading, or both.

        After ``SHUT_RD``, ``recv`` returns b"" at once, and data that still
        arrives is acknowledged and thrown away (as Linux does).
        """
        conn = self._stream()
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise SocketError(errno.EINVAL, f"shutdown: how={how!r}, not SHUT_RD, SHUT_WR or SHUT_RDWR")
        now = self.transport.clock.now()
        if how in (SHUT_WR, SHUT_RDWR):
            if self._out:
                self._fin_after_out = True  # event mode: the FIN follows the waiting bytes
            else:
                conn.close(now)
        if how in (SHUT_RD, SHUT_RDWR):
            self._shut_rd = True
            conn.close_read(now)
        self.transport._flush(conn)

    def setsockopt(self, level: int, option: int, value: int | bool) -> None:
        """``TCP_NODELAY`` (level ``IPPROTO_TCP``) and ``SO_KEEPALIVE`` (level ``SOL_SOCKET``)."""
        self._check_open()
        if (level, option) not in ((IPPROTO_TCP, TCP_NODELAY), (SOL_SOCKET, SO_KEEPALIVE)):
            raise SocketError(errno.ENOPROTOOPT, f"setsockopt: option ({level}, {option}) not simulated")
        self._options[(level, option)] = int(bool(value))
        if self._conn is not None:
            self._apply_options(self._conn)

    def getsockopt(self, level: int, option: int) -> int:
        self._check_open()
        conn = self._conn
        if (level, option) == (IPPROTO_TCP, TCP_NODELAY):
            return int(conn.nodelay) if conn is not None else self._options.get((level, option), 0)
        if (level, option) == (SOL_SOCKET, SO_KEEPALIVE):
            return int(conn.keepalive) if conn is not None else self._options.get((level, option), 0)
        raise SocketError(errno.ENOPROTOOPT, f"getsockopt: option ({level}, {option}) not simulated")

    def _apply_options(self, conn: TCPConnection) -> None:
        now = self.transport.clock.now()
        for (level, option), value in self._options.items():
            if (level, option) == (IPPROTO_TCP, TCP_NODELAY) and hasattr(conn, "nodelay"):
                conn.nodelay = bool(value)
                push = getattr(conn, "push", None)
                if value and push is not None:
                    push(now)  # what Nagle held back goes now
                    self.transport._flush(conn)
            elif (level, option) == (SOL_SOCKET, SO_KEEPALIVE) and hasattr(conn, "set_keepalive"):
                conn.set_keepalive(bool(value), now)
                self.transport._flush(conn)

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ TCP
    def _stream(self) -> TCPConnection:
        self._check_open()
        if self.type != SOCK_STREAM:
            raise SocketError(errno.EOPNOTSUPP, "not a stream (SOCK_STREAM) socket")
        if self._conn is None:
            raise SocketError(errno.ENOTCONN, "socket is not connected")
        return self._conn

    def listen(self, backlog: int = 5) -> None:
        self._check_open()
        if self.type != SOCK_STREAM:
            raise SocketError(errno.EOPNOTSUPP, "listen() needs a SOCK_STREAM socket")
        port = self._bound_port()
        self._backlog = max(1, int(backlog))
        self.transport.listeners[port] = self

    def _established(self, conn: TCPConnection, peer: tuple[IPv4Address, int]) -> None:
        self._pending.discard(conn)
        conn.on_state_change = None
        self._accept_queue.append((conn, (str(peer[0]), peer[1])))
        # on_connection runs once the segment is processed (Transport._tcp_arrives)

    def _take(self) -> tuple[Socket, tuple[str, int]]:
        conn, peer = self._accept_queue.popleft()
        sock = Socket(self.transport, SOCK_STREAM)
        sock._port, sock._conn, sock._peer, sock._timeout = self._port, conn, peer, self._timeout
        self.transport._owners[conn] = sock
        sock._options = dict(self._options)  # an accepted socket inherits the options
        sock._apply_options(conn)
        return sock, peer

    def _hand_over(self) -> None:
        while self._accept_queue and self._on_connection is not None and not self._closed:
            sock, peer = self._take()
            sock._events = True
            self._on_connection(sock, peer)
            sock._dispatch()  # bytes (or a FIN) that came with the handshake

    def on_connection(self, handler: Callable[[Socket, tuple[str, int]], Any] | None) -> None:
        """Call ``handler(sock, peer)`` for each new connection, instead of queueing it for accept.

        ``sock`` is in event mode: give it :meth:`on_data` and :meth:`on_close`
        handlers in ``handler``. Connections already waiting are handed over at once.
        """
        self._check_open()
        if self.type != SOCK_STREAM or self._port not in self.transport.listeners:
            raise SocketError(errno.EINVAL, "on_connection() needs a listening SOCK_STREAM socket")
        if handler is not None and not callable(handler):
            raise LabkitValueError(f"handler={handler!r}: expected a function (sock, peer)")
        self._on_connection = handler
        self._hand_over()

    def on_data(self, handler: Callable[[bytes], Any] | None) -> None:
        """Call ``handler(data)`` with the bytes of this connection as they arrive.

        The socket switches to event mode (``sendall`` no longer blocks).
        Bytes already received are handed over at once.
        """
        self._check_handler(handler, "(data)")
        self._on_data = handler
        self._start_events()

    def on_close(self, handler: Callable[[], Any] | None) -> None:
        """Call ``handler()`` once, when the peer has closed its side (FIN) or reset the connection.

        After it, :meth:`recv` returns ``b""`` (or raises the reset); call
        :meth:`close` to finish this side too.
        """
        self._check_handler(handler, "()")
        self._on_close = handler
        self._start_events()

    def _check_handler(self, handler: object, arguments: str) -> None:
        self._stream()
        if handler is not None and not callable(handler):
            raise LabkitValueError(f"handler={handler!r}: expected a function {arguments}")

    def _start_events(self) -> None:
        """Switch to event mode and hand over what is already waiting."""
        self._events = True
        self._dispatch()

    def _dispatch(self) -> None:
        """Event mode: push waiting output, hand received bytes to on_data, report the end."""
        conn = self._conn
        if conn is None or self._dispatching:
            return
        self._dispatching = True
        try:
            t = self.transport
            self._push_out()
            while self._on_data is not None and conn.readable and not self._closed:
                data = conn.recv(conn.readable, t.clock.now())
                t._flush(conn)
                self._on_data(data)
            ended = conn.error is not None or (conn.eof and not conn.readable)
            if ended and not self._closed_reported and (
                    self._on_close is not None or self._on_data is not None):
                self._closed_reported = True
                if self._on_close is not None:
                    self._on_close()
        finally:
            self._dispatching = False

    def _push_out(self) -> None:
        conn = self._conn
        if conn is None:
            return
        t = self.transport
        if conn.error is not None:
            self._out.clear()
        while self._out and conn.send_space > 0:
            # only what fits: copying the whole backlog on every push made a big sendall in
            # event mode quadratic (a bytearray drops its front in constant time)
            n = conn.send(bytes(self._out[:conn.send_space]), t.clock.now())
            del self._out[:n]
            t._flush(conn)
        if not self._out and self._fin_after_out:
            self._fin_after_out = False
            conn.close(t.clock.now())
            t._flush(conn)
        if not self._out and self._close_after_out:
            self._close_after_out = False
            self.close()

    def accept(self) -> tuple[Socket, tuple[str, int]]:
        """Wait for a connection; return a new socket for it and the peer's address."""
        self._check_open()
        if self._port not in self.transport.listeners:
            raise SocketError(errno.EINVAL, "accept() before listen()")
        if self._on_connection is not None:
            raise SocketError(errno.EINVAL, "accept() on a listener with an on_connection handler")
        self.transport.wait(lambda: bool(self._accept_queue), self._timeout, "accept")
        return self._take()

    def connect(self, address: tuple[str, int]) -> None:
        """Open a TCP connection (three-way handshake) or, for UDP, fix the default peer."""
        self._check_open()
        remote, port = _address(address)
        t = self.transport
        local = self._bound_port()
        self._peer = (str(remote), port)
        if self.type == SOCK_DGRAM:
            return
        if self._conn is not None:
            raise SocketError(errno.EISCONN, "socket is already connected")
        key = (local, remote, port)
        if key in t.connections:
            raise AddressInUse(local)
        conn = t._new_connection(local, remote, port)
        t._owners[conn] = self
        self._conn = conn
        self._apply_options(conn)
        conn.connect(t.clock.now())
        t._flush(conn)
        t.wait(lambda: conn.state is not State.SYN_SENT, self._timeout, "connect")
        if conn.error is not None:
            raise conn.error
        if conn.state is not State.ESTABLISHED and conn.state is not State.CLOSE_WAIT:
            raise SocketError(errno.ECONNABORTED, f"connect: connection ended up {conn.state}")

    def send(self, data: bytes) -> int:
        """Queue bytes in the send buffer; waits only while it is full. Returns bytes taken."""
        conn = self._stream()
        t = self.transport
        if conn.error is not None:
            raise conn.error
        t.wait(lambda: conn.send_space > 0 or conn.error is not None, self._timeout, "send")
        if conn.error is not None:
            raise conn.error
        n = conn.send(bytes(data), t.clock.now())
        t._flush(conn)
        return n

    def sendall(self, data: bytes) -> None:
        """Queue all of ``data`` (as the kernel does: it returns before the peer has read it)."""
        view = bytes(data)
        if self._events:  # never block inside a callback: keep what does not fit
            conn = self._stream()
            if conn.error is not None:
                raise conn.error
            if self._close_after_out:
                raise SocketError(errno.EPIPE, "sendall() after close()")
            self._out += view
            self._push_out()
            return
        while view:
            view = view[self.send(view):]

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes; waits until some arrive; b"" once the peer has closed."""
        conn = self._stream()
        t = self.transport
        if self._shut_rd:
            return b""
        t.wait(lambda: conn.readable > 0 or conn.eof or conn.error is not None, self._timeout,
               "recv")
        if conn.readable == 0 and conn.error is not None:
            raise conn.error
        data = conn.recv(bufsize, t.clock.now())
        t._flush(conn)
        return data

    # ------------------------------------------------------------------ UDP
    def sendto(self, data: bytes, address: tuple[str, int]) -> int:
        self._check_open()
        if self.type != SOCK_DGRAM:
            raise SocketError(errno.EOPNOTSUPP, "sendto() needs a SOCK_DGRAM socket")
        remote, port = _address(address)
        local = self._bound_port()
        payload = bytes(data)
        self.transport._udp_send(local, remote, port, payload)
        return len(payload)

    def on_datagram(self, handler: Callable[[bytes, tuple[str, int]], Any] | None) -> None:
        """Call ``handler(data, sender)`` for each datagram as it arrives, instead of queueing it.

        A server in the simulation answers this way without a loop of its own
        (the simulation runs one thing at a time: a blocking ``recvfrom`` loop
        would never give the client a turn).
        """
        self._check_open()
        if self.type != SOCK_DGRAM or self._port is None:
            raise SocketError(errno.EINVAL, "on_datagram() needs a bound SOCK_DGRAM socket")
        self._on_datagram = handler

    def recvfrom(self, bufsize: int) -> tuple[bytes, tuple[str, int]]:
        """One datagram (cut to ``bufsize``, the rest is lost, as with real UDP) and its sender."""
        self._check_open()
        if self.type != SOCK_DGRAM:
            raise SocketError(errno.EOPNOTSUPP, "recvfrom() needs a SOCK_DGRAM socket")
        if self._port is None:
            raise SocketError(errno.EINVAL, "recvfrom() on a socket that is not bound")
        self.transport.wait(lambda: bool(self._datagrams), self._timeout, "recvfrom")
        data, sender = self._datagrams.popleft()
        return data[:bufsize], sender

    def __repr__(self) -> str:
        kind = "SOCK_STREAM" if self.type == SOCK_STREAM else "SOCK_DGRAM"
        state = f" {self._conn.state}" if self._conn is not None else ""
        closed = " closed" if self._closed else ""
        return f"<Socket {kind} {self.getsockname()}{state}{closed}>"
