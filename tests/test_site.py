"""The course website (``labkit site``): built once per test run, then checked.

It must publish the student edition (no reference solution, no hidden test), hold every
figure of every lesson, keep the widgets' saved state, and link only to pages and files that
exist. The build needs the docs extra's Jupyter Book, which the test extra lists too: the site
is built and checked in CI like everything else (about 20 s on two cores).
"""

from __future__ import annotations

import atexit
import html.parser
import json
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from labkit.cli import site
from labkit.errors import LabkitValueError
from labkit.exercises import student_copy
from labkit.exercises.solutions import CODE_STUB

ROOT = Path(__file__).resolve().parents[1]
_BUILT: dict[str, Path] = {}


def built_site() -> Path:
    """The site of this checkout, built once per test run (test_site_browser.py uses it too)."""
    if "html" not in _BUILT:
        out = Path(tempfile.mkdtemp(prefix="labkit-site-"))
        atexit.register(shutil.rmtree, out, True)
        _, note, html_dir = site.build(ROOT, out)
        _BUILT["html"], _BUILT["note"] = html_dir, Path(note or "")
    return _BUILT["html"]


class _Page(html.parser.HTMLParser):
    """The links, images, ids and visible text of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.scripts: list[tuple[str, str]] = []  # (type, body) of inline scripts
        self._script: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "link" and a.get("href"):
            self.links.append(a["href"])
        if tag == "script":
            if a.get("src"):
                self.links.append(a["src"])
            self._script = a.get("type") or ""
        if tag == "img" and a.get("src"):
            self.images.append(a["src"])
            self.links.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self.scripts.append((self._script, data))
        else:
            self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _flat(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return re.sub(r"\s+", " ", text).strip()


def _page_of(html_dir: Path, notebook: Path) -> Path:
    return html_dir / notebook.with_suffix(".html")


def _notebooks() -> list[Path]:
    src = site.find_sources(ROOT)
    return src.lessons + src.labs


# --- the student edition, on a notebook made for the test ------------------------------------


def _nb(*cells):
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(source, tags=(), outputs=None, **meta):
    return {"cell_type": "code", "source": source, "metadata": {"tags": list(tags), **meta},
            "outputs": outputs if outputs is not None else [
                {"output_type": "stream", "name": "stdout", "text": "the answer is 42\n"}],
            "execution_count": 1}


def test_published_copy_removes_solutions_and_hidden_tests_and_keeps_other_outputs():
    solution = {"nbgrader": {"solution": True, "grade_id": "g"}}
    nb = _nb(
        _code("x = 1\nprint(x)"),
        _code("def f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\n", **solution),
        _code("def g():\n    # BEGIN SOLUTION\n    return 'secret'\n    # END SOLUTION\n",
              tags=["solution"]),  # the older markup: still never published
        _code("assert g() is not None\n### BEGIN HIDDEN TESTS\nassert g() == 'secret'\n"
              "### END HIDDEN TESTS\n", nbgrader={"grade": True, "points": 1}),
        _code("answer = 'whole cell'", tags=["solution"]),
        {"cell_type": "markdown", "metadata": {"nbgrader": {"solution": True}},
         "source": "The reason is collisions."},
        _code("### BEGIN SOLUTION\nanswer = 'the value'\n### END SOLUTION", **solution),
    )
    out, changed = site.published_copy(nb, "t.ipynb")
    assert changed == 6
    cells = out["cells"]
    assert cells[0]["outputs"] == nb["cells"][0]["outputs"]  # an ordinary cell keeps its output
    stub = "\n".join(f"    {line}" for line in CODE_STUB.splitlines())
    assert cells[1]["source"] == f"def f():\n{stub}"
    assert cells[2]["source"] == f"def g():\n{stub}"
    assert cells[3]["source"] == "assert g() is not None"
    assert cells[4]["source"] == "# Your solution here"
    assert cells[5]["source"] == "YOUR ANSWER HERE"
    assert cells[6]["source"] == "answer = None  # your answer here"
    assert all(c["outputs"] == [] for c in cells[1:5] + cells[6:])
    assert "42" in json.dumps(nb)  # the caller's notebook is untouched
    text = json.dumps(out)
    assert "secret" not in text and "return 42" not in text and "collisions" not in text
    assert "the value" not in text


def test_the_site_and_a_students_copy_strip_alike(tmp_path):
    """One stripper: the published page and the student's copy differ only in the saved outputs."""
    for lesson in (ROOT / "course").glob("[0-9][0-9]-*.ipynb"):
        published, _ = site.published_copy(json.loads(lesson.read_text(encoding="utf-8")), lesson.name)
        student_copy(lesson, tmp_path / lesson.name)
        copy = json.loads((tmp_path / lesson.name).read_text(encoding="utf-8"))
        assert [c["source"] for c in published["cells"]] == [c["source"] for c in copy["cells"]], lesson


@pytest.mark.parametrize("source, error", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without its BEGIN"),
    ("### BEGIN HIDDEN TESTS\n### BEGIN HIDDEN TESTS\n", "inside another"),
    ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION\n", "without its BEGIN"),
])
def test_broken_markup_is_refused_naming_the_cell(source, error):
    with pytest.raises(LabkitValueError, match=rf"lab\.ipynb, cell 0: .*{error}"):
        site.published_copy(_nb(_code(source)), "lab.ipynb")


def test_the_launch_buttons_come_from_the_one_config(tmp_path):
    # A copy of the repository's site config with both addresses set: the staged book keeps them.
    import yaml

    fake = tmp_path / "repo"
    (fake / "course").mkdir(parents=True)
    (fake / "docs" / "site").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "00-overview.ipynb", fake / "course")
    for name in ("intro.md", "favicon.svg"):
        shutil.copy(ROOT / "docs" / "site" / name, fake / "docs" / "site")
    shutil.copytree(ROOT / "docs" / "site" / "_ext", fake / "docs" / "site" / "_ext")
    config = yaml.safe_load((ROOT / "docs" / "site" / "_config.yml").read_text())
    assert site.launch_note(config) == site.NO_ADDRESS  # the repository has no address yet
    config["repository"]["url"] = "https://example.org/course/labkit"
    config["launch_buttons"]["jupyterhub_url"] = "https://hub.example.org"
    (fake / "docs" / "site" / "_config.yml").write_text(yaml.safe_dump(config))
    _, note = site.stage(fake, tmp_path / "src")
    staged = yaml.safe_load((tmp_path / "src" / "_config.yml").read_text())
    assert note is None
    assert staged["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert staged["launch_buttons"]["jupyterhub_url"] == "https://hub.example.org"
    assert "announcement" not in staged.get("html", {})
    toc = yaml.safe_load((tmp_path / "src" / "_toc.yml").read_text())
    assert toc["parts"][0]["chapters"] == [{"file": "course/00-overview"}]


# --- the built site ------------------------------------------------------------------------


def test_every_lesson_lab_and_reference_page_is_built_and_without_an_address_it_says_so():
    html_dir = built_site()
    for nb in _notebooks():
        assert _page_of(html_dir, nb).exists(), nb
    for page in ("course/GLOSSARY.html", "hardware/README.html"):
        assert (html_dir / page).exists(), page
    index = _flat(" ".join(_parse(html_dir / "index.html").text))
    assert "No public repository address is set" in index
    for nb in _notebooks():
        title = site._title(json.loads((ROOT / nb).read_text()), nb.stem)
        assert _flat(title) in index, title


def _solution_lines(nb: dict) -> set[str]:
    """Lines inside the solution blocks of ``nb`` long enough to be the solution's own."""
    inside_lines, elsewhere = set(), []
    for cell in nb["cells"]:
        source = site._text(cell.get("source", ""))
        meta = cell.get("metadata", {})
        tagged = "solution" in meta.get("tags", []) or meta.get("nbgrader", {}).get("solution")
        if cell["cell_type"] != "code" or not tagged:
            elsewhere.append(source)
            elsewhere.extend(json.dumps(o) for o in cell.get("outputs", []))
            continue
        inside = not re.search(r"BEGIN SOLUTION", source)  # no markers: all of it is solution
        for line in source.splitlines():
            if re.match(r"^\s*#+\s*BEGIN SOLUTION", line):
                inside = True
            elif re.match(r"^\s*#+\s*END SOLUTION", line):
                inside = False
            elif inside and len(line.strip()) >= 12 and not line.strip().startswith("#"):
                inside_lines.add(line.strip())
    rest = "\n".join(elsewhere)
    return {line for line in inside_lines if line not in rest}


def test_no_solution_and_no_hidden_test_is_published():
    html_dir = built_site()
    checked = 0
    for nb_path in _notebooks():
        nb = json.loads((ROOT / nb_path).read_text(encoding="utf-8"))
        page = _page_of(html_dir, nb_path)
        raw = page.read_text(encoding="utf-8")
        text = _flat(" ".join(_parse(page).text))
        for line in _solution_lines(nb):
            assert _flat(line) not in text, f"{nb_path}: solution line published: {line!r}"
            checked += 1
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in raw and marker not in text, f"{nb_path}: {marker!r} published"
    assert checked >= 10  # the check looked at real solutions, not at none
    for source in html_dir.rglob("*.ipynb"):  # the notebook downloads are the student edition too
        assert "BEGIN SOLUTION" not in source.read_text(encoding="utf-8"), source
    # the book's own copies of the sources (_sources/) must not carry them either
    for source in (html_dir / "_sources").rglob("*"):
        if source.is_file():
            body = source.read_text(encoding="utf-8", errors="replace")
            assert "BEGIN SOLUTION" not in body and "BEGIN HIDDEN TESTS" not in body, source


def test_every_lesson_page_holds_its_figures():
    html_dir = built_site()
    for nb_path in _notebooks():
        published, _ = site.published_copy(json.loads((ROOT / nb_path).read_text()), str(nb_path))
        figures = sum("image/png" in out.get("data", {})
                      for cell in published["cells"] for out in cell.get("outputs", []))
        page = _page_of(html_dir, nb_path)
        shown = [src for src in _parse(page).images if "_images/" in src]
        assert len(shown) >= figures, f"{nb_path}: {figures} saved figures, {len(shown)} on the page"
        for src in shown:
            image = (page.parent / unquote(src)).resolve()
            assert image.exists() and image.stat().st_size > 1000, (nb_path, src)
    readme = _parse(html_dir / "hardware" / "README.html")
    assert any("wiring" in src for src in readme.images)  # the wiring diagram of the guide
    assert sum(len(_parse(_page_of(html_dir, nb)).images) for nb in _notebooks()) >= 30


def test_widgets_keep_their_saved_state():
    html_dir = built_site()
    with_widgets = [nb for nb in _notebooks()
                    if site.has_widgets(json.loads((ROOT / nb).read_text()))]
    assert with_widgets
    for nb_path in with_widgets:
        page = _parse(_page_of(html_dir, nb_path))
        states = [body for kind, body in page.scripts
                  if kind == "application/vnd.jupyter.widget-state+json"]
        views = [body for kind, body in page.scripts
                 if kind == "application/vnd.jupyter.widget-view+json"]
        assert states and views, nb_path
        models = json.loads(states[0])["state"]
        for view in views:  # every view shown has its model saved on the page
            assert json.loads(view)["model_id"] in models, nb_path
        assert "do not compute here" in _flat(" ".join(page.text)), nb_path


def test_every_internal_link_resolves():
    html_dir = built_site()
    # the pages (not the theme's templates that sit in _static/)
    pages = sorted(p for p in html_dir.rglob("*.html") if "_static" not in p.relative_to(html_dir).parts)
    ids = {page.resolve(): _parse(page).ids for page in pages}
    checked = 0
    for page in pages:
        for link in _parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue  # outside the site (launch buttons, CDNs): not ours to check here
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            assert target.is_relative_to(html_dir.resolve()), f"{page}: {link} leaves the site"
            if target.is_dir():
                target = target / "index.html"
            assert target.exists(), f"{page.relative_to(html_dir)}: broken link {link!r}"
            if parts.fragment and target.suffix == ".html":
                assert unquote(parts.fragment) in ids[target], (
                    f"{page.relative_to(html_dir)}: {link!r}: no such anchor")
            checked += 1
    assert checked > 100


def test_links_to_files_the_site_does_not_publish_point_at_the_repository():
    page, published = Path("course/GLOSSARY.md"), {Path("course/01-physical-layer.ipynb")}
    text = ("[01](01-physical-layer.ipynb#eye) [bench](../benchmarks/README.md) "
            "[web](https://example.org/x) [here](#top) ![fig](../hardware/wiring.png)")
    with_repo = site.repoint_links(text, page, published, "https://example.org/labkit/blob/main")
    assert with_repo == ("[01](01-physical-layer.ipynb#eye) "
                         "[bench](https://example.org/labkit/blob/main/benchmarks/README.md) "
                         "[web](https://example.org/x) [here](#top) ![fig](../hardware/wiring.png)")
    without = site.repoint_links(text, page, published, None)
    assert "bench (`benchmarks/README.md` in the repository)" in without
    assert "[01](01-physical-layer.ipynb#eye)" in without


def test_labkit_site_stage_only_says_there_is_no_address(tmp_path, capsys):
    from labkit.cli import main

    assert main(["site", "--root", str(ROOT), "-o", str(tmp_path), "--stage-only"]) == 0
    out, err = capsys.readouterr()
    lessons = len(site.find_sources(ROOT).lessons)
    assert f"{lessons} lessons" in out and "no launch buttons" in err
    assert (tmp_path / "src" / "_toc.yml").exists() and (tmp_path / "src" / "index.md").exists()
    assert not (tmp_path / "html").exists()  # staged only: Jupyter Book did not run


def test_a_lab_added_later_is_published_without_its_hidden_tests(tmp_path):
    # The labs are globbed from course/labs/ when the site is built: no list to keep.
    import yaml

    fake = tmp_path / "repo"
    (fake / "course" / "labs").mkdir(parents=True)
    shutil.copy(ROOT / "course" / "00-overview.ipynb", fake / "course")
    shutil.copytree(ROOT / "docs" / "site", fake / "docs" / "site",
                    ignore=shutil.ignore_patterns("_build", "__pycache__"))
    lab = _nb({"cell_type": "markdown", "metadata": {}, "source": "# Lab A · a receiver"},
              _code("def receive(x):\n    ### BEGIN SOLUTION\n    return x[::-1]\n    ### END SOLUTION\n",
                    nbgrader={"solution": True}),
              _code("assert receive(b'ab')\n### BEGIN HIDDEN TESTS\nassert receive(b'ab') == b'ba'\n"
                    "### END HIDDEN TESTS\n", nbgrader={"grade": True}))
    (fake / "course" / "labs" / "lab-a.ipynb").write_text(json.dumps(lab))
    sources, _ = site.stage(fake, tmp_path / "src")
    assert sources.labs == [Path("course/labs/lab-a.ipynb")]
    toc = yaml.safe_load((tmp_path / "src" / "_toc.yml").read_text())
    assert {"caption": "Labs", "chapters": [{"file": "course/labs/lab-a"}]} in toc["parts"]
    staged = (tmp_path / "src" / "course" / "labs" / "lab-a.ipynb").read_text()
    assert "x[::-1]" not in staged and "b'ba'" not in staged and "HIDDEN" not in staged
    assert "Lab A · a receiver" in (tmp_path / "src" / "index.md").read_text()
