"""Errors the simulator raises about a topology (all of them :class:`~labkit.LabkitError`)."""

from __future__ import annotations

from labkit.errors import LabkitError, LabkitValueError

__all__ = ["TopologyError", "UnknownNameError", "NotConnectedError", "ReentrantRunError"]


class TopologyError(LabkitValueError):
    """The network cannot be built as asked: a duplicate name or address, a bad endpoint."""


class UnknownNameError(TopologyError, KeyError):
    """No node or interface has that name (also a ``KeyError``, as ``net["X"]`` raises it)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class NotConnectedError(LabkitError):
    """A frame was sent on an interface that no link is connected to."""


class ReentrantRunError(LabkitError, RuntimeError):
    """The simulation was asked to run from inside one of its own events.

    A handler, a timer or a socket callback runs *inside* the simulation; if it
    could run the simulation again (a blocking ``recv``, ``accept``, ``ping`` or
    ``net.run`` there), other events would run in the middle of it, half-way
    through its own work. asyncio refuses this ("This event loop is already
    running"), and so does labkit's engine.
    """
