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
    assert "jupyter lab" in install and "pip install" in install
    assert "[test]" in test and "pytest" in test
    assert test in (ROOT / ".ci" / "run").read_text()


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
