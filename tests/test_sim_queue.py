"""Queue disciplines on the simulator's links: drop-tail in packets or bytes, and CoDel (RFC 8289).

Scenario tests on the virtual clock, with the times the RFC's control law gives.
"""

from __future__ import annotations

import math

import pytest

from labkit.errors import LabkitValueError
from labkit.sim import CoDel, DropTail, Network, TopologyError
from labkit.sim.queue import QueueDiscipline

MS = 1_000_000


def pair(**link):
    net = Network(seed=1)
    a, b = net.add_host("A"), net.add_host("B")
    net.connect(a, b, **link)
    return net, a, b


# ---------------------------------------------------------------- drop-tail


def test_drop_tail_in_packets_behaves_as_the_built_in_queue():
    runs = []
    for queue in (3, DropTail(packets=3)):
        net, a, b = pair(delay="1ms", bandwidth="8Mbit", queue=queue)  # 100 us per 100 bytes
        for k in range(10):
            a.send(bytes([k]) * 100)
        net.run()
        ch = net.links[0].channel_from(a)
        runs.append(([(r.time, r.frame[0]) for r in b.inbox], ch.sent, ch.dropped_queue))
    assert runs[0] == runs[1]
    assert [k for _, k in runs[1][0]] == [0, 1, 2, 3]  # one on the wire, three waiting
    assert runs[1][0][-1][0] == 1 * MS + 4 * 100_000


def test_drop_tail_in_bytes_lets_in_what_fits():
    q = DropTail(bytes=250, record=True)
    net, a, b = pair(delay=0, bandwidth="8Mbit", queue=q)
    ch = net.links[0].channel_from(a)
    a.send(bytes(100))  # straight onto the transmitter: the queue stays empty
    a.send(bytes(100))
    a.send(bytes(100))  # 200 bytes waiting
    a.send(bytes(100))  # 300 > 250: dropped
    a.send(bytes(50))  # 250 fits exactly
    a.send(bytes(1))  # 251: dropped
    assert (ch.qdisc.packets, ch.qdisc.bytes, ch.queued) == (3, 250, 3)
    net.run()
    assert [len(r.frame) for r in b.inbox] == [100, 100, 100, 50]
    assert (ch.dropped_queue, ch.qdisc.dropped_tail) == (2, 2)
    assert ch.qdisc.bytes == 0


def test_each_direction_gets_its_own_queue():
    template = DropTail(packets=5)
    net, a, b = pair(queue=template)
    link = net.links[0]
    assert link.ab.qdisc is not link.ba.qdisc
    assert template not in (link.ab.qdisc, link.ba.qdisc)
    assert link.ab.qdisc.limit_packets == 5


def test_queue_size_must_be_given_once():
    with pytest.raises(LabkitValueError, match="packets or in bytes"):
        DropTail()
    with pytest.raises(LabkitValueError, match="packets or in bytes"):
        DropTail(3, bytes=100)
    with pytest.raises(LabkitValueError, match="bytes=-1"):
        DropTail(bytes=-1)
    net, a, b = pair()
    with pytest.raises(TopologyError, match="queue='big'"):
        net.links[0].set_queue("big")


def test_sojourn_time_and_queue_length_are_logged():
    q = DropTail(packets=100, record=True)
    net, a, b = pair(delay="1ms", bandwidth="8Mbit", queue=q)
    for _ in range(4):
        a.send(bytes(100))  # 100 us each on the transmitter
    net.run()
    s = net.links[0].ab.qdisc.series()
    # the k-th frame waits for the k before it
    assert s["sojourn"].tolist() == [0, 100_000, 200_000, 300_000]
    assert s["sojourn_t"].tolist() == [0, 100_000, 200_000, 300_000]
    assert s["packets"].max() == 3 and s["packets"][-1] == 0
    assert [r.time for r in b.inbox] == [1 * MS + 100_000 * k for k in range(1, 5)]


def test_a_drop_is_captured_with_the_disciplines_name():
    net, a, b = pair(delay=0, bandwidth="8Mbit", queue=DropTail(bytes=100))
    cap = net.capture()
    for _ in range(3):
        a.send(bytes(100))
    net.run()
    drops = [r for r in cap.trace if r.direction == "drop"]
    assert len(drops) == 1 and drops[0].note == "queue full"


# ---------------------------------------------------------------- CoDel, the discipline alone


def standing_queue(codel: CoDel, until_ms: int) -> tuple[list[int], list[int]]:
    """1000 frames of 1000 bytes at t=0, one leaves each millisecond: a queue that never drains."""
    dropped: list[int] = []
    codel.on_drop = lambda item, now, note: dropped.append(now)
    for k in range(1000):
        assert codel.enqueue(bytes(1000), k, 0)
    left = []
    for t in range(0, until_ms * MS + 1, MS):
        item = codel.dequeue(t)
        if item is not None:
            left.append(item.xid)
    return dropped, left


def test_codel_defaults_are_the_rfcs():
    c = CoDel()
    assert (c.target, c.interval) == (5 * MS, 100 * MS)


def test_codel_control_law_at_exact_times():
    """RFC 8289 5.5: above target for an interval, then drops at interval/sqrt(count)."""
    c = CoDel(limit=2000)
    dropped, _ = standing_queue(c, 600)
    # t = 5 ms is the first sojourn at target: first_above_time = 105 ms, the first drop then
    expected = [105 * MS]
    count, drop_next = 1, 105 * MS + 100 * MS
    while True:
        t = math.ceil(drop_next / MS) * MS  # the first dequeue at or after drop_next
        if t > 600 * MS:
            break
        expected.append(t)
        count += 1
        drop_next += int(100 * MS / math.sqrt(count))
    assert dropped == expected
    assert expected[:4] == [105 * MS, 205 * MS, 276 * MS, 334 * MS]  # 70.7 ms, then 57.7 ms
    assert c.dropping and c.count == len(expected)


def test_codel_never_drops_below_target():
    c = CoDel(limit=2000)
    dropped = []
    c.on_drop = lambda item, now, note: dropped.append(now)
    # a frame every ms, served 4.9 ms later: sojourn just under target, forever
    for k in range(2000):
        c.enqueue(bytes(1500), k, k * MS)
        c.enqueue(bytes(1500), k, k * MS)
        assert c.dequeue(k * MS + 4_900_000) is not None
        assert c.dequeue(k * MS + 4_900_000) is not None
    assert dropped == [] and not c.dropping


def test_codel_leaves_the_dropping_state_when_the_queue_is_short():
    c = CoDel(limit=2000)
    dropped, _ = standing_queue(c, 150)
    assert dropped == [105 * MS] and c.dropping
    # the queue empties: one frame at a time, each sojourn near zero
    while c.packets:
        c._pop(150 * MS)
    c.enqueue(bytes(1000), 1, 151 * MS)
    assert c.dequeue(151 * MS) is not None
    assert not c.dropping


def test_codel_never_drops_a_queue_of_one_packet():
    c = CoDel()
    dropped = []
    c.on_drop = lambda item, now, note: dropped.append(now)
    for k in range(100):  # each frame waits 50 ms, but it is alone in the queue
        c.enqueue(bytes(1500), k, k * 50 * MS)
        assert c.dequeue((k + 1) * 50 * MS) is not None
    assert dropped == []


def test_codel_reentering_soon_resumes_the_drop_rate():
    """RFC 8289 5.6: back in the dropping state within 16 intervals, count starts at the delta."""
    c = CoDel(limit=5000)
    dropped, _ = standing_queue(c, 400)
    n = len(dropped)
    assert n == 5 and c.lastcount == 1  # 105, 205, 276, 334 and 384 ms
    while c.packets:
        c._pop(400 * MS)
    c.enqueue(bytes(1000), 0, 400 * MS)
    c.dequeue(400 * MS)  # short queue: leave the dropping state
    assert not c.dropping
    # a new standing queue from t = 401 ms
    for k in range(1000):
        c.enqueue(bytes(1000), k, 401 * MS)
    t = 401 * MS
    while not c.dropping:
        t += MS
        c.dequeue(t)
    assert t == 401 * MS + 105 * MS  # first_above_time again 100 ms after the first 5 ms sojourn
    assert c.count == n - 1  # delta = count - lastcount = 5 - 1


def test_codel_settings_are_checked():
    with pytest.raises(LabkitValueError, match="interval"):
        CoDel(interval=0)
    with pytest.raises(LabkitValueError, match="limit"):
        CoDel(limit=0)
    assert isinstance(CoDel().spawn(), CoDel) and CoDel("2ms").spawn().target == 2 * MS


# ---------------------------------------------------------------- CoDel on a link


def flood(queue, seconds=2):
    """A sender that offers 2 Mbit/s to a 1 Mbit/s link for ``seconds``: a standing queue."""
    net, a, b = pair(delay="10ms", bandwidth="1Mbit", queue=queue)
    for k in range(seconds * 2000 // 12):  # 1500-byte frames, every 6 ms: 2 Mbit/s
        net.at(f"{6 * k}ms", a.send, bytes(1500))
    net.run()
    return net, net.links[0].ab


def test_codel_keeps_sojourn_bounded_where_drop_tail_bloats():
    _, tail = flood(DropTail(packets=1000, record=True))
    _, codel = flood(CoDel(record=True))
    tail_soj = tail.qdisc.series()["sojourn"]
    codel_soj = codel.qdisc.series()["sojourn"]
    # drop-tail: everything is queued, the last frame waits about a second
    assert tail.dropped_queue == 0 and tail_soj.max() > 900 * MS
    # CoDel drops at the head, and more often the longer the queue stands
    assert codel.dropped_queue > 0 and codel.qdisc.dropped_head == codel.dropped_queue
    assert codel_soj.max() < tail_soj.max()
    assert codel.delivered < tail.delivered


def test_codel_drops_are_captured_as_codel():
    net, a, b = pair(delay="10ms", bandwidth="1Mbit", queue=CoDel())
    cap = net.capture()
    for k in range(300):
        net.at(f"{6 * k}ms", a.send, bytes(1500))
    net.run()
    notes = {r.note for r in cap.trace if r.direction == "drop"}
    assert notes == {"codel"}


def test_a_discipline_of_ones_own():
    class Newest(QueueDiscipline):
        """Keep only the newest frame waiting: drop the old one at the head."""

        def spawn(self):
            return Newest()

        def enqueue(self, frame, xid, now):
            while self.packets:
                self._drop(self._pop(now), now, "stale")
            return super().enqueue(frame, xid, now)

    net, a, b = pair(delay=0, bandwidth="8Mbit", queue=Newest())
    for k in range(5):
        a.send(bytes([k]) * 100)
    net.run()
    assert [r.frame[0] for r in b.inbox] == [0, 4]
