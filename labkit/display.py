"""HTML for Jupyter: a header's fields as a table and its bytes as a coloured hex map.

Every layer's ``_repr_html_`` uses these two functions, so frames, packets and
segments look alike in a notebook. Plain HTML and inline styles only (no
JavaScript, no matplotlib), deterministic for the same input, so notebook
outputs compare equal run after run.

A *span* is ``(start, end, label)``: bytes ``data[start:end]`` belong to the
field called ``label``. Spans get colours in order from :data:`PALETTE`; bytes
outside every span are left uncoloured.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["PALETTE", "Span", "fields_table_html", "hex_map_html", "header_html"]

#: Soft background colours for consecutive fields (colour-blind friendly, light enough for text).
PALETTE = (
    "#aec7e8",  # blue
    "#ffbb78",  # orange
    "#98df8a",  # green
    "#ff9896",  # red
    "#c5b0d5",  # purple
    "#c49c94",  # brown
    "#f7b6d2",  # pink
    "#dbdb8d",  # olive
    "#9edae5",  # cyan
)

Span = tuple[int, int, str]

_CELL = "padding:1px 3px;font-family:monospace;text-align:left"


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def hex_map_html(
    data: bytes,
    spans: Sequence[Span] = (),
    *,
    width: int = 16,
    max_bytes: int = 256,
) -> str:
    """Return ``data`` as an HTML hex dump, each field's bytes on its own colour.

    One row per ``width`` bytes with the offset on the left; a legend below
    names the colours. Beyond ``max_bytes`` the dump stops with a note of how
    many bytes were left out.
    """
    data = bytes(data)
    colour_at: dict[int, tuple[str, str]] = {}
    for i, (start, end, label) in enumerate(spans):
        for pos in range(max(0, start), min(end, len(data), max_bytes)):
            colour_at[pos] = (_colour(i), label)
    shown = data[:max_bytes]
    rows = []
    for row_start in range(0, len(shown), width):
        cells = [f'<td style="{_CELL};color:#888">{row_start:04x}</td>']
        for pos in range(row_start, min(row_start + width, len(shown))):
            byte = f"{shown[pos]:02x}"
            if pos in colour_at:
                colour, label = colour_at[pos]
                cells.append(
                    f'<td style="{_CELL};background:{colour}" title="{escape(label)}">{byte}</td>'
                )
            else:
                cells.append(f'<td style="{_CELL}">{byte}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(data) > max_bytes:
        more = f"<div style='color:#888'>... {len(data) - max_bytes} more bytes not shown</div>"
    legend = " ".join(
        f'<span style="background:{_colour(i)};padding:0 4px;font-family:monospace">'
        f"{escape(label)}</span>"
        for i, (_s, _e, label) in enumerate(spans)
    )
    return (
        '<table style="border-collapse:collapse;font-size:12px">'
        + "".join(rows)
        + "</table>"
        + more
        + (f"<div style='margin-top:2px'>{legend}</div>" if spans else "")
    )


def fields_table_html(
    title: str,
    rows: Sequence[tuple[str, str, str]],
    spans: Sequence[Span] = (),
) -> str:
    """A table of ``(field, value, meaning)`` rows; when ``spans`` names the same fields in
    the same order, each row's field name wears its colour from the hex map."""
    body = []
    for i, (name, value, meaning) in enumerate(rows):
        colour = f"background:{_colour(i)};" if i < len(spans) else ""
        body.append(
            f'<tr><td style="{_CELL};{colour}">{escape(name)}</td>'
            f'<td style="{_CELL}">{escape(value)}</td>'
            f'<td style="{_CELL};color:#555">{escape(meaning)}</td></tr>'
        )
    return (
        f"<div style='font-weight:bold;margin-bottom:2px'>{escape(title)}</div>"
        '<table style="border-collapse:collapse;font-size:12px">'
        f'<tr><th style="{_CELL}">field</th><th style="{_CELL}">value</th>'
        f'<th style="{_CELL}">meaning</th></tr>' + "".join(body) + "</table>"
    )


def header_html(
    title: str,
    rows: Sequence[tuple[str, str, str]],
    data: bytes,
    spans: Sequence[Span],
) -> str:
    """The fields table and the hex map side by side: what a ``_repr_html_`` returns."""
    return (
        '<div style="display:flex;gap:16px;align-items:flex-start;flex-wrap:wrap">'
        f"<div>{fields_table_html(title, rows, spans)}</div>"
        f"<div>{hex_map_html(data, spans)}</div>"
        "</div>"
    )
