"""The student edition of a notebook: the one place that takes solutions out.

Lessons (``course/NN-*.ipynb``) and labs (``course/labs/L*.ipynb``) are written in
nbgrader's markup, and everything that hands a notebook to a student goes through
:func:`student_notebook`: ``labkit student-copies`` (lessons, labs, a student's edition)
and ``labkit site`` (the published pages, with their saved outputs).

The markup (nbgrader's):

- a **solution cell** has ``{"nbgrader": {"solution": true, ...}}`` in its metadata (a cell
  tagged ``solution``, the lessons' older mark, counts too);
- inside it, the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are the
  solution; a solution cell without them is all solution;
- in a test cell, the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``
  are the teacher's hidden tests; in a markdown cell, ``=== BEGIN MARK SCHEME ===`` ...
  ``=== END MARK SCHEME ===`` is the mark scheme.

What the student gets (nbgrader's ``generate_assignment`` does the same, but for the two
labkit cases marked *):

- a solution block becomes nbgrader's stub, indented as the block was:
  ``# YOUR CODE HERE`` and ``raise NotImplementedError()``;
- \\* a block at the top level of a cell that assigns names (a value exercise,
  ``answer = ...``) becomes ``answer = None  # your answer here``, so the check cell after it
  gives a hint rather than a ``NameError``;
- \\* a code solution cell without blocks becomes ``# Your solution here`` (a lesson's worked
  solution that follows the student's own cell: a stub that raised would stop the student's
  run there);
- a markdown solution cell, or its blocks, becomes ``YOUR ANSWER HERE``;
- hidden tests and mark schemes go; a changed code cell loses its outputs.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from labkit.errors import LabkitValueError

__all__ = [
    "BEGIN_SOLUTION",
    "END_SOLUTION",
    "BEGIN_HIDDEN",
    "END_HIDDEN",
    "CODE_STUB",
    "TEXT_STUB",
    "WHOLE_CELL_STUB",
    "is_solution_cell",
    "strip_source",
    "student_notebook",
]

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
#: nbgrader's code stub (``ClearSolutions.code_stub["python"]``) and text stub.
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
#: What a code solution cell without blocks becomes.
WHOLE_CELL_STUB = "# Your solution here"
#: What a value exercise's name is set to.
NAME_STUB = "{} = None  # your answer here"

# Any number of '#' is read as a marker, so that a slip in the markup never publishes a solution.
_MARKERS = {
    "begin solution": re.compile(r"^\s*#+\s*BEGIN SOLUTION\s*$"),
    "end solution": re.compile(r"^\s*#+\s*END SOLUTION\s*$"),
    "begin hidden": re.compile(r"^\s*#+\s*BEGIN HIDDEN TESTS\s*$"),
    "end hidden": re.compile(r"^\s*#+\s*END HIDDEN TESTS\s*$"),
}
_MARK_SCHEME = re.compile(r"=== BEGIN MARK SCHEME ===.*?=== END MARK SCHEME ===", re.S)


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def is_solution_cell(cell: dict[str, Any]) -> bool:
    """Whether ``cell`` is a solution cell (nbgrader's metadata, or the tag ``solution``)."""
    meta = cell.get("metadata", {})
    return bool(meta.get("nbgrader", {}).get("solution")) or "solution" in meta.get("tags", [])


def _assigned_names(block: list[str]) -> list[str]:
    """The names a top-level block assigns (``a = ...``, ``a, b = ...``, ``a: int = ...``)."""
    try:
        tree = ast.parse("\n".join(block))
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for n in ast.walk(target):
                if isinstance(n, ast.Name) and n.id not in names:
                    names.append(n.id)
    return names


def _kind(line: str) -> str | None:
    return next((k for k, pattern in _MARKERS.items() if pattern.match(line)), None)


def strip_source(text: str, *, cell_type: str = "code", where: str = "cell") -> tuple[str, bool]:
    """``text`` with its solution blocks stubbed and its hidden tests removed; and whether it had blocks.

    Broken markup (a block never closed, an END without its BEGIN, a block inside another)
    is a :class:`~labkit.errors.LabkitValueError` naming ``where``.
    """
    out: list[str] = []
    inside: str | None = None  # "solution" or "hidden"
    block: list[str] = []
    indent = ""
    blocks = 0
    for line in text.splitlines():
        kind = _kind(line)
        if kind in ("begin solution", "begin hidden"):
            if inside is not None:
                raise LabkitValueError(f"{where}: {line.strip()!r} inside another block")
            inside, block, blocks = kind.split()[1], [], blocks + 1
            indent = line[: len(line) - len(line.lstrip())]
        elif kind in ("end solution", "end hidden"):
            if inside != kind.split()[1]:
                raise LabkitValueError(f"{where}: {line.strip()!r} without its BEGIN line")
            if inside == "solution":
                if cell_type != "code":
                    stub = [TEXT_STUB]
                elif indent == "" and (names := _assigned_names(block)):
                    stub = [NAME_STUB.format(n) for n in names]
                else:
                    stub = CODE_STUB.splitlines()
                out += [indent + s for s in stub]
            inside = None
        elif inside is None:
            out.append(line)
        else:
            block.append(line)
    if inside is not None:
        raise LabkitValueError(f"{where}: a {inside} block is never closed (no matching END line)")
    if not blocks:
        return text, False
    return "\n".join(out).rstrip("\n"), True


def student_notebook(
    nb: dict[str, Any], name: str = "notebook", *, keep_outputs: bool = False
) -> tuple[dict[str, Any], int]:
    """The student edition of notebook ``nb`` (a new dict); and how many cells changed.

    With ``keep_outputs`` (the site) a cell that did not change keeps its saved outputs;
    without (a student's copy, to run) every code cell loses them, and the notebook its
    saved widget state.
    """
    nb = json.loads(json.dumps(nb))  # a deep copy: the caller's notebook stays as it is
    changed = 0
    for i, cell in enumerate(nb.get("cells", [])):
        kind = cell.get("cell_type")
        if kind not in ("code", "markdown"):
            continue
        text = _text(cell.get("source", ""))
        solution = is_solution_cell(cell)
        new = text
        if kind == "markdown":
            new = _MARK_SCHEME.sub("", text)
        if kind == "code" or solution:
            new, had_blocks = strip_source(new, cell_type=kind, where=f"{name}, cell {i}")
            if solution and not had_blocks:
                new = WHOLE_CELL_STUB if kind == "code" else TEXT_STUB
        if new != text:
            cell["source"] = new
            changed += 1
            if kind == "code":
                cell["outputs"] = []
                cell["execution_count"] = None
        if kind == "code" and not keep_outputs:
            cell["outputs"] = []
            cell["execution_count"] = None
    if not keep_outputs:
        nb.get("metadata", {}).pop("widgets", None)
    return nb, changed
