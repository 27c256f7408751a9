"""The real nbgrader, end to end, on every lab: release, three submissions each, autograde, scores.

One module-scoped course folder: ``generate_assignment`` for the five labs; for each lab a
complete submission (the reference solution), a partly right one (a deliberately wrong
component from labkit.labs.wrong.WRONG) and a runaway (RUNAWAY: an endless loop or an
allocation without bound in one test); ``autograde``, ``generate_feedback``, ``export``
and the class summary. Each test's time limit is lowered to 5 s (LABKIT_GRADING_SECONDS)
so the runaways cost little. Cost: 121-188 s measured on the shared 2-core machine at a load of 10
(155 s with L4 added, load about 12).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

import labkit
from labkit.labs import pipeline, wrong

PARTLY = {"L1-receiver": 0, "L2-switch": 1, "L3-router": 4, "L4-tcp": 8, "L5-app": 5}  # rows of WRONG
RUNAWAY = {p.lab: p for p in wrong.RUNAWAY}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    saved = dict(os.environ)
    os.environ["LABKIT_GRADING_SECONDS"] = "5"
    # the kernels nbgrader starts grade with the labkit under test
    here = str(Path(labkit.__file__).resolve().parents[1])
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
    try:
        pipeline.make_course(root, timeout=60)
        pipeline.release(root)
        for lab in pipeline.LABS:
            pipeline.submit(root, "complete", lab, wrong.solution(lab))
            pipeline.submit(root, "partly", lab, wrong.patched(wrong.WRONG[PARTLY[lab]]))
            pipeline.submit(root, "runaway", lab, wrong.patched(RUNAWAY[lab]))
        pipeline.grade(root)
        rows = pipeline.summary(root)
        pipeline.write_summary(rows, root / "summary.csv")
        pipeline.plot_summary(rows, root / "summary.png")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return root


def test_the_release_has_no_solution_and_no_hidden_test(course):
    for lab in pipeline.LABS:
        teacher = json.loads((pipeline.LAB_DIR / f"{lab}.ipynb").read_text())
        student = json.loads((course / "release" / lab / f"{lab}.ipynb").read_text())
        text = "\n".join("".join(c["source"]) for c in student["cells"])
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
        assert "raise NotImplementedError()" in text
        hidden = [c for c in teacher["cells"] if "### BEGIN HIDDEN TESTS" in "".join(c["source"])]
        assert hidden and all(
            "".join(c["source"]).split("### BEGIN HIDDEN TESTS")[1].split("### END")[0].strip() not in text
            for c in hidden
        )
        # run as a student would: up to the tests, which say NotImplementedError and nothing else
        namespace: dict = {}
        errors = set()
        for cell in student["cells"]:
            if cell["cell_type"] == "code":
                try:
                    exec(compile("".join(cell["source"]), lab, "exec"), namespace)
                except Exception as exc:  # noqa: BLE001 - what the student sees
                    errors.add(type(exc).__name__)
        assert errors == {"NotImplementedError"}, (lab, errors)
        # every graded cell has its points
        graded = [
            c["metadata"]["nbgrader"]
            for c in teacher["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade")
        ]
        assert {g["grade_id"].removeprefix("test_"): g["points"] for g in graded} == wrong.TESTS[lab]


def test_each_submission_gets_exactly_its_score(course):
    with open(course / "grades.csv", newline="") as f:
        scores = {(r["assignment"], r["student_id"]): float(r["score"]) for r in csv.DictReader(f)}
    expected = {}
    for lab in pipeline.LABS:
        total = sum(wrong.TESTS[lab].values())
        expected[(lab, "complete")] = total
        expected[(lab, "partly")] = total - wrong.lost_points(wrong.WRONG[PARTLY[lab]])
        expected[(lab, "runaway")] = total - wrong.lost_points(RUNAWAY[lab])
    assert scores == expected


def test_the_class_summary_names_pass_rates_and_failures(course):
    with open(course / "summary.csv", newline="") as f:
        rows = {(r["lab"], r["test"]): r for r in csv.DictReader(f)}
    assert len(rows) == sum(len(t) for t in wrong.TESTS.values())
    clock = rows[("L1-receiver", "test_clock_error")]
    assert clock["submissions"] == "3" and clock["passed"] == "2" and clock["pass_rate"] == "0.667"
    assert clock["most_common_failure"].startswith("clock error: expect  BER")
    hog = rows[("L3-router", "test_host_unreachable")]["most_common_failure"]
    assert "MemoryError" in hog
    loop = rows[("L1-receiver", "test_threshold")]["most_common_failure"]
    assert "TimeLimitExceeded" in loop
    assert rows[("L2-switch", "test_parse")]["pass_rate"] == "1.0"
    assert (course / "summary.png").stat().st_size > 10_000


def test_feedback_for_every_student(course):
    for student in ("complete", "partly", "runaway"):
        for lab in pipeline.LABS:
            html = (course / "feedback" / student / lab / f"{lab}.html").read_text()
            assert "Score" in html or "score" in html
    partly = (course / "feedback" / "partly" / "L2-switch" / "L2-switch.html").read_text()
    assert "failed at step" in partly
