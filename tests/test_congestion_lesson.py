"""Lesson 10's experiments (labkit.bottleneck), its figures and explorer, and its exercises."""

from __future__ import annotations

import math

import matplotlib
import pytest

matplotlib.use("Agg")

from labkit.bottleneck import Watched, bdp, bottleneck, jain  # noqa: E402
from labkit.errors import LabkitValueError  # noqa: E402
from labkit.exercises import evaluate  # noqa: E402
from labkit.sim import CoDel  # noqa: E402
from labkit.transport.congestion import NewReno  # noqa: E402
from labkit.transport.cubic import Cubic  # noqa: E402

S = 1_000_000_000


def test_bdp_and_jain():
    assert bdp("100Mbit", "100ms") == 1_250_000
    assert jain([3, 3, 3]) == 1.0 and jain([1, 0, 0, 0]) == 0.25
    assert jain([1, 2]) == pytest.approx(9 / 10)
    with pytest.raises(LabkitValueError):
        jain([0, 0])
    with pytest.raises(LabkitValueError):
        jain([-1, 2])


def test_one_flow_fills_the_bottleneck_and_its_events_are_recorded():
    run = bottleneck(["newreno"], duration="5s", queue=1.0)
    flow = run.flows[0]
    assert run.queue_limit == math.ceil(run.bdp / 1514)
    assert 0.85 < run.utilisation() <= 1.0
    # every fast retransmit follows a loss at the bottleneck, and the window fell there
    losses, frs = flow.times("loss"), flow.times("fast retransmit")
    assert frs and losses and all(any(t0 < t for t0 in losses) for t in frs)
    assert len(flow.times("recovery end")) >= len(frs) - 1
    assert flow.bytes_between(0, run.duration) == flow.delivered[-1][1]


def test_two_flows_share_fairly_and_the_index_says_so():
    run = bottleneck(["newreno", "newreno"], duration="8s")
    assert run.fairness() > 0.9 and run.utilisation() > 0.85


def test_bigger_buffers_mean_longer_queues_not_more_throughput():
    small = bottleneck(["newreno"], duration="5s", queue=1.0)
    big = bottleneck(["newreno"], duration="5s", queue=8.0)
    assert big.sojourn()[1].mean() > 2 * small.sojourn()[1].mean()
    # (goodput is counted as B reads: bytes held behind a hole arrive together, so a window can
    # show a little more than the link rate)
    assert small.utilisation() > 0.85 and abs(big.utilisation() - small.utilisation()) < 0.12


def test_codel_cures_the_bloat():
    big = bottleneck(["newreno"], duration="6s", queue=8.0)
    codel = bottleneck(["newreno"], duration="6s", queue=CoDel())
    assert codel.sojourn()[1].mean() < big.sojourn()[1].mean() / 4
    assert any(f.times("loss") for f in codel.flows)


def test_cubic_runs_through_the_same_bottleneck():
    run = bottleneck(["cubic"], duration="5s", loss=0.005)
    assert run.flows[0].controller == "cubic" and run.utilisation() > 0.5


def test_watched_passes_everything_on():
    w = Watched(NewReno())
    w.start(1000, 0)
    w.on_loss(10_000, 5)
    assert (w.cwnd, w.ssthresh) == (8000, 5000) and w.events == [(5, "fast retransmit")]
    assert not w.partial_ack_ends_recovery


def test_bad_settings_are_refused():
    with pytest.raises(LabkitValueError, match="flow 'vegas'"):
        bottleneck(["vegas"])
    with pytest.raises(LabkitValueError, match="queue="):
        bottleneck(queue="big")


def test_figures_draw():
    from labkit.viz import congestion as vc

    run = bottleneck(["newreno", "cubic"], duration="3s", queue=0.5, loss=0.01)
    ax = vc.plot_cwnd(run.flows[0])
    labels = ax.get_legend_handles_labels()[1]
    assert any(s.startswith("fast retransmit") for s in labels)
    vc.plot_shares(run)
    vc.plot_bufferbloat([0.5, 1.0], [run, run])
    vc.plot_sojourn({"a": run})
    t, w = vc.window_growth(Cubic, w_max=100, rtt_ms=50, seconds=10)
    k = (100 * 0.3 / 0.4) ** (1 / 3)
    assert w[0] == pytest.approx(70) and w[t > k + 0.5][0] > 99  # back at W_max after K
    t2, w2 = vc.window_growth(NewReno, w_max=100, rtt_ms=50, seconds=10)
    assert w2[0] == 50 and 68 <= w2[20] <= 70  # Reno: one segment per RTT (bytes rounded down)
    vc.plot_growth({"CUBIC": (t, w), "NewReno": (t2, w2)}, w_max=100)
    vc.plot_bdp(100e6)


def test_explorer_callbacks_rerun_and_redraw():
    from labkit.viz.congestion import CongestionExplorer

    ex = CongestionExplorer(duration="2s")
    first = ex.out.outputs[0]["data"]["image/png"]
    assert "1 × newreno, buffer 1 BDP" in ex.describe()
    ex.flows.value = 2
    assert len(ex.run.flows) == 2 and "2 × newreno" in ex.out.outputs[0]["data"]["text/plain"]
    ex.buffer.value = 8.0
    assert ex.run.queue_limit > 8 * ex.run.bdp / 1514 - 1
    ex.controller.value = "cubic"
    assert ex.run.flows[0].controller == "cubic"
    assert ex.out.outputs[0]["data"]["image/png"] != first


def test_exercises_accept_the_answer_and_diagnose_slips():
    assert evaluate("cc.bdp", lambda rate, rtt: rate * rtt / 8)
    wrong = evaluate("cc.bdp", lambda rate, rtt: rate * rtt)
    assert not wrong and "bits" in wrong.message
    half = evaluate("cc.bdp", lambda rate, rtt: rate * rtt / 16)
    assert not half and "factor of two" in half.message
    assert evaluate("cc.window_limit", 65535 * 8 / 0.1 / 1e6)
    assert "megabytes" in evaluate("cc.window_limit", 65535 / 0.1 / 1e6).message
    k = (1000 * 0.3 / 0.4) ** (1 / 3)
    assert evaluate("cc.cubic_k", k)
    assert "W_max - β·W_max" in evaluate("cc.cubic_k", (1000 * 0.7 / 0.4) ** (1 / 3)).message
    assert "K³" in evaluate("cc.cubic_k", 750).message
    assert evaluate("cc.jain", lambda xs: sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)))
    no_n = evaluate("cc.jain", lambda xs: sum(xs) ** 2 / sum(x * x for x in xs))
    assert not no_n and "equal shares should give 1" in no_n.message
    assert not evaluate("cc.jain", lambda xs: max(xs))
