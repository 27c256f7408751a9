"""Compatibility shim: notebook 03's exercise checks moved to :mod:`labkit.exercises.link`.

Every exercise check now lives in :mod:`labkit.exercises`, one module per
topic, because the exercises sit above the layers and no layer may import
them (see DESIGN.md). ``check("link.header", ...)`` finds its checker there
by the name's prefix, so nothing needs importing to register it.

This file remains only so that notebooks saved before the move, which do
``from labkit.link.exercises import HEADER_TASK, SWITCH_QUIZ``, still run.
It imports nothing when imported: the first use of one of its names imports
:mod:`labkit.exercises.link` (a PEP 562 module
``__getattr__`` made by :func:`labkit._moved.moved`), so importing
:mod:`labkit.link` never imports the exercises. New code imports from
:mod:`labkit.exercises.link`.
"""

from labkit._moved import moved

__all__ = ["HEADER_TASK", "PADDING_PAYLOAD", "SWITCH_QUIZ"]  # noqa: F822  (served by __getattr__)

__getattr__, __dir__ = moved(
    __name__, dict.fromkeys(__all__, "labkit.exercises.link"),
    hint=" (the checks moved to labkit.exercises.link)",
)
