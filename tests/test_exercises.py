"""Check cells give the right verdicts and hints; student copies lose their solutions.

Also the package's shape: one topic module per prefix inside labkit.exercises,
each loaded by the name's prefix, and the layers' old exercise modules kept as
shims that import nothing until a name is used.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import labkit.exercises
from labkit import LabkitError, phy
from labkit.exercises import EXERCISES, check, evaluate, student_copy
from labkit.exercises.solutions import is_solution_cell

ROOT = Path(__file__).resolve().parents[1]


def test_correct_answers_pass(capsys):
    def nrz_l(bits, spb):
        return np.repeat(np.asarray(bits, dtype=float) * 5.0, spb)

    def manchester_decode(samples, spb):
        halves = np.asarray(samples).reshape(-1, 2, spb // 2).mean(axis=2)
        return (halves[:, 1] > halves[:, 0]).astype(np.uint8)

    def bits_of_byte(value):
        return [(value >> (7 - i)) & 1 for i in range(8)]

    assert evaluate("phy.nrz_l", nrz_l)
    assert evaluate("phy.manchester_decode", manchester_decode)
    assert evaluate("phy.bits_of_byte", bits_of_byte)
    assert evaluate("phy.snr_for_ber", 10 * np.log10(4.7534243**2 / 8))
    check("phy.nrz_l", nrz_l)
    assert capsys.readouterr().out.startswith("✔ nrz_l matches")


def test_wrong_answers_get_hints(capsys):
    check("phy.nrz_l", lambda bits, spb: np.repeat(np.asarray(bits) * 5.0, 1))
    out = capsys.readouterr().out
    assert out.startswith("✘") and "samples_per_bit" in out
    # Thomas convention (the opposite of IEEE 802.3) is caught, with the rule as hint.
    inverted = lambda s, spb: 1 - phy.decode(s, "manchester", spb)  # noqa: E731
    result = evaluate("phy.manchester_decode", inverted)
    assert not result and "high-then-low" in result.message
    lsb_first = lambda v: [(v >> i) & 1 for i in range(8)]  # noqa: E731
    assert "least significant bit first" in evaluate("phy.bits_of_byte", lsb_first).message
    worth = lambda v: [v & (128 >> i) for i in range(8)]  # noqa: E731
    assert "not the value it is worth" in evaluate("phy.bits_of_byte", worth).message
    for wrong in (lsb_first, worth, lambda v: [0] * 8):
        message = evaluate("phy.bits_of_byte", wrong).message
        assert ">>" not in message and "& 1" not in message  # the hint does not give the code
    assert "need more SNR" in evaluate("phy.snr_for_ber", 3.0).message
    assert "expected a number" in evaluate("phy.snr_for_ber", "ten").message
    assert "not written yet" in evaluate("phy.nrz_l", _unwritten).message
    assert "raised ZeroDivisionError" in evaluate("phy.nrz_l", lambda b, s: 1 / 0).message
    with pytest.raises(LabkitError, match="no such exercise"):
        evaluate("phy.nope", 1)


def test_manchester_decode_rejects_one_sample_per_half():
    # The notebook says averaging beats reading one sample: the check must tell the two apart.
    def one_sample(samples, spb):
        s = np.asarray(samples).reshape(-1, spb)
        return (s[:, 3 * spb // 4] > s[:, spb // 4]).astype(np.uint8)

    def two_samples(samples, spb):
        s = np.asarray(samples, dtype=float).reshape(-1, 2, spb // 2)[:, :, : max(1, spb // 4)]
        halves = s.mean(axis=2)
        return (halves[:, 1] > halves[:, 0]).astype(np.uint8)

    def median(samples, spb):
        halves = np.median(np.asarray(samples, dtype=float).reshape(-1, 2, spb // 2), axis=2)
        return (halves[:, 1] > halves[:, 0]).astype(np.uint8)

    for weak in (one_sample, two_samples):
        result = evaluate("phy.manchester_decode", weak)
        assert not result and "every sample of each half-bit" in result.message
        assert ".mean(" not in result.message and "reshape" not in result.message
    assert evaluate("phy.manchester_decode", median)  # another fair receiver that uses every sample
    # one sample per half is right on every clean waveform: only the noise tells
    clean = phy.encode(np.array([0, 1, 1, 0], dtype=np.uint8), "manchester", 8)
    assert list(one_sample(clean, 8)) == [0, 1, 1, 0]


def _unwritten(bits, spb):
    raise NotImplementedError("your code here")


def _notebook(cells):
    return {"cells": cells, "metadata": {"widgets": {"state": {}}}, "nbformat": 4,
            "nbformat_minor": 5}


def _code(source, tags=(), outputs=None):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)},
            "outputs": outputs or [{"output_type": "stream", "name": "stdout", "text": "x"}],
            "execution_count": 3}


def _solution(source):
    cell = _code(source)
    cell["metadata"] = {"nbgrader": {"solution": True, "grade": False, "grade_id": "s", "locked": False,
                                     "schema_version": 3}}
    return cell


def test_student_copy_strips_solutions(tmp_path):
    src = tmp_path / "nb.ipynb"
    cells = [
        _code("import numpy as np"),
        _solution("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"),
        _code(["answer = 42\n", "print(answer)"], tags=["solution"]),  # a whole worked solution
        {"cell_type": "markdown", "source": "# BEGIN SOLUTION stays in prose", "metadata": {}},
        _solution("### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"),
    ]
    src.write_text(json.dumps(_notebook(cells)))
    dst = tmp_path / "out" / "nb.ipynb"
    assert student_copy(src, dst) == 3
    out = json.loads(dst.read_text())
    code = [c for c in out["cells"] if c["cell_type"] == "code"]
    assert code[0]["source"] == "import numpy as np"
    assert code[1]["source"] == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert code[2]["source"] == "# Your solution here"
    assert code[3]["source"] == "answer = None  # your answer here"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert out["cells"][3]["source"] == "# BEGIN SOLUTION stays in prose"
    assert "widgets" not in out["metadata"]


def test_student_copy_errors(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(LabkitError, match="bad.ipynb"):
        student_copy(bad, tmp_path / "x.ipynb")
    unclosed = tmp_path / "u.ipynb"
    unclosed.write_text(json.dumps(_notebook([_solution("### BEGIN SOLUTION\nx = 1\n")])))
    with pytest.raises(LabkitError, match="u.ipynb, cell 0: a solution block is never closed"):
        student_copy(unclosed, tmp_path / "y.ipynb")


LESSONS = sorted(ROOT.glob("course/[0-9][0-9]-*.ipynb"))


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem[:2] for p in LESSONS])
def test_a_lessons_solutions_are_in_nbgraders_markup(lesson):
    """Every solution block is ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` in a cell nbgrader
    takes for a solution cell (its metadata), as in the labs: the one stripper reads one markup."""
    blocks = 0
    for cell in json.loads(lesson.read_text(encoding="utf-8"))["cells"]:
        lines = "".join(cell["source"]).splitlines()
        marks = [line.strip() for line in lines if re.search(r"(BEGIN|END) SOLUTION", line)]
        if cell["cell_type"] == "markdown":
            continue
        assert all(m in ("### BEGIN SOLUTION", "### END SOLUTION") for m in marks), marks
        if marks:
            blocks += 1
            assert cell["metadata"].get("nbgrader", {}).get("solution") is True, lesson.name
    solutions = sum(is_solution_cell(c) for c in json.loads(lesson.read_text(encoding="utf-8"))["cells"])
    assert solutions >= blocks and solutions > 0, f"{lesson.name}: no solution cell"


def test_every_phy_exercise_is_used_by_the_notebook():
    import labkit.exercises.phy  # noqa: F401  (registers the phy.* names, if not yet)

    text = (ROOT / "course" / "01-physical-layer.ipynb").read_text()
    names = [n for n in EXERCISES if n.startswith("phy.")]
    assert len(names) == 4
    for name in names:
        assert f'check(\\"{name}\\"' in text, name


def test_an_unknown_name_lists_every_exercise():
    with pytest.raises(LabkitError, match="no such exercise") as info:
        evaluate("nope.nothing", 1)
    for name in ("phy.nrz_l", "hw.tick_cycles", "link.header", "net.class_of", "udp.checksum",
                 "tcp.rto", "app.frame", "capstone.peel", "mac.backoff"):
        assert name in str(info.value)


# --- one package, one module per topic -----------------------------------------------------------

_TOPICS = sorted(set(labkit.exercises._MODULES.values()))
_SHIMS = {"labkit.link.exercises": "link", "labkit.net.exercises": "net", "labkit.app.exercises": "app"}


def _run(code: str, *args: str) -> object:
    """Run ``code`` in a fresh interpreter (this worktree's labkit first); return the JSON it prints."""
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT)
    return json.loads(out.stdout)


def test_every_topic_module_is_reachable_by_a_prefix():
    # every module but the package and the student edition's stripper is a topic
    files = {p.stem for p in (ROOT / "labkit" / "exercises").glob("*.py")} - {"__init__", "solutions"}
    assert set(_TOPICS) == files == {"overview", "phy", "hw", "link", "mac", "net", "transport", "app",
                                     "capstone", "routing", "dhcpdns", "congestion"}


_FRESH = """
import json, sys
from labkit.exercises import EXERCISES, ExerciseResult, evaluate
names = json.loads(sys.argv[1])
seen = []
for name in names:
    result = evaluate(name, None)  # None is a wrong answer everywhere: a hint, not a crash
    seen.append([name, isinstance(result, ExerciseResult) and not result, EXERCISES[name].__module__])
loaded = sorted(m for m in sys.modules  # topic modules and old shims such as labkit.net.exercises
                if m.startswith("labkit.exercises.") or m.endswith(".exercises") and m != "labkit.exercises")
print(json.dumps({"first_known": names[0] in EXERCISES, "seen": seen, "loaded": loaded}))
"""


@pytest.mark.parametrize("topic", _TOPICS)
def test_every_name_loads_by_its_prefix_in_a_fresh_interpreter(topic):
    module = importlib.import_module(f"labkit.exercises.{topic}")
    names = sorted(n for n, f in EXERCISES.items() if f.__module__ == module.__name__)
    assert names, topic
    assert all(labkit.exercises._MODULES[n.split(".", 1)[0]] == topic for n in names)
    got = _run(_FRESH, json.dumps(names))
    assert got["seen"] == [[n, True, module.__name__] for n in names]
    # only this topic's module was imported to find them: no other topic, and no old shim
    assert got["loaded"] == [module.__name__]


def test_check_in_a_fresh_interpreter_needs_only_the_api_import():
    code = ("import contextlib, io, json, sys\n"
            "from labkit.exercises import check\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    check('net.hosts_per_prefix', lambda p: 2 ** (32 - p) - 2)\n"
            "print(json.dumps([out.getvalue(), 'labkit.net.exercises' in sys.modules]))")
    printed, shim_imported = _run(code)
    assert printed == "✔ hosts_per_prefix is right for /0 to /30 (a /31 and a /32 are special)\n"
    assert not shim_imported


_OLD_NAMES = [
    ("labkit.link.exercises", "labkit.exercises.link", ["HEADER_TASK", "PADDING_PAYLOAD", "SWITCH_QUIZ"]),
    ("labkit.net.exercises", "labkit.exercises.net", ["ADDRESSES", "SUBNET_TASK", "ROUTES_TASK"]),
    ("labkit.app.exercises", "labkit.exercises.app", ["TrickleSocket"]),
    ("labkit.hw.exercises", "labkit.exercises.hw", ["check_tick_cycles", "check_sample_decoder",
                                                     "check_rc_limit"]),
]


@pytest.mark.parametrize(("old", "new", "names"), _OLD_NAMES)
def test_old_import_paths_give_the_same_objects(old, new, names):
    old_module, new_module = importlib.import_module(old), importlib.import_module(new)
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), name
    assert set(names) <= set(dir(old_module))
    star: dict[str, object] = {}
    exec(f"from {old} import *", star)  # the form a saved notebook may use
    assert {n: star[n] for n in names} == {n: getattr(new_module, n) for n in names}


def test_old_statements_from_saved_notebooks_still_run():
    from labkit.exercises import app, link, net
    from labkit.link.exercises import HEADER_TASK, SWITCH_QUIZ

    assert HEADER_TASK is link.HEADER_TASK and SWITCH_QUIZ is link.SWITCH_QUIZ
    import labkit.app.exercises
    import labkit.net.exercises

    assert labkit.net.exercises.SUBNET_TASK is net.SUBNET_TASK
    assert labkit.net.exercises.ROUTES_TASK is net.ROUTES_TASK
    assert labkit.app.exercises.TrickleSocket is app.TrickleSocket


@pytest.mark.parametrize("shim", sorted(_SHIMS))
def test_a_shim_refuses_names_it_does_not_forward(shim):
    module = importlib.import_module(shim)
    for name in ("_check_header", "_check_class_of", "exercise", "nope"):
        with pytest.raises(AttributeError, match=rf"'{shim}' has no attribute '{name}'"):
            getattr(module, name)
    assert not hasattr(module, "__path__")  # not a package: `import shim.x` fails cleanly


@pytest.mark.parametrize("shim", sorted(_SHIMS))
def test_importing_a_shim_does_not_import_the_exercises(shim):
    topic = _SHIMS[shim]
    code = ("import importlib, json, sys\n"
            "def loaded():\n"
            "    return sorted(m for m in sys.modules if m.split('.')[:2] == ['labkit', 'exercises'])\n"
            f"module = importlib.import_module({shim!r})\n"
            "after_import = loaded()\n"
            "dir(module), hasattr(module, '__path__'), hasattr(module, 'nope')\n"
            "after_lookups = loaded()\n"
            "getattr(module, module.__all__[0])\n"
            "print(json.dumps([after_import, after_lookups, loaded()]))")
    after_import, after_lookups, after_use = _run(code)
    assert after_import == [] and after_lookups == []
    assert f"labkit.exercises.{topic}" in after_use  # the first real name fetched it


@pytest.mark.parametrize("shim", sorted(_SHIMS))
def test_a_shim_imports_only_the_moved_names_helper(shim):
    path = ROOT / Path(*shim.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text())
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [(node.module, [a.name for a in node.names]) for node in imports] == [("labkit._moved", ["moved"])]
    assert ast.get_docstring(tree)
