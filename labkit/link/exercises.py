"""Compatibility shim: notebook 03's exercise checks moved to :mod:`labkit.exercises.link`.

Every exercise check now lives in :mod:`labkit.exercises`, one module per
topic, because the exercises sit above the layers and no layer may import
them (see DESIGN.md). ``check("link.header", ...)`` finds its checker there
by the name's prefix, so nothing needs importing to register it.

This file remains only so that notebooks saved before the move, which do
``from labkit.link.exercises import HEADER_TASK, SWITCH_QUIZ``, still run.
It imports nothing when imported: the first use of one of its names imports
:mod:`labkit.exercises.link` (a PEP 562 module ``__getattr__``), so importing
:mod:`labkit.link` never imports the exercises. New code imports from
:mod:`labkit.exercises.link`.
"""

__all__ = ["HEADER_TASK", "PADDING_PAYLOAD", "SWITCH_QUIZ"]  # noqa: F822  (served by __getattr__)


def __getattr__(name: str) -> object:
    """Return ``name`` from :mod:`labkit.exercises.link`, importing it on first use."""
    if name in __all__:
        from labkit.exercises import link

        return getattr(link, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} "
                         "(the checks moved to labkit.exercises.link)")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
