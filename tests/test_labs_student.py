"""The student edition: unsolved copies in a folder of the student's own, names defined, files along."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pytest

from labkit.cli import main
from labkit.cli.student_copies import lab_student_copy, student_edition
from labkit.exercises.solutions import CODE_STUB, strip_source

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "course" / "labs").glob("L*.ipynb"))


def cells(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def text(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_a_value_exercise_defines_its_name_and_a_function_raises():
    original = "### BEGIN SOLUTION\nsubnet_plan = [1, 2]\nanswer, other = 3, 4\n### END SOLUTION"
    assert strip_source(original) == (
        "subnet_plan = None  # your answer here\nanswer = None  # your answer here\n"
        "other = None  # your answer here",
        True,
    )
    function = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    assert strip_source(function) == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()", True)
    # a top-level block that assigns nothing is a stub too
    assert strip_source("### BEGIN SOLUTION\nprint(1)\n### END SOLUTION") == (CODE_STUB, True)


def test_the_edition_has_lessons_labs_and_the_files_they_refer_to(tmp_path):
    done = student_edition(tmp_path, ROOT)
    for rel in (
        "course/GLOSSARY.md",
        "hardware/wiring.svg",
        "course/labs/L2-switch.ipynb",
        "course/02-hardware-lab.ipynb",
    ):
        assert (tmp_path / rel).exists(), rel
    # the wiring diagram is found where notebook 02 looks for it
    assert "../hardware/wiring.svg" in json.dumps(cells(tmp_path / "course/02-hardware-lab.ipynb"))
    assert not done["kept"]
    # a value exercise in a lesson now defines its name
    lesson = "\n".join(text(c) for c in cells(tmp_path / "course/04-ip-addressing.ipynb"))
    assert "subnet_plan = None" in lesson and 'f"192.168.40.{start}/26"' not in lesson


def test_the_students_work_survives_an_update(tmp_path):
    student_edition(tmp_path, ROOT)
    mine = tmp_path / "course/labs/L2-switch.ipynb"
    mine.write_text("my work", encoding="utf-8")
    done = student_edition(tmp_path, ROOT)
    assert "course/labs/L2-switch.ipynb" in done["kept"] and mine.read_text() == "my work"
    student_edition(tmp_path, ROOT, force=True)
    assert mine.read_text() != "my work"


@pytest.mark.parametrize("lab", LABS, ids=[p.stem for p in LABS])
def test_a_labs_student_copy_runs_to_not_implemented_and_hides_the_hidden(lab, tmp_path):
    out = tmp_path / lab.name
    assert lab_student_copy(lab, out) > 0
    copy = cells(out)
    sources = "\n".join(text(c) for c in copy)
    assert "BEGIN HIDDEN TESTS" not in sources and "BEGIN SOLUTION" not in sources
    teacher = "\n".join(text(c) for c in cells(lab))
    hidden = [line for line in teacher.split("### BEGIN HIDDEN TESTS")[1:]]
    assert hidden and all(h.split("### END HIDDEN TESTS")[0].strip() not in sources for h in hidden)
    # run the code cells as a student would (in this process: no kernel needed)
    namespace: dict = {}
    errors = []
    for cell in copy:
        if cell["cell_type"] != "code":
            continue
        try:
            exec(compile(text(cell), lab.name, "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - what the student would see
            errors.append((type(exc).__name__, "".join(traceback.format_exception_only(exc))))
    assert errors, "an unsolved lab must not pass its tests"
    assert {name for name, _ in errors} == {"NotImplementedError"}, errors


def test_the_command(tmp_path, capsys):
    assert main(["student-copies", "--edition", str(tmp_path / "me"), "--source", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert "file(s) written" in out and "jupyter lab" in out
    assert main(["student-copies", "--edition", str(tmp_path / "me"), "--source", str(ROOT)]) == 0
    assert "of yours kept (use --force" in capsys.readouterr().out


def test_open_starts_jupyterlab_at_the_editions_root_on_the_first_lesson(tmp_path, monkeypatch):
    """The README's Quick start ends with --open: JupyterLab serves the edition's root (so 02's
    ../hardware/wiring.svg resolves) and shows lesson 00, which the edition holds."""
    import subprocess

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd, cwd: calls.append((cmd, cwd)) or 0)
    edition = tmp_path / "my-course"
    assert main(["student-copies", "--edition", str(edition), "--source", str(ROOT), "--open"]) == 0
    ((cmd, cwd),) = calls
    assert cwd == str(edition) and cmd[1:3] == ["-m", "jupyterlab"]
    assert "--ServerApp.root_dir=." in cmd and (edition / cmd[-1]).is_file()
    assert (edition / "course" / cmd[-1].split("/")[-1]).name == "00-overview.ipynb"
    assert (edition / "hardware" / "wiring.svg").is_file()
