"""Capture: the in-memory trace, pcap files (read back with struct), and tshark."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess

import pytest

from labkit.errors import LabkitValueError, ParseError
from labkit.sim import Fault, Network, PcapWriter, hex_summary, read_pcap

BROADCAST = b"\xff" * 6


def eth(dst: bytes, src: bytes, ethertype: int = 0x88B5, payload: bytes = b"") -> bytes:
    """An Ethernet II frame (no FCS), padded to the 60-byte minimum."""
    return dst + src + ethertype.to_bytes(2, "big") + payload.ljust(46, b"\x00")


def lan(seed: int = 1, **link):
    net = Network(seed=seed)
    a = net.add_host("A", ip="192.168.1.10/24")
    b = net.add_host("B", ip="192.168.1.20/24")
    s = net.add_switch("S1")
    net.connect(a, s, delay="1ms", bandwidth="10Mbit", **link)
    net.connect(b, s, delay="1ms", bandwidth="10Mbit")
    return net, a, b, s


def test_trace_records_out_and_in_with_virtual_times():
    net, a, b, s = lan()
    cap = net.capture()
    f = eth(BROADCAST, a.mac)
    net.at("1ms", a.send, f)
    net.run()
    rows = [(r.time, r.interface, r.direction, r.length, r.peer) for r in cap.trace]
    assert rows == [
        (1_000_000, "A.eth0", "out", 60, "S1"),
        (2_048_000, "S1.p1", "in", 60, "A"),
        (2_048_000, "S1.p2", "out", 60, "B"),
        (3_096_000, "B.eth0", "in", 60, "S1"),
    ]
    t = cap.trace
    assert t[0].xid == t[1].xid != t[2].xid == t[3].xid
    assert all(r.frame == f for r in t)
    assert t[0].summary == hex_summary(f)
    assert t[3].seconds == pytest.approx(3.096e-3)


def test_capture_on_some_interfaces_and_where():
    net, a, b, s = lan()
    cap_b = net.capture("B")
    cap_s = net.capture(s["p1"])
    net.at(0, a.send, eth(BROADCAST, a.mac))
    net.at(0, b.send, eth(BROADCAST, b.mac))
    net.run()
    assert [(r.interface, r.direction) for r in cap_b.trace] == [
        ("B.eth0", "out"),
        ("B.eth0", "in"),
    ]
    assert {r.interface for r in cap_s.trace} == {"S1.p1"}
    assert len(cap_s.trace.where(direction="in")) == 1
    assert len(cap_b.trace.where(node="B", direction="out")) == 1
    assert len(cap_b.trace.where(match=lambda r: r.time > 0)) == 1


def test_drops_appear_in_trace_with_reason_but_not_in_pcap(tmp_path):
    net, a, b, s = lan(queue=0)
    net.impair("A", "S1", Fault(nth=2))
    path = tmp_path / "drops.pcap"
    cap = net.capture("A", pcap=path)
    a.send(eth(BROADCAST, a.mac, payload=b"1"))
    net.at("1ms", a.send, eth(BROADCAST, a.mac, payload=b"2"))  # the fault drops it
    net.at("1ms", a.send, eth(BROADCAST, a.mac, payload=b"3"))  # transmitter busy: dropped
    net.run()
    net.close()
    drops = cap.trace.where(direction="drop")
    assert [(r.frame[14:15], r.note) for r in drops] == [
        (b"2", "fault: drop"),
        (b"3", "queue full"),
    ]
    assert len(read_pcap(path).records) == 3  # three "out" records, no drops
    assert "[queue full]" in cap.trace.table()


def test_custom_summariser_network_wide_and_per_capture():
    net, a, b, s = lan()
    net.summariser = lambda f: f"frame from {f[6:12].hex(':')}"
    cap = net.capture("A")
    own = net.capture("A", summariser=lambda f: "mine")
    a.send(eth(BROADCAST, a.mac))
    net.run()
    assert cap.trace[0].summary == "frame from 02:00:00:00:00:01"
    assert own.trace[0].summary == "mine"


def test_trace_table_and_html():
    net, a, b, s = lan()
    cap = net.capture()
    for k in range(3):
        net.at(k * 10_000_000, a.send, eth(BROADCAST, a.mac))
    net.run()
    text = cap.trace.table(limit=5)
    lines = text.splitlines()
    assert lines[0].split() == ["time", "interface", "dir", "len", "summary"]
    assert lines[1].split()[:5] == ["0", "s", "A.eth0", "out", "60"]
    assert lines[-1] == "... 7 more"
    assert str(cap.trace) == cap.trace.table()
    html = cap.trace._repr_html_()
    assert html.count("<tr>") == 13 and "A.eth0" in html


def test_closed_capture_stops_recording():
    net, a, b, s = lan()
    cap = net.capture()
    a.send(eth(BROADCAST, a.mac))
    net.run()
    n = len(cap.trace)
    cap.close()
    a.send(eth(BROADCAST, a.mac))
    net.run()
    assert len(cap.trace) == n and all(not i.taps for i in net.interfaces)


def test_capture_errors():
    net = Network()
    with pytest.raises(LabkitValueError, match="no interfaces to capture on"):
        net.capture()
    net.add_host("A")
    with pytest.raises(LabkitValueError, match="target=3"):
        net.capture(3)
    with pytest.raises(LabkitValueError, match="summariser=1"):
        net.capture("A", summariser=1)
    with pytest.raises(LabkitValueError, match="pcap=3.5"):
        net.capture("A", pcap=3.5)


# -- the pcap file format -----------------------------------------------------------------------


def parse_pcap_with_struct(data: bytes):
    """Independent reader: the classic format, little-endian, as documented by libpcap."""
    magic, vmaj, vmin, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    records = []
    pos = 24
    while pos < len(data):
        sec, frac, incl, orig = struct.unpack_from("<IIII", data, pos)
        pos += 16
        records.append((sec, frac, incl, orig, data[pos : pos + incl]))
        pos += incl
    assert pos == len(data)
    return (magic, vmaj, vmin, zone, sigfigs, snaplen, linktype), records


@pytest.mark.parametrize("nanosecond", [True, False])
def test_pcap_header_and_records(tmp_path, nanosecond):
    net, a, b, s = lan()
    path = tmp_path / "a.pcap"
    net.capture("A", "B", pcap=path, nanosecond=nanosecond)
    f1 = eth(BROADCAST, a.mac, payload=b"first")
    f2 = eth(b.mac, a.mac, payload=b"x" * 200)
    net.at("1.234567891s", a.send, f1)
    net.at("2s", a.send, f2)
    net.run()
    net.close()
    header, records = parse_pcap_with_struct(path.read_bytes())
    assert header == (0xA1B23C4D if nanosecond else 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    # A out at 1.234567891 s; B in 2.096 ms later (48 us + 1 ms + 48 us + 1 ms)
    t_in = 1_234_567_891 + 2_096_000
    expected_ns = [1_234_567_891, t_in, 2_000_000_000, 2_000_000_000 + 2 * (1_000_000 + 171_200)]
    got = [(sec, frac) for sec, frac, *_ in records]
    if nanosecond:
        assert got == [divmod(t, 10**9) for t in expected_ns]
    else:
        assert got == [(t // 10**9, t % 10**9 // 1000) for t in expected_ns]
    assert [(incl, orig) for _, _, incl, orig, _ in records] == [(60, 60)] * 2 + [(214, 214)] * 2
    assert [d for *_, d in records] == [f1, f1, f2, f2]


def test_read_pcap_roundtrip_and_snaplen():
    buf = io.BytesIO()
    w = PcapWriter(buf, snaplen=20)
    w.write(5, bytes(range(30)))
    w.write(1_000_000_001, b"abc")
    pf = read_pcap(buf.getvalue())
    assert pf.nanosecond and pf.linktype == 1 and pf.snaplen == 20 and pf.version == (2, 4)
    assert [(r.time_ns, r.orig_len, r.data) for r in pf.records] == [
        (5, 30, bytes(range(20))),
        (1_000_000_001, 3, b"abc"),
    ]


def test_read_big_endian_microsecond_file():
    data = struct.pack(">IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    data += struct.pack(">IIII", 3, 250_000, 2, 2) + b"hi"
    pf = read_pcap(data)
    assert pf.big_endian and not pf.nanosecond
    assert pf.records[0].time_ns == 3_250_000_000 and pf.records[0].data == b"hi"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "header"),
        (b"\x00" * 24, "magic"),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"\x00" * 10,
            "record 0 header",
        ),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 0, 10, 10)
            + b"abc",
            "record 0 data",
        ),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 1_000_000, 0, 0),
            "record 0 fraction",
        ),
        (
            struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 0, 5, 4)
            + b"12345",
            "record 0 incl_len",
        ),
    ],
)
def test_read_pcap_errors(data, field):
    with pytest.raises(ParseError) as info:
        read_pcap(data)
    assert info.value.layer == "pcap" and info.value.field == field


def test_pcap_writer_errors():
    with pytest.raises(LabkitValueError, match="snaplen=0"):
        PcapWriter(io.BytesIO(), snaplen=0)
    with pytest.raises(LabkitValueError, match="cannot be negative"):
        PcapWriter(io.BytesIO()).write(-1, b"")


@pytest.mark.parametrize("nanosecond", [True, False])
def test_tshark_reads_the_pcap(tmp_path, nanosecond):
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed (apt-get install tshark); pcap not checked by it")
    net, a, b, s = lan(seed=7, loss=0.2)
    path = tmp_path / "run.pcap"
    net.capture(pcap=path, nanosecond=nanosecond)
    for k in range(40):
        size = 46 + 30 * k  # 60..1230-byte frames
        net.at(k * 500_000, a.send, eth(b.mac if k % 2 else BROADCAST, a.mac, payload=bytes(size)))
    net.run()
    net.close()
    n_records = len(read_pcap(path).records)
    out = subprocess.run(
        [tshark, "-r", str(path), "-T", "fields", "-e", "frame.len", "-e", "eth.src"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == n_records > 40
    assert all(line.split("\t")[1] in ("02:00:00:00:00:01",) for line in lines)
    check = subprocess.run(
        [tshark, "-r", str(path), "-Y", "_ws.malformed || _ws.expert.severity >= error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0 and check.stdout.strip() == "", check.stdout + check.stderr


def test_summariser_that_cannot_parse_falls_back_to_hex():
    net, a, b, s = lan()

    def strict(frame: bytes) -> str:
        if frame[12:14] != b"\x08\x00":
            raise ParseError("ethernet", "ethertype", frame[12:14].hex(), "not IPv4")
        return "IPv4"

    net.summariser = strict
    cap = net.capture("A")
    a.send(eth(BROADCAST, a.mac, ethertype=0x0800))
    a.send(eth(BROADCAST, a.mac, ethertype=0x1234))
    net.run()
    assert cap.trace[0].summary == "IPv4"
    assert cap.trace[1].summary.startswith("60 bytes: ffffffffffff")
    assert "unreadable: ethernet: ethertype='1234': not IPv4" in cap.trace[1].summary
