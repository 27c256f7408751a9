"""Small helpers for lessons on real sockets: a loopback TCP pair, waiting for buffered bytes.

Both are for demonstrations that must give the same result on every run: a
lesson about what ``recv`` returns cannot depend on how fast the kernel
happened to move the bytes, so :func:`wait_buffered` first waits until the
receiving kernel holds a known number of bytes (``MSG_PEEK`` looks without
taking them).
"""

from __future__ import annotations

import socket
import time

from labkit.app.servers import make_server_socket
from labkit.errors import LabkitError, LabkitValueError

__all__ = ["tcp_pair", "wait_buffered"]


def tcp_pair(timeout: float = 5.0) -> tuple[socket.socket, socket.socket]:
    """A connected pair of real TCP sockets over 127.0.0.1: ``(client, server_side)``.

    Unlike ``socket.socketpair()`` (a Unix-domain pair on Linux and macOS),
    these go through the kernel's TCP. Both have ``timeout`` set.
    """
    if not (isinstance(timeout, int | float) and timeout > 0):
        raise LabkitValueError(f"timeout={timeout!r}: expected a number of seconds > 0")
    with make_server_socket("127.0.0.1", 0, backlog=1) as listener:
        listener.settimeout(timeout)
        client = socket.create_connection(listener.getsockname(), timeout=timeout)
        try:
            server_side, _ = listener.accept()
        except BaseException:
            client.close()
            raise
    server_side.settimeout(timeout)
    return client, server_side


def wait_buffered(sock: socket.socket, nbytes: int, timeout: float = 5.0) -> int:
    """Wait until ``sock``'s kernel receive buffer holds at least ``nbytes``; return how many.

    Nothing is consumed (``MSG_PEEK``). Raises ``LabkitError`` if the bytes
    have not all arrived after ``timeout`` seconds.
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise LabkitValueError(f"nbytes={nbytes!r}: expected an int >= 1")
    previous = sock.gettimeout()
    deadline = time.monotonic() + timeout
    have = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabkitError(f"wait_buffered: only {have} of {nbytes} bytes arrived "
                                  f"within {timeout} s")
            sock.settimeout(remaining)
            try:
                have = len(sock.recv(max(nbytes, 65536), socket.MSG_PEEK))
            except TimeoutError:
                continue
            if have >= nbytes:
                return have
            if have == 0:
                raise LabkitError("wait_buffered: the peer closed the connection")
            time.sleep(0.001)  # part has arrived: let the rest come
    finally:
        sock.settimeout(previous)
