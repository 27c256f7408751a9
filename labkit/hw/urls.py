"""The port URLs of the simulated boards: ``labkit-sim://NAME/INDEX?k=v`` and ``labkit-twin://...``.

A URL names a pair of boards (``NAME``, ``default`` if empty), one board of it
(``INDEX``, 0 or 1; 0 if empty) and options in its query. :func:`split_pair_url`
does the part both back-ends share; each reads its own options.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

__all__ = ["PairURLError", "split_pair_url"]


class PairURLError(ValueError):
    """A pair URL that cannot be read; ``index`` is True when the board index is what is wrong."""

    def __init__(self, message: str, *, index: bool = False) -> None:
        super().__init__(message)
        self.index = index


def split_pair_url(url: str, scheme: str) -> tuple[str, int, list[tuple[str, str]]]:
    """``SCHEME://NAME/INDEX?k=v`` -> (name, index, the options as (key, value) in order)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != scheme:
        raise PairURLError(f"expected a URL starting {scheme}://, got {url!r}")
    path = parts.path.strip("/") or "0"
    if path not in ("0", "1"):
        raise PairURLError(f"{url}: a pair has boards 0 and 1", index=True)
    return parts.netloc or "default", int(path), parse_qsl(parts.query, keep_blank_values=True)
