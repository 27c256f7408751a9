"""``labkit labs``: grade a class's labs with nbgrader (needs the ``teacher`` extra).

    labkit labs course DIR [--labs L2-switch ...] [--source FOLDER]
        an nbgrader course folder in DIR, and the student release of every lab in DIR/release
    labkit labs grade DIR
        autograde everything in DIR/submitted/<student>/<lab>/, feedback in DIR/feedback,
        DIR/grades.csv (nbgrader export), DIR/summary.csv and DIR/summary.png (every test's
        pass rate and most common failure)
    labkit labs summary DIR
        only the summary, from the gradebook and the autograded notebooks

See docs/teachers.md.
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``labs`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser(
        "labs",
        help="grade the labs with nbgrader (teachers)",
        description="Make an nbgrader course folder for the labs, grade "
        "submissions, and summarise every test across the class.",
    )
    p.add_argument("action", choices=("course", "grade", "summary"))
    p.add_argument("folder", help="the nbgrader course folder")
    p.add_argument("--labs", nargs="+", metavar="LAB", help="only these labs (e.g. L2-switch)")
    p.add_argument(
        "--source",
        metavar="FOLDER",
        help="the teacher's edition of the labs "
        "(default: this repository's course/labs; use your own for private hidden tests)",
    )
    p.add_argument("--timeout", type=int, default=120, help="seconds per cell (default 120)")
    p.add_argument(
        "--memory-mb", type=int, default=1024, help="memory a test may add, MB (Linux; default 1024)"
    )
    return p


def run(args: argparse.Namespace) -> int:
    from labkit.labs import pipeline

    labs = tuple(args.labs) if args.labs else pipeline.LABS
    if args.action == "course":
        root = pipeline.make_course(
            args.folder, labs, source=args.source, timeout=args.timeout, memory_mb=args.memory_mb
        )
        for path in pipeline.release(root, labs):
            print(f"student release: {path}")
        print(
            f"collect submissions as {root}/submitted/<student>/<lab>/<lab>.ipynb, then run "
            f"`labkit labs grade {args.folder}`"
        )
        return 0
    if args.action == "grade":
        grades = pipeline.grade(args.folder, labs)
        print(f"grades: {grades}; feedback: {args.folder}/feedback/")
    rows = pipeline.summary(args.folder)
    csv_path = pipeline.write_summary(rows, f"{args.folder}/summary.csv")
    pipeline.plot_summary(rows, f"{args.folder}/summary.png")
    print(f"summary: {csv_path} and {args.folder}/summary.png ({len(rows)} tests)")
    return 0
