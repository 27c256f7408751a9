"""The capstone: one web page fetched across two LANs and two routers, through every layer.

::

    client C ── switch S1 ── R1 ═══ R2 ── switch S2 ── web server W
    10.0.1.10/24       10.0.1.1   10.0.12.1/.2   10.0.2.1     10.0.2.80/24

:func:`build` makes the network with labkit's own layers (Ethernet, ARP,
IPv4, routing, TCP) and puts an HTTP server (:class:`labkit.app.http.HttpEventServer`)
on W. :func:`fetch` runs one ``GET`` from C and returns the :class:`Exchange`.
:func:`layers` takes one captured frame apart into the views of each layer,
from the HTTP bytes down to the bits on the wire.

The hop R1 ═ R2 can be the hardware lab's wire: with ``wire="bridge"`` every
frame on it (with its FCS, COBS-framed, :mod:`labkit.link.framing`) goes
through the byte bridge of two boards (:mod:`labkit.hw`), the simulated pair
unless ``LABKIT_TX_PORT`` / ``LABKIT_RX_PORT`` (or ``ports``) name real ones.
The bridge is an impairment on that link (:class:`BridgeHop`): what the boards
deliver is what arrives, and a frame the wire damaged is dropped, as a NIC
drops a frame with a bad FCS.

This module sits on top of everything (like the CLI): the notebook
``course/09-capstone.ipynb`` and ``labkit demo`` share it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labkit.app.http import HttpEventServer, HttpReader, Request, Response, static_site
from labkit.errors import LabkitError, LabkitValueError
from labkit.link import framing
from labkit.link.ethernet import EthernetFrame, EtherType, fcs
from labkit.link.wire import SYNC, frame_bits, transmit
from labkit.net.ipv4 import IPv4Packet
from labkit.net.stack import IPStack
from labkit.sim import Capture, Impairment, Network
from labkit.sim.stacks import install_transport, socket
from labkit.transport import tcp as tcp_wire
from labkit.transport.tcp import TCPSegment
from labkit.transport.tcp_connection import TCPConfig

if TYPE_CHECKING:
    from labkit.hw.board import Board

__all__ = ["BridgeHop", "Capstone", "Exchange", "Layer", "build", "fetch", "layers",
           "DEFAULT_PAGE", "CLIENT_IP", "SERVER_IP"]

CLIENT_IP = "10.0.1.10"
SERVER_IP = "10.0.2.80"
HTTP_PORT = 80

#: The page W serves at ``/``: about 4 kB, so the reply needs several segments.
DEFAULT_PAGE = (
    "<!doctype html>\n<html><head><title>labkit capstone</title></head><body>\n"
    "<h1>Hello across two routers</h1>\n"
    + "".join(f"<p>line {i:03d}: these bytes went down every layer and back up.</p>\n"
              for i in range(60))
    + "</body></html>\n"
)

_pairs = itertools.count(1)
_S = 1_000_000_000


class BridgeHop(Impairment):
    """Carry each frame of one link direction through two boards' byte bridge.

    The frame gets its FCS, is COBS-encoded with a zero delimiter
    (:func:`labkit.link.framing.frame`) and sent by ``sender``'s bridge;
    ``receiver``'s bridge bytes are fed to a :class:`~labkit.link.framing.StreamDecoder`.
    A frame that does not come back whole with a good FCS is lost. The extra
    delay is the time the framing overhead (COBS, FCS, delimiter) takes at
    10 bit times per byte; the link's bandwidth covers the frame's own bytes.
    """

    __slots__ = ("sender", "receiver", "bit_rate", "timeout", "decoder", "frames", "wire_bytes",
                 "lost", "last_wire")
    name = "bridge"

    def __init__(self, sender: Board, receiver: Board, bit_rate: float, timeout: float = 5.0) -> None:
        self.sender = sender
        self.receiver = receiver
        self.bit_rate = float(bit_rate)
        self.timeout = timeout
        self.decoder = framing.StreamDecoder(max_frame=2 * 1600)
        self.frames = 0
        self.wire_bytes = 0
        self.lost = 0
        #: the bytes of the last frame as they went on the serial wire
        self.last_wire = b""

    def apply(self, frame: bytes, rng: np.random.Generator) -> list[tuple[int, bytes]]:
        raw = frame + fcs(frame)
        wire = framing.frame(raw)
        self.last_wire = wire
        self.sender.bridge_send(wire)
        got: list[bytes] = []
        for _ in range(64):  # bounded: each read waits at most `timeout`
            chunk = self.receiver.bridge_recv(None, timeout=self.timeout)
            if not chunk:
                break
            got += self.decoder.feed(chunk)
            if got:
                break
        self.frames += 1
        self.wire_bytes += len(wire)
        if len(got) != 1 or len(got[0]) < 5 or fcs(got[0][:-4]) != got[0][-4:]:
            self.lost += 1
            return []
        overhead = (len(wire) - len(frame)) * 10
        return [(int(overhead * 1e9 / self.bit_rate), got[0][:-4])]

    def __repr__(self) -> str:
        return f"BridgeHop({self.frames} frames, {self.wire_bytes} bytes, {self.lost} lost)"


@dataclass
class Capstone:
    """The built network and its parts (see the module docstring)."""

    net: Network
    server: HttpEventServer
    capture: Capture
    wire: str
    hops: list[BridgeHop] = field(default_factory=list)
    boards: tuple[Board, ...] = ()
    pair: str | None = None

    @property
    def client(self) -> Any:
        return self.net["C"]

    def close(self) -> None:
        """Stop the bridge, close the boards (and forget a simulated pair) and the pcap file."""
        for board in self.boards:
            try:
                board.bridge_stop()
            except (LabkitError, OSError):
                pass
            board.close()
        self.boards = ()
        if self.pair is not None:
            from labkit.hw.sim import drop_pair

            drop_pair(self.pair)
            self.pair = None
        self.net.close()

    def __enter__(self) -> Capstone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(
    *,
    seed: int = 9,
    page: str | bytes = DEFAULT_PAGE,
    wire: str = "sim",
    ports: tuple[str | None, str | None] = (None, None),
    bit_rate: int = 19_200,
    pcap: Any = None,
) -> Capstone:
    """Build the two LANs, the routers and the web server; capture C's interface.

    ``wire``: ``"sim"`` for a plain simulated link between the routers (100
    Mbit/s), ``"bridge"`` to carry it over the boards' byte bridge at
    ``bit_rate`` (``ports`` = (tx, rx) serial ports; None: the environment's
    ``LABKIT_TX_PORT`` / ``LABKIT_RX_PORT``, else the simulated pair).
    ``pcap``: a file name or binary file for the client-side capture.
    """
    if wire not in ("sim", "bridge"):
        raise LabkitValueError(f"wire={wire!r}: expected 'sim' or 'bridge'")
    net = Network(seed=seed)
    c = net.add_host("C", ip=f"{CLIENT_IP}/24", gateway="10.0.1.1")
    w = net.add_host("W", ip=f"{SERVER_IP}/24", gateway="10.0.2.1")
    s1, s2 = net.add_switch("S1"), net.add_switch("S2")
    r1 = net.add_router("R1", interfaces={"eth0": "10.0.1.1/24", "eth1": "10.0.12.1/24"})
    r2 = net.add_router("R2", interfaces={"eth0": "10.0.12.2/24", "eth1": "10.0.2.1/24"})
    lan_delay, lan_bandwidth = "5us", "100Mbit"
    net.connect(c, s1, delay=lan_delay, bandwidth=lan_bandwidth)
    net.connect(s1, r1["eth0"], delay=lan_delay, bandwidth=lan_bandwidth)
    net.connect(w, s2, delay=lan_delay, bandwidth=lan_bandwidth)
    net.connect(s2, r2["eth1"], delay=lan_delay, bandwidth=lan_bandwidth)
    hops: list[BridgeHop] = []
    boards: tuple[Board, ...] = ()
    pair = None
    if wire == "bridge":
        from labkit.hw.lab import open_pair

        pair = f"capstone{next(_pairs)}"
        tx, rx = open_pair(*ports, pair=pair)
        boards = (tx, rx)
        try:
            rate = min(rx.bridge_start(bit_rate), tx.bridge_start(bit_rate))
        except BaseException:
            tx.close()
            rx.close()
            raise
        link = net.connect(r1["eth1"], r2["eth0"], delay="0s", bandwidth=int(rate * 8 / 10))
        hops = [BridgeHop(tx, rx, rate), BridgeHop(rx, tx, rate)]
        link.ab.add(hops[0])
        link.ba.add(hops[1])
    else:
        net.connect(r1["eth1"], r2["eth0"], delay="1ms", bandwidth="100Mbit")
    # The capstone's TCP is the first TCP lesson's (TCPConfig.basic(): no window scaling,
    # SACK or timestamps), so that its header is the textbook's 20 bytes and every byte
    # count in notebook 09 and `labkit demo` adds up by hand; notebook 07 and 10 show what
    # Linux's options add. A frame of 1514 bytes needs 0.8 s on the bridge, so a few
    # segments in flight take longer than TCP's first timeout (1 s): a patient timer keeps
    # retransmissions out.
    patient = {"rto_initial": 4 * _S, "rto_min": 4 * _S} if wire == "bridge" else {}
    config = TCPConfig.basic(**patient)
    install_transport(net, tcp_config=config)
    _ip_stack(r1).routes.add_static("10.0.2.0/24", "10.0.12.2")
    _ip_stack(r2).routes.add_static("10.0.1.0/24", "10.0.12.1")
    listener = socket(w)
    listener.bind(("0.0.0.0", HTTP_PORT))
    listener.listen()
    server = HttpEventServer(listener, static_site({"/": page}))
    capture = net.capture(c, pcap=pcap)
    return Capstone(net, server, capture, wire, hops, boards, pair)


@dataclass
class Exchange:
    """One HTTP request and its reply, and where their bytes went."""

    request: Request
    response: Response
    #: virtual times (ns): connect started, connected, request sent, reply complete, all closed
    times: dict[str, int]
    #: (virtual time, bytes of the reply received so far, bytes expected or None)
    progress: list[tuple[int, int, int | None]]


class _Counting:
    """A socket wrapper that reports how much of the reply has arrived."""

    def __init__(self, sock: Any, report: Callable[[int, int | None], None]) -> None:
        self.sock = sock
        self.report = report
        self.seen = bytearray()
        self.total: int | None = None

    def recv(self, bufsize: int) -> bytes:
        chunk = self.sock.recv(bufsize)
        self.seen += chunk
        if self.total is None:
            end = self.seen.find(b"\r\n\r\n")
            if end >= 0:
                for line in bytes(self.seen[:end]).split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length" and value.strip().isdigit():
                        self.total = end + 4 + int(value.strip())
        self.report(len(self.seen), self.total)
        return chunk


def _ip_stack(node: object) -> IPStack:
    """The IP stack that install_transport() gave ``node``."""
    stack = getattr(node, "stack", None)
    if not isinstance(stack, IPStack):
        raise LabkitError(f"capstone: {node!r} has no IP stack (install_transport() gives one)")
    return stack


def fetch(cap: Capstone, path: str = "/",
          progress: Callable[[int, int, int | None], None] | None = None) -> Exchange:
    """``GET path`` from C to W over a new TCP connection; run until both sides have closed.

    ``progress(now_ns, received, expected)`` is called as reply bytes arrive.
    """
    net = cap.net
    times = {"start": net.now}
    seen: list[tuple[int, int, int | None]] = []

    def report(received: int, expected: int | None) -> None:
        seen.append((net.now, received, expected))
        if progress is not None:
            progress(net.now, received, expected)

    sock = socket(cap.client)
    sock.settimeout(120)
    sock.connect((SERVER_IP, HTTP_PORT))
    times["connected"] = net.now
    request = Request("GET", path, (("Host", SERVER_IP), ("User-Agent", "labkit"),
                                    ("Connection", "close")))
    sock.sendall(request.pack())
    times["sent"] = net.now
    seen.append((net.now, 0, None))
    response = HttpReader(_Counting(sock, report)).read_response("GET")
    times["received"] = net.now
    sock.close()
    transport = cap.client.transport
    conn = sock._conn
    if conn is None:
        raise LabkitError("capstone: the client's socket has no TCP connection after connect()")
    transport.wait(lambda: conn.state.name in ("TIME_WAIT", "CLOSED"), 120, "close")
    net.run_for("50ms")  # the last ACK reaches the server
    times["closed"] = net.now
    cap.capture.flush()
    return Exchange(request, response, times, seen)


@dataclass(frozen=True)
class Layer:
    """One layer's view of a frame: its header (and trailer) around the payload it carries."""

    name: str
    header: bytes
    payload: bytes
    trailer: bytes = b""
    summary: str = ""

    @property
    def length(self) -> int:
        return len(self.header) + len(self.payload) + len(self.trailer)


def layers(frame: bytes) -> list[Layer]:
    """Take an Ethernet frame (without FCS, as the simulator carries it) apart, top layer first.

    Returns the views of HTTP (the application bytes), TCP, IPv4, Ethernet
    (with its FCS trailer) and the wire (preamble and SFD in front); raises a
    ``LabkitError`` if the frame is not TCP over IPv4 over Ethernet.
    """
    eth = EthernetFrame.parse(frame, fcs=False)
    if eth.ethertype != EtherType.IPV4:
        raise LabkitValueError(f"frame: EtherType {eth.ethertype:#06x} is not IPv4")
    packet = IPv4Packet.parse(eth.payload)
    if packet.protocol != tcp_wire.PROTOCOL:
        raise LabkitValueError(f"frame: IP protocol {packet.protocol} is not TCP")
    seg = TCPSegment.parse(packet.payload, packet.src, packet.dst)
    ip_header = eth.payload[: packet.header_length]
    tcp_header = packet.payload[: len(packet.payload) - len(seg.payload)]
    with_fcs = frame + fcs(frame)
    app = seg.payload
    first = app.split(b"\r\n", 1)[0].decode("latin-1") if app else "(no data)"
    return [
        Layer("HTTP", b"", app, summary=first),
        Layer("TCP", tcp_header, app, summary=seg.summary()),
        Layer("IPv4", ip_header, packet.payload, summary=packet.summary()),
        Layer("Ethernet", frame[:14], eth.payload, with_fcs[-4:], summary=eth.summary()),
        Layer("wire", SYNC, with_fcs, summary=f"preamble + SFD + {len(with_fcs)} bytes, "
              f"{8 * (len(SYNC) + len(with_fcs))} bits, Manchester"),
    ]


def wire_signal(frame: bytes, samples_per_bit: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The frame (FCS added) as bits and as Manchester voltages on a 10BASE-T-like wire."""
    with_fcs = frame + fcs(frame)
    return frame_bits(with_fcs), transmit(with_fcs, samples_per_bit)


def request_frame(trace: Any, direction: str = "out", node: str = "C") -> bytes:
    """The first frame in ``trace`` carrying an HTTP request (``direction`` at ``node``)."""
    for r in trace:
        if r.node == node and r.direction == direction and b"\r\n" in r.frame and (
                b"GET " in r.frame or b"HEAD " in r.frame):
            return r.frame
    raise LabkitValueError(f"no HTTP request in the trace at {node} ({direction})")


def reply_frames(trace: Any, node: str = "C") -> list[bytes]:
    """The frames arriving at ``node`` that carry TCP data from port 80, in order."""
    out = []
    for r in trace:
        if r.node != node or r.direction != "in":
            continue
        try:
            view = layers(r.frame)
        except LabkitError:
            continue
        seg = TCPSegment.parse(view[2].payload)
        if seg.src_port == HTTP_PORT and seg.payload:
            out.append(r.frame)
    return out


__all__ += ["wire_signal", "request_frame", "reply_frames"]


def follow(trace: Any, frame: bytes) -> list[tuple[str, bytes]]:
    """The same IP packet as ``frame`` on each link it crossed: ``("C→S1", frame), ...``.

    Needs a capture of every interface (``net.capture()``). The packet is
    recognised by its source, destination and identification, which routers
    do not change.
    """
    def key(raw: bytes) -> tuple | None:
        try:
            eth = EthernetFrame.parse(raw, fcs=False)
            if eth.ethertype != EtherType.IPV4:
                return None
            p = IPv4Packet.parse(eth.payload, verify_checksum=False)
        except LabkitError:
            return None
        return (p.src, p.dst, p.identification, p.protocol)

    want = key(frame)
    if want is None:
        raise LabkitValueError("frame: not an IPv4 packet in an Ethernet frame")
    return [(f"{r.peer}→{r.node}", r.frame) for r in trace
            if r.direction == "in" and key(r.frame) == want]


__all__ += ["follow"]


#: The header fields :func:`header_fields` shows, by layer, named as in notebook 09's exercise.
FIELDS = {
    "Ethernet": ("eth.dst", "eth.src", "eth.type"),
    "IPv4": ("ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.length", "ip.checksum"),
    "TCP": ("tcp.sport", "tcp.dport", "tcp.seq", "tcp.ack", "tcp.flags", "tcp.checksum"),
    "HTTP": ("http.data",),
}


def header_fields(frame: bytes) -> dict[str, dict[str, str]]:
    """Every header field of a TCP/IPv4/Ethernet frame, by layer, as text: whole, never cut.

    ``{"Ethernet": {"eth.dst": "02:00:00:00:00:03", ...}, "IPv4": {...}, "TCP": {...},
    "HTTP": {"http.data": "GET / HTTP/1.1 (74 B)"}}``; the names are those of :data:`FIELDS`.
    """
    eth = EthernetFrame.parse(frame, fcs=False)
    if eth.ethertype != EtherType.IPV4:
        raise LabkitValueError(f"frame: EtherType {eth.ethertype:#06x} is not IPv4")
    p = IPv4Packet.parse(eth.payload, verify_checksum=False)
    if p.protocol != tcp_wire.PROTOCOL:
        raise LabkitValueError(f"frame: IP protocol {p.protocol} is not TCP")
    seg = TCPSegment.parse(p.payload)
    data = seg.payload
    first = data.split(b"\r\n", 1)[0].decode("latin-1") if data else "(none)"
    return {
        "Ethernet": {"eth.dst": str(eth.dst), "eth.src": str(eth.src),
                     "eth.type": f"{int(eth.ethertype):#06x}"},
        "IPv4": {"ip.src": str(p.src), "ip.dst": str(p.dst), "ip.ttl": str(p.ttl),
                 "ip.id": str(p.identification), "ip.length": str(p.length),
                 "ip.checksum": f"{p.checksum:#06x}"},
        "TCP": {"tcp.sport": str(seg.src_port), "tcp.dport": str(seg.dst_port),
                "tcp.seq": str(seg.seq), "tcp.ack": str(seg.ack), "tcp.flags": str(seg.flags),
                "tcp.checksum": f"{seg.checksum:#06x}"},
        "HTTP": {"http.data": f"{first} ({len(data)} B)" if data else "(none)"},
    }


class RelativeSummary:
    """A capture summariser for TCP frames with sequence numbers relative to each side's SYN.

    As Wireshark shows them by default: ``C→W [PSH,ACK] seq=1 ack=1 len=74``. Give one to
    ``net.capture(..., summariser=RelativeSummary())``: it learns each direction's initial
    sequence number from the SYNs it sees, so it must see the connection from its start.
    Frames that are not TCP over IPv4 get the short summary of notebook 05.
    """

    def __init__(self, names: dict[str, str] | None = None) -> None:
        self.names = dict(names or {CLIENT_IP: "C", SERVER_IP: "W"})
        self.isn: dict[tuple[str, int], int] = {}

    def __call__(self, frame: bytes) -> str:
        from labkit.net.summary import short_summary

        try:
            eth = EthernetFrame.parse(frame, fcs=False)
            p = IPv4Packet.parse(eth.payload, verify_checksum=False)
            if p.protocol != tcp_wire.PROTOCOL:
                return short_summary(frame)
            seg = TCPSegment.parse(p.payload)
        except LabkitError:
            return short_summary(frame)
        src, dst = str(p.src), str(p.dst)
        here, there = (src, seg.src_port), (dst, seg.dst_port)
        if "SYN" in str(seg.flags).split(","):
            self.isn[here] = seg.seq
        seq = (seg.seq - self.isn[here]) % 2**32 if here in self.isn else seg.seq
        ack = (seg.ack - self.isn[there]) % 2**32 if there in self.isn else seg.ack
        who = f"{self.names.get(src, src)}→{self.names.get(dst, dst)}"
        text = f"{who} [{seg.flags}] seq={seq}"
        if "ACK" in str(seg.flags).split(","):
            text += f" ack={ack}"
        return text + (f" len={len(seg.payload)}" if seg.payload else "")


__all__ += ["FIELDS", "header_fields", "RelativeSummary"]
