"""Event-driven TCP servers in the simulation: on_connection / on_data / on_close, and HTTP on them."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.app.http import HttpClient, HttpEventServer, Response, static_site
from labkit.sim import Network
from labkit.sim.stacks import install_transport, socket
from labkit.transport.sockets import SocketError
from labkit.transport.tcp_connection import State, TCPConfig


def lan(seed: int = 1, send_buffer: int = 16384, **link) -> Network:
    net = Network(seed=seed)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.2.20/24", gateway="192.168.2.1")
    r = net.add_router("R1", interfaces={"eth0": "192.168.1.1/24", "eth1": "192.168.2.1/24"})
    net.connect(a, r["eth0"], delay="1ms", bandwidth="10Mbit", **link)
    net.connect(r["eth1"], b, delay="1ms", bandwidth="10Mbit")
    install_transport(net, tcp_config=TCPConfig(send_buffer=send_buffer))
    return net


def echo_server(net: Network, port: int = 7):
    events: list[tuple] = []
    listener = socket(net["B"])
    listener.bind(("0.0.0.0", port))
    listener.listen()

    def connected(sock, peer):
        events.append(("connection", peer))
        sock.on_data(lambda data: (events.append(("data", len(data))), sock.sendall(data)))
        sock.on_close(lambda: (events.append(("close",)), sock.close()))

    listener.on_connection(connected)
    return listener, events


def test_event_driven_echo_is_byte_exact_through_loss_and_a_full_send_buffer():
    net = lan(loss=0.03)
    listener, events = echo_server(net)
    client = socket(net["A"])
    client.connect(("192.168.2.20", 7))
    data = np.random.default_rng(3).integers(0, 256, 100_000, dtype=np.uint8).tobytes()
    client.sendall(data)  # larger than both send buffers: the server's echo has to wait
    got = bytearray()
    while len(got) < len(data):
        got += client.recv(65536)
    assert got == data
    assert events[0] == ("connection", client.getsockname())
    assert sum(n for kind, *n in events if kind == "data" for n in n) == len(data)
    client.close()
    net.run_for("2s")
    assert client._conn.state is State.TIME_WAIT  # the server's on_close closed its side too
    assert events[-1] == ("close",) and events.count(("close",)) == 1
    net.run(until="400s")
    assert not net["B"].transport.connections
    assert client._conn.retransmissions > 0


def test_data_sent_with_the_handshake_and_a_queued_connection_are_handed_over():
    net = lan()
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()
    client = socket(net["A"])
    client.connect(("192.168.2.20", 80))  # queued for accept: no handler yet
    client.sendall(b"early bytes")
    net.run_for("50ms")
    seen = []

    def connected(sock, peer):
        sock.on_data(seen.append)

    listener.on_connection(connected)
    assert seen == [b"early bytes"]
    with pytest.raises(SocketError, match="on_connection"):
        listener.accept()


def test_on_close_reports_a_reset_once():
    net = lan()
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()
    closed, conns = [], []

    def connected(sock, peer):
        conns.append(sock)
        sock.on_close(lambda: closed.append(sock._conn.error))

    listener.on_connection(connected)
    client = socket(net["A"])
    client.connect(("192.168.2.20", 80))
    client._conn.abort(net.now)
    net["A"].transport._flush(client._conn)
    net.run_for("50ms")
    assert len(closed) == 1 and isinstance(closed[0], ConnectionResetError)
    assert conns[0]._conn.state is State.CLOSED


def test_close_in_event_mode_sends_the_fin_after_the_waiting_bytes():
    net = lan()
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()
    big = bytes(range(256)) * 400  # 100 kB: far more than the 16 kB send buffer

    def connected(sock, peer):
        sock.sendall(big)
        sock.close()
        assert sock._out  # still waiting for room, not lost

    listener.on_connection(connected)
    client = socket(net["A"])
    client.connect(("192.168.2.20", 80))
    got = bytearray()
    while chunk := client.recv(65536):
        got += chunk
    assert got == big


def test_callbacks_refuse_wrong_sockets():
    net = lan()
    s = socket(net["B"])
    with pytest.raises(SocketError, match="listening"):
        s.on_connection(lambda sock, peer: None)
    with pytest.raises(SocketError, match="not connected"):
        s.on_data(print)


def test_http_over_simulated_tcp_with_keep_alive_and_the_codec_of_real_sockets():
    net = lan(loss=0.02, seed=4)
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()
    page = "<h1>hello</h1>" * 500  # 7 kB: several segments
    server = HttpEventServer(listener, static_site({"/": page}))
    client_sock = socket(net["A"])
    client_sock.connect(("192.168.2.20", 80))
    client = HttpClient(client_sock, host="192.168.2.20")
    first = client.get("/")
    second = client.get("/missing")
    assert first.status == 200 and first.text == page
    assert second.status == 404 and client.open  # the same connection, kept alive
    last = client.request("GET", "/", headers=[("Connection", "close")])
    assert last.status == 200 and not client.open
    assert client_sock.recv(10) == b""  # the server closed after the last reply
    assert [s for _, _, s in server.log] == [200, 404, 200]
    assert server.served == 3 and len(server.connections) == 1


def test_http_event_server_answers_bad_requests_and_handler_bugs():
    net = lan()
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()

    def handler(request):
        if request.target == "/boom":
            raise RuntimeError("bug")
        return Response(200, body=b"ok")

    server = HttpEventServer(listener, handler)
    for raw, status in ((b"GET /boom HTTP/1.0\r\n\r\n", b"500"),
                        (b"GET / HTTP/1.1\r\n\r\n", b"400"),  # no Host header
                        (b"GET / HTTP/1.0\r\nContent-Length: 99999999999\r\n\r\n", b"413")):
        sock = socket(net["A"])
        sock.connect(("192.168.2.20", 80))
        for i in range(0, len(raw), 5):  # in pieces: the server waits for the rest
            sock.sendall(raw[i:i + 5])
            net.run_for("5ms")
        reply = bytearray()
        while chunk := sock.recv(4096):
            reply += chunk
        assert reply[9:12] == status, reply
        sock.close()
    assert [s for _, _, s in server.log] == [500, 400, 413]


def test_a_slow_sender_costs_one_parse_per_request_not_one_per_byte():
    net = lan()
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()
    server = HttpEventServer(listener, lambda request: Response(200, body=request.body[::-1]))
    sock = socket(net["A"])
    sock.connect(("192.168.2.20", 80))
    body = b"0123456789" * 30
    raw = (b"POST /echo HTTP/1.1\r\nHost: b\r\ncontent-length: %d\r\n\r\n" % len(body)) + body
    for i in range(0, len(raw), 3):  # 3 bytes per segment, ~120 segments
        sock.sendall(raw[i:i + 3])
        net.run_for("3ms")
    client = HttpClient(sock, host="b")
    sock.sendall(raw)  # a second request on the same connection, all at once
    first = client._reader.read_response("POST")
    second = client._reader.read_response("POST")
    assert first.body == second.body == body[::-1]
    (conn,) = server.connections
    assert conn.parses == 2


def test_event_server_and_blocking_server_answer_byte_for_byte_alike():
    """The same requests to serve_connection on a real socket pair and to HttpEventServer."""
    import socket as real
    import threading

    from labkit.app.http import serve_connection

    site = static_site({"/": "<p>same</p>", "/a": "A" * 3000})
    raw = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
           b"HEAD /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
           b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
           b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    a, b = real.socketpair()
    with a, b:
        a.settimeout(5)
        b.settimeout(5)
        worker = threading.Thread(target=lambda: (serve_connection(b, site), b.shutdown(
            real.SHUT_WR)))
        worker.start()
        a.sendall(raw)
        blocking = bytearray()
        while chunk := a.recv(65536):
            blocking += chunk
        worker.join(5)

    net = lan()
    listener = socket(net["B"])
    listener.bind(("", 80))
    listener.listen()
    HttpEventServer(listener, site)
    sock = socket(net["A"])
    sock.connect(("192.168.2.20", 80))
    sock.sendall(raw)
    simulated = bytearray()
    while chunk := sock.recv(65536):
        simulated += chunk
    assert simulated == blocking
    assert simulated.count(b"HTTP/1.1 ") == 4 and b"404 Not Found" in simulated
