"""A switch's logic at work on its interfaces: :class:`Bridge`, and the door :class:`SwitchLogic`.

:class:`~labkit.link.switch.LearningSwitch` is the switching logic with time
passed in. :class:`Bridge` runs a switching logic on a switch's
:class:`~labkit.link.interface.NetworkInterface` s: for each frame that arrives
on a port it asks the logic where the frame goes, with the port's name and the
time, and sends a copy out of each of those ports. The logic is labkit's
:class:`~labkit.link.switch.LearningSwitch` unless another is given: any object
with the two methods of :class:`SwitchLogic` (a learner's own switch, in the labs)::

    net = Network(seed=1)
    ... hosts and a switch "S1", connected ...
    bridges = install_switching(net)        # labkit.sim.stacks: every switch learns
    net.run(until="1s")
    print(bridges["S1"])                    # its MAC table now; net["S1"].stack is the same

    net.add_switch("S2", logic=MySwitch())  # a switch of your own, run the same way

This module never imports the simulator (the simulator sits above the
layers, see docs/architecture.md): :mod:`labkit.sim.stacks` gives a bridge the
switch node's interfaces (a live list, which grows as links are connected:
``p1``, ``p2``, ...) and its clock, and makes it the node's handler.

The MAC table ages with time: an entry not refreshed for ``ageing_time_ns``
(300 s by default) is forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from labkit.errors import LabkitValueError
from labkit.link.interface import Clock, NetworkInterface
from labkit.link.switch import (
    DEFAULT_AGEING_TIME_NS,
    Decision,
    LearningSwitch,
    MACTableEntry,
)

__all__ = ["Bridge", "BridgeEvent", "SwitchLogic"]


class SwitchLogic(Protocol):
    """What a switch's logic must do: know its ports, and say where each frame goes.

    :meth:`forward` is told the name of the port the frame arrived on, the frame
    (bytes, Ethernet II without FCS unless the network carries one) and the time
    in integer nanoseconds; it returns the names of the ports to send copies out
    of: a :class:`~labkit.link.switch.Decision` (as labkit's
    :class:`~labkit.link.switch.LearningSwitch` does) or any iterable of names.
    :meth:`add_port` is called once for every port, as links are connected.
    """

    def add_port(self, port: str) -> None: ...

    def forward(self, in_port: str, frame: bytes, now_ns: int) -> Decision | Iterable[str]: ...


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
    """A switching logic at work on one switch's interfaces (the switch node's handler).

    ``interfaces`` are the switch's ports (a live sequence: ports connected later
    are picked up as frames arrive on them); ``clock`` gives the time for the
    table's ages (without one, the time of the last frame). ``logic`` is the
    switching logic (default: a new :class:`~labkit.link.switch.LearningSwitch`
    with ``ageing_time_ns``, ``capacity`` and ``check_fcs``). With
    ``record=True`` every frame's :class:`BridgeEvent` (with a copy of the
    table after it) is kept in :attr:`history`, to draw the table step by step;
    ``on_event`` is called with each event as it happens (e.g. to print it).
    """

    def __init__(
        self,
        interfaces: Sequence[NetworkInterface],
        *,
        name: str = "switch",
        clock: Clock | None = None,
        logic: SwitchLogic | None = None,
        ageing_time_ns: int = DEFAULT_AGEING_TIME_NS,
        capacity: int | None = None,
        check_fcs: bool = False,
        record: bool = False,
        on_event: Callable[[BridgeEvent], Any] | None = None,
    ) -> None:
        if isinstance(interfaces, (str, bytes)) or not isinstance(interfaces, Sequence) or not all(
            isinstance(i, NetworkInterface) for i in interfaces
        ):
            raise LabkitValueError(
                f"interfaces={interfaces!r:.80}: expected the switch's interfaces (a list of objects "
                "with name, mac, mtu, max_frame and send), e.g. a simulated switch's .interfaces"
            )
        if on_event is not None and not callable(on_event):
            raise LabkitValueError(f"on_event={on_event!r}: expected a function (event) -> None")
        if logic is not None and not (
            callable(getattr(logic, "forward", None)) and callable(getattr(logic, "add_port", None))
        ):
            raise LabkitValueError(
                f"logic={logic!r}: a switch's logic needs forward(in_port, frame, now_ns) and "
                "add_port(name) (see labkit.link.bridge.SwitchLogic)"
            )
        self.interfaces = interfaces
        self.name = name
        self.clock = clock
        if logic is None:
            # Built for two placeholder names first so that the arguments are checked now, even
            # if the switch has fewer than two ports yet; the real ports replace them below.
            logic = LearningSwitch(
                ("", " "), ageing_time_ns=ageing_time_ns, capacity=capacity, check_fcs=check_fcs
            )
            logic.ports = ()
        #: The switching logic (labkit's :class:`~labkit.link.switch.LearningSwitch` by default).
        self.switch: Any = logic
        self._known: set[str] = set()
        self.record = bool(record)
        self.on_event = on_event
        #: Every frame's :class:`BridgeEvent`, oldest first (only with ``record=True``).
        self.history: list[BridgeEvent] = []
        #: Frames not sent out of a port because they exceed its link's MTU.
        self.giants = 0
        self._last_ns = 0
        self._sync_ports()

    def _learning(self, what: str) -> LearningSwitch:
        if not isinstance(self.switch, LearningSwitch):
            raise LabkitValueError(
                f"{self.name}: {what} is labkit's LearningSwitch's; this switch runs "
                f"{type(self.switch).__name__}"
            )
        return self.switch

    def _now(self) -> int:
        return self.clock.now() if self.clock is not None else self._last_ns

    def _sync_ports(self) -> None:
        known = self._known
        for iface in self.interfaces:
            if iface.name not in known:
                self.switch.add_port(iface.name)
                known.add(iface.name)

    # -- the handler -----------------------------------------------------------------------
    def receive(self, iface: NetworkInterface, frame: bytes, now: int) -> Decision | None:
        """A frame arrived on port ``iface`` at time ``now`` (ns): learn, then send it on.

        Returns the logic's :class:`~labkit.link.switch.Decision` (``None`` for a
        logic that answers with port names only).
        """
        if iface.name not in self._known:
            self._sync_ports()
        self._last_ns = now
        answer = self.switch.forward(iface.name, frame, now)
        decision = answer if isinstance(answer, Decision) else None
        out = set(decision.out_ports if decision is not None else answer)
        if out:
            n = len(frame)
            for port in self.interfaces:
                if port.name in out:
                    limit = port.max_frame
                    if limit is None:
                        continue
                    if n > limit:
                        self.giants += 1
                        continue
                    port.send(frame)
        if decision is not None and (self.record or self.on_event is not None):
            event = BridgeEvent(now, iface.name, decision, tuple(self.switch.entries()))
            if self.record:
                self.history.append(event)
            if self.on_event is not None:
                self.on_event(event)
        return decision

    # -- the table -------------------------------------------------------------------------
    def table(self, now_ns: int | None = None) -> list[MACTableEntry]:
        """The live MAC table at ``now_ns`` (default: the clock's time, else the last frame's)."""
        switch = self._learning("a MAC table")
        self._sync_ports()
        now = now_ns if now_ns is not None else self._now()
        if now > switch.now_ns:
            switch.age(now)
        return switch.entries()

    def lookup(self, mac: object) -> str | None:
        """The port ``mac`` (a :class:`MACAddress`, a string or 6 bytes) is known on, or None."""
        switch = self._learning("looking a station up")
        port = switch.lookup(mac, max(self._now(), switch.now_ns))  # type: ignore[arg-type]
        return None if port is None else str(port)

    @property
    def counters(self) -> dict[str, int]:
        """Frames forwarded, flooded, filtered and dropped so far."""
        return dict(self._learning("counting frames").counters)

    def format_table(self) -> str:
        """The MAC table as text, with ages as of the node's clock."""
        self.table()
        return f"{self.name} MAC table\n{self._learning('a MAC table').format_table()}"

    def __str__(self) -> str:
        return self.format_table()

    def __repr__(self) -> str:
        entries = len(self.switch._table) if isinstance(self.switch, LearningSwitch) else "?"
        return f"Bridge({self.name!r}, ports={sorted(self._known)!r}, entries={entries})"

    def _repr_html_(self) -> str:
        self.table()
        return f"<div>{self.name}</div>" + self._learning("a MAC table")._repr_html_()

