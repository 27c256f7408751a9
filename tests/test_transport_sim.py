"""TCP and UDP sockets across labkit.sim: every layer from sockets down to Ethernet frames."""

from __future__ import annotations

import numpy as np
import pytest

from labkit.net.icmp import ICMPMessage, Unreachable
from labkit.net.ipv4 import IPv4Packet
from labkit.sim import Network
from labkit.sim.stacks import install_transport, socket
from labkit.transport.sockets import SOCK_DGRAM
from labkit.transport.tcp_connection import State


def lan(seed: int = 1, **link) -> Network:
    net = Network(seed=seed)
    a = net.add_host("A", ip="192.168.1.10/24", gateway="192.168.1.1")
    b = net.add_host("B", ip="192.168.2.20/24", gateway="192.168.2.1")
    r = net.add_router("R1", interfaces={"eth0": "192.168.1.1/24", "eth1": "192.168.2.1/24"})
    net.connect(a, r["eth0"], delay="1ms", bandwidth="100Mbit", **link)
    net.connect(r["eth1"], b, delay="1ms", bandwidth="100Mbit")
    install_transport(net)
    return net


def test_tcp_across_a_router_with_loss_is_byte_exact():
    net = lan(loss=0.05)
    server = socket(net["B"])
    server.bind(("0.0.0.0", 8080))
    server.listen()
    client = socket(net["A"])
    client.connect(("192.168.2.20", 8080))
    conn, peer = server.accept()
    assert peer[0] == "192.168.1.10"
    data = np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    client.sendall(data)
    client.close()
    got = bytearray()
    while chunk := conn.recv(4096):
        got += chunk
    assert got == data
    assert client._conn.retransmissions > 0  # the loss was real, and TCP repaired it
    conn.close()
    net.run(until="200s")
    assert client._conn.state is State.CLOSED and conn._conn.state is State.CLOSED


def test_same_seed_same_run():
    def run(seed):
        net = lan(seed=seed, loss=0.05)
        server = socket(net["B"])
        server.bind(("", 80))
        server.listen()
        client = socket(net["A"])
        client.connect(("192.168.2.20", 80))
        conn, _ = server.accept()
        client.sendall(bytes(50_000))
        received = 0
        while received < 50_000:
            received += len(conn.recv(65536))
        return net.now, client.getsockname(), client._conn.iss, client._conn.retransmissions

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_refused_and_port_unreachable_on_the_sim():
    net = lan()
    with pytest.raises(ConnectionRefusedError):
        socket(net["A"]).connect(("192.168.2.20", 9))
    seen = []
    net["A"].stack.icmp_listeners.append(lambda packet, msg, now: seen.append(msg))
    udp = socket(net["A"], SOCK_DGRAM)
    udp.sendto(b"anyone?", ("192.168.2.20", 9))
    net.run(until=f"{net.now + 50_000_000}ns")
    (msg,) = seen
    assert msg.code == Unreachable.PORT and isinstance(msg.original, IPv4Packet)
    assert isinstance(msg, ICMPMessage)
    # RFC 792: the IP header and the first 8 bytes after it, which for UDP is its whole
    # header: the ports that tell the sender which socket the error is about (notebook 06)
    assert len(msg.data) == 20 + 8
    assert msg.data[20:22] == udp.getsockname()[1].to_bytes(2, "big")
    assert msg.data[22:24] == (9).to_bytes(2, "big")
    assert msg.data[24:26] == (8 + len(b"anyone?")).to_bytes(2, "big")


def test_udp_request_reply_across_the_router():
    net = lan()
    server = socket(net["B"], SOCK_DGRAM)
    server.bind(("", 53))
    client = socket(net["A"], SOCK_DGRAM)
    client.settimeout(1.0)
    client.sendto(b"query", ("192.168.2.20", 53))
    data, sender = server.recvfrom(512)
    server.sendto(data.upper(), sender)
    assert client.recvfrom(512) == (b"QUERY", ("192.168.2.20", 53))


def test_transport_exercise_checks():
    from labkit.exercises import evaluate

    def request(sock, data, server, retries):
        for _ in range(retries):
            sock.sendto(data, server)
            try:
                while True:
                    reply, sender = sock.recvfrom(1024)
                    if reply == data.upper():
                        return reply
            except TimeoutError:
                continue
        raise TimeoutError("no reply")

    def naive(sock, data, server, retries):
        sock.sendto(data, server)
        return sock.recvfrom(1024)[0]

    assert evaluate("udp.reliable_request", request)
    assert "retry" in evaluate("udp.reliable_request", naive).message
    assert evaluate("tcp.seq_ack", (7001, 1151))
    assert "SYN uses one" in evaluate("tcp.seq_ack", (7001, 1150)).message
    assert evaluate("udp.max_payload", 65535 - 24 - 8)


def test_max_payload_names_each_slip_by_what_the_student_left_out():
    from labkit.exercises import evaluate

    # each slip has its own number, and its own diagnosis
    slips = {65535 - 20 - 8: "plain 20-byte", 65535 - 24: "UDP's own 8-byte header",
             65535 - 20: "fixed 20-byte IPv4 header only", 65535 - 4 - 8: "fixed 20 bytes come first",
             65535 - 8: "UDP's own 16-bit length", 65535: "largest IPv4 packet",
             65535 - 28 - 8: "8 bytes of options"}
    messages = set()
    for answer, diagnosis in slips.items():
        result = evaluate("udp.max_payload", answer)
        assert not result and diagnosis in result.message, (answer, result.message)
        messages.add(result.message)
    assert len(messages) == len(slips)
    assert "not it" in evaluate("udp.max_payload", 1000).message
    assert "an int" in evaluate("udp.max_payload", "65503").message


def test_udp_checksum_exercise_accepts_a_correct_answer_only():
    from labkit.exercises import evaluate
    from labkit.net.checksum import internet_checksum

    def by_hand(src, dst, sport, dport, payload):
        length = 8 + len(payload)
        pseudo = src.packed + dst.packed + bytes([0, 17]) + length.to_bytes(2, "big")
        header = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + length.to_bytes(2, "big")
        return internet_checksum(pseudo + header + b"\0\0" + payload) or 0xFFFF

    assert evaluate("udp.checksum", by_hand)
    no_pseudo = lambda s, d, sp, dp, p: by_hand(s, d, sp, dp, p) ^ 1  # noqa: E731
    assert "pseudo-header" in evaluate("udp.checksum", no_pseudo).message
    # a computed 0 must go out as 0xFFFF (RFC 768): one datagram in the checker sums to 0
    no_fffe = lambda s, d, sp, dp, p: by_hand(s, d, sp, dp, p) % 0xFFFF  # noqa: E731
    result = evaluate("udp.checksum", no_fffe)
    assert not result and "'no checksum computed'" in result.message


def test_the_checkers_zero_sum_datagram_really_sums_to_zero():
    from labkit.exercises.transport import _DST, _SRC, _ZERO_SUM_PAYLOAD
    from labkit.net.checksum import internet_checksum
    from labkit.transport import UDPDatagram

    raw = UDPDatagram(1000, 2000, _ZERO_SUM_PAYLOAD).pack(_SRC, _DST)
    pseudo = _SRC.packed + _DST.packed + bytes([0, 17]) + len(raw).to_bytes(2, "big")
    assert internet_checksum(pseudo + raw[:6] + b"\0\0" + raw[8:]) == 0
    assert raw[6:8] == b"\xff\xff"


def test_event_mode_sendall_hands_the_connection_only_what_fits():
    """Socket._push_out copied its whole backlog on every push (a quadratic sendall)."""
    from labkit.transport.tcp_connection import TCPConfig

    net = Network(seed=3)
    a = net.add_host("A", ip="10.0.0.1/24")
    b = net.add_host("B", ip="10.0.0.2/24")
    net.connect(a, b, delay="1ms", bandwidth="100Mbit")
    install_transport(net, tcp_config=TCPConfig.basic(send_buffer=64 << 10))
    server = socket(net["B"])
    server.bind(("0.0.0.0", 9))
    server.listen()
    client = socket(net["A"])
    client.connect(("10.0.0.2", 9))
    conn, _ = server.accept()
    tcp = client._conn
    offered: list[int] = []
    send = tcp.send

    def recording_send(data: bytes, now: int) -> int:
        offered.append(len(data))
        return send(data, now)

    tcp.send = recording_send
    client.on_data(lambda data: None)  # event mode: sendall keeps what does not fit
    payload = np.random.default_rng(2).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes()
    client.sendall(payload)
    client.close()
    got = bytearray()
    while chunk := conn.recv(65536):
        got += chunk
    assert bytes(got) == payload
    assert len(offered) > 16 and max(offered) <= 64 << 10
