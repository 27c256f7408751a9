"""Moved: ``labkit hw ...`` is :mod:`labkit.cli.hw` now; the names below stay importable here.

``main(["hw", "selftest", ...])`` is the ``labkit`` command's :func:`labkit.cli.main`,
and ``python -m labkit.hw.cli hw ...`` still runs it.
"""

from __future__ import annotations

from labkit.cli import main
from labkit.cli.hw import cmd_doctor, cmd_ports, cmd_recv, cmd_selftest, cmd_send

__all__ = ["main", "cmd_ports", "cmd_doctor", "cmd_selftest", "cmd_send", "cmd_recv"]

if __name__ == "__main__":
    raise SystemExit(main())
