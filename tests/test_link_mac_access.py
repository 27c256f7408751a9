"""Medium access protocols: 802.3's CSMA/CD and backoff through the door, ALOHA against theory."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from labkit.errors import LabkitValueError
from labkit.link.aloha import (
    Aloha,
    SlottedAloha,
    pure_aloha_throughput,
    slotted_aloha_throughput,
    slotted_aloha_throughput_n,
)
from labkit.link.csma import (
    ATTEMPT_LIMIT,
    CSMA,
    CSMACD,
    backoff_range,
    csmacd_efficiency,
    min_frame_bytes,
    nonpersistent_csma_throughput,
)
from labkit.sim import Engine
from labkit.sim.access import measure_throughput, run_access
from labkit.sim.medium import Medium

BIT = 100  # ns per bit at 10 Mbit/s


class AlwaysCollides:
    """A door (labkit.link.access.MediumPort) on which every frame collides 1 us after it starts."""

    bitrate = 10_000_000

    def __init__(self) -> None:
        self.engine = Engine(seed=3)
        self.station: Any = None
        self.starts: list[int] = []
        self.jams: list[tuple[int, int]] = []

    def now(self) -> int:
        return self.engine.now

    def call_at(self, time: int, fn: Callable[..., Any], *args: Any):
        return self.engine.timer(time - self.engine.now, fn, *args)

    def transmit(self, frame: bytes, *, detect: bool = False) -> int:
        self.starts.append(self.engine.now)
        if detect:
            self.engine.after(1_000, self.station.collision, self.engine.now + 1_000)
        return self.engine.now + len(frame) * 8 * BIT

    def abort(self, jam_ns: int = 0) -> int:
        self.jams.append((self.engine.now, jam_ns))
        return self.engine.now + jam_ns

    def busy(self) -> bool:
        return False

    def when_idle(self, fn: Callable[[], Any], gap: int = 0) -> None:
        fn()


def test_csmacd_jams_backs_off_doubling_and_gives_up_after_16_attempts():
    port = AlwaysCollides()
    station = CSMACD(port, port.engine.rng)
    port.station = station
    station.send(bytes(64))
    port.engine.run()
    assert len(port.starts) == ATTEMPT_LIMIT == 16
    assert station.dropped == 1 and station.collisions == 16
    assert all(jam == 32 * BIT for _, jam in port.jams)  # a 32-bit jam each time
    # after the n-th collision the wait from the jam's end is r slot times, r < 2^min(n, 10)
    assert [n for n, _ in station.backoffs] == list(range(1, 16))
    for (n, r), (t_jam, jam), start in zip(station.backoffs, port.jams, port.starts[1:]):
        assert 0 <= r < 2 ** min(n, 10)
        assert start == t_jam + jam + r * 512 * BIT


def test_backoff_ranges_double_to_1024_and_are_used_in_full():
    assert [backoff_range(n) for n in (1, 2, 3, 10, 11, 15)] == [2, 4, 8, 1024, 1024, 1024]
    draws: dict[int, list[int]] = {}
    for seed in range(200):
        port = AlwaysCollides()
        port.engine = Engine(seed=seed)
        station = CSMACD(port, port.engine.rng)
        port.station = station
        station.send(bytes(64))
        port.engine.run()
        for n, r in station.backoffs:
            draws.setdefault(n, []).append(r)
    assert set(draws[1]) == {0, 1}
    assert set(draws[2]) == {0, 1, 2, 3}
    assert max(max(draws[n]) for n in range(10, 16)) > 1000  # the range stops at 0..1023
    assert max(max(draws[n]) for n in range(10, 16)) < 1024
    with pytest.raises(LabkitValueError, match="collisions=0"):
        backoff_range(0)


def test_csmacd_waits_the_interframe_gap_after_its_own_frame():
    engine = Engine(seed=1)
    medium = Medium(engine, record=True)
    port = medium.attach(0.0)
    station = CSMACD(port, engine.rng)
    port.station = station
    station.send(bytes(64))
    station.send(bytes(64))
    engine.run()
    first, second = medium.history
    assert second.start == first.end + 96 * BIT
    assert station.successes == 2 and medium.clean == 2


def test_two_csmacd_stations_collide_detect_and_both_get_through():
    engine = Engine(seed=5)
    medium = Medium(engine, record=True)
    stations = []
    for x in (0.0, 500.0):
        port = medium.attach(x)
        st = CSMACD(port, engine.rng)
        port.station = st
        stations.append(st)
    for st in stations:
        engine.at(0, st.send, bytes(64))
    engine.run()
    assert all(st.collisions >= 1 for st in stations)
    assert all(st.successes == 1 and st.dropped == 0 for st in stations)
    assert medium.clean == 2 and medium.aborted == medium.garbled


@pytest.mark.parametrize("frame_bytes, undetected", [(10, 2), (64, 0)])
def test_frames_shorter_than_the_round_trip_collide_undetected(frame_bytes, undetected):
    # 2 km apart: 10 us each way. A 10-byte frame lasts 8 us: both senders are done before the
    # other's signal reaches them, and both believe their frame went through; the station in the
    # middle got both at once, garbled.
    engine = Engine(seed=1)
    medium = Medium(engine)
    medium.attach(1000.0)  # a station in the middle
    stations = []
    for x in (0.0, 2000.0):
        port = medium.attach(x)
        st = CSMACD(port, engine.rng)
        port.station = st
        stations.append(st)
        engine.at(0, st.send, bytes(frame_bytes))
    engine.run()
    assert sum(st.undetected for st in stations) == undetected
    if undetected:
        assert medium.clean == 0 and sum(st.successes for st in stations) == 2


def test_minimum_frame_from_the_slot_time():
    assert min_frame_bytes(10_000_000, 25_600) == 64  # 51.2 us round trip at 10 Mbit/s
    assert min_frame_bytes(100_000_000, 2_560) == 64
    assert min_frame_bytes(10_000_000, 10_000) == 25
    with pytest.raises(LabkitValueError, match="bitrate=0"):
        min_frame_bytes(0, 10)
    with pytest.raises(LabkitValueError, match="max_delay_ns=-1"):
        min_frame_bytes(10, -1)


def test_theory_curves():
    assert pure_aloha_throughput(0.5) == pytest.approx(1 / (2 * math.e))
    assert slotted_aloha_throughput(1.0) == pytest.approx(1 / math.e)
    assert slotted_aloha_throughput_n(1.0, 10**6) == pytest.approx(1 / math.e, rel=1e-5)
    assert nonpersistent_csma_throughput(1.0, 0.0) == pytest.approx(0.5)
    assert csmacd_efficiency(0.0) == 1.0
    with pytest.raises(LabkitValueError, match="G=-1"):
        pure_aloha_throughput(-1)


def test_protocol_arguments_are_named():
    engine = Engine()
    port = Medium(engine).attach(0.0)
    with pytest.raises(LabkitValueError, match="rng="):
        Aloha(port, np.random.default_rng, mean_wait_ns=10)  # type: ignore[arg-type]
    with pytest.raises(LabkitValueError, match="mean_wait_ns=0"):
        Aloha(port, engine.rng, mean_wait_ns=0)
    with pytest.raises(LabkitValueError, match="p=1.5"):
        SlottedAloha(port, engine.rng, p=1.5, slot_ns=100)
    with pytest.raises(LabkitValueError, match="slot_ns=0"):
        SlottedAloha(port, engine.rng, p=0.5, slot_ns=0)
    with pytest.raises(LabkitValueError, match="mean_wait_ns=-2"):
        CSMA(port, engine.rng, mean_wait_ns=-2)
    with pytest.raises(LabkitValueError, match="slot_bits=0"):
        CSMACD(port, engine.rng, slot_bits=0)
    with pytest.raises(LabkitValueError, match="frame="):
        CSMACD(port, engine.rng).send(b"")


def test_slotted_aloha_at_G_1_is_within_its_bound_of_1_over_e():
    curve = measure_throughput("slotted", [1.0], runs=10, slots=10_000, stations=1_000)
    s, bound = curve.throughput[0], curve.bound[0]
    assert 0 < bound < 0.01
    assert abs(s - 1 / math.e) <= bound
    assert curve.offered[0] == pytest.approx(1.0, abs=0.02)


def test_pure_aloha_at_G_half_is_within_its_bound_of_1_over_2e():
    curve = measure_throughput("aloha", [0.5], runs=10, slots=10_000, stations=1_000)
    assert abs(curve.throughput[0] - 1 / (2 * math.e)) <= curve.bound[0]


def test_carrier_sense_beats_aloha_and_csmacd_beats_both_at_full_load():
    aloha = run_access("aloha", stations=50, load=1.0, slots=5_000, seed=2)
    csma = run_access("csma", stations=50, load=1.0, slots=5_000, seed=2, length_m=200.0)
    cd = run_access("csma/cd", stations=50, load=None, slots=5_000, seed=2, length_m=200.0)
    assert aloha.throughput < 0.15 < 0.4 < csma.throughput < cd.throughput
    assert cd.undetected == 0


def test_stations_receive_what_was_clean_at_their_position():
    engine = Engine(seed=4)
    medium = Medium(engine)
    stations = []
    for x in (0.0, 100.0, 200.0):
        port = medium.attach(x, listening=True)
        st = CSMACD(port, engine.rng)
        port.station = st
        stations.append(st)
    for i, st in enumerate(stations):
        for k in range(5):
            engine.at(0, st.send, bytes([i, k]) + bytes(62))
    engine.run()
    assert medium.clean == 15 and all(st.dropped == 0 for st in stations)
    for i, st in enumerate(stations):
        got = sorted(frame[:2] for _, frame in st.received)
        assert got == sorted(bytes([j, k]) for j in range(3) if j != i for k in range(5))


# --- the notebook's checks and plots ------------------------------------------------------------


def test_mac_exercises_accept_the_right_answers_and_hint_at_the_usual_mistakes():
    from labkit.exercises import evaluate

    assert evaluate("mac.aloha_peak", (0.5, 1 / (2 * math.e)))
    slotted = evaluate("mac.aloha_peak", (1.0, 1 / math.e))
    assert not slotted and "slotted" in slotted.message
    assert evaluate("mac.min_frame", min_frame_bytes)
    one_way = evaluate("mac.min_frame", lambda bitrate, d: -(-d * bitrate // 1_000_000_000) // 8)
    assert not one_way and "2 x the delay" in one_way.message
    assert evaluate("mac.backoff", lambda n: 2 ** min(n, 10) if n < 16 else None)
    uncapped = evaluate("mac.backoff", lambda n: 2 ** n if n < 16 else None)
    assert not uncapped and "stops doubling" in uncapped.message
    never = evaluate("mac.backoff", lambda n: 2 ** min(n, 10))
    assert not never and "gives up" in never.message


def test_plots_draw_what_was_simulated():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labkit.viz.mac import mac_panel, plot_spacetime, plot_throughput, plot_timeline

    run = run_access("csma/cd", stations=4, load=None, slots=50, length_m=1000.0, record=True)
    ax = plot_spacetime(run.bus.medium)
    assert len(ax.patches) == run.transmissions
    ax = plot_timeline(run.bus.medium)
    assert len(ax.patches) == run.transmissions
    curve = measure_throughput("slotted", [0.5, 1.0], runs=2, slots=500, stations=50)
    ax = plot_throughput([curve])
    assert len(ax.lines) >= 1 and ax.get_legend() is not None
    panel = mac_panel("aloha", load=0.5, stations=10)
    assert len(panel.out.outputs) == 1 and "image/png" in panel.out.outputs[0]["data"]
    plt.close("all")
