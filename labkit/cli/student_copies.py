"""``labkit student-copies``: the notebooks without their solutions, or a student's own edition.

    labkit student-copies [-o DIR] [NOTEBOOK ...]    lessons with their solution cells emptied
    labkit student-copies --edition DIR [--open]     the whole student edition in DIR:
                                                     lessons, labs, and the files they refer to

The edition is the student's first contact: a folder of their own, so that their work
survives an update of the course (a file that is already there is kept, never overwritten,
unless ``--force``). In it every unsolved exercise still defines its names: a value
exercise reads ``answer = None``, a function raises ``NotImplementedError``, so the check
cell after it gives a hint rather than a ``NameError``. The labs lose their solutions and
hidden tests as nbgrader's ``generate_assignment`` would (a student needs no nbgrader).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import sys
from pathlib import Path

__all__ = ["add_parser", "run", "student_edition", "lab_student_copy", "define_names"]

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
        description="Copy notebooks with the cells tagged 'solution' emptied; with --edition, "
                    "make a student's own edition of the course (lessons, labs, files).")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: course/*.ipynb)")
    p.add_argument("-o", "--out", default="student", help="output folder (default: student)")
    p.add_argument("--edition", metavar="DIR", help="make the whole student edition in DIR")
    p.add_argument("--source", metavar="REPO", help="the course repository (default: the one "
                   "labkit is installed from, else the current folder)")
    p.add_argument("--force", action="store_true", help="overwrite files already in DIR")
    p.add_argument("--open", action="store_true", help="then start JupyterLab in DIR")
    return p


_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"
_HBEGIN, _HEND = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def _clear_regions(source: str) -> str:
    """nbgrader's clearing: solution regions become a stub, hidden-test regions go."""
    out: list[str] = []
    mode = None
    for line in source.splitlines():
        s = line.strip()
        if s == _BEGIN:
            pad = line[: len(line) - len(line.lstrip())]
            out += [f"{pad}# YOUR CODE HERE", f"{pad}raise NotImplementedError()"]
            mode = "solution"
        elif s == _HBEGIN:
            mode = "hidden"
        elif s in (_END, _HEND):
            mode = None
        elif mode is None:
            out.append(line)
    return "\n".join(out)


def lab_student_copy(src: Path, dst: Path) -> int:
    """A lab's student copy: solutions stubbed, hidden tests removed, outputs cleared."""
    nb = json.loads(src.read_text(encoding="utf-8"))
    cleared = 0
    for cell in nb.get("cells", []):
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if _BEGIN in text or _HBEGIN in text:
            cell["source"] = _clear_regions(text)
            cleared += 1
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return cleared


_LESSON_BEGIN, _LESSON_END = "# BEGIN SOLUTION", "# END SOLUTION"
_RAISE = re.compile(r'^raise NotImplementedError\("your code here"\)\s*$', re.M)


def define_names(original: str, stripped: str) -> str:
    """Give a stripped top-level value exercise its names back: ``name = None``.

    A solution region at the top of a cell (``# BEGIN SOLUTION`` unindented) that assigns
    names is stripped to a ``raise``; the check cell after it would then meet a
    ``NameError``. This puts ``name = None  # your answer`` in its place instead.
    """
    lines = original.splitlines()
    names: list[str] = []
    region: list[str] = []
    inside = False
    for line in lines:
        if line == _LESSON_BEGIN:
            inside, region = True, []
        elif line == _LESSON_END and inside:
            inside = False
            try:
                tree = ast.parse("\n".join(region))
            except SyntaxError:
                continue
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else (
                    [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
                for t in targets:
                    for n in ast.walk(t):
                        if isinstance(n, ast.Name) and n.id not in names:
                            names.append(n.id)
        elif inside:
            region.append(line)
    if not names:
        return stripped
    stub = "\n".join(f"{n} = None  # your answer here" for n in names)
    replaced, count = _RAISE.subn(stub, stripped, count=1)
    return replaced if count else stripped


def _lesson_copy(src: Path, dst: Path) -> int:
    from labkit.exercises import student_copy

    n = student_copy(src, dst)
    original = json.loads(src.read_text(encoding="utf-8"))
    copy = json.loads(dst.read_text(encoding="utf-8"))
    for before, after in zip(original.get("cells", []), copy.get("cells", [])):
        if "solution" in before.get("metadata", {}).get("tags", []):
            src_text = "".join(before["source"]) if isinstance(before["source"], list) else before["source"]
            new_text = "".join(after["source"]) if isinstance(after["source"], list) else after["source"]
            after["source"] = define_names(src_text, new_text)
    dst.write_text(json.dumps(copy, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return n


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
            _lesson_copy(nb, dst)
    for nb in sorted((repo / "course" / "labs").glob("L*.ipynb")):
        rel = f"course/labs/{nb.name}"
        if (dst := target(rel)) is not None:
            lab_student_copy(nb, dst)
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
    out = Path(args.out)
    for src in sources:
        n = _lesson_copy(src, out / src.name)
        print(f"{src} -> {out / src.name} ({n} solution cell(s) emptied)")
    return 0
