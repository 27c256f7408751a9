"""The TCP state machine, scenario by scenario, on a virtual clock (CS144 style).

Each test reads as a script: an action on one end, then what must come out of
it (segments, states, times). Sequence numbers are checked exactly.

These scenarios are the classic TCP's (:meth:`TCPConfig.basic`: no window
scaling, SACK or timestamps); tests/test_tcp_options.py has the RFC 7323 and
RFC 2018 ones, with labkit's defaults.
"""

from __future__ import annotations

import numpy as np
import pytest
from tcp_harness import MS, STRESS, Impairments, pair, transfer

from labkit.transport.tcp import Flags, TCPSegment
from labkit.transport.tcp_connection import (
    ConnectionClosed,
    ConnectionRefused,
    ConnectionReset,
    ConnectionTimeout,
    State,
    TCPConfig,
    TCPConnection,
    rst_for,
)

S = 1_000_000_000
ISS_A, ISS_B = 1000, 5000
BASIC = TCPConfig.basic()


def one(conn: TCPConnection) -> TCPSegment:
    out = conn.take_output()
    assert len(out) == 1, out
    return out[0]


def established(config: TCPConfig | None = None):
    """A (client, ISS 1000) and B (server, ISS 5000) through the handshake at t = 0."""
    config = config or BASIC
    a = TCPConnection(40000, 80, iss=ISS_A, config=config, name="A")
    b = TCPConnection(80, iss=ISS_B, config=config, name="B")
    b.listen(0)
    a.connect(0)
    b.segment_arrives(one(a), 0)
    a.segment_arrives(one(b), 0)
    b.segment_arrives(one(a), 0)
    assert a.state is b.state is State.ESTABLISHED
    return a, b


def test_three_way_handshake_step_by_step():
    a = TCPConnection(40000, 80, iss=ISS_A, config=BASIC, name="A")
    b = TCPConnection(80, iss=ISS_B, config=BASIC, name="B")
    b.listen(0)
    assert b.state is State.LISTEN
    a.connect(0)
    syn = one(a)
    assert a.state is State.SYN_SENT
    assert (syn.flags, syn.seq, syn.mss, syn.window) == (Flags.SYN, 1000, 1460, 65535)
    b.segment_arrives(syn, 10 * MS)
    synack = one(b)
    assert b.state is State.SYN_RECEIVED
    assert (synack.flags, synack.seq, synack.ack) == (Flags.SYN | Flags.ACK, 5000, 1001)
    a.segment_arrives(synack, 20 * MS)
    ack = one(a)
    assert a.state is State.ESTABLISHED
    assert (ack.flags, ack.seq, ack.ack) == (Flags.ACK, 1001, 5001)
    b.segment_arrives(ack, 30 * MS)
    assert b.state is State.ESTABLISHED and b.take_output() == []
    assert a.srtt == 20 * MS and b.srtt == 20 * MS  # each timed its SYN
    assert [s for _, s in a.state_history] == [State.SYN_SENT, State.ESTABLISHED]


def test_data_is_acknowledged_cumulatively():
    a, b = established(TCPConfig.basic(nodelay=True))  # two small segments at once: no Nagle
    assert a.send(b"hello ", 0) == 6
    assert a.send(b"world", 0) == 5
    s1, s2 = a.take_output()
    assert (s1.seq, s1.payload, s2.seq, s2.payload) == (1001, b"hello ", 1007, b"world")
    b.segment_arrives(s2, 1 * MS)  # out of order: kept, and a duplicate ACK for 1001
    assert one(b).ack == 1001 and b.readable == 0
    b.segment_arrives(s1, 2 * MS)
    assert one(b).ack == 1012
    assert b.recv(100, 2 * MS) == b"hello world"


def test_duplicate_segment_is_delivered_once():
    a, b = established()
    a.send(b"once", 0)
    seg = one(a)
    b.segment_arrives(seg, 1)
    b.segment_arrives(seg, 2)
    acks = b.take_output()
    assert [x.ack for x in acks] == [1005, 1005]
    assert b.recv(100, 3) == b"once"


def test_four_way_close_and_time_wait():
    cfg = TCPConfig.basic(msl=2 * S)
    a, b = established(cfg)
    a.close(0)
    fin = one(a)
    assert a.state is State.FIN_WAIT_1 and fin.flags == Flags.FIN | Flags.ACK and fin.seq == 1001
    b.segment_arrives(fin, 1 * MS)
    assert b.state is State.CLOSE_WAIT and b.eof and b.recv(10, 1 * MS) == b""
    a.segment_arrives(one(b), 2 * MS)
    assert a.state is State.FIN_WAIT_2
    b.send(b"last words", 3 * MS)  # the half-closed side may still send
    a.segment_arrives(one(b), 3 * MS)
    b.segment_arrives(one(a), 3 * MS)
    b.close(4 * MS)
    assert b.state is State.LAST_ACK
    a.segment_arrives(one(b), 5 * MS)
    assert a.state is State.TIME_WAIT and a.recv(100, 5 * MS) == b"last words"
    b.segment_arrives(one(a), 6 * MS)
    assert b.state is State.CLOSED and b.error is None
    assert a.next_timer() == 5 * MS + 2 * 2 * S  # 2 MSL
    a.tick(5 * MS + 4 * S - 1)
    assert a.state is State.TIME_WAIT
    a.tick(5 * MS + 4 * S)
    assert a.state is State.CLOSED
    with pytest.raises(ConnectionClosed):
        a.send(b"too late", 5 * S)


def test_simultaneous_open():
    a = TCPConnection(1111, 2222, iss=ISS_A, config=BASIC)
    b = TCPConnection(2222, 1111, iss=ISS_B, config=BASIC)
    a.connect(0)
    b.connect(0)
    syn_a, syn_b = one(a), one(b)
    a.segment_arrives(syn_b, 1)
    b.segment_arrives(syn_a, 1)
    assert a.state is b.state is State.SYN_RECEIVED
    synack_a, synack_b = one(a), one(b)
    assert synack_a.flags == Flags.SYN | Flags.ACK and synack_a.ack == ISS_B + 1
    a.segment_arrives(synack_b, 2)
    b.segment_arrives(synack_a, 2)
    assert a.state is b.state is State.ESTABLISHED


def test_simultaneous_close():
    a, b = established()
    a.close(0)
    b.close(0)
    fin_a, fin_b = one(a), one(b)
    a.segment_arrives(fin_b, 1)
    b.segment_arrives(fin_a, 1)
    assert a.state is b.state is State.CLOSING
    ack_a, ack_b = one(a), one(b)
    a.segment_arrives(ack_b, 2)
    b.segment_arrives(ack_a, 2)
    assert a.state is b.state is State.TIME_WAIT


def test_connect_to_closed_port_is_refused():
    a = TCPConnection(40000, 81, iss=ISS_A, config=BASIC)
    closed = TCPConnection(81, iss=ISS_B, config=BASIC)  # CLOSED: nobody listens
    a.connect(0)
    closed.segment_arrives(one(a), 1)
    rst = one(closed)
    assert rst.flags == Flags.RST | Flags.ACK and rst.ack == ISS_A + 1 and rst.seq == 0
    a.segment_arrives(rst, 2)
    assert a.state is State.CLOSED and isinstance(a.error, ConnectionRefused)
    assert "port 81" in str(a.error)
    assert rst_for(rst) is None  # never answer a reset with a reset
    data = TCPSegment(5, 6, seq=9, ack=777, flags=Flags.ACK, payload=b"x")
    assert rst_for(data) == TCPSegment(6, 5, seq=777, flags=Flags.RST)


def test_reset_must_hit_rcv_nxt_exactly():
    a, b = established()
    near = TCPSegment(80, 40000, seq=5001 + 100, flags=Flags.RST)
    a.segment_arrives(near, 1)
    challenge = one(a)
    assert a.state is State.ESTABLISHED and challenge.flags == Flags.ACK and challenge.ack == 5001
    a.segment_arrives(TCPSegment(80, 40000, seq=5001, flags=Flags.RST), 2)
    assert a.state is State.CLOSED and isinstance(a.error, ConnectionReset)
    with pytest.raises(ConnectionReset):
        a.send(b"x", 3)


def test_ack_for_unsent_data_in_syn_received_gets_rst():
    b = TCPConnection(80, iss=ISS_B, config=BASIC)
    b.listen(0)
    b.segment_arrives(TCPSegment(40000, 80, seq=ISS_A, flags=Flags.SYN), 0)
    b.take_output()
    b.segment_arrives(TCPSegment(40000, 80, seq=ISS_A + 1, ack=9999, flags=Flags.ACK), 1)
    rst = one(b)
    assert rst.flags == Flags.RST and rst.seq == 9999 and b.state is State.SYN_RECEIVED


def test_syn_retransmission_backoff_and_giving_up():
    cfg = TCPConfig.basic(max_retransmissions=3)
    a = TCPConnection(40000, 80, iss=ISS_A, config=cfg)
    a.connect(0)
    a.take_output()
    times = []
    while a.state is State.SYN_SENT:
        t = a.next_timer()
        a.tick(t)
        if a.state is State.SYN_SENT:
            assert one(a).flags == Flags.SYN
        times.append(t)
    assert times == [1 * S, 3 * S, 7 * S, 15 * S]  # RTO 1 s, doubling each time
    assert isinstance(a.error, ConnectionTimeout) and a.retransmissions == 3


def test_rto_follows_rfc6298():
    a, b = established()
    # The handshake gave one sample of 0 ns: SRTT 0, RTTVAR 0, RTO = max(min, 0 + G) = 200 ms.
    assert a.rto == 200 * MS
    for t in (0, 100 * MS, 200 * MS):
        a.send(b"x", t)
        b.segment_arrives(one(a), t + 60 * MS)
        a.segment_arrives(one(b), t + 60 * MS)
    srtt, rttvar = 0, 0
    for r in (60 * MS, 60 * MS, 60 * MS):
        rttvar = (3 * rttvar + abs(srtt - r)) // 4
        srtt = (7 * srtt + r) // 8
    assert (a.srtt, a.rttvar) == (srtt, rttvar)
    assert a.rto == max(200 * MS, srtt + 4 * rttvar)


def test_retransmission_at_exact_virtual_time_and_karn():
    a, b = established()
    a.send(b"lost", 0)
    lost = one(a)
    assert a.next_timer() == 200 * MS
    a.tick(200 * MS)
    again = one(a)
    assert again.payload == b"lost" and again.seq == lost.seq and a.retransmissions == 1
    assert a.rto == 400 * MS and a.next_timer() == 600 * MS
    assert a.cwnd == a.smss  # loss window after a timeout
    b.segment_arrives(again, 650 * MS)
    a.segment_arrives(one(b), 700 * MS)
    assert a.rtt_history[-1][0] != 700 * MS  # Karn: no sample from a retransmitted segment
    assert a.next_timer() is None


def test_fast_retransmit_on_three_duplicate_acks():
    a, b = established()
    a.send(bytes(1460 * 3), 0)
    first, second, third = a.take_output()
    cwnd_before = a.cwnd
    b.segment_arrives(second, 1 * MS)
    b.segment_arrives(third, 1 * MS)
    dup1, dup2 = b.take_output()
    a.segment_arrives(dup1, 2 * MS)
    a.segment_arrives(dup2, 2 * MS)
    assert a.take_output() == []  # two duplicates: not yet
    a.segment_arrives(dup2, 2 * MS)  # the third
    resent = one(a)
    assert resent.seq == first.seq and resent.payload == first.payload
    assert a.ssthresh == max(3 * 1460 // 2, 2 * 1460) and a.cwnd == a.ssthresh + 3 * 1460
    assert cwnd_before == 4380
    b.segment_arrives(resent, 3 * MS)
    a.segment_arrives(one(b), 4 * MS)
    assert a.cwnd == a.ssthresh and a.snd_una == a.snd_nxt  # recovery over, nothing in flight


def test_slow_reader_shrinks_window_then_zero_window_probes():
    cfg = TCPConfig.basic(recv_buffer=4000, mss=1000)
    a, b = established(cfg)
    a.send(bytes(range(256)) * 40, 0)  # 10,240 bytes, more than B will buffer
    now = 0
    for _ in range(10):
        for seg in a.take_output():
            b.segment_arrives(seg, now)
        for seg in b.take_output():
            a.segment_arrives(seg, now)
        now += MS
    assert b.readable == 4000 and b.rcv_wnd == 0 and a.snd_wnd == 0
    probe_at = a.next_timer()
    assert probe_at is not None
    a.tick(probe_at)
    probe = one(a)
    assert len(probe.payload) == 1  # a one-byte probe beyond the closed window
    b.segment_arrives(probe, probe_at)
    assert one(b).window == 0 and b.readable == 4000  # refused, and the window is still 0
    got = b.recv(10_000, probe_at)
    update = one(b)
    assert update.window == 4000  # the window update
    a.segment_arrives(update, probe_at)
    assert sum(len(s.payload) for s in a.take_output()) == 4000
    assert len(got) == 4000 and got[:256] == bytes(range(256))


def test_listen_answers_stray_ack_with_rst():
    b = TCPConnection(80, iss=ISS_B, config=BASIC)
    b.listen(0)
    b.segment_arrives(TCPSegment(1, 80, seq=5, ack=42, flags=Flags.ACK), 0)
    assert one(b) == TCPSegment(80, 1, seq=42, flags=Flags.RST)


@pytest.mark.parametrize("loss", [0.0, 0.01])
def test_bulk_transfer_goodput(loss):
    bench = pair(2, bandwidth=10e6, delay=10 * MS, impair=Impairments(loss=loss))
    data = np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    assert transfer(bench, data, 60 * S) == data
    goodput = len(data) * 8 / (bench.a.state_history[-1][0] / S)
    assert goodput > (8e6 if loss == 0 else 3e6)


def test_bench_same_seed_same_run():
    """The bench runs on labkit.sim's engine: one seed, one run, down to every segment's fate."""
    data = np.random.default_rng(7).integers(0, 256, 1 << 16, dtype=np.uint8).tobytes()
    runs = []
    for _ in range(2):
        bench = pair(3, bandwidth=100e6, delay=2 * MS, impair=STRESS["all together"])
        assert transfer(bench, data, 3600 * S) == data
        runs.append((bench.log, bench.now, bench.engine.events_run))
    assert runs[0] == runs[1]
    assert any(fate == "lost" for *_, fate in runs[0][0])  # the impairments did act
