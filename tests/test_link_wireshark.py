"""Wireshark's dissector as a reference: it reads labkit's frames, fields and FCS alike.

Skipped where ``tshark`` is not installed (CI installs it). The capture file is
written by a few lines here, only for this test: LINKTYPE_ETHERNET frames,
FCS included, which tshark is told to expect and check.
"""

from __future__ import annotations

import shutil
import struct
import subprocess

import pytest

from labkit.link import BROADCAST, EthernetFrame, EtherType, VLANTag

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark (Wireshark) is not installed")

# who has 192.168.1.1? tell 192.168.1.10
ARP_REQUEST = bytes.fromhex("0001080006040001001b213a4f5ec0a8010a000000000000c0a80101")
FIELDS = ["eth.dst", "eth.src", "eth.type", "eth.fcs", "eth.fcs.status", "vlan.id",
          "vlan.priority", "vlan.dei", "vlan.etype", "eth.padding", "frame.len"]


def _write_pcap(path, packets: list[bytes]) -> None:
    with open(path, "wb") as f:
        # magic, version 2.4, GMT offset, accuracy, snaplen, LINKTYPE_ETHERNET
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, data in enumerate(packets):
            f.write(struct.pack("<IIII", i, 0, len(data), len(data)) + data)


def _dissect(tmp_path, packets: list[bytes]) -> list[dict[str, str]]:
    path = tmp_path / "frames.pcap"
    _write_pcap(path, packets)
    args = [TSHARK, "-n", "-r", str(path), "-o", "eth.fcs:Always", "-o", "eth.check_fcs:TRUE",
            "-T", "fields"]
    for name in FIELDS:
        args += ["-e", name]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in out.splitlines()]


def test_wireshark_reads_labkit_frames(tmp_path):
    frames = [
        EthernetFrame(BROADCAST, "00:1b:21:3a:4f:5e", EtherType.ARP, ARP_REQUEST),
        EthernetFrame("00:1b:21:3a:4f:5e", "52:54:00:12:34:56", EtherType.IPV4, b"x" * 100,
                      vlan=VLANTag(vid=42, pcp=5, dei=True)),
        EthernetFrame("33:33:00:00:00:01", "02:42:ac:11:00:02", EtherType.IPV6, bytes(1500)),
    ]
    bad = bytearray(frames[0].pack())
    bad[30] ^= 0x01
    rows = _dissect(tmp_path, [f.pack() for f in frames] + [bytes(bad)])
    assert len(rows) == 4
    for frame, row in zip(frames, rows[:3], strict=True):
        assert row["eth.dst"] == str(frame.dst)
        assert row["eth.src"] == str(frame.src)
        assert int(row["frame.len"]) == frame.wire_length()
        # Wireshark prints the FCS's four bytes in wire order (as one big-endian number)
        assert int(row["eth.fcs"], 16) == int.from_bytes(frame.pack()[-4:], "big")
        assert row["eth.fcs.status"] == "1"  # Wireshark: "Good"
    assert int(rows[0]["eth.type"], 16) == EtherType.ARP
    assert rows[0]["eth.padding"] == "00" * 18
    assert (rows[1]["vlan.id"], rows[1]["vlan.priority"], rows[1]["vlan.dei"]) == ("42", "5", "1")
    assert int(rows[1]["vlan.etype"], 16) == EtherType.IPV4
    assert int(rows[2]["frame.len"]) == 1518
    assert rows[3]["eth.fcs.status"] == "0"  # "Bad": the flipped bit is caught by Wireshark too
