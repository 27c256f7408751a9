"""Pictures for the sockets lesson: message boundaries on a byte stream, recv() sizes, servers,
and the sticky-packets panel (:class:`StickyPanel`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.errors import LabkitValueError
from labkit.viz.sim import figure_output

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


# --- the sticky-packets panel (notebook 08) ----------------------------------------------------

_WORDS = [b"hello", b"sticky", b"packets", b"glue", b"together", b"on", b"a", b"stream"]


def sticky_messages(count: int, size: int) -> list[bytes]:
    """``count`` messages of about ``size`` bytes each, all different: ``b"0:hello..."``."""
    out = []
    for i in range(count):
        word = f"{i}:".encode() + _WORDS[i % len(_WORDS)]
        out.append((word * (size // len(word) + 1))[:max(size, 0)] if size else b"")
    return out


def sticky_receive(messages: Sequence[bytes], bufsize: int, framing: bool) -> tuple[list[int], list[bytes]]:
    """What the receiver makes of ``messages`` sent one ``send()`` each over a TCP stream.

    The case section 4 arranges: every byte is already in the receiver's kernel buffer, so
    each ``recv(bufsize)`` returns ``bufsize`` bytes (the last one what is left). Returns the
    sizes of the ``recv()`` results and the messages the receiver ends up with: without
    framing, each ``recv()`` result taken as one message; with ``framing``, each message sent
    with :func:`labkit.app.framing.pack_msg` and the stream cut by a
    :class:`~labkit.app.framing.MessageDecoder`.
    """
    from labkit.app.framing import MessageDecoder, pack_msg

    if isinstance(bufsize, bool) or not isinstance(bufsize, int) or bufsize < 1:
        raise LabkitValueError(f"bufsize={bufsize!r}: a recv() asks for at least 1 byte")
    stream = b"".join(pack_msg(m) if framing else bytes(m) for m in messages)
    chunks = [stream[i:i + bufsize] for i in range(0, len(stream), bufsize)]
    if not framing:
        return [len(c) for c in chunks], chunks
    decoder = MessageDecoder()
    got: list[bytes] = []
    for chunk in chunks:
        got.extend(decoder.feed(chunk))
    return [len(c) for c in chunks], got


def draw_sticky(count: int, size: int, bufsize: int, framing: bool) -> Figure:
    """Sends against recv() calls on the stream, and the messages the receiver believes it got."""
    messages = sticky_messages(count, size)
    recvs, got = sticky_receive(messages, bufsize, framing)
    sends = [len(m) + (4 if framing else 0) for m in messages]
    fig = plt.figure(figsize=(11, 3.8))
    stream_ax, got_ax = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.3, 1]})
    fig.subplots_adjust(left=0.11, right=0.98, top=0.88, bottom=0.04, hspace=0.55)
    plot_stream_boundaries(sends, recvs, ax=stream_ax,
                           title=f"{count} send() calls of {size} B"
                                 f"{' + a 4-byte length' if framing else ''}, read with "
                                 f"recv({bufsize}): {len(recvs)} recv() calls")
    right = sum(1 for a, b in zip(got, messages) if a == b) if len(got) == len(messages) else \
        sum(1 for m in got if m in messages)
    got_ax.set_axis_off()
    got_ax.set_xlim(0, 1)
    got_ax.set_ylim(0, 1)
    verdict = (f"{'length-prefixed framing' if framing else 'no framing'}: the receiver finds "
               f"{len(got)} message{'s' if len(got) != 1 else ''}, {right} of them as sent"
               f" ({count} were sent)")
    ok = got == messages
    got_ax.text(0.0, 0.9, ("✔ " if ok else "✘ ") + verdict, fontsize=10, va="center",
                color="tab:green" if ok else "tab:red", fontweight="bold")
    shown = " | ".join(repr(m)[:24] for m in got[:6]) + (" | ..." if len(got) > 6 else "")
    got_ax.text(0.0, 0.35, "received: " + (shown or "(nothing)"), fontsize=8, va="center",
                family="monospace")
    return fig


class StickyPanel(widgets.VBox):
    """Sliders for the number and size of messages and the recv() size, a framing toggle.

    Each change redraws :func:`draw_sticky` into the panel's output area (so that a saved
    notebook shows the panel as last drawn, and a run without a browser the same output).
    """

    def __init__(self, count: int = 5, size: int = 7, bufsize: int = 16,
                 framing: bool = False) -> None:
        self.count = widgets.IntSlider(value=count, min=1, max=8, description="messages",
                                       continuous_update=False)
        self.size = widgets.IntSlider(value=size, min=0, max=40, description="bytes each",
                                      continuous_update=False)
        self.bufsize = widgets.IntSlider(value=bufsize, min=1, max=64, description="recv(n)",
                                         continuous_update=False)
        self.framing = widgets.ToggleButtons(options=[("no framing", False),
                                                      ("length prefix", True)],
                                             value=framing, description="framing")
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.count, self.size, self.bufsize]), self.framing,
                          self.out])
        for control in (self.count, self.size, self.bufsize, self.framing):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        fig = draw_sticky(self.count.value, self.size.value, self.bufsize.value,
                          self.framing.value)
        self.out.outputs = (figure_output(fig, f"<{repr(self)}>"),)

    def __repr__(self) -> str:
        return (f"StickyPanel(count={self.count.value}, size={self.size.value}, "
                f"bufsize={self.bufsize.value}, framing={self.framing.value})")


__all__ += ["sticky_messages", "sticky_receive", "draw_sticky", "StickyPanel"]
