"""The learning switch, scripted on a virtual clock (time passed in)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

from labkit.errors import LabkitValueError
from labkit.link import BROADCAST, DEFAULT_AGEING_TIME_NS, EthernetFrame, LearningSwitch, MACAddress

S = 1_000_000_000  # one second in nanoseconds
A, B, C, D = (MACAddress(f"02:00:00:00:00:0{i}") for i in "abcd")


def frame(dst, src):
    return EthernetFrame(dst, src, 0x0800, b"hello")


def run(switch, script):
    """Play ``(time_s, in_port, dst, src, expected_ports, expected_action)`` steps."""
    log = []
    for t, port, dst, src, ports, action in script:
        d = switch.forward(port, frame(dst, src), int(t * S))
        log.append(f"t={t}s port {port}: {src}->{dst}: {d}")
        assert (list(d.out_ports), d.action) == (ports, action), "\n".join(log)


def test_learning_forwarding_flooding_filtering():
    sw = LearningSwitch(4)
    run(sw, [
        (0, 1, B, A, [2, 3, 4], "flood"),  # B unknown: flood; learn A on 1
        (1, 2, A, B, [1], "forward"),  # A known on 1; learn B on 2
        (2, 1, B, A, [2], "forward"),
        (3, 3, BROADCAST, C, [1, 2, 4], "flood"),  # broadcast reaches everyone else
        (4, 1, MACAddress("01:00:5e:00:00:fb"), A, [2, 3, 4], "flood"),  # multicast
        (5, 4, D, C, [1, 2, 3], "flood"),  # C moved from port 3 to 4; D unknown
        (6, 1, C, A, [4], "forward"),  # the table followed C to port 4
        (7, 1, A, B, [], "filter"),  # B now appears on port 1, as A: same segment
    ])
    assert [(str(e.mac), e.port) for e in sw.entries()] == [
        ("02:00:00:00:00:0a", 1), ("02:00:00:00:00:0b", 1), ("02:00:00:00:00:0c", 4)
    ]
    assert sw.counters == {"forward": 3, "flood": 4, "filter": 1, "drop": 0}


def test_ageing_default_300_s():
    assert DEFAULT_AGEING_TIME_NS == 300 * S
    sw = LearningSwitch(3)
    run(sw, [
        (0, 1, B, A, [2, 3], "flood"),
        (1, 2, A, B, [1], "forward"),
        (299, 2, A, B, [1], "forward"),  # A heard at t=0: still known at 299 s
        (300, 2, A, B, [1, 3], "flood"),  # 300 s without a word from A: forgotten
        (301, 1, B, A, [2], "forward"),  # B refreshed at 300: known
    ])
    sw.age(1000 * S)
    assert len(sw) == 0 and "(empty)" in sw.format_table()


def test_custom_ageing_and_capacity_overflow_floods():
    sw = LearningSwitch(["uplink", "pc", "printer"], ageing_time_ns=10 * S, capacity=2)
    assert sw.decide("pc", frame(B, A), 0) == ["uplink", "printer"]
    assert sw.decide("printer", frame(A, B), 1) == ["pc"]
    assert sw.decide("uplink", frame(A, C), 2) == ["pc"]  # C not learned: table full
    assert sw.decide("pc", frame(C, A), 3) == ["uplink", "printer"]  # so frames to C flood
    assert sw.lookup(C, 3) is None
    assert sw.decide("uplink", frame(A, C), 20 * S) == ["pc", "printer"]  # A aged out; C learned
    assert sw.lookup(C, 20 * S) == "uplink"


def test_bytes_in_with_and_without_fcs_check():
    sw = LearningSwitch(2, check_fcs=True)
    good = frame(B, A).pack()
    assert sw.decide(1, good, 0) == [2]
    bad = bytearray(good)
    bad[20] ^= 1
    d = sw.forward(2, bytes(bad), 1)
    assert d.action == "drop" and "fcs" in d.reason and sw.lookup(B, 1) is None
    plain = LearningSwitch(2)
    assert plain.decide(1, frame(B, A).pack(fcs=False), 0) == [2]
    assert plain.forward(1, b"short", 0).action == "drop"


def test_flush_port_forgets_only_that_port():
    sw = LearningSwitch(3)
    sw.decide(1, frame(B, A), 0)
    sw.decide(2, frame(A, B), 1)
    assert [e.mac for e in sw.flush_port(1)] == [A]
    assert sw.lookup(A, 2) is None and sw.lookup(B, 2) == 2
    assert sw.decide(2, frame(A, B), 3) == [1, 3]


def test_group_source_is_dropped_not_learned():
    sw = LearningSwitch(2)
    d = sw.forward(1, frame(A, MACAddress("01:00:5e:00:00:01")), 0)
    assert d.action == "drop" and len(sw) == 0


def test_table_display():
    sw = LearningSwitch(3)
    sw.decide(1, frame(B, A), 0)
    sw.decide(2, frame(A, B), 5 * S)
    text = sw.format_table().splitlines()
    assert text[0].startswith("MAC address")
    assert text[1].split() == ["02:00:00:00:00:0a", "1", "5.0"]
    assert text[2].split() == ["02:00:00:00:00:0b", "2", "0.0"]
    html = sw._repr_html_()
    assert "<table" in html and "02:00:00:00:00:0b" in html and "2 entries" in html


def test_bad_arguments():
    with pytest.raises(LabkitValueError, match="at least 2"):
        LearningSwitch(1)
    with pytest.raises(LabkitValueError, match="distinct"):
        LearningSwitch(["a", "a"])
    with pytest.raises(LabkitValueError, match="ageing_time_ns"):
        LearningSwitch(2, ageing_time_ns=0)
    sw = LearningSwitch(2)
    with pytest.raises(LabkitValueError, match="port=9"):
        sw.decide(9, frame(A, B), 0)
    sw.decide(1, frame(A, B), 10)
    with pytest.raises(LabkitValueError, match="time only moves forward"):
        sw.decide(1, frame(A, B), 5)
    with pytest.raises(LabkitValueError, match="nanoseconds"):
        sw.decide(1, frame(A, B), 1.5)
    with pytest.raises(LabkitValueError, match="frame"):
        sw.decide(1, "frame", 20)


@settings(max_examples=FUZZ_EXAMPLES)
@given(st.lists(st.tuples(st.integers(1, 3), st.binary(max_size=80)), min_size=1, max_size=6))
def test_fuzz_switch_never_raises_on_bytes(events):
    sw = LearningSwitch(3)
    strict = LearningSwitch(3, check_fcs=True)
    for t, (port, data) in enumerate(events):
        for switch in (sw, strict):
            d = switch.forward(port, data, t)
            assert port not in d.out_ports
            assert d.action in ("forward", "flood", "filter", "drop")
            if d.action == "drop":
                assert d.out_ports == ()
