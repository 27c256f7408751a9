"""labkit type-checks: mypy, configured in pyproject.toml, finds no error anywhere in labkit.

Every error is listed by the failing test; ``# type: ignore`` comments are few and name their code.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: In all of labkit, each with its error code.
MAX_TYPE_IGNORES = 20

_ERROR = re.compile(r"^(?P<path>[^:\s]+\.pyi?):(?P<line>\d+): error: (?P<message>.*)$")
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?")


def test_mypy_finds_no_error_in_labkit(tmp_path: Path) -> None:
    # The configuration (files, strictness) is pyproject.toml's; a fresh cache keeps runs independent.
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", str(tmp_path),
         "--no-error-summary", "--show-error-codes", "--no-pretty", "--no-color-output"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert run.returncode in (0, 1), f"mypy did not run (exit {run.returncode}):\n{run.stdout}{run.stderr}"
    errors = [m for m in map(_ERROR.match, run.stdout.splitlines()) if m]
    if run.returncode == 1:
        assert errors, f"mypy failed without reporting an error:\n{run.stdout}{run.stderr}"
    found = [m.group(0) for m in errors]
    assert not found, f"{len(found)} mypy error(s):\n" + "\n".join(found)


def _type_ignores() -> list[tuple[str, int, str | None]]:
    found = []
    for path in sorted((ROOT / "labkit").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for m in _IGNORE.finditer(line):
                found.append((path.relative_to(ROOT).as_posix(), number, m.group("codes")))
    return found


def test_type_ignores_are_few_and_each_names_its_error_code() -> None:
    found = _type_ignores()
    without_code = [f"{path}:{line}" for path, line, codes in found if not codes or codes == "[]"]
    assert not without_code, "a '# type: ignore' must name its error code, e.g. [attr-defined]: " + ", ".join(
        without_code)
    where = ", ".join(f"{path}:{line}" for path, line, _ in found)
    assert len(found) <= MAX_TYPE_IGNORES, (
        f"{len(found)} '# type: ignore' comments in labkit "
        f"(at most {MAX_TYPE_IGNORES}): {where}")


def test_mypy_config_silences_no_module() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert "[tool.mypy]" in text, "pyproject.toml has no [tool.mypy] section"
    config = text.split("[tool.mypy]", 1)[1].split("\n[tool.", 1)[0]
    assert re.search(r'^files = \["labkit"\]', config, re.M)
    assert "ignore_errors" not in config
    top = config.split("[[tool.mypy.overrides]]", 1)[0]
    assert not re.search(r"^ignore_missing_imports", top, re.M), \
        "ignore_missing_imports belongs in a per-module override, for an untyped third-party package"
    silenced = [source.relative_to(ROOT).as_posix() for source in sorted((ROOT / "labkit").rglob("*.py"))
                if re.search(r"#\s*mypy:.*ignore[-_]errors", source.read_text())]
    assert not silenced, "modules that silence mypy: " + ", ".join(silenced)
