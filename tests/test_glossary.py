"""course/GLOSSARY.md: the terms owed to the source text, and links to where each term is taught."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = ROOT / "course" / "GLOSSARY.md"


def _rows() -> dict[str, list[str]]:
    rows = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        if line.startswith("| ") and not line.startswith("| term"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def _row(english: str) -> list[str]:
    rows = _rows()
    if english in rows:
        return rows[english]
    hits = [cells for term, cells in rows.items() if term.lower().startswith(english.lower())]
    assert len(hits) == 1, (english, [h[0] for h in hits])
    return hits[0]


def _teaching_text(notebook: str) -> str:
    """The notebook's cell sources (what it teaches; outputs left out), lower-cased."""
    nb = json.loads((ROOT / "course" / notebook).read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"]).lower()


@pytest.mark.parametrize(("english", "chinese"), [
    ("packet", "数据包"), ("router", "路由器"), ("local area network (LAN)", "局域网"),
    ("subnet |", "子网"), ("network address", "网络地址"), ("segment", "报文段"),
    ("four-way close", "四次挥手"), ("ICMP", "互联网控制报文协议"),
    ("retransmission timeout (RTO)", "重传超时时间"), ("bit rate / baud", "波特率"),
])
def test_the_terms_owed_to_the_source_are_there(english, chinese):
    cells = _row(english.rstrip(" |"))
    assert chinese in cells[1], cells


def test_the_source_s_own_words_are_kept_beside_the_standard_ones():
    assert "4次握手" in _row("four-way close")[1]  # the source's name for the close
    icmp = _row("ICMP")[1]
    assert "网络控制报文协议" in icmp and "not the standard" in icmp
    assert "symbols" in _row("bit rate / baud")[2]
    assert "1111" in _row("class A to E")[2] and "11110" in _row("class A to E")[2]


def test_every_link_resolves():
    text = GLOSSARY.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    assert targets
    for target in targets:
        assert (GLOSSARY.parent / target).resolve().exists(), target


@pytest.mark.parametrize(("english", "words"), [
    ("packet", ["packet"]), ("router", ["router"]), ("local area network", ["lan"]),
    ("network address", ["network address"]), ("segment", ["segment"]),
    ("propagation delay", ["propagation delay", "transmission delay"]),
])
def test_links_point_at_a_notebook_that_uses_the_term(english, words):
    links = re.findall(r"\]\(([^)]+\.ipynb)\)", _row(english)[-1])
    assert links
    for notebook in links:
        text = _teaching_text(notebook)
        for word in words:
            assert re.search(rf"\b{re.escape(word)}", text), (english, notebook, word)


def test_terms_taught_outside_the_notebooks_link_to_where_they_are():
    pty = _row("pseudo-terminal")[-1]
    assert "../hardware/README.md" in pty
    assert "pseudo-terminal" in (ROOT / "hardware" / "README.md").read_text(encoding="utf-8")
    goodput = _row("goodput")[-1]
    assert "../benchmarks/README.md" in goodput
    assert "goodput" in (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
