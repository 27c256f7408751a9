"""Length-prefixed framing against well-behaved, glued, split, truncated, oversized and slow peers."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit import LabkitError, LabkitValueError
from labkit.app.framing import (
    HEADER,
    IncompleteMessage,
    MessageDecoder,
    MessageTimeout,
    MessageTooLarge,
    iter_messages,
    pack_msg,
    recv_exactly,
    recv_msg,
    send_msg,
)
from labkit.app.sockets import tcp_pair


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def tcp():
    a, b = tcp_pair()
    yield a, b
    a.close()
    b.close()


class ScriptedSocket:
    """A socket-like object that returns scripted chunks and records what was asked of it."""

    def __init__(self, chunks, clock=None, step=0.0):
        self.chunks = list(chunks)
        self.asked: list[int] = []
        self.timeouts: list[float | None] = []
        self.timeout: float | None = 7.0
        self.clock = clock
        self.step = step

    def recv(self, n):
        self.asked.append(n)
        if self.clock is not None:
            self.clock[0] += self.step
        if not self.chunks:
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, BaseException):
            raise chunk
        if len(chunk) > n:
            self.chunks.insert(0, chunk[n:])
            chunk = chunk[:n]
        return chunk

    def settimeout(self, value):
        self.timeouts.append(value)
        self.timeout = value

    def gettimeout(self):
        return self.timeout


def test_header_is_four_bytes_big_endian():
    assert HEADER.size == 4
    assert pack_msg(b"abc") == b"\x00\x00\x00\x03abc"
    assert pack_msg(b"") == b"\x00\x00\x00\x00"
    assert pack_msg(bytes(258))[:4] == b"\x00\x00\x01\x02"


def test_round_trip_and_glued_messages(pair):
    a, b = pair
    messages = [b"first", b"", b"x" * 1000, "数据".encode()]
    for m in messages:  # all sent before any is read: they sit glued in b's buffer
        assert send_msg(a, m) == 4 + len(m)
    assert [recv_msg(b) for _ in messages] == messages
    a.close()
    assert recv_msg(b) is None  # clean end between messages
    assert recv_msg(b) is None


def test_large_message_over_real_tcp(tcp):
    a, b = tcp
    big = bytes(range(256)) * 4000  # ~1 MB, far more than one recv returns
    sender = threading.Thread(target=send_msg, args=(a, big, 2 << 20))
    sender.start()
    got = recv_msg(b, max_size=2 << 20)
    sender.join(5)
    assert got == big


def test_split_delivery_one_byte_at_a_time():
    frame = pack_msg(b"hello") + pack_msg(b"world")
    sock = ScriptedSocket([bytes([c]) for c in frame])
    assert recv_msg(sock) == b"hello"
    assert recv_msg(sock) == b"world"
    assert recv_msg(sock) is None


def test_oversized_announcement_refused_before_reading_the_body(pair):
    a, b = pair
    a.sendall(b"\xff\xff\xff\xffabc")
    with pytest.raises(MessageTooLarge) as info:
        recv_msg(b)
    err = info.value
    assert err.length == 0xFFFF_FFFF and err.max_size == 1 << 20
    assert "4,294,967,295" in str(err) and err.field == "length"
    assert isinstance(err, LabkitError)
    assert b.recv(10) == b"abc"  # nothing of the body was read


def test_oversized_announcement_never_asks_for_the_body():
    sock = ScriptedSocket([b"\x00\x10\x00\x00", b"x" * 100])
    with pytest.raises(MessageTooLarge):
        recv_msg(sock, max_size=1000)
    assert sock.asked == [4]


def test_an_http_client_is_an_oversized_announcement(pair):
    a, b = pair
    a.sendall(b"GET / HTTP/1.1\r\n\r\n")
    with pytest.raises(MessageTooLarge, match="1,195,725,856"):
        recv_msg(b)


def test_sending_too_much_is_refused_and_nothing_is_sent(pair):
    a, b = pair
    with pytest.raises(MessageTooLarge, match="tried to send"):
        send_msg(a, bytes(11), max_size=10)
    send_msg(a, b"ok")
    assert recv_msg(b) == b"ok"


def test_peer_closes_mid_message(pair):
    a, b = pair
    a.sendall(HEADER.pack(10) + b"abc")
    a.close()
    with pytest.raises(IncompleteMessage) as info:
        recv_msg(b)
    assert (info.value.received, info.value.expected, info.value.part) == (7, 14, "message")
    assert "7 of 14 bytes" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_peer_closes_mid_header(pair):
    a, b = pair
    a.sendall(b"\x00\x00")
    a.close()
    with pytest.raises(IncompleteMessage, match="2 of 4 bytes of the header"):
        recv_msg(b)


def test_stalled_peer_times_out_with_counts(tcp):
    a, b = tcp
    b.settimeout(0.2)
    a.sendall(HEADER.pack(10) + b"abc")  # and then nothing
    with pytest.raises(MessageTimeout) as info:
        recv_msg(b)
    err = info.value
    assert (err.received, err.expected, err.in_step) == (7, 14, False)
    assert "7 of 14 bytes" in str(err) and isinstance(err, TimeoutError)


def test_idle_peer_times_out_in_step(pair):
    a, b = pair
    b.settimeout(0.05)
    with pytest.raises(MessageTimeout) as info:
        recv_msg(b)
    assert info.value.in_step and info.value.received == 0
    send_msg(a, b"later")
    b.settimeout(5)
    assert recv_msg(b) == b"later"


def test_overall_deadline_defeats_a_trickling_peer():
    clock = [0.0]
    frame = pack_msg(b"x" * 20)
    sock = ScriptedSocket([bytes([c]) for c in frame], clock=clock, step=0.3)
    with pytest.raises(MessageTimeout, match=r"of 24 bytes .* the 1 s timeout"):
        recv_msg(sock, timeout=1.0, clock=lambda: clock[0])
    assert sock.timeout == 7.0  # the socket's own timeout is restored
    assert all(t is not None and 0 < t <= 1.0 for t in sock.timeouts[:-1])


def test_overall_deadline_lets_a_prompt_peer_through():
    clock = [0.0]
    sock = ScriptedSocket([pack_msg(b"fast")], clock=clock, step=0.01)
    assert recv_msg(sock, timeout=1.0, clock=lambda: clock[0]) == b"fast"


def test_slow_but_steady_real_peer(tcp):
    a, b = tcp
    frame = pack_msg(b"slow message")

    def trickle():
        for i in range(0, len(frame), 3):
            a.sendall(frame[i : i + 3])
            time.sleep(0.01)

    sender = threading.Thread(target=trickle)
    sender.start()
    assert recv_msg(b) == b"slow message"
    sender.join(5)


def test_socket_errors_pass_through():
    sock = ScriptedSocket([ConnectionResetError("reset")])
    with pytest.raises(ConnectionResetError):
        recv_msg(sock)


@pytest.mark.parametrize("bad", [-1, 1 << 32, 1.5, "10", True])
def test_max_size_validated(bad):
    with pytest.raises(LabkitValueError, match="max_size"):
        recv_msg(ScriptedSocket([]), max_size=bad)


def test_text_is_refused_with_a_hint(pair):
    with pytest.raises(LabkitValueError, match="encode"):
        send_msg(pair[0], "text")  # type: ignore[arg-type]


def test_recv_exactly(pair):
    a, b = pair
    a.sendall(b"abcdef")
    assert recv_exactly(b, 4) == b"abcd"
    assert recv_exactly(b, 0) == b""
    a.close()
    with pytest.raises(IncompleteMessage, match="2 of 5"):
        recv_exactly(b, 5)
    with pytest.raises(LabkitValueError):
        recv_exactly(b, -1)


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_decoder_any_chunking(messages, data):
    stream = b"".join(pack_msg(m) for m in messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    chunks = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)])]
    assert iter_messages(chunks) == messages


@given(st.binary(min_size=1, max_size=200))
def test_decoder_cut_short_is_incomplete(message):
    frame = pack_msg(message)
    for cut in (1, 3, 5, len(frame) - 1):
        if cut >= len(frame):
            continue
        decoder = MessageDecoder()
        assert decoder.feed(frame[:cut]) == []
        assert decoder.pending == cut
        with pytest.raises(IncompleteMessage):
            decoder.close()


def test_decoder_refuses_oversized_at_the_header():
    decoder = MessageDecoder(max_size=8)
    assert decoder.feed(pack_msg(b"12345678")) == [b"12345678"]
    with pytest.raises(MessageTooLarge, match="9-byte"):
        decoder.feed(b"\x00\x00\x00\x09")
    with pytest.raises(LabkitValueError, match="already failed"):
        decoder.feed(b"more")
    decoder.close()  # nothing buffered after the failure


def test_decoder_returns_many_messages_from_one_feed():
    decoder = MessageDecoder()
    stream = b"".join(pack_msg(bytes([i]) * i) for i in range(10))
    assert decoder.feed(stream) == [bytes([i]) * i for i in range(10)]
    assert decoder.pending == 0
    decoder.close()
