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


# -- re-entry, cancelled events, integer horizons ------------------------------------------------


def test_run_inside_an_event_is_refused_with_a_labkit_error():
    from labkit.errors import LabkitError
    from labkit.sim.errors import ReentrantRunError

    eng = Engine()
    caught = []

    def handler():
        try:
            eng.run()
        except ReentrantRunError as exc:
            caught.append(exc)

    eng.at(5, handler)
    eng.at(6, caught.append, "after")
    assert eng.run() == 2
    assert isinstance(caught[0], LabkitError) and isinstance(caught[0], RuntimeError)
    assert "already running" in str(caught[0]) and "on_data" in str(caught[0])
    assert caught[1] == "after"  # the refused call ran nothing: the later event ran in its turn
    assert not eng.running
    assert eng.run() == 0  # and the engine runs again afterwards


def test_an_error_inside_an_event_leaves_the_engine_runnable():
    eng = Engine()
    eng.at(1, lambda: 1 / 0)
    eng.at(2, lambda: None)
    with pytest.raises(ZeroDivisionError):
        eng.run()
    assert not eng.running and eng.run() == 1


def test_peek_and_pending_ignore_cancelled_events():
    eng = Engine()
    first = eng.timer(10, lambda: None)
    eng.timer(20, lambda: None)
    assert eng.pending == 2 and eng.peek() == 10
    first.cancel()
    assert eng.pending == 1
    assert eng.peek() == 20
    eng.cancel(eng.at(30, lambda: None))
    assert eng.pending == 1


def test_cancelled_events_are_compacted_once_they_are_most_of_the_queue():
    eng = Engine()
    timers = [eng.timer(1000 + i, lambda: None) for i in range(1000)]
    for t in timers[:-1]:
        t.cancel()
    # A protocol that re-arms a timer per packet cancels the old one each time: the queue must
    # not keep every cancelled entry until its time comes.
    assert len(eng._queue) < 1000 // 2 + 64
    assert len(eng._cancelled) <= len(eng._queue)
    assert eng.pending == 1
    assert eng.run() == 1 and eng.events_run == 1


def test_cancelling_what_already_ran_remembers_nothing():
    eng = Engine()
    seqs = [eng.at(i, lambda: None) for i in range(100)]
    eng.run()
    for seq in seqs:
        eng.cancel(seq)
    eng.cancel(10_000)  # never scheduled
    assert not eng._cancelled and eng.pending == 0


def test_network_run_takes_integer_nanoseconds():
    from labkit.sim import Network

    net = Network()
    seen = []
    net.at("1ms", seen.append, "a")
    net.run(until_ns=999_999)
    assert seen == [] and net.now == 999_999
    net.run(until_ns=1_000_000)
    assert seen == ["a"] and net.now == 1_000_000
    with pytest.raises(LabkitValueError, match="until_ns=1.5"):
        net.run(until_ns=1.5)
    with pytest.raises(LabkitValueError, match="not both"):
        net.run(until="2s", until_ns=2)
    with pytest.raises(LabkitValueError, match="before now"):
        net.run(until_ns=5)
