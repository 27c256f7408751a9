"""Compatibility shim: notebook 08's exercise checks moved to :mod:`labkit.exercises.app`.

Every exercise check now lives in :mod:`labkit.exercises`, one module per
topic, because the exercises sit above the layers and no layer may import
them (see DESIGN.md). ``check("app.frame", ...)`` finds its checker there
by the name's prefix, so nothing needs importing to register it.

This file remains only so that notebooks saved before the move, which do
``import labkit.app.exercises`` or ``from labkit.app.exercises import
TrickleSocket``, still run. It imports nothing when imported: the first use
of one of its names imports :mod:`labkit.exercises.app` (a PEP 562 module
``__getattr__``), so importing :mod:`labkit.app` never imports the
exercises. New code imports from :mod:`labkit.exercises.app`.
"""

from labkit._moved import moved

__all__ = ["TrickleSocket"]  # noqa: F822  (served by __getattr__)

__getattr__, __dir__ = moved(
    __name__, dict.fromkeys(__all__, "labkit.exercises.app"),
    hint=" (the checks moved to labkit.exercises.app)",
)
