"""A learning switch inside a simulated switch node: :class:`Bridge` and :func:`install_switching`.

:class:`~labkit.link.switch.LearningSwitch` is the switching logic with time
passed in. A :mod:`labkit.sim` switch node floods every frame (a hub) until a
layer gives it a handler; :class:`Bridge` is that handler. For each frame
that arrives on a port it asks the learning switch where the frame goes,
with the port's name and the simulator's virtual clock, and sends a copy out
of each of those ports::

    net = Network(seed=1)
    ... hosts and a switch "S1", connected ...
    bridges = install_switching(net)        # every switch learns (install_ip does this too)
    net.run(until="1s")
    print(bridges["S1"])                    # its MAC table now; net["S1"].stack is the same

This module never imports the simulator (the simulator sits above the
layers, see DESIGN.md): it uses what a switch node offers, as
:class:`labkit.net.stack.IPStack` does for hosts: ``name``, ``interfaces``
(each with ``name``, ``channel`` with ``max_frame`` and ``transmit``), and
``set_handler``.

Ports appear on a simulated switch as links are connected (``p1``, ``p2``,
...); the bridge adds them to its table's ports as they show up. The MAC table
ages on the virtual clock: an entry not refreshed for ``ageing_time_ns``
(300 s by default) is forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labkit.errors import LabkitValueError
from labkit.link.switch import (
    DEFAULT_AGEING_TIME_NS,
    Decision,
    LearningSwitch,
    MACTableEntry,
)

__all__ = ["Bridge", "BridgeEvent", "install_switching"]


@dataclass(frozen=True, slots=True)
class BridgeEvent:
    """One frame through a bridge: when, on which port, what it decided, the table after."""

    time_ns: int
    in_port: str
    decision: Decision
    table: tuple[MACTableEntry, ...]

    def __str__(self) -> str:
        return f"{self.time_ns / 1e9:.6f} s  in {self.in_port}: {self.decision}"


class Bridge:
    """The learning switch of one simulated switch node (plugs itself in as its handler).

    ``ageing_time_ns``, ``capacity`` and ``check_fcs`` go to the
    :class:`~labkit.link.switch.LearningSwitch`. With ``record=True`` every
    frame's :class:`BridgeEvent` (with a copy of the table after it) is kept
    in :attr:`history`, to draw the table step by step; ``on_event`` is called
    with each event as it happens (e.g. to print it).
    """

    def __init__(
        self,
        node: Any,
        *,
        ageing_time_ns: int = DEFAULT_AGEING_TIME_NS,
        capacity: int | None = None,
        check_fcs: bool = False,
        record: bool = False,
        on_event: Callable[[BridgeEvent], Any] | None = None,
    ) -> None:
        if not hasattr(node, "interfaces") or not callable(getattr(node, "set_handler", None)):
            raise LabkitValueError(
                f"node={node!r}: expected a simulated switch (with interfaces and set_handler)"
            )
        if on_event is not None and not callable(on_event):
            raise LabkitValueError(f"on_event={on_event!r}: expected a function (event) -> None")
        self.node = node
        self.name: str = getattr(node, "name", "?")
        # Built for two placeholder names first so that the arguments are checked now, even
        # if the node has fewer than two ports yet; the real ports replace them below.
        self.switch = LearningSwitch(
            ("", " "), ageing_time_ns=ageing_time_ns, capacity=capacity, check_fcs=check_fcs
        )
        self.switch.ports = ()
        self.record = bool(record)
        self.on_event = on_event
        #: Every frame's :class:`BridgeEvent`, oldest first (only with ``record=True``).
        self.history: list[BridgeEvent] = []
        #: Frames not sent out of a port because they exceed its link's MTU.
        self.giants = 0
        self._sync_ports()
        node.set_handler(self)

    def _sync_ports(self) -> None:
        known = set(self.switch.ports)
        for iface in self.node.interfaces:
            if iface.name not in known:
                self.switch.add_port(iface.name)
                known.add(iface.name)

    # -- the handler -----------------------------------------------------------------------
    def receive(self, iface: Any, frame: bytes, now: int) -> Decision:
        """A frame arrived on port ``iface`` at virtual time ``now`` (ns): learn, then send it on."""
        if iface.name not in self.switch.ports:
            self._sync_ports()
        decision = self.switch.forward(iface.name, frame, now)
        if decision.out_ports:
            out = set(decision.out_ports)
            n = len(frame)
            for port in self.node.interfaces:
                ch = port.channel
                if port.name in out and ch is not None:
                    if n > ch.max_frame:
                        self.giants += 1
                        continue
                    ch.transmit(frame)
        if self.record or self.on_event is not None:
            event = BridgeEvent(now, iface.name, decision, tuple(self.switch.entries()))
            if self.record:
                self.history.append(event)
            if self.on_event is not None:
                self.on_event(event)
        return decision

    # -- the table -------------------------------------------------------------------------
    def table(self, now_ns: int | None = None) -> list[MACTableEntry]:
        """The live MAC table at ``now_ns`` (default: the node's clock, else the last frame's)."""
        self._sync_ports()
        now = now_ns if now_ns is not None else getattr(self.node, "now", self.switch.now_ns)
        if now > self.switch.now_ns:
            self.switch.age(now)
        return self.switch.entries()

    def lookup(self, mac: object) -> str | None:
        """The port ``mac`` (a :class:`MACAddress`, a string or 6 bytes) is known on, or None."""
        now = getattr(self.node, "now", self.switch.now_ns)
        return self.switch.lookup(mac, max(now, self.switch.now_ns))  # type: ignore[arg-type]

    @property
    def counters(self) -> dict[str, int]:
        """Frames forwarded, flooded, filtered and dropped so far."""
        return dict(self.switch.counters)

    def format_table(self) -> str:
        """The MAC table as text, with ages as of the node's clock."""
        self.table()
        return f"{self.name} MAC table\n{self.switch.format_table()}"

    def __str__(self) -> str:
        return self.format_table()

    def __repr__(self) -> str:
        return (f"Bridge({self.name!r}, ports={list(self.switch.ports)!r}, "
                f"entries={len(self.switch._table)})")

    def _repr_html_(self) -> str:
        self.table()
        return f"<div>{self.name}</div>" + self.switch._repr_html_()


def install_switching(net: Any, **options: Any) -> dict[str, Bridge]:
    """Give every switch of ``net`` that still floods like a hub a :class:`Bridge`.

    A switch that already has a bridge keeps it (and its table); a switch
    given some other handler with ``set_handler`` is left alone. ``options``
    go to :class:`Bridge` (``ageing_time_ns``, ``capacity``, ``record``...).
    Returns every switch's bridge by node name (also ``net["S1"].stack``).
    """
    bridges: dict[str, Bridge] = {}
    for node in net:
        if getattr(node, "kind", "") != "switch":
            continue
        stack = getattr(node, "stack", None)
        if isinstance(stack, Bridge):
            bridges[node.name] = stack
        elif stack is None and node.handler == node.default_handler:
            bridges[node.name] = Bridge(node, **options)
    return bridges
