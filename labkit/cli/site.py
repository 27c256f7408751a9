"""``labkit site``: the course website, built with Jupyter Book 1.x from the executed notebooks.

What it publishes is the *student edition* of the course with the saved outputs:

- every lesson ``course/NN-*.ipynb`` and every lab ``course/labs/*.ipynb`` (a glob: whatever
  notebooks exist when it runs), the glossary and the hardware guide (``hardware/README.md``);
- solutions and hidden tests are taken out by the stripper ``labkit student-copies`` uses
  (:mod:`labkit.exercises.solutions`, nbgrader's markup): a solution block becomes nbgrader's
  stub, hidden tests (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) and mark
  schemes go, and a changed cell loses its outputs. Nothing is executed: the figures and the
  widgets' saved state are the ones committed with the notebooks.

The site's settings are ``docs/site/_config.yml``; a teacher sets the repository's public
address and the JupyterHub's there, in one place, and the launch buttons (Binder, JupyterHub)
are built from them. With no repository address the site has no launch buttons and each page
says so. Jupyter Book is in the ``docs`` extra (``pip install -e ".[docs]"``), never in what a
student installs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.errors import LabkitValueError

__all__ = ["add_parser", "run", "Sources", "find_sources", "published_copy", "stage", "build"]

#: Said on every page (and by the build) when the repository has no public address yet.
NO_ADDRESS = ("No public repository address is set (docs/site/_config.yml, repository.url): "
              "this site has no launch buttons. Run the notebooks from a clone (see the README).")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``site`` to the ``labkit`` command's subcommands."""
    p = subparsers.add_parser(
        "site", help="build the course website (Jupyter Book, the docs extra)",
        description="Build the course website from the executed notebooks (student edition, "
                    "no re-execution) into DIR/html. Settings: docs/site/_config.yml.")
    p.add_argument("--root", default=".", help="the course repository (default: .)")
    p.add_argument("-o", "--out", default=None,
                   help="build folder (default: docs/site/_build); the site is in OUT/html")
    p.add_argument("--stage-only", action="store_true",
                   help="write the book's sources (OUT/src) and stop, without Jupyter Book")
    return p


# --- what is published ---------------------------------------------------------------------


@dataclass
class Sources:
    """The files the site is built from, as paths relative to the repository."""

    lessons: list[Path] = field(default_factory=list)
    labs: list[Path] = field(default_factory=list)
    pages: list[Path] = field(default_factory=list)  # Markdown pages: glossary, hardware guide
    assets: list[Path] = field(default_factory=list)  # files the pages show (images)


def find_sources(root: Path) -> Sources:
    """Every lesson, lab and reference page in the repository at ``root`` (globbed, sorted)."""
    src = Sources(
        lessons=sorted(p.relative_to(root) for p in (root / "course").glob("[0-9][0-9]-*.ipynb")),
        labs=sorted(p.relative_to(root) for p in (root / "course" / "labs").glob("*.ipynb")),
    )
    if not src.lessons:
        raise LabkitValueError(f"root {str(root)!r}: no lessons (course/NN-*.ipynb) found")
    for page in ("course/GLOSSARY.md", "hardware/README.md", "hardware/PROTOCOL.md"):
        if (root / page).exists():
            src.pages.append(Path(page))
    for pattern in ("hardware/*.png", "hardware/*.svg", "course/*.png", "course/*.svg",
                    "course/labs/*.png", "course/labs/*.svg"):
        src.assets.extend(sorted(p.relative_to(root) for p in root.glob(pattern)))
    return src


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")


def repoint_links(text: str, page: Path, published: set[Path], blob_url: str | None) -> str:
    """Point ``page``'s links to repository files the site does not publish at the repository.

    ``page`` and ``published`` are repository-relative; ``blob_url`` is where the repository
    shows a file (``URL/blob/BRANCH``), or ``None``: then the link becomes its text and the
    file's path, so that the site holds no link to a page it does not have.
    """
    def fix(m: re.Match[str]) -> str:
        label, target = m.group(1), m.group(2)
        path = target.split("#", 1)[0]
        if not path or re.match(r"^[a-z][a-z0-9+.-]*:", target):
            return m.group(0)  # an anchor on the same page, or another site
        resolved = Path(os.path.normpath(page.parent / path))
        if resolved in published or resolved.parts[:1] == ("..",):
            return m.group(0)
        if blob_url:
            return f"[{label}]({blob_url}/{resolved.as_posix()})"
        return f"{label} (`{resolved.as_posix()}` in the repository)"
    return _LINK.sub(fix, text)


def published_copy(nb: dict[str, Any], name: str = "notebook") -> tuple[dict[str, Any], int]:
    """The student edition of notebook ``nb`` with its saved outputs; and how many cells changed.

    The stripper of ``labkit student-copies`` (:func:`labkit.exercises.solutions.student_notebook`),
    keeping the outputs of every cell it did not change.
    """
    from labkit.exercises.solutions import student_notebook

    return student_notebook(nb, name, keep_outputs=True)


def has_widgets(nb: dict[str, Any]) -> bool:
    """Whether ``nb`` shows a widget in its saved outputs."""
    return any("application/vnd.jupyter.widget-view+json" in out.get("data", {})
               for cell in nb.get("cells", []) for out in cell.get("outputs", []))


# --- the book ------------------------------------------------------------------------------


def _title(nb: dict[str, Any], fallback: str) -> str:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            m = re.search(r"^#\s+(.+)$", _text(cell.get("source", "")), re.M)
            if m:
                return m.group(1).strip()
    return fallback


def _config(root: Path) -> dict[str, Any]:
    import yaml  # PyYAML comes with Jupyter Book (the docs extra)

    path = root / "docs" / "site" / "_config.yml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LabkitValueError(f"site config {str(path)!r}: cannot read it: {exc}") from None
    if not isinstance(config, dict):
        raise LabkitValueError(f"site config {str(path)!r}: not a YAML mapping")
    return config


def launch_note(config: dict[str, Any]) -> str | None:
    """``None`` when the launch buttons can be built, else what the site says instead."""
    url = str((config.get("repository") or {}).get("url") or "").strip()
    return None if url else NO_ADDRESS


def stage(root: Path, dest: Path) -> tuple[Sources, str | None]:
    """Write the book's sources into ``dest`` (the repository's layout, student edition).

    Returns the sources and the launch note (``None`` when there are launch buttons).
    """
    import yaml

    root = root.resolve()
    src = find_sources(root)
    config = _config(root)
    note = launch_note(config)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if note:
        launch = config.setdefault("launch_buttons", {})
        launch["binderhub_url"] = ""
        launch["jupyterhub_url"] = ""
        config.setdefault("html", {})["use_repository_button"] = False
        config["html"]["announcement"] = note
    live = ("Open it live with the launch button (the rocket at the top of the page) to move them."
            if not note else "Run the notebook in JupyterLab (see the README) to move them.")

    repo = config.get("repository") or {}
    blob_url = (f"{str(repo['url']).rstrip('/')}/blob/{repo.get('branch') or 'main'}"
                if not note else None)
    published = set(src.lessons + src.labs + src.pages + src.assets)
    titles: dict[Path, str] = {}
    for rel in src.lessons + src.labs:
        nb = json.loads((root / rel).read_text(encoding="utf-8"))
        out, _ = published_copy(nb, str(rel))
        for cell in out["cells"]:
            if cell.get("cell_type") == "markdown":
                cell["source"] = repoint_links(_text(cell["source"]), rel, published, blob_url)
        titles[rel] = _title(out, rel.stem)
        if has_widgets(out):
            out["cells"].insert(1 if out["cells"] else 0, {
                "cell_type": "markdown", "id": "labkit-site-note", "metadata": {"tags": ["site-note"]},
                "source": f"```{{note}}\nThis page shows the notebook's saved outputs: its "
                          f"controls show the state they were saved in and do not compute here. "
                          f"{live}\n```"})
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(json.dumps(out, indent=1, ensure_ascii=False), encoding="utf-8")
    shutil.copytree(root / "docs" / "site" / "_ext", dest / "_ext",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(root / "docs" / "site" / "favicon.svg", dest / "favicon.svg")
    for rel in src.pages + src.assets:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest / rel)
    for rel in src.pages:
        md = repoint_links((dest / rel).read_text(encoding="utf-8"), rel, published, blob_url)
        if not md.lstrip().startswith("# "):
            md = f"# {rel.stem.title()}\n\n{md}"
        (dest / rel).write_text(md, encoding="utf-8")

    intro = (root / "docs" / "site" / "intro.md").read_text(encoding="utf-8")
    lines = [intro.rstrip(), "", "## Lessons", ""]
    lines += [f"- [{titles[p]}]({p.as_posix()})" for p in src.lessons]
    if src.labs:
        lines += ["", "## Labs", ""]
        lines += [f"- [{titles[p]}]({p.as_posix()})" for p in src.labs]
    lines += ["", "## Reference", ""]
    lines += [f"- [{'Glossary' if p.name == 'GLOSSARY.md' else p.as_posix()}]({p.as_posix()})"
              for p in src.pages]
    if note:
        lines += ["", f"```{{note}}\n{note}\n```"]
    (dest / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def entries(paths: list[Path]) -> list[dict[str, str]]:
        return [{"file": p.with_suffix("").as_posix()} for p in paths]

    parts = [{"caption": "Lessons", "chapters": entries(src.lessons)}]
    if src.labs:
        parts.append({"caption": "Labs", "chapters": entries(src.labs)})
    parts.append({"caption": "Reference", "chapters": entries(src.pages)})
    toc = {"format": "jb-book", "root": "index", "parts": parts}
    (dest / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
                                      encoding="utf-8")
    return src, note


def build(root: Path, out: Path) -> tuple[Sources, str | None, Path]:
    """Stage the sources into ``out/src`` and build the site into ``out/html``."""
    import importlib.util

    if importlib.util.find_spec("jupyter_book") is None:
        raise LabkitValueError('jupyter-book is not installed: pip install -e ".[docs]"')
    srcdir = out / "src"
    sources, note = stage(root, srcdir)
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    # Jupyter Book writes into SRC/_build; build there and move the HTML to OUT/html.
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", "--quiet", "--keep-going", str(srcdir)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    built = srcdir / "_build" / "html"
    if done.returncode != 0 or not (built / "index.html").exists():
        raise LabkitValueError(f"jupyter-book build failed (status {done.returncode}):\n"
                               f"{done.stdout[-3000:]}{done.stderr[-3000:]}")
    shutil.move(str(built), str(html))
    (out / "build.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    return sources, note, html


def run(args: argparse.Namespace) -> int:
    root = Path(args.root)
    out = Path(args.out) if args.out else root / "docs" / "site" / "_build"
    if args.stage_only:
        sources, note = stage(root, out / "src")
        where = out / "src"
    else:
        start = time.monotonic()
        sources, note, where = build(root, out)
        print(f"built in {time.monotonic() - start:.0f} s (log: {out / 'build.log'})")
    print(f"{len(sources.lessons)} lessons, {len(sources.labs)} labs, {len(sources.pages)} pages"
          f" -> {where}")
    if note:
        print(f"labkit site: {note}", file=sys.stderr)
    return 0
