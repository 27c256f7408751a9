"""Pictures for the sockets lesson: message boundaries on a byte stream, recv() sizes, servers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from labkit.errors import LabkitValueError

__all__ = ["plot_frames", "plot_recv_sizes", "plot_server_threads", "plot_stream_boundaries"]

_COLOURS = ["#93c5fd", "#fcd34d", "#86efac", "#f9a8d4", "#c4b5fd", "#fdba74"]


def _sizes(values: Sequence[int], what: str) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise LabkitValueError(f"{what}: expected byte counts >= 0, got {v!r}")
        out.append(int(v))
    return out


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_stream_boundaries(sends: Sequence[int], recvs: Sequence[int], ax: Axes | None = None,
                           title: str | None = None) -> Axes:
    """The same byte stream twice: cut where the sender called send(), and where recv() returned.

    With TCP the two sets of cuts need not line up: that is 粘包 ("sticky
    packets"). The counts must describe the same number of bytes.
    """
    s, r = _sizes(sends, "sends"), _sizes(recvs, "recvs")
    if sum(s) != sum(r):
        raise LabkitValueError(f"sends total {sum(s)} bytes but recvs total {sum(r)}: "
                               "they must describe the same stream")
    ax = _axes(ax, (10, 2.4))
    for row, sizes in enumerate((s, r)):
        y = 1 - row
        start = 0
        for i, n in enumerate(sizes):
            ax.barh(y, n, left=start, height=0.6, color=_COLOURS[i % len(_COLOURS)],
                    edgecolor="black", linewidth=0.8)
            if n:
                ax.text(start + n / 2, y, f"{n} B", ha="center", va="center", fontsize=8)
            start += n
    ax.set_yticks([1, 0], ["send() calls", "recv() calls"])
    ax.set_xlabel("byte offset in the TCP stream")
    ax.set_xlim(0, max(sum(s), 1))
    ax.set_title(title or f"{len(s)} sends arrived in {len(r)} recv() calls")
    return ax


def plot_recv_sizes(sizes: Sequence[int], ax: Axes | None = None, bufsize: int | None = None,
                    title: str | None = None) -> Axes:
    """Bytes returned by each recv() call, as bars (with the bufsize asked for, if given)."""
    values = _sizes(sizes, "sizes")
    ax = _axes(ax, (10, 3))
    ax.bar(range(1, len(values) + 1), values, color="tab:blue", width=0.8)
    if bufsize is not None:
        ax.axhline(bufsize, color="tab:red", linestyle="--", linewidth=1)
        ax.annotate(f"recv({bufsize})", (1.0, bufsize), xycoords=("axes fraction", "data"),
                    xytext=(3, 0), textcoords="offset points", va="center", fontsize=8,
                    color="tab:red")
    ax.set_xlabel("recv() call")
    ax.set_ylabel("bytes returned")
    ax.set_title(title or f"{sum(values):,} bytes in {len(values)} recv() calls")
    return ax


def plot_frames(messages: Sequence[bytes], header_size: int = 4, ax: Axes | None = None) -> Axes:
    """A framed stream: each message's length header (dark) and body (light), end to end."""
    ax = _axes(ax, (10, 1.8))
    start = 0
    for i, message in enumerate(messages):
        colour = _COLOURS[i % len(_COLOURS)]
        ax.barh(0, header_size, left=start, height=0.6, color="0.3", edgecolor="black")
        ax.text(start + header_size / 2, 0, str(len(message)), ha="center", va="center",
                fontsize=8, color="white", fontweight="bold")
        start += header_size
        if len(message):
            ax.barh(0, len(message), left=start, height=0.6, color=colour, edgecolor="black")
            ax.text(start + len(message) / 2, 0, repr(bytes(message[:8]))[:14], ha="center",
                    va="center", fontsize=7)
        start += len(message)
    ax.set_yticks([])
    ax.set_xlim(0, max(start, 1))
    ax.set_xlabel("byte offset (dark: 4-byte length header, labelled with its value)")
    ax.set_title(f"{len(messages)} messages framed into {start} bytes")
    return ax


def plot_server_threads(threads: Mapping[str, int], clients: int, ax: Axes | None = None) -> Axes:
    """Threads each server design used to serve ``clients`` clients at once."""
    names = list(threads)
    counts = _sizes(list(threads.values()), "threads")
    ax = _axes(ax, (6, 3))
    bars = ax.bar(names, counts, color=["tab:green", "tab:orange", "tab:blue"][: len(names)])
    for bar, n in zip(bars, counts):
        ax.text(bar.get_x() + bar.get_width() / 2, n, str(n), ha="center", va="bottom")
    ax.set_ylabel("threads")
    ax.set_ylim(0, max(counts, default=1) * 1.15 + 1)
    ax.set_title(f"threads used to serve {clients} clients at once")
    return ax
