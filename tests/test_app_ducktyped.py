"""The framing, HTTP and LCP code runs on any socket-like object, not only on real sockets.

``MemorySocket`` is a minimal in-memory stream with only ``sendall``, ``recv``,
``settimeout`` and ``gettimeout``, the interface labkit's simulated TCP sockets
offer; it delivers bytes in small, uneven pieces.
"""

from __future__ import annotations

import threading

import pytest

from labkit.app.chat import ChatClient, ChatMessage, ChatService, Command
from labkit.app.framing import MessageTimeout, recv_msg, send_msg
from labkit.app.http import HttpClient, serve_connection, static_site


class MemorySocket:
    def __init__(self, piece: int = 7) -> None:
        self._cond = threading.Condition()
        self._buffer = bytearray()
        self._closed = False
        self.peer: MemorySocket | None = None
        self.timeout: float | None = 5.0
        self.piece = piece

    @classmethod
    def pair(cls, piece: int = 7) -> tuple[MemorySocket, MemorySocket]:
        a, b = cls(piece), cls(piece)
        a.peer, b.peer = b, a
        return a, b

    def sendall(self, data: bytes) -> None:
        peer = self.peer
        assert peer is not None
        with peer._cond:
            peer._buffer += data
            peer._cond.notify_all()

    def recv(self, n: int) -> bytes:
        with self._cond:
            if not self._cond.wait_for(lambda: self._buffer or self._closed, self.timeout):
                raise TimeoutError("timed out")
            chunk = bytes(self._buffer[: min(n, self.piece)])
            del self._buffer[: len(chunk)]
            return chunk

    def settimeout(self, value: float | None) -> None:
        self.timeout = value

    def gettimeout(self) -> float | None:
        return self.timeout

    def close(self) -> None:
        peer = self.peer
        assert peer is not None
        with peer._cond:
            peer._closed = True
            peer._cond.notify_all()


def test_framing_on_a_memory_socket():
    a, b = MemorySocket.pair(piece=3)
    for m in (b"one", b"", b"three" * 100):
        send_msg(a, m)
    assert [recv_msg(b) for _ in range(3)] == [b"one", b"", b"three" * 100]
    b.settimeout(0.05)
    with pytest.raises(MessageTimeout):
        recv_msg(b)
    a.close()
    assert recv_msg(b) is None


def test_http_server_and_client_on_memory_sockets():
    client_end, server_end = MemorySocket.pair()
    site = static_site({"/": "home", "/x": "ex"})
    served = []
    server = threading.Thread(target=lambda: served.append(serve_connection(server_end, site)))
    server.start()
    client = HttpClient(client_end)
    assert client.get("/").body == b"home"
    assert client.get("/x").text == "ex"
    assert client.get("/y", [("Connection", "close")]).status == 404
    server.join(5)
    assert served == [3]


def test_chat_service_on_memory_sockets():
    service = ChatService()
    ends = [MemorySocket.pair() for _ in range(2)]
    service.connected(1)
    service.connected(2)

    def pump(cid: int, server_end: MemorySocket) -> None:
        """Move one request from a client end into the service, and the replies out."""
        for target, data in service.received(cid, server_end.recv(1 << 16)):
            if data is not None:
                ends[target - 1][1].sendall(data)

    ann, bob = ChatClient(ends[0][0]), ChatClient(ends[1][0])
    for cid, action in ((1, lambda: ann.hello("ann")), (2, lambda: bob.hello("bob")),
                        (1, lambda: ann.say("hello"))):
        t = threading.Thread(target=action)
        t.start()
        while t.is_alive():
            try:
                ends[cid - 1][1].settimeout(0.05)
                pump(cid, ends[cid - 1][1])
            except TimeoutError:
                pass
            t.join(0.01)
    got = bob.receive()
    assert got == ChatMessage.message("ann", "hello") and got.command is Command.MESSAGE
