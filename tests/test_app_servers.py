"""Selectors, thread-per-client and UDP servers on 127.0.0.1: many clients, timeouts, clean stops."""

from __future__ import annotations

import errno
import socket
import threading

import pytest

from labkit import LabkitError, LabkitValueError
from labkit.app.servers import (
    SelectorServer,
    ThreadedServer,
    UdpEchoServer,
    make_server_socket,
)
from labkit.app.sockets import tcp_pair, wait_buffered

N_CLIENTS = 100


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_selector_server_100_concurrent_clients():
    with SelectorServer(timeout=10) as server:
        clients = [socket.create_connection(server.address, timeout=10) for _ in range(N_CLIENTS)]
        try:
            # every client connected at once; interleave their messages
            for round_ in range(3):
                for i, c in enumerate(clients):
                    c.sendall(f"client {i} round {round_};".encode())
            for i, c in enumerate(clients):
                want = "".join(f"client {i} round {r};" for r in range(3)).encode()
                assert _read_exactly(c, len(want)) == want
            assert server.clients == N_CLIENTS and server.peak_clients == N_CLIENTS
            assert server.threads == 1 and server.accepted == N_CLIENTS
        finally:
            for c in clients:
                c.close()
    assert not server.running and server.error is None


def test_selector_server_100_clients_in_100_threads():
    errors: list[BaseException] = []

    def client(server_address, i):
        try:
            with socket.create_connection(server_address, timeout=10) as c:
                msg = f"hello from {i}".encode() * (i + 1)
                c.sendall(msg)
                assert _read_exactly(c, len(msg)) == msg
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    with SelectorServer(timeout=10) as server:
        threads = [threading.Thread(target=client, args=(server.address, i)) for i in range(N_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert server.accepted == N_CLIENTS


def test_threaded_server_one_thread_per_client():
    with ThreadedServer(timeout=10) as server:
        clients = [socket.create_connection(server.address, timeout=10) for _ in range(20)]
        for i, c in enumerate(clients):
            c.sendall(b"ping %d" % i)
        for i, c in enumerate(clients):
            assert _read_exactly(c, len(b"ping %d" % i)) == b"ping %d" % i
        assert server.clients == 20 and server.threads == 21 and server.peak_clients == 20
        # stop() while all 20 clients are still connected: their threads are woken and joined
    assert server.clients == 0 and not server.running
    for c in clients:
        assert c.recv(10) == b""  # the server closed them
        c.close()


def test_stopped_server_refuses_connections():
    server = SelectorServer().start()
    address = server.address
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=2).close()


def test_idle_clients_are_dropped():
    with SelectorServer(timeout=0.2, poll_interval=0.05) as server:
        with socket.create_connection(server.address, timeout=5) as c:
            assert c.recv(10) == b""  # server closed the idle connection
    with ThreadedServer(timeout=0.2) as server:
        with socket.create_connection(server.address, timeout=5) as c:
            assert c.recv(10) == b""
        # the handler's timeout counts as that client's error, not the server's
    assert server.errors == 1 and isinstance(server.last_error, TimeoutError)


def test_back_pressure_client_that_does_not_read():
    payload = bytes(range(256)) * 8192  # 2 MiB
    with SelectorServer(max_pending=64 * 1024, timeout=10) as server:
        with socket.create_connection(server.address, timeout=10) as c:
            sender = threading.Thread(target=c.sendall, args=(payload,))
            sender.start()  # the server can only buffer 64 KiB for us: it must stop reading
            got = _read_exactly(c, len(payload))
            sender.join(10)
        assert got == payload


def test_a_failing_service_drops_only_its_client():
    class Picky:
        def connected(self, cid):
            return ()

        def received(self, cid, data):
            if data.startswith(b"bad"):
                raise ValueError("refused")
            return ((cid, data.upper()),)

        def closed(self, cid):
            return ()

    with SelectorServer(Picky()) as server:
        with socket.create_connection(server.address, timeout=5) as good, \
                socket.create_connection(server.address, timeout=5) as bad:
            bad.sendall(b"bad input")
            assert bad.recv(10) == b""
            good.sendall(b"fine")
            assert good.recv(10) == b"FINE"
        assert server.errors == 1 and str(server.last_error) == "refused"


def test_address_already_in_use():
    with SelectorServer() as first:
        port = first.address[1]
        with pytest.raises(OSError) as info:
            SelectorServer(port=port).start()
        assert info.value.errno == errno.EADDRINUSE


def test_udp_echo_including_empty_datagram():
    with UdpEchoServer() as server, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(5)
        for data in (b"one", b"", b"x" * 1000):
            c.sendto(data, server.address)
            echo, peer = c.recvfrom(2048)
            assert echo == data and peer == server.address
    assert server.sizes == [3, 0, 1000]


def test_validation():
    with pytest.raises(LabkitValueError, match="port"):
        make_server_socket(port=70000)
    with pytest.raises(LabkitValueError, match="timeout"):
        SelectorServer(timeout=0)
    with pytest.raises(LabkitError, match="not started"):
        SelectorServer().address  # noqa: B018
    server = SelectorServer().start()
    try:
        with pytest.raises(LabkitError, match="already started"):
            server.start()
    finally:
        server.stop()


def test_tcp_pair_and_wait_buffered():
    a, b = tcp_pair()
    with a, b:
        assert a.getpeername() == b.getsockname() and a.type == socket.SOCK_STREAM
        for _ in range(5):
            a.sendall(b"0123456789")
        assert wait_buffered(b, 50) >= 50
        assert b.recv(4096) == b"0123456789" * 5  # five sends, one recv
        with pytest.raises(LabkitError, match="only 0 of 1"):
            wait_buffered(b, 1, timeout=0.05)
        a.close()
        with pytest.raises(LabkitError, match="closed"):
            wait_buffered(b, 1)



def test_app_imports_no_higher_or_side_packages():
    import subprocess
    import sys

    code = ("import sys, labkit.app, labkit.app.exercises; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('labkit'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    assert "labkit.app.framing" in out
    forbidden = [m for m in out if m.split(".")[1:2] and m.split(".")[1] in ("sim", "viz", "hw", "cli")]
    assert forbidden == []
