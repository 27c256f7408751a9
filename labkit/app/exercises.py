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

__all__ = ["TrickleSocket"]  # noqa: F822  (served by __getattr__)


def __getattr__(name: str) -> object:
    """Return ``name`` from :mod:`labkit.exercises.app`, importing it on first use."""
    if name in __all__:
        from labkit.exercises import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} "
                         "(the checks moved to labkit.exercises.app)")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
