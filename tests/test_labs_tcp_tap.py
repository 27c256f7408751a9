"""The TCP lab's optional part: the learner's TCP parts serve a page to the kernel's curl.

A labkit host behind a TAP device (this file run as a script in a network namespace of the
test's own: ``peer`` below) runs the lab's reference parts (course/labs/solutions/L4.py:
ByteStream, Reassembler, TCPReceiver, TCPSender, joined by labkit's connection) and a small
HTTP server on them; the Linux kernel's TCP, through ``curl`` in the namespace, fetches a
100 kB page and must get it byte for byte.

Needs root, /dev/net/tun, ``ip`` and ``curl``; skipped (with the reason) elsewhere, as
tests/test_tap_netns.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from test_tap_netns import namespace, needs_netns, start_peer, unavailable

PORT = 8080
HERE = Path(__file__).resolve()
PAGE = b"".join(b"<p>line %05d of the TCP lab's page</p>\n" % i for i in range(2500))


def peer(seconds: float) -> None:
    """The labkit side: the learner's parts behind TAP lk0, serving PAGE once over HTTP/1.1."""
    from labkit.labs import tcp
    from labkit.labs.wrong import solution
    from labkit.sim import Network
    from labkit.sim.stacks import install_transport, socket
    from labkit.tap import TapBridge
    from labkit.transport.tcp_connection import TCPConfig, TCPConnection

    ns: dict = {}
    exec(compile(solution("L4-tcp"), "L4 reference", "exec"), ns)
    parts = tcp.parts_config(ns["TCPReceiver"], ns["TCPSender"], ns["Reassembler"],
                             ns["ByteStream"], graded=False,
                             congestion=TCPConfig.basic().congestion)

    def make(lp, rp, *, iss, config, name):
        return TCPConnection(lp, rp, iss=iss, config=parts, name=name)

    net = Network(seed=1)
    host = net.add_host("L", ip="10.99.0.2/24", tcp=make)
    bridge = TapBridge(net, host, name="lk0")
    install_transport(net)
    server = socket(host)
    server.bind(("", PORT))
    server.listen()
    state: dict = {"served": 0, "conn": None, "request": b""}

    def connected(sock, _peer):
        state["conn"] = sock._conn
        buf = bytearray()

        def data(chunk: bytes) -> None:
            buf.extend(chunk)
            if b"\r\n\r\n" in buf and not state["served"]:
                state["request"] = bytes(buf).split(b"\r\n")[0]
                head = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n"
                        b"Connection: close\r\n\r\n" % len(PAGE))
                sock.sendall(head + PAGE)
                sock.close()
                state["served"] += 1

        sock.on_data(data)
        sock.on_close(lambda: None)

    server.on_connection(connected)
    print("ready lk0", flush=True)
    with bridge:
        bridge.run(seconds, until=lambda: state["served"] and not state["conn"].unacked)
        bridge.run(1.0)  # the last ACKs
    conn = state["conn"]
    print(json.dumps({
        "served": state["served"], "request": state["request"].decode(errors="replace"),
        "halves": [type(conn.tx).__name__, type(conn.rx).__name__] if conn else None,
        "error": str(conn.error) if conn is not None and conn.error else None,
    }), flush=True)


@needs_netns
def test_the_learners_tcp_serves_a_page_to_the_kernels_curl():
    if shutil.which("curl") is None:
        unavailable("curl is not installed")
    with namespace() as ns:
        proc = start_peer(ns, HERE, "peer", "60")
        try:
            got = subprocess.run(
                ["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "40",
                 f"http://10.99.0.2:{PORT}/lab4"], capture_output=True, timeout=60)
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    result = json.loads(out.strip().splitlines()[-1])
    assert result["halves"] == ["PartsSender", "PartsReceiver"], result  # the learner's parts
    assert result["served"] == 1 and result["error"] is None, (result, err[-2000:])
    assert result["request"] == "GET /lab4 HTTP/1.1", result
    assert got.returncode == 0, got.stderr
    assert len(got.stdout) == len(PAGE)
    assert hashlib.sha256(got.stdout).digest() == hashlib.sha256(PAGE).digest()


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "peer":
    peer(float(sys.argv[2]))
