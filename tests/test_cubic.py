"""CUBIC (RFC 9438) behind the congestion-control door: the window function at exact times.

The controller is driven by hand on a virtual clock; every expected value is computed
here from the RFC's formulas, not read back from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labkit.errors import LabkitValueError
from labkit.transport.congestion import Ack, CongestionControl
from labkit.transport.cubic import BETA, C, Cubic
from labkit.transport.tcp_connection import TCPConfig

MS = 1_000_000
S = 1_000_000_000
MSS = 1000  # round numbers: a window of 100 segments is 100,000 bytes


def after_loss(w: int = 100, **kw) -> Cubic:
    """A CUBIC that had ``w`` segments in flight when a loss was found, now recovered."""
    cc = Cubic(**kw)
    cc.start(MSS, 0)
    cc.cwnd = w * MSS
    cc.on_loss(flight=w * MSS, now=0)
    cc.on_recovery_end(Ack(now=0, acked=MSS, flight=w * MSS))
    return cc


def test_constants_are_the_rfcs():
    assert (C, BETA) == (0.4, 0.7)
    cc = Cubic()
    assert cc.alpha == pytest.approx(3 * 0.3 / 1.7)
    assert isinstance(cc, CongestionControl)
    assert TCPConfig(congestion=Cubic).congestion is Cubic


def test_multiplicative_decrease_is_beta():
    cc = Cubic()
    cc.start(MSS, 0)
    cc.cwnd = 100 * MSS
    cc.on_loss(flight=100 * MSS, now=0)
    assert cc.ssthresh == 70 * MSS  # beta = 0.7, not Reno's half
    assert cc.cwnd == 73 * MSS  # NewReno's recovery: ssthresh + 3 SMSS without SACK
    assert cc.w_max == 100 and cc.cwnd_prior == 100
    cc.on_recovery_end(Ack(now=1, acked=MSS, flight=90 * MSS))
    assert cc.cwnd == 70 * MSS  # min(ssthresh, FlightSize + SMSS)
    sack = Cubic()
    sack.start(MSS, 0, sack=True)
    sack.cwnd = 100 * MSS
    sack.on_loss(flight=100 * MSS, now=0)
    assert sack.cwnd == sack.ssthresh == 70 * MSS  # with SACK: no inflation


def test_window_function_at_exact_times():
    cc = after_loss(100)
    t0 = 5 * S
    cc.on_ack(Ack(now=t0, acked=MSS, flight=70 * MSS, srtt=100 * MS))  # the epoch begins
    k = (100 * (1 - 0.7) / 0.4) ** (1 / 3)  # RFC 9438 eq. 2 with cwnd_epoch = 0.7 W_max
    assert cc.t_epoch == t0 and cc.cwnd_epoch == 70
    assert cc.k == pytest.approx(k, rel=1e-12) and k == pytest.approx(4.2172, abs=1e-4)
    assert cc.w_cubic(0) == pytest.approx(70)
    assert cc.w_cubic(k) == pytest.approx(100)  # back at W_max after K seconds
    assert cc.w_cubic(2 * k) == pytest.approx(130)  # and as far beyond it K later
    assert cc.w_cubic(1.0) == pytest.approx(0.4 * (1 - k) ** 3 + 100)


def test_growth_per_ack_follows_the_target():
    cc = after_loss(100)
    t0 = 5 * S
    cc.on_ack(Ack(now=t0, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    before = cc.cwnd / MSS + cc._frac / MSS
    w_est = cc.w_est
    t = 1.0
    cc.on_ack(Ack(now=t0 + S, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    k = cc.k
    target = min(max(0.4 * (t + 0.1 - k) ** 3 + 100, before), 1.5 * before)  # W_cubic(t + RTT)
    expected = before + (target - before) / before  # (target - cwnd) / cwnd per segment
    assert 0.4 * (t - k) ** 3 + 100 > w_est + cc.alpha / before  # above the Reno estimate
    assert cc.region == "concave"
    assert cc.cwnd == int(expected * MSS)
    # past K, the convex region: probing beyond the old W_max
    cc.on_ack(Ack(now=t0 + 5 * S, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    assert cc.region == "convex"


def test_target_is_clamped_to_one_and_a_half_cwnd():
    cc = after_loss(100)
    cc.on_ack(Ack(now=0, acked=MSS, flight=70 * MSS, srtt=0))
    before = cc.cwnd / MSS + cc._frac / MSS
    # 100 s later W_cubic is far above 1.5 cwnd: the increase is (0.5 cwnd) / cwnd = 0.5 segment
    cc.on_ack(Ack(now=100 * S, acked=MSS, flight=70 * MSS, srtt=0))
    assert cc.cwnd == int((before + 0.5) * MSS)


def test_reno_friendly_region_on_a_short_path():
    """RFC 9438 4.3: while W_cubic < W_est, cwnd follows the AIMD estimate W_est."""
    cc = after_loss(20)  # a small window: W_cubic is flat for a long time (K = 2.47 s)
    cc.on_ack(Ack(now=0, acked=MSS, flight=14 * MSS, srtt=MS))
    w_est = cc.w_est
    for i in range(1, 15):  # one round trip's worth of ACKs, 1 ms apart
        cwnd = cc.cwnd / MSS + cc._frac / MSS
        cc.on_ack(Ack(now=i * MS, acked=MSS, flight=14 * MSS, srtt=MS))
        w_est += cc.alpha / cwnd
        assert cc.region == "reno"
        assert cc.w_est == pytest.approx(w_est)
        assert cc.cwnd == int(w_est * MSS)


def test_alpha_becomes_one_past_the_last_loss_window():
    cc = after_loss(20)
    cc.on_ack(Ack(now=0, acked=MSS, flight=14 * MSS, srtt=MS))
    cc.w_est = 20.0  # as if the estimate had caught up with cwnd_prior
    cwnd = cc.cwnd / MSS + cc._frac / MSS
    cc.on_ack(Ack(now=MS, acked=MSS, flight=14 * MSS, srtt=MS))
    assert cc.w_est == pytest.approx(20.0 + 1.0 / cwnd)


def test_fast_convergence():
    cc = after_loss(100)
    cc.on_ack(Ack(now=0, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    cc.cwnd = 90 * MSS  # a second loss before the window is back at W_max = 100
    cc.on_loss(flight=90 * MSS, now=S)
    assert cc.w_max == pytest.approx(90 * (1 + 0.7) / 2)  # 76.5: make room for the newcomer
    assert cc.ssthresh == 63 * MSS
    slow = after_loss(100, fast_convergence=False)
    slow.cwnd = 90 * MSS
    slow.on_loss(flight=90 * MSS, now=S)
    assert slow.w_max == 90


def test_timeout_reduces_to_one_segment_and_starts_with_k_zero():
    cc = after_loss(100)
    cc.on_ack(Ack(now=0, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    cc.on_timeout(flight=60 * MSS, now=S)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 42 * MSS)  # RFC 9438 4.8: ssthresh from beta
    assert cc.t_epoch is None
    for i in range(41):  # slow start up to ssthresh
        cc.on_ack(Ack(now=S + i * MS, acked=MSS, flight=MSS, srtt=100 * MS))
    assert cc.cwnd == 42 * MSS and cc.region == "slow start"
    cc.on_ack(Ack(now=2 * S, acked=MSS, flight=42 * MSS, srtt=100 * MS))
    assert cc.k == 0 and cc.w_max == 42 and cc.cwnd_epoch == 42  # the first epoch after an RTO


def test_an_unused_window_does_not_grow_and_its_clock_stands_still():
    cc = after_loss(100)
    cc.on_ack(Ack(now=0, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    cwnd = cc.cwnd
    cc.on_ack(Ack(now=S, acked=MSS, flight=10 * MSS, srtt=100 * MS, cwnd_limited=False))
    assert cc.cwnd == cwnd  # RFC 7661
    cc.on_ack(Ack(now=3 * S, acked=MSS, flight=70 * MSS, srtt=100 * MS))
    assert cc.t_epoch == 2 * S  # the 2 s without a used window do not count as epoch time


def test_settings_are_checked():
    with pytest.raises(LabkitValueError, match="beta"):
        Cubic(beta=1.0)
    with pytest.raises(LabkitValueError, match="c="):
        Cubic(c=0)


def test_cubic_moves_data_byte_exact_through_loss():
    from labkit.sim import Network
    from labkit.sim.stacks import install_transport, socket

    net = Network(seed=3)
    a = net.add_host("A", ip="10.0.0.1/24")
    b = net.add_host("B", ip="10.0.0.2/24")
    net.connect(a, b, delay="5ms", bandwidth="10Mbit", loss=0.02)
    install_transport(net, tcp_config=TCPConfig(congestion=Cubic))
    server = socket(b)
    server.bind(("", 80))
    server.listen()
    client = socket(a)
    client.connect(("10.0.0.2", 80))
    conn, _ = server.accept()
    data = np.random.default_rng(1).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    client.sendall(data)
    client.close()
    got = bytearray()
    while chunk := conn.recv(65536):
        got += chunk
    assert got == data
    cc = client._conn.cc
    assert isinstance(cc, Cubic)
    assert cc.w_max is not None and client._conn.retransmissions > 0  # it met losses and recovered
    assert math.isfinite(cc.k)
