"""labkit.tap: the kernel's own ping and an HTTP GET reach a labkit host through a TAP device.

The tests with the kernel need root, /dev/net/tun and ``ip``: each makes its own
network namespace (``labkit-test-<random>``), runs everything inside it and
deletes it at the end, so no packet leaves the namespace. Elsewhere they are
skipped with the reason. A socket pair stands in for the TAP device in the
test that runs everywhere.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import socket as pysocket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from labkit.link.ethernet import EthernetFrame, EtherType
from labkit.link.mac import MACAddress
from labkit.net.arp import ARPPacket
from labkit.net.icmp import ICMPMessage
from labkit.net.ipv4 import ICMP, IPv4Packet
from labkit.sim import Network
from labkit.sim.stacks import install_transport
from labkit.tap import PAGE, TapBridge, open_tap, tap_available

ROOT = Path(__file__).resolve().parents[1]
KERNEL_MAC = MACAddress("02:aa:00:00:00:01")


def _reason() -> str | None:
    reason = tap_available()
    if reason is None and shutil.which("ip") is None:
        reason = "the `ip` command (iproute2) is not installed"
    return reason


needs_netns = pytest.mark.skipif(
    _reason() is not None and not os.environ.get("LABKIT_REQUIRE_TAP"), reason=str(_reason()))


def unavailable(reason: str) -> None:
    """Skip, or fail where the TAP tests are required (CI)."""
    if os.environ.get("LABKIT_REQUIRE_TAP"):
        pytest.fail(f"LABKIT_REQUIRE_TAP is set but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _required_here():
    """With LABKIT_REQUIRE_TAP=1 (CI, as root) a missing prerequisite fails instead of skipping."""
    if os.environ.get("LABKIT_REQUIRE_TAP") and _reason() is not None:
        pytest.fail(f"LABKIT_REQUIRE_TAP is set but {_reason()}")


def run(*cmd: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)


@contextmanager
def namespace():
    """A fresh network namespace with only its loopback up; deleted afterwards, whatever happens."""
    name = f"labkit-test-{secrets.token_hex(4)}"
    made = run("ip", "netns", "add", name)
    if made.returncode != 0:
        unavailable(f"cannot create a network namespace: {made.stderr.strip()}")
    try:
        run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        run("ip", "netns", "delete", name)


#: the two ways to start it: README's ``python -m labkit.tap`` and the ``labkit tap`` subcommand
COMMANDS = {"python -m labkit.tap": ["-m", "labkit.tap"], "labkit tap": ["-m", "labkit", "tap"]}


@contextmanager
def labkit_host(ns: str, seconds: float = 25, command: str = "python -m labkit.tap"):
    """``command`` inside ``ns``, the kernel side of its TAP set up as 10.99.0.1/24."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, *COMMANDS[command], "--name", "lk0",
         "--ip", "10.99.0.2/24", "--seconds", str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 15)
        line = proc.stdout.readline() if ready else ""
        err = proc.stderr.read() if not line and proc.poll() is not None else ""
        if "labkit.tap:" in err or "labkit tap:" in err:
            unavailable(err.strip())  # e.g. no CAP_NET_ADMIN in this container
        assert line.startswith("ready lk0"), (line, proc.poll())
        for cmd in (("ip", "addr", "add", "10.99.0.1/24", "dev", "lk0"),
                    ("ip", "link", "set", "lk0", "up")):
            done = run("ip", "netns", "exec", ns, *cmd)
            assert done.returncode == 0, done.stderr
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def start_peer(ns: str, script: Path, *args: str) -> subprocess.Popen:
    """``python script *args`` inside ``ns`` once it prints "ready" (it opened TAP lk0), with the
    kernel's side of lk0 up as 10.99.0.1/24; killed here if it never gets ready."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, str(script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("ready"):
            err = proc.stderr.read() if proc.poll() is not None else ""
            if "labkit.tap" in err or "TapError" in err:
                unavailable(err.strip().splitlines()[-1])
            raise AssertionError((line, err))
        for cmd in (("ip", "addr", "add", "10.99.0.1/24", "dev", "lk0"),
                    ("ip", "link", "set", "lk0", "up")):
            assert run("ip", "netns", "exec", ns, *cmd).returncode == 0
    except BaseException:
        proc.kill()
        proc.wait(timeout=5)
        raise
    return proc


def finish(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert err == "", err
    return out


@needs_netns
def test_the_kernels_ping_gets_replies_from_labkit():
    if shutil.which("ping") is None:
        pytest.skip("the `ping` command (iputils-ping) is not installed")
    with namespace() as ns, labkit_host(ns) as proc:
        ping = run("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "3",
                   "10.99.0.2")
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert "3 packets transmitted, 3 received" in ping.stdout
        neigh = run("ip", "netns", "exec", ns, "ip", "neigh", "show", "10.99.0.2").stdout
        assert "02:00:00:00:00:01" in neigh  # the kernel learnt labkit's MAC by ARP
        out = finish(proc)
        assert "done:" in out


@needs_netns
@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_http_get_from_the_kernels_tcp_to_labkits_server(command):
    with namespace() as ns, labkit_host(ns, command=command) as proc:
        code = ("import urllib.request;"
                "r = urllib.request.urlopen('http://10.99.0.2/', timeout=10);"
                "print(r.status, r.headers['Content-Length']); print(r.read().decode(), end='')")
        got = run("ip", "netns", "exec", ns, sys.executable, "-c", code)
        assert got.returncode == 0, got.stderr
        assert got.stdout == f"200 {len(PAGE)}\n{PAGE}"
        if shutil.which("curl"):
            curl = run("ip", "netns", "exec", ns, "curl", "-sS", "--max-time", "10",
                       "http://10.99.0.2/")
            assert curl.returncode == 0 and curl.stdout == PAGE, curl.stderr
        out = finish(proc)
        served = 2 if shutil.which("curl") else 1
        assert f"{served} HTTP request(s) served" in out


def test_bridge_moves_frames_both_ways_on_a_stand_in_descriptor():
    """A SOCK_SEQPACKET pair keeps frame boundaries, as a TAP descriptor does."""
    mine, kernel = pysocket.socketpair(pysocket.AF_UNIX, pysocket.SOCK_SEQPACKET)
    mine.setblocking(False)
    net = Network(seed=1)
    host = net.add_host("L", ip="10.99.0.2/24")
    bridge = TapBridge(net, host, name="stand-in", fd=os.dup(mine.fileno()))
    install_transport(net)
    with bridge, mine, kernel:
        arp = ARPPacket.request(KERNEL_MAC, "10.99.0.1", "10.99.0.2")
        kernel.send(EthernetFrame(MACAddress("ff:ff:ff:ff:ff:ff"), KERNEL_MAC, EtherType.ARP,
                                  arp.pack()).pack(fcs=False))
        echo = ICMPMessage.echo_request(7, 1, b"from the kernel").pack()
        packet = IPv4Packet(src="10.99.0.1", dst="10.99.0.2", protocol=ICMP, payload=echo)
        kernel.send(EthernetFrame(MACAddress(host.mac), KERNEL_MAC, EtherType.IPV4,
                                  packet.pack()).pack(fcs=False))
        bridge.run(1.0, until=lambda: bridge.to_kernel >= 2)
        replies = [EthernetFrame.parse(kernel.recv(2000), fcs=False) for _ in range(2)]
    assert bridge.from_kernel == 2 and bridge.to_kernel == 2
    assert ARPPacket.parse(replies[0].payload).sender_mac == MACAddress(host.mac)
    reply = IPv4Packet.parse(replies[1].payload)
    message = ICMPMessage.parse(reply.payload)
    assert str(reply.dst) == "10.99.0.1" and message.type == 0 and message.data == \
        b"from the kernel"
    assert net.now < 1_000_000_000  # the run ended early, when the replies were out


def test_bad_names_are_refused_before_any_system_call():
    from labkit.errors import LabkitValueError

    for name in ("", "x" * 16, "a b", "a/b", None):
        with pytest.raises(LabkitValueError, match="name="):
            open_tap(name)
