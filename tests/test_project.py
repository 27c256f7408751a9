"""The project's promises about itself: dependency lists agree, the README is true."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower()


def _conda_packages() -> set[str]:
    names = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)", line)
        if m and m.group(1) not in {"python", "pip"}:
            names.add(_name(m.group(1)))
    return names


def _pyproject_list(key: str) -> list[str]:
    # tomllib is 3.11+; the course supports 3.10, so read the two arrays directly.
    text = (ROOT / "pyproject.toml").read_text()
    body = re.search(rf"^{key} = \[(.*?)^\]", text, re.S | re.M).group(1)
    return re.findall(r'"([^"]+)"', body)


def test_environment_yml_matches_pyproject():
    pip_names = {_name(r) for r in _pyproject_list("dependencies") + _pyproject_list("test")}
    assert {"numpy", "pyserial", "jupyterlab", "pytest", "nbval"} <= pip_names
    assert _conda_packages() == pip_names


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", quick, re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_quick_start_is_two_commands_and_ci_runs_the_second():
    commands = _readme_commands()
    assert len(commands) == 2, commands
    install, test = commands
    steps = [s.strip() for s in install.split("&&")]
    # a virtual environment first (stock Debian/Ubuntu pip is "externally-managed"), then pip in it
    assert steps[0] == "python3 -m venv .venv" and steps[1] == ". .venv/bin/activate"
    assert steps[2].startswith("python -m pip install -e .")
    # the student's own edition (exercises unsolved), opened in JupyterLab at its root, so
    # 02's ../hardware/wiring.svg resolves there (tests/test_labs_student.py makes one)
    assert steps[3] == "labkit student-copies --edition my-course --open"
    from labkit.cli import student_copies

    assert student_copies.OPEN_COMMAND[-2:] == ["--ServerApp.root_dir=.", "course/00-overview.ipynb"]
    assert (ROOT / "course" / "00-overview.ipynb").exists()
    wiring = (ROOT / "course" / "02-hardware-lab.ipynb").read_text()
    assert "../hardware/wiring.svg" in wiring and "hardware/wiring.svg" in student_copies.FILES
    assert "my-course/" in (ROOT / ".gitignore").read_text().splitlines()
    assert test.startswith(". .venv/bin/activate && ")
    assert "[test]" in test and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert test in ci and "python3 -m venv .venv" in ci
    assert ".venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_notebook_table_is_one_block():
    # A blank line ends a Markdown table: every row must follow the header without one.
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The notebooks", 1)[1].split("\n## ", 1)[0]
    lines = section.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert re.fullmatch(r"\|(\s*-+\s*\|)+", table[1].replace(" ", "")), table[1]
    rows = [line for line in table[2:]]
    numbers = [row.split("|")[1].strip() for row in rows]
    notebooks = sorted(p.name[:2] for p in (ROOT / "course").glob("[0-9][0-9]-*.ipynb"))
    assert numbers == notebooks  # every notebook is a row of the one table, in order
    assert all(row.count("|") == table[0].count("|") for row in rows)
    # and no notebook row hides after the table as plain text
    rest = "\n".join(lines[start + len(table):])
    assert not re.search(r"^\|\s*\d\d\s*\|", rest, re.M)


def test_every_notebook_is_in_the_readme_and_glossary_links_exist():
    readme = (ROOT / "README.md").read_text()
    notebooks = sorted(p.name for p in (ROOT / "course").glob("*.ipynb"))
    assert notebooks
    for name in notebooks:
        assert f"course/{name}" in readme, name
    glossary = (ROOT / "course" / "GLOSSARY.md").read_text()
    for target in re.findall(r"\]\(([^)#]+\.ipynb)", glossary):
        assert (ROOT / "course" / target).exists(), target


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "labkit", "version"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.startswith("labkit ")
    bad = subprocess.run([sys.executable, "-m", "labkit", "ber", "--code", "morse"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "morse" in bad.stderr


def test_layers_import_only_layers_below():
    order = ["phy", "link", "net", "transport", "app"]
    for i, layer in enumerate(order):
        for path in (ROOT / "labkit" / layer).glob("**/*.py"):
            source = path.read_text()
            for above in order[i + 1:] + ["sim", "viz", "hw", "cli"]:
                assert not re.search(rf"^\s*(from|import) labkit\.{above}\b", source, re.M), (
                    f"{path.relative_to(ROOT)} imports labkit.{above}")
