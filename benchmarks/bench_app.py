"""labkit.app speeds, as ratios measured in one run on the same machine.

1. Framing: :class:`MessageDecoder` on 200,000 messages of 64 bytes fed in
   4 KiB and in 64 KiB chunks, against a naive decoder that keeps the buffer as ``bytes``
   and re-slices it for every message (what a first attempt looks like).
2. ``send_msg``/``recv_msg`` over a Unix socket pair against ``sendall``/``recv``
   of the same bytes with no framing (the cost of the framing itself).
3. HTTP: ``Request.parse`` against the standard library's request-header
   parser (``http.client.parse_headers`` after reading the request line), on
   a typical browser-like GET.
4. Echo servers on 127.0.0.1: 32 clients each doing 300 round trips of 64
   bytes, against ``SelectorServer`` (one thread) and ``ThreadedServer`` (a
   thread per client).

Run: ``python benchmarks/bench_app.py``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from http.client import parse_headers

from labkit.app import SelectorServer, ThreadedServer, recv_msg, send_msg
from labkit.app.framing import MessageDecoder, pack_msg
from labkit.app.http import Request


def rate(func, n, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return n / best


def decode(chunks):
    decoder = MessageDecoder()
    return [m for chunk in chunks for m in decoder.feed(chunk)]


def naive_decode(chunks):
    buffer = b""
    out = []
    for chunk in chunks:
        buffer = buffer + chunk
        while len(buffer) >= 4:
            (n,) = struct.unpack("!I", buffer[:4])
            if len(buffer) < 4 + n:
                break
            out.append(buffer[4 : 4 + n])
            buffer = buffer[4 + n :]
    return out


def bench_framing():
    n = 200_000
    stream = b"".join(pack_msg(bytes(64)) for _ in range(n))
    for size in (4096, 65536):
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        ours = rate(lambda: decode(chunks), n)  # noqa: B023
        naive = rate(lambda: naive_decode(chunks), n)  # noqa: B023
        print(f"{size // 1024:2d} KiB chunks: MessageDecoder {ours:10,.0f} msg/s   naive bytes decoder "
              f"{naive:10,.0f} msg/s   ratio {ours / naive:.2f}")


def bench_socket_framing():
    n = 20_000
    payload = bytes(64)
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)

    def framed():
        t = threading.Thread(target=lambda: [send_msg(a, payload) for _ in range(n)])
        t.start()
        for _ in range(n):
            recv_msg(b)
        t.join()

    def raw():
        blob = payload * n
        t = threading.Thread(target=lambda: [a.sendall(payload) for _ in range(n)])
        t.start()
        got = 0
        while got < len(blob):
            got += len(b.recv(65536))
        t.join()

    f = rate(framed, n)
    r = rate(raw, n)
    a.close()
    b.close()
    print(f"send_msg/recv_msg: {f:10,.0f} msg/s   unframed sendall/recv: {r:10,.0f} msg/s   "
          f"ratio {f / r:.2f}")


REQUEST = (b"GET /index.html?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0\r\n"
           b"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en\r\n"
           b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n")


def stdlib_parse(data):
    f = io.BytesIO(data)
    method, target, version = f.readline().decode("latin-1").rstrip("\r\n").split(" ")
    return method, target, version, parse_headers(f)


def bench_http():
    n = 20_000
    ours = rate(lambda: [Request.parse(REQUEST) for _ in range(n)], n)
    std = rate(lambda: [stdlib_parse(REQUEST) for _ in range(n)], n)
    print(f"Request.parse: {ours:10,.0f} req/s   http.client.parse_headers: {std:10,.0f} req/s   "
          f"ratio {ours / std:.2f}")


def echo_load(server, clients=32, trips=300):
    errors = []

    def client():
        try:
            with socket.create_connection(server.address, timeout=10) as c:
                msg = bytes(64)
                for _ in range(trips):
                    c.sendall(msg)
                    got = 0
                    while got < 64:
                        got += len(c.recv(64 - got))
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(errors[0])
    return clients * trips / elapsed


def bench_servers():
    with SelectorServer(timeout=30) as s:
        sel = echo_load(s)
    with ThreadedServer(timeout=30) as s:
        thr = echo_load(s)
    print(f"echo round trips, 32 clients: SelectorServer {sel:8,.0f}/s   ThreadedServer {thr:8,.0f}/s   "
          f"ratio {sel / thr:.2f}")


if __name__ == "__main__":
    bench_framing()
    bench_socket_framing()
    bench_http()
    bench_servers()
