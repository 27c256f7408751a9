"""The ``labkit`` command: the top-level parser and the dispatch; one module per subcommand.

    labkit --version, labkit version   print the version
    labkit student-copies [-o DIR]     write the notebooks without their solutions
    labkit student-copies --edition DIR   a student's own edition: lessons, labs, files
    labkit ber [--code C]              measured and theoretical bit error rates
    labkit demo [--pcap FILE] [--hardware TX RX]  one web request through every layer
    labkit hw ports|doctor|selftest|send|recv|flash   the hardware lab (see hardware/README.md)
    labkit tap [--name DEV] [--ip CIDR]   a labkit host behind a Linux TAP device (root)
    labkit site [-o DIR]               the course website (Jupyter Book, the docs extra)
    labkit labs course|grade|summary DIR  grade the labs with nbgrader (teachers)

``python -m labkit ...`` runs the same command.

Adding a subcommand
-------------------
Write ``labkit/cli/NAME.py`` (``NAME`` is the subcommand with ``-`` spelt ``_``)
with two functions, and add the module to :data:`SUBCOMMANDS` below:

- ``add_parser(subparsers) -> argparse.ArgumentParser``: add the subcommand's
  parser to ``subparsers`` (from ``add_subparsers()``) with its arguments, and
  return it. Nothing else, and only light imports at the module's top (the
  standard library, ``labkit.errors``), so that ``labkit --help`` stays fast.
- ``run(args: argparse.Namespace) -> int``: run it and return the exit status
  (0 success, 1 "it ran and the answer is no", 2 it could not run). Import
  what it needs inside the function.

:func:`main` registers each module's ``run`` as the handler of its parser. A
``LabkitError`` or ``OSError`` that reaches it is printed as one line,
``labkit NAME: what went wrong``, and exits with status 2; bad arguments exit
with argparse's usage message and status 2; Ctrl-C exits with 130, and a
closed pipe on stdout (``labkit ber | head``) quietly with 141. Library
code (what a subcommand builds and runs) stays in the library; a module here
parses the arguments and prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType

from labkit.cli import ber, demo, hw, labs, site, student_copies, tap, version
from labkit.errors import LabkitError

__all__ = ["main", "build_parser", "SUBCOMMANDS"]

#: The subcommands, in the order ``labkit --help`` lists them.
SUBCOMMANDS: tuple[ModuleType, ...] = (version, student_copies, ber, demo, hw, tap, labs, site)


def build_parser() -> argparse.ArgumentParser:
    """The ``labkit`` parser, every subcommand registered."""
    import labkit  # already imported with this package: no layer, no cost

    parser = argparse.ArgumentParser(prog="labkit", description="The labkit networking course.")
    parser.add_argument("--version", action="version", version=f"labkit {labkit.__version__}",
                        help="print the version and exit (the same as `labkit version`)")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub).set_defaults(run=module.run)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a file (a test's capture)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run ``labkit`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:  # `labkit ber | head`: the reader left; stop quietly, as `cat` does
        _silence_stdout()
        return 141
    except (LabkitError, OSError) as exc:
        print(f"labkit {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"labkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
