"""The event engine: order, ties, cancellation, the clock, errors."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.errors import LabkitValueError
from labkit.sim import Engine


def test_events_run_in_time_order():
    eng = Engine()
    seen = []
    for t in (50, 10, 30, 20, 40):
        eng.at(t, seen.append, t)
    assert eng.run() == 5
    assert seen == [10, 20, 30, 40, 50]
    assert eng.now == 50


def test_equal_times_run_in_scheduling_order():
    eng = Engine()
    seen = []
    for i in range(100):
        eng.at(7, seen.append, i)
    eng.run()
    assert seen == list(range(100))


def test_event_scheduled_during_run_at_same_time_runs_after_current_batch():
    eng = Engine()
    seen = []

    def first():
        seen.append("first")
        eng.after(0, seen.append, "nested")

    eng.at(5, first)
    eng.at(5, seen.append, "second")
    eng.run()
    assert seen == ["first", "second", "nested"]


def test_clock_is_event_time_inside_callbacks():
    eng = Engine()
    times = []
    eng.at(1_000, lambda: times.append(eng.now))
    eng.at(2_500, lambda: times.append(eng.now))
    eng.run()
    assert times == [1_000, 2_500]


def test_run_until_stops_and_sets_clock():
    eng = Engine()
    seen = []
    for t in (10, 20, 30):
        eng.at(t, seen.append, t)
    assert eng.run(until=20) == 2  # an event exactly at `until` runs
    assert seen == [10, 20]
    assert eng.now == 20
    assert eng.run(until=25) == 0
    assert eng.now == 25  # time passes even with nothing to do
    eng.run()
    assert seen == [10, 20, 30]


def test_max_events_and_step():
    eng = Engine()
    for t in range(10):
        eng.at(t, lambda: None)
    assert eng.run(max_events=3) == 3
    assert eng.step() is True
    assert eng.events_run == 4
    assert eng.pending == 6
    assert eng.run() == 6
    assert eng.step() is False


def test_cancel_by_sequence_number_and_timer():
    eng = Engine()
    seen = []
    seq = eng.at(10, seen.append, "cancelled")
    timer = eng.timer(20, seen.append, "timer cancelled")
    eng.at(30, seen.append, "kept")
    eng.cancel(seq)
    assert timer.pending
    timer.cancel()
    assert not timer.pending
    eng.run()
    assert seen == ["kept"]
    assert eng.events_run == 1


def test_timer_not_pending_after_firing_and_cancel_is_harmless():
    eng = Engine()
    seen = []
    timer = eng.timer(5, seen.append, 1)
    eng.run()
    assert seen == [1]
    assert not timer.pending
    timer.cancel()  # already ran: nothing happens, nothing breaks
    assert not eng._cancelled


def test_timer_at_current_time_pending_until_it_runs():
    eng = Engine()
    eng.run(until=100)
    timer = eng.timer(0, lambda: None)
    assert timer.pending
    eng.run()
    assert not timer.pending


def test_scheduling_in_the_past_is_refused():
    eng = Engine()
    eng.run(until=100)
    with pytest.raises(LabkitValueError, match="in the past"):
        eng.at(50, lambda: None)
    with pytest.raises(LabkitValueError, match="into the past"):
        eng.after(-1, lambda: None)


def test_seed_validation():
    with pytest.raises(LabkitValueError, match="seed=1.5"):
        Engine(seed=1.5)
    with pytest.raises(LabkitValueError, match="seed='x'"):
        Engine(seed="x")


def test_generator_is_seeded():
    a, b, c = Engine(seed=3), Engine(seed=3), Engine(seed=4)
    assert isinstance(a.rng, np.random.Generator)
    x, y, z = a.rng.random(5), b.rng.random(5), c.rng.random(5)
    assert np.array_equal(x, y)
    assert not np.array_equal(x, z)


def test_exception_in_event_carries_virtual_time():
    eng = Engine()

    def boom():
        raise RuntimeError("handler bug")

    eng.at(1_500_000, boom)
    with pytest.raises(RuntimeError) as info:
        eng.run()
    notes = getattr(info.value, "__notes__", [])
    assert any("1.5 ms" in n for n in notes)


def test_peek():
    eng = Engine()
    assert eng.peek() is None
    eng.at(42, lambda: None)
    assert eng.peek() == 42
