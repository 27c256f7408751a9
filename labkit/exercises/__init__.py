"""Exercise checks for the notebooks, and student copies without the solutions.

A check cell calls :func:`check` with the exercise's name and the student's
answer (a value or a function). The checker runs the answer against labkit's
own implementation and prints either a confirmation or a hint that says what
went wrong, never just "wrong"::

    check("phy.nrz_l", my_nrz_l)

Each layer registers its exercises with :func:`exercise`; the physical
layer's are at the bottom of this module.

Solutions live in the same notebook, in code cells tagged ``solution``. The
lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in such a cell are
what :func:`student_copy` removes (nbgrader's convention, which teachers may
know); a solution cell without those markers is emptied whole.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from labkit.errors import LabkitValueError

__all__ = ["check", "evaluate", "exercise", "student_copy", "ExerciseResult", "EXERCISES"]

#: The checker of each exercise, by name.
EXERCISES: dict[str, Callable[[object], ExerciseResult]] = {}

_BEGIN, _END = "# BEGIN SOLUTION", "# END SOLUTION"
_PLACEHOLDER = 'raise NotImplementedError("your code here")'


class ExerciseResult:
    """The outcome of a check: ``ok`` and the message shown to the student."""

    __slots__ = ("ok", "message")

    def __init__(self, ok: bool, message: str) -> None:
        self.ok = ok
        self.message = message

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"{'✔' if self.ok else '✘'} {self.message}"


def exercise(name: str) -> Callable:
    """Register a checker: a function taking the answer, returning an :class:`ExerciseResult`."""

    def register(func: Callable[[object], ExerciseResult]) -> Callable:
        EXERCISES[name] = func
        return func

    return register


#: Where each layer's checkers live, by the prefix of the exercise name; imported on first use.
_MODULES = {
    "link": "labkit.link.exercises",
    "udp": "labkit.exercises.transport",
    "tcp": "labkit.exercises.transport",
    "net": "labkit.net.exercises",
    "app": "labkit.app.exercises",
    "capstone": "labkit.exercises.capstone",
}


def _load(name: str) -> None:
    module = _MODULES.get(name.split(".", 1)[0])
    if module is not None and name not in EXERCISES:
        import importlib

        importlib.import_module(module)


def check(name: str, answer: object) -> None:
    """Check ``answer`` for exercise ``name`` and print the verdict (the check cells call this)."""
    print(repr(evaluate(name, answer)))


def evaluate(name: str, answer: object) -> ExerciseResult:
    """Check ``answer`` for exercise ``name`` and return the verdict without printing it.

    An answer that raises is reported with the exception, as a hint.
    """
    _load(name)
    if name not in EXERCISES:
        known = ", ".join(sorted(EXERCISES))
        raise LabkitValueError(f"exercise {name!r}: no such exercise (known: {known})")
    try:
        result = EXERCISES[name](answer)
    except NotImplementedError:
        result = ExerciseResult(False, "not written yet: replace the NotImplementedError line")
    except Exception as exc:  # the student's code failed: that is a hint, not a crash
        result = ExerciseResult(False, f"your answer raised {type(exc).__name__}: {exc}")
    return result


def _compare_arrays(got: object, want: np.ndarray, what: str, hint: str) -> ExerciseResult | None:
    arr = np.asarray(got)
    if arr.shape != want.shape:
        return ExerciseResult(
            False, f"{what}: expected {want.size} values, got shape {arr.shape}. {hint}"
        )
    if not np.allclose(arr.astype(float), want.astype(float)):
        i = int(np.flatnonzero(~np.isclose(arr.astype(float), want.astype(float)))[0])
        return ExerciseResult(False, f"{what}: first difference at index {i}: got {arr[i]}, "
                                     f"expected {want[i]}. {hint}")
    return None


# --- physical layer (course/01-physical-layer.ipynb) -------------------------------------------

_PHY_CASES = [
    np.array([], dtype=np.uint8),
    np.array([1], dtype=np.uint8),
    np.array([0, 0, 1, 1, 0, 1, 0, 0, 0, 1], dtype=np.uint8),
    np.random.default_rng(7).integers(0, 2, 64, dtype=np.uint8),
]


@exercise("phy.bits_of_byte")
def _check_bits_of_byte(answer: object) -> ExerciseResult:
    from labkit.phy import bits_from_bytes

    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., bits_of_byte)")
    for value in (0, 1, 0x41, 0x80, 0xA5, 0xFF):
        want = bits_from_bytes(bytes([value]))
        bad = _compare_arrays(
            answer(value), want, f"bits_of_byte({value:#04x})",
            "Most significant bit first: 0x41 is 0 1 0 0 0 0 0 1. Try (value >> (7 - i)) & 1.",
        )
        if bad is not None:
            return bad
    return ExerciseResult(True, "bits_of_byte matches labkit.phy.bits_from_bytes for every byte tried")


@exercise("phy.nrz_l")
def _check_nrz_l(answer: object) -> ExerciseResult:
    from labkit.phy import encode

    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., nrz_l)")
    for spb in (2, 8):
        for bits in _PHY_CASES:
            want = encode(bits, "nrz-l", spb)
            bad = _compare_arrays(
                answer(bits, spb), want, f"nrz_l({bits.size} bits, samples_per_bit={spb})",
                "Each bit lasts samples_per_bit samples: 5.0 V for a 1, 0.0 V for a 0 "
                "(np.repeat does exactly this).",
            )
            if bad is not None:
                return bad
    return ExerciseResult(True, "nrz_l matches labkit.phy.encode(bits, 'nrz-l') on every case")


@exercise("phy.manchester_decode")
def _check_manchester_decode(answer: object) -> ExerciseResult:
    from labkit.phy import add_noise, encode

    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., manchester_decode)")
    rng = np.random.default_rng(11)
    for bits in _PHY_CASES:
        clean = encode(bits, "manchester", 8)
        for label, wave in (("clean", clean), ("noisy", add_noise(clean, 6, rng, signal_power=6.25)
                                                 if clean.size else clean)):
            bad = _compare_arrays(
                answer(wave, 8), bits, f"manchester_decode({label}, {bits.size} bits)",
                "IEEE 802.3: a 0 is high-then-low, a 1 is low-then-high. Compare the mean of "
                "each bit's second half with its first half rather than single samples, so "
                "noise averages out.",
            )
            if bad is not None:
                return bad
    return ExerciseResult(True, "manchester_decode reads clean and noisy waveforms correctly")


@exercise("phy.snr_for_ber")
def _check_snr_for_ber(answer: object) -> ExerciseResult:
    from labkit.phy import ber_theory

    try:
        snr = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ExerciseResult(False, f"expected a number of decibels, got {answer!r}")
    if not math.isfinite(snr):
        return ExerciseResult(False, f"expected a finite number of decibels, got {answer!r}")
    got = float(ber_theory(snr, 8, "nrz-l"))
    if abs(math.log10(got) - math.log10(1e-6)) <= 0.1:
        return ExerciseResult(True, f"at {snr:.2f} dB theory gives a BER of {got:.2e}")
    direction = "more" if got > 1e-6 else "less"
    return ExerciseResult(
        False,
        f"at {snr:.2f} dB theory gives a BER of {got:.2e}, not 1e-6: you need {direction} SNR. "
        "Solve Q(sqrt(8 * snr)) = 1e-6 (Q(4.753) = 1e-6), then snr_db = 10 * log10(snr).",
    )


# --- student copies ----------------------------------------------------------------------------


def _strip_solution(source: str) -> str:
    lines = source.splitlines(keepends=True)
    if not any(line.strip() == _BEGIN for line in lines):
        return "# Your solution here\n"
    out, inside = [], False
    for line in lines:
        stripped = line.strip()
        if stripped == _BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}{_PLACEHOLDER}\n")
            inside = True
        elif stripped == _END:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LabkitValueError(f"solution cell: {_BEGIN!r} without a matching {_END!r}")
    return "".join(out).rstrip("\n")


def student_copy(src: str | Path, dst: str | Path) -> int:
    """Write a copy of notebook ``src`` to ``dst`` with its solutions removed.

    Cells tagged ``solution`` lose their solution lines; every code cell loses
    its outputs (the student runs them). Returns the number of solution cells
    stripped.
    """
    path = Path(src)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LabkitValueError(f"notebook {str(src)!r}: cannot read it as a notebook: {exc}") from None
    stripped = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        if "solution" in cell.get("metadata", {}).get("tags", []):
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            cell["source"] = _strip_solution(text)
            stripped += 1
        cell["outputs"] = []
        cell["execution_count"] = None
    nb.get("metadata", {}).pop("widgets", None)
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stripped
