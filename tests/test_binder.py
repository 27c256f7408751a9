"""Binder (repo2docker) reads binder/: its files must agree with CI and with pyproject.toml.

CI runs ``binder/postBuild --hardware-only`` as the way it builds the firmware and the twin
(.ci/run), so the build step cannot rot; these tests keep the package lists in step.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from test_project import _name, _pyproject_list

from labkit.hw.twin import APT_PACKAGES

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"

#: Debian packages CI installs for its own tests only, not for a student on Binder: the browser
#: tests' chromium, what the TAP tests use (they need root and NET_ADMIN, which Binder does not
#: give), and tshark, which checks labkit's pcaps in CI but would cost a student ~150 MB in
#: notebook 09 (docs/deploying.md, "Sizing").
# avrdude: only tests/test_hw_flash.py's cross-check (it reads back what labkit hw flash wrote)
CI_ONLY = {"chromium", "chromium-driver", "iproute2", "iputils-ping", "curl", "tshark", "avrdude"}


def _ci_apt_packages() -> set[str]:
    text = (ROOT / ".ci" / "run").read_text()
    m = re.search(r"^apt_packages=\((.*?)\)", text, re.M | re.S)
    assert m, ".ci/run has no apt_packages=(...) list"
    return set(shlex.split(m.group(1)))


def _apt_txt() -> list[str]:
    lines = (BINDER / "apt.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_apt_txt_is_what_ci_installs_less_its_own_test_tools():
    apt = _apt_txt()
    assert len(apt) == len(set(apt)), "a package twice in binder/apt.txt"
    assert set(apt) == _ci_apt_packages() - CI_ONLY
    assert set(APT_PACKAGES.split()) <= set(apt)  # what labkit.hw.twin tells a user to install


def _conda(path: Path) -> dict[str, str]:
    specs = {}
    for line in path.read_text().split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^  - ([A-Za-z0-9_.-]+)(\S*)", line)
        if m and m.group(1) != "pip":
            specs[m.group(1).lower()] = m.group(2)
    return specs


def test_binder_environment_is_the_runtime_of_pyproject_with_an_exact_python():
    specs = _conda(BINDER / "environment.yml")
    python = specs.pop("python")
    assert set(specs) == {_name(r) for r in _pyproject_list("dependencies")}
    # no test or docs tool reaches a student's image (the test extra's matplotlib pin is a
    # runtime package the figures need drawn by one version, not a tool)
    runtime = {_name(r) for r in _pyproject_list("dependencies")}
    tools = {_name(r) for r in _pyproject_list("test") + _pyproject_list("docs")} - runtime
    assert tools and not set(specs) & tools
    # repo2docker needs an exact version; it must be one the package supports
    m = re.fullmatch(r"=(\d+)\.(\d+)", python)
    assert m, f"binder/environment.yml: python{python} is not an exact version"
    required = re.search(r'^requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text(),
                         re.M)
    assert tuple(map(int, m.groups())) >= tuple(map(int, required.groups()))


def test_post_build_builds_the_firmware_and_the_twin_and_ci_runs_it():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK) and post.read_text().startswith("#!/usr/bin/env bash\n")
    body = post.read_text()
    assert re.search(r"^make -C hardware all twin$", body, re.M)
    assert re.search(r"^\s+python -m pip install .*-e \.$", body, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "binder/postBuild --hardware-only" in ci
    assert not re.search(r"^\s*make -C hardware", ci, re.M)  # CI builds them only this way
