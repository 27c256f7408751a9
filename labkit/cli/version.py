"""``labkit version``: print the version."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``version`` to the ``labkit`` command's subcommands."""
    return subparsers.add_parser("version", help="print the version",
                                 description="Print labkit's version.")


def run(args: argparse.Namespace) -> int:
    import labkit

    print(f"labkit {labkit.__version__}")
    return 0
