"""Where the medium access protocols meet the shared medium: stations on a cable, and experiments.

:mod:`labkit.sim.medium` is the cable (it imports no layer); :mod:`labkit.link.aloha` and
:mod:`labkit.link.csma` are the protocols (they see only a port). This module, beside
:mod:`labkit.sim.stacks`, joins them:

- :func:`build_bus` attaches ``stations`` stations evenly along a cable of ``length_m`` metres
  and puts one protocol on each, with the engine's seeded generator;
- :func:`run_access` runs one of them for a number of slot times at an offered load and
  measures the throughput ``S`` (the share of time the medium carried frames that arrived
  intact everywhere) and the offered load ``G`` actually made;
- :func:`measure_throughput` repeats that over seeds and loads, and gives a 95% confidence
  bound from the spread of the repeated runs (Student's t).

What "offered load" means, per protocol (``T`` is a frame time):

- ``"aloha"``, ``"slotted"``, ``"csma"``: every station always has a frame, and the stations
  together *attempt* ``G`` times per frame time (new frames and retransmissions alike), the
  textbook's model: ALOHA waits so that each station's cycle lasts ``n T / G`` on average,
  slotted ALOHA sends in a slot with ``p = G / n``, CSMA listens after waits of mean ``n T / G``
  (and waits again if busy: each listen counts as an attempt);
- ``"csma/cd"``: ``G`` new frames per frame time arrive (Poisson) at stations picked at
  random, and queue there; ``load=None`` means every station always has a frame (full load).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labkit.errors import LabkitValueError
from labkit.link.access import AccessProtocol
from labkit.link.aloha import Aloha, SlottedAloha
from labkit.link.csma import CSMA, CSMACD
from labkit.sim.engine import Engine
from labkit.sim.medium import NS_PER_METRE, Medium

__all__ = ["PROTOCOLS", "Bus", "build_bus", "run_access", "AccessRun", "measure_throughput",
           "ThroughputCurve", "t_quantile"]

#: The protocols :func:`build_bus` knows, by the name the notebooks use.
PROTOCOLS = ("aloha", "slotted", "csma", "csma/cd")

# Student's t, 97.5% quantile, for 1..30 degrees of freedom (a two-sided 95% bound).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t_quantile(df: int) -> float:
    """Student's t 97.5% quantile for ``df`` degrees of freedom (1.96 beyond 30)."""
    if isinstance(df, bool) or not isinstance(df, int) or df < 1:
        raise LabkitValueError(f"df={df!r}: expected a whole number of degrees of freedom >= 1")
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass
class Bus:
    """Stations on one shared cable: the engine, the medium, one protocol per station."""

    engine: Engine
    medium: Medium
    stations: list[AccessProtocol]
    protocol: str
    frame_ns: int  # one frame's time on the medium
    slot_ns: int  # the unit the run's length is counted in
    load: float | None

    @property
    def a(self) -> float:
        """Propagation over frame time: the end-to-end delay of the cable over ``frame_ns``."""
        return self.medium.span / self.frame_ns


def _protocol_name(protocol: object) -> str:
    if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
        raise LabkitValueError(f"protocol={protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    return protocol.lower()


def build_bus(
    protocol: str,
    *,
    stations: int = 10,
    load: float | None = 1.0,
    frame_bytes: int = 64,
    bitrate: int = 10_000_000,
    length_m: float = 0.0,
    seed: int = 0,
    record: bool = False,
    listening: bool = False,
) -> Bus:
    """``stations`` stations running ``protocol`` on a cable of ``length_m`` metres (see the module)."""
    name = _protocol_name(protocol)
    if isinstance(stations, bool) or not isinstance(stations, int) or stations < 1:
        raise LabkitValueError(f"stations={stations!r}: expected a whole number of stations >= 1")
    if isinstance(frame_bytes, bool) or not isinstance(frame_bytes, int) or frame_bytes < 1:
        raise LabkitValueError(f"frame_bytes={frame_bytes!r}: expected a whole number of bytes >= 1")
    if isinstance(length_m, bool) or not isinstance(length_m, (int, float)) or not length_m >= 0:
        raise LabkitValueError(f"length_m={length_m!r}: expected a length in metres, >= 0")
    if load is not None and (isinstance(load, bool) or not isinstance(load, (int, float)) or not load > 0):
        raise LabkitValueError(f"load={load!r}: expected an offered load G > 0 (frames per frame time)")
    if load is None and name != "csma/cd":
        raise LabkitValueError(f"load=None: full load is for csma/cd; give {name} an offered load G")
    engine = Engine(seed)
    medium = Medium(engine, bitrate=bitrate, record=record)
    frame = bytes(frame_bytes)
    T = medium.frame_time(frame_bytes)
    span = round(length_m * NS_PER_METRE)
    ports = [
        medium.attach(length_m * i / max(1, stations - 1), name=f"S{i}", listening=listening)
        for i in range(stations)
    ]
    rng = engine.rng
    out: list[AccessProtocol] = []
    slot_ns = T
    G = None if load is None else float(load)
    for port in ports:
        station: AccessProtocol
        if name == "aloha":
            assert G is not None
            wait = stations * T / G - T - span  # each station's cycle: wait, send, hear the outcome
            if wait <= 0:
                raise LabkitValueError(
                    f"load={load!r}: {stations} ALOHA stations can attempt at most "
                    f"{stations * T / (T + span):.3g} times per frame time"
                )
            station = Aloha(port, rng, mean_wait_ns=wait, record=record)
        elif name == "slotted":
            assert G is not None
            if G > stations:
                raise LabkitValueError(f"load={load!r}: with {stations} stations p = G/n must be <= 1")
            slot_ns = T + span  # a guard of one end-to-end delay, so slots never overlap
            station = SlottedAloha(port, rng, p=G / stations, slot_ns=slot_ns, record=record)
        elif name == "csma":
            assert G is not None
            station = CSMA(port, rng, mean_wait_ns=stations * T / G, record=record)
        else:
            station = CSMACD(port, rng, record=record)
            slot_ns = station.slot_ns
        port.station = station
        out.append(station)
    bus = Bus(engine, medium, out, name, T, slot_ns, G)
    if name == "csma/cd":
        if G is None:
            for st in out:
                st.saturate(frame)
        else:
            _poisson_arrivals(bus, frame, G / T)
    else:
        for st in out:
            st.saturate(frame)
    return bus


def _poisson_arrivals(bus: Bus, frame: bytes, rate_per_ns: float) -> None:
    """New frames at ``rate_per_ns`` in all, each to a station drawn at random (one event each)."""
    engine = bus.engine
    rng = engine.rng
    stations = bus.stations
    mean = 1 / rate_per_ns

    def arrive() -> None:
        stations[int(rng.integers(0, len(stations)))].send(frame)
        engine.after(int(rng.exponential(mean)), arrive)

    engine.after(int(rng.exponential(mean)), arrive)


@dataclass
class AccessRun:
    """One run's measurements."""

    protocol: str
    stations: int
    load: float | None
    slots: int
    elapsed_ns: int
    frame_ns: int
    a: float
    #: S: the share of the time the medium carried frames that arrived intact.
    throughput: float
    #: The offered load actually made: attempts (ALOHA: sends; CSMA: listens) per frame time.
    offered: float
    transmissions: int
    clean: int
    garbled: int
    aborted: int
    dropped: int
    undetected: int
    events: int
    bus: Bus = field(repr=False)


def run_access(protocol: str, *, slots: int = 10_000, **options: Any) -> AccessRun:
    """Build a bus (:func:`build_bus`'s options) and run it for ``slots`` slot times; measure it."""
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise LabkitValueError(f"slots={slots!r}: expected a whole number of slot times >= 1")
    bus = build_bus(protocol, **options)
    until = slots * bus.slot_ns
    bus.engine.run(until=until)
    return measure(bus, slots)


def measure(bus: Bus, slots: int) -> AccessRun:
    """The measurements of ``bus`` after it ran for ``slots`` slot times."""
    m = bus.medium
    elapsed = bus.engine.now
    attempts = sum(getattr(st, "attempts", st.transmissions) for st in bus.stations)
    return AccessRun(
        protocol=bus.protocol,
        stations=len(bus.stations),
        load=bus.load,
        slots=slots,
        elapsed_ns=elapsed,
        frame_ns=bus.frame_ns,
        a=bus.a,
        throughput=m.clean_time / elapsed if elapsed else 0.0,
        offered=attempts * bus.frame_ns / elapsed if elapsed else 0.0,
        transmissions=m.transmissions,
        clean=m.clean,
        garbled=m.garbled,
        aborted=m.aborted,
        dropped=sum(st.dropped for st in bus.stations),
        undetected=sum(getattr(st, "undetected", 0) for st in bus.stations),
        events=bus.engine.events_run,
        bus=bus,
    )


@dataclass
class ThroughputCurve:
    """Throughput against offered load, from ``runs`` seeded runs per load."""

    protocol: str
    loads: np.ndarray  # the loads asked for (ALOHA's and slotted ALOHA's are exact: see the module)
    offered: np.ndarray  # the mean offered load made
    throughput: np.ndarray  # the mean S
    bound: np.ndarray  # the 95% confidence half-width of the mean S
    runs: int
    stations: int
    slots: int
    a: float

    def rows(self) -> list[tuple[float, float, float, float]]:
        """``(G asked, G made, S, bound)`` per load."""
        return [(float(g), float(o), float(s), float(b))
                for g, o, s, b in zip(self.loads, self.offered, self.throughput, self.bound)]


def measure_throughput(
    protocol: str, loads: object, *, runs: int = 10, slots: int = 10_000, seed: int = 0,
    **options: Any,
) -> ThroughputCurve:
    """Run ``protocol`` at every load, ``runs`` times each (seeds ``seed``, ``seed + 1``..., a new
    one for every run of every load); the bound is Student's t 95% half-width of the mean."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
        raise LabkitValueError(f"runs={runs!r}: a confidence bound needs at least 2 runs")
    values = np.atleast_1d(np.asarray(loads, dtype=float))
    S = np.empty((len(values), runs))
    offered = np.empty((len(values), runs))
    a = 0.0
    stations = int(options.get("stations", 10))
    for i, g in enumerate(values):
        for k in range(runs):
            # independent seeds for every load and run, so that the loads' errors are independent
            r = run_access(protocol, slots=slots, load=float(g), seed=seed + i * runs + k, **options)
            S[i, k] = r.throughput
            offered[i, k] = r.offered
            a = r.a
    half = t_quantile(runs - 1) * S.std(axis=1, ddof=1) / math.sqrt(runs)
    return ThroughputCurve(_protocol_name(protocol), values, offered.mean(axis=1), S.mean(axis=1), half,
                           runs, stations, slots, a)
