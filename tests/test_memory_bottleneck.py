"""What lesson 10's runs keep (issue 24's per-student memory): the same numbers, in less room.

A finished :func:`labkit.bottleneck.bottleneck` run lets its network and connections go and keeps
its flows' histories as arrays; these tests check that nothing it reports changed (against the
live connections of the same run, kept with ``keep_network=True``), that the network really is
gone, and that a queue's compact log holds every row it was given.
"""

from __future__ import annotations

import gc
import tracemalloc

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from labkit.bottleneck import Sender, bottleneck  # noqa: E402
from labkit.sim import CoDel, DropTail  # noqa: E402
from labkit.sim.queue import _BLOCK  # noqa: E402
from labkit.transport.tcp_connection import TCPConfig, TCPConnection  # noqa: E402

BASIC = dict(config=TCPConfig.basic(), initial_segments=None)
SETTINGS = dict(flows=["newreno", "cubic"], queue=0.5, loss=0.01, duration="4s", stagger="1s",
                seed=2, **BASIC)


@pytest.fixture(scope="module")
def pair():
    """The same run twice: kept whole, and as a lesson gets it."""
    return bottleneck(**SETTINGS, keep_network=True), bottleneck(**SETTINGS)


def test_a_finished_run_reports_the_same_numbers_as_its_live_connections(pair):
    live, kept = pair
    assert live.net is not None and kept.net is None
    for a, b in zip(live.flows, kept.flows, strict=True):
        assert isinstance(a.conn, TCPConnection) and isinstance(b.conn, Sender)
        assert b.conn.smss == a.conn.smss and b.conn.iss == a.conn.iss
        assert b.conn.retransmissions == a.conn.retransmissions > 0
        assert b.cwnd_history.tolist() == [list(p) for p in a.conn.cwnd_history]
        assert b.conn.rtt_history.tolist() == [list(p) for p in a.conn.rtt_history]
        assert b.delivered.dtype == np.int64 and b.delivered.shape[1] == 2
        assert np.array_equal(a.delivered, b.delivered) and len(b.delivered) > 100
        assert a.events == b.events and b.times("loss") and b.times("fast retransmit")
        assert b.bytes_between(0, kept.duration) == b.delivered[-1, 1]
    assert live.throughputs() == kept.throughputs() and live.fairness() == kept.fairness()
    for x, y in zip(live.rtt_samples(), kept.rtt_samples(), strict=True):
        assert np.array_equal(x, y) and x.size > 50
    assert np.all(np.diff(kept.rtt_samples()[0]) >= 0)  # both senders' samples, in time order
    for x, y in zip(live.sojourn(), kept.sojourn(), strict=True):
        assert np.array_equal(x, y) and x.size > 500
    # what the lessons do with the rows: unpack them and divide by the segment size
    flow = kept.flows[0]
    assert [(int(t), int(c)) for t, c, _ in flow.cwnd_history][:50] == [
        (t, c) for t, c, _ in live.flows[0].conn.cwnd_history][:50]


def test_the_figures_draw_the_same_data(pair):
    from labkit.viz import congestion as vc

    live, kept = pair

    def drawn(run):
        fig, axes = plt.subplots(1, 4)
        vc.plot_cwnd(run.flows[0], ax=axes[0])
        vc.plot_cwnd(run.flows[1], ax=axes[1])
        vc.plot_shares(run, ax=axes[2])
        vc.plot_sojourn({"run": run}, ax=axes[3])
        data = [np.asarray(line.get_xydata(), dtype=float) for ax in axes for line in ax.get_lines()]
        labels = [t.get_text() for ax in axes for t in ax.get_legend().get_texts()]
        plt.close(fig)
        return data, labels

    (a, a_labels), (b, b_labels) = drawn(live), drawn(kept)
    assert a_labels == b_labels and len(a) == len(b) > 8 and sum(len(d) for d in a) > 2000
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))  # NaN: ssthresh unset


def _alive(kind: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


def test_a_finished_run_lets_its_network_and_connections_go():
    before = _alive(TCPConnection)
    run = bottleneck(["newreno"] * 2, duration="1s", **BASIC)
    assert _alive(TCPConnection) == before and len(run.flows[1].delivered) > 20
    kept = bottleneck(["newreno"] * 2, duration="1s", keep_network=True, **BASIC)
    assert _alive(TCPConnection) == before + 4  # two senders and B's two ends, kept on request
    del kept
    assert _alive(TCPConnection) == before


def test_a_finished_run_is_a_fraction_of_the_kept_one():
    def retained(**extra):
        gc.collect()
        tracemalloc.start()
        try:
            run = bottleneck(["newreno"] * 2, duration="3s", **BASIC, **extra)
            gc.collect()
            return tracemalloc.get_traced_memory()[0], run
        finally:
            tracemalloc.stop()

    small, run = retained()
    whole, _ = retained(keep_network=True)
    # each sender keeps its send buffer full (1 MiB with TCPConfig.basic()): let go with the rest
    assert whole > 2 * (1 << 20) and small < whole / 5, (small, whole)
    assert run.flows[0].delivered.nbytes < small


def test_a_queue_log_past_many_blocks_keeps_every_row():
    q = DropTail(packets=40, record=True)
    rng = np.random.default_rng(5)
    log, sojourns, waiting, now = [], [], [], 0
    for _ in range(3 * _BLOCK):
        now += int(rng.integers(1, 2_000_000))
        if rng.random() < 0.55:
            frame = bytes(int(rng.integers(60, 1515)))
            if q.enqueue(frame, 0, now):
                waiting.append((now, len(frame)))
                log.append((now, len(waiting), sum(n for _, n in waiting)))
        elif waiting:
            item = q.dequeue(now)
            arrived, _ = waiting.pop(0)
            assert item is not None and item.arrived == arrived
            log.append((now, len(waiting), sum(n for _, n in waiting)))
            sojourns.append((now, now - arrived))
    assert q.dropped_tail > 0 and len(log) > 2 * _BLOCK  # full at times, and many blocks long
    assert q.log == log and q.sojourns == sojourns
    got = q.series()
    assert got["t"].tolist() == [t for t, _, _ in log] and got["packets"].dtype == np.int64
    assert got["bytes"].tolist() == [b for _, _, b in log]
    assert got["sojourn_t"].tolist() == [t for t, _ in sojourns]
    got["t"][:] = -1  # the arrays are the caller's: the queue's own log is untouched
    assert q.series()["t"].tolist() == [t for t, _, _ in log]


def test_codel_records_the_same_through_its_head_drops():
    q = CoDel(record=True)
    now, sent = 0, 0
    for k in range(6000):  # two frames in for each one out: a standing queue, so CoDel drops
        now += 500_000
        q.enqueue(bytes(1500), k, now)
        if k % 2:
            sent += q.dequeue(now) is not None
    got = q.series()
    assert q.dropped_head > 10 and len(got["sojourn"]) == sent
    assert got["packets"][-1] == q.packets and got["bytes"][-1] == q.bytes
    assert [tuple(r) for r in np.column_stack([got["t"], got["packets"], got["bytes"]]).tolist()] == q.log
