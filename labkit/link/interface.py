"""The data link layer's door: what a switch or a host's stack sees of one network interface.

Layers never hold a simulator node. A switch's logic (:class:`~labkit.link.bridge.Bridge`)
and a host's IP layer (:class:`~labkit.net.stack.IPStack`) are given interfaces,
and an interface is just this:

- :attr:`~NetworkInterface.name`: what the node calls it (``"eth0"``, ``"p3"``);
- :attr:`~NetworkInterface.mac`: its MAC address, 6 bytes;
- :attr:`~NetworkInterface.mtu`: the largest payload the link behind it carries (bytes),
  and :attr:`~NetworkInterface.max_frame`: the largest frame, header included; both
  ``None`` while nothing is connected;
- :meth:`~NetworkInterface.send`: put one frame on the link.

A frame that *arrives* is handed to the layer with the interface it came in on
(``receive(interface, frame, now)``). :class:`labkit.sim.Interface` is one
implementation; :mod:`labkit.tap` bridges another to a Linux TAP device; a test can
write its own in five lines. Time comes separately, from a
:class:`~labkit.link.interface.Clock`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["NetworkInterface", "Clock", "WaitingClock", "Timer"]


@runtime_checkable
class NetworkInterface(Protocol):
    """One interface of a node, as a layer sees it (see the module docstring)."""

    @property
    def name(self) -> str: ...

    @property
    def mac(self) -> bytes: ...

    @property
    def mtu(self) -> int | None: ...

    @property
    def max_frame(self) -> int | None: ...

    def send(self, frame: bytes) -> None: ...


class Timer(Protocol):
    """A handle on one call a :class:`Clock` will make: cancel it, or ask whether it is due."""

    @property
    def time(self) -> int: ...

    @property
    def pending(self) -> bool: ...

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time as protocol code needs it: integer nanoseconds, and calls at a later time.

    :meth:`now` is the current time; :meth:`call_at` calls ``fn(*args)`` at
    ``time`` (now or later) and returns a :class:`Timer`. The simulator's clock
    is virtual (:class:`labkit.sim.stacks.NodeClock`); the state machines below
    never read a wall clock.
    """

    def now(self) -> int: ...

    def call_at(self, time: int, fn: Callable[..., Any], *args: Any) -> Timer: ...


class WaitingClock(Clock, Protocol):
    """A :class:`Clock` that can also wait: what a blocking call (``recv``, ``ping``) needs.

    :meth:`run_until` lets time pass (on the simulator: runs its events in order)
    until ``predicate()`` holds, returning True, or until ``deadline`` (ns; ``None``:
    no deadline) passes or nothing is left to happen, returning ``predicate()``.
    Called from inside an event it raises, since waiting there would run other
    events in the middle of that one.
    """

    def run_until(self, predicate: Callable[[], bool], deadline: int | None = None) -> bool: ...
