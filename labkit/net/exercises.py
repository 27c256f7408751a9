"""Compatibility shim: notebooks 04 and 05's exercise checks moved to :mod:`labkit.exercises.net`.

Every exercise check now lives in :mod:`labkit.exercises`, one module per
topic, because the exercises sit above the layers and no layer may import
them (see DESIGN.md). ``check("net.class_of", ...)`` finds its checker there
by the name's prefix, so nothing needs importing to register it.

This file remains only so that notebooks saved before the move, which do
``import labkit.net.exercises`` and read ``labkit.net.exercises.SUBNET_TASK``,
still run. It imports nothing when imported: the first use of one of its
names imports :mod:`labkit.exercises.net` (a PEP 562 module
``__getattr__`` made by :func:`labkit._moved.moved`),
so importing :mod:`labkit.net` never imports the exercises. New code imports
from :mod:`labkit.exercises.net`.
"""

from labkit._moved import moved

__all__ = ["ADDRESSES", "SUBNET_TASK", "ROUTES_TASK"]  # noqa: F822  (served by __getattr__)

__getattr__, __dir__ = moved(
    __name__, dict.fromkeys(__all__, "labkit.exercises.net"),
    hint=" (the checks moved to labkit.exercises.net)",
)
