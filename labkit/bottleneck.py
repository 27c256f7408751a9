"""Flows sharing one bottleneck: the experiments of lesson 10 (congestion control).

:func:`bottleneck` builds a dumbbell on the simulator, runs it and returns what
the lesson plots::

    A1 ─┐                                  ┌─ B   (one receiver, a port per flow)
    A2 ─┼─ R1 ══ bottleneck (rate, delay) ══ R2
    An ─┘        its queue: DropTail / CoDel

Each sender Ai opens one TCP connection to B and sends as fast as its
congestion controller lets it (``"reno"``, ``"newreno"``, ``"cubic"``, or a
controller class of one's own) for ``duration`` of virtual time. The access
links are ten times faster than the bottleneck, so the queue that builds is
the bottleneck's, in R1 toward R2.

What comes back (:class:`Run`): per flow, the congestion window over time
(``cwnd_history``), every loss at the bottleneck, every fast retransmit and
every timeout with its time (:attr:`Flow.events`), bytes delivered over time;
and the bottleneck queue's length and sojourn-time log. :func:`jain` is Jain's
fairness index. Nothing here reads a wall clock: a run is a function of its
arguments and its seed.

A run keeps only what it reports, as NumPy arrays: once it is over, the
simulated network, its TCP connections and the data still in their buffers (a
sender keeps its send buffer full: a megabyte or more per flow) are let go, and
each flow's connection is summed up in a :class:`Sender`. Lesson 10 keeps
fifteen runs at once; kept whole, they cost its kernel some 80 MB.
``bottleneck(..., keep_network=True)`` keeps the network and the live
connections, to look further into a run.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np

from labkit.errors import LabkitValueError
from labkit.net.stack import IPStack
from labkit.sim import DropTail, Loss, Network
from labkit.sim.queue import QueueDiscipline
from labkit.sim.stacks import install_transport, socket
from labkit.transport.congestion import Ack, CongestionControl, NewReno, Reno
from labkit.transport.cubic import Cubic
from labkit.transport.tcp_connection import TCPConfig, TCPConnection
from labkit.units import parse_rate, parse_time

__all__ = ["Flow", "Run", "Sender", "Watched", "bottleneck", "bdp", "jain", "CONTROLLERS"]

#: The controllers a flow may name.
CONTROLLERS: dict[str, Callable[[], CongestionControl]] = {
    "reno": Reno, "newreno": NewReno, "cubic": Cubic,
}

S = 1_000_000_000


def bdp(rate: object, rtt: object) -> int:
    """The bandwidth-delay product in bytes: what must be in flight to fill the pipe."""
    return parse_rate(rate, "rate") * parse_time(rtt, "rtt") // (8 * S)


def jain(throughputs: Sequence[float]) -> float:
    """Jain's fairness index: (Σx)² / (n Σx²), 1 when all are equal, 1/n when one has it all."""
    x = np.asarray(throughputs, dtype=float)
    if x.size == 0 or not np.all(np.isfinite(x)) or np.any(x < 0):
        raise LabkitValueError(f"throughputs={list(throughputs)!r}: expected numbers >= 0")
    square = float(np.sum(x * x))
    if square == 0:
        raise LabkitValueError("throughputs are all zero: fairness is undefined")
    return float(np.sum(x) ** 2 / (x.size * square))


class Watched:
    """A congestion controller with a diary: it records each loss event and timeout.

    It passes every call on to ``inner`` and keeps ``(time, kind)`` in
    :attr:`events`, ``kind`` being ``"fast retransmit"`` (the third duplicate
    ACK: recovery begins), ``"recovery end"`` or ``"timeout"``.
    """

    def __init__(self, inner: CongestionControl) -> None:
        self.inner = inner
        self.events: list[tuple[int, str]] = []

    @property
    def cwnd(self) -> int:
        return self.inner.cwnd

    @property
    def ssthresh(self) -> int:
        return self.inner.ssthresh

    @property
    def partial_ack_ends_recovery(self) -> bool:
        return bool(getattr(self.inner, "partial_ack_ends_recovery", False))

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        self.inner.start(smss, now, sack=sack)

    def on_ack(self, ack: Ack) -> None:
        self.inner.on_ack(ack)

    def on_loss(self, flight: int, now: int) -> None:
        self.events.append((now, "fast retransmit"))
        self.inner.on_loss(flight, now)

    def on_recovery_ack(self, ack: Ack) -> None:
        self.inner.on_recovery_ack(ack)

    def on_recovery_end(self, ack: Ack) -> None:
        self.events.append((ack.now, "recovery end"))
        self.inner.on_recovery_end(ack)

    def on_timeout(self, flight: int, now: int) -> None:
        self.events.append((now, "timeout"))
        self.inner.on_timeout(flight, now)


def _rows(points: Sequence[tuple[int, ...]] | np.ndarray, width: int) -> np.ndarray:
    """``points`` as an ``(n, width)`` int64 array."""
    return np.asarray(points, dtype=np.int64).reshape(-1, width)


@dataclass(frozen=True)
class Sender:
    """What a finished run keeps of a flow's TCP connection: its numbers, not its buffers.

    It answers what the lessons ask of :attr:`Flow.conn` (``smss``, ``cwnd_history``,
    ``rtt_history``), with the histories as int64 arrays of the same rows.
    """

    name: str
    smss: int
    iss: int
    retransmissions: int
    #: (time, cwnd, ssthresh) after every change.
    cwnd_history: np.ndarray
    #: (time, RTT sample, RTO) of every clean sample (Karn's rule).
    rtt_history: np.ndarray

    @classmethod
    def of(cls, conn: TCPConnection) -> Sender:
        return cls(conn.name, conn.smss, conn.iss, conn.retransmissions,
                   _rows(conn.cwnd_history, 3), _rows(conn.rtt_history, 3))


@dataclass
class Flow:
    """One sender's connection and what happened to it."""

    name: str
    controller: str
    start: int
    #: The sender's connection: a :class:`Sender` once the run is over (the live
    #: ``TCPConnection`` with ``bottleneck(..., keep_network=True)``).
    conn: TCPConnection | Sender | None = None
    #: (time, total bytes B has received on this flow), one row per delivery: an (n, 2) int64 array
    delivered: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    #: (time, kind): "loss" (dropped at the bottleneck), "fast retransmit", "recovery end", "timeout"
    events: list[tuple[int, str]] = field(default_factory=list)

    @property
    def cwnd_history(self) -> np.ndarray:
        """(time, cwnd, ssthresh) after every change, as an (n, 3) int64 array."""
        return _rows([] if self.conn is None else self.conn.cwnd_history, 3)

    def times(self, kind: str) -> list[int]:
        """The times of the events of one kind."""
        return [t for t, k in self.events if k == kind]

    def bytes_between(self, t0: int, t1: int) -> int:
        """Bytes delivered to B in [t0, t1)."""
        if not len(self.delivered):
            return 0
        t, total = self.delivered[:, 0], self.delivered[:, 1]
        before = total[t < t0]
        upto = total[t < t1]
        return int((upto[-1] if upto.size else 0) - (before[-1] if before.size else 0))

    def throughput(self, t0: int, t1: int) -> float:
        """Goodput in bit/s over [t0, t1)."""
        return 8 * self.bytes_between(t0, t1) * S / (t1 - t0)


@dataclass
class Run:
    """A finished :func:`bottleneck` run."""

    flows: list[Flow]
    rate: int
    delay: int
    rtt: int
    duration: int
    queue: QueueDiscipline | None
    queue_limit: int | None
    #: The simulated network: ``None`` unless the run was made with ``keep_network=True``.
    net: Network | None
    settings: dict[str, Any]

    @property
    def bdp(self) -> int:
        """The bottleneck's bandwidth-delay product in bytes (base RTT, no queueing)."""
        return self.rate * self.rtt // (8 * S)

    def throughputs(self, t0: int | None = None, t1: int | None = None) -> list[float]:
        """Each flow's goodput in bit/s over [t0, t1) (default: the last half of the run)."""
        t1 = self.duration if t1 is None else t1
        t0 = t1 // 2 if t0 is None else t0
        return [f.throughput(t0, t1) for f in self.flows]

    def utilisation(self, t0: int | None = None, t1: int | None = None) -> float:
        """Sum of the goodputs over the bottleneck rate."""
        return sum(self.throughputs(t0, t1)) / self.rate

    def fairness(self, t0: int | None = None, t1: int | None = None) -> float:
        """Jain's index of the flows' goodputs."""
        return jain(self.throughputs(t0, t1))

    def sojourn(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, sojourn times) in ns of frames leaving the bottleneck queue."""
        if self.queue is None:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        s = self.queue.series()
        return s["sojourn_t"], s["sojourn"]

    def rtt_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, RTT samples) in ns measured by all senders (Karn's rule: clean samples)."""
        a = np.concatenate([_rows(f.conn.rtt_history, 3) for f in self.flows if f.conn is not None]
                           or [np.zeros((0, 3), np.int64)])
        a = a[np.lexsort((a[:, 2], a[:, 1], a[:, 0]))]  # by time, then sample: the senders' merged
        return a[:, 0], a[:, 1]


def _controller(spec: object, initial_segments: int | None = 10
                ) -> tuple[str, Callable[[], CongestionControl]]:
    if isinstance(spec, str):
        key = spec.lower()
        if key not in CONTROLLERS:
            raise LabkitValueError(f"flow {spec!r}: expected one of {', '.join(CONTROLLERS)}")
        cls: Any = CONTROLLERS[key]
        return key, lambda: cls(initial_segments)
    if callable(spec):
        return getattr(spec, "__name__", type(spec).__name__), spec
    raise LabkitValueError(f"flow {spec!r}: a controller name ('reno', 'cubic') or class")


def bottleneck(
    flows: Sequence[object] = ("newreno",),
    *,
    rate: object = "4Mbit",
    delay: object = "20ms",
    queue: object = 1.0,
    loss: float = 0.0,
    duration: object = "20s",
    stagger: object = "0s",
    seed: int = 1,
    config: TCPConfig | None = None,
    initial_segments: int | None = 10,
    keep_network: bool = False,
) -> Run:
    """Run ``flows`` (controller names or classes) through one bottleneck; see the module.

    ``rate``, ``delay``: the bottleneck's rate and one-way delay (the round trip
    is twice ``delay`` plus about 0.5 ms of access links). ``queue``: a number
    (a float) is the drop-tail buffer in bandwidth-delay products (``1.0`` is
    Van Jacobson's rule of one BDP); an ``int`` is a number of packets; or a
    discipline such as ``CoDel()``. ``loss``: random loss on the bottleneck,
    besides the queue's drops. ``stagger``: flow k starts ``k * stagger`` after
    the first. ``config``: the TCP settings (default ``TCPConfig()``: window
    scaling, SACK and timestamps; ``TCPConfig.basic()`` for the TCP of notebook 07).
    ``initial_segments``: the initial window of controllers given by name (10, RFC 6928;
    ``None`` for RFC 5681's 3 segments, as ``TCPConfig.basic()`` has).
    ``keep_network``: keep the network and the live connections in the :class:`Run`
    (by default only the results are kept; see the module).
    """
    specs = [_controller(s, initial_segments) for s in flows]
    if not specs:
        raise LabkitValueError("flows=[]: give at least one flow")
    rate_bps = parse_rate(rate, "rate")
    delay_ns = parse_time(delay, "delay")
    duration_ns = parse_time(duration, "duration")
    stagger_ns = parse_time(stagger, "stagger")
    access_delay = 100_000  # 0.1 ms
    rtt = 2 * (delay_ns + 2 * access_delay)
    frame = 1514
    qdisc: QueueDiscipline | None
    if isinstance(queue, QueueDiscipline):
        qdisc = queue.spawn()
        qdisc.record = True
        limit = None
    elif isinstance(queue, bool) or not isinstance(queue, (int, float)) or queue < 0:
        raise LabkitValueError(f"queue={queue!r}: BDPs (a float), packets (an int) or a discipline")
    else:
        limit = int(queue) if isinstance(queue, int) else max(1, math.ceil(
            queue * rate_bps * rtt / (8 * S) / frame))
        qdisc = DropTail(packets=limit, record=True)

    assert qdisc is not None
    flows_out, net = _simulate(specs, qdisc, rate_bps=rate_bps, delay_ns=delay_ns,
                               access_delay=access_delay, loss=loss, duration_ns=duration_ns,
                               stagger_ns=stagger_ns, seed=seed,
                               config=config if config is not None else TCPConfig())
    kept = net if keep_network else None
    if not keep_network:
        for flow in flows_out:  # the connections' buffers, and through the queue's hook the network
            flow.conn = None if flow.conn is None else Sender.of(cast(TCPConnection, flow.conn))
        qdisc.on_drop = None
        del net
        gc.collect()  # the network is a web of reference cycles: free it now, not runs later
    return Run(flows_out, rate_bps, delay_ns, rtt, duration_ns, qdisc, limit, kept,
               {"flows": [s[0] for s in specs], "queue": queue, "loss": loss, "seed": seed})


def _simulate(specs: list[tuple[str, Callable[[], CongestionControl]]], qdisc: QueueDiscipline, *,
              rate_bps: int, delay_ns: int, access_delay: int, loss: float, duration_ns: int,
              stagger_ns: int, seed: int, config: TCPConfig) -> tuple[list[Flow], Network]:
    """Build the dumbbell, run it for ``duration_ns`` and return its flows and network."""
    net = Network(seed=seed)
    n = len(specs)
    r1 = net.add_router("R1", interfaces={
        **{f"eth{k}": f"10.0.{k}.1/24" for k in range(n)}, "wan": "10.9.0.1/30"})
    r2 = net.add_router("R2", interfaces={"wan": "10.9.0.2/30", "eth0": "10.8.0.1/24"})
    b = net.add_host("B", ip="10.8.0.10/24", gateway="10.8.0.1")
    fast = rate_bps * 10
    senders = []
    watched: list[Watched] = []
    for k, (_, factory) in enumerate(specs):
        def make(lp: int, rp: int | None, *, iss: Any, config: TCPConfig, name: str,
                 _factory: Callable[[], CongestionControl] = factory) -> TCPConnection:
            def cc() -> CongestionControl:
                w = Watched(_factory())
                watched.append(w)
                return w  # type: ignore[return-value]
            return TCPConnection(lp, rp, iss=iss, config=replace(config, congestion=cc), name=name)

        a = net.add_host(f"A{k + 1}", ip=f"10.0.{k}.10/24", gateway=f"10.0.{k}.1", tcp=make)
        net.connect(a, r1[f"eth{k}"], delay=f"{access_delay}ns", bandwidth=fast, queue=1000)
        senders.append(a)
    link = net.connect(r1["wan"], r2["wan"], delay=f"{delay_ns}ns", bandwidth=rate_bps)
    link.set_queue(qdisc, source=r1)
    if loss:
        link.impair(Loss(loss), source=r1)
    net.connect(r2["eth0"], b, delay=f"{access_delay}ns", bandwidth=fast, queue=1000)
    install_transport(net, tcp_config=config)
    cast(IPStack, r1.stack).routes.add_default("10.9.0.2")
    cast(IPStack, r2.stack).routes.add_default("10.9.0.1")

    out = [Flow(f"A{k + 1}", name, k * stagger_ns) for k, (name, _) in enumerate(specs)]
    by_ip = {bytes([10, 0, k, 10]): out[k] for k in range(n)}

    class DropTap:
        """Marks a loss on the flow whose packet the bottleneck dropped."""

        def record(self, time: int, iface: Any, direction: str, data: bytes, xid: int,
                   note: str = "") -> None:
            if direction == "drop" and len(data) >= 30:
                flow = by_ip.get(data[26:30])
                if flow is not None:
                    flow.events.append((time, "loss"))

    r1["wan"].taps = r1["wan"].taps + (DropTap(),)  # type: ignore[operator]

    server = socket(b)
    server.bind(("", 5001))
    server.listen(backlog=max(5, n))
    totals = [0] * n
    delivered: list[list[tuple[int, int]]] = [[] for _ in range(n)]

    def accepted(sock: Any, peer: tuple[str, int]) -> None:
        k = int(peer[0].split(".")[2])

        def data(chunk: bytes) -> None:
            totals[k] += len(chunk)
            delivered[k].append((net.now, totals[k]))

        sock.on_data(data)

    server.on_connection(accepted)
    clients: list[Any] = []
    chunk = 1 << 18

    def feed() -> None:
        # Keep each sender's socket topped up in small pieces: one big sendall would be
        # copied whole on every push out of the socket's backlog.
        for c in clients:
            if len(c._out) < chunk:
                c.sendall(bytes(chunk))
        net.after("10ms", feed)

    for k, flow in enumerate(out):
        if flow.start > net.now:
            net.run(until=f"{flow.start}ns")
        flow.start = net.now
        c = socket(senders[k])
        c.connect(("10.8.0.10", 5001))  # blocking: the flows already started go on meanwhile
        c.on_data(lambda d: None)  # event mode: sendall keeps what the buffer cannot take
        c.sendall(bytes(chunk))
        flow.conn = c._conn
        clients.append(c)
        if k == 0:
            net.after("10ms", feed)
    net.run(until=f"{duration_ns}ns")
    for k, w in enumerate(watched[:n]):
        out[k].events.extend(w.events)
        out[k].events.sort()
        out[k].delivered = _rows(delivered[k], 2)
    return out, net
