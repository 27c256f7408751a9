"""Servers on real sockets that a notebook can start and stop: selectors, threads, UDP.

Three ways to serve clients, for contrast:

- :class:`SelectorServer`: **one thread** serves every client. All sockets
  are non-blocking; ``selectors`` tells the loop which ones are ready, so no
  call ever waits on one slow client. What to do with the bytes is a
  *service*: a sans-IO object (bytes in, bytes out, no sockets) such as
  :class:`EchoService` or ``labkit.app.chat.ChatService``, so the same
  protocol logic can run on simulated sockets.
- :class:`ThreadedServer`: **one thread per client**, each running a plain
  blocking handler (e.g. :func:`echo_handler`, or HTTP's
  ``serve_connection``). Simple to write; each client costs a thread.
- :class:`UdpEchoServer`: datagrams, no connections at all.

Safe defaults everywhere: they bind ``127.0.0.1`` (only this machine can
connect) unless told otherwise; every blocking call has a timeout (idle
clients are dropped after ``timeout`` seconds); received bytes are only ever
treated as data (no ``pickle``, no ``eval``). Each server runs in a
background thread and is a context manager::

    with SelectorServer() as server:          # binds 127.0.0.1, a free port
        ...connect to server.address...
    # here every socket is closed and the thread has ended

``SO_REUSEADDR`` is set on POSIX systems so that a restarted server can bind
its fixed port while connections of the previous run are still in
TIME_WAIT; it is not set on Windows, where it would let two servers share a
port (Windows has no TIME_WAIT problem at bind time).
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from labkit.errors import LabkitError, LabkitValueError

__all__ = [
    "EchoService",
    "SelectorServer",
    "Service",
    "ThreadedServer",
    "UdpEchoServer",
    "echo_handler",
    "make_server_socket",
]

Output = Iterable[tuple[int, "bytes | None"]]
_S = TypeVar("_S", bound="_Background")


class Service(Protocol):
    """The protocol logic a :class:`SelectorServer` runs: connection ids and bytes only.

    Each method returns ``(connection id, bytes)`` pairs to send; ``None``
    instead of bytes means "close that connection once its pending bytes are
    sent". Raising closes the connection that caused it.
    """

    def connected(self, cid: int) -> Output: ...

    def received(self, cid: int, data: bytes) -> Output: ...

    def closed(self, cid: int) -> Output: ...


class EchoService:
    """Send every byte back to the connection it came from."""

    def connected(self, cid: int) -> Output:
        return ()

    def received(self, cid: int, data: bytes) -> Output:
        return ((cid, data),)

    def closed(self, cid: int) -> Output:
        return ()


def _check_timeout(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise LabkitValueError(f"{name}={value!r}: expected a number of seconds > 0")
    return float(value)


def make_server_socket(host: str = "127.0.0.1", port: int = 0, kind: int = socket.SOCK_STREAM,
                       reuse_addr: bool = True, backlog: int = 128) -> socket.socket:
    """A bound (and, for TCP, listening) IPv4 socket; ``port=0`` lets the OS pick a free port.

    An address in use raises the operating system's ``OSError``
    (``errno.EADDRINUSE``) unchanged, so it can be caught and shown.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise LabkitValueError(f"port={port!r}: expected an int from 0 to 65535")
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if reuse_addr and os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


class _Background:
    """Start/stop and context-manager plumbing shared by the servers."""

    _kind = socket.SOCK_STREAM

    def __init__(self, host: str, port: int, timeout: float, poll_interval: float) -> None:
        self.host = host
        self.port = port
        self.timeout = _check_timeout("timeout", timeout)
        self.poll_interval = _check_timeout("poll_interval", poll_interval)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.error: BaseException | None = None  # what ended the serving thread, if not stop()
        self.errors = 0  # clients dropped because their handler or service failed
        self.last_error: BaseException | None = None  # the latest of those failures

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the server is bound to."""
        if self._sock is None:
            raise LabkitError(f"{type(self).__name__}: not started")
        return self._sock.getsockname()[:2]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self: _S) -> _S:
        """Bind and start serving in a background thread; returns the server."""
        if self._thread is not None:
            raise LabkitError(f"{type(self).__name__}: already started")
        self._sock = make_server_socket(self.host, self.port, self._kind)
        try:
            self._setup()
        except BaseException:
            self._sock.close()
            raise
        self._thread = threading.Thread(target=self._run_guarded, daemon=True,
                                        name=f"{type(self).__name__}{self.address}")
        self._thread.start()
        return self

    def _run_guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # kept for the notebook to inspect; never silently lost
            self.error = exc
        finally:
            self._cleanup()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close every socket and wait for the thread (at most ``timeout`` s)."""
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise LabkitError(f"{type(self).__name__}: did not stop within {timeout} s")

    def __enter__(self: _S) -> _S:
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.address if self._sock is not None and self._sock.fileno() != -1 else "unbound"
        return f"<{type(self).__name__} {where} running={self.running}>"

    # hooks
    def _setup(self) -> None:
        pass

    def _wake(self) -> None:
        pass

    def _run(self) -> None:
        raise NotImplementedError

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()


class _Conn:
    __slots__ = ("cid", "sock", "out", "closing", "last_active", "reading")

    def __init__(self, cid: int, sock: socket.socket, now: float) -> None:
        self.cid = cid
        self.sock = sock
        self.out = bytearray()
        self.closing = False
        self.last_active = now
        self.reading = True


class SelectorServer(_Background):
    """One thread, non-blocking sockets and ``selectors``: serves many clients at once.

    ``service`` is the protocol (default :class:`EchoService`). Clients idle
    for ``timeout`` seconds are disconnected; a client that does not read its
    replies stops being read from once ``max_pending`` bytes wait for it
    (back-pressure, instead of unbounded memory). Counters:
    ``clients`` (connected now), ``peak_clients``, ``accepted``,
    ``recv_calls``, ``bytes_received``; ``threads`` is always 1.
    """

    threads = 1

    def __init__(self, service: Service | None = None, host: str = "127.0.0.1", port: int = 0, *,
                 timeout: float = 30.0, poll_interval: float = 0.5,
                 max_pending: int = 1 << 20, max_clients: int = 1000) -> None:
        super().__init__(host, port, timeout, poll_interval)
        self.service: Service = EchoService() if service is None else service
        self.max_pending = max_pending
        self.max_clients = max_clients
        self._conns: dict[int, _Conn] = {}
        self._next_cid = 1
        self.accepted = 0
        self.peak_clients = 0
        self.recv_calls = 0
        self.bytes_received = 0

    @property
    def clients(self) -> int:
        return len(self._conns)

    def _setup(self) -> None:
        assert self._sock is not None
        self._sock.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._sock, selectors.EVENT_READ, "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (AttributeError, OSError):  # not started, or already woken and full
            pass

    def _run(self) -> None:
        while not self._stopping.is_set():
            for key, mask in self._sel.select(timeout=self.poll_interval):
                if key.data == "listen":
                    self._accept()
                elif key.data == "wake":
                    try:
                        self._wake_r.recv(4096)
                    except OSError:
                        pass
                else:
                    conn: _Conn = key.data
                    if mask & selectors.EVENT_READ and conn.cid in self._conns:
                        self._read(conn)
                    if mask & selectors.EVENT_WRITE and conn.cid in self._conns:
                        self._write(conn)
            self._drop_idle()

    def _accept(self) -> None:
        assert self._sock is not None
        for _ in range(64):  # a burst of clients, without starving the others
            try:
                sock, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ECONNABORTED: the client gave up while queued
                continue
            if len(self._conns) >= self.max_clients:
                sock.close()
                continue
            sock.setblocking(False)
            conn = _Conn(self._next_cid, sock, time.monotonic())
            self._next_cid += 1
            self._conns[conn.cid] = conn
            self.accepted += 1
            self.peak_clients = max(self.peak_clients, len(self._conns))
            self._sel.register(sock, selectors.EVENT_READ, conn)
            self._apply(conn, self.service.connected, conn.cid)

    def _apply(self, origin: _Conn, method: Callable[..., Output], *args: object) -> None:
        try:
            outputs = list(method(*args))
        except Exception as exc:  # the service rejected this client's bytes: drop that client only
            self.errors += 1
            self.last_error = exc
            self._close(origin, notify=False)
            return
        for cid, data in outputs:
            conn = self._conns.get(cid)
            if conn is None:
                continue
            if data is None:
                conn.closing = True
            else:
                conn.out += data
            self._update(conn)

    def _update(self, conn: _Conn) -> None:
        if conn.closing and not conn.out:
            self._close(conn)
            return
        conn.reading = not conn.closing and len(conn.out) < self.max_pending
        events = (selectors.EVENT_READ if conn.reading else 0) | (
            selectors.EVENT_WRITE if conn.out else 0)
        if events == 0:  # not reading, nothing to write: cannot happen, but never spin
            events = selectors.EVENT_READ
        self._sel.modify(conn.sock, events, conn)

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(64 * 1024)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        self.recv_calls += 1
        if not data:
            self._close(conn)
            return
        conn.last_active = time.monotonic()
        self.bytes_received += len(data)
        self._apply(conn, self.service.received, conn.cid, data)

    def _write(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        del conn.out[:sent]
        conn.last_active = time.monotonic()
        self._update(conn)

    def _drop_idle(self) -> None:
        limit = time.monotonic() - self.timeout
        for conn in [c for c in self._conns.values() if c.last_active < limit]:
            self._close(conn)

    def _close(self, conn: _Conn, notify: bool = True) -> None:
        if self._conns.pop(conn.cid, None) is None:
            return
        try:
            self._sel.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        conn.sock.close()
        if notify:
            self._apply(conn, self.service.closed, conn.cid)
        else:
            try:
                list(self.service.closed(conn.cid))
            except Exception:
                pass

    def _cleanup(self) -> None:
        for conn in list(self._conns.values()):
            self._close(conn, notify=False)
        for sock in (self._wake_r, self._wake_w):
            sock.close()
        self._sel.close()
        super()._cleanup()


def echo_handler(conn: socket.socket) -> None:
    """Echo one client's bytes until it closes (or stays silent for the socket's timeout)."""
    while data := conn.recv(64 * 1024):
        conn.sendall(data)


class ThreadedServer(_Background):
    """A thread per client, each running ``handler(conn)`` on a blocking socket with a timeout.

    ``handler`` gets the connected socket (its timeout already set to
    ``timeout``) and returns when it is done; the server closes the socket.
    A handler that raises (a ``TimeoutError`` from an idle client, or a bug)
    ends only that client; ``errors`` counts them and ``last_error`` keeps the
    latest. Counters: ``clients`` (threads serving now), ``peak_clients``
    (the most at once), ``accepted``.
    """

    def __init__(self, handler: Callable[[socket.socket], object] = echo_handler,
                 host: str = "127.0.0.1", port: int = 0, *, timeout: float = 30.0,
                 poll_interval: float = 0.1, max_clients: int = 200) -> None:
        super().__init__(host, port, timeout, poll_interval)
        self.handler = handler
        self.max_clients = max_clients
        self._lock = threading.Lock()
        self._live: dict[threading.Thread, socket.socket] = {}
        self.accepted = 0
        self.peak_clients = 0

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._live)

    @property
    def threads(self) -> int:
        """Threads this server runs now: the accept loop plus one per client."""
        return 1 + self.clients

    def _setup(self) -> None:
        assert self._sock is not None
        self._sock.settimeout(self.poll_interval)  # the accept loop checks for stop() this often

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            with self._lock:
                if len(self._live) >= self.max_clients:
                    conn.close()
                    continue
                conn.settimeout(self.timeout)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._live[thread] = conn
                self.accepted += 1
                self.peak_clients = max(self.peak_clients, len(self._live))
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except Exception as exc:  # ends this client only; kept in last_error, never printed
            with self._lock:
                self.errors += 1
                self.last_error = exc
        finally:
            conn.close()
            with self._lock:
                self._live.pop(threading.current_thread(), None)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            live = list(self._live.items())
        for _thread, conn in live:  # wake handlers blocked in recv()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for thread, _conn in live:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self.running or any(t.is_alive() for t, _ in live):
            raise LabkitError(f"ThreadedServer: did not stop within {timeout} s")


class UdpEchoServer(_Background):
    """Echo every datagram back to its sender (one thread; ``datagrams`` counts them)."""

    _kind = socket.SOCK_DGRAM

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, poll_interval: float = 0.1) -> None:
        super().__init__(host, port, poll_interval, poll_interval)
        self.datagrams = 0
        self.sizes: list[int] = []

    def _setup(self) -> None:
        assert self._sock is not None
        self._sock.settimeout(self.poll_interval)

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                data, peer = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:  # e.g. Windows reports an earlier ICMP port unreachable here
                continue
            self.datagrams += 1
            self.sizes.append(len(data))
            try:
                self._sock.sendto(data, peer)
            except OSError:
                continue
