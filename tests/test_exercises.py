"""Check cells give the right verdicts and hints; student copies lose their solutions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labkit import LabkitError, phy
from labkit.exercises import EXERCISES, check, evaluate, student_copy


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
    assert "Most significant bit first" in evaluate("phy.bits_of_byte", lsb_first).message
    assert "need more SNR" in evaluate("phy.snr_for_ber", 3.0).message
    assert "expected a number" in evaluate("phy.snr_for_ber", "ten").message
    assert "not written yet" in evaluate("phy.nrz_l", _unwritten).message
    assert "raised ZeroDivisionError" in evaluate("phy.nrz_l", lambda b, s: 1 / 0).message
    with pytest.raises(LabkitError, match="no such exercise"):
        evaluate("phy.nope", 1)


def _unwritten(bits, spb):
    raise NotImplementedError("your code here")


def _notebook(cells):
    return {"cells": cells, "metadata": {"widgets": {"state": {}}}, "nbformat": 4,
            "nbformat_minor": 5}


def _code(source, tags=(), outputs=None):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags)},
            "outputs": outputs or [{"output_type": "stream", "name": "stdout", "text": "x"}],
            "execution_count": 3}


def test_student_copy_strips_solutions(tmp_path):
    src = tmp_path / "nb.ipynb"
    cells = [
        _code("import numpy as np"),
        _code("def f(x):\n    # BEGIN SOLUTION\n    return x + 1\n    # END SOLUTION\n",
              tags=["solution"]),
        _code(["answer = 42\n", "print(answer)"], tags=["solution"]),
        {"cell_type": "markdown", "source": "# BEGIN SOLUTION stays in prose", "metadata": {}},
    ]
    src.write_text(json.dumps(_notebook(cells)))
    dst = tmp_path / "out" / "nb.ipynb"
    assert student_copy(src, dst) == 2
    out = json.loads(dst.read_text())
    code = [c for c in out["cells"] if c["cell_type"] == "code"]
    assert code[0]["source"] == "import numpy as np"
    assert code[1]["source"] == 'def f(x):\n    raise NotImplementedError("your code here")'
    assert code[2]["source"] == "# Your solution here\n"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert out["cells"][3]["source"] == "# BEGIN SOLUTION stays in prose"
    assert "widgets" not in out["metadata"]


def test_student_copy_errors(tmp_path):
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(LabkitError, match="bad.ipynb"):
        student_copy(bad, tmp_path / "x.ipynb")
    unclosed = tmp_path / "u.ipynb"
    unclosed.write_text(json.dumps(_notebook([_code("# BEGIN SOLUTION\nx = 1\n", ["solution"])])))
    with pytest.raises(LabkitError, match="without a matching"):
        student_copy(unclosed, tmp_path / "y.ipynb")


def test_every_phy_exercise_is_used_by_the_notebook():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "course" / "01-physical-layer.ipynb").read_text()
    for name in (n for n in EXERCISES if n.startswith("phy.")):
        assert f'check(\\"{name}\\"' in text, name
