"""Nodes and interfaces: where the protocol layers plug into the engine.

Every node (:class:`Host`, :class:`Switch`, :class:`Router`) has
:attr:`~Node.interfaces`; each :class:`Interface` has a name (``"eth0"``,
``"p1"``), a MAC address slot (:attr:`Interface.mac`, 6 bytes), an optional IPv4
address (:attr:`Interface.ip`, an ``ipaddress.IPv4Interface``), and is joined
to at most one link.

Frames are ``bytes``. Send one with :meth:`Interface.send` (or
:meth:`Node.send`); when one arrives, the interface calls its receive hook:
``handler(iface, frame, now)``, where ``now`` is the virtual time in
nanoseconds. The hook is the node's **handler**, which a layer replaces::

    switch.set_handler(my_learning_switch)        # a function (iface, frame, now)
    host.set_handler(stack)                       # or an object with .receive(iface, frame, now)

(a single interface can also get its own hook: ``iface.on_receive = fn``).
Impairments go on what an interface sends with ``iface.impair(Loss(0.1))``.
The engine knows nothing of Ethernet, IP or TCP: it moves bytes and keeps
time. Until a layer plugs in, the defaults are:

- :class:`Host` and :class:`Router`: keep what arrives in :attr:`Node.inbox`
  as :class:`Received` ``(time, iface, frame)`` tuples, so tests can look;
- :class:`Switch`: flood every frame out of every other connected port (a
  hub). The learning switch with its MAC table is layer logic and lives in
  ``labkit.link``; it replaces this handler.

The protocol layers are plugged in by :mod:`labkit.sim.stacks`, which also
hands a node's component to them (``add_switch(name, logic=...)``,
``add_router(..., forwarding=...)``, ``add_host(..., tcp=...)``: stored here as
:attr:`Switch.logic`, :attr:`Router.forwarding`, :attr:`Host.tcp`).

Code that runs on the node gets the time and timers from it: :attr:`Node.now` (ns),
:meth:`Node.after_ns` (a delay in integer ns) or :meth:`Node.call_later` (a
delay with a unit, or whole ns, as :meth:`Network.after`); both return a cancellable
:class:`~labkit.sim.engine.Timer`. Randomness comes from :attr:`Node.rng`, the
network's seeded generator.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from labkit.errors import LabkitValueError
from labkit.sim.engine import Timer
from labkit.sim.errors import NotConnectedError, TopologyError, UnknownNameError

if TYPE_CHECKING:
    from labkit.sim.capture import Capture
    from labkit.sim.impair import Impairment
    from labkit.sim.link import Channel, Link
    from labkit.sim.network import Network

__all__ = ["Interface", "Node", "Host", "Switch", "Router", "Received", "Handler", "format_mac"]

Handler = Callable[["Interface", bytes, int], Any]


class Received(NamedTuple):
    """A frame kept by a default handler: when, on which interface, what."""

    time: int
    iface: Interface
    frame: bytes


def format_mac(mac: bytes) -> str:
    """``b'\\x02\\x00...'`` -> ``'02:00:00:00:00:01'``."""
    return ":".join(f"{b:02x}" for b in mac)


class Interface:
    """A network interface of a node: a MAC slot, maybe an IP address, at most one link."""

    __slots__ = (
        "node",
        "name",
        "mac",
        "ip",
        "link",
        "channel",
        "peer",
        "taps",
        "on_receive",
        "_engine",
    )

    def __init__(
        self,
        node: Node,
        name: str,
        mac: bytes,
        ip: ipaddress.IPv4Interface | None = None,
    ) -> None:
        self.node = node
        self.name = name
        #: The MAC address: 6 bytes, unique in the network.
        self.mac = mac
        #: The IPv4 address with its prefix, or ``None``.
        self.ip = ip
        #: The :class:`~labkit.sim.link.Link` this interface is joined to, or ``None``.
        self.link: Link | None = None
        #: The outgoing direction of that link.
        self.channel: Channel | None = None
        #: The interface at the other end of the link.
        self.peer: Interface | None = None
        self.taps: tuple[Capture, ...] = ()
        #: A receive hook for this interface alone; ``None`` uses the node's handler.
        self.on_receive: Handler | None = None
        self._engine = node.net.engine

    @property
    def fullname(self) -> str:
        """``"node.interface"``, e.g. ``"A.eth0"``."""
        return f"{self.node.name}.{self.name}"

    @property
    def connected(self) -> bool:
        return self.channel is not None

    @property
    def mtu(self) -> int | None:
        """The largest payload the link carries out of this interface (bytes), or ``None``."""
        ch = self.channel
        return None if ch is None else ch.mtu

    @property
    def max_frame(self) -> int | None:
        """The largest frame, header included, the link carries (bytes), or ``None``."""
        ch = self.channel
        return None if ch is None else ch.max_frame

    def send(self, frame: bytes | bytearray | memoryview) -> None:
        """Put ``frame`` on the link (queued behind frames still being sent)."""
        ch = self.channel
        if ch is None:
            raise NotConnectedError(
                f"{self.fullname} is not connected to anything: join it to another node "
                f"with net.connect({self.node.name!r}, ...) before sending"
            )
        if type(frame) is not bytes:
            if not isinstance(frame, (bytearray, memoryview)):
                raise LabkitValueError(
                    f"frame={frame!r:.60}: a frame is bytes, got {type(frame).__name__}"
                )
            frame = bytes(frame)
        if len(frame) > ch.max_frame:
            raise LabkitValueError(
                f"frame of {len(frame)} bytes on {self.fullname}: too long for the link's MTU "
                f"({ch.mtu} bytes of payload + {ch.overhead} of header = {ch.max_frame}). "
                "Ethernet does not fragment; IP splits packets larger than the MTU"
            )
        ch.transmit(frame)

    def impair(self, *impairments: Impairment) -> Interface:
        """Put impairments on the frames this interface sends (its link's outgoing direction)."""
        if self.channel is None:
            raise NotConnectedError(
                f"{self.fullname} is not connected: connect it before impairing its link"
            )
        self.channel.add(*impairments)
        return self

    def receive(self, frame: bytes) -> None:
        """Hand ``frame`` to this interface's receive hook now (as if it had just arrived)."""
        self._deliver(frame, -1)

    def _deliver(self, frame: bytes, xid: int) -> None:
        now = self._engine.now
        if self.taps:
            for tap in self.taps:
                tap.record(now, self, "in", frame, xid)
        (self.on_receive or self.node.handler)(self, frame, now)

    def _add_tap(self, capture: Capture) -> None:
        self.taps = self.taps + (capture,)

    def _remove_tap(self, capture: Capture) -> None:
        self.taps = tuple(t for t in self.taps if t is not capture)

    def __repr__(self) -> str:
        ip = f" {self.ip}" if self.ip is not None else ""
        peer = f" -> {self.peer.fullname}" if self.peer is not None else " (not connected)"
        return f"<Interface {self.fullname} {format_mac(self.mac)}{ip}{peer}>"


class Node:
    """Something with interfaces: the base of :class:`Host`, :class:`Switch`, :class:`Router`."""

    kind = "node"
    #: Prefix of automatically named interfaces.
    iface_prefix = "eth"
    iface_start = 0

    def __init__(self, net: Network, name: str) -> None:
        self.net = net
        self.name = name
        self.interfaces: list[Interface] = []
        #: Frames kept by the default handler (Host, Router), oldest first.
        self.inbox: list[Received] = []
        #: The layer object registered with :meth:`set_handler`, if it was an object.
        self.stack: object | None = None
        self.handler: Handler = self.default_handler

    # -- plugging layers in --------------------------------------------------------------------
    def default_handler(self, iface: Interface, frame: bytes, now: int) -> None:
        """Keep the frame in :attr:`inbox`."""
        self.inbox.append(Received(now, iface, frame))

    def set_handler(self, handler: Handler | object | None) -> None:
        """Route every received frame to ``handler(iface, frame, now)``.

        ``handler`` is a function, or an object with a ``receive(iface, frame,
        now)`` method (a protocol stack; kept as :attr:`stack`), or ``None`` to
        restore the default.
        """
        if handler is None:
            self.handler = self.default_handler
            self.stack = None
        elif hasattr(handler, "receive") and callable(handler.receive):
            self.stack = handler
            self.handler = handler.receive
        elif callable(handler):
            self.stack = None
            self.handler = handler
        else:
            raise LabkitValueError(
                f"handler={handler!r}: expected a function (iface, frame, now) or an object "
                "with a receive(iface, frame, now) method"
            )

    # -- interfaces ----------------------------------------------------------------------------
    def add_interface(
        self, name: str | None = None, *, ip: object = None, mac: object = None
    ) -> Interface:
        """Add an interface (named ``eth0``, ``eth1``... unless ``name`` is given)."""
        return self.net._add_interface(self, name, ip=ip, mac=mac)

    def interface(self, name: str) -> Interface:
        """The interface called ``name``."""
        for iface in self.interfaces:
            if iface.name == name:
                return iface
        have = ", ".join(i.name for i in self.interfaces) or "none yet"
        raise UnknownNameError(f"{self.name} has no interface {name!r} (it has: {have})")

    __getitem__ = interface

    @property
    def iface(self) -> Interface:
        """The node's only connected interface (an error if it has none or several)."""
        up = [i for i in self.interfaces if i.channel is not None]
        if len(up) == 1:
            return up[0]
        if not up:
            raise NotConnectedError(
                f"{self.name} has no connected interface: connect it with "
                f"net.connect({self.name!r}, ...)"
            )
        raise TopologyError(
            f"{self.name} has {len(up)} connected interfaces "
            f"({', '.join(i.name for i in up)}): say which, e.g. {self.name}[{up[0].name!r}]"
        )

    def send(self, frame: bytes, iface: Interface | str | None = None) -> None:
        """Send a raw frame out of ``iface`` (by default the only connected interface)."""
        if iface is None:
            out = self.iface
        elif isinstance(iface, str):
            out = self.interface(iface)
        elif isinstance(iface, Interface) and iface.node is self:
            out = iface
        else:
            raise LabkitValueError(f"iface={iface!r}: not an interface of {self.name}")
        out.send(frame)

    @property
    def neighbours(self) -> list[Node]:
        """Nodes at the other end of this node's links, in interface order."""
        return [i.peer.node for i in self.interfaces if i.peer is not None]

    # -- time ----------------------------------------------------------------------------------
    @property
    def now(self) -> int:
        """The current virtual time in nanoseconds."""
        return self.net.engine.now

    @property
    def rng(self) -> np.random.Generator:
        """The network's seeded random generator."""
        return self.net.engine.rng

    def call_later(self, delay: object, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` after ``delay``; cancel it through the returned Timer.

        ``delay`` is read as by :meth:`Network.after`: a string with a unit
        (``"200ms"``) or whole nanoseconds (an int); a bare float is refused,
        since ``0.002`` could mean seconds or nanoseconds.
        """
        return self.net.after(delay, fn, *args)

    def after_ns(self, delay_ns: int, fn: Callable[..., Any], *args: Any) -> Timer:
        """Call ``fn(*args)`` after ``delay_ns`` integer nanoseconds (for layers' timers).

        :meth:`call_later` also takes an int as nanoseconds, but reads strings
        with units too; protocol code that keeps time in nanoseconds uses this,
        which takes nothing else.
        """
        if isinstance(delay_ns, bool) or not isinstance(delay_ns, (int, np.integer)):
            raise LabkitValueError(f"delay_ns={delay_ns!r}: expected whole nanoseconds (int)")
        return self.net.engine.timer(int(delay_ns), fn, *args)

    def __repr__(self) -> str:
        names = ", ".join(i.name for i in self.interfaces)
        return f"<{type(self).__name__} {self.name} [{names}]>"


class Host(Node):
    """An end system: one interface ``eth0`` with an IP address and a default gateway.

    :attr:`ip` (``IPv4Interface``, address with prefix) and :attr:`gateway`
    (``IPv4Address``) are stored for the IP layer; the engine does not use
    them. Without a stack plugged in, frames that arrive go to :attr:`inbox`.
    """

    kind = "host"

    def __init__(self, net: Network, name: str, tcp: object = None) -> None:
        super().__init__(net, name)
        self.gateway: ipaddress.IPv4Address | None = None
        #: The factory of this host's TCP connections, or ``None`` for labkit's own.
        self.tcp: Any = tcp
        #: The transport layer, once :func:`labkit.sim.stacks.install_transport` has run.
        self.transport: Any = None

    @property
    def ip(self) -> ipaddress.IPv4Interface | None:
        """The address of the first interface that has one."""
        for iface in self.interfaces:
            if iface.ip is not None:
                return iface.ip
        return None

    @property
    def mac(self) -> bytes:
        """The MAC address of the first interface."""
        return self.interfaces[0].mac


class Switch(Node):
    """A switch: a port (``p1``, ``p2``...) appears for every link connected to it.

    The default handler floods each frame out of every other connected port.
    ``labkit.link`` replaces it with a learning switch via :meth:`set_handler`.
    """

    kind = "switch"
    iface_prefix = "p"
    iface_start = 1

    def __init__(self, net: Network, name: str, logic: object = None) -> None:
        super().__init__(net, name)
        #: Frames the default handler did not flood to a port because they exceed its MTU.
        self.giants = 0
        #: The switching logic to run (an object or a class), or ``None`` for labkit's own.
        self.logic: Any = logic

    def default_handler(self, iface: Interface, frame: bytes, now: int) -> None:
        """Flood: send the frame out of every connected port except the one it came in on.

        A frame too long for a port's link is not sent there (a switch drops
        such "giants"; it does not fragment); :attr:`giants` counts them.
        A switch built with a ``logic`` refuses to act as a hub instead.
        """
        if self.logic is not None:
            raise TopologyError(
                f"{self.name} was given logic={self.logic!r}, but nothing runs it yet: call "
                "install_switching(net) (or install_ip / install_transport) from labkit.sim.stacks "
                "before running the network"
            )
        n = len(frame)
        for port in self.interfaces:
            ch = port.channel
            if port is not iface and ch is not None:
                if n > ch.max_frame:
                    self.giants += 1
                    continue
                ch.transmit(frame)


class Router(Node):
    """A router: interfaces ``eth0``, ``eth1``... each with its own IP address.

    Forwarding (the routing table, ARP, TTL) is the IP layer's job: plug it in
    with :meth:`set_handler`. Until then arriving frames go to :attr:`inbox`.
    """

    kind = "router"

    def __init__(self, net: Network, name: str, forwarding: object = None) -> None:
        super().__init__(net, name)
        #: The forwarding to run, or ``None`` for labkit's own.
        self.forwarding: Any = forwarding
