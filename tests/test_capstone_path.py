"""The capstone network: the request through every layer, the routers, the byte-bridge hop."""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from labkit import capstone  # noqa: E402
from labkit.errors import LabkitError, LabkitValueError  # noqa: E402
from labkit.exercises import evaluate  # noqa: E402
from labkit.link import framing  # noqa: E402
from labkit.link.ethernet import fcs  # noqa: E402
from labkit.net.ipv4 import IPv4Packet  # noqa: E402
from labkit.transport.tcp import TCPSegment  # noqa: E402


@pytest.fixture(scope="module")
def run_sim():
    cap = capstone.build(wire="sim")
    everything = cap.net.capture()
    exchange = capstone.fetch(cap)
    yield cap, everything, exchange
    cap.close()


def test_the_page_arrives_whole_and_the_layers_add_up_to_the_frame(run_sim):
    cap, _, exchange = run_sim
    assert exchange.response.status == 200
    assert exchange.response.text == capstone.DEFAULT_PAGE
    frame = capstone.request_frame(cap.capture.trace)
    http, tcp, ip, eth, wire = capstone.layers(frame)
    assert http.payload == exchange.request.pack()
    assert eth.header + ip.header + tcp.header + http.payload == frame
    # TCP: the textbook's 20 bytes (the capstone runs TCPConfig.basic(), no options)
    assert (len(tcp.header), len(ip.header), len(eth.header), len(eth.trailer)) == (20, 20, 14, 4)
    assert eth.trailer == fcs(frame)
    assert wire.payload == frame + fcs(frame) and wire.header == b"\x55" * 7 + b"\xd5"
    assert [layer.length for layer in (http, tcp, ip, eth, wire)] == [
        len(http.payload), len(http.payload) + 20, len(http.payload) + 40,
        len(http.payload) + 58, len(http.payload) + 66]
    bits, volts = capstone.wire_signal(frame)
    assert bits.size == 8 * wire.length and volts.size >= 8 * bits.size
    # the reply's segments, reassembled, are exactly the HTTP reply
    body = b"".join(capstone.layers(f)[0].payload for f in capstone.reply_frames(cap.capture.trace))
    assert body == exchange.response.pack()
    # progress: from 0 to the whole reply, never backwards
    received = [p[1] for p in exchange.progress]
    assert received[0] == 0 and received[-1] == len(body) and received == sorted(received)


def test_routers_rewrite_only_the_link_header_ttl_and_checksum(run_sim):
    cap, everything, _ = run_sim
    frame = capstone.request_frame(cap.capture.trace)
    hops = capstone.follow(everything.trace, frame)
    assert [name for name, _ in hops] == ["C→S1", "S1→R1", "R1→R2", "R2→S2", "S2→W"]
    packets = [IPv4Packet.parse(f[14:]) for _, f in hops]  # checksums verified here
    assert [p.ttl for p in packets] == [64, 64, 63, 62, 62]
    assert len({p.payload for p in packets}) == 1  # TCP and HTTP untouched, end to end
    TCPSegment.parse(packets[-1].payload, packets[-1].src, packets[-1].dst)  # checksum still right
    assert len({f[:12] for _, f in hops}) == 3  # one pair of MACs per LAN and one between routers
    with pytest.raises(LabkitError):
        capstone.layers(everything.trace[0].frame)  # the first frame is ARP, not TCP


def test_the_bridge_hop_carries_the_same_exchange_and_the_same_seed_repeats_it():
    def run():
        with capstone.build(wire="bridge", seed=5) as cap:
            ex = capstone.fetch(cap)
            return ex, [r.summary for r in cap.capture.trace], [h.frames for h in cap.hops], \
                [h.lost for h in cap.hops]

    first, second = run(), run()
    ex, summaries, frames, lost = first
    assert ex.response.text == capstone.DEFAULT_PAGE
    assert frames[0] > 5 and frames[1] > 5 and lost == [0, 0]
    assert ex.times["received"] > 1_000_000_000  # 4 kB at 19.2 kbit/s: seconds, not ms
    assert second[1] == summaries and second[2] == frames


class _Board:
    """A stand-in for a board in bridge mode: what one sends the other receives, maybe damaged."""

    def __init__(self) -> None:
        self.peer: _Board | None = None
        self.rx = bytearray()
        self.damage: int | None = None

    def bridge_send(self, data: bytes) -> None:
        data = bytearray(data)
        if self.damage is not None:
            data[self.damage] ^= 0x10
        self.peer.rx += data

    def bridge_recv(self, size=None, *, timeout=None) -> bytes:
        out = bytes(self.rx)
        self.rx.clear()
        return out


def test_bridge_hop_delivers_good_frames_and_drops_damaged_ones():
    a, b = _Board(), _Board()
    a.peer, b.peer = b, a
    hop = capstone.BridgeHop(a, b, bit_rate=10_000)
    frame = bytes(range(1, 61)) + b"\x00" * 4
    rng = np.random.default_rng(0)
    [(delay, got)] = hop.apply(frame, rng)
    assert got == frame
    wire = framing.frame(frame + fcs(frame))
    assert hop.last_wire == wire and delay == (len(wire) - len(frame)) * 10 * 100_000
    a.damage = 20  # a flipped bit: COBS still decodes, the FCS does not match
    assert hop.apply(frame, rng) == []
    a.damage = 0  # the code byte damaged: the frame falls apart
    assert hop.apply(frame, rng) == []
    a.damage = None
    assert hop.apply(frame, rng)[0][1] == frame  # the decoder resynchronised
    assert (hop.frames, hop.lost) == (4, 2)


def test_plots_draw_each_layer_and_each_hop(run_sim):
    from labkit.viz.capstone import plot_encapsulation, plot_hop_changes, plot_progress

    cap, everything, exchange = run_sim
    frame = capstone.request_frame(cap.capture.trace)
    fig = plot_encapsulation(capstone.layers(frame))
    left, right = fig.axes
    # one block per header in each row (0+1+2+3+4), the data in every row, and the FCS twice
    assert len(left.patches) - 4 == (0 + 1 + 2 + 3 + 4) + 5 + 2
    assert any(p.get_hatch() == "//" for p in right.patches)
    assert not any(p.get_hatch() for p in left.patches)
    ax = plot_hop_changes(capstone.follow(everything.trace, frame))
    labels = [t.get_text() for t in ax.texts if t.get_text().endswith("changed")]
    assert labels == ["0 bytes changed", "4 bytes changed", "4 bytes changed", "0 bytes changed"]
    ax = plot_progress(exchange.progress)
    assert ax.get_lines()[0].get_ydata()[-1] == len(exchange.response.pack())
    plt.close("all")


def test_capstone_exercise_checks_accept_right_answers_only():
    def peel(frame):
        ip = frame[14:14 + int.from_bytes(frame[16:18], "big")]
        tcp = ip[(ip[0] & 15) * 4:]
        return tcp[(tcp[12] >> 4) * 4:]

    assert evaluate("capstone.wire_bytes", lambda n: 8 + max(60, 54 + n) + 4)
    assert not evaluate("capstone.wire_bytes", lambda n: 8 + 54 + n + 4)
    assert evaluate("capstone.router_changes", {"eth.dst", "eth.src", "ip.ttl", "ip.checksum"})
    wrong = evaluate("capstone.router_changes", {"eth.dst", "eth.src", "ip.ttl", "ip.dst"})
    assert not wrong and "ip.dst" in wrong.message
    assert not evaluate("capstone.router_changes", {"mac"})
    assert evaluate("capstone.peel", peel)
    assert not evaluate("capstone.peel", lambda f: f[54:])  # padding is not data
    assert not evaluate("capstone.peel", lambda f: 1 / 0)


def test_build_refuses_an_unknown_wire():
    with pytest.raises(LabkitError, match="wire="):
        capstone.build(wire="carrier-pigeon")


def test_header_fields_are_whole_and_match_the_parsed_headers(run_sim):
    cap, everything, _ = run_sim
    hops = capstone.follow(everything.trace, capstone.request_frame(cap.capture.trace))
    fields = [capstone.header_fields(f) for _, f in hops]
    assert list(fields[0]) == list(capstone.FIELDS)
    assert fields[0]["Ethernet"]["eth.src"] == "02:00:00:00:00:01"  # 17 characters, not cut
    assert fields[0]["IPv4"]["ip.ttl"] == "64" and fields[-1]["IPv4"]["ip.ttl"] == "62"
    assert fields[0]["HTTP"]["http.data"] == "GET / HTTP/1.1 (74 B)"
    diff = {name for layer in capstone.FIELDS for name in capstone.FIELDS[layer]
            if fields[1][layer][name] != fields[2][layer][name]}
    assert diff == {"eth.dst", "eth.src", "ip.ttl", "ip.checksum"}  # R1 rewrote exactly these
    with pytest.raises(LabkitError, match="EtherType"):
        capstone.header_fields(bytes(12) + b"\x08\x06" + bytes(28))


def test_relative_summary_numbers_each_side_from_its_syn():
    with capstone.build(wire="sim") as cap:
        hop = cap.net.capture(cap.net["R1"]["eth1"], summariser=capstone.RelativeSummary())
        capstone.fetch(cap)
    summaries = [r.summary for r in hop.trace if r.direction == "out" or r.direction == "in"]
    assert "C→W [SYN] seq=0" in summaries and "W→C [SYN,ACK] seq=0 ack=1" in summaries
    assert "C→W [PSH,ACK] seq=1 ack=1 len=74" in summaries
    # segments of one MSS, 1460 bytes: 1460 + 1460 + 1141 = 4061; Nagle holds the short last
    # one until the server's close() adds its FIN to it
    assert "W→C [FIN,PSH,ACK] seq=2921 ack=75 len=1141" in summaries
    assert any(s.startswith("ARP") for s in summaries)


def test_hop_stepper_redraws_when_its_controls_move(run_sim):
    from labkit.viz.capstone import HopStepper, draw_hop

    cap, everything, _ = run_sim
    hops = capstone.follow(everything.trace, capstone.request_frame(cap.capture.trace))
    stepper = HopStepper(cap.net, hops)
    assert (stepper.hop.description, stepper.hop.min, stepper.hop.max) == ("hop", 1, len(hops))
    first = stepper.out.outputs[0]["data"]["image/png"]
    stepper.next.click()  # a real button click, as the browser sends it
    assert stepper.hop.value == 2 and stepper.out.outputs[0]["data"]["image/png"] != first
    stepper.hop.value = len(hops)
    stepper.next.click()  # stays on the path
    assert stepper.hop.value == len(hops)
    assert "S2→W" in repr(stepper) and stepper.out.outputs[0]["data"]["text/plain"] == "<hop 5: S2→W>"
    # the slider reads what the figure's title says
    assert stepper.out.outputs[0]["data"]["text/plain"].startswith(f"<hop {stepper.hop.value}:")
    stepper.back.click()
    assert stepper.hop.value == len(hops) - 1
    with pytest.raises(LabkitValueError, match="hop=0"):
        HopStepper(cap.net, hops, hop=0)
    # at R1→R2 the link is highlighted and exactly what the router rewrote is red
    fig = draw_hop(cap.net, hops, 2)
    red = {t.get_text().split("=")[0] for t in fig.axes[1].texts if t.get_color() == "#c0392b"
           and "=" in t.get_text()}
    assert red == {"dst", "src", "ttl", "checksum"}
    assert "R1 → R2" in fig.axes[0].get_title()
    assert any(line.get_linewidth() == 6 for line in fig.axes[0].get_lines())
    plt.close("all")
    with pytest.raises(LabkitError, match="index"):
        draw_hop(cap.net, hops, 9)


# -- fuzz: header_fields and RelativeSummary take any bytes, and answer only with labkit errors --
_BATCH = 10


@functools.cache
def _real_frames() -> tuple[bytes, ...]:
    with capstone.build(wire="sim", page="tiny") as cap:
        everything = cap.net.capture()
        capstone.fetch(cap)
    return tuple(r.frame for r in everything.trace)


def _fuzz_input(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if rng.random() < 0.3:
        return rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes()
    frames = _real_frames()
    frame = bytearray(frames[int(rng.integers(len(frames)))])
    for _ in range(int(rng.integers(1, 4))):  # flip bytes, cut, or extend
        kind = rng.random()
        if kind < 0.6 and frame:
            frame[int(rng.integers(len(frame)))] = int(rng.integers(256))
        elif kind < 0.8:
            frame = frame[: int(rng.integers(len(frame) + 1))]
        else:
            frame += rng.integers(0, 256, int(rng.integers(1, 30)), dtype=np.uint8).tobytes()
    return bytes(frame)


def _fuzz(seed: int) -> None:
    from hypothesis import note

    summary = capstone.RelativeSummary()
    for k in range(seed * _BATCH, seed * _BATCH + _BATCH):
        data = _fuzz_input(k)
        note(f"input seed {k}")
        assert isinstance(summary(data), str)
        try:
            fields = capstone.header_fields(data)
        except LabkitError:
            continue
        assert list(fields) == list(capstone.FIELDS)
        assert all(set(fields[layer]) == set(names) for layer, names in capstone.FIELDS.items())


def test_fuzz_header_fields_and_relative_summary():
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis_profiles import FUZZ_EXAMPLES

    given(st.integers(0, 2**32 - 1))(settings(max_examples=FUZZ_EXAMPLES // _BATCH)(_fuzz))()
