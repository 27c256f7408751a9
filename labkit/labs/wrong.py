"""Deliberately wrong components, and exactly the tests each must fail.

Each is the reference solution (``course/labs/solutions/*.py``) with one change,
stated as a replacement of lines, so that it stays in step with the solution.
:data:`WRONG` is the table docs/teachers.md shows and ``tests/test_labs_wrong.py``
checks: a wrong component loses the points of the tests named, and no others.
:data:`RUNAWAY` are the submissions that loop forever or allocate without bound in
one test only: the grader's limits must stop them there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Patch", "WRONG", "RUNAWAY", "TESTS", "SOLUTIONS", "solution", "patched", "lost_points"]

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "course" / "labs" / "solutions"
LAB_FILES = {"L1-receiver": "L1.py", "L2-switch": "L2.py", "L3-router": "L3.py", "L4-tcp": "L4.py",
             "L5-app": "L5.py"}

#: (test, points) of every graded test, per lab (as in course/labs/make_labs.py).
TESTS: dict[str, dict[str, int]] = {
    "L1-receiver": {"threshold": 1, "clean": 1, "noise": 2, "clock_error": 3, "preamble": 2},
    "L2-switch": {
        "parse": 1,
        "learn_forward": 2,
        "flood": 1,
        "filter": 1,
        "host_moves": 2,
        "ageing": 2,
        "network": 1,
    },
    "L3-router": {
        "own_address": 1,
        "ping_through": 2,
        "traceroute": 2,
        "ttl_checksum": 2,
        "longest_prefix": 2,
        "net_unreachable": 1,
        "arp_cache": 2,
        "arp_pending": 1,
        "host_unreachable": 1,
    },
    "L4-tcp": {
        "stop_and_wait": 1,
        "go_back_n": 1,
        "selective_repeat": 2,
        "arq_robust": 1,
        "byte_stream": 1,
        "reassembler": 1,
        "reassembler_capacity": 1,
        "receiver": 1,
        "receiver_out_of_order": 2,
        "sender": 1,
        "sender_window": 1,
        "sender_timer": 2,
        "fast_retransmit": 1,
        "zero_window": 1,
        "connection": 2,
        "controller": 1,
        "race": 2,
    },
    "L5-app": {
        "chat_basic": 2,
        "chat_errors": 1,
        "chat_slow_client": 2,
        "chat_malformed": 1,
        "http_get": 2,
        "http_persistent": 1,
        "http_malformed": 1,
    },
}


@dataclass(frozen=True)
class Patch:
    """One wrong component: which lab, what it gets wrong, the change, the tests it fails."""

    lab: str
    name: str
    old: str
    new: str
    fails: tuple[str, ...]


WRONG = (
    Patch(
        "L1-receiver",
        "receiver without clock recovery (nominal clock from the first edge)",
        "            t = near[np.argmin(abs(near - t - period))] if near.size else t + period",
        "            t = t + period",
        ("clock_error",),
    ),
    Patch(
        "L2-switch",
        "switch that floods everything",
        "        entry = self.table.get(dst)\n",
        "        entry = None\n",
        ("learn_forward", "filter", "host_moves", "ageing", "network"),
    ),
    Patch(
        "L2-switch",
        "switch that never ages",
        "        if entry is not None and now_ns - entry[1] >= self.ageing_time_ns:",
        "        if False:",
        ("ageing",),
    ),
    Patch(
        "L3-router",
        "router ignoring the longest prefix (first match)",
        "            if dst in net and (best is None or net.prefixlen > best[0].prefixlen):",
        "            if dst in net and best is None:",
        ("longest_prefix",),
    ),
    Patch(
        "L3-router",
        "router not decrementing TTL",
        "packet.replace(ttl=packet.ttl - 1)",
        "packet",
        ("traceroute", "ttl_checksum"),
    ),
    Patch(
        "L5-app",
        "chat server that cannot handle a slow client (one lock held while reading)",
        "                data = recv_exact(conn, length)\n",
        "                with self.lock:\n                    data = recv_exact(conn, length)\n",
        ("chat_slow_client",),
    ),
    Patch(
        "L4-tcp",
        "receiver that acknowledges out-of-order data",
        "        out = self.reassembler.pop(self.next)\n",
        "        out = self.reassembler.pop(self.next)\n"
        "        self.next = max(self.next, index + len(data) - len(out))  # acks what came\n",
        ("receiver_out_of_order", "connection"),
    ),
    Patch(
        "L4-tcp",
        "reassembler that keeps unbounded memory (ignores its capacity)",
        "        hi = min(seq + len(data), self.first + self.capacity)\n",
        "        hi = seq + len(data)\n",
        ("reassembler_capacity",),
    ),
    Patch(
        "L4-tcp",
        "sender that never backs off its RTO",
        "        self.rto = min(2 * self.rto, self.rto_max)   # backoff (a probe's too)\n",
        "",
        ("sender_timer", "zero_window"),
    ),
    Patch(
        "L4-tcp",
        "sender that retransmits on two duplicate ACKs",
        "self.dupacks == self.dupack_threshold:",
        "self.dupacks == self.dupack_threshold - 1:",
        ("fast_retransmit",),
    ),
    Patch(
        "L4-tcp",
        "sender that ignores the receiver's window",
        "        window = max(self.window, 1)             # a zero window is probed with one byte\n",
        "        window = 1 << 30\n",
        ("sender_window", "zero_window"),
    ),
)

RUNAWAY = (
    Patch(
        "L1-receiver",
        "loops forever on a signal below 1 V",
        "    x = np.asarray(samples, dtype=float)\n    low, high = np.percentile(x, [5, 95])\n",
        "    x = np.asarray(samples, dtype=float)\n    low, high = np.percentile(x, [5, 95])\n"
        "    while high < 1.0:\n        pass\n",
        ("threshold",),
    ),
    Patch(
        "L2-switch",
        "loops forever once the clock passes 10 s",
        "        parsed = parse_frame(frame, self.check_fcs)\n",
        "        while now_ns > 10 * 10**9:\n            pass\n"
        "        parsed = parse_frame(frame, self.check_fcs)\n",
        ("ageing",),
    ),
    Patch(
        "L3-router",
        "allocates without bound when ARP gives up",
        '        if waiting["tries"] >= self.arp_tries:\n',
        '        if waiting["tries"] >= self.arp_tries:\n'
        "            hog = []\n            while True:\n                hog.append(bytes(1 << 24))\n",
        ("host_unreachable",),
    ),
    Patch(
        "L5-app",
        "allocates what a peer announces (4 GB) before checking it",
        "                if length > MAX_MESSAGE:\n",
        "                buffer = bytearray(length)  # all a peer announces, at once\n"
        "                if length > MAX_MESSAGE:\n",
        ("chat_malformed",),
    ),
    Patch(
        "L4-tcp",
        "sender that spins while the peer's window is zero",
        "    def push(self, transmit):\n",
        "    def push(self, transmit):\n"
        "        while self.window == 0 and self.outstanding:\n"
        "            pass  # waits for a window only an ACK can bring\n",
        ("zero_window",),
    ),
)


def solution(lab: str) -> str:
    """The reference solution's source for ``lab``."""
    return (SOLUTIONS / LAB_FILES[lab]).read_text()


def patched(patch: Patch) -> str:
    """The reference solution with ``patch`` applied (the text it replaces must be there once)."""
    source = solution(patch.lab)
    if source.count(patch.old) != 1:
        raise ValueError(
            f"{patch.name}: the text to replace is in {patch.lab}'s solution "
            f"{source.count(patch.old)} times, not once: {patch.old!r}"
        )
    return source.replace(patch.old, patch.new)


def lost_points(patch: Patch) -> int:
    """The points ``patch``'s component must lose."""
    return sum(TESTS[patch.lab][t] for t in patch.fails)


_COMPONENT = {"L1-receiver": "decode", "L2-switch": "Switch", "L3-router": "Router"}
_MODULE = {"L1-receiver": "receiver", "L2-switch": "switch", "L3-router": "router", "L4-tcp": "tcp",
           "L5-app": "app"}

#: L4's tests take several of the learner's classes (as its notebook's test cells pass them).
L4_ARGS: dict[str, tuple[str, ...]] = {
    "stop_and_wait": ("StopAndWaitSender", "GoBackNReceiver"),
    "go_back_n": ("GoBackNSender", "GoBackNReceiver"),
    "selective_repeat": ("SelectiveRepeatSender", "SelectiveRepeatReceiver"),
    "arq_robust": ("StopAndWaitSender", "GoBackNSender", "GoBackNReceiver",
                   "SelectiveRepeatSender", "SelectiveRepeatReceiver"),
    "byte_stream": ("ByteStream",),
    "reassembler": ("Reassembler",),
    "reassembler_capacity": ("Reassembler",),
    "receiver": ("TCPReceiver", "Reassembler", "ByteStream"),
    "receiver_out_of_order": ("TCPReceiver", "Reassembler", "ByteStream"),
    "sender": ("TCPSender",),
    "sender_window": ("TCPSender",),
    "sender_timer": ("TCPSender",),
    "fast_retransmit": ("TCPSender",),
    "zero_window": ("TCPSender",),
    "connection": ("TCPReceiver", "TCPSender", "Reassembler", "ByteStream"),
    "controller": ("MyController",),
    "race": ("MyController",),
}


def run_lab(lab: str, source: str) -> dict[str, str | None]:
    """Run every graded test of ``lab`` on ``source`` (a submission's code), in this process.

    Returns test -> None (passed) or its failure (the exception's name and message). What the notebook's
    test cells do, without a notebook: for tests and benchmarks.
    """
    import importlib
    import io
    from contextlib import redirect_stdout

    grader = importlib.import_module(f"labkit.labs.{_MODULE[lab]}")
    namespace: dict[str, object] = {"__name__": f"submission_{lab.replace('-', '_')}"}
    exec(compile(source, f"<{lab} submission>", "exec"), namespace)
    results: dict[str, str | None] = {}
    for test in TESTS[lab]:
        if lab == "L4-tcp":
            args = [namespace[name] for name in L4_ARGS[test]]
            try:
                with redirect_stdout(io.StringIO()):
                    getattr(grader, f"check_{test}")(*args)
                results[test] = None
            except (Exception, AssertionError) as exc:
                results[test] = f"{type(exc).__name__}: {exc}"
            continue
        if lab == "L5-app":
            component = namespace["ChatServer" if test.startswith("chat") else "HTTPServer"]
        elif lab == "L1-receiver" and test == "threshold":
            component = namespace["find_threshold"]
        else:
            component = namespace[_COMPONENT[lab]]
        try:
            with redirect_stdout(io.StringIO()):
                getattr(grader, f"check_{test}")(component)
            results[test] = None
        except (Exception, AssertionError) as exc:
            results[test] = f"{type(exc).__name__}: {exc}"
    return results
