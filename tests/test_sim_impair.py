"""Impairments at rate 0, at rate 1, and statistically in between.

Statistical tests send N frames and check the observed count k of affected
frames against the binomial expectation: |k - N p| <= 4 sqrt(N p (1 - p)).
A correct impairment fails this about once in 16,000 runs; the seeds are fixed,
so a run either always passes or always fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labkit.errors import LabkitValueError
from labkit.sim import (
    Corrupt,
    Delay,
    Duplicate,
    Fault,
    Loss,
    Network,
    NotConnectedError,
    Reorder,
    drop_nth,
)

N = 20_000


def within_binomial(k: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(k - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def numbered(i: int, size: int = 60) -> bytes:
    return i.to_bytes(4, "big") + bytes(size - 4)


def run_pair(*impairments, n=N, seed=1, spacing=0, **link):
    """Send n numbered frames A -> B through the impairments; return B's inbox."""
    net = Network(seed=seed)
    a, b = net.add_host("A"), net.add_host("B")
    link.setdefault("bandwidth", None)
    link.setdefault("delay", "1ms")
    link.setdefault("queue", n)
    net.connect(a, b, **link)
    net.impair("A", "B", *impairments)
    if spacing:
        for i in range(n):
            net.at(i * spacing, a.send, numbered(i))
    else:
        for i in range(n):
            a.send(numbered(i))
    net.run()
    return net, b.inbox


# -- rate 0 and rate 1 --------------------------------------------------------------------------


def test_rate_zero_does_nothing_and_draws_nothing():
    rng = np.random.default_rng(5)
    state = rng.bit_generator.state
    frame = numbered(1)
    for imp in (Loss(0), Corrupt(0), Duplicate(0), Reorder(0), Delay("1ms", "1ms", rate=0)):
        for _ in range(100):
            assert imp.apply(frame, rng) == [(0, frame)]
    assert rng.bit_generator.state == state


def test_loss_extremes():
    _, inbox = run_pair(Loss(0.0), n=500)
    assert len(inbox) == 500
    net, inbox = run_pair(Loss(1.0), n=500)
    assert inbox == []
    assert net.links[0].ab.dropped_impaired == 500


def test_corrupt_extremes():
    _, inbox = run_pair(Corrupt(0.0), n=500)
    assert all(r.frame == numbered(i) for i, r in enumerate(inbox))
    _, inbox = run_pair(Corrupt(1.0), n=500)
    assert len(inbox) == 500
    assert all(r.frame != numbered(i) for i, r in enumerate(inbox))


def test_duplicate_extremes():
    _, inbox = run_pair(Duplicate(0.0), n=500)
    assert len(inbox) == 500
    _, inbox = run_pair(Duplicate(1.0), n=500)
    assert [r.frame for r in inbox] == [numbered(i) for i in range(500) for _ in (0, 1)]


def test_reorder_extremes():
    _, inbox = run_pair(Reorder(0.0), n=500, spacing=10_000)
    assert [r.frame for r in inbox] == [numbered(i) for i in range(500)]
    _, inbox = run_pair(Reorder(1.0, delay="1ms"), n=500, spacing=10_000)
    # every frame held back by the same time: the order survives, all 1 ms late
    assert [r.frame for r in inbox] == [numbered(i) for i in range(500)]
    assert all(r.time == 2_000_000 + i * 10_000 for i, r in enumerate(inbox))


def test_delay_extremes():
    _, inbox = run_pair(Delay("3ms", rate=0.0), n=200, spacing=10_000)
    assert all(r.time == 1_000_000 + i * 10_000 for i, r in enumerate(inbox))
    _, inbox = run_pair(Delay("3ms", rate=1.0), n=200, spacing=10_000)
    assert all(r.time == 4_000_000 + i * 10_000 for i, r in enumerate(inbox))


# -- statistically in between -------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.01, 0.1, 0.5])
def test_loss_rate(p):
    _, inbox = run_pair(Loss(p))
    lost = N - len(inbox)
    assert within_binomial(lost, N, p), (lost, N * p)


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_corrupt_rate_and_bits(p):
    _, inbox = run_pair(Corrupt(p, bits=3), n=N // 2)
    n = N // 2
    assert len(inbox) == n
    changed = 0
    for i, r in enumerate(inbox):
        sent = np.frombuffer(numbered(i), np.uint8)
        got = np.frombuffer(r.frame, np.uint8)
        flips = int(np.unpackbits(sent ^ got).sum())
        assert flips in (0, 3)
        changed += flips == 3
    assert within_binomial(changed, n, p), (changed, n * p)


def test_corrupt_flips_every_bit_position_eventually():
    rng = np.random.default_rng(2)
    imp = Corrupt(1.0)
    frame = bytes(4)
    hits = np.zeros(32, int)
    for _ in range(3000):
        ((_, out),) = imp.apply(frame, rng)
        hits += np.unpackbits(np.frombuffer(out, np.uint8))
    assert hits.sum() == 3000 and hits.min() > 40  # uniform over the 32 bits (about 94 each)


@pytest.mark.parametrize("p", [0.02, 0.25])
def test_duplicate_rate(p):
    _, inbox = run_pair(Duplicate(p))
    extra = len(inbox) - N
    assert within_binomial(extra, N, p), (extra, N * p)


@pytest.mark.parametrize("p", [0.05, 0.4])
def test_reorder_rate(p):
    n = N // 4
    _, inbox = run_pair(Reorder(p, delay="1ms"), n=n, spacing=10_000)
    late = [r for r in inbox if r.time - int.from_bytes(r.frame[:4], "big") * 10_000 > 1_000_000]
    assert within_binomial(len(late), n, p), (len(late), n * p)
    order = [int.from_bytes(r.frame[:4], "big") for r in inbox]
    assert sorted(order) == list(range(n)) and order != list(range(n))


def test_delay_jitter_bounds_and_mean():
    n = 5000
    _, inbox = run_pair(Delay("2ms", jitter="500us"), n=n, spacing=1_000_000)
    extra = np.array(
        [r.time - 1_000_000 - int.from_bytes(r.frame[:4], "big") * 1_000_000 for r in inbox]
    )
    assert extra.min() >= 1_500_000 and extra.max() <= 2_500_000
    # uniform on [-500 us, 500 us]: standard deviation 500/sqrt(3) us
    sd = 500_000 / math.sqrt(3)
    assert abs(extra.mean() - 2_000_000) <= 4 * sd / math.sqrt(n)
    assert abs(extra.std() - sd) <= 0.05 * sd


def test_jitter_reorders_closely_spaced_frames():
    _, inbox = run_pair(n=2000, spacing=10_000, jitter="100us")
    order = [int.from_bytes(r.frame[:4], "big") for r in inbox]
    assert sorted(order) == list(range(2000)) and order != list(range(2000))


def test_delay_rate():
    n, p = 4000, 0.3
    _, inbox = run_pair(Delay("5ms", rate=p), n=n, spacing=1_000)
    late = sum(r.time - int.from_bytes(r.frame[:4], "big") * 1_000 > 1_000_000 for r in inbox)
    assert within_binomial(late, n, p)


def test_connect_arguments_make_one_impairment_per_direction():
    net = Network(seed=3)
    a, b = net.add_host("A"), net.add_host("B")
    link = net.connect(a, b, loss=0.2, corrupt=0.1, duplicate=0.05, reorder=0.01, jitter="1us")
    kinds = [type(i).__name__ for i in link.ab.impairments]
    assert kinds == ["Loss", "Corrupt", "Duplicate", "Reorder", "Delay"]
    assert all(x is not y for x, y in zip(link.ab.impairments, link.ba.impairments, strict=True))


def test_loss_through_connect_each_direction():
    net = Network(seed=4)
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b, loss=0.25, bandwidth=None)
    for i in range(4000):
        a.send(numbered(i))
        b.send(numbered(i))
    net.run()
    for box in (a.inbox, b.inbox):
        assert within_binomial(4000 - len(box), 4000, 0.25)


# -- scripted faults ----------------------------------------------------------------------------


def test_drop_exactly_the_third_frame():
    fault = drop_nth(3)
    _, inbox = run_pair(fault, n=10)
    assert [int.from_bytes(r.frame[:4], "big") for r in inbox] == [0, 1, 3, 4, 5, 6, 7, 8, 9]
    assert (fault.seen, fault.fired) == (10, 1)


def test_fault_counts_only_matching_frames():
    # "drop the 2nd frame whose number is odd": frames 1, 3, 5... match; 3 is the 2nd
    fault = Fault(nth=2, match=lambda f: f[3] % 2 == 1)
    _, inbox = run_pair(fault, n=10)
    assert 3 not in [r.frame[3] for r in inbox] and len(inbox) == 9


def test_fault_on_every_matching_frame():
    _, inbox = run_pair(Fault(match=lambda f: f[3] % 3 == 0), n=10)
    assert [r.frame[3] for r in inbox] == [1, 2, 4, 5, 7, 8]


def test_fault_actions():
    _, inbox = run_pair(Fault(nth=1, action="corrupt"), n=2)
    assert inbox[0].frame == numbered(0)[:-1] + b"\x01" and inbox[1].frame == numbered(1)
    _, inbox = run_pair(Fault(nth=2, action="duplicate"), n=3)
    assert [r.frame[3] for r in inbox] == [0, 1, 1, 2]
    _, inbox = run_pair(Fault(nth=1, action="5ms"), n=2)
    assert [r.frame[3] for r in inbox] == [1, 0] and inbox[1].time == 6_000_000
    _, inbox = run_pair(Fault(nth=2, action=lambda f: [f[:10], f[10:]]), n=2)
    assert [len(r.frame) for r in inbox] == [60, 10, 50]
    _, inbox = run_pair(Fault(nth=1, action=lambda f: None), n=2)
    assert [r.frame[3] for r in inbox] == [1]


def test_fault_on_one_direction_only():
    net = Network()
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b)
    net.impair("A", "B", Fault(action="drop"))
    a.send(numbered(1))
    b.send(numbered(2))
    net.run()
    assert b.inbox == [] and len(a.inbox) == 1


def test_impairments_chain_in_order():
    # duplicate, then drop the 2nd frame the fault sees: the copy goes, the original stays
    _, inbox = run_pair(Duplicate(1.0), Fault(nth=2), n=1)
    assert len(inbox) == 1


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: Loss(2), "loss=2: a rate is a probability"),
        (lambda: Loss(float("nan")), "loss=nan"),
        (lambda: Corrupt(0.1, bits=0), "bits=0"),
        (lambda: Duplicate("x"), "duplicate='x'"),
        (lambda: Reorder(0.1, delay=0), "delay=0"),
        (lambda: Delay("1 fortnight"), "delay='1 fortnight'"),
        (lambda: Fault(nth=0), "nth=0: count frames from 1"),
        (lambda: Fault(action="explode"), "action='explode'"),
        (lambda: Fault(action=object()), "action=<object"),
        (lambda: Fault(match=5), "match=5"),
    ],
)
def test_impairment_argument_errors(make, fragment):
    with pytest.raises(LabkitValueError) as info:
        make()
    assert fragment in str(info.value)


def test_fault_action_returning_wrong_type():
    with pytest.raises(LabkitValueError, match="returned int"):
        run_pair(Fault(nth=1, action=lambda f: 5), n=1)


def test_impair_on_an_interface():
    net = Network()
    a, b = net.add_host("A"), net.add_host("B")
    with pytest.raises(NotConnectedError, match="A.eth0 is not connected"):
        a.interfaces[0].impair(Loss(1.0))
    net.connect(a, b)
    a.iface.impair(drop_nth(1))
    a.send(numbered(0))
    a.send(numbered(1))
    b.send(numbered(2))
    net.run()
    assert [r.frame[3] for r in b.inbox] == [1] and [r.frame[3] for r in a.inbox] == [2]
