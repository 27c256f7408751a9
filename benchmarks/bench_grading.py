"""Grading one complete submission of the four labs: kernel start-up against the tests.

Run: ``python benchmarks/bench_grading.py`` (needs nbgrader: ``pip install -e ".[teacher]"``).

In this one run:

1. **tests**: every graded test of each lab on the reference solution, in this process
   (``labkit.labs.wrong.run_lab``, what the notebook's test cells do);
2. **kernel start-up**: starting a Python kernel and waiting until it answers, then
   shutting it down (jupyter_client, the way nbgrader's executor starts one per notebook),
   best of 3;
3. **nbgrader end to end**: a course folder, ``generate_assignment`` for the four labs,
   and ``autograde`` + ``generate_feedback`` of one complete submission of each.

Goal (issue 18): the tests take at most 30 s in all; the start-up is nbgrader's.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from labkit.labs import pipeline, wrong


def kernel_start() -> float:
    from jupyter_client.manager import start_new_kernel

    t0 = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="python3")
    kc.execute_interactive("import labkit.labs.switch", timeout=60)
    dt = time.perf_counter() - t0
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    return dt


def main() -> None:
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
    total = 0.0
    for lab in pipeline.LABS:
        t0 = time.perf_counter()
        results = wrong.run_lab(lab, wrong.solution(lab))
        dt = time.perf_counter() - t0
        total += dt
        assert all(v is None for v in results.values()), results
        print(f"tests   {lab:12s} {len(results):2d} tests  {dt:6.2f} s")
    print(f"tests   all four labs          {total:6.2f} s (goal <= 30 s: {'met' if total <= 30 else 'NOT met'})")
    start = min(kernel_start() for _ in range(3))
    print(f"kernel start-up (and import labkit.labs), best of 3: {start:.2f} s a notebook, "
          f"{4 * start:.1f} s for four")
    root = Path(tempfile.mkdtemp(prefix="bench_grading_"))
    try:
        pipeline.make_course(root)
        t0 = time.perf_counter()
        pipeline.release(root)
        t_release = time.perf_counter() - t0
        for lab in pipeline.LABS:
            pipeline.submit(root, "complete", lab, wrong.solution(lab))
        t0 = time.perf_counter()
        pipeline.grade(root)
        t_grade = time.perf_counter() - t0
        print(f"nbgrader: generate_assignment x4 {t_release:.1f} s; autograde + feedback x4 + "
              f"export {t_grade:.1f} s (tests {total:.1f} s of it, the rest nbgrader and kernels)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
