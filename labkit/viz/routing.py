"""Plots and panels for routing protocols and NAT (course/12-routing-nat.ipynb).

- :func:`draw_path`: the topology with a traceroute's path drawn over it, failed links crossed;
- :func:`plot_tables_over_time`: each router's route to one destination over time, one row
  per router coloured by next hop, the lost probes beneath, failures and path changes marked;
- :func:`plot_metric_history`: RIP metrics over time (count to infinity climbing, or not);
- :func:`plot_nat_table`: the translation table as a picture: inside, public, time left;
- :class:`ConvergencePanel` (:func:`convergence_panel`): pick a protocol and a link to fail,
  see the tables over time and the packets lost;
- :class:`SplitHorizonPanel` (:func:`split_horizon_panel`): split horizon off, simple or with
  poisoned reverse, and watch the metrics after a failure.

Panels put their drawing into their output area directly (as :class:`labkit.viz.mac.MacPanel`),
so a saved notebook shows the panel as last drawn and a run without a browser sees the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import ipywidgets as widgets
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from labkit.app.rip import INFINITY, RIPConfig, RIPRouter
from labkit.errors import LabkitValueError
from labkit.net.nat import NAPT
from labkit.sim import Network
from labkit.sim.routing import (
    ConvergenceRun,
    fail_link,
    install_linkstate,
    install_rip,
    two_paths,
    watch_convergence,
)
from labkit.viz.phy import _figure_output
from labkit.viz.sim import draw_topology, layout

__all__ = ["draw_path", "plot_tables_over_time", "plot_metric_history", "plot_nat_table",
           "ConvergencePanel", "convergence_panel", "SplitHorizonPanel", "split_horizon_panel",
           "TWO_PATHS_POSITIONS", "count_to_infinity", "converge"]

PATH_COLOUR, FAILED_COLOUR, LOST_COLOUR = "#ff7f0e", "#d62728", "#d62728"
_HOP_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
#: Where :func:`labkit.sim.routing.two_paths`'s nodes go: the short way on top, the long below.
TWO_PATHS_POSITIONS = {"A": (0.0, 0.5), "R1": (0.2, 0.5), "R2": (0.5, 0.85), "R4": (0.8, 0.5),
                       "B": (1.0, 0.5), "R3": (0.4, 0.15), "R5": (0.6, 0.15)}


def _owner(net: Network) -> dict[IPv4Address, str]:
    return {i.ip.ip: node.name for node in net for i in node.interfaces if i.ip is not None}


def draw_path(net: Network, path: Sequence[IPv4Address | None] = (), ax: Axes | None = None, *,
              src: str | None = None, failed: Iterable[tuple[str, str]] = (),
              positions: Mapping[str, tuple[float, float]] | None = None,
              title: str | None = None) -> Axes:
    """The topology, with ``path`` (traceroute's addresses, from ``src``) drawn thick and orange
    and each ``failed`` link (pairs of node names) crossed out in red."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4.6))
    if positions is None and {"R1", "R2", "R3", "R4", "R5", "A", "B"} == set(net.nodes):
        positions = TWO_PATHS_POSITIONS
    draw_topology(net, ax, positions=positions, title=title)
    pos = dict(layout(net))
    if positions is not None:
        pos.update(positions)
    owner = _owner(net)
    names = [src] if src else []
    names += [owner.get(a, "") for a in path if a is not None]
    names = [n for n in names if n]
    for a, b in zip(names, names[1:]):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.plot([x0, x1], [y0, y1], color=PATH_COLOUR, lw=7, alpha=0.8, zorder=2.5,
                solid_capstyle="round")
    for a, b in failed:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        ax.plot([x0, x1], [y0, y1], color=FAILED_COLOUR, lw=2, ls="--", zorder=2)
        ax.plot([xm], [ym], marker="x", ms=16, mew=4, color=FAILED_COLOUR, zorder=6)
    return ax


def plot_tables_over_time(run: ConvergenceRun, ax: Axes | None = None, *,
                          routers: Sequence[str] | None = None, net: Network | None = None,
                          title: str | None = None) -> Axes:
    """Each router's route to ``run.destination`` over time (a row each, coloured by next hop;
    white: no route), the lost probes in red beneath, failures and path changes marked."""
    names = list(routers) if routers is not None else run.routers
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 0.5 * len(names) + 1.8))
    owner = _owner(net) if net is not None else {}
    hops = sorted({h for _, table in run.samples for h, _ in table.values() if h is not None})
    colour = {h: _HOP_COLOURS[i % len(_HOP_COLOURS)] for i, h in enumerate(hops)}
    times = [t / 1e9 for t, _ in run.samples]
    step = (times[1] - times[0]) if len(times) > 1 else 1.0
    for row, name in enumerate(names):
        y = len(names) - row
        # one bar per stretch of samples with the same route (not one per sample: fast to draw)
        stretches: list[tuple[float, float, IPv4Address | None, int | None]] = []
        for (_t, table), x in zip(run.samples, times):
            hop, metric = table[name]
            if stretches and stretches[-1][2:] == (hop, metric):
                start, _, h, m = stretches[-1]
                stretches[-1] = (start, x + step, h, m)
            else:
                stretches.append((x, x + step, hop, metric))
        for start, end, hop, metric in stretches:
            if metric is None:
                continue  # no route: left white
            ax.barh(y, end - start, left=start, height=0.7, edgecolor="none",
                    color="#dddddd" if hop is None else colour[hop])
            text = "connected" if hop is None else str(metric)
            ax.annotate(text, (start + step / 2, y), fontsize=7, ha="left", va="center",
                        color="black" if hop is None else "white", fontweight="bold")
    lost = [t / 1e9 for t, ok in run.probes if not ok]
    ax.scatter(lost, [0.0] * len(lost), marker="|", s=120, color=LOST_COLOUR, zorder=3)
    for t, what in run.events:
        ax.axvline(t / 1e9, color="black", lw=1, ls="--")
        ax.annotate(what, (t / 1e9, len(names) + 0.55), fontsize=8, ha="left", va="bottom")
    for t, _, _ in run.path_changes():
        ax.axvline(t / 1e9, color=PATH_COLOUR, lw=1.5, ls=":")
    ax.set_yticks([len(names) - i for i in range(len(names))] + [0.0],
                  [*names, f"lost ({run.lost})"])
    ax.set_ylim(-0.6, len(names) + 1.1)
    ax.set_xlabel("time (s)")
    handles = [Patch(color=colour[h], label=f"via {h}" + (f" ({owner[h]})" if h in owner else ""))
               for h in hops]
    handles.append(Patch(color=PATH_COLOUR, label="traceroute's path changes (dotted)"))
    ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22),
              ncol=min(4, len(handles)), frameon=False)
    ax.set_title(title or f"route to {run.destination} over time (numbers: metric)", fontsize=10)
    return ax


def plot_metric_history(rips: Mapping[str, RIPRouter], network: Any, ax: Axes | None = None, *,
                        routers: Sequence[str] | None = None, since: int = 0, until: int | None = None,
                        title: str | None = None) -> Axes:
    """Each RIP router's metric to ``network`` over time, from ``since`` (ns); 16 drawn as ∞."""
    net = IPv4Network(network)
    names = list(routers) if routers is not None else list(rips)
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.4))
    end = until
    for name in names:
        changes = [c for c in rips[name].history if c.network == net]
        if not changes:
            continue
        if end is None:
            end = max(c.time for r in rips.values() for c in r.history)
        xs: list[float] = []
        ys: list[int] = []
        current = INFINITY
        for c in changes:
            if c.time < since:
                current = c.metric
                continue
            if not xs:
                xs.append(since / 1e9)
                ys.append(current)
            xs.append(c.time / 1e9)
            ys.append(c.metric)
            current = c.metric
        if not xs:
            xs, ys = [since / 1e9], [current]
        xs.append(max(end, since) / 1e9)
        ys.append(current)
        ax.step(xs, ys, where="post", lw=2, label=name)
    ax.axhline(INFINITY, color=FAILED_COLOUR, lw=1, ls="--")
    ax.annotate("16 = infinity (unreachable)", (since / 1e9, INFINITY - 0.3), fontsize=8,
                color=FAILED_COLOUR, va="top")
    ax.set_ylim(0, INFINITY + 1)
    ax.set_ylabel(f"metric to {net}")
    ax.set_xlabel("time (s)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center right")
    ax.set_title(title or f"RIP metrics to {net}", fontsize=10)
    return ax


def plot_nat_table(nat: NAPT, ax: Axes | None = None, *, now: int | None = None,
                   title: str | None = None) -> Axes:
    """The translation table: one arrow per mapping, inside address:port to public address:port."""
    rows = nat.table(now)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.45 * max(len(rows), 1) + 1.0))
    ax.set_axis_off()
    for i, (proto, inside, public, left) in enumerate(rows):
        y = len(rows) - i
        ax.annotate(inside, (0.02, y), fontsize=9, family="monospace", va="center")
        ax.annotate("", xy=(0.58, y), xytext=(0.36, y),
                    arrowprops={"arrowstyle": "<->", "color": "#555555"})
        ax.annotate(f"{proto}", (0.47, y + 0.18), fontsize=7, ha="center", color="#555555")
        ax.annotate(public, (0.6, y), fontsize=9, family="monospace", va="center")
        ax.annotate(left, (0.93, y), fontsize=8, va="center", ha="right",
                    color=FAILED_COLOUR if left == "forever" else "#333333")
    if not rows:
        ax.annotate("(empty: nothing inside has sent anything)", (0.5, 1), ha="center", fontsize=9)
    ax.annotate("inside", (0.02, len(rows) + 0.8), fontsize=9, fontweight="bold")
    ax.annotate("public", (0.6, len(rows) + 0.8), fontsize=9, fontweight="bold")
    ax.annotate("expires in", (0.93, len(rows) + 0.8), fontsize=9, fontweight="bold", ha="right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0.3, len(rows) + 1.3)
    ax.set_title(title or "the NAT's translation table", fontsize=10)
    return ax


# -- experiments the panels (and the lesson) run ---------------------------------------------
def converge(protocol: str = "linkstate", failed: tuple[str, str] = ("R2", "R4"), *,
             fail_at: float = 60.0, restore_at: float | None = 200.0, until: float = 300.0,
             seed: int = 1) -> tuple[Network, ConvergenceRun]:
    """The lesson's two-path network under ``protocol``, ``failed`` cut at ``fail_at`` s and
    mended at ``restore_at``, watched from A to B for ``until`` s after 30 s to settle."""
    if protocol not in ("rip", "linkstate"):
        raise LabkitValueError(f"protocol={protocol!r}: expected 'rip' or 'linkstate'")
    net = two_paths(seed=seed)
    (install_rip if protocol == "rip" else install_linkstate)(net)
    net.run_for("30s")
    events: list[tuple[Any, str, Any, Any]] = [(fail_at, "fail", *failed)]
    if restore_at is not None:
        events.append((restore_at, "restore", *failed))
    run = watch_convergence(net, "A", "10.0.4.10", events=events, until=until, trace_every="5s")
    return net, run


def count_to_infinity(split_horizon: str = "off", seed: int = 0) -> tuple[dict[str, RIPRouter], int]:
    """R1 - R2 - R3 with RIP; R2 - R3 fails at 60 s. Returns the routers and the failure time."""
    net = Network(seed=seed)
    net.add_router("R1", ["10.0.12.1/24"])
    net.add_router("R2", ["10.0.12.2/24", "10.0.23.2/24"])
    net.add_router("R3", ["10.0.23.3/24", "10.0.3.1/24"])
    net.connect("R1", "R2")
    net.connect("R2", "R3")
    rips = install_rip(net, RIPConfig(split_horizon=split_horizon))
    net.run_for("60s")
    t = net.now
    fail_link(net, "R2", "R3")
    net.run_for("420s")
    return rips, t


def _convergence_figure(protocol: str, link: str, seed: int = 1) -> Figure:
    a, b = link.split("-")
    # RIP needs its 180 s timeout to reroute: mend the link later for it
    restore, until = (200.0, 330.0) if protocol == "linkstate" else (330.0, 420.0)
    net, run = converge(protocol, (a, b), seed=seed, restore_at=restore, until=until)
    fig, (top, bottom) = plt.subplots(1, 2, figsize=(14, 4.4), width_ratios=[1, 1.7],
                                      layout="constrained")
    during = [p for t, p in run.complete_paths() if 60e9 <= t < restore * 1e9]
    path = during[-1] if during else ()
    draw_path(net, path, top, src="A", failed=[(a, b)],
              title=f"the path while {a}-{b} is down" if path else f"{a}-{b} down: no path found")
    windows = run.loss_windows()
    lost = f"{run.lost} of {len(run.probes)} probes lost" + (
        f", from {windows[0][0] / 1e9:.0f} s to {windows[0][1] / 1e9:.0f} s" if windows else "")
    plot_tables_over_time(run, bottom, routers=["R1", "R2", "R3", "R4", "R5"], net=net,
                          title=f"{protocol}: {lost}")
    return fig


class ConvergencePanel(widgets.VBox):
    """Pick the routing protocol and the link that fails at 60 s (mended at 200 s, for RIP 330 s)."""

    LINKS = ("R2-R4", "R1-R2", "R3-R5", "R1-R3")

    def __init__(self, protocol: str = "linkstate", link: str = "R2-R4") -> None:
        self.protocol = widgets.ToggleButtons(options=["linkstate", "rip"], value=protocol,
                                              description="protocol")
        self.link = widgets.Dropdown(options=list(self.LINKS), value=link, description="fail link")
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.protocol, self.link]), self.out])
        for control in (self.protocol, self.link):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        fig = _convergence_figure(self.protocol.value, self.link.value)
        self.out.outputs = (_figure_output(fig),)

    def __repr__(self) -> str:
        return f"ConvergencePanel(protocol={self.protocol.value!r}, link={self.link.value!r})"


def convergence_panel(protocol: str = "linkstate", link: str = "R2-R4") -> ConvergencePanel:
    """Return a :class:`ConvergencePanel`; display it as a cell's last value."""
    return ConvergencePanel(protocol, link)


def _split_horizon_figure(rule: str, seed: int) -> Figure:
    rips, t = count_to_infinity(rule, seed)
    fig, ax = plt.subplots(figsize=(10, 3.4), layout="constrained")
    top = max((c.metric for r in ("R1", "R2") for c in rips[r].history
               if c.time > t and c.metric < INFINITY and c.network == IPv4Network("10.0.3.0/24")),
              default=0)
    what = "count to infinity: they climb to 15" if top >= 5 else "no loop"
    plot_metric_history(rips, "10.0.3.0/24", ax, routers=["R1", "R2"], since=t - 10 * 10**9,
                        title=f"split horizon {rule}, seed {seed}: R2-R3 fails at "
                              f"{t / 1e9:.0f} s; {what}")
    return fig


class SplitHorizonPanel(widgets.VBox):
    """Split horizon off, simple or with poisoned reverse; the seed picks who speaks first."""

    def __init__(self, rule: str = "off", seed: int = 0) -> None:
        self.rule = widgets.ToggleButtons(options=["off", "simple", "poisoned"], value=rule,
                                          description="split horizon")
        self.seed = widgets.IntSlider(value=seed, min=0, max=9, description="seed",
                                      continuous_update=False)
        self.out = widgets.Output()
        super().__init__([widgets.HBox([self.rule, self.seed]), self.out])
        for control in (self.rule, self.seed):
            control.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        self.out.outputs = (_figure_output(_split_horizon_figure(self.rule.value, self.seed.value)),)

    def __repr__(self) -> str:
        return f"SplitHorizonPanel(rule={self.rule.value!r}, seed={self.seed.value})"


def split_horizon_panel(rule: str = "off", seed: int = 0) -> SplitHorizonPanel:
    """Return a :class:`SplitHorizonPanel`; display it as a cell's last value."""
    return SplitHorizonPanel(rule, seed)
