"""Figures and the explorer of lesson 10 (congestion control), on :mod:`labkit.bottleneck` runs.

- :func:`plot_bdp`: the throughput a window allows, ``window / RTT``, against the RTT,
  for the 64 KiB window of 1981 and for scaled windows;
- :func:`plot_cwnd`: one flow's congestion window over time with every loss, fast
  retransmit and timeout marked;
- :func:`plot_growth`: Reno's and CUBIC's windows after one loss, from the controllers
  themselves driven by a steady stream of ACKs;
- :func:`plot_shares`: flows sharing a bottleneck, goodput over time, with Jain's index;
- :func:`plot_bufferbloat`: RTT and throughput against the bottleneck buffer;
- :func:`plot_sojourn`: the bottleneck queue's delay over time, drop-tail against CoDel;
- :class:`CongestionExplorer` (``explorer()``): sliders for buffer, loss and flows that
  rerun the bottleneck and redraw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import cast

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from labkit.bottleneck import Flow, Run, bottleneck
from labkit.transport.congestion import Ack, CongestionControl
from labkit.transport.tcp_connection import TCPConfig
from labkit.viz.sim import figure_output

__all__ = ["plot_bdp", "plot_cwnd", "plot_growth", "plot_shares", "plot_bufferbloat",
           "plot_sojourn", "window_growth", "CongestionExplorer", "explorer"]

S = 1e9
MS = 1e6
_COLOURS = ["#1b6ca8", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e"]


def plot_bdp(rate_bps: float, rtts_ms: Sequence[float] = tuple(range(1, 201)),
             windows: Mapping[str, int] | None = None, ax: Axes | None = None) -> Axes:
    """Throughput ``min(rate, window / RTT)`` against the RTT for each window (bytes)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 3.8))
    windows = windows or {"64 KiB (no window scaling)": 65535,
                          "1 MiB (scale 5)": 1 << 20, "16 MiB (scale 9)": 16 << 20}
    rtt = np.asarray(rtts_ms, dtype=float)
    for k, (label, w) in enumerate(windows.items()):
        bound = np.minimum(rate_bps, 8 * w / (rtt / 1e3)) / 1e6
        ax.plot(rtt, bound, color=_COLOURS[k], lw=2, label=label)
    ax.axhline(rate_bps / 1e6, color="#888888", ls=":", lw=1)
    ax.text(rtt[-1], rate_bps / 1e6, " link rate", va="bottom", ha="right", color="#666666",
            fontsize=9)
    ax.set_xlabel("round-trip time (ms)")
    ax.set_ylabel("best throughput (Mbit/s)")
    ax.set_ylim(0, rate_bps / 1e6 * 1.12)
    ax.set_xlim(rtt[0], rtt[-1])
    ax.legend(loc="center right", fontsize=9, framealpha=0.95)
    ax.set_title(f"A window allows at most window / RTT ({rate_bps / 1e6:g} Mbit/s link)")
    return ax


def plot_cwnd(flow: Flow, *, smss: int = 1460, ax: Axes | None = None, title: str | None = None,
              until: float | None = None, label_events: bool = True) -> Axes:
    """The congestion window (in segments) with every loss, fast retransmit and timeout marked.

    Losses (the bottleneck dropped one of this flow's packets) are red ticks at the bottom;
    a fast retransmit (third duplicate ACK) an orange triangle on the curve; a timeout a
    red vertical line. ssthresh is the dashed line.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.8))
    h = np.array(flow.cwnd_history, dtype=float).reshape(-1, 3)
    t, cwnd, ssthresh = h[:, 0] / S, h[:, 1] / smss, h[:, 2] / smss
    if until is not None:
        keep = t <= until
        t, cwnd, ssthresh = t[keep], cwnd[keep], ssthresh[keep]
    ax.step(t, cwnd, where="post", color="#1b6ca8", lw=1.6, label="cwnd")
    shown = np.where(ssthresh < 1e5, ssthresh, np.nan)  # "infinite" before the first loss
    ax.step(t, shown, where="post", color="#555555", lw=1, ls="--", label="ssthresh")
    top = float(np.nanmax(cwnd)) if cwnd.size else 1.0

    def at(times: list[int]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array(times, dtype=float) / S
        if until is not None:
            x = x[x <= until]
        idx = np.searchsorted(t, x, side="right") - 1
        return x, cwnd[np.clip(idx, 0, len(cwnd) - 1)] if cwnd.size else x

    lx, _ = at(flow.times("loss"))
    ax.plot(lx, np.full_like(lx, -0.04 * top), "|", color="#c0392b", ms=9, mew=1.5,
            label=f"loss at the bottleneck ({len(lx)})")
    fx, fy = at(flow.times("fast retransmit"))
    ax.plot(fx, fy, "v", color="#e67e22", ms=7, label=f"fast retransmit ({len(fx)})")
    rx, ry = at(flow.times("recovery end"))
    ax.plot(rx, ry, ".", color="#27ae60", ms=6, label=f"recovery ends ({len(rx)})")
    tx, _ = at(flow.times("timeout"))
    for k, x in enumerate(tx):
        ax.axvline(x, color="#c0392b", lw=1.2, ls="-", alpha=0.8,
                   label=f"timeout ({len(tx)})" if k == 0 else None)
        if label_events:
            ax.text(x, top * 1.08, "timeout ", color="#c0392b", fontsize=8, ha="right",
                    va="top", rotation=90)
    ax.set_ylim(-0.09 * top, top * 1.12)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("segments")
    ax.set_title(title or f"{flow.name} ({flow.controller}): congestion window")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8.5, framealpha=0.95)
    return ax


def window_growth(factory: Callable[[], CongestionControl], *, w_max: int, rtt_ms: float,
                  seconds: float, smss: int = 1460) -> tuple[np.ndarray, np.ndarray]:
    """A controller's window after one loss at ``w_max`` segments, one window of ACKs per RTT.

    The controller itself is driven (not a formula): it loses at ``w_max``, recovers, and
    then every round trip acknowledges its whole window, until ``seconds``. Returns the times
    (s) and windows (segments) at each round trip.
    """
    cc = factory()
    cc.start(smss, 0)
    cc.cwnd = w_max * smss
    cc.on_loss(w_max * smss, 0)
    cc.on_recovery_end(Ack(now=0, acked=smss, flight=w_max * smss))
    rtt = int(rtt_ms * MS)
    times, wins = [0.0], [cc.cwnd / smss]
    now = 0
    while now < seconds * S:
        segments = max(1, cc.cwnd // smss)
        for k in range(segments):
            cc.on_ack(Ack(now=now + k * rtt // segments, acked=smss, flight=cc.cwnd,
                          srtt=rtt, rtt=rtt))
        now += rtt
        times.append(now / S)
        wins.append(cc.cwnd / smss)
    return np.array(times), np.array(wins)


def plot_growth(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], *, w_max: int,
                ax: Axes | None = None, title: str | None = None) -> Axes:
    """Windows against time after one loss (from :func:`window_growth`), W_max marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.8))
    for k, (label, (t, w)) in enumerate(curves.items()):
        ax.plot(t, w, color=_COLOURS[k], lw=2, label=label)
    ax.axhline(w_max, color="#888888", ls=":", lw=1)
    ax.text(0, w_max, " W_max: the window at the loss", va="bottom", color="#555555", fontsize=9)
    ax.set_xlabel("time since the loss (s)")
    ax.set_ylabel("window (segments)")
    ax.set_ylim(0, w_max * 1.35)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(title or "Back to the window of the last loss")
    return ax


def plot_shares(run: Run, *, bin_s: float = 1.0, ax: Axes | None = None,
                title: str | None = None) -> Axes:
    """Each flow's goodput over time (bins of ``bin_s``), with Jain's index of the last half."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 3.8))
    edges = np.arange(0, run.duration / S + 1e-9, bin_s)
    for k, f in enumerate(run.flows):
        rates = [f.throughput(int(a * S), int(b * S)) / 1e6 for a, b in zip(edges[:-1], edges[1:])]
        ax.step(edges[1:], rates, where="pre", color=_COLOURS[k % len(_COLOURS)], lw=1.8,
                label=f"{f.name} ({f.controller})")
    ax.axhline(run.rate / 1e6 / len(run.flows), color="#888888", ls=":", lw=1)
    ax.text(edges[-1], run.rate / 1e6 / len(run.flows), "fair share ", ha="right", va="bottom",
            color="#555555", fontsize=9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("goodput (Mbit/s)")
    ax.set_ylim(0, run.rate / 1e6 * 1.05)
    ax.set_xlim(0, edges[-1])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9)
    ax.set_title(title or f"{len(run.flows)} flows, one bottleneck: "
                          f"Jain's index {run.fairness():.3f} over the last half")
    return ax


def plot_bufferbloat(buffers: Sequence[float], runs: Sequence[Run], *,
                     axes: Sequence[Axes] | None = None) -> Figure:
    """RTT (mean and 95th percentile) and throughput against the buffer, in BDPs (COS461's plot)."""
    if axes is None:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    else:
        left, right = axes
        fig = cast(Figure, left.figure)
    mean, p95, util = [], [], []
    for r in runs:
        _, rtt = r.rtt_samples()
        late = rtt[len(rtt) // 4:] / MS  # past slow start
        mean.append(float(np.mean(late)))
        p95.append(float(np.percentile(late, 95)))
        util.append(100 * r.utilisation())
    base = runs[0].rtt / MS
    left.plot(buffers, mean, "o-", color="#1b6ca8", label="mean RTT")
    left.plot(buffers, p95, "s--", color="#d95f02", label="95th percentile")
    left.axhline(base, color="#888888", ls=":", lw=1)
    left.text(buffers[0], base, " RTT of the empty path", va="bottom", color="#555555", fontsize=9)
    ticks = [f"{b:g}" if b >= 1 else f"1/{round(1 / b)}" for b in buffers]
    left.set_xscale("log", base=2)
    left.set_xticks(list(buffers), ticks)
    left.set_xlabel("bottleneck buffer (bandwidth-delay products)")
    left.set_ylabel("RTT (ms)")
    left.legend(loc="upper left", fontsize=9)
    left.set_title("A bigger buffer: a longer wait")
    right.plot(buffers, util, "o-", color="#1b9e77")
    right.set_xscale("log", base=2)
    right.set_xticks(list(buffers), ticks)
    right.set_ylim(0, 105)
    right.set_xlabel("bottleneck buffer (bandwidth-delay products)")
    right.set_ylabel("link used (%)")
    right.set_title("... and no more throughput past one BDP")
    fig.tight_layout()
    return fig


def plot_sojourn(runs: Mapping[str, Run], ax: Axes | None = None) -> Axes:
    """The bottleneck queue's sojourn time of every frame, one line per run."""
    if ax is None:
        _, ax = plt.subplots(figsize=(8.5, 3.6))
    for k, (label, r) in enumerate(runs.items()):
        t, soj = r.sojourn()
        ax.plot(t / S, soj / MS, color=_COLOURS[k], lw=1,
                label=f"{label}: {100 * r.utilisation():.0f}% of the link, "
                      f"median wait {np.median(soj) / MS:.1f} ms")
    ax.axhline(5, color="#c0392b", ls=":", lw=1, label="CoDel's target, 5 ms")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("time in the queue (ms)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, ncol=1,
              frameon=False)
    ax.set_title("The same flow through a big buffer: drop-tail and CoDel")
    return ax


class CongestionExplorer(widgets.VBox):
    """Sliders for the bottleneck: buffer (BDPs), random loss (%), flows, the controller.

    Each change reruns :func:`labkit.bottleneck.bottleneck` (``duration`` of virtual time,
    TCP settings ``config``)
    and redraws the first flow's window, every flow's goodput and the queue's delay.
    """

    def __init__(self, *, duration: str = "6s", rate: str = "4Mbit", delay: str = "20ms",
                 buffer: float = 1.0, loss: float = 0.0, flows: int = 1,
                 controller: str = "newreno", config: TCPConfig | None = None,
                 initial_segments: int | None = 10) -> None:
        self.duration, self.rate, self.delay = duration, rate, delay
        self.config, self.initial_segments = config, initial_segments
        self.buffer = widgets.SelectionSlider(
            options=[0.25, 0.5, 1.0, 2.0, 4.0, 8.0], value=buffer, description="buffer (BDP)",
            continuous_update=False, style={"description_width": "initial"})
        self.loss = widgets.SelectionSlider(
            options=[0.0, 0.1, 0.5, 1.0, 2.0, 5.0], value=loss, description="loss %",
            continuous_update=False)
        self.flows = widgets.IntSlider(value=flows, min=1, max=4, description="flows",
                                       continuous_update=False)
        self.controller = widgets.ToggleButtons(options=["newreno", "cubic"], value=controller,
                                                description="controller")
        self.out = widgets.Output()
        #: The run on screen.
        self.run: Run | None = None
        super().__init__([widgets.HBox([self.buffer, self.loss, self.flows]), self.controller,
                          self.out])
        for w in (self.buffer, self.loss, self.flows, self.controller):
            w.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        self.run = bottleneck([self.controller.value] * self.flows.value, rate=self.rate,
                              delay=self.delay, queue=float(self.buffer.value),
                              loss=self.loss.value / 100, duration=self.duration,
                              config=self.config, initial_segments=self.initial_segments)
        fig = draw_explorer(self.run)
        self.out.outputs = (figure_output(fig, f"<{self.describe()}>"),)

    def describe(self) -> str:
        """One line: the settings and what came out of them."""
        r = self.run
        assert r is not None
        _, soj = r.sojourn()
        wait = float(np.mean(soj)) / MS if soj.size else 0.0
        return (f"{self.flows.value} × {self.controller.value}, buffer {self.buffer.value:g} BDP, "
                f"loss {self.loss.value:g}%: link used {100 * r.utilisation():.0f}%, "
                f"mean queueing delay {wait:.1f} ms, Jain {r.fairness():.2f}")

    def __repr__(self) -> str:
        return f"CongestionExplorer({self.describe()})"


def draw_explorer(run: Run) -> Figure:
    """The explorer's picture: the first flow's window, the goodputs, the queue's delay."""
    fig, (top, mid, low) = plt.subplots(3, 1, figsize=(9, 8.2), constrained_layout=True)
    plot_cwnd(run.flows[0], ax=top, label_events=False)
    plot_shares(run, bin_s=0.5, ax=mid)
    t, soj = run.sojourn()
    low.plot(t / S, soj / MS, color="#7570b3", lw=1)
    low.set_xlabel("time (s)")
    low.set_ylabel("queueing delay (ms)")
    low.set_xlim(0, run.duration / S)
    low.set_ylim(bottom=0)
    low.set_title(f"the bottleneck queue ({run.queue_limit} packets)")
    return fig


def explorer(**settings: object) -> CongestionExplorer:
    """A :class:`CongestionExplorer` (keyword arguments: its starting settings)."""
    return CongestionExplorer(**settings)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- notebook 07's explorer


def tcp_transfer(*, loss: float = 0.0, delay_ms: float = 5.0, recv_buffer: int = 16_000,
                 size: int = 60_000, seed: int = 3) -> dict[str, np.ndarray]:
    """One transfer of ``size`` bytes from A to B across a router, as A's capture saw it.

    The link R1 → B loses ``loss`` of its frames; each of the two links has ``delay_ms``
    one way; B's receive buffer is ``recv_buffer`` bytes (``TCPConfig.basic``). Returns
    arrays (times in s, sequence numbers relative to A's SYN, in bytes): ``data_t``,
    ``data_seq``, ``again`` (a retransmission), ``ack_t``, ``ack``, ``window_edge``
    (ack + advertised window: how far A may send), and ``done`` (when B had it all).
    """
    from labkit.link.ethernet import EthernetFrame
    from labkit.net.ipv4 import IPv4Packet
    from labkit.sim import Network
    from labkit.sim.stacks import install_transport, socket
    from labkit.transport.tcp import TCPSegment

    net = Network(seed=seed)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.2.20/24", gateway="192.168.2.1")
    r = net.add_router("R1", interfaces={"eth0": "192.168.1.1/24", "eth1": "192.168.2.1/24"})
    net.connect(a, r["eth0"], delay=f"{int(delay_ms * 1e6)}ns", bandwidth="10Mbit")
    net.connect(r["eth1"], b, delay=f"{int(delay_ms * 1e6)}ns", bandwidth="10Mbit", loss=loss)
    install_transport(net, tcp_config=TCPConfig.basic(recv_buffer=recv_buffer))
    cap = net.capture(a)
    server = socket(b)
    server.bind(("", 80))
    server.listen()
    client = socket(a)
    client.settimeout(600)
    client.connect(("192.168.2.20", 80))
    conn, _ = server.accept()
    conn.settimeout(600)
    client.sendall(bytes(size))
    got = 0
    while got < size:
        got += len(conn.recv(65536))
    done = net.now
    net.run_for(f"{int(8 * delay_ms * 1e6) + 50_000_000}ns")  # the last ACKs reach A
    assert client._conn is not None
    iss = client._conn.iss
    data_t, data_seq, again, ack_t, ack, edge = [], [], [], [], [], []
    seen: set[int] = set()
    for rec in cap.trace:
        frame = EthernetFrame.parse(rec.frame, fcs=False)
        if frame.ethertype != 0x0800:
            continue
        packet = IPv4Packet.parse(frame.payload)
        if packet.protocol != 6:
            continue
        seg = TCPSegment.parse(packet.payload)
        if rec.direction == "out" and seg.payload:
            rel = (seg.seq - iss) % 2**32
            data_t.append(rec.time / S)
            data_seq.append(rel)
            again.append(rel in seen)
            seen.add(rel)
        elif rec.direction == "in" and seg.seq is not None and seg.ack:
            rel = (seg.ack - iss) % 2**32
            if rel <= size + 2:
                ack_t.append(rec.time / S)
                ack.append(rel)
                edge.append(rel + seg.window)
    return {"data_t": np.array(data_t), "data_seq": np.array(data_seq),
            "again": np.array(again, dtype=bool), "ack_t": np.array(ack_t),
            "ack": np.array(ack), "window_edge": np.array(edge), "done": np.array(done / S)}


def plot_tcp_transfer(run: Mapping[str, np.ndarray], ax: Axes | None = None,
                      title: str | None = None) -> Axes:
    """A's data segments (dots, crosses for retransmissions), B's ACKs and window edge."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 4))
    first = ~run["again"]
    ax.step(run["ack_t"], run["window_edge"] / 1000, where="post", color="#999999", lw=1,
            label="ACK + window: as far as A may send")
    ax.step(run["ack_t"], run["ack"] / 1000, where="post", color="#1b9e77", lw=1.5,
            label="acknowledged by B")
    ax.plot(run["data_t"][first], run["data_seq"][first] / 1000, ".", color="#1b6ca8", ms=4,
            label="data segment sent")
    ax.plot(run["data_t"][~first], run["data_seq"][~first] / 1000, "x", color="#d95f02", ms=8,
            mew=2, label=f"sent again ({int((~first).sum())})")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("sequence number, relative (kB)")
    ax.legend(loc="upper left", fontsize=9, framealpha=0.95)
    ax.set_title(title or f"all bytes at B after {float(run['done']) * 1e3:.0f} ms")
    return ax


class TCPExplorer(widgets.VBox):
    """Notebook 07's explorer: loss, delay and B's receive buffer; redraws the sequence plot."""

    def __init__(self, *, loss: float = 5.0, delay: int = 5, buffer: int = 16_000,
                 size: int = 60_000) -> None:
        self.size = size
        self.loss = widgets.SelectionSlider(options=[0.0, 1.0, 2.0, 5.0, 10.0], value=loss,
                                            description="loss %", continuous_update=False)
        self.delay = widgets.SelectionSlider(options=[1, 2, 5, 10, 20, 50], value=delay,
                                             description="delay ms", continuous_update=False)
        self.buffer = widgets.SelectionSlider(
            # below one MSS too: a receiver's zero window and TCP's probes (the stall once seen
            # at 2000 B and 10% loss is fixed)
            options=[1000, 2000, 4000, 8000, 16_000, 32_000, 65_535], value=buffer,
            description="B's buffer", continuous_update=False,
            style={"description_width": "initial"})
        self.out = widgets.Output()
        self.run: dict[str, np.ndarray] = {}
        super().__init__([widgets.HBox([self.loss, self.delay, self.buffer]), self.out])
        for w in (self.loss, self.delay, self.buffer):
            w.observe(self._redraw, names="value")
        self._redraw()

    def _redraw(self, _change: object = None) -> None:
        self.run = tcp_transfer(loss=self.loss.value / 100, delay_ms=self.delay.value,
                                recv_buffer=self.buffer.value, size=self.size)
        fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
        plot_tcp_transfer(self.run, ax=ax, title=f"{self.describe()}")
        self.out.outputs = (figure_output(fig, f"<{self.describe()}>"),)

    def describe(self) -> str:
        """The settings and the outcome, in one line."""
        again = int(self.run["again"].sum())
        return (f"loss {self.loss.value:g}%, {self.delay.value} ms per link, B's buffer "
                f"{self.buffer.value:,} B: {self.size:,} B in "
                f"{float(self.run['done']) * 1e3:.0f} ms, {again} sent again")

    def __repr__(self) -> str:
        return f"TCPExplorer({self.describe()})"


__all__ += ["tcp_transfer", "plot_tcp_transfer", "TCPExplorer"]
