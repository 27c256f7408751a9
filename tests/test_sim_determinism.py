"""Same seed, same run, same bytes; a different seed changes what is random."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from labkit.sim import Fault, Network

ROOT = Path(__file__).resolve().parents[1]


def scenario(seed: int, pcap, *, random: bool = True) -> Network:
    """A small LAN with lossy, jittery links and steady traffic in both directions."""
    net = Network(seed=seed)
    hosts = [net.add_host(f"H{i}", ip=f"10.0.0.{i + 1}/24") for i in range(4)]
    s1, s2 = net.add_switch("S1"), net.add_switch("S2")
    impair = (
        {"loss": 0.1, "corrupt": 0.05, "duplicate": 0.05, "reorder": 0.05, "jitter": "20us"}
        if random
        else {}
    )
    for i, h in enumerate(hosts):
        net.connect(h, s1 if i < 2 else s2, delay="50us", bandwidth="10Mbit", **impair)
    net.connect(s1, s2, delay="1ms", bandwidth="1Mbit", queue=5)
    net.impair("H0", "S1", Fault(nth=4))
    net.capture(pcap=pcap)
    for k in range(200):
        src = hosts[k % 4]
        dst = hosts[(k * 3 + 1) % 4]
        frame = dst.mac + src.mac + b"\x88\xb5" + k.to_bytes(2, "big") + bytes(44 + k % 50)
        net.at(k * 200_000, src.send, frame)
    net.run(until="1s")
    net.close()
    return net


def test_same_seed_gives_byte_identical_pcaps(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    scenario(11, a)
    scenario(11, b)
    assert a.read_bytes() == b.read_bytes()
    assert len(a.read_bytes()) > 10_000


def test_same_seed_gives_identical_traces():
    n1 = scenario(5, None)
    n2 = scenario(5, None)
    t1 = [tuple(r.__getattribute__(f) for f in r.__slots__) for r in n1.captures[0].trace]
    t2 = [tuple(r.__getattribute__(f) for f in r.__slots__) for r in n2.captures[0].trace]
    assert t1 == t2
    assert {r.note for r in n1.captures[0].trace} >= {"", "loss", "fault: drop", "queue full"}


def test_different_seeds_differ_where_random(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    scenario(1, a)
    scenario(2, b)
    assert a.read_bytes() != b.read_bytes()


def test_different_seeds_agree_where_nothing_is_random(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    scenario(1, a, random=False)
    scenario(2, b, random=False)
    assert a.read_bytes() == b.read_bytes()


SCRIPT = """
import sys
sys.path.insert(0, {root!r})
sys.path.insert(0, {tests!r})
from test_sim_determinism import scenario
scenario(3, sys.argv[1])
"""


def test_run_does_not_depend_on_hash_randomisation(tmp_path):
    digests = []
    for hashseed in ("1", "2"):
        path = tmp_path / f"h{hashseed}.pcap"
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        code = SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"))
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, timeout=120)
        digests.append(hashlib.sha256(path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
