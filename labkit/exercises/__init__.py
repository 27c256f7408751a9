"""Exercise checks for the notebooks, and student copies without the solutions.

A check cell calls :func:`check` with the exercise's name and the student's
answer (a value or a function). The checker runs the answer against labkit's
own implementation and prints either a confirmation or a hint that says what
went wrong, never just "wrong"::

    check("phy.nrz_l", my_nrz_l)

The checkers live beside this module, one module per topic: :mod:`.overview`, :mod:`.phy`,
:mod:`.hw`, :mod:`.link`, :mod:`.mac`, :mod:`.net`, :mod:`.transport` (the ``udp.*`` and
``tcp.*`` names), :mod:`.dhcpdns` (the ``dhcp.*`` and ``dns.*`` names), :mod:`.app`,
:mod:`.capstone`, :mod:`.routing` and :mod:`.congestion` (the ``cc.*`` names). Each
registers its checkers with :func:`exercise`; :func:`evaluate` imports the topic module
named by the exercise name's prefix (``"net.class_of"`` loads
:mod:`labkit.exercises.net`) the first time one of its names is checked, so
a check cell needs only ``from labkit.exercises import check``. The
exercises sit above every layer: they import the layers and the simulator,
and no layer imports them.

Solutions live in the same notebook, in nbgrader's markup: solution cells (nbgrader's
metadata ``solution: true``; the lessons' cells are also tagged ``solution``) with the
solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. :func:`student_copy`
takes them out, through :mod:`labkit.exercises.solutions`, the one stripper that the
labs, ``labkit student-copies`` and ``labkit site`` use too.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labkit.errors import LabkitValueError

__all__ = ["check", "evaluate", "exercise", "student_copy", "ExerciseResult", "EXERCISES"]

#: The checker of each exercise, by name.
EXERCISES: dict[str, Callable[[object], ExerciseResult]] = {}


class ExerciseResult:
    """The outcome of a check: ``ok`` and the message shown to the student."""

    __slots__ = ("ok", "message")

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = ok
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"{'✔' if self.ok else '✘'} {self.message}"


def exercise(name: str) -> Callable:
    """Register a checker: a function taking the answer, returning an :class:`ExerciseResult`."""

    def register(func: Callable[[object], ExerciseResult]) -> Callable:
        EXERCISES[name] = func
        return func

    return register


#: The topic module (in this package) that registers each prefix's checkers; imported on first use.
_MODULES = {
    "overview": "overview",
    "phy": "phy",
    "hw": "hw",
    "link": "link",
    "mac": "mac",
    "net": "net",
    "udp": "transport",
    "tcp": "transport",
    "dhcp": "dhcpdns",
    "dns": "dhcpdns",
    "app": "app",
    "capstone": "capstone",
    "routing": "routing",
    "cc": "congestion",
}


def _load(name: str) -> None:
    """Import the topic module that registers exercise ``name``, chosen by the name's prefix."""
    module = _MODULES.get(name.split(".", 1)[0])
    if module is not None and name not in EXERCISES:
        importlib.import_module(f"{__name__}.{module}")


def _load_all() -> None:
    """Import every topic module, so that :data:`EXERCISES` names every exercise."""
    for module in sorted(set(_MODULES.values())):
        importlib.import_module(f"{__name__}.{module}")


def check(name: str, answer: object) -> None:
    """Check ``answer`` for exercise ``name`` and print the verdict (the check cells call this)."""
    print(repr(evaluate(name, answer)))


def evaluate(name: str, answer: Any) -> ExerciseResult:
    """Check ``answer`` for exercise ``name`` and return the verdict without printing it.

    An answer that raises is reported with the exception, as a hint.
    """
    _load(name)
    if name not in EXERCISES:
        _load_all()
        known = ", ".join(sorted(EXERCISES))
        raise LabkitValueError(f"exercise {name!r}: no such exercise (known: {known})")
    try:
        result = EXERCISES[name](answer)
    except NotImplementedError:
        result = ExerciseResult(False, "not written yet: replace the NotImplementedError line")
    except Exception as exc:  # the student's code failed: that is a hint, not a crash
        result = ExerciseResult(False, f"your answer raised {type(exc).__name__}: {exc}")
    return result


# --- student copies ----------------------------------------------------------------------------


def student_copy(src: str | Path, dst: str | Path) -> int:
    """Write a copy of notebook ``src`` to ``dst`` with its solutions removed.

    :func:`labkit.exercises.solutions.student_notebook` does it: solution blocks
    become stubs, hidden tests go, every code cell loses its outputs (the student
    runs them). Returns the number of cells changed.
    """
    from labkit.exercises.solutions import student_notebook  # not for a check cell's import

    path = Path(src)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LabkitValueError(f"notebook {str(src)!r}: cannot read it as a notebook: {exc}") from None
    copy, stripped = student_notebook(nb, path.name)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(copy, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stripped
