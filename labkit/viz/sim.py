"""Drawings of a simulated network: its topology, and a sequence diagram of a trace.

::

    from labkit.viz.sim import draw_topology, draw_sequence

    draw_topology(net)                    # hosts, switches, routers; addresses on links
    draw_sequence(cap.trace)              # who sent what to whom, when (time runs down)
    plt.show()
    TraceStepper({"A pings B": (net, cap.trace)})   # a live panel: the run frame by frame

Both return the matplotlib ``Axes`` they drew on (pass ``ax=`` to draw on
yours). Both are deterministic: the layout is computed from the topology alone
(a force-directed layout started from a circle in the order nodes were added,
with no randomness), so a notebook's figure is the same on every run.
:func:`layout` gives the positions; pass your own as ``positions=``.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping
from typing import NamedTuple, TypedDict, cast

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.errors import LabkitValueError
from labkit.sim import Interface, Network, Trace, TraceRecord
from labkit.units import format_rate, format_time

__all__ = ["layout", "draw_topology", "draw_sequence", "NODE_STYLE"]

class NodeStyle(TypedDict):
    """How one kind of node is drawn: a matplotlib marker, a colour and a marker size."""

    marker: str
    color: str
    size: int


#: Marker, colour and size for each kind of node.
NODE_STYLE: dict[str, NodeStyle] = {
    "host": {"marker": "s", "color": "#4C72B0", "size": 500},
    "switch": {"marker": "D", "color": "#55A868", "size": 550},
    "router": {"marker": "o", "color": "#C44E52", "size": 650},
    "node": {"marker": "o", "color": "#8172B2", "size": 450},
}


def layout(net: Network, iterations: int = 300) -> dict[str, tuple[float, float]]:
    """Deterministic positions for the nodes of ``net``, in a unit box.

    Fruchterman-Reingold: linked nodes attract, all nodes repel; started from
    a circle in the order the nodes were added, cooled over ``iterations``
    steps. Same topology, same picture.
    """
    names = list(net.nodes)
    n = len(names)
    if n == 0:
        return {}
    if n == 1:
        return {names[0]: (0.5, 0.5)}
    index = {name: i for i, name in enumerate(names)}
    edges = np.array(
        [(index[link.a.node.name], index[link.b.node.name]) for link in net.links], dtype=int
    ).reshape(-1, 2)
    angle = 2 * np.pi * np.arange(n) / n + np.pi / 2
    pos = 0.5 + 0.4 * np.column_stack([np.cos(angle), np.sin(angle)])
    k = np.sqrt(1.0 / n)
    temp = 0.1
    cool = temp / (iterations + 1)
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.hypot(delta[..., 0], delta[..., 1])
        np.fill_diagonal(dist, 1.0)
        dist = np.maximum(dist, 1e-3)
        force = (delta / dist[..., None]) * (k * k / dist)[..., None]
        np.einsum("iij->ij", force)[:] = 0.0
        disp = force.sum(axis=1)
        if len(edges):
            d = pos[edges[:, 0]] - pos[edges[:, 1]]
            length = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-3)
            pull = d * (length / k)[:, None]
            np.add.at(disp, edges[:, 0], -pull)
            np.add.at(disp, edges[:, 1], pull)
        size = np.maximum(np.hypot(disp[:, 0], disp[:, 1]), 1e-9)
        pos += disp / size[:, None] * np.minimum(size, temp)[:, None]
        temp -= cool
    # Turn the picture so that its long side is horizontal (principal axis), with the
    # first node on the left: wide figures have room for the address labels.
    pos -= pos.mean(axis=0)
    _, vecs = np.linalg.eigh(pos.T @ pos)
    major = vecs[:, -1]
    rot = np.array([major, [-major[1], major[0]]]).T
    pos = pos @ rot
    if pos[0, 0] > 0:
        pos[:, 0] *= -1
    if pos[0, 1] < 0:
        pos[:, 1] *= -1
    pos -= pos.min(axis=0)
    span = pos.max(axis=0)
    span[span == 0] = 1.0
    pos = 0.05 + 0.9 * pos / span.max()
    return {name: (float(x), float(y)) for name, (x, y) in zip(names, pos, strict=True)}


def _iface_label(iface: Interface, show_macs: bool) -> str:
    parts = []
    if iface.ip is not None:
        parts.append(str(iface.ip))
    if show_macs:
        parts.append(iface.mac.hex(":"))
    return "\n".join(parts) if parts else iface.name


def _clear_of(others: list[tuple[float, float, float, float]], label: str,
              origin: tuple[float, float], vx: float, vy: float, ha: str, va: str,
              along: tuple[float, float], away: tuple[float, float]) -> tuple[float, float]:
    """Move an address label the least it takes to clear every box taken.

    It slides along its own link (``along``, towards the other end) or away from the cable
    (``away``), whichever clears first.

    Boxes are (x0, y0, x1, y1) in points on the figure; the label's is estimated for
    7-point text at ``origin`` (its node) plus the offset (``vx``, ``vy``, aligned by
    ``ha`` and ``va``). Two links that leave a node on the same side (lesson 12's ring:
    R1 to R2 and to R3) would otherwise print their addresses on each other. The box
    taken is added to ``others``; a label with no room within 120 points stays put.
    """
    lines = label.split("\n")
    w = 0.64 * 7 * max(len(line) for line in lines) + 3  # 7-point text and its padding
    h = 8.5 * len(lines) + 3

    def box(x: float, y: float) -> tuple[float, float, float, float]:
        x0 = x if ha == "left" else x - w if ha == "right" else x - w / 2
        y0 = y if va == "bottom" else y - h if va == "top" else y - h / 2
        return origin[0] + x0, origin[1] + y0, origin[0] + x0 + w, origin[1] + y0 + h

    def hits(b: tuple[float, float, float, float]) -> bool:
        return any(b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3] for o in others)

    for step in range(0, 120, 2):
        for ux, uy in (along, away):
            x, y = vx + ux * step, vy + uy * step
            if not hits(box(x, y)):
                others.append(box(x, y))
                return x, y
    others.append(box(vx, vy))
    return vx, vy


def _marker_radius(kind: str) -> float:
    """Half the width of a node's marker, in points (a scatter size is an area in points²)."""
    style = NODE_STYLE.get(kind, NODE_STYLE["node"])
    return 0.6 * float(np.sqrt(style["size"]))


#: Room around the outermost nodes, in inches: a marker and its address label fit in it.
_EDGE_ROOM = 0.55


def _set_limits(ax: Axes, xr: tuple[float, float], yr: tuple[float, float]) -> None:
    """Limits of equal scale on both axes, :data:`_EDGE_ROOM` inches to spare around the nodes.

    The margin is counted in inches, not in data units, so that a node at the edge keeps its
    whole marker and label whatever the scale of the positions (0..1 from :func:`layout`, or
    0..7 given by hand).
    """
    bbox = ax.get_position()
    fig_w, fig_h = cast(Figure, ax.figure).get_size_inches()
    w_in, h_in = bbox.width * fig_w, bbox.height * fig_h
    room = min(_EDGE_ROOM, 0.3 * w_in, 0.3 * h_in)
    xspan, yspan = max(xr[1] - xr[0], 1e-9), max(yr[1] - yr[0], 1e-9)
    per_inch = max(xspan / (w_in - 2 * room), yspan / (h_in - 2 * room), 1e-3)  # data per inch
    xc, yc = (xr[0] + xr[1]) / 2, (yr[0] + yr[1]) / 2
    half_w, half_h = w_in * per_inch / 2, h_in * per_inch / 2
    ax.set_xlim(xc - half_w, xc + half_w)
    ax.set_ylim(yc - half_h, yc + half_h)


def draw_topology(
    net: Network,
    ax: Axes | None = None,
    *,
    positions: Mapping[str, tuple[float, float]] | None = None,
    show_macs: bool = False,
    show_links: bool = False,
    title: str | None = None,
) -> Axes:
    """Draw the nodes and links of ``net``.

    Each link end carries its interface's address (``192.168.1.10/24``; the
    interface name if it has none; the MAC too with ``show_macs=True``); with
    ``show_links=True`` each link is also labelled with its bandwidth and delay.
    """
    if not isinstance(net, Network):
        raise LabkitValueError(f"net={net!r}: expected a labkit.sim.Network")
    pos = dict(layout(net))
    if positions is not None:
        unknown = set(positions) - set(net.nodes)
        if unknown:
            raise LabkitValueError(f"positions: no node called {sorted(unknown)[0]!r}")
        pos.update({k: (float(v[0]), float(v[1])) for k, v in positions.items()})
    if ax is None:
        # grow with the network so that the address labels keep room on each link, and
        # no taller than the nodes need (a chain of nodes is a strip, not a square)
        width = min(16.0, max(7.0, 1.5 * len(net.nodes)))
        xs = [p[0] for p in pos.values()] or [0.5]
        ys = [p[1] for p in pos.values()] or [0.5]
        ratio = (max(ys) - min(ys)) / max(max(xs) - min(xs), 1e-9)
        height = min(0.62 * width, max(2.6, 0.9 * width * ratio + 2.2))
        fig, ax = plt.subplots(figsize=(width, height))
        fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.12)
    xs = [p[0] for p in pos.values()] or [0.5]
    ys = [p[1] for p in pos.values()] or [0.5]
    _set_limits(ax, (min(xs), max(xs)), (min(ys), max(ys)))
    # Boxes already taken, in points on the figure: every marker, then each address placed.
    # A layout engine (constrained, tight) resizes the axes when the figure is drawn, so its
    # layout is settled first, that the points measured here be the points drawn (one more
    # layout pass, about 50 ms); without one the axes already have their final size.
    figure = cast(Figure, ax.figure)
    if figure.get_layout_engine() is not None:
        figure.draw_without_rendering()
    to_points = ax.transData.transform
    scale = 72 / figure.dpi
    placed: list[tuple[float, float, float, float]] = []
    for node in net:
        px, py = to_points(pos[node.name]) * scale
        r = _marker_radius(node.kind)
        placed.append((px - r, py - r, px + r, py + r))
    for link in net.links:
        (x0, y0), (x1, y1) = pos[link.a.node.name], pos[link.b.node.name]
        ax.plot([x0, x1], [y0, y1], color="#777777", lw=1.5, zorder=1)
        # the link's direction from a to b, pointing right (or down); its normal points up
        dx, dy = x1 - x0, y1 - y0
        length = float(np.hypot(dx, dy)) or 1.0
        dx, dy = dx / length, dy / length
        flip = dx < -1e-9 or (abs(dx) <= 1e-9 and dy > 0)
        if flip:
            dx, dy = -dx, -dy
        nx, ny = -dy, dx
        ends = ((link.a, (x0, y0)), (link.b, (x1, y1)))
        if flip:
            ends = ends[::-1]
        # Each address sits beside its own node, clear of the marker: the left end's above
        # the cable, the right end's below it, so that the two never meet on a short link.
        for side, (iface, (xa, ya)) in zip((1, -1), ends):
            if iface.node.kind == "switch" and iface.ip is None:
                label = iface.name
            else:
                label = _iface_label(iface, show_macs)
            r = _marker_radius(iface.node.kind)
            # beside the marker, off the cable, starting at the node and running along its link
            along = side * dx
            vx = side * (nx * (r + 2) + dx * 2)
            vy = side * (ny * (r + 2) + dy * 2)
            ha = "left" if along > 0.3 else "right" if along < -0.3 else "center"
            va = "bottom" if vy > 3 else "top" if vy < -3 else "center"
            origin = to_points((xa, ya)) * scale
            vx, vy = _clear_of(placed, label, (origin[0], origin[1]), vx, vy, ha, va,
                               (side * dx, side * dy), (side * nx, side * ny))
            ax.annotate(
                label,
                (xa, ya),
                xytext=(vx, vy),
                textcoords="offset points",
                fontsize=7,
                ha=ha,
                va=va,
                color="#333333",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                zorder=3,
            )
        if show_links:
            ch = link.ab
            bw = "∞" if ch.bandwidth is None else format_rate(ch.bandwidth)
            ax.annotate(
                f"{bw}, {format_time(ch.delay)}",
                ((x0 + x1) / 2, (y0 + y1) / 2),
                fontsize=6,
                ha="center",
                va="center",
                color="#666666",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none"},
                zorder=2,
            )
    kinds_seen = []
    for node in net:
        style = NODE_STYLE.get(node.kind, NODE_STYLE["node"])
        x, y = pos[node.name]
        legend = node.kind if node.kind not in kinds_seen else None
        if legend:
            kinds_seen.append(node.kind)
        ax.scatter(
            [x],
            [y],
            s=style["size"],
            marker=style["marker"],
            c=style["color"],
            edgecolors="black",
            linewidths=0.8,
            zorder=4,
            label=legend,
        )
        ax.annotate(
            node.name,
            (x, y),
            fontsize=9,
            fontweight="bold",
            ha="center",
            va="center",
            color="white",
            zorder=5,
        )
    ax.set_axis_off()
    if kinds_seen:
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=len(kinds_seen),
            fontsize=8,
            markerscale=0.5,
            frameon=False,
        )
    if title:
        ax.set_title(title)
    return ax


def _time_unit(t_max: int) -> tuple[float, str]:
    if t_max >= 1_000_000_000:
        return 1e9, "s"
    if t_max >= 1_000_000:
        return 1e6, "ms"
    if t_max >= 1_000:
        return 1e3, "µs"
    return 1.0, "ns"


def draw_sequence(
    trace: Trace | Iterable[TraceRecord],
    ax: Axes | None = None,
    *,
    nodes: list[str] | None = None,
    label_width: int = 32,
    title: str | None = None,
) -> Axes:
    """A sequence diagram: one lifeline per node, one arrow per frame, time running down.

    An arrow goes from the sender's lifeline at the time the frame was sent
    to the receiver's at the time it arrived, labelled with the frame's
    summary. A frame lost on the way ends in a red ✗ half way, with the
    reason. Capture both ends of a link to see its arrows (``net.capture()``
    captures everything). ``nodes`` chooses and orders the lifelines (default:
    in order of first appearance in the trace).
    """
    records = list(trace)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 5))
    if nodes is None:
        order: list[str] = []
        for r in records:
            for name in (r.node, r.peer):
                if name and name not in order:
                    order.append(name)
    else:
        order = list(nodes)
    x_of = {name: i for i, name in enumerate(order)}
    sends: dict[int, TraceRecord] = {}
    arrivals: dict[int, list[TraceRecord]] = {}
    drops: dict[int, TraceRecord] = {}
    for r in records:
        if r.direction == "out":
            sends.setdefault(r.xid, r)
        elif r.direction == "in":
            arrivals.setdefault(r.xid, []).append(r)
        elif r.direction == "drop":
            drops.setdefault(r.xid, r)
    shown = [r for r in records if r.node in x_of]
    t_max = max((r.time for r in shown), default=0)
    t_min = min((r.time for r in shown), default=0)
    scale, unit = _time_unit(t_max)
    # The axis starts where the trace starts (a capture opened late has nothing before it),
    # unless that is near enough to 0 to show the whole run from its beginning.
    if t_min < 0.25 * t_max:
        t_min = 0
    span = max(t_max - t_min, 1)
    top, bottom = (t_min - 0.03 * span) / scale, (t_max + 0.05 * span) / scale
    ax.set_ylim(bottom, top)
    for name, x in x_of.items():
        ax.axvline(x, color="#999999", lw=1, zorder=1)
        ax.annotate(
            name,
            (x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontweight="bold",
        )

    def short(text: str) -> str:
        return text if len(text) <= label_width else text[: label_width - 1] + "…"

    labels: list[_Label] = []
    for xid, out in sends.items():
        if out.node not in x_of:
            continue
        x0, y0 = x_of[out.node], out.time / scale
        for arrival in arrivals.get(xid, []):
            if arrival.node not in x_of:
                continue
            x1, y1 = x_of[arrival.node], arrival.time / scale
            ax.annotate(
                "",
                (x1, y1),
                (x0, y0),
                arrowprops={"arrowstyle": "-|>", "color": "#4C72B0", "lw": 1.2},
                zorder=2,
            )
            # the label sits in the gap next to the arrow's head, so arrows that
            # leave one node together (a flood) keep their labels apart
            xl = x1 - 0.5 if x1 > x0 else x1 + 0.5
            yl = y0 + (y1 - y0) * ((xl - x0) / (x1 - x0) if x1 != x0 else 0.5)
            labels.append(_Label(xl, yl, short(out.summary), "#222222"))
        if xid in drops and out.peer in x_of:
            drop = drops[xid]
            xp = x_of[out.peer]
            xm = xp - 0.5 if xp > x0 else xp + 0.5
            ym = y0
            ax.plot([x0, xm], [y0, ym], color="#C44E52", lw=1.2, ls="--", zorder=2)
            ax.plot([xm], [ym], marker="x", color="#C44E52", ms=9, mew=2, zorder=3)
            labels.append(_Label(xm, ym, f"{short(out.summary)} [{drop.note}]", "#C44E52"))
    _place_labels(ax, labels)
    ax.set_xlim(-0.5, max(len(order) - 0.5, 0.5))
    ax.set_xticks([])
    ax.set_ylabel(f"time ({unit})")
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, pad=18)
    return ax


class _Label(NamedTuple):
    x: float
    y: float
    text: str
    color: str


#: The height of one arrow label in points (7-point text and a little air).
_LABEL_PT = 9.0


def _place_labels(ax: Axes, labels: list[_Label]) -> None:
    """Write the arrows' labels, moving down those that would print on top of another.

    Each label sits just above its point (time runs down). Labels in the same column (the
    same gap between two lifelines) closer in time than one line of text are pushed down one
    below the other, in time order; a label that had to move gets a thin leader line back
    to the point on its arrow.
    """
    bottom, top = ax.get_ylim()
    height_pt = ax.get_position().height * cast(Figure, ax.figure).get_size_inches()[1] * 72
    step = abs(bottom - top) * _LABEL_PT / max(height_pt, 1.0)  # one label, in data units
    columns: dict[float, float] = {}  # column -> lowest edge used so far
    for label in sorted(labels, key=lambda lb: (lb.y, lb.x)):
        floor = columns.get(label.x)
        y = label.y if floor is None or label.y >= floor else floor
        columns[label.x] = y + step
        if y != label.y:
            ax.plot([label.x, label.x], [label.y, y], color="#bbbbbb", lw=0.5, zorder=2)
        ax.annotate(label.text, (label.x, y), fontsize=7, ha="center", va="bottom",
                    color=label.color, zorder=3)


# --- stepping through a trace, frame by frame (notebook 05) ------------------------------------


def _steps(trace: Iterable[TraceRecord]) -> list[TraceRecord]:
    """The transmissions of a trace (its "out" records with a peer), in time order."""
    return [r for r in trace if r.direction == "out" and r.peer]


def _who(net: Network, mac: bytes) -> str:
    if mac == b"\xff" * 6:
        return "everyone (broadcast)"
    for node in net:
        for iface in node.interfaces:
            if iface.mac == mac:
                return f"{node.name}.{iface.name}"
    return mac.hex(":")


def _addressed(net: Network, frame: bytes) -> str:
    """Who the frame is for (its Ethernet destination) and, for IPv4, who the packet is for."""
    text = f"frame to {_who(net, frame[:6])}"
    if frame[12:14] == b"\x08\x00" and len(frame) >= 34:
        text += f", packet to {'.'.join(str(b) for b in frame[30:34])}"
    return text


def draw_step(
    net: Network,
    trace: Trace | Iterable[TraceRecord],
    index: int,
    *,
    positions: Mapping[str, tuple[float, float]] | None = None,
    fig: Figure | None = None,
    title: str | None = None,
) -> Figure:
    """Frame ``index`` of a trace on the topology: the link it crosses, and the frames so far.

    Top: :func:`draw_topology` with the link of this transmission thick and orange, an
    arrow from the sender. Bottom: the list of transmissions around this one (time, from,
    to, what, and whom the frame and the packet inside it are addressed to), this one bold.
    """
    steps = _steps(trace)
    if not steps:
        raise LabkitValueError("trace: no frame was sent in it (capture every interface)")
    if not 0 <= index < len(steps):
        raise LabkitValueError(f"index={index}: expected 0 to {len(steps) - 1}")
    if fig is None:
        fig = plt.figure(figsize=(12, 5.6))
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 1]})
    fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.02, hspace=0.02)
    draw_topology(net, ax=top, positions=positions)
    if top.get_legend() is not None:
        top.get_legend().remove()  # the list below needs the room
    pos = dict(layout(net))
    if positions is not None:
        pos.update({k: (float(v[0]), float(v[1])) for k, v in positions.items()})
    now = steps[index]
    (x0, y0), (x1, y1) = pos[now.node], pos[now.peer]
    top.plot([x0, x1], [y0, y1], color="#ff7f0e", lw=6, alpha=0.8, zorder=2, solid_capstyle="round")
    top.annotate("", (x0 + 0.7 * (x1 - x0), y0 + 0.7 * (y1 - y0)),
                 (x0 + 0.3 * (x1 - x0), y0 + 0.3 * (y1 - y0)),
                 arrowprops={"arrowstyle": "-|>", "color": "#b35806", "lw": 2.5,
                             "mutation_scale": 22}, zorder=6)
    top.set_title(title or f"frame {index + 1} of {len(steps)}: {now.node} → {now.peer}",
                  fontsize=11)
    bottom.set_axis_off()
    rows = 9
    first = min(max(index - rows // 2, 0), max(len(steps) - rows, 0))
    bottom.set_ylim(rows + 0.5, -0.8)
    bottom.set_xlim(0, 1)
    bottom.text(0.0, -0.4, f"{'time':>10}  {'from':<4} {'to':<4} {'what':<32} addressed to",
                family="monospace", fontsize=8.5, color="#555555", va="center")
    for row, k in enumerate(range(first, min(first + rows, len(steps)))):
        r = steps[k]
        line = (f"{format_time(r.time):>10}  {r.node:<4} {r.peer:<4} {r.summary[:32]:<32} "
                f"{_addressed(net, r.frame)}")
        bottom.text(0.0, row + 0.5, line, family="monospace", fontsize=8.5, va="center",
                    color="#b35806" if k == index else "#999999" if k > index else "#222222",
                    fontweight="bold" if k == index else "normal")
    return fig


class TraceStepper(widgets.VBox):
    """Step through a run frame by frame on its topology, one run out of several.

    ``runs`` maps a name (``"A pings C"``) to the ``(net, trace)`` of one recorded run (capture
    every interface). Buttons choose the run, a slider (``frame``) and ``◀ back`` /
    ``next ▶`` the frame; each change redraws :func:`draw_step` into the panel's output area.
    """

    def __init__(self, runs: Mapping[str, tuple[Network, Trace | Iterable[TraceRecord]]], *,
                 positions: Mapping[str, tuple[float, float]] | None = None) -> None:
        if not runs:
            raise LabkitValueError("runs: give at least one (net, trace) run")
        self.runs = {name: (net, list(trace)) for name, (net, trace) in runs.items()}
        for name, (_net, trace) in self.runs.items():
            if not _steps(trace):
                raise LabkitValueError(f"runs[{name!r}]: no frame was sent in it")
        self.positions = positions
        self.run = widgets.ToggleButtons(options=list(self.runs), description="run")
        self.frame = widgets.IntSlider(value=0, min=0, max=self._count() - 1, description="frame",
                                       continuous_update=False)
        self.back = widgets.Button(description="◀ back")
        self.next = widgets.Button(description="next ▶")
        self.out = widgets.Output()
        super().__init__([self.run, widgets.HBox([self.back, self.frame, self.next]), self.out])
        self.run.observe(self._new_run, names="value")
        self.frame.observe(self._redraw, names="value")
        self.back.on_click(lambda _b: self.step(-1))
        self.next.on_click(lambda _b: self.step(+1))
        self._redraw()

    def _count(self) -> int:
        return len(_steps(self.runs[self.run.value][1]))

    def step(self, by: int) -> None:
        """Move ``by`` frames (the buttons call this), staying inside the run."""
        self.frame.value = min(max(self.frame.value + by, 0), self._count() - 1)

    def _new_run(self, _change: object = None) -> None:
        with self.frame.hold_trait_notifications():
            self.frame.value = 0
            self.frame.max = self._count() - 1
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        net, trace = self.runs[self.run.value]
        fig = draw_step(net, trace, self.frame.value, positions=self.positions,
                        title=f"{self.run.value}: frame {self.frame.value + 1} of {self._count()}")
        self.out.outputs = (figure_output(fig, f"<{self.run.value}, frame {self.frame.value + 1}>"),)

    def __repr__(self) -> str:
        return f"TraceStepper(run={self.run.value!r}, frame={self.frame.value})"


def figure_output(fig: Figure, text: str) -> dict:
    """A figure as one PNG output of an ipywidgets ``Output`` (and closed): what panels show."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
                     "text/plain": text}}


__all__ += ["draw_step", "TraceStepper", "figure_output"]
