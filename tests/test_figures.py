"""The stale-figure check (tests/figure_check.py): what it forgives and what it catches.

The pixel rule is tested on figures drawn here with small, named differences; the whole
plugin is tested by running nbval on a small notebook whose saved figures were made stale on
purpose, the way the 05 "ARP to C" figure went stale.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
from PIL import Image

import figure_check as fc

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "figures"

PX = 6 * 72 * 0.775 / 10  # display pixels per data unit along x in draw() below


def draw(shift: float = 0.0, color: str = "#1f77b4", text_dx: float = 0.0, label: str = "ttl=64",
         extra_arrow: bool = False, size: tuple[float, float] = (6, 3)) -> bytes:
    """A small sequence-diagram-like figure; the arguments are the differences under test."""
    fig, ax = plt.subplots(figsize=size, dpi=72)
    x = np.linspace(0, 10, 200)
    ax.plot(x + shift, np.sin(x), lw=1.5, color=color)
    ax.plot(x[::10] + shift, np.cos(x[::10]), "o", ms=4)
    ax.annotate("", xy=(3 + shift, 0.5), xytext=(1 + shift, -0.5), arrowprops={"arrowstyle": "->"})
    ax.text(5 + text_dx, 0.8, f"echo reply {label}")
    if extra_arrow:
        ax.annotate("", xy=(9, -0.9), xytext=(6, 0.9), arrowprops={"arrowstyle": "->"})
    ax.set_xlim(0, 10)
    ax.set_title("A pings C")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture(scope="module")
def base() -> bytes:
    return draw()


def _raw_differences(a: bytes, b: bytes) -> int:
    x, y = fc.decode_png(a), fc.decode_png(b)
    assert x.shape == y.shape
    return int((x != y).any(axis=2).sum())


def test_the_same_pixels_in_other_bytes_pass(base):
    image = Image.open(io.BytesIO(base))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # other bytes, same pixels
    assert buf.getvalue() != base
    assert fc.compare_png(base, buf.getvalue()).changed == 0


def test_anti_aliasing_noise_passes(base):
    # Lines moved by a twentieth of a pixel, a colour three levels off, a label one pixel
    # over: thousands of pixels differ, none of them in what the figure shows.
    noisy = draw(shift=0.05 / PX, color="#2278b7", text_dx=1 / PX)
    assert _raw_differences(base, noisy) > 1000
    result = fc.compare_png(base, noisy)
    assert not result.stale, result.changed


@pytest.mark.parametrize("shift_px", [0.1, 1.0])
def test_a_drawing_moved_by_at_most_a_pixel_passes(base, shift_px):
    assert not fc.compare_png(base, draw(shift=shift_px / PX)).stale


def test_an_arrow_that_came_or_went_is_stale(base):
    more = draw(extra_arrow=True)
    came = fc.compare_png(base, more)
    went = fc.compare_png(more, base)
    assert came.stale and went.stale
    assert came.changed > 20 * fc.MAX_CHANGED_PIXELS
    # The diff shows new ink in red and vanished ink in blue.
    red = (came.diff == (230, 40, 40)).all(axis=2).sum()
    blue = (went.diff == (40, 90, 230)).all(axis=2).sum()
    assert red > 100 and blue > 100
    assert (came.diff == (40, 90, 230)).all(axis=2).sum() < red / 10


def test_a_changed_label_is_stale(base):
    # (One glyph swapped for one of like shape, 64 -> 63, can stay under the threshold:
    # docs/testing.md says so.)
    assert fc.compare_png(base, draw(label="ttl=128")).stale
    assert fc.compare_png(base, draw(label="ttl=6")).stale


def test_a_drawing_moved_by_two_pixels_is_stale(base):
    assert fc.compare_png(base, draw(shift=2 / PX)).stale


def test_sizes_one_pixel_apart_are_aligned_and_others_are_stale(base):
    image = fc.decode_png(base)
    grown = np.full((image.shape[0] + 1, image.shape[1] + 1, 3), 255, dtype=np.int16)
    grown[1:, 1:] = image  # a tight bounding box one pixel larger at the top left
    assert fc.compare_arrays(image, grown).changed == 0
    other = fc.compare_png(base, draw(size=(6, 3.5)))
    assert other.stale and other.changed == -1 and other.diff is None
    assert other.saved_size != other.fresh_size


def test_the_stale_arp_figure_of_notebook_05_is_caught():
    # Notebook 05's "A pings C: ARP for C itself" as saved before the fix (S1 also sends the
    # ARP reply and the echoes to R1) and as its cell draws it now.
    saved = (DATA / "05-arp-to-c-saved-stale.png").read_bytes()
    fresh = (DATA / "05-arp-to-c-fresh.png").read_bytes()
    result = fc.compare_png(saved, fresh)
    assert result.stale and result.changed > 1000
    assert not fc.compare_png(fresh, fresh).stale


def _pinned_matplotlib() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    test_extra = re.search(r"^test = \[(.*?)^\]", text, re.S | re.M).group(1)
    pins = re.findall(r'"matplotlib==([0-9][^";\s]*)', test_extra)
    assert len(pins) == 1, "the test extra pins matplotlib exactly once"
    return pins[0]


def test_saved_figures_were_drawn_by_the_pinned_matplotlib():
    pin = _pinned_matplotlib()
    env = (ROOT / "environment.yml").read_text()
    assert f"matplotlib=={pin}" in env, "environment.yml pins the same matplotlib"
    wrong = []
    notebooks = sorted((ROOT / "course").glob("**/*.ipynb"))
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        for n, cell in enumerate(code):
            for png in fc._pngs(cell.get("outputs", [])):
                version = fc.matplotlib_version(png)
                if version is not None and version != pin:
                    wrong.append(f"{path.relative_to(ROOT)} code cell {n}: {version}")
    assert not wrong, (f"figures saved by another matplotlib than the pinned {pin}; re-save them "
                       f"with the pinned one: " + "; ".join(wrong))


# --- the plugin inside nbval, on a notebook made for it -------------------------------------

SETUP = """\
import matplotlib.pyplot as plt
import numpy as np

STALE, NOISE, SECOND = False, 0.0, False


def draw(shift=0.0, extra=False, data=None):
    fig, ax = plt.subplots(figsize=(5, 2.5))
    x = np.linspace(0, 10, 100)
    ax.plot(x + shift, np.sin(x) if data is None else data)
    if extra:
        ax.annotate("", xy=(9, -0.9), xytext=(6, 0.9), arrowprops={"arrowstyle": "->"})
    ax.set_title("a figure")
    plt.show()


def show_png():  # a figure shown as a bare PNG, with no text/plain beside it for nbval
    import base64, io
    from IPython.display import display
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    display({"image/png": base64.b64encode(buf.getvalue()).decode()}, raw=True)"""

CELLS = [
    ("draw(extra=STALE)", []),  # saved with an arrow the code no longer draws
    ("draw(shift=NOISE)", []),  # saved a twentieth of a pixel off: anti-aliasing noise
    ("draw(data=np.random.default_rng().normal(size=100))", ["figure-varies"]),
    ("show_png()\nif SECOND:\n    show_png()", []),  # saved two figures, shows one now
    ("draw()", ["nbval-ignore-output"]),  # not compared; saved what draw() draws now
    ("draw(extra=STALE)", []),  # stale, but saved by "matplotlib 3.0.0": not compared
]


def _as_if_saved_by(png: bytes, version: str) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", f"Matplotlib version{version}, https://matplotlib.org/")
    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _notebook(path: Path) -> None:
    """Write the notebook with outputs saved from a run where the figures were different."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    saved_setup = SETUP.replace("STALE, NOISE, SECOND = False, 0.0, False",
                                "STALE, NOISE, SECOND = True, 0.0013, True")  # 1/20 px
    nb.cells = [nbformat.v4.new_code_cell(saved_setup)]
    for source, tags in CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.cells[0].source = SETUP  # what the code says now
    data = nb.cells[6].outputs[0]["data"]
    data["image/png"] = base64.b64encode(
        _as_if_saved_by(base64.b64decode(data["image/png"]), "3.0.0")).decode()
    nbformat.write(nb, path)


def test_nbval_run_fails_stale_figures_and_names_notebook_and_cell(tmp_path):
    nb_path = tmp_path / "stale.ipynb"
    _notebook(nb_path)
    diffs = tmp_path / "diffs"
    env = {**os.environ, "LABKIT_FIGURE_DIFFS": str(diffs), "JUPYTER_PLATFORM_DIRS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])}
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # keep the repository's options out
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "-p", "figure_check",
         "-p", "no:cacheprovider", "-rA", "--color=no", str(nb_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    outcome = {n: s for s, n in re.findall(r"^(PASSED|FAILED) stale\.ipynb::Cell (\d+)", out, re.M)}
    assert outcome == {"0": "PASSED", "1": "FAILED", "2": "PASSED", "3": "PASSED",
                       "4": "FAILED", "5": "PASSED", "6": "PASSED"}, out
    assert "stale.ipynb, code cell 1, figure 1 of 1:" in out and "pixels changed" in out
    assert "stale.ipynb, code cell 4: the notebook saved 2 figure(s), the cell draws 1 now." in out
    for kind in ("saved", "fresh", "diff"):
        assert (diffs / "stale" / f"cell-01-figure-1-{kind}.png").is_file(), out
        assert str(diffs / "stale" / f"cell-01-figure-1-{kind}.png") in out
    assert not list((diffs / "stale").glob("cell-02-*")), "the noisy figure passed"
    summary = re.search(r"figure check: (\d+) saved figures compared .*?; (\d+) left out", out)
    assert summary and summary.groups() == ("2", "2"), out  # cells 1 and 2; 3 and 5 left out
    assert (f"figure check: 1 saved figures NOT compared: saved by matplotlib 3.0.0, drawn now "
            f"by {matplotlib.__version__}.") in out
    # The noise was real: the noisy cell's saved figure differs, in pixels, from what
    # draw() draws (saved by the ignored cell 5).
    cells = json.loads(nb_path.read_text())["cells"]
    noisy, clean = (fc._pngs(cells[i]["outputs"])[0] for i in (2, 5))
    assert _raw_differences(noisy, clean) > 100
    assert not fc.compare_png(noisy, clean).stale


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the pinned matplotlib needs Python 3.11; "
                    "there the figure check compares no figure, and says so")
def test_matplotlib_is_pinned_for_the_figures():
    # The check compares against figures drawn by the pinned matplotlib; another one would
    # draw the text differently and every figure would fail.
    assert matplotlib.__version__ == _pinned_matplotlib(), (
        f"matplotlib {matplotlib.__version__} is installed, the test extra pins "
        f"{_pinned_matplotlib()}: pip install -e '.[test]'")
