"""The shared medium: propagation, collisions where signals overlap, carrier sense, detection."""

from __future__ import annotations

import pytest

from labkit.errors import LabkitValueError
from labkit.sim import Engine
from labkit.sim.access import build_bus, run_access
from labkit.sim.medium import Medium

FRAME = bytes(100)  # 80 us at 10 Mbit/s


class Recorder:
    """A station that writes down everything the medium tells it."""

    def __init__(self) -> None:
        self.collisions: list[int] = []
        self.outcomes: list[tuple[bool, int]] = []
        self.frames: list[tuple[bytes, int]] = []

    def collision(self, now: int) -> None:
        self.collisions.append(now)

    def sent(self, ok: bool, now: int) -> None:
        self.outcomes.append((ok, now))

    def receive(self, frame: bytes, now: int) -> None:
        self.frames.append((frame, now))


def three_stations(record: bool = False):
    """A at 0 m, B at 1000 m (5 us away), C at 2000 m (10 us from A)."""
    engine = Engine(seed=1)
    medium = Medium(engine, record=record)
    stations = {name: Recorder() for name in "ABC"}
    ports = {name: medium.attach(i * 1000.0, stations[name], name=name, listening=True)
             for i, name in enumerate("ABC")}
    return engine, medium, stations, ports


def test_delays_and_frame_time():
    _, medium, _, ports = three_stations()
    assert medium.delay(ports["A"], ports["B"]) == 5_000
    assert medium.delay(ports["A"], ports["C"]) == 10_000
    assert medium.span == 10_000
    assert medium.frame_time(len(FRAME)) == 80_000


def test_a_lone_frame_reaches_everyone_when_its_last_bit_arrives():
    engine, medium, st, ports = three_stations()
    engine.at(0, ports["A"].transmit, FRAME)
    engine.run()
    assert st["B"].frames == [(FRAME, 85_000)]
    assert st["C"].frames == [(FRAME, 90_000)]
    assert st["A"].frames == []  # a station does not hear itself
    assert st["A"].outcomes == [(True, 90_000)]  # settled once it has left the far end
    assert (medium.clean, medium.garbled, medium.clean_time) == (1, 0, 80_000)


@pytest.mark.parametrize(
    "b_start, a_ok, b_heard_by_a, b_ok",
    [
        (4_000, False, False, False),  # B starts before A's signal reaches it: it cannot know
        (84_999, False, True, False),  # A's last bit is still passing B: garbled at B and C
        (85_000, True, True, True),  # A's signal has just left B: nothing overlaps anywhere
    ],
)
def test_collision_exactly_when_signals_overlap_at_a_position(b_start, a_ok, b_heard_by_a, b_ok):
    engine, medium, st, ports = three_stations()
    engine.at(0, ports["A"].transmit, FRAME)
    engine.at(b_start, ports["B"].transmit, FRAME)
    engine.run()
    assert st["A"].outcomes[0][0] is a_ok
    assert st["B"].outcomes[0][0] is b_ok
    # A hears B's frame clean iff B's signal reaches A after A stopped sending (80 us)
    assert (len(st["A"].frames) == 1) is b_heard_by_a
    assert (len(st["C"].frames) == 2) is (a_ok and b_ok)


def test_garbled_at_one_place_clean_at_another():
    # B starts at 80 us: A's frame still passes B (until 85 us) and C (until 90 us), but B's own
    # signal reaches A at 85 us, after A stopped: A receives it; C does not (A's tail is there).
    engine, medium, st, ports = three_stations()
    engine.at(0, ports["A"].transmit, FRAME)
    engine.at(80_000, ports["B"].transmit, FRAME)
    engine.run()
    assert [f for f, _ in st["A"].frames] == [FRAME]
    assert st["C"].frames == []
    assert st["B"].outcomes[0][0] is False  # not clean everywhere


def test_carrier_sense_sees_a_signal_only_after_it_has_propagated():
    engine, _, _, ports = three_stations()
    engine.at(0, ports["A"].transmit, FRAME)
    seen = {}
    for t in (4_999, 5_000, 5_001, 84_999, 85_000, 89_999, 90_001):
        engine.at(t, lambda t=t: seen.__setitem__(t, (ports["B"].busy(), ports["C"].busy())))
    engine.at(40_000, lambda: seen.__setitem__("A", ports["A"].busy()))
    engine.run()
    assert seen[4_999] == (False, False)
    assert seen[5_000] == (False, False)  # the first bit arrives at that instant: not yet sensed
    assert seen[5_001] == (True, False)
    assert seen[84_999] == (True, True)
    assert seen[85_000] == (False, True)
    assert seen[89_999] == (False, True)
    assert seen[90_001] == (False, False)
    assert seen["A"] is True  # a sending station's own signal is on the medium too


def test_when_idle_waits_for_the_carrier_and_the_gap():
    engine, _, _, ports = three_stations()
    calls = []
    engine.at(0, ports["A"].transmit, FRAME)
    engine.at(20_000, ports["C"].when_idle, lambda: calls.append(("C", engine.now)), 9_600)
    engine.at(1_000, ports["B"].when_idle, lambda: calls.append(("B", engine.now)))  # not yet sensed
    engine.run()
    assert calls == [("B", 1_000), ("C", 90_000 + 9_600)]


def test_collision_detection_when_the_other_signal_arrives_and_abort_with_jam():
    engine, medium, st, ports = three_stations(record=True)
    engine.at(0, lambda: ports["A"].transmit(FRAME, detect=True))
    engine.at(30_000, lambda: ports["C"].transmit(FRAME, detect=True))
    engine.run()
    # C started at 30 us, while A's signal (there since 10 us) was present: it detects at once;
    # C's signal reaches A 10 us later
    assert st["C"].collisions == [30_000]
    assert st["A"].collisions == [40_000]
    assert medium.aborted == 0  # detecting is the medium's job, aborting the station's


def test_abort_cuts_the_transmission_short_and_the_carrier_drops_earlier():
    engine, medium, st, ports = three_stations(record=True)

    class Jammer(Recorder):
        def __init__(self, port_name):
            super().__init__()
            self.name = port_name

        def collision(self, now):
            super().collision(now)
            ports[self.name].abort(3_200)

    for name in "AC":
        ports[name].station = Jammer(name)
    calls = []
    engine.at(0, lambda: ports["A"].transmit(FRAME, detect=True))
    engine.at(30_000, lambda: ports["C"].transmit(FRAME, detect=True))
    engine.at(35_000, ports["B"].when_idle, lambda: calls.append(engine.now))
    engine.run()
    a, c = medium.history
    assert (a.aborted, a.end) == (True, 40_000 + 3_200)
    assert (c.aborted, c.end) == (True, 30_000 + 3_200)
    assert medium.aborted == 2 and medium.garbled == 2 and medium.clean == 0
    # B (5 us from each) hears A until 48.2 us, C until 38.2 us
    assert calls == [48_200]


def test_one_frame_at_a_time_and_bad_arguments_are_named():
    engine, medium, _, ports = three_stations()
    with pytest.raises(LabkitValueError, match="frame="):
        ports["A"].transmit(b"")
    engine.at(0, ports["A"].transmit, FRAME)
    engine.run(until=1_000)
    with pytest.raises(LabkitValueError, match="one frame at a time"):
        ports["A"].transmit(FRAME)
    with pytest.raises(LabkitValueError, match="not sending"):
        ports["B"].abort(10)
    with pytest.raises(LabkitValueError, match="jam_ns="):
        ports["A"].abort(-1)
    with pytest.raises(LabkitValueError, match="gap="):
        ports["B"].when_idle(lambda: None, gap=-5)
    with pytest.raises(LabkitValueError, match="before the first transmission"):
        medium.attach(5.0)
    with pytest.raises(LabkitValueError, match="position="):
        Medium(Engine()).attach(-1.0)
    with pytest.raises(LabkitValueError, match="bitrate="):
        Medium(Engine(), bitrate=0)
    with pytest.raises(LabkitValueError, match="engine="):
        Medium("engine")  # type: ignore[arg-type]


def test_bus_and_run_arguments_are_named():
    with pytest.raises(LabkitValueError, match="protocol='token ring'"):
        build_bus("token ring")
    with pytest.raises(LabkitValueError, match="stations=0"):
        build_bus("aloha", stations=0)
    with pytest.raises(LabkitValueError, match="load=-1"):
        build_bus("aloha", load=-1)
    with pytest.raises(LabkitValueError, match="load=None"):
        build_bus("slotted", load=None)
    with pytest.raises(LabkitValueError, match="load=20"):
        build_bus("slotted", stations=10, load=20)
    with pytest.raises(LabkitValueError, match="load=11"):
        build_bus("aloha", stations=10, load=11)
    with pytest.raises(LabkitValueError, match="slots=0"):
        run_access("aloha", slots=0)
    with pytest.raises(LabkitValueError, match="length_m="):
        build_bus("csma", length_m=-3)


@pytest.mark.parametrize("protocol, load", [("aloha", 0.5), ("slotted", 1.0), ("csma", 1.0),
                                            ("csma/cd", None), ("csma/cd", 0.5)])
def test_same_seed_same_run(protocol, load):
    def trace(seed):
        r = run_access(protocol, stations=20, load=load, slots=2_000, seed=seed, length_m=500.0,
                       record=True)
        return [(t.port.name, t.start, t.end, t.ok) for t in r.bus.medium.history]

    first = trace(7)
    assert first == trace(7)
    assert first != trace(8)


def test_events_scale_with_transmissions_not_stations():
    small = run_access("slotted", stations=10, load=1.0, slots=5_000, seed=1)
    large = run_access("slotted", stations=1_000, load=1.0, slots=5_000, seed=1)
    # an attempt costs its start and its settling; idle stations cost nothing
    for r in (small, large):
        assert r.events <= 2 * r.transmissions + r.stations + 10
    assert large.transmissions == pytest.approx(small.transmissions, rel=0.1)
