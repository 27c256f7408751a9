"""Grading a class with nbgrader: the course folder, the commands, and the per-test summary.

A teacher runs three commands (docs/teachers.md)::

    labkit labs course grading/          # nbgrader course folder, student release of every lab
    # ... collect submissions in grading/submitted/<student>/<lab>/<lab>.ipynb ...
    labkit labs grade grading/           # autograde, feedback, grades.csv, summary.csv/.png

:func:`make_course` writes ``nbgrader_config.py`` (per-cell time limit, and
``LABKIT_GRADING=1`` for the kernels, which turns on each test's time and memory
limits in :func:`labkit.labs.grading.limits`) and copies the teacher's edition of
the labs (``course/labs/L*.ipynb``, with solutions and hidden tests) into
``source/``. Everything else is nbgrader's own commands, run by :func:`nbgrader`.
:func:`summary` reads nbgrader's gradebook for every graded test's pass rate and
the autograded notebooks for the most common failure message.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from labkit.errors import LabkitError

__all__ = [
    "LABS",
    "LAB_DIR",
    "make_course",
    "nbgrader",
    "release",
    "grade",
    "summary",
    "write_summary",
    "plot_summary",
    "solution_parts",
]

LAB_DIR = Path(__file__).resolve().parents[2] / "course" / "labs"
LABS = ("L1-receiver", "L2-switch", "L3-router", "L4-tcp", "L5-app")

_CONFIG = """\
# nbgrader's configuration for the labkit labs (written by `labkit labs course`).
import os

# the kernels nbgrader starts inherit this: each graded test then runs with a time limit and,
# on Linux, a memory limit (RLIMIT_AS) of its own (labkit.labs.grading.limits)
os.environ["LABKIT_GRADING"] = "1"
os.environ.setdefault("LABKIT_GRADING_MEMORY_MB", "{memory_mb}")

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "labkit"
c.CourseDirectory.root = {root!r}
# per cell: a test that outlives this is interrupted and the cells after it still run
c.ExecutePreprocessor.timeout = {timeout}
c.Execute.timeout = {timeout}
"""


class GradingError(LabkitError):
    """An nbgrader command failed."""


def make_course(
    root: str | os.PathLike[str],
    labs: tuple[str, ...] = LABS,
    *,
    source: str | os.PathLike[str] | None = None,
    timeout: int = 120,
    memory_mb: int = 1024,
) -> Path:
    """Write an nbgrader course folder at ``root``: its config and the labs in ``source/``.

    ``source`` is the folder of the teacher's edition (default: this repository's
    ``course/labs``; a teacher with private hidden tests points it at their own copy).
    """
    base = Path(root).resolve()
    src = Path(source) if source is not None else LAB_DIR
    base.mkdir(parents=True, exist_ok=True)
    (base / "nbgrader_config.py").write_text(
        _CONFIG.format(root=str(base), timeout=int(timeout), memory_mb=int(memory_mb))
    )
    for lab in labs:
        nb = src / f"{lab}.ipynb"
        if not nb.exists():
            raise GradingError(f"lab {lab!r}: no notebook {nb}")
        (base / "source" / lab).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(nb, base / "source" / lab / nb.name)
    return base


def nbgrader(
    root: str | os.PathLike[str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in course folder ``root`` (with this Python); returns the process."""
    env = dict(os.environ, LABKIT_GRADING="1")
    # nbgrader's `db` commands run alembic from PATH: put this Python's scripts first
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=str(root), env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise GradingError(
            f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
        )
    return proc


class _API:
    """nbgrader's Python API on one course folder, in this process (no start-up per command).

    Loads the folder's ``nbgrader_config.py`` (which sets ``LABKIT_GRADING=1`` for the
    kernels nbgrader starts) and puts the environment back as it was afterwards.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def __enter__(self) -> Any:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        self._env = dict(os.environ)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.root)
        return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)

    def __exit__(self, *exc: object) -> None:
        os.environ.clear()
        os.environ.update(self._env)


def _ok(result: dict[str, Any], what: str) -> None:
    if not result.get("success"):
        raise GradingError(f"nbgrader {what} failed: {result.get('error')}\n{str(result.get('log'))[-3000:]}")


def release(root: str | os.PathLike[str], labs: tuple[str, ...] = LABS) -> list[Path]:
    """nbgrader's ``generate_assignment`` for every lab: the student editions in ``release/``."""
    with _API(root) as api:
        for lab in labs:
            _ok(api.generate_assignment(lab, force=True, create=True), f"generate_assignment {lab}")
    return [Path(root) / "release" / lab / f"{lab}.ipynb" for lab in labs]


def grade(root: str | os.PathLike[str], labs: tuple[str, ...] = LABS, *, feedback: bool = True) -> Path:
    """Autograde every submission of every lab, write feedback and ``grades.csv``; returns its path.

    nbgrader's ``autograde`` and ``generate_feedback`` through its API, then ``nbgrader
    export`` (its CSV: one row per student and lab).
    """
    base = Path(root)
    with _API(root) as api:
        for lab in labs:
            for sub in sorted((base / "submitted").glob(f"*/{lab}")):
                student = sub.parent.name
                _ok(api.autograde(lab, student, force=True, create=True), f"autograde {lab} {student}")
            if feedback:
                _ok(api.generate_feedback(lab, force=True), f"generate_feedback {lab}")
    nbgrader(root, "export", "--to", str(base.resolve() / "grades.csv"))
    return base / "grades.csv"


_STEP = re.compile(r"^\s*> \d+\. t=\S+\s+\w+\s+(.*?)\s*$")


def failure_message(output: dict[str, Any]) -> str:
    """One line for a failed test's error output: the step that failed, or the exception."""
    ename = output.get("ename", "Error")
    value = str(output.get("evalue", ""))
    lines = value.splitlines()
    head = lines[0] if lines else ""
    title = re.match(r"Scenario '(.*)' failed", head)
    step = next((m.group(1) for m in map(_STEP.match, lines) if m), None)
    detail = next((ln.strip() for ln in lines if ln.strip().startswith(("raised", "expected"))), "")
    if title and step:
        return f"{title.group(1)}: {step}" + (f" ({detail})" if detail.startswith("raised") else "")
    return f"{ename}: {head}"[:160]


def summary(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every graded test of every lab: submissions, passed, pass rate, the commonest failure."""
    from nbgrader.api import Gradebook

    base = Path(root).resolve()
    rows: list[dict[str, Any]] = []
    with Gradebook(f"sqlite:///{base / 'gradebook.db'}") as gb:
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            messages: dict[str, Counter[str]] = {}
            for path in sorted((base / "autograded").glob(f"*/{assignment.name}/*.ipynb")):
                nb = json.loads(path.read_text(encoding="utf-8"))
                for cell in nb.get("cells", []):
                    meta = cell.get("metadata", {}).get("nbgrader", {})
                    if not meta.get("grade"):
                        continue
                    for out in cell.get("outputs", []):
                        if out.get("output_type") == "error":
                            messages.setdefault(meta["grade_id"], Counter())[failure_message(out)] += 1
            scores: dict[str, list[tuple[float, float]]] = {}
            for submission in assignment.submissions:
                for nb_sub in submission.notebooks:
                    for g in nb_sub.grades:
                        if g.score is not None:
                            scores.setdefault(g.name, []).append((g.score, g.max_score))
            for notebook in assignment.notebooks:
                for cell in notebook.grade_cells:
                    scored = scores.get(cell.name, [])
                    passed = sum(1 for score, top in scored if score >= top)
                    common = messages.get(cell.name, Counter()).most_common(1)
                    rows.append(
                        {
                            "lab": assignment.name,
                            "test": cell.name,
                            "points": cell.max_score,
                            "submissions": len(scored),
                            "passed": passed,
                            "pass_rate": round(passed / len(scored), 3) if scored else None,
                            "most_common_failure": common[0][0] if common else "",
                            "failures_with_it": common[0][1] if common else 0,
                        }
                    )
    return rows


def write_summary(rows: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """The summary as CSV, one row per graded test."""
    out = Path(path)
    fields = [
        "lab",
        "test",
        "points",
        "submissions",
        "passed",
        "pass_rate",
        "most_common_failure",
        "failures_with_it",
    ]
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def plot_summary(rows: list[dict[str, Any]], path: str | os.PathLike[str] | None = None) -> Any:
    """A bar per graded test: its pass rate across the class, grouped by lab. Returns the figure."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["pass_rate"] is not None]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    labels = [f"{r['lab']}  {r['test'].removeprefix('test_')} ({r['points']:g})" for r in rows]
    labs = sorted({r["lab"] for r in rows})
    colours = {lab: f"C{i}" for i, lab in enumerate(labs)}
    y = range(len(rows))[::-1]
    ax.barh(list(y), [r["pass_rate"] for r in rows], color=[colours[r["lab"]] for r in rows])
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("pass rate (share of submissions with full points)")
    n = max((r["submissions"] for r in rows), default=0)
    ax.set_title(f"Every graded test across the class ({n} submissions a lab)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def solution_parts(source: str) -> dict[str, str]:
    """A lab's code cut at its ``# %% part NAME`` lines: NAME -> that part's code ({} if none)."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in source.splitlines():
        if line.startswith("# %% part "):
            current = line.removeprefix("# %% part ").strip()
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    return {k: "\n".join(v).strip("\n") + "\n" for k, v in parts.items()}


def submit(root: str | os.PathLike[str], student: str, lab: str, code: str) -> Path:
    """Put a submission in ``submitted/``: the student release of ``lab`` with ``code`` as its answer.

    For tests, benchmarks and a teacher trying the pipeline out (real submissions come from
    the students, by nbgrader's exchange or a learning platform).
    """
    base = Path(root)
    nb = json.loads((base / "release" / lab / f"{lab}.ipynb").read_text(encoding="utf-8"))
    solutions = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    if not solutions:
        raise GradingError(f"{lab}: the release has no solution cell")
    parts = solution_parts(code)
    if not parts:  # one solution cell (L1-L3, L5)
        solutions[0]["source"] = code
    for cell in solutions if parts else ():  # a lab in parts (L4): each part in its own cell
        part = cell["metadata"]["nbgrader"]["grade_id"].removeprefix("solution_")
        if part not in parts:
            raise GradingError(f"{lab}: the code has no '# %% part {part}' for cell {part!r}")
        cell["source"] = parts[part]
    out = base / "submitted" / student / lab / f"{lab}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return out
