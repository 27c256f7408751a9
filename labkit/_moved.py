"""Names that moved up the package, still importable from where notebooks found them.

When a name moves to a higher package (``install_ip`` from ``labkit.net.stack``
to ``labkit.sim.stacks``, the exercise checks to ``labkit.exercises``), its old
module keeps answering for it, so that a notebook saved before the move still
runs. The old module must not import the new home itself: that would make a
layer import what sits above it. It gets a PEP 562 module ``__getattr__`` from
:func:`moved` instead, which imports the new home the first time an old name
is used::

    __getattr__, __dir__ = moved(__name__, {"install_ip": "labkit.sim.stacks"})

An unknown name raises ``AttributeError`` as usual; ``dir()`` lists the moved
names with the module's own.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["moved"]


def moved(
    module: str, homes: dict[str, str], *, hint: str = ""
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` and ``__dir__`` serving ``homes`` (old name -> new module).

    ``hint`` is added to the error for a name that is not there (say where things went).
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}{hint}")
        return getattr(importlib.import_module(home), name)

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[module]), *homes})

    return __getattr__, __dir__
