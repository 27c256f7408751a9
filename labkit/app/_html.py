"""A small HTML view for Jupyter: a message's fields as a table and its bytes as hex."""

from __future__ import annotations

from html import escape

_MAX_BYTES = 256


def message_html(title: str, fields: list[tuple[str, object]], raw: bytes) -> str:
    """Fields as a two-column table, then the first bytes of ``raw`` in hex with their ASCII."""
    rows = "".join(
        f"<tr><td style='text-align:left'><b>{escape(name)}</b></td>"
        f"<td style='text-align:left'><code>{escape(str(value))}</code></td></tr>"
        for name, value in fields
    )
    shown = raw[:_MAX_BYTES]
    lines = []
    for off in range(0, len(shown), 16):
        chunk = shown[off : off + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:04x}  {hexes:<47}  {escape(text)}")
    more = f"\n... {len(raw) - _MAX_BYTES} more bytes" if len(raw) > _MAX_BYTES else ""
    return (f"<div><b>{escape(title)}</b> ({len(raw)} bytes)<table>{rows}</table>"
            f"<pre style='font-size:85%'>{chr(10).join(lines)}{more}</pre></div>")
