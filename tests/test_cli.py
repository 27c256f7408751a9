"""The ``labkit`` command's shape: one module per subcommand, help everywhere, one-line errors."""

from __future__ import annotations

import argparse
import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import labkit.cli
from labkit.cli import SUBCOMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}


def labkit_cmd(*args: str, module: str = "labkit") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=60, env=ENV, cwd=ROOT)


def listed_in_help() -> list[str]:
    """The subcommands ``labkit --help`` lists, in its order."""
    usage = build_parser().format_help()
    return re.search(r"\{([a-z,-]+)\}", usage).group(1).split(",")


def test_every_subcommand_in_the_help_has_its_own_module():
    names = listed_in_help()
    assert names == ["version", "student-copies", "ber", "demo", "hw", "tap", "labs", "site"]
    for name in names:
        module = importlib.import_module(f"labkit.cli.{name.replace('-', '_')}")
        assert (ROOT / "labkit" / "cli" / f"{name.replace('-', '_')}.py").is_file()
        assert callable(module.add_parser) and callable(module.run), name
    assert [m.__name__.rsplit(".", 1)[1] for m in SUBCOMMANDS] == \
        [n.replace("-", "_") for n in names]
    assert not (ROOT / "labkit" / "cli.py").exists()


def test_each_module_adds_a_parser_named_after_it():
    for module in SUBCOMMANDS:
        sub = argparse.ArgumentParser().add_subparsers()
        parser = module.add_parser(sub)
        assert isinstance(parser, argparse.ArgumentParser)
        assert list(sub.choices) == [module.__name__.rsplit(".", 1)[1].replace("_", "-")]


@pytest.mark.parametrize("argv", [[], *([name] for name in listed_in_help()),
                                  *(["hw", c] for c in ("ports", "doctor", "selftest", "send",
                                                        "recv"))])
def test_every_help_works(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: labkit {' '.join(argv)}".rstrip()), out


def test_labkit_tap_and_python_m_labkit_tap_take_the_same_options():
    as_sub, as_module = labkit_cmd("tap", "--help"), labkit_cmd("--help", module="labkit.tap")
    assert as_sub.returncode == 0 and as_module.returncode == 0, as_sub.stderr + as_module.stderr
    assert as_module.stdout.startswith("usage: python -m labkit.tap")

    def options(text: str) -> list[str]:
        return re.findall(r"^\s+(--[a-z]+)", text, re.M)

    assert options(as_sub.stdout) == options(as_module.stdout) == \
        ["--name", "--ip", "--gateway", "--port", "--seconds"]


def test_the_console_script_and_python_m_labkit_are_the_same_main():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^labkit = "labkit\.cli:main"$', text, re.M)
    assert "from labkit.cli import main" in (ROOT / "labkit" / "__main__.py").read_text()
    assert labkit.cli.main is main


def test_an_unknown_subcommand_exits_non_zero_with_a_message():
    for argv in (["nope"], []):
        got = labkit_cmd(*argv)
        assert got.returncode == 2 and got.stdout == ""
        assert "labkit: error:" in got.stderr and "Traceback" not in got.stderr
    assert "invalid choice: 'nope'" in labkit_cmd("nope").stderr


@pytest.mark.parametrize(("argv", "words"), [
    (["ber", "--bits", "0"], "labkit ber: n_bits=0"),
    (["ber", "--min-snr", "5", "--max-snr", "1"], "labkit ber: --min-snr 5 is above"),
    (["student-copies", "no-such-notebook.ipynb", "--out", "unused"], "labkit student-copies: "),
    (["tap", "--seconds", "0"], "labkit tap: "),
])
def test_errors_are_one_labkit_line_and_a_non_zero_status(argv, words, capsys, tmp_path,
                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(words) and captured.err.count("\n") == 1, captured.err


def test_an_oserror_reaching_main_is_one_line(capsys, monkeypatch):
    def broken(args: argparse.Namespace) -> int:
        raise PermissionError(13, "Permission denied", "student/01.ipynb")

    monkeypatch.setattr(labkit.cli.student_copies, "run", broken)
    assert main(["student-copies"]) == 2
    assert capsys.readouterr().err == \
        "labkit student-copies: [Errno 13] Permission denied: 'student/01.ipynb'\n"


def test_the_readme_lists_every_subcommand():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The `labkit` command", 1)[1].split("\n## ", 1)[0]
    for name in listed_in_help():
        assert f"`labkit {name}" in section, name


def test_the_parser_imports_no_layer():
    """``labkit --help`` stays fast: the subcommands import what they need when they run."""
    code = ("import sys, labkit.cli; labkit.cli.build_parser();"
            "print(sorted(m for m in sys.modules if m.startswith(('labkit.', 'numpy'))))")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV,
                         timeout=60, check=True)
    loaded = ast.literal_eval(got.stdout)
    assert all(m.startswith(("labkit.cli", "labkit.errors")) for m in loaded), loaded


def test_labkit_dash_dash_version():
    import labkit

    got = labkit_cmd("--version")
    assert got.returncode == 0 and got.stdout == f"labkit {labkit.__version__}\n"
    assert got.stdout == labkit_cmd("version").stdout


def test_demo_refuses_an_unwritable_pcap_before_the_banner(tmp_path):
    for path, words in ((str(tmp_path / "no" / "such" / "x.pcap"), "does not exist"),
                        (str(tmp_path), "is a folder")):
        got = labkit_cmd("demo", "--pcap", path)
        assert got.returncode == 2, got.stderr
        assert got.stdout == ""  # nothing ran: no banner, no progress bar
        assert got.stderr == f"labkit demo: --pcap {path}: " + got.stderr.split(": ", 2)[2]
        assert words in got.stderr and got.stderr.count("\n") == 1


def test_demo_in_a_pipe_that_closes_is_quiet():
    proc = subprocess.run(f"{sys.executable} -m labkit demo --no-wire | head -1", shell=True,
                          capture_output=True, text=True, timeout=120, env=ENV, cwd=ROOT)
    assert proc.stdout.startswith("labkit demo: C (10.0.1.10) fetches")
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_ber_says_no_errors_seen_as_notebook_01_does():
    from labkit.cli.ber import format_measured

    assert format_measured(0.0, 200_000) == "< 5.0e-06"
    assert format_measured(2.5e-3, 200_000) == "2.50e-03"
    got = labkit_cmd("ber", "--bits", "20000", "--min-snr", "2", "--max-snr", "6")
    assert got.returncode == 0
    assert "0.00e+00" not in got.stdout
    rows = got.stdout.splitlines()[2:5]
    assert rows[0].split()[1] != "<"  # 2 dB: errors are seen
    assert rows[2].split()[1:3] == ["<", "5.0e-05"]  # 6 dB: none in 20,000 bits
    assert got.stdout.splitlines()[-1].startswith("< 5.0e-05: no errors seen in 20000 bits (< 1/n)")
    # notebook 01's plot marks such a point with the same words
    import matplotlib.pyplot as plt
    import numpy as np

    from labkit.viz import plot_ber

    ax = plot_ber(np.array([2.0, 6.0]), np.array([3e-4, 0.0]), n_bits=20000)
    assert "no errors seen (< 1/n)" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close("all")


def test_hw_flash_names_a_bad_hex_file_and_a_missing_port(tmp_path):
    bad = tmp_path / "bad.hex"
    bad.write_text(":100000000C9434000C9446000C9446000C94460000\n:00000001FF\n")
    got = labkit_cmd("hw", "flash", "/dev/no-such-board", "--hex", str(bad))
    assert got.returncode == 2
    assert got.stderr.startswith("labkit hw flash: ihex: checksum='00'")
    assert f"({bad}, line 1)" in got.stderr  # refused before the port is opened
    got = labkit_cmd("hw", "flash", "/dev/no-such-board")
    assert got.returncode == 2 and "/dev/no-such-board: no such port" in got.stderr
    got = labkit_cmd("hw", "flash", "/dev/no-such-board", "--hex", str(tmp_path / "none.hex"))
    assert got.returncode == 2 and "none.hex: No such file or directory" in got.stderr
