"""The scenario-test helper (labkit.testing): steps, the clock, and failure reports."""

from __future__ import annotations

import pytest

from labkit.errors import LabkitValueError
from labkit.sim import Network
from labkit.testing import Scenario, ScenarioFailure


class Cache:
    """A toy state machine with time passed in: entries expire after `ttl` ns."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.entries: dict[str, tuple[str, int]] = {}

    def learn(self, key: str, value: str, now: int) -> None:
        self.entries[key] = (value, now)

    def lookup(self, key: str, now: int) -> str | None:
        item = self.entries.get(key)
        if item is None or now - item[1] >= self.ttl:
            return None
        return item[0]


def test_passing_scenario_records_steps_and_time():
    s = Scenario("cache", Cache(ttl=20 * 10**9))
    s.do("learn a", lambda c, now: c.learn("a", "A", now))
    s.expect_equal("a is found", lambda c, now: c.lookup("a", now), "A")
    s.tick("19.999s")
    s.expect("still there just before 20 s", lambda c, now: c.lookup("a", now) == "A")
    s.tick("1ms")
    s.expect_equal("gone at 20 s", lambda c, now: c.lookup("a", now), None)
    assert s.now == 20 * 10**9
    assert [st.kind for st in s.steps] == ["do", "expect", "tick", "expect", "tick", "expect"]
    assert all(st.ok for st in s.steps)
    report = s.report()
    assert "6. t=20 s" in report and "gone at 20 s" in report


def test_failure_lists_steps_expected_got_and_hint():
    s = Scenario("broken cache", Cache(ttl=10**20))  # never expires: a bug to catch
    s.do("learn a", lambda c, now: c.learn("a", "A", now))
    s.tick("30s")
    with pytest.raises(ScenarioFailure) as info:
        s.expect_equal(
            "expired after 30 s",
            lambda c, now: c.lookup("a", now),
            None,
            hint="compare now with the time stored",
        )
    msg = str(info.value)
    lines = msg.splitlines()
    assert lines[0] == "Scenario 'broken cache' failed at step 3, t=30 s"
    assert "1. t=0 s" in lines[1] and "learn a" in lines[1] and lines[1].endswith("ok")
    assert "2. t=30 s" in lines[2] and "+30 s" in lines[2]
    assert lines[3].lstrip().startswith("> 3. t=30 s") and not lines[3].endswith("ok")
    assert "expected: None" in msg and "got:      'A'" in msg
    assert lines[-1] == "  hint: compare now with the time stored"
    assert isinstance(info.value, AssertionError)
    assert info.value.expected is None and info.value.got == "A"
    assert not s.steps[-1].ok


def test_step_functions_may_take_subject_or_nothing():
    s = Scenario("arity", [1, 2])
    assert s.do("length", lambda xs: len(xs)) == 2
    assert s.do("constant", lambda: 7) == 7
    s.expect("non-empty", len)
    s.expect_equal("sum", sum, 3)


def test_exception_in_action_is_reported_as_failed_step():
    s = Scenario("boom", {})
    with pytest.raises(ScenarioFailure) as info:
        s.do("read missing key", lambda d: d["x"])
    assert "raised KeyError: 'x'" in str(info.value)


def test_expect_false_and_assertion_inside_check():
    s = Scenario("checks", 5, hint="default hint")
    with pytest.raises(ScenarioFailure) as info:
        s.expect("is even", lambda x: x % 2 == 0)
    assert "expected: 'true'" in str(info.value) and "got:      False" in str(info.value)
    assert "hint: default hint" in str(info.value)

    def check(x):
        assert x > 10, f"{x} is too small"

    with pytest.raises(ScenarioFailure, match="5 is too small"):
        Scenario("assert", 5).expect("big", check)


def test_expect_raises():
    s = Scenario("errors", None)
    exc = s.expect_raises("bad int", lambda: int("x"), ValueError, match="invalid literal")
    assert isinstance(exc, ValueError)
    with pytest.raises(ScenarioFailure, match="got:      'no error .returned 3.'"):
        s.expect_raises("no error", lambda: 3, ValueError)
    with pytest.raises(ScenarioFailure, match="expected: 'KeyError'"):
        Scenario("e", None).expect_raises("wrong kind", lambda: int("x"), KeyError)
    with pytest.raises(ScenarioFailure, match="mentioning 'banana'"):
        Scenario("e", None).expect_raises(
            "wrong text", lambda: int("x"), ValueError, match="banana"
        )


def test_advance_is_told_the_time():
    seen = []
    s = Scenario("advance", None, advance=lambda subject, now: seen.append(now))
    s.tick("1s").tick("500ms")
    assert seen == [1_000_000_000, 1_500_000_000]


def test_bad_arguments():
    with pytest.raises(LabkitValueError, match="duration='soon'"):
        Scenario("x", None).tick("soon")
    with pytest.raises(LabkitValueError, match="action=3"):
        Scenario("x", None).do("three", 3)


def test_scenario_on_a_simulated_network():
    net = Network(seed=1)
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b, delay="1ms", bandwidth=None)
    s = Scenario.for_network("A pings B", net)
    s.do("A sends a frame", lambda n: n["A"].send(b"hello"))
    s.tick("999us")
    s.expect_equal("not there yet", lambda n: len(n["B"].inbox), 0)
    s.tick("1us")
    s.expect_equal("arrives after 1 ms", lambda n: [r.frame for r in n["B"].inbox], [b"hello"])
    assert net.now == 1_000_000
