"""``labkit student-copies``: the notebooks without their solutions, or a student's own edition.

    labkit student-copies [-o DIR] [NOTEBOOK ...]    notebooks with their solutions taken out
    labkit student-copies --edition DIR [--open]     the whole student edition in DIR:
                                                     lessons, labs, and the files they refer to

The edition is the student's first contact: a folder of their own, so that their work
survives an update of the course (a file that is already there is kept, never overwritten,
unless ``--force``). Lessons and labs go through the one stripper,
:mod:`labkit.exercises.solutions` (nbgrader's markup, the same as ``labkit site``): in the
copy every unsolved exercise still defines its names (a value exercise reads
``answer = None``, a function raises ``NotImplementedError``), so the check cell after it
gives a hint rather than a ``NameError``; the labs lose their solutions and hidden tests as
nbgrader's ``generate_assignment`` would (a student needs no nbgrader).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

__all__ = ["add_parser", "run", "student_edition", "lab_student_copy"]

#: Files the notebooks refer to, copied with the edition (paths relative to the repository).
FILES = ("course/GLOSSARY.md", "hardware/wiring.svg", "hardware/wiring.png")
#: The notebook ``--open`` shows first, and the JupyterLab that shows it: serving the
#: edition's root, so that 02's ``../hardware/wiring.svg`` resolves.
FIRST_LESSON = "course/00-overview.ipynb"
OPEN_COMMAND = [sys.executable, "-m", "jupyterlab", "--ServerApp.root_dir=.", FIRST_LESSON]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``student-copies`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser(
        "student-copies", help="write the notebooks without their solutions",
        description="Copy notebooks with their solutions taken out; with --edition, "
                    "make a student's own edition of the course (lessons, labs, files).")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: course/*.ipynb)")
    p.add_argument("-o", "--out", default="student", help="output folder (default: student)")
    p.add_argument("--edition", metavar="DIR", help="make the whole student edition in DIR")
    p.add_argument("--source", metavar="REPO", help="the course repository (default: the one "
                   "labkit is installed from, else the current folder)")
    p.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    p.add_argument("--open", action="store_true", help="then start JupyterLab in DIR")
    return p


def lab_student_copy(src: Path, dst: Path) -> int:
    """A lab's student copy: solutions stubbed, hidden tests removed, outputs cleared.

    The lessons' copy too: one stripper (:mod:`labkit.exercises.solutions`) for both;
    returns the number of cells changed.
    """
    from labkit.exercises import student_copy

    return student_copy(src, dst)


def _repository(given: str | None) -> Path:
    if given:
        return Path(given)
    here = Path(__file__).resolve().parents[2]
    if (here / "course").is_dir():
        return here
    return Path.cwd()


def student_edition(
    out: str | Path, source: str | Path | None = None, *, force: bool = False
) -> dict[str, list[str]]:
    """Make the student edition in ``out``; returns {"written": [...], "kept": [...]} (relative paths)."""
    from labkit.exercises import student_copy

    repo = _repository(None if source is None else str(source))
    base = Path(out)
    done: dict[str, list[str]] = {"written": [], "kept": []}

    def target(rel: str) -> Path | None:
        path = base / rel
        if path.exists() and not force:
            done["kept"].append(rel)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        done["written"].append(rel)
        return path

    for nb in sorted((repo / "course").glob("*.ipynb")):
        rel = f"course/{nb.name}"
        if (dst := target(rel)) is not None:
            student_copy(nb, dst)
    for nb in sorted((repo / "course" / "labs").glob("L*.ipynb")):
        rel = f"course/labs/{nb.name}"
        if (dst := target(rel)) is not None:
            student_copy(nb, dst)
    for rel in FILES:
        if (repo / rel).exists() and (dst := target(rel)) is not None:
            shutil.copyfile(repo / rel, dst)
    return done


def run(args: argparse.Namespace) -> int:
    if args.edition:
        done = student_edition(args.edition, args.source, force=args.force)
        print(f"student edition in {args.edition}: {len(done['written'])} file(s) written, "
              f"{len(done['kept'])} of yours kept"
              + (" (use --force to overwrite them)" if done["kept"] else ""))
        if args.open:
            import subprocess

            return subprocess.call(OPEN_COMMAND, cwd=args.edition)
        print(f"open it with:  cd {args.edition} && jupyter lab {FIRST_LESSON}")
        return 0
    sources = [Path(p) for p in args.notebooks] or sorted(Path("course").glob("*.ipynb"))
    if not sources:
        print("labkit student-copies: no notebooks given and none found in ./course",
              file=sys.stderr)
        return 2
    from labkit.exercises import student_copy

    out = Path(args.out)
    for src in sources:
        n = student_copy(src, out / src.name)
        print(f"{src} -> {out / src.name} ({n} cell(s) changed)")
    return 0
