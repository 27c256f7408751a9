"""RFC 7323 (window scaling, timestamps, PAWS) and the new defaults, scenario by scenario.

labkit's default TCPConfig offers window scaling, SACK and timestamps, as
Linux does; each is used only when both SYNs carry it. Times are virtual
nanoseconds; the timestamp clock ticks in milliseconds.
"""

from __future__ import annotations

from test_transport_tcp import BASIC, ISS_A, ISS_B, one

from labkit.transport.tcp import Flags, TCPSegment, tcp_options
from labkit.transport.tcp_connection import State, TCPConfig, TCPConnection

MS = 1_000_000
S = 1_000_000_000


def handshake(ca: TCPConfig | None = None, cb: TCPConfig | None = None, rtt: int = 20 * MS):
    """A connects to B; each segment takes rtt/2. Returns (a, b, syn, synack, ack)."""
    a = TCPConnection(40000, 80, iss=ISS_A, config=ca, name="A")
    b = TCPConnection(80, iss=ISS_B, config=cb, name="B")
    b.listen(0)
    a.connect(0)
    syn = one(a)
    b.segment_arrives(syn, rtt // 2)
    synack = one(b)
    a.segment_arrives(synack, rtt)
    ack = one(a)
    b.segment_arrives(ack, rtt + rtt // 2)
    assert a.state is b.state is State.ESTABLISHED
    return a, b, syn, synack, ack


def test_defaults_offer_everything_as_linux_does():
    cfg = TCPConfig()
    assert (cfg.window_scaling, cfg.sack, cfg.timestamps) == (True, True, True)
    assert cfg.recv_buffer >= 100_000_000 // 8 // 10  # fills 100 Mbit/s x 100 ms
    assert cfg.send_buffer >= cfg.recv_buffer
    assert cfg.window_shift == 6  # 2 MiB = 32 Ki x 2**6
    a, b, syn, synack, ack = handshake()
    assert (syn.mss, syn.window_scale, syn.sack_permitted, syn.timestamps) == (1460, 6, True, (0, 0))
    assert syn.window == 65535  # a SYN's window is never scaled
    assert [k for k, _ in syn.options] == [2, 4, 8, 1, 3]  # Linux's order: MSS SACKOK TS NOP WS
    assert synack.timestamps == (10, 0)  # B's clock (ms), echoing A's TSval 0
    assert ack.timestamps == (20, 10)
    assert a.window_scaling and a.sack and a.timestamps and b.window_scaling and b.sack
    assert ack.window == (2 << 20) >> 6  # scaled: 2 MiB advertised in 16 bits
    assert b.snd_wnd == 2 << 20
    assert a.smss == 1460 - 12  # the timestamps option takes 12 bytes of every segment
    assert a.cwnd == 10 * a.smss  # IW10
    assert a.srtt == b.srtt == 20 * MS  # each timed its SYN by the echo


def test_nothing_is_used_when_the_peer_does_not_offer_it():
    a, b, syn, synack, ack = handshake(TCPConfig(), BASIC)
    assert synack.options == tcp_options(mss=1460)  # B answers with MSS only
    assert not (a.window_scaling or a.sack or a.timestamps)
    assert ack.options == () and ack.window == 65535 and a.smss == 1460
    a, b, syn, synack, ack = handshake(BASIC, TCPConfig())
    assert syn.options == tcp_options(mss=1460) and synack.options == tcp_options(mss=1460)
    assert not (b.window_scaling or b.sack or b.timestamps)
    assert b.snd_wnd == 65535 and a.snd_wnd == 65535


def test_only_window_scaling_agreed():
    only_ws = TCPConfig(sack=False, timestamps=False)
    a, b, syn, synack, ack = handshake(only_ws, TCPConfig())
    assert synack.window_scale == 6 and not synack.sack_permitted and synack.timestamps is None
    assert a.window_scaling and not a.timestamps and not a.sack and b.window_scaling


def test_a_window_past_64_kib_keeps_a_long_pipe_full():
    a, b, *_ = handshake()
    a.send(bytes(1 << 20), 20 * MS)
    sent = a.take_output()
    assert sum(len(s.payload) for s in sent) == 10 * a.smss  # IW10
    # two windows of ACKs later, the flight is far past 64 KiB
    now = 20 * MS
    for _ in range(3):
        now += 10 * MS
        for s in sent:
            b.segment_arrives(s, now)
        now += 10 * MS
        for s in b.take_output():
            a.segment_arrives(s, now)
        sent = a.take_output()
    assert a.snd_nxt - a.snd_una > 65535 and a.snd_nxt - a.snd_una == a.cwnd


def test_timestamps_measure_rtt_across_a_retransmission():
    """RFC 7323 4.1: the echoed TSval says which transmission an ACK answers; no Karn needed."""
    a, b, *_ = handshake()
    samples = len(a.rtt_history)
    a.send(b"lost", 20 * MS)
    first = one(a)
    rto_at = a.next_timer()
    a.tick(rto_at)
    again = one(a)
    assert again.payload == first.payload and again.timestamps[0] == rto_at // MS
    b.segment_arrives(again, rto_at + 7 * MS)
    a.segment_arrives(one(b), rto_at + 14 * MS)
    assert len(a.rtt_history) == samples + 1 and a.rtt_history[-1][1] == 14 * MS


def test_ts_recent_echoes_the_segment_at_the_left_edge():
    nodelay = TCPConfig(nodelay=True)
    a, b, *_ = handshake(nodelay, nodelay)
    a.send(b"one", 30 * MS)
    a.send(b"two", 31 * MS)
    s1, s2 = a.take_output()
    b.segment_arrives(s1, 40 * MS)
    assert one(b).timestamps == (40, 30)
    b.segment_arrives(s2, 45 * MS)
    assert one(b).timestamps == (45, 31)


def test_paws_drops_an_old_duplicate():
    """RFC 7323 5.3: a segment whose TSval is older than TS.Recent is acknowledged and dropped."""
    a, b, *_ = handshake()
    a.send(b"new", 1 * S)
    b.segment_arrives(one(a), 1 * S)
    b.take_output()
    b.recv(100, 1 * S)
    old = TCPSegment(40000, 80, seq=(a.snd_nxt) & 0xFFFFFFFF, ack=b.snd_nxt & 0xFFFFFFFF,
                     flags=Flags.ACK, window=100, payload=b"stale",
                     options=tcp_options(timestamps=(5, 0)))  # TSval 5 ms < TS.Recent 1000
    b.segment_arrives(old, 1 * S + 1)
    ack = one(b)
    assert ack.flags == Flags.ACK and b.readable == 0 and b.rcv_nxt == a.snd_nxt
    same = TCPSegment(40000, 80, seq=old.seq, ack=old.ack, flags=Flags.ACK, window=100,
                      payload=b"fresh", options=tcp_options(timestamps=(1000, 0)))
    b.segment_arrives(same, 1 * S + 2)
    assert b.recv(100, 1 * S + 2) == b"fresh"


def test_basic_preset_is_rfc_793_with_6298_and_5681():
    cfg = TCPConfig.basic()
    assert (cfg.window_scaling, cfg.sack, cfg.timestamps, cfg.recv_buffer) == (False, False, False, 65535)
    a, b, syn, *_ = handshake(cfg, cfg)
    assert syn.options == tcp_options(mss=1460) and a.cwnd == 3 * 1460
    assert TCPConfig.basic(mss=1000).mss == 1000


def test_recv_buffer_past_64_kib_needs_window_scaling():
    import pytest

    from labkit.errors import LabkitValueError
    with pytest.raises(LabkitValueError, match="no window scaling"):
        TCPConfig(recv_buffer=1 << 20, window_scaling=False)
    assert TCPConfig(recv_buffer=0xFFFF << 14).window_shift == 14
    with pytest.raises(LabkitValueError, match="recv_buffer"):
        TCPConfig(recv_buffer=(0xFFFF << 14) + 1)
