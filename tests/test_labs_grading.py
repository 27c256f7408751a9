"""labkit.labs.grading: labkit's own implementation out of reach, limits, the step log."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from labkit.labs import app, receiver, router, switch
from labkit.labs.grading import OutOfReach, TimeLimitExceeded, inside, limits, sealed
from labkit.labs.wrong import run_lab, solution
from labkit.link import LearningSwitch
from labkit.testing import ScenarioFailure


def test_the_reference_solutions_pass_every_test():
    for lab in ("L2-switch", "L3-router"):
        assert all(v is None for v in run_lab(lab, solution(lab)).values())


def test_a_switch_that_hands_its_frames_to_labkit_fails():
    class Cheat:
        def __init__(self, ageing_time_ns=0, check_fcs=True):
            self.ports = []

        def add_port(self, p):
            self.ports.append(p)

        def forward(self, in_port, frame, now):
            ls = LearningSwitch(tuple(self.ports))
            return ls.decide(in_port, frame[:-4], now).out_ports

    with pytest.raises(ScenarioFailure, match="LearningSwitch.__init__ is labkit's own"):
        switch.check_learn_forward(Cheat)
    LearningSwitch(("a", "b"))  # and outside a graded test, labkit's switch works as before


def test_a_router_that_asks_labkits_routing_table_fails():
    from labkit.net.routing import RoutingTable

    ns: dict = {}
    exec(solution("L3-router"), ns)

    class Cheat(ns["Router"]):
        def lookup(self, dst):
            table = RoutingTable()
            for net, hop, iface in self.routes:
                table.add_static(net, hop, iface) if hop else table.add_connected(net, iface)
            return super().lookup(dst)

    with pytest.raises(ScenarioFailure, match="labkit's own"):
        router.check_ping_through(Cheat)


def test_a_decoder_that_calls_labkits_receiver_fails():
    from labkit.phy.receiver import receive

    def cheat(samples, code, spb, preamble):
        return receive(samples, code, spb, preamble=preamble).bits

    with pytest.raises(ScenarioFailure, match="labkit's own"):
        receiver.check_clean(cheat)
    assert (
        receiver.ber_of(
            receiver.labkit_decode, receiver.frames(receiver.Condition("manchester", 20), 2, 1), "manchester"
        )
        == 0.0
    )


def test_a_chat_server_built_on_labkits_room_fails():
    ns: dict = {}
    exec(solution("L5-app"), ns)
    from labkit.app.chat import ChatRoom

    class Cheat(ns["ChatServer"]):
        def __init__(self, host, port):
            super().__init__(host, port)
            self.room = ChatRoom()

    with pytest.raises(ScenarioFailure, match="labkit's own"):
        app.check_chat_basic(Cheat)


def test_a_failure_prints_the_steps_the_expectation_and_a_hint():
    ns: dict = {}
    exec(solution("L2-switch"), ns)

    class NoLearning(ns["Switch"]):
        def forward(self, in_port, frame, now_ns):
            return [p for p in self.ports if p != in_port]

    with pytest.raises(ScenarioFailure) as info:
        switch.check_learn_forward(NoLearning)
    text = str(info.value)
    assert "1. t=0 s" in text and "B unknown: flood" in text and "ok" in text
    assert "expected: ['p1']" in text and "got:      ['p1', 'p3', 'p4']" in text
    assert "hint: learn the source's port" in text


def test_sealed_traps_only_calls_from_inside_and_undoes_itself():
    original = LearningSwitch.decide
    with sealed("switch"):
        LearningSwitch(("a", "b"))  # the network's own use, outside the learner's code
        wrapped = inside(lambda: LearningSwitch(("a", "b")))
        with pytest.raises(OutOfReach):
            wrapped()
    assert LearningSwitch.decide is original


def test_limits_do_nothing_unless_grading(monkeypatch):
    monkeypatch.delenv("LABKIT_GRADING", raising=False)
    with limits(0.01, 1):
        np.zeros(10_000_000)  # 80 MB: no limit outside the grader


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and setitimer: Linux")
def test_limits_stop_a_loop_and_an_allocation_and_then_lift(monkeypatch):
    with pytest.raises(TimeLimitExceeded, match="0.2 s"):
        with limits(0.2, 64, enforce=True):
            while True:
                pass
    with pytest.raises(MemoryError, match="64 MB"):
        with limits(5, 64, enforce=True):
            hog = []
            while True:
                hog.append(bytearray(1 << 22))
    big = bytearray(200 << 20)  # lifted again
    assert len(big) == 200 << 20


def test_the_labs_command_parses_its_three_actions():
    from labkit.cli import build_parser

    for action in ("course", "grade", "summary"):
        args = build_parser().parse_args(["labs", action, "grading", "--labs", "L2-switch"])
        assert (args.action, args.folder, args.labs) == (action, "grading", ["L2-switch"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["labs", "publish", "grading"])


def test_a_failure_message_names_the_step_that_failed():
    from labkit.labs.pipeline import failure_message

    ns: dict = {}
    exec(solution("L2-switch"), ns)

    class NeverAges(ns["Switch"]):
        def forward(self, in_port, frame, now_ns):
            return super().forward(in_port, frame, 0)

    with pytest.raises(ScenarioFailure) as info:
        switch.check_ageing(NeverAges)
    line = failure_message({"ename": "ScenarioFailure", "evalue": str(info.value)})
    assert line == "ageing: expect  t=11s B->A in p2: 11 s after A last sent: aged, flood p1, p3, p4"
    assert failure_message({"ename": "NameError", "evalue": "name 'Switch' is not defined"}) == (
        "NameError: name 'Switch' is not defined")


def test_the_tcp_labs_reference_passes_every_test():
    assert all(v is None for v in run_lab("L4-tcp", solution("L4-tcp")).values())


def test_a_tcp_sender_that_wraps_labkits_own_fails():
    from labkit.labs import tcp
    from labkit.transport.tcp_sender import TCPSender

    class Cheat:
        def __init__(self, stream, isn, config):
            self.inner = TCPSender(stream, isn, config)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    with pytest.raises((ScenarioFailure, OutOfReach), match="TCPSender.__init__ is labkit's own"):
        tcp.check_sender(Cheat)


def test_a_sender_that_samples_a_retransmission_fails_at_the_exact_time():
    """Karn's rule: the step log says when the retransmission was expected and when it came."""
    from labkit.labs import tcp

    ns: dict = {}
    exec(solution("L4-tcp"), ns)

    class NoKarn(ns["TCPSender"]):
        def tick(self, ms, transmit):
            timed = self.timed
            super().tick(ms, transmit)
            self.timed = timed  # keeps timing the segment it just resent

    with pytest.raises(ScenarioFailure) as info:
        tcp.check_sender_timer(NoKarn)
    text = str(info.value)
    assert "retransmitted after 1 s: the SYN gave no sample (Karn)" in text
    assert "expected: [(4100, 'seq=1 1000B')]" in text and "hint: Karn's rule" in text


def test_an_arq_failure_shows_the_frames_sent_and_when():
    from labkit.labs import tcp

    ns: dict = {}
    exec(solution("L4-tcp"), ns)

    class ResendsTooEarly(ns["StopAndWaitSender"]):
        def __init__(self, end, timeout_ns):
            super().__init__(end, timeout_ns // 2)

    with pytest.raises(ScenarioFailure) as info:
        tcp.check_stop_and_wait(ResendsTooEarly, ns["GoBackNReceiver"])
    text = str(info.value)
    assert "the data frames the sender sent: (time in ms, seq)" in text
    assert "(70.0, 1)" in text and "(45.0, 1)" in text
