"""How long `labkit site` takes to build the whole course website from the saved outputs.

The goal is at most 5 minutes on the course's 2-core reference machine (nothing is
re-executed: Jupyter Book reads the notebooks' saved outputs). One build, with the machine's
load beside it, since the machine is shared:

    python benchmarks/bench_site.py
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from labkit.cli import site

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 300


def main() -> None:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="labkit-site-bench-") as out:
        t0 = time.monotonic()
        c0 = os.times()
        sources, _, html = site.build(ROOT, Path(out))
        wall = time.monotonic() - t0
        c1 = os.times()
        pages = sum(1 for _ in html.rglob("*.html"))
        size_mb = sum(p.stat().st_size for p in html.rglob("*") if p.is_file()) / 2**20
    cpu = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    load = ", ".join(f"{x:.1f}" for x in load_before)
    print(f"{len(sources.lessons)} lessons, {len(sources.labs)} labs, {len(sources.pages)} pages; "
          f"{pages} HTML files, {size_mb:.0f} MB")
    print(f"build: {wall:.0f} s wall, {cpu:.0f} CPU s in Jupyter Book "
          f"({wall / GOAL_S:.2f} of the {GOAL_S} s goal), {os.cpu_count()} cores, "
          f"load average before {load}")


if __name__ == "__main__":
    main()
