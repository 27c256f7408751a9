"""The simulator imports no protocol layer, and the scenario helper imports no simulator.

This is the runtime check: it sees every module that really gets loaded, however it was
imported. tests/test_layering.py reads the source of every module for all of DESIGN.md's
import rules, including imports that have not run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("labkit.phy", "labkit.link", "labkit.net", "labkit.transport", "labkit.app")


def imported_after(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def test_sim_imports_no_layer():
    mods = imported_after("labkit.sim")
    assert not {m for m in mods if m.startswith(LAYERS)}, mods
    assert "labkit.sim.network" in mods
    assert "labkit.viz" not in mods and "matplotlib" not in mods  # drawing stays optional


def test_testing_and_units_import_no_simulator():
    for module in ("labkit.testing", "labkit.units"):
        mods = imported_after(module)
        assert not {m for m in mods if m.startswith(("labkit.sim",) + LAYERS)}, mods
