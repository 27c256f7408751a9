"""Pictures of TCP at work: states over time, the congestion window, a segment ladder."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from labkit.transport.tcp import Flags, TCPSegment
from labkit.transport.tcp_connection import State, TCPConnection

__all__ = ["plot_states", "plot_cwnd", "plot_ladder"]

_ORDER = [State.CLOSED, State.LISTEN, State.SYN_SENT, State.SYN_RECEIVED, State.ESTABLISHED,
          State.FIN_WAIT_1, State.FIN_WAIT_2, State.CLOSE_WAIT, State.CLOSING, State.LAST_ACK,
          State.TIME_WAIT]


def _scale(t_max: int) -> tuple[float, str]:
    for factor, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if t_max >= factor:
            return factor, unit
    return 1.0, "ns"


def plot_states(
    connections: Sequence[TCPConnection], *, until: int | None = None, ax: Axes | None = None
) -> Axes:
    """Each connection's state as a step line over virtual time (the RFC 9293 states on y)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    end = until or max((h[-1][0] for c in connections for h in [c.state_history] if h), default=1)
    factor, unit = _scale(end)
    for conn in connections:
        hist = conn.state_history
        if not hist:
            continue
        times = [t / factor for t, _ in hist] + [end / factor]
        levels = [_ORDER.index(s) for _, s in hist]
        ax.step(times, levels + [levels[-1]], where="post", linewidth=2,
                label=conn.name or f"port {conn.local_port}")
    ax.set_yticks(range(len(_ORDER)), [str(s) for s in _ORDER], fontsize=8)
    ax.set_xlabel(f"virtual time ({unit})")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_cwnd(conn: TCPConnection, *, ax: Axes | None = None) -> Axes:
    """Congestion window and slow-start threshold over time, in segments."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
    hist = conn.cwnd_history
    if not hist:
        return ax
    factor, unit = _scale(hist[-1][0])
    mss = conn.smss
    t = [h[0] / factor for h in hist]
    ax.step(t, [h[1] / mss for h in hist], where="post", label="cwnd")
    ss = [(x, h[2] / mss) for x, h in zip(t, hist) if h[2] < 1 << 29]
    if ss:
        ax.step([x for x, _ in ss], [y for _, y in ss], where="post", linestyle="--",
                label="ssthresh")
    ax.set_xlabel(f"virtual time ({unit})")
    ax.set_ylabel("segments")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def plot_ladder(
    events: Iterable[tuple[int, str, TCPSegment, bool]],
    *,
    names: tuple[str, str] = ("A", "B"),
    delay: int | None = None,
    relative_to: tuple[int, int] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """A sequence (ladder) diagram: each segment as an arrow from sender to receiver.

    ``events`` are ``(send time, sender name, segment, delivered)``; a lost
    segment is drawn as an arrow that stops halfway, with a cross. Sequence
    and acknowledgment numbers are shown relative to ``relative_to`` = (ISS of
    the first name, ISS of the second), as Wireshark does, when given.
    """
    events = list(events)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(events) + 1.2), layout="constrained")
    if not events:
        return ax
    one_way = delay if delay is not None else 1
    end = events[-1][0] + one_way
    factor, unit = _scale(max(end, 1))
    x = {names[0]: 0.0, names[1]: 1.0}
    for name, pos in x.items():
        ax.axvline(pos, color="0.3", linewidth=2)
        ax.text(pos, -0.02, name, transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontweight="bold")
    for when, sender, seg, delivered in events:
        receiver = names[1] if sender == names[0] else names[0]
        x0, x1 = x[sender], x[receiver]
        y0, y1 = when / factor, (when + one_way) / factor
        if not delivered:
            x1, y1 = (x0 + x1) / 2, (y0 + y1) / 2
        colour = "tab:red" if seg.flags & (Flags.SYN | Flags.FIN | Flags.RST) else "tab:blue"
        ax.annotate("", (x1, y1), (x0, y0),
                    arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 1.2})
        if not delivered:
            ax.plot([x1], [y1], marker="x", color="black", markersize=9)
        seq, ack = seg.seq, seg.ack
        if relative_to is not None:
            mine, theirs = relative_to if sender == names[0] else relative_to[::-1]
            seq = (seg.seq - mine) & 0xFFFFFFFF
            ack = (seg.ack - theirs) & 0xFFFFFFFF
        label = f"[{seg.flags}] seq={seq}"
        if seg.flags & Flags.ACK:
            label += f" ack={ack}"
        if seg.payload:
            label += f" len={len(seg.payload)}"
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, ha="center", va="bottom", fontsize=7.5,
                color=colour, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.set_xlim(-0.25, 1.25)
    ax.set_ylim(end / factor * 1.02, -end / factor * 0.02)
    ax.set_xticks([])
    ax.set_ylabel(f"virtual time ({unit})")
    return ax
