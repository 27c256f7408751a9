"""Errors the simulator raises about a topology (all of them :class:`~labkit.LabkitError`)."""

from __future__ import annotations

from labkit.errors import LabkitError, LabkitValueError

__all__ = ["TopologyError", "UnknownNameError", "NotConnectedError"]


class TopologyError(LabkitValueError):
    """The network cannot be built as asked: a duplicate name or address, a bad endpoint."""


class UnknownNameError(TopologyError, KeyError):
    """No node or interface has that name (also a ``KeyError``, as ``net["X"]`` raises it)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class NotConnectedError(LabkitError):
    """A frame was sent on an interface that no link is connected to."""
