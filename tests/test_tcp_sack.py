"""RFC 2018 SACK and RFC 6675 loss recovery, scenario by scenario, on a virtual clock."""

from __future__ import annotations

from test_tcp_options import handshake
from test_transport_tcp import one

from labkit.transport.reassembler import Reassembler
from labkit.transport.sack import Scoreboard
from labkit.transport.tcp_connection import TCPConfig

MS = 1_000_000


def test_reassembler_merges_and_reports_the_latest_block_first():
    r = Reassembler()
    r.insert(110, b"world")
    assert r.pop(100) == b"" and r.blocks(3) == [(110, 115)]
    r.insert(200, b"ab")
    r.insert(120, b"xyz")
    assert r.blocks(3) == [(120, 123), (200, 202), (110, 115)]
    r.insert(113, b"12345678")  # bridges 110..115 and 120..123
    assert r.blocks(3) == [(110, 123), (200, 202)] and r.pending == 13 + 2
    r.insert(100, b"0123456789")
    assert r.pop(100) == b"0123456789" b"world" b"345678" b"yz"  # bytes held first win
    assert r.blocks(3) == [(200, 202)]


def test_scoreboard_lost_edge_and_pipe():
    sb = Scoreboard()
    assert sb.add(10, 20) == 10 and sb.add(15, 30) == 10 and sb.add(40, 50) == 10
    assert sb.ranges == [(10, 30), (40, 50)]
    # more than 15 bytes SACKed above a byte: lost; so every hole below 25 is lost
    assert sb.lost_edge(0, 15) == 25 and sb.lost_edge(0, 100) == 0
    assert sb.unsacked(0, 60) == 30
    # in flight: 30..40 and 50..60 (not lost), and the resent 0..5
    assert sb.pipe(0, 60, 25, 5) == 25
    sb.advance(35)
    assert sb.ranges == [(40, 50)]


def _window_of_ten(cfg: TCPConfig | None = None):
    a, b, *_ = handshake(cfg, cfg)
    a.send(bytes(20 * 1448), 20 * MS)
    segs = a.take_output()
    assert len(segs) == 10
    return a, b, segs


def test_receiver_sends_sack_blocks_most_recent_first():
    a, b, segs = _window_of_ten()
    b.segment_arrives(segs[0], 30 * MS)
    assert one(b).sack == ()
    b.segment_arrives(segs[2], 30 * MS)  # segment 1 is missing
    ack = one(b)
    base = segs[0].seq
    assert ack.ack == segs[1].seq and ack.sack == ((segs[2].seq, segs[3].seq),)
    b.segment_arrives(segs[5], 30 * MS)
    assert one(b).sack == ((segs[5].seq, segs[6].seq), (segs[2].seq, segs[3].seq))
    b.segment_arrives(segs[3], 30 * MS)
    assert one(b).sack == ((segs[2].seq, segs[4].seq), (segs[5].seq, segs[6].seq))
    assert base == segs[0].seq


def test_two_losses_in_one_window_are_both_resent_within_one_rtt():
    """RFC 6675: SACK shows both holes; each is resent once, no timeout, nothing SACKed resent."""
    a, b, segs = _window_of_ten()
    lost = {1, 4}
    for i, s in enumerate(segs):
        if i not in lost:
            b.segment_arrives(s, 30 * MS)
    acks = b.take_output()
    out = []
    for ack in acks:
        a.segment_arrives(ack, 40 * MS)
        out += a.take_output()
    old = [s.seq for s in out if s.seq <= segs[-1].seq]
    assert old == [segs[1].seq, segs[4].seq]  # the two holes, once each, nothing SACKed
    assert a.retransmissions == 2 and a.cwnd == a.ssthresh == 11 * a.smss // 2  # no inflation
    recover = a.tx.recover
    for s in out:
        b.segment_arrives(s, 50 * MS)
    for ack in b.take_output():
        a.segment_arrives(ack, 60 * MS)
    assert a.snd_una >= recover and not a.tx.in_recovery and a.retransmissions == 2
    assert not any(t[1] == a.smss for t in a.cwnd_history)  # no timeout (loss window) ever


def test_without_sack_the_second_hole_waits_for_a_partial_ack():
    a, b, segs = _window_of_ten(TCPConfig(sack=False))
    for i, s in enumerate(segs):
        if i not in (1, 4):
            b.segment_arrives(s, 30 * MS)
    for ack in b.take_output():
        a.segment_arrives(ack, 40 * MS)
    out = [s.seq for s in a.take_output() if s.seq <= segs[-1].seq]
    assert out == [segs[1].seq]  # NewReno: only the first hole, until the partial ACK


def test_byte_stream_counts_and_finishes():
    from labkit.transport.bytestream import ByteStream, ByteStreamLike

    s = ByteStream()
    s.push(b"hello ")
    s.push(b"world")
    assert s.pop(5) == b"hello" and s.buffered == 6 and not s.finished
    s.close()
    assert not s.finished and s.pop(100) == b" world" and s.finished
    assert (s.bytes_pushed, s.bytes_popped) == (11, 11)
    s.push(b"more")
    s.clear()
    assert s.buffered == 0 and s.bytes_popped == 15
    stream: ByteStreamLike = s  # labkit's own meets the lab's interface (mypy checks this)
    assert stream.finished
