"""``labkit demo``: the capstone exchange from a terminal, and its pcap in tshark."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import demo

ROOT = Path(__file__).resolve().parents[1]
CHECKSUMS = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
             "-o", "udp.check_checksum:TRUE"]


def tshark(*args: str) -> str:
    out = subprocess.run(["tshark", *CHECKSUMS, *args], capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout


def assert_clean_http_pcap(path: Path) -> None:
    """tshark dissects HTTP over TCP over IPv4 over Ethernet, with no warning or error."""
    stacks = tshark("-r", str(path), "-T", "fields", "-e", "frame.protocols").split()
    assert "eth:ethertype:ip:tcp:http" in stacks  # the request
    assert any(s.startswith("eth:ethertype:ip:tcp:http:data-text-lines") or
               s.startswith("eth:ethertype:ip:tcp:http") for s in stacks[stacks.index(
                   "eth:ethertype:ip:tcp:http") + 1:])  # and the reply
    assert all(s.startswith(("eth:ethertype:ip:tcp", "eth:ethertype:arp")) for s in stacks)
    status = tshark("-r", str(path), "-T", "fields", "-e", "ip.checksum.status",
                    "-e", "tcp.checksum.status", "-Y", "ip").split()
    assert status and set(status) == {"1"}  # 1 = good, checked: none bad, none unverified
    expert = tshark("-r", str(path), "-q", "-z", "expert")
    assert "Errors" not in expert and "Warnings" not in expert, expert
    http = tshark("-r", str(path), "-Y", "http.response.code == 200", "-T", "fields",
                  "-e", "http.content_length")
    assert http.split() == ["3961"]


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")


@needs_tshark
def test_labkit_demo_writes_a_pcap_that_tshark_dissects_cleanly(tmp_path):
    pcap = tmp_path / "out.pcap"
    run = subprocess.run([sys.executable, "-m", "labkit", "demo", "--pcap", str(pcap)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    # TCP's header: the textbook's 20 bytes (the capstone runs TCPConfig.basic())
    for text in ("HTTP        74 B", "TCP         94 B  +20 B header", "IPv4       114 B",
                 "Ethernet   132 B  +14 B header, +4 B trailer (FCS)", "preamble + SFD",
                 "100% 4061/4061 bytes", "200 OK, 3961 bytes", "0 lost"):
        assert text in out, out
    assert_clean_http_pcap(pcap)


def test_demo_without_the_wire_and_refusing_bad_ports(tmp_path):
    from io import StringIO

    from labkit.cli.demo import print_demo

    buf = StringIO()
    assert print_demo(wire=False, out=buf) == 0
    text = buf.getvalue()
    assert "a simulated link" in text and "bridge:" not in text
    assert "ttl=62" in text  # the reply crossed two routers
    bad = subprocess.run([sys.executable, "-m", "labkit", "demo", "--hardware",
                          "/dev/labkit-no-such-port", "/dev/labkit-no-such-port-2"],
                         capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 1 and "labkit demo:" in bad.stderr
    assert "Traceback" not in bad.stderr


@needs_tshark
def test_the_simulated_path_also_dissects_cleanly(tmp_path):
    from labkit.demo import scenario

    pcap = tmp_path / "sim.pcap"
    seen = scenario(demo.hop(wire=False), pcap=str(pcap))
    assert seen.ok and seen.hop.where == "a simulated link" and not seen.bridges
    assert [layer.name for layer in seen.request] == ["HTTP", "TCP", "IPv4", "Ethernet", "wire"]
    assert seen.reply_frames >= 3 and seen.captured > 10 and seen.served == 1
    assert_clean_http_pcap(pcap)


def test_where_the_routers_hop_runs(monkeypatch):
    monkeypatch.delenv("LABKIT_TX_PORT", raising=False)
    monkeypatch.delenv("LABKIT_RX_PORT", raising=False)
    assert demo.hop() == demo.Hop("bridge", (None, None), None)
    assert demo.hop(wire=False).where == "a simulated link"
    assert demo.hop(("sim", "sim")).where == "the simulated boards' byte bridge"
    assert demo.hop(("/dev/a", "/dev/b"), wire=False) == demo.Hop("bridge", ("/dev/a", "/dev/b"),
                                                                  ("/dev/a", "/dev/b"))
    monkeypatch.setenv("LABKIT_TX_PORT", "/dev/ttyACM0")
    monkeypatch.setenv("LABKIT_RX_PORT", "/dev/ttyACM1")
    assert demo.hop().where == "real boards /dev/ttyACM0 -> /dev/ttyACM1"
    assert demo.hop(("sim", "sim")).boards is None  # "sim sim" whatever the environment says


def test_the_printing_function_is_still_importable_from_labkit_demo():
    from labkit.cli.demo import print_demo
    from labkit.demo import run

    assert run is print_demo
    with pytest.raises(AttributeError):
        demo.no_such_name  # noqa: B018


def test_the_voltages_line_adds_up():
    import re
    from io import StringIO

    from labkit.cli.demo import print_demo

    buf = StringIO()
    assert print_demo(wire=False, out=buf) == 0
    line = next(x for x in buf.getvalue().splitlines() if x.strip().startswith("voltages"))
    bits, idle, samples, per_bit = map(int, re.search(
        r"(\d+) bits \+ (\d+) idle bit times -> (\d+) samples \(\(\d+ \+ \d+\) x (\d+) per bit",
        line).groups())
    assert (bits + idle) * per_bit == samples
    assert bits == 8 * (8 + 132)  # preamble + SFD + the 132-byte frame with its FCS
    assert idle == 16  # labkit.link.transmit's quiet line: 8 bit times before and 8 after
