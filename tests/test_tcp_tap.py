"""labkit's TCP and the Linux kernel's, through labkit.tap, in a network namespace of the test's own.

The kernel (a Python client in the namespace) and a labkit host behind a TAP
device (this file run as a script in the namespace: ``peer`` below) agree on
window scaling, SACK and timestamps, which a tshark capture of the handshake
shows, and move 16 MiB each way byte-exact: the kernel sends, labkit checks
and sends 16 MiB back. With loss on labkit's side of the TAP, the kernel's
SACK blocks reach labkit's sender and are used.

Needs root, /dev/net/tun, ``ip`` and ``tshark``; skipped (with the reason)
elsewhere, as tests/test_tap_netns.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from test_tap_netns import namespace, needs_netns, run, start_peer, unavailable

SIZE = 16 << 20
PORT = 5001
HERE = Path(__file__).resolve()


def pattern(size: int, seed: int) -> bytes:
    """Deterministic bytes both sides can make (and check) without sending them around."""
    import numpy as np
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def peer(loss: float, seconds: float) -> None:
    """The labkit side: a host behind TAP lk0; takes SIZE bytes, answers with SIZE of its own."""
    from labkit.sim import Network
    from labkit.sim.stacks import install_transport, socket
    from labkit.tap import TapBridge

    net = Network(seed=1)
    host = net.add_host("L", ip="10.99.0.2/24")
    bridge = TapBridge(net, host, name="lk0", loss=loss)
    install_transport(net)
    server = socket(host)
    server.bind(("", PORT))
    server.listen()
    state: dict = {"got": 0, "sha": hashlib.sha256(), "done": False, "conn": None}
    reply = pattern(SIZE, 2)

    def connected(sock, _peer):
        state["conn"] = sock._conn

        def data(chunk: bytes) -> None:
            state["got"] += len(chunk)
            state["sha"].update(chunk)

        def closed() -> None:
            sock.sendall(reply)
            sock.close()
            state["done"] = True

        sock.on_data(data)
        sock.on_close(closed)

    server.on_connection(connected)
    print("ready lk0", flush=True)
    with bridge:
        bridge.run(seconds, until=lambda: state["done"] and state["conn"].state.value in (
            "CLOSED", "TIME-WAIT", "LAST-ACK") and not state["conn"].unacked)
        bridge.run(1.0)  # the last ACKs
    conn = state["conn"]
    print(json.dumps({
        "got": state["got"], "sha": state["sha"].hexdigest(),
        "window_scaling": conn.window_scaling, "sack": conn.sack, "timestamps": conn.timestamps,
        "sacked_bytes": conn.sacked_bytes, "retransmissions": conn.retransmissions,
        "state": conn.state.value, "error": str(conn.error) if conn.error else None,
    }), flush=True)


CLIENT = f"""
import hashlib, socket, sys
sys.path.insert(0, {str(HERE.parent)!r})
from test_tcp_tap import pattern, SIZE, PORT
s = socket.create_connection(("10.99.0.2", PORT), timeout=60)
s.sendall(pattern(SIZE, 1))
s.shutdown(socket.SHUT_WR)
sha, n = hashlib.sha256(), 0
while chunk := s.recv(1 << 20):
    sha.update(chunk); n += len(chunk)
print(n, sha.hexdigest() == hashlib.sha256(pattern(SIZE, 2)).hexdigest())
"""


def _exchange(loss: float) -> tuple[dict, str, str]:
    """Run the peer, a capture and the kernel's client in a fresh namespace."""
    if shutil.which("tshark") is None:
        unavailable("tshark is not installed")
    with namespace() as ns:
        proc = start_peer(ns, HERE, "peer", str(loss), "240")
        pcap = f"/tmp/{ns}.pcap"
        try:
            cap = subprocess.Popen(["ip", "netns", "exec", ns, "tshark", "-q", "-i", "lk0", "-s", "128",
                                    "-w", pcap, "-f", f"tcp port {PORT}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for _ in range(100):  # wait until tshark is capturing
                if cap.stderr and "Capturing on" in (cap.stderr.readline() or ""):
                    break
            client = run("ip", "netns", "exec", ns, sys.executable, "-c", CLIENT, timeout=300)
            out, err = proc.communicate(timeout=300)
            cap.terminate()
            cap.wait(timeout=20)
            result = json.loads(out.strip().splitlines()[-1])
            fields = run("tshark", "-r", pcap, "-T", "fields", "-E", "separator=;",
                         "-e", "ip.src", "-e", "tcp.flags.syn", "-e", "tcp.options.wscale.shift",
                         "-e", "tcp.options.sack_perm", "-e", "tcp.options.timestamp.tsval",
                         "-e", "tcp.options.sack_le", timeout=120).stdout
            return result, client.stdout + client.stderr, fields
        finally:
            if proc.poll() is None:
                proc.kill()
            if os.path.exists(pcap):
                os.remove(pcap)


def _check(result: dict, client: str, fields: str) -> list[list[str]]:
    assert client.split() == [str(SIZE), "True"], client  # labkit -> kernel: 16 MiB, byte-exact
    assert result["got"] == SIZE, result  # kernel -> labkit
    assert result["sha"] == hashlib.sha256(pattern(SIZE, 1)).hexdigest()
    assert result["error"] is None, result
    assert result["window_scaling"] and result["sack"] and result["timestamps"], result
    rows = [line.split(";") for line in fields.splitlines() if line]
    syns = [r for r in rows if r[1] in ("1", "True")]
    assert len(syns) >= 2, rows[:4]
    for src, _, shift, sack_perm, tsval, _ in syns[:2]:  # SYN (kernel) and SYN,ACK (labkit)
        assert shift and sack_perm and tsval, (src, shift, sack_perm, tsval)
    assert {syns[0][0], syns[1][0]} == {"10.99.0.1", "10.99.0.2"}
    return rows


@needs_netns
def test_kernel_and_labkit_agree_on_ws_sack_ts_and_move_16_mib_each_way():
    result, client, fields = _exchange(loss=0.0)
    _check(result, client, fields)


@needs_netns
def test_kernel_sack_blocks_reach_labkit_and_are_used():
    result, client, fields = _exchange(loss=0.01)
    rows = _check(result, client, fields)
    kernel_sacks = [r for r in rows if r[0] == "10.99.0.1" and r[5]]
    assert kernel_sacks, "the kernel sent no SACK block"
    assert result["sacked_bytes"] > 0 and result["retransmissions"] > 0, result


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "peer":
    peer(float(sys.argv[2]), float(sys.argv[3]))
