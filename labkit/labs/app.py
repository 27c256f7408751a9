"""Lab 5's grader: the learner's chat and HTTP servers on 127.0.0.1, driven by a client harness.

The learner writes ``ChatServer(host, port)`` (the course's chat protocol,
:mod:`labkit.app.chat`, each message framed by a 4-byte big-endian length) and
``HTTPServer(pages, host, port)`` (HTTP/1.1 GET on persistent connections),
each with ``start()``, ``stop()`` and ``address`` (bound to port 0: the system
picks one). The harness connects real TCP clients: ordinary ones, a slow one
that sends a byte at a time, one that half-closes (shuts its sending side and
waits for the answer), and malformed ones. labkit's own chat room, servers and
HTTP reader are out of reach for the whole test (the servers run the
learner's threads). The clients use only ``socket`` and
:class:`~labkit.app.chat.ChatMessage`.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from labkit.app.chat import ChatMessage, Command
from labkit.labs.grading import run_checks
from labkit.testing import Scenario

__all__ = [
    "check_chat_basic",
    "check_chat_errors",
    "check_chat_slow_client",
    "check_chat_malformed",
    "check_http_get",
    "check_http_persistent",
    "check_http_malformed",
]

WAIT = 2.0  # seconds a client waits for an answer


class _Client:
    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=WAIT)

    def send(self, msg: ChatMessage, *, slowly: float = 0.0) -> None:
        data = msg.pack()
        raw = len(data).to_bytes(4, "big") + data
        if slowly:
            for i in range(len(raw)):
                self.sock.sendall(raw[i : i + 1])
                time.sleep(slowly)
        else:
            self.sock.sendall(raw)

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError(f"the server closed the connection ({len(data)} of {n} bytes)")
            data += chunk
        return data

    def read(self) -> ChatMessage:
        n = int.from_bytes(self._exact(4), "big")
        return ChatMessage.parse(self._exact(n))

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except (TimeoutError, ConnectionError):
            return False

    def close(self) -> None:
        self.sock.close()


def _show(m: ChatMessage) -> tuple[str, int, str]:
    return (m.command.name, m.request_id, m.body.decode("utf-8", "replace"))


def _run(
    title: str, make: Callable[[], Any], script: Callable[[Scenario[Any], Any], None], hint: str
) -> None:
    def body() -> int:
        s: Scenario[Any] = Scenario(title, None, hint=hint)
        server = s.do("start your server on 127.0.0.1", lambda: make())
        s.do("start()", lambda: server.start())
        try:
            script(s, tuple(server.address[:2]))
        finally:
            try:
                server.stop()
            except Exception:
                pass
        return len(s.steps)

    run_checks("app", title, body, seconds=30, always=True)


def _chat(ChatServer: Callable[..., Any]) -> Callable[[], Any]:
    return lambda: ChatServer("127.0.0.1", 0)


def check_chat_basic(ChatServer: Callable[..., Any]) -> None:
    """Two members: HELLO, JOINED, WHO, SAY delivered, BYE and LEFT."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        a = s.do("client 1 connects", lambda: _Client(addr))
        b = s.do("client 2 connects", lambda: _Client(addr))
        s.do("1: HELLO ana (request 1)", lambda: a.send(ChatMessage.hello("ana", 1)))
        s.expect_equal("1 reads", lambda: _show(a.read()), ("WELCOME", 1, "ana"))
        s.do("2: HELLO bo (request 7)", lambda: b.send(ChatMessage.hello("bo", 7)))
        s.expect_equal("2 reads", lambda: _show(b.read()), ("WELCOME", 7, "bo"))
        s.expect_equal("1 reads", lambda: _show(a.read()), ("JOINED", 0, "bo"))
        s.do("2: WHO (request 8)", lambda: b.send(ChatMessage(Command.WHO, request_id=8)))
        s.expect_equal("2 reads", lambda: _show(b.read()), ("USERS", 8, "ana\nbo"))
        s.do("1: SAY hi (request 2)", lambda: a.send(ChatMessage.say("hi", 2)))
        s.expect_equal("1 reads", lambda: _show(a.read()), ("OK", 2, ""))
        s.expect_equal("2 reads", lambda: _show(b.read()), ("MESSAGE", 0, "\x03anahi"))
        s.do("1: BYE (request 3)", lambda: a.send(ChatMessage(Command.BYE, request_id=3)))
        s.expect_equal("1 reads", lambda: _show(a.read()), ("BYE", 3, ""))
        s.expect_equal("2 reads", lambda: _show(b.read()), ("LEFT", 0, "ana"))
        a.close()
        b.close()

    _run(
        "chat basics",
        _chat(ChatServer),
        script,
        "see labkit/app/chat.py's docstring: who gets what, and which request id goes back",
    )


def check_chat_errors(ChatServer: Callable[..., Any]) -> None:
    """SAY before HELLO, a taken nickname, a second HELLO: ERROR, and the connection stays."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        a = s.do("client 1 connects", lambda: _Client(addr))
        b = s.do("client 2 connects", lambda: _Client(addr))
        s.do("1: SAY before HELLO (request 4)", lambda: a.send(ChatMessage.say("hi", 4)))
        s.expect_equal(
            "1 reads ERROR NOT_REGISTERED (4)",
            lambda: (lambda m: (m.command.name, m.request_id, m.error_code))(a.read()),
            ("ERROR", 4, 4),
        )
        s.do("1: HELLO ana", lambda: a.send(ChatMessage.hello("ana", 5)))
        s.expect_equal("1 reads", lambda: _show(a.read())[:2], ("WELCOME", 5))
        s.do("2: HELLO ana (taken)", lambda: b.send(ChatMessage.hello("ana", 6)))
        s.expect_equal(
            "2 reads ERROR NICK_TAKEN (5)",
            lambda: (lambda m: (m.command.name, m.error_code))(b.read()),
            ("ERROR", 5),
        )
        s.do("1: HELLO again", lambda: a.send(ChatMessage.hello("zed", 9)))
        s.expect_equal(
            "1 reads ERROR ALREADY_REGISTERED (6)",
            lambda: (lambda m: (m.command.name, m.error_code))(a.read()),
            ("ERROR", 6),
        )
        s.do("2: HELLO bo", lambda: b.send(ChatMessage.hello("bo", 10)))
        s.expect_equal("2 reads (its connection stayed open)", lambda: _show(b.read())[:2], ("WELCOME", 10))
        a.close()
        b.close()

    _run(
        "chat errors",
        _chat(ChatServer),
        script,
        "an error about one request is answered with ERROR and that request's id; the connection stays open",
    )


def check_chat_slow_client(ChatServer: Callable[..., Any]) -> None:
    """A client that sends half a message and waits must not hold up the others."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        hello = ChatMessage.hello("bo", 2).pack()
        frame = len(hello).to_bytes(4, "big") + hello
        slow = s.do("slow client connects", lambda: _Client(addr))
        s.do(
            "slow client sends the first 6 bytes of a HELLO, then waits", lambda: slow.sock.sendall(frame[:6])
        )
        time.sleep(0.05)
        a = s.do("client 2 connects", lambda: _Client(addr))
        s.do("2: HELLO ana", lambda: a.send(ChatMessage.hello("ana", 1)))
        s.expect_equal(
            "2 reads within 2 s",
            lambda: _show(a.read()),
            ("WELCOME", 1, "ana"),
            hint="while one connection waits for the rest of its message, the others "
            "must be served: a thread per connection, or select(), and no lock "
            "held while reading",
        )

        def trickle() -> None:
            for c in frame[6:]:
                slow.sock.sendall(bytes([c]))
                time.sleep(0.01)

        s.do("slow client sends the rest, a byte every 10 ms", trickle)
        s.expect_equal("slow client reads", lambda: _show(slow.read()), ("WELCOME", 2, "bo"))
        slow.close()
        a.close()

    _run("chat slow client", _chat(ChatServer), script, "")


def check_chat_malformed(ChatServer: Callable[..., Any]) -> None:
    """A frame announcing 4 GB, and bad version: closed; a vanished client is LEFT."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        a = s.do("client 1 connects, HELLO ana", lambda: _Client(addr))
        a.send(ChatMessage.hello("ana", 1))
        s.expect_equal("1 reads", lambda: _show(a.read())[:1], ("WELCOME",))
        bad = s.do("client 2 announces a 4 GB frame", lambda: _Client(addr))
        s.do("(the length ff ff ff ff)", lambda: bad.sock.sendall(b"\xff\xff\xff\xff"))
        s.expect_equal(
            "2 reads ERROR TOO_LARGE (7)",
            lambda: bad.read().error_code,
            7,
            hint="check the length before reading: never read (or allocate) what a "
            "peer merely announces beyond MAX_MESSAGE",
        )
        s.expect("then the server closes it", lambda: bad.closed())
        c = s.do("client 3: HELLO bo, then vanishes", lambda: _Client(addr))
        c.send(ChatMessage.hello("bo", 1))
        s.expect_equal("3 reads", lambda: _show(c.read())[:1], ("WELCOME",))
        s.expect_equal("1 reads", lambda: _show(a.read()), ("JOINED", 0, "bo"))
        c.close()
        s.expect_equal(
            "1 reads",
            lambda: _show(a.read()),
            ("LEFT", 0, "bo"),
            hint="a connection that closes without BYE has left too",
        )
        a.close()

    _run("chat malformed", _chat(ChatServer), script, "")


PAGES = {"/": b"hello from the lab\n", "/about": b"labkit L5\n"}


def _http(HTTPServer: Callable[..., Any]) -> Callable[[], Any]:
    return lambda: HTTPServer(dict(PAGES), "127.0.0.1", 0)


class _Responses:
    """Responses read one by one from a socket (several may come in one recv)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self, what: str) -> None:
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"closed before {what}: {self.buffer[:60]!r}")
        self.buffer += chunk

    def next(self) -> tuple[int, bytes]:
        """(status, body) of the next response, by its Content-Length."""
        while b"\r\n\r\n" not in self.buffer:
            self._more("a whole header")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        length = next(
            (
                int(v)
                for k, _, v in (h.partition(":") for h in lines[1:])
                if k.strip().lower() == "content-length"
            ),
            None,
        )
        if length is None:
            raise AssertionError("no Content-Length: the client cannot tell where the body ends")
        while len(self.buffer) < length:
            self._more("the whole body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, body


def _response(sock: socket.socket) -> tuple[int, bytes]:
    return _Responses(sock).next()


def _get(
    addr: tuple[str, int], raw: bytes, *, slowly: bool = False, half_close: bool = False
) -> tuple[int, bytes]:
    with socket.create_connection(addr, timeout=WAIT) as sock:
        if slowly:
            for i in range(len(raw)):
                sock.sendall(raw[i : i + 1])
                time.sleep(0.002)
        else:
            sock.sendall(raw)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _response(sock)


def check_http_get(HTTPServer: Callable[..., Any]) -> None:
    """GET a page (200 with its body) and a missing one (404)."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        s.expect_equal(
            "GET / ",
            lambda: _get(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            (200, PAGES["/"]),
        )
        s.expect_equal(
            "GET /nope",
            lambda: _get(addr, b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0],
            404,
        )

    _run(
        "HTTP GET",
        _http(HTTPServer),
        script,
        "a response is a status line, headers (with Content-Length), an empty line, then the body",
    )


def check_http_persistent(HTTPServer: Callable[..., Any]) -> None:
    """Two requests on one connection (HTTP/1.1 keeps it open); a half-closing client; a slow one."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        def two() -> list[tuple[int, bytes]]:
            with socket.create_connection(addr, timeout=WAIT) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /about HTTP/1.1\r\nHost: x\r\n\r\n")
                responses = _Responses(sock)
                return [responses.next(), responses.next()]

        s.expect_equal(
            "two pipelined requests on one connection",
            two,
            [(200, PAGES["/"]), (200, PAGES["/about"])],
            hint="HTTP/1.1 connections stay open: after a response, read the next request "
            "(it may already be in your buffer)",
        )
        s.expect_equal(
            "a client that half-closes after its request",
            lambda: _get(addr, b"GET /about HTTP/1.1\r\nHost: x\r\n\r\n", half_close=True),
            (200, PAGES["/about"]),
            hint="the client shut its sending side: answer the request you have before you close",
        )
        s.expect_equal(
            "a client that sends a byte at a time",
            lambda: _get(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", slowly=True),
            (200, PAGES["/"]),
            hint="one recv() is not one request: keep reading until the empty line",
        )

    _run("HTTP persistent", _http(HTTPServer), script, "")


def check_http_malformed(HTTPServer: Callable[..., Any]) -> None:
    """Garbage gets 400, POST gets 405, and the server goes on serving."""

    def script(s: Scenario[Any], addr: tuple[str, int]) -> None:
        s.expect_equal("'HELLO' as a request line", lambda: _get(addr, b"HELLO\r\n\r\n")[0], 400)
        s.expect_equal(
            "a header line without a colon", lambda: _get(addr, b"GET / HTTP/1.1\r\nnonsense\r\n\r\n")[0], 400
        )
        s.expect_equal(
            "POST /", lambda: _get(addr, b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")[0], 405
        )
        s.expect_equal(
            "and then GET / still works",
            lambda: _get(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            (200, PAGES["/"]),
        )

    _run(
        "HTTP malformed",
        _http(HTTPServer),
        script,
        "a request you cannot read is answered 400 Bad Request, not with silence or a crash",
    )
