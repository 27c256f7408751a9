"""``labkit student-copies``: the notebooks without their solutions (:mod:`labkit.exercises`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``student-copies`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser(
        "student-copies", help="write the notebooks without their solutions",
        description="Copy notebooks with the cells tagged 'solution' emptied.")
    p.add_argument("notebooks", nargs="*", help="notebooks (default: course/*.ipynb)")
    p.add_argument("-o", "--out", default="student", help="output folder (default: student)")
    return p


def run(args: argparse.Namespace) -> int:
    from labkit.exercises import student_copy

    sources = [Path(p) for p in args.notebooks] or sorted(Path("course").glob("*.ipynb"))
    if not sources:
        print("labkit student-copies: no notebooks given and none found in ./course",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    for src in sources:
        n = student_copy(src, out / src.name)
        print(f"{src} -> {out / src.name} ({n} solution cell(s) emptied)")
    return 0
