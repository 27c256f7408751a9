"""The congestion-control door (labkit.transport.congestion), scenario by scenario.

Each controller is driven by hand, then plugged into a connection, on a
virtual clock; windows and times are checked exactly.
"""

from __future__ import annotations

from test_transport_tcp import BASIC, ISS_A, established, one

from labkit.transport.congestion import Ack, CongestionControl, NewReno, Reno, initial_window
from labkit.transport.tcp_connection import State, TCPConfig, TCPConnection

MS = 1_000_000
S = 1_000_000_000
MSS = 1460


def test_initial_windows():
    assert initial_window(1460) == 4380 and initial_window(536) == 4 * 536
    assert initial_window(4000) == 8000 and initial_window(1460, 10) == 14600


def test_reno_by_hand_slow_start_avoidance_loss_and_timeout():
    assert Reno().initial_segments == 10 and NewReno().initial_segments == 10  # RFC 6928
    cc = Reno(initial_segments=None)
    cc.start(MSS, 0)
    assert (cc.cwnd, cc.ssthresh) == (4380, 1 << 30)
    cc.on_ack(Ack(now=1, acked=2 * MSS, flight=0))
    assert cc.cwnd == 4380 + MSS  # slow start: at most one SMSS per ACK
    cc.on_ack(Ack(now=2, acked=MSS, flight=0, cwnd_limited=False))
    assert cc.cwnd == 4380 + MSS  # RFC 7661: a window not used is not grown
    cc.on_loss(flight=10 * MSS, now=3)
    assert (cc.ssthresh, cc.cwnd) == (5 * MSS, 8 * MSS)  # ssthresh + 3 SMSS inflation
    cc.on_recovery_ack(Ack(now=4, acked=0, flight=0, dupack=True))
    assert cc.cwnd == 9 * MSS
    cc.on_recovery_end(Ack(now=5, acked=MSS, flight=0))
    assert cc.cwnd == 5 * MSS  # deflated to ssthresh
    cc.on_ack(Ack(now=6, acked=MSS, flight=0))
    assert cc.cwnd == 5 * MSS + MSS * MSS // (5 * MSS)  # congestion avoidance
    cc.on_timeout(flight=MSS, now=7)
    assert (cc.cwnd, cc.ssthresh) == (MSS, 2 * MSS)  # loss window; ssthresh floor 2 SMSS


def test_newreno_full_ack_and_sack_paced_recovery():
    cc = NewReno()
    cc.start(MSS, 0, sack=True)
    cc.on_loss(flight=8 * MSS, now=1)
    assert cc.cwnd == cc.ssthresh == 4 * MSS  # with SACK, pipe counts: no inflation
    cc.on_recovery_ack(Ack(now=2, acked=0, flight=0, dupack=True, sack=True))
    assert cc.cwnd == 4 * MSS
    plain = NewReno(initial_segments=10)
    plain.start(MSS, 0)
    assert plain.cwnd == 10 * MSS
    plain.on_loss(flight=10 * MSS, now=1)
    plain.on_recovery_ack(Ack(now=2, acked=2 * MSS, flight=0))  # partial ACK: deflate
    assert plain.cwnd == 8 * MSS - 2 * MSS + MSS
    plain.on_recovery_end(Ack(now=3, acked=MSS, flight=MSS))
    assert plain.cwnd == min(5 * MSS, 2 * MSS)  # min(ssthresh, FlightSize + SMSS)
    assert isinstance(plain, CongestionControl)


class Fixed:
    """A student's controller: a fixed window of four segments, halved on a timeout."""

    def __init__(self) -> None:
        self.cwnd, self.ssthresh, self.calls = 0, 1 << 30, []

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        self.smss, self.cwnd = smss, 4 * smss
        self.calls.append(("start", now))

    def on_ack(self, ack: Ack) -> None:
        self.calls.append(("ack", ack.now, ack.acked, ack.rtt))

    def on_loss(self, flight: int, now: int) -> None:
        self.calls.append(("loss", now, flight))

    def on_recovery_ack(self, ack: Ack) -> None:
        self.calls.append(("recovery", ack.now, ack.dupack))

    def on_recovery_end(self, ack: Ack) -> None:
        self.calls.append(("end", ack.now))

    def on_timeout(self, flight: int, now: int) -> None:
        self.cwnd = max(self.smss, self.cwnd // 2)
        self.calls.append(("timeout", now, flight))


def test_a_students_controller_plugs_in_and_sees_every_event():
    a, b = established(TCPConfig.basic(congestion=Fixed))
    cc = a.cc
    assert isinstance(cc, Fixed) and isinstance(cc, CongestionControl)
    assert a.cwnd == 4 * MSS and cc.calls == [("start", 0)]
    a.send(bytes(6 * MSS), 0)
    segs = a.take_output()
    assert len(segs) == 4  # the controller's window, not Reno's
    for s in segs[1:]:
        b.segment_arrives(s, 10 * MS)
    dups = b.take_output()
    for d in dups:
        a.segment_arrives(d, 20 * MS)
    assert cc.calls[1:] == [("loss", 20 * MS, 4 * MSS)]
    resent = a.take_output()[0]
    assert resent.seq == segs[0].seq
    b.segment_arrives(resent, 30 * MS)
    a.segment_arrives(one(b), 40 * MS)
    assert cc.calls[-1] == ("end", 40 * MS)
    assert a.cwnd_history == [(0, 4 * MSS, 1 << 30)]  # the window never changed


def test_timeout_sets_recover_so_go_back_duplicates_start_no_fast_retransmit():
    """RFC 6582 section 4: duplicate ACKs for data sent before a timeout start no recovery."""
    a, b = established(TCPConfig.basic(congestion=Fixed))
    a.send(bytes(4 * MSS), 0)
    segs = a.take_output()
    a.tick(a.next_timer())  # RTO at 200 ms: all four were lost, or so A thinks
    resent = a.take_output()
    assert [s.seq for s in resent] == [s.seq for s in segs[:2]]  # the halved window, from SND.UNA
    assert a.cc.calls[-1] == ("timeout", 200 * MS, 4 * MSS)
    # The originals were only late: B acks them all, then three duplicates follow.
    for s in segs:
        b.segment_arrives(s, 210 * MS)
    acks = b.take_output()
    a.segment_arrives(acks[1], 220 * MS)  # a partial advance to segment 2
    for _ in range(3):
        a.segment_arrives(acks[1], 220 * MS)
    assert not any(c[0] == "loss" for c in a.cc.calls)


def test_syn_timeout_gives_three_second_rto_for_data():
    """RFC 6298 5.7: a SYN timed out, so the RTO is 3 s once the connection is established."""
    a = TCPConnection(40000, 80, iss=ISS_A, config=BASIC)  # without timestamps: Karn, no sample
    b = TCPConnection(80, iss=5000, config=BASIC)
    b.listen(0)
    a.connect(0)
    a.take_output()  # the SYN is lost
    a.tick(1 * S)
    b.segment_arrives(one(a), 1 * S + 10 * MS)
    a.segment_arrives(one(b), 1 * S + 20 * MS)
    assert a.state is State.ESTABLISHED and a.srtt is None  # Karn: no sample
    assert a.rto == 3 * S
    a.send(b"x", 1 * S + 20 * MS)
    a.take_output()
    assert a.next_timer() == 4 * S + 20 * MS


def test_hystart_leaves_slow_start_when_the_rtt_grows():
    """RFC 9406: a round whose smallest RTT is up by the threshold starts CSS, then avoidance."""
    cc = NewReno()
    cc.start(MSS, 0)
    nxt, una, now = 100_000, 0, 0

    def round_of(rtt: int, acks: int = 8) -> None:
        nonlocal una, nxt, now
        for _ in range(acks):
            una += MSS
            now += 1
            cc.on_ack(Ack(now=now, acked=MSS, flight=0, rtt=rtt, ack=una, snd_nxt=nxt))
        una, nxt = nxt, nxt + 100_000  # the next ACK passes windowEnd: a new round

    round_of(20 * MS)
    round_of(20 * MS)
    start = cc.cwnd
    assert cc.ssthresh == 1 << 30 and cc.hystart_events == []
    round_of(20 * MS + 3 * MS)  # below max(4 ms, 20 ms / 8): noise
    assert cc.hystart_events == [] and cc.cwnd == start + 8 * MSS
    round_of(30 * MS)  # up 7 ms: Conservative Slow Start
    assert cc.hystart_events[0][1] == "CSS"
    grown = cc.cwnd
    for _ in range(5):
        round_of(30 * MS)
    assert grown < cc.ssthresh < grown + 8 * 5 * MSS  # a quarter of slow start's growth
    assert cc.ssthresh < cc.cwnd < cc.ssthresh + MSS  # then congestion avoidance
    assert cc.hystart_events[-1][1] == "slow start exit"
    off = NewReno(hystart=False)
    off.start(MSS, 0)
    assert TCPConfig.basic().congestion().hystart is False
