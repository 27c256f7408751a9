"""The labs' graders on deliberately wrong components: each loses exactly its own tests' points.

The table is labkit.labs.wrong.WRONG (shown in docs/teachers.md); the runaway submissions
(RUNAWAY: an endless loop, an allocation without bound) are stopped by the grading limits
in their own test. Everything runs in this process (no nbgrader): about 20 s.
"""

from __future__ import annotations

import pytest

from labkit.labs import wrong
from labkit.labs.wrong import RUNAWAY, TESTS, WRONG, lost_points, patched, run_lab


def failing(results):
    return tuple(t for t, error in results.items() if error is not None)


@pytest.mark.parametrize("patch", WRONG, ids=[p.name for p in WRONG])
def test_a_wrong_component_loses_its_points_and_no_others(patch):
    results = run_lab(patch.lab, patched(patch))
    assert failing(results) == patch.fails, results
    assert 0 < lost_points(patch) < sum(TESTS[patch.lab].values())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.parametrize("patch", RUNAWAY, ids=[p.name for p in RUNAWAY])
def test_a_runaway_is_stopped_in_its_own_test(patch, monkeypatch):
    monkeypatch.setenv("LABKIT_GRADING", "1")
    limit = "5" if patch.lab == "L4-tcp" else "2"  # L4's race alone takes 1-2 s on a loaded machine
    monkeypatch.setenv("LABKIT_GRADING_SECONDS", limit)
    results = run_lab(patch.lab, patched(patch))
    assert failing(results) == patch.fails, results
    error = results[patch.fails[0]]
    if patch.lab in ("L1-receiver", "L2-switch", "L4-tcp"):
        assert f"raised TimeLimitExceeded: the test ran longer than its limit of {limit} s" in error, error
    else:
        assert "MemoryError" in error or "closed" in error, error


def test_the_table_names_real_tests_and_real_lines():
    for patch in WRONG + RUNAWAY:
        assert set(patch.fails) <= set(TESTS[patch.lab]), patch
        assert patched(patch) != wrong.solution(patch.lab)


def test_a_patch_whose_line_is_gone_is_refused():
    bad = wrong.Patch("L2-switch", "x", "no such line\n", "", ())
    with pytest.raises(ValueError, match="0 times"):
        patched(bad)
