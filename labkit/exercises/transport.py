"""Exercise checks for notebooks 06 (UDP) and 07 (TCP); see :mod:`labkit.exercises`.

They live here, beside the check machinery, rather than in labkit.transport,
because some build a small simulated network, and no layer imports the simulator.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any

import numpy as np

from labkit.exercises import ExerciseResult, exercise
from labkit.transport.tcp_connection import TCPConfig
from labkit.transport.udp import UDPDatagram

_SRC, _DST = IPv4Address("192.168.1.10"), IPv4Address("192.168.2.20")


@exercise("udp.checksum")
def _udp_checksum(answer: Any) -> ExerciseResult:
    """answer(src, dst, sport, dport, payload) -> the UDP checksum as an int."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., udp_checksum)")
    rng = np.random.default_rng(6)
    cases = [(1234, 53, b""), (40000, 80, b"odd"), (5, 6, bytes(rng.integers(0, 256, 101))),
             (1000, 2000, _ZERO_SUM_PAYLOAD)]
    for sport, dport, payload in cases:
        raw = UDPDatagram(sport, dport, payload).pack(_SRC, _DST)
        want = int.from_bytes(raw[6:8], "big")
        got = answer(_SRC, _DST, sport, dport, payload)
        if got != want:
            if got == 0 and want == 0xFFFF:
                return ExerciseResult(False, "for this datagram the sum inverts to 0, and 0 in "
                                             "the checksum field means 'no checksum computed' "
                                             "(RFC 768): what does a sender put there instead?")
            hint = ("Remember the pseudo-header (source, destination, zero, protocol 17, UDP "
                    "length) in front, the checksum field as zero while summing, a zero byte "
                    "after an odd-length payload, end-around carries, and the final inversion.")
            return ExerciseResult(False, f"for {len(payload)} payload bytes you gave {got!r}, "
                                         f"expected {want:#06x}. {hint}")
    return ExerciseResult(True, "your UDP checksum matches labkit's on every datagram tried")


def _zero_sum_payload() -> bytes:
    """Two bytes after which the ones' complement sum is 0xFFFF, so the checksum computes to 0."""
    from labkit.net.checksum import ones_complement_sum

    pseudo = _SRC.packed + _DST.packed + bytes([0, 17]) + (10).to_bytes(2, "big")
    header = (1000).to_bytes(2, "big") + (2000).to_bytes(2, "big") + (10).to_bytes(2, "big")
    partial = ones_complement_sum(pseudo + header + b"\x00\x00")
    return (0xFFFF - partial).to_bytes(2, "big")  # ones' complement: partial + this = 0xFFFF


#: A payload whose UDP checksum computes to 0 with the ports 1000 -> 2000 (sent as 0xFFFF).
_ZERO_SUM_PAYLOAD = _zero_sum_payload()

#: The IPv4 header of the max_payload exercise: 20 bytes and a 4-byte option (IHL = 6), the
#: Router Alert of RFC 2113.
_IP_HEADER = 24


@exercise("udp.max_payload")
def _max_payload(answer: Any) -> ExerciseResult:
    """The largest UDP payload in one IPv4 packet whose header carries a 4-byte option.

    Each usual slip gives its own number, and gets the hint about that slip. (With 8 bytes
    of options, 65,535 - 28 would be both "forgot the options" and "forgot UDP's header";
    with 4 bytes every slip lands on a different value.)
    """
    want = 65535 - _IP_HEADER - 8
    if isinstance(answer, bool) or not isinstance(answer, int):
        return ExerciseResult(False, f"give a number of bytes (an int), not {answer!r}")
    if answer == want:
        return ExerciseResult(True, f"{want:,}: 65,535 minus a {_IP_HEADER}-byte IPv4 header "
                                    "minus 8 for UDP's header")
    slips = {
        65535 - 20 - 8: "this is the answer for a plain 20-byte IPv4 header: this one carries a "
                        "4-byte option as well",
        65535 - 28 - 8: "this would be right for 8 bytes of options; this header has 4",
        65535 - _IP_HEADER: "you took off the IPv4 header, option included, but UDP's own "
                            "8-byte header travels inside the IP packet too",
        65535 - 20: "you took off the fixed 20-byte IPv4 header only: the option is part of the "
                    "IP header, and UDP's 8-byte header is inside the packet as well",
        65535 - 4 - 8: "the option is not the whole IP header: the fixed 20 bytes come first",
        65535 - 8: "65,527 is what UDP's own 16-bit length field allows; the datagram must also "
                   "fit in one IPv4 packet, whose total length counts the IP header",
        65535: "65,535 is the largest IPv4 packet, headers included",
    }
    if answer in slips:
        return ExerciseResult(False, f"{answer:,}: {slips[answer]}")
    return ExerciseResult(False, f"{answer:,} is not it: the IPv4 total length (16 bits) counts "
                                 "the IP header, options included, the UDP header and the data")


@exercise("udp.reliable_request")
def _reliable_request(answer: Any) -> ExerciseResult:
    """answer(sock, request, server, retries) sends, waits with the socket's timeout, retries."""
    from labkit.sim import Loss, Network
    from labkit.sim.stacks import install_transport, socket
    from labkit.transport.sockets import SOCK_DGRAM

    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., request)")
    net = Network(seed=11)
    a = net.add_host("A", ip="10.0.0.1/24")
    b = net.add_host("B", ip="10.0.0.2/24")
    net.connect(a, b, delay="5ms")
    install_transport(net)
    server = socket(b, SOCK_DGRAM)
    server.bind(("", 7))
    server.on_datagram(lambda data, sender: server.sendto(data.upper(), sender))
    client = socket(a, SOCK_DGRAM)
    client.settimeout(0.1)
    client.sendto(b"warm-up", ("10.0.0.2", 7))  # ARP first, on a clean link
    client.recvfrom(100)
    net.impair(a, b, Loss(0.4))
    net.impair(b, a, Loss(0.4))
    answers = []
    for i in range(5):
        try:
            answers.append(answer(client, f"ping {i}".encode(), ("10.0.0.2", 7), 10))
        except TimeoutError:
            return ExerciseResult(False, f"request {i} gave up: with 40% loss each way, retry "
                                         "more (catch TimeoutError around recvfrom and send again)")
    want = [f"PING {i}".encode() for i in range(5)]
    if answers != want:
        return ExerciseResult(False, f"got {answers!r}, expected {want!r}: return the reply's "
                                     "data, and ignore a late reply to an earlier attempt")
    return ExerciseResult(True, "every request got its reply through 40% loss each way")


@exercise("tcp.seq_ack")
def _seq_ack(answer: Any) -> ExerciseResult:
    """The (seq, ack) of B's ACK after A (ISS 1000) sent SYN, then 100 and 50 data bytes, B ISS 7000."""
    want = (7001, 1151)
    if tuple(answer) == want:
        return ExerciseResult(True, "seq 7001 (B's SYN used 7000), ack 1151 (1001 + 100 + 50)")
    if tuple(answer) == (7001, 1150):
        return ExerciseResult(False, "the SYN uses one sequence number: A's data starts at 1001")
    return ExerciseResult(False, "the ACK number is the next byte B expects; A's SYN took "
                                 "sequence number 1000, so its data are 1001..1150")


@exercise("tcp.rto")
def _rto(answer: Any) -> ExerciseResult:
    """answer(samples_ns) -> the RTO after the samples, by RFC 6298 (min 200 ms, G 1 ms)."""
    if not callable(answer):
        return ExerciseResult(False, "pass your function itself, e.g. check(..., rto)")
    config = TCPConfig()
    for samples in ([100_000_000], [100_000_000, 300_000_000, 120_000_000], [5_000_000] * 4):
        srtt, rttvar = samples[0], samples[0] // 2  # RFC 6298 (2.2): the first measurement
        for r in samples[1:]:
            rttvar = (3 * rttvar + abs(srtt - r)) // 4
            srtt = (7 * srtt + r) // 8
        want = min(config.rto_max, max(config.rto_min,
                                        srtt + max(config.clock_granularity, 4 * rttvar)))
        got = answer(list(samples))
        if got is None or abs(int(got) - want) > 1:
            return ExerciseResult(False, f"for samples {samples} ns you gave {got!r}, expected "
                                         f"{want}. First sample: SRTT = R, RTTVAR = R/2; then "
                                         "RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R| before SRTT = 7/8 "
                                         "SRTT + 1/8 R; RTO = SRTT + max(G, 4 RTTVAR), at least "
                                         "200 ms.")
    return ExerciseResult(True, "your RTO follows RFC 6298 on every series tried")


@exercise("tcp.max_segment")
def _max_segment(answer: Any) -> ExerciseResult:
    """The most data bytes in one TCP segment inside one IPv4 packet, no options on either header."""
    want = 65535 - 20 - 20
    if isinstance(answer, bool) or not isinstance(answer, int):
        return ExerciseResult(False, f"{answer!r}: give a whole number of bytes")
    if answer == want:
        return ExerciseResult(True, "65,495: the IPv4 total length (16 bits) less the two 20-byte "
                                    "headers; the MSS agreed in the SYNs keeps segments far smaller")
    slips = {
        65535: "65,535 is the largest IPv4 packet, headers included",
        65535 - 20: "you took off one 20-byte header; the packet carries two, IP's and TCP's",
        1460: "1,460 is the MSS on an Ethernet path (MTU 1500); the question asks for the bound "
              "the IPv4 header sets whatever the MTU",
        65535 - 28: "65,507 is UDP's bound (an 8-byte header); TCP's header is longer",
    }
    if answer in slips:
        return ExerciseResult(False, f"{answer:,}: {slips[answer]}")
    return ExerciseResult(False, f"{answer:,} is not it: the segment must fit in one IPv4 packet, "
                                 "whose total length field counts every header inside it")
