"""Nagle and TCP_NODELAY, delayed ACKs, keep-alive, half-close and RST after close().

Connection-level scenarios on the virtual clock (exact times), then the same
through labkit's sockets on the stand-in network of test_transport_sockets.
"""

from __future__ import annotations

import pytest
from test_tcp_options import handshake
from test_transport_sockets import Net
from test_transport_tcp import established, one

from labkit.transport.sockets import (
    IPPROTO_TCP,
    SHUT_RD,
    SHUT_WR,
    SO_KEEPALIVE,
    SOCK_STREAM,
    SOL_SOCKET,
    TCP_NODELAY,
)
from labkit.transport.tcp import Flags
from labkit.transport.tcp_connection import ConnectionTimeout, State, TCPConfig

MS = 1_000_000
S = 1_000_000_000


# --- Nagle (RFC 896) ---------------------------------------------------------------------------
def test_nagle_holds_small_writes_until_the_ack():
    a, b = established()
    a.send(b"h", 0)
    a.send(b"e", 1 * MS)
    a.send(b"llo", 2 * MS)
    first = one(a)
    assert first.payload == b"h" and a.take_output() == []  # one small segment in flight
    b.segment_arrives(first, 10 * MS)
    a.segment_arrives(one(b), 20 * MS)
    assert one(a).payload == b"ello"  # the ACK lets the rest go, coalesced


def test_nodelay_sends_each_write_at_once():
    a, b = established(TCPConfig.basic(nodelay=True))
    a.send(b"h", 0)
    a.send(b"e", 1 * MS)
    assert [s.payload for s in a.take_output()] == [b"h", b"e"]


def test_nagle_never_holds_a_full_segment_or_the_fin():
    a, b = established()
    a.send(bytes(1460 + 10), 0)
    assert [len(s.payload) for s in a.take_output()] == [1460]  # the tail waits
    a.close(1 * MS)
    tail = one(a)
    assert len(tail.payload) == 10 and tail.flags & Flags.FIN  # closing pushes it, with FIN


# --- delayed ACKs (RFC 1122 4.2.3.2, RFC 5681 4.2) -------------------------------------------
def test_delayed_ack_waits_then_acks_every_second_segment():
    cfg = TCPConfig.basic(delayed_ack=40 * MS)
    a, b = established(cfg)
    a.send(bytes(3 * 1460), 0)
    s1, s2, s3 = a.take_output()
    b.segment_arrives(s1, 10 * MS)
    assert b.take_output() == [] and b.next_timer() == 50 * MS
    b.segment_arrives(s2, 11 * MS)
    assert one(b).ack == s3.seq  # a second full segment: at once
    b.segment_arrives(s3, 12 * MS)
    assert b.take_output() == [] and b.next_timer() == 52 * MS
    b.tick(52 * MS)
    assert one(b).ack == s3.seq + 1460  # the delay ran out
    assert b.next_timer() is None


def test_delayed_ack_acks_out_of_order_and_hole_filling_data_at_once():
    a, b = established(TCPConfig.basic(delayed_ack=40 * MS))
    a.send(bytes(3 * 1460), 0)
    s1, s2, s3 = a.take_output()
    b.segment_arrives(s2, 10 * MS)
    assert one(b).ack == s1.seq  # out of order: a duplicate ACK at once
    b.segment_arrives(s1, 11 * MS)
    assert one(b).ack == s3.seq  # fills the hole: at once


def test_delayed_ack_is_off_by_default_and_bounded():
    assert TCPConfig().delayed_ack == 0 and TCPConfig.basic().delayed_ack == 0
    with pytest.raises(Exception, match="500 ms"):
        TCPConfig(delayed_ack=600 * MS)


# --- keep-alive (RFC 1122 4.2.3.6) -------------------------------------------------------------
def test_keepalive_probes_an_idle_connection_and_gives_up():
    cfg = TCPConfig.basic(keepalive=True, keepalive_idle=10 * S, keepalive_interval=2 * S,
                          keepalive_probes=3)
    a, b = established(cfg)
    assert a.next_timer() == 10 * S
    a.tick(10 * S)
    probe = one(a)
    assert probe.seq == a.snd_nxt - 1 and probe.payload == b"" and probe.flags == Flags.ACK
    b.segment_arrives(probe, 10 * S + 5 * MS)
    answer = one(b)
    assert answer.ack == a.snd_nxt and answer.seq == a.rcv_nxt  # an ACK: the peer is there
    a.segment_arrives(answer, 10 * S + 10 * MS)
    assert a.next_timer() == 20 * S + 10 * MS  # idle again from the answer
    times = []
    while a.state is State.ESTABLISHED:  # now the peer is gone
        t = a.next_timer()
        a.tick(t)
        times.append(t)
        a.take_output()
    start = 20 * S + 10 * MS
    assert times == [start, start + 2 * S, start + 4 * S, start + 6 * S]
    assert isinstance(a.error, ConnectionTimeout) and "keep-alive" in str(a.error)


# --- close() and data, shutdown ---------------------------------------------------------------
def test_data_after_close_read_gets_rst():
    a, b = established()
    b.close(0)
    b.close_read(0, reset=True)
    a.segment_arrives(one(b), 1 * MS)  # B's FIN
    a.take_output()
    a.send(b"anyone there?", 2 * MS)
    b.segment_arrives(one(a), 3 * MS)
    rst = one(b)
    assert rst.flags & Flags.RST and b.state is State.CLOSED and b.error is None
    a.segment_arrives(rst, 4 * MS)
    assert a.state is State.CLOSED and a.error is not None


def _sockets():
    net = Net()
    a, b = net.host("10.0.0.1"), net.host("10.0.0.2")
    server = b.socket(type=SOCK_STREAM)
    server.bind(("0.0.0.0", 80))
    server.listen()
    client = a.socket(type=SOCK_STREAM)
    client.connect(("10.0.0.2", 80))
    conn, _ = server.accept()
    return net, client, conn


def test_shutdown_wr_half_close_with_sockets():
    net, client, conn = _sockets()
    client.sendall(b"request")
    client.shutdown(SHUT_WR)  # FIN: "I am done sending"
    got = b""
    while chunk := conn.recv(100):
        got += chunk
    assert got == b"request"  # then b"": the server sees the end of the request
    conn.sendall(b"reply after the client's FIN")
    conn.close()
    assert client.recv(100) == b"reply after the client's FIN" and client.recv(100) == b""
    client.close()
    net.run_until(lambda: False, net.t + 1 * S)
    assert client._conn.state is State.TIME_WAIT and client._conn.error is None


def test_shutdown_rd_reads_nothing_more():
    net, client, conn = _sockets()
    client.shutdown(SHUT_RD)
    assert client.recv(100) == b""
    conn.sendall(b"ignored")
    net.run_until(lambda: False, net.t + 100 * MS)
    assert client.recv(100) == b"" and client._conn.state is State.ESTABLISHED
    assert conn._conn.snd_una == conn._conn.snd_nxt  # acknowledged all the same
    with pytest.raises(Exception):
        client.shutdown(7)


def test_socket_close_then_data_resets():
    net, client, conn = _sockets()
    client.close()
    conn.sendall(b"too late")
    net.run_until(lambda: False, net.t + 100 * MS)
    with pytest.raises(ConnectionResetError):
        conn.sendall(b"more")
        conn.recv(10)


def test_socket_options_nodelay_and_keepalive():
    net, client, conn = _sockets()
    assert client.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 0
    client.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
    assert client._conn.nodelay and client.getsockopt(IPPROTO_TCP, TCP_NODELAY) == 1
    client.sendall(b"a")
    client.sendall(b"b")
    net.run_until(lambda: False, net.t + 20 * MS)
    assert conn.recv(10) == b"ab"
    client.setsockopt(SOL_SOCKET, SO_KEEPALIVE, True)
    assert client._conn.keepalive and client._conn.next_timer() == net.t + 7200 * S
    with pytest.raises(OSError):
        client.setsockopt(SOL_SOCKET, 99, 1)


def test_handshake_defaults_have_nagle_on():
    a, *_ = handshake()
    assert a.nodelay is False and a.keepalive is False


def test_shutdown_wr_in_event_mode_sends_fin_after_the_waiting_bytes_and_keeps_reading():
    net = Net()
    a, b = net.host("10.0.0.1"), net.host("10.0.0.2")
    server = b.socket(type=SOCK_STREAM)
    server.bind(("0.0.0.0", 80))
    server.listen()
    heard = []

    def connected(sock, _peer):
        sock.on_data(heard.append)
        sock.sendall(bytes(5 << 20))  # more than the 4 MiB send buffer takes: some bytes wait
        assert sock._out
        sock.shutdown(SHUT_WR)

    server.on_connection(connected)
    client = a.socket(type=SOCK_STREAM)
    client.connect(("10.0.0.2", 80))
    got = 0
    while chunk := client.recv(1 << 20):
        got += len(chunk)
    assert got == 5 << 20  # every byte, then the FIN
    client.sendall(b"still listening?")
    client.close()
    net.run_until(lambda: False, net.t + 1 * S)
    assert b"".join(heard) == b"still listening?"
