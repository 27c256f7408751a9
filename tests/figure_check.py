"""The stale-figure check: a saved figure must be what its cell draws now.

nbval compares every output of a notebook cell except images (it skips ``image/png``), so a
figure saved long ago can show something the code no longer draws. This pytest plugin closes
that gap without running any notebook a second time: nbval has just executed the cell in its
kernel and kept the fresh outputs on the test item (``item.test_outputs``); after nbval's own
comparison passes, the plugin decodes each saved PNG and the fresh one and compares pixels.

The comparison (:func:`compare_png`) forgives anti-aliasing, not drawing:

- Sizes must agree to within :data:`SIZE_SLACK` pixels each way (a tight bounding box can move
  by a pixel); the better alignment is used.
- A pixel of one image *matches* when each of its colour channels lies within the range of the
  other image's 3x3 neighbourhood around it, widened by :data:`CHANNEL_TOLERANCE` levels (of
  255). An edge that moved by a fraction of a pixel, or blends a level or two differently,
  matches; ink where the other image has only background does not. The test runs both ways,
  so a mark that appeared and a mark that disappeared both count.
- A figure is *stale* when more than :data:`MAX_CHANGED_PIXELS` pixels fail to match.
  The numbers were calibrated on the course's figures (tests/test_figures.py keeps the
  calibration honest: the stale ARP figure of notebook 05 fails, sub-pixel shifts pass).

Also stale: a cell that now draws more or fewer figures than it saved.

Left out: cells tagged ``figure-varies`` (their data come from the machine, such as real
sockets), cells whose outputs nbval does not compare (``nbval-ignore-output``, ``nbval-skip``,
``--nbval-lax``), and cells saved without running.

On failure the plugin writes the saved, fresh and diff images to ``build/figure-check/`` under
the repository root (or ``$LABKIT_FIGURE_DIFFS``), and names the notebook, the cell and the
files. The figures are drawn by the matplotlib that the ``test`` extra pins. Every PNG records
the matplotlib that drew it: a figure saved by another matplotlib than the one running is not
compared (another version would fail every figure on a change nobody made), and the end of the
run says how many and which versions. tests/test_figures.py checks that every saved figure
records the pinned version, and that the pinned version is the one installed.

Turn the check off for one run with ``-p no:figure_check``.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

#: The cell tag that leaves a cell's figures out of the check.
VARIES_TAG = "figure-varies"
#: Colour levels (of 255) a channel may lie outside the other image's local range.
CHANNEL_TOLERANCE = 24
#: Pixels that may fail to match before a figure counts as stale.
MAX_CHANGED_PIXELS = 6
#: How many pixels the width or the height may differ by (tight bounding boxes).
SIZE_SLACK = 2

_SOFTWARE = re.compile(r"Matplotlib version\s*([0-9][^,\s]*)")


@dataclass
class Comparison:
    """What :func:`compare_png` found."""

    saved_size: tuple[int, int]  # (width, height)
    fresh_size: tuple[int, int]
    changed: int  # pixels that match in neither direction's test, or -1 when sizes differ
    diff: np.ndarray | None  # RGB diff image (None when the sizes differ too much)

    @property
    def stale(self) -> bool:
        return self.changed < 0 or self.changed > MAX_CHANGED_PIXELS


def decode_png(data: bytes) -> np.ndarray:
    """The image as an (h, w, 3) int16 array, composited over white."""
    image = Image.open(io.BytesIO(data))
    image = image.convert("RGBA")
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(background, image).convert("RGB"), dtype=np.int16)


def matplotlib_version(data: bytes) -> str | None:
    """The matplotlib version a PNG records in its ``Software`` text chunk, if any."""
    software = Image.open(io.BytesIO(data)).info.get("Software", "")
    m = _SOFTWARE.search(str(software))
    return m.group(1) if m else None


def _local_range(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel minimum and maximum over each pixel's 3x3 neighbourhood."""
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    low = image.copy()
    high = image.copy()
    for dy in range(3):
        for dx in range(3):
            view = padded[dy:dy + h, dx:dx + w]
            np.minimum(low, view, out=low)
            np.maximum(high, view, out=high)
    return low, high


def _unmatched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pixels of ``a`` that lie outside ``b``'s widened local range (a boolean h x w mask)."""
    low, high = _local_range(b)
    t = CHANNEL_TOLERANCE
    return ((a < low - t) | (a > high + t)).any(axis=2)


def _pad_to(image: np.ndarray, h: int, w: int, top: int, left: int) -> np.ndarray:
    out = np.full((h, w, 3), 255, dtype=np.int16)
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out


def compare_arrays(saved: np.ndarray, fresh: np.ndarray) -> Comparison:
    """Compare two decoded images (see the module's docstring for the rule)."""
    sh, sw = saved.shape[:2]
    fh, fw = fresh.shape[:2]
    sizes = (sw, sh), (fw, fh)
    if abs(sh - fh) > SIZE_SLACK or abs(sw - fw) > SIZE_SLACK:
        return Comparison(*sizes, changed=-1, diff=None)
    if saved.shape == fresh.shape and np.array_equal(saved, fresh):
        return Comparison(*sizes, changed=0, diff=None)
    h, w = max(sh, fh), max(sw, fw)
    best: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
    # Try every placement of the two images on a common canvas (one placement when the
    # sizes agree) and keep the one that leaves the fewest pixels unmatched.
    for top in range(h - fh + 1):
        for left in range(w - fw + 1):
            for stop in range(h - sh + 1):
                for sleft in range(w - sw + 1):
                    a = _pad_to(saved, h, w, stop, sleft)
                    b = _pad_to(fresh, h, w, top, left)
                    changed = _unmatched(a, b) | _unmatched(b, a)
                    n = int(changed.sum())
                    if best is None or n < best[0]:
                        best = (n, a, b, changed)
    assert best is not None
    n, a, b, changed = best
    return Comparison(*sizes, changed=n, diff=diff_image(a, b, changed))


def compare_png(saved: bytes, fresh: bytes) -> Comparison:
    """Compare a saved PNG with a freshly drawn one."""
    return compare_arrays(decode_png(saved), decode_png(fresh))


def diff_image(saved: np.ndarray, fresh: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """The saved figure faded to grey, with the pixels that changed in colour: blue where the
    saved figure is darker (ink that went away), red where the fresh one is (ink that came);
    each mark is grown by two pixels so that a thin line shows."""
    grey = saved.mean(axis=2, keepdims=True)
    out = np.repeat(255 - (255 - grey) * 0.3, 3, axis=2)
    went = changed & (saved.sum(axis=2) < fresh.sum(axis=2))

    def grow(mask: np.ndarray) -> np.ndarray:
        grown = mask.copy()
        for _ in range(2):
            p = np.pad(grown, 1)
            grown = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
        return grown

    out[grow(changed & ~went)] = (230, 40, 40)
    out[grow(went)] = (40, 90, 230)
    return out.astype(np.uint8)


def _pngs(outputs: list) -> list[bytes]:
    found = []
    for output in outputs:
        data = output.get("data") or {}
        if "image/png" in data:
            found.append(base64.b64decode(data["image/png"]))
    return found


class FigureCheck:
    """The plugin object: one per pytest run."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        root = Path(str(config.rootpath))
        self.out_dir = Path(os.environ.get("LABKIT_FIGURE_DIFFS") or root / "build" / "figure-check")
        self.figures = 0
        self.left_out = 0
        self.seconds = 0.0
        self.closest: tuple[int, str] = (0, "")  # the most changed pixels a passing figure had
        self.other_matplotlib: dict[tuple[str | None, str | None], int] = {}
        self._cleared: set[str] = set()

    def _wanted(self, item: pytest.Item) -> bool:
        cell = item.cell  # type: ignore[attr-defined]
        if cell.get("execution_count") is None:
            return False
        if not item.options.get("check") or item.options.get("skip"):  # type: ignore[attr-defined]
            return False
        return VARIES_TAG not in (cell.get("metadata", {}).get("tags") or [])

    def check(self, item: pytest.Item) -> None:
        cell = item.cell  # type: ignore[attr-defined]
        saved = _pngs(cell.get("outputs", []))
        fresh = _pngs(getattr(item, "test_outputs", None) or [])
        if not saved and not fresh:
            return
        if not self._wanted(item):
            self.left_out += len(saved)
            return
        start = time.perf_counter()
        try:
            problems = self._compare(item, saved, fresh)
        finally:
            self.seconds += time.perf_counter() - start
        if problems:
            item.raise_cell_error(  # type: ignore[attr-defined]
                "Saved figure differs from what the cell draws now", "\n".join(problems))

    def _where(self, item: pytest.Item) -> str:
        try:
            path = Path(str(item.path)).relative_to(Path(str(self.config.rootpath)))
        except ValueError:
            path = Path(str(item.path))
        return f"{path.as_posix()}, code cell {item.cell_num}"  # type: ignore[attr-defined]

    def _folder(self, item: pytest.Item) -> Path:
        folder = self.out_dir / Path(str(item.path)).stem
        if str(folder) not in self._cleared:
            shutil.rmtree(folder, ignore_errors=True)
            self._cleared.add(str(folder))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _compare(self, item: pytest.Item, saved: list[bytes], fresh: list[bytes]) -> list[str]:
        where = self._where(item)
        hint = (f"Re-save the notebook if the new figure is right:\n"
                f"  jupyter nbconvert --to notebook --execute --inplace {Path(str(item.path)).name}\n"
                f"or tag the cell '{VARIES_TAG}' if its data really vary from machine to machine "
                f"(docs/testing.md).")
        if len(saved) != len(fresh):
            return [f"{where}: the notebook saved {len(saved)} figure(s), the cell draws "
                    f"{len(fresh)} now.", hint]
        problems = []
        for k, (old, new) in enumerate(zip(saved, fresh), start=1):
            old_v, new_v = matplotlib_version(old), matplotlib_version(new)
            if old_v and new_v and old_v != new_v:
                # Another matplotlib draws text and curves a little differently: comparing
                # would fail every figure. Counted and said at the end of the run instead.
                key = (old_v, new_v)
                self.other_matplotlib[key] = self.other_matplotlib.get(key, 0) + 1
                continue
            self.figures += 1
            result = compare_png(old, new)
            if not result.stale:
                if result.changed > self.closest[0]:
                    self.closest = (result.changed, f"{where}, figure {k}")
                continue
            folder = self._folder(item)
            stem = f"cell-{item.cell_num:02d}-figure-{k}"  # type: ignore[attr-defined]
            (folder / f"{stem}-saved.png").write_bytes(old)
            (folder / f"{stem}-fresh.png").write_bytes(new)
            files = [folder / f"{stem}-saved.png", folder / f"{stem}-fresh.png"]
            if result.diff is not None:
                Image.fromarray(result.diff).save(folder / f"{stem}-diff.png")
                files.append(folder / f"{stem}-diff.png")
                what = (f"{result.changed} pixels changed (more than {MAX_CHANGED_PIXELS} "
                        f"allowed for anti-aliasing)")
            else:
                what = f"size changed from {result.saved_size} to {result.fresh_size}"
            problems.append(f"{where}, figure {k} of {len(saved)}: {what}.")
            problems.append("  " + "\n  ".join(str(f) for f in files))
            if result.diff is not None:
                problems.append("  (diff: blue = only in the saved figure, red = only in the fresh one)")
        if problems:
            problems.append(hint)
        return problems


def _is_nbval_cell(item: pytest.Item) -> bool:
    return hasattr(item, "cell") and hasattr(item, "raise_cell_error") and hasattr(item, "options")


@pytest.hookimpl(trylast=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    # Called after pytest's own pytest_runtest_call has run nbval's cell (it executed the cell
    # and compared the other outputs); not called when that raised, failed or skipped.
    checker = item.config.stash.get(_KEY, None)
    if checker is not None and _is_nbval_cell(item):
        checker.check(item)


_KEY = pytest.StashKey[FigureCheck]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEY] = FigureCheck(config)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    checker = config.stash.get(_KEY, None)
    if checker is None:
        return
    for (saved, running), n in sorted(checker.other_matplotlib.items(), key=str):
        terminalreporter.write_line(
            f"figure check: {n} saved figures NOT compared: saved by matplotlib {saved}, drawn "
            f"now by {running}. Install the pinned one (pip install -e '.[test]', Python >= "
            f"3.11), or move the pin and re-save every notebook (docs/testing.md).", yellow=True)
    if checker.figures or checker.left_out:
        terminalreporter.write_line(
            f"figure check: {checker.figures} saved figures compared in {checker.seconds:.2f} s; "
            f"{checker.left_out} left out ({VARIES_TAG}, unchecked or unrun cells); largest "
            f"difference passed: {checker.closest[0]} pixels {checker.closest[1]}".rstrip())
