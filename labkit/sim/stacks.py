"""Where the layers meet the simulator: the protocol stacks of a :class:`~labkit.sim.Network`.

The layers (``labkit.link``, ``labkit.net``, ``labkit.transport``) never see a
node or the engine. They take small typed doors, defined in the layer they
serve (:mod:`labkit.link.interface`): a
:class:`~labkit.link.interface.NetworkInterface` per interface (a
:class:`labkit.sim.Interface` is one) and a
:class:`~labkit.link.interface.Clock`. This module is the one place that joins
the two sides::

    from labkit.sim import Network
    from labkit.sim.stacks import install_ip, install_transport, socket

    net = Network(seed=1)
    ... hosts, switches and routers, connected ...
    install_switching(net)     # every switch runs its logic (labkit's learning switch by default)
    install_ip(net)            # IP, ARP and ICMP on every host and router (and switching)
    install_transport(net)     # UDP and TCP on every host (and IP first if need be)
    s = socket(net["A"])       # a TCP socket on host A

Each installer reads the component a node was built with, so a learner's code
runs in the network in place of labkit's: ``net.add_switch("S1", logic=MySwitch)``
(a :class:`~labkit.link.bridge.SwitchLogic`), ``net.add_router("R1", [...],
forwarding=MyForwarding())`` (a :class:`~labkit.net.stack.Forwarding`),
``net.add_host("A", ..., tcp=MyTCP)`` (a factory of TCP connections, as
:class:`~labkit.transport.TCPConnection` is).

:class:`NodeClock` adapts a node's network to the layers' clock: the time,
timers, and the *blocking wait* a socket call or ``ping`` needs: run the
simulation's events in order until a condition holds. A blocking wait inside
an event is refused (:class:`~labkit.sim.errors.ReentrantRunError`): use the
event API there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labkit.errors import LabkitValueError
from labkit.link.bridge import Bridge, SwitchLogic
from labkit.net.stack import Forwarding, IPStack
from labkit.net.summary import summarise as summarise_ip
from labkit.sim.engine import Timer
from labkit.sim.network import Network
from labkit.sim.nodes import Host, Node, Router, Switch
from labkit.transport.sockets import AF_INET, SOCK_STREAM, Socket, Transport
from labkit.transport.summary import summarise as summarise_transport
from labkit.transport.tcp_connection import TCPConfig

__all__ = ["NodeClock", "install_switching", "install_ip", "install_transport", "socket"]


class NodeClock:
    """The clock of one simulated node, as the layers see it (a :class:`~labkit.link.interface.WaitingClock`).

    :meth:`now` is the network's virtual time (ns), :meth:`call_at` schedules on
    its engine, and :meth:`run_until` runs the engine until a condition holds.
    """

    __slots__ = ("node", "net", "_engine")

    def __init__(self, node: Node) -> None:
        self.node = node
        self.net: Network = node.net
        self._engine = node.net.engine

    def now(self) -> int:
        return self._engine.now

    def call_at(self, time: int, fn: Callable[..., Any], *args: Any) -> Timer:
        engine = self._engine
        return engine.timer(max(0, time - engine.now), fn, *args)

    def run_until(self, predicate: Callable[[], bool], deadline: int | None = None) -> bool:
        """Run events in time order until ``predicate()`` holds or ``deadline`` (ns) passes.

        Returns ``predicate()``: False at once if nothing is left to happen (waiting
        longer would change nothing). Pcap files are written when it returns.
        """
        engine = self._engine
        try:
            while not predicate():
                t = engine.peek()
                if t is None:
                    return False
                if deadline is not None and t > deadline:
                    engine.run(deadline)
                    return predicate()
                engine.run(t)
            return True
        finally:
            if not engine.running:
                self.net.flush()

    def __repr__(self) -> str:
        return f"<NodeClock of {self.node.name}>"


def _logic(switch: Switch) -> SwitchLogic | None:
    logic: SwitchLogic | None = switch.logic() if isinstance(switch.logic, type) else switch.logic
    return logic  # a class is made once per switch


def install_switching(net: Network, *switches: Switch | str, **options: Any) -> dict[str, Bridge]:
    """Give every switch of ``net`` that still floods like a hub a :class:`~labkit.link.Bridge`.

    With ``switches`` (nodes or names), only those. The bridge runs the switch's
    ``logic`` (``net.add_switch(name, logic=...)``) or else labkit's learning switch.
    A switch that already has a bridge keeps it (and its table); a switch given
    some other handler with ``set_handler`` is left alone. ``options`` go to :class:`~labkit.link.Bridge`
    (``ageing_time_ns``, ``capacity``, ``record``, ``on_event``...). Returns
    every switch's bridge by node name (also ``net["S1"].stack``).
    """
    bridges: dict[str, Bridge] = {}
    chosen = [net[s] if isinstance(s, str) else s for s in switches]
    for node in chosen:
        if not isinstance(node, Switch):
            raise LabkitValueError(f"switches: {node!r} is not a switch of this network")
    for node in chosen or list(net):
        if not isinstance(node, Switch):
            continue
        stack = node.stack
        if isinstance(stack, Bridge):
            bridges[node.name] = stack
        elif stack is None and node.handler == node.default_handler:
            bridge = Bridge(node.interfaces, name=node.name, clock=NodeClock(node), logic=_logic(node),
                            **options)
            node.set_handler(bridge)
            bridges[node.name] = bridge
    return bridges


def install_ip(net: Network, **options: Any) -> dict[str, IPStack]:
    """Give every host and router of ``net`` an :class:`~labkit.net.stack.IPStack`, and switching.

    A host's stack has its gateway as default route; a router's forwards with
    its ``forwarding`` (``net.add_router(..., forwarding=...)``) or labkit's
    :class:`~labkit.net.stack.IPForwarding`. Switches still flooding like hubs
    get their logic (:func:`install_switching`). ``options`` go to every
    :class:`~labkit.net.stack.IPStack` (``ttl``, ``arp_retry_interval``...).
    Captures then read ``ARP, Request who-has ...`` and ``IP a > b: ICMP echo
    request ...`` (:func:`labkit.net.summary.summarise`). Returns the stacks by
    node name (also ``net["R1"].stack``).
    """
    stacks: dict[str, IPStack] = {}
    for node in net:
        if isinstance(node, Host):
            stack = IPStack(node.interfaces, NodeClock(node), name=node.name, gateway=node.gateway,
                            **options)
        elif isinstance(node, Router):
            forwarding: Forwarding | bool = node.forwarding if node.forwarding is not None else True
            stack = IPStack(node.interfaces, NodeClock(node), name=node.name, forwarding=forwarding,
                            **options)
        else:
            continue
        node.set_handler(stack)
        stacks[node.name] = stack
    install_switching(net)
    net.summariser = summarise_ip
    return stacks


def install_transport(net: Network, *, tcp_config: TCPConfig | None = None) -> dict[str, Transport]:
    """Give every host of ``net`` UDP and TCP (and IP first, if it has none yet).

    A host's TCP connections are made by its ``tcp`` factory
    (``net.add_host(..., tcp=...)``) or labkit's
    :class:`~labkit.transport.TCPConnection`, with ``tcp_config``. Captures then
    name ports and TCP flags (:func:`labkit.transport.summary.summarise`).
    Returns the transports by host name; each is also ``host.transport``, and
    :func:`socket` makes sockets on a host.
    """
    if not all(isinstance(n.stack, IPStack) for n in net if isinstance(n, (Host, Router))):
        install_ip(net)
    net.summariser = summarise_transport
    transports: dict[str, Transport] = {}
    for node in net:
        if not isinstance(node, Host) or not isinstance(node.stack, IPStack):
            continue
        transport = Transport(node.stack, NodeClock(node), node.rng, tcp_config=tcp_config,
                              tcp=node.tcp, name=node.name)
        node.transport = transport
        transports[node.name] = transport
    return transports


def socket(host: Host, type: int = SOCK_STREAM) -> Socket:  # noqa: A002
    """A socket on simulated ``host`` (after :func:`install_transport`)."""
    transport = getattr(host, "transport", None)
    if not isinstance(transport, Transport):
        raise LabkitValueError(
            f"{getattr(host, 'name', host)!r} has no transport layer: call "
            "install_transport(net) after building the network")
    return transport.socket(AF_INET, type)
