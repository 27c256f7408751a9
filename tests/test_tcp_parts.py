"""The TCP lab's parts joined by labkit's connection, talking to labkit's full TCP.

``TCPConfig(receiver=..., sender=...)`` makes the connection join parts as its
halves (:mod:`labkit.transport.tcp_parts`). These tests put the
parts on one end and labkit's own TCP (window scaling, SACK, timestamps
offered) on the other: the handshake must fall back to the MSS option only,
and a transfer must arrive byte-exact through every fault of issue 17's
robustness goal. A deliberately small learner's sender (a fixed window, no
congestion control, no fast retransmit) shows that the connection asks
nothing of a part beyond the Protocol.
"""

from __future__ import annotations

from collections import deque
from functools import partial

import numpy as np
import pytest
from hypothesis_profiles import PROFILE
from tcp_harness import MS, STRESS, Bench, Impairments, exchange, over_seeds, transfer

from labkit.sim import Network
from labkit.sim.engine import Engine
from labkit.sim.stacks import install_transport, socket
from labkit.transport.bytestream import ByteStream, ByteStreamLike
from labkit.transport.tcp_connection import (
    ConnectionTimeout,
    State,
    TCPConfig,
    TCPConnection,
)
from labkit.transport.tcp_full_receiver import FullReceiver
from labkit.transport.tcp_full_sender import FullSender
from labkit.transport.tcp_parts import PartsReceiver, PartsSender
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Transmit, Wrap32
from labkit.transport.tcp_receiver import TCPReceiver
from labkit.transport.tcp_sender import TCPSender, TCPSenderLike

S = 1_000_000_000
RUNS = 10 if PROFILE == "ci" else 1
PARTS = TCPConfig.basic(receiver=TCPReceiver, sender=TCPSender)


def bench(seed: int, a_config: TCPConfig, b_config: TCPConfig, **kwargs) -> Bench:
    engine = Engine(seed)
    a = TCPConnection(40000, 80, iss=engine.rng, config=a_config, name="A")
    b = TCPConnection(80, iss=engine.rng, config=b_config, name="B")
    b.listen(0)
    return Bench(a, b, engine, **kwargs)


def data(n: int, seed: int = 17) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def test_a_config_with_parts_makes_them_the_connections_halves():
    conn = TCPConnection(1, 2, iss=5, config=TCPConfig.basic(sender=TCPSender))
    assert isinstance(conn.tx, PartsSender) and isinstance(conn.rx, PartsReceiver)
    assert isinstance(conn.sender, TCPSender)
    assert isinstance(conn.receiver, TCPReceiver)  # the part not given: labkit's reference
    full = TCPConnection(1, 2, iss=5)
    assert isinstance(full.tx, FullSender) and isinstance(full.rx, FullReceiver)
    assert full.sender is None and full.receiver is None


def test_the_handshake_offers_the_mss_only_and_the_full_peer_falls_back():
    b = bench(1, PARTS, TCPConfig())
    got = transfer(b, b"hello", 10 * S)
    assert got == b"hello"
    syn = b.segments[0][0]
    assert syn.mss == 1460 and syn.window_scale is None and not syn.sack_permitted
    assert syn.timestamps is None
    synack = b.segments[1][0]
    assert synack.window_scale is None and not synack.sack_permitted and synack.timestamps is None
    assert not (b.b.window_scaling or b.b.sack or b.b.timestamps)
    assert [s for _, s in b.a.state_history] == [
        State.SYN_SENT, State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2, State.TIME_WAIT]
    assert [s for _, s in b.b.state_history] == [
        State.LISTEN, State.SYN_RECEIVED, State.ESTABLISHED, State.CLOSE_WAIT, State.LAST_ACK,
        State.CLOSED]


def test_exact_seqnos_and_acks_of_a_small_transfer():
    b = bench(1, TCPConfig.basic(), PARTS, delay=5 * MS)
    transfer(b, b"x" * 3000, 10 * S)
    a_iss, b_iss = b.a.iss, b.b.iss
    from_b = [(s.flags.name, (s.seq - b_iss) & 0xFFFFFFFF, (s.ack - a_iss) & 0xFFFFFFFF, s.window)
              for s in b.segments[1]]
    # B's parts: SYN,ACK; one ACK per data segment (window shrinking while unread: the bench
    # reads after each step); the ACK of the FIN; its own FIN
    assert from_b[0] == ("SYN|ACK", 0, 1, 65535)
    assert [ack for _, _, ack, _ in from_b[1:3]] == [1461, 2921]
    assert from_b[-1][0] == "FIN|ACK" and from_b[-1][1:3] == (1, 3002)


def test_keepalive_serves_parts_as_it_serves_labkits_tcp():
    """One state machine: keep-alive (RFC 1122 4.2.3.6) probes for a learner's parts too."""
    cfg = TCPConfig.basic(sender=TCPSender, receiver=TCPReceiver, keepalive=True,
                          keepalive_idle=10 * S, keepalive_interval=1 * S, keepalive_probes=3)
    b = bench(5, cfg, TCPConfig.basic(), delay=5 * MS)
    b.a.connect(0)
    b.run(100 * MS)
    assert b.a.state is State.ESTABLISHED  # at 10 ms, when the SYN,ACK arrived
    b.impair = Impairments(loss=1.0)  # the peer's host goes away silently
    b.run(b.now + 20 * S)
    probes = [(t, seg) for t, d, seg, fate in b.log if d == "A>B" and fate == "lost"]
    snd_nxt = (b.a.iss + 1) & 0xFFFFFFFF
    assert [t for t, _ in probes] == [10_010 * MS, 11_010 * MS, 12_010 * MS]
    assert all(f"seq={snd_nxt - 1} " in seg and "len=0" in seg for _, seg in probes)
    assert isinstance(b.a.error, ConnectionTimeout) and "3 keep-alive probes" in str(b.a.error)
    assert b.a.state_history[-1] == (13_010 * MS, State.CLOSED)


def test_delayed_acks_serve_a_receiver_part():
    """RFC 1122 4.2.3.2 and RFC 5681 4.2: the connection delays the part's ACK, at most 40 ms."""
    cfg = TCPConfig.basic(receiver=TCPReceiver, delayed_ack=40 * MS)
    b = bench(6, TCPConfig.basic(), cfg, delay=5 * MS)
    b.a.connect(0)
    b.run(100 * MS)
    b.a.send(b"one small segment", b.now)
    sent = b.now
    b.run(b.now + 200 * MS)
    acks = [t for t, d, seg, _ in b.log if d == "B>A" and t > sent]
    assert acks == [sent + 5 * MS + 40 * MS]  # arrives after 5 ms, answered 40 ms later
    assert b.b.recv(100, b.now) == b"one small segment"


def one_run(name: str, where: str, seed: int) -> tuple:
    """One seeded run: parts at ``where``, fault ``name``; what the test asserts."""
    a_data, b_data = data(128 << 10, 1), data(128 << 10, 2)
    a_cfg = PARTS if where in ("A", "both") else TCPConfig()
    b_cfg = PARTS if where in ("B", "both") else TCPConfig()
    b = bench(seed, a_cfg, b_cfg, bandwidth=100e6, delay=2 * MS, impair=STRESS[name])
    out = exchange(b, a_data, b_data, 900 * S)
    where_ = (name, where, seed, repr(b.a.error), repr(b.b.error), out.end / S)  # picklable
    exact = out.b_got == a_data and out.a_got == b_data
    return where_, exact, b.a.error is None and b.b.error is None


@pytest.mark.parametrize("where", ["A", "B", "both"])
@pytest.mark.parametrize("name", list(STRESS))
def test_parts_against_labkits_full_tcp_through_faults(name, where):
    """128 KiB each way, parts at one end (or both), byte-exact through each fault."""
    for where_, exact, no_error in over_seeds(partial(one_run, name, where), range(RUNS)):
        assert exact, where_
        assert no_error, where_


def test_lossless_transfer_has_no_retransmission():
    b = bench(3, PARTS, TCPConfig(), bandwidth=100e6, delay=2 * MS)
    out = exchange(b, data(256 << 10), data(256 << 10, 3), 900 * S)
    assert out.b_got == data(256 << 10)
    assert b.a.retransmissions == 0 and b.b.retransmissions == 0


def test_the_connection_gives_up_after_max_retransmissions():
    b = bench(1, TCPConfig.basic(sender=TCPSender, max_retransmissions=3), TCPConfig(),
              delay=5 * MS)
    b.a.connect(0)
    b.run(100 * MS)
    assert b.a.state is State.ESTABLISHED
    b.impair = Impairments(loss=1.0)  # the peer vanishes
    b.a.send(b"lost", b.now)
    b.run(b.now + 60 * S)
    assert isinstance(b.a.error, ConnectionTimeout)
    # RTO 200 ms (the floor), then 400, 800, 1600: the fourth expiry gives up
    data_sent = [t for t, d, s, _ in b.log if d == "A>B" and "len=4" in s]
    assert [round((t - data_sent[0]) / MS) for t in data_sent] == [0, 200, 600, 1400]


class StopAndWait:
    """A learner's first sender: one segment at a time, a fixed 1 s timer, no congestion control."""

    def __init__(self, stream: ByteStreamLike, isn: Wrap32, config: TCPConfig) -> None:
        self.stream, self.isn = stream, isn
        self.next = 0  # absolute seqno of the next new sequence number
        self.acked = 0
        self.window = 1
        self.out: deque[TCPSenderMessage] = deque()
        self.timer: int | None = None
        self.retx = 0
        self.fin_sent = False

    def push(self, transmit: Transmit) -> None:
        if self.out or self.fin_sent and self.acked == self.next:
            return
        if self.next == 0:
            msg = TCPSenderMessage(self.isn, SYN=True)
        else:
            payload = self.stream.pop(min(1000, max(1, self.window)))
            fin = self.stream.finished and not self.fin_sent
            if not payload and not fin:
                return
            self.fin_sent |= fin
            msg = TCPSenderMessage(Wrap32.wrap(self.next, self.isn), payload=payload, FIN=fin)
        self.out.append(msg)
        self.next += msg.sequence_length
        self.timer = 0
        transmit(msg)

    def receive(self, message: TCPReceiverMessage) -> None:
        if message.ackno is None:
            return
        ack = message.ackno.unwrap(self.isn, self.next)
        self.window = message.window_size
        if self.out and ack == self.next:
            self.out.clear()
            self.acked, self.timer, self.retx = ack, None, 0

    def tick(self, ms_since_last_tick: int, transmit: Transmit) -> None:
        if self.timer is None:
            return
        self.timer += ms_since_last_tick
        if self.timer >= 1000 and self.out:
            transmit(self.out[0])
            self.timer, self.retx = 0, self.retx + 1

    def make_empty_message(self) -> TCPSenderMessage:
        return TCPSenderMessage(Wrap32.wrap(self.next, self.isn))

    def sequence_numbers_in_flight(self) -> int:
        return self.next - self.acked

    def consecutive_retransmissions(self) -> int:
        return self.retx

    def next_timeout_ms(self) -> int | None:
        return None if self.timer is None else max(0, 1000 - self.timer)


def test_a_learners_stop_and_wait_sender_drops_in():
    assert isinstance(StopAndWait(ByteStream(), Wrap32(0), PARTS), TCPSenderLike)
    cfg = TCPConfig.basic(sender=StopAndWait)
    payload = data(20_000)
    b = bench(2, cfg, TCPConfig(), delay=2 * MS, impair=Impairments(loss=0.1, reorder=0.2))
    got = transfer(b, payload, 900 * S)
    assert got == payload and b.a.error is None
    assert b.a.state in (State.TIME_WAIT, State.CLOSED)


def test_parts_on_the_simulated_network_through_sockets():
    net = Network(seed=4)
    a = net.add_host("A", ip="10.0.0.1/24")
    b = net.add_host("B", ip="10.0.0.2/24")
    net.connect(a, b, delay="2ms", bandwidth="10Mbit", loss=0.03)
    install_transport(net, tcp_config=PARTS)
    server = socket(net["B"])
    server.bind(("0.0.0.0", 7))
    server.listen()
    client = socket(net["A"])
    client.connect(("10.0.0.2", 7))
    conn, _ = server.accept()
    payload = data(100_000)
    client.sendall(payload)
    client.close()
    got = bytearray()
    while chunk := conn.recv(8192):
        got += chunk
    assert bytes(got) == payload
    conn.close()
