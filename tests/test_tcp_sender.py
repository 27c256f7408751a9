"""The TCP lab's sender on its own (CS144's lab 3 style): a hand-driven clock, exact seqnos and times.

Each test pushes, acknowledges and ticks by hand and checks exactly which
messages go out and when: the SYN, the windows (peer's and congestion), RFC
6298's RTO with backoff and Karn's rule, fast retransmit, zero-window probes
and RFC 6298 5.7's 3 s after a lost SYN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from labkit.transport.bytestream import ByteStream
from labkit.transport.congestion import Ack
from labkit.transport.tcp_connection import MS, TCPConfig
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32
from labkit.transport.tcp_sender import TCPSender, TCPSenderLike

ISN = 0xFFFFFF00  # near the wrap: data crosses 2**32 after 256 bytes


@dataclass
class Wire:
    """Collects what the sender transmits."""

    sent: list[TCPSenderMessage] = field(default_factory=list)

    def __call__(self, message: TCPSenderMessage) -> None:
        self.sent.append(message)

    def take(self) -> list[tuple[int, int, bool, bool]]:
        """(seqno, payload length, SYN, FIN) of what was sent since the last take."""
        out = [(m.seqno.raw, len(m.payload), m.SYN, m.FIN) for m in self.sent]
        self.sent.clear()
        return out


def seqno(absolute: int) -> int:
    return (ISN + absolute) & 0xFFFFFFFF


def ack(absolute: int, window: int = 65535) -> TCPReceiverMessage:
    return TCPReceiverMessage(Wrap32(seqno(absolute)), window)


def sender(**changes: object) -> tuple[TCPSender, ByteStream, Wire]:
    stream = ByteStream()
    fields: dict[str, object] = dict(mss=1000)
    fields.update(changes)
    return TCPSender(stream, Wrap32(ISN), TCPConfig.basic(**fields)), stream, Wire()


def established(**changes: object) -> tuple[TCPSender, ByteStream, Wire]:
    """A sender whose SYN was acknowledged 10 ms later (RTT sample 10 ms)."""
    tx, stream, wire = sender(**changes)
    tx.push(wire)
    tx.tick(10, wire)
    tx.receive(ack(1))
    wire.take()
    return tx, stream, wire


def test_it_is_a_sender_as_the_connection_sees_one():
    assert isinstance(sender()[0], TCPSenderLike)


def test_the_first_push_sends_the_syn_and_nothing_more():
    tx, stream, wire = sender()
    stream.push(b"x" * 5000)
    tx.push(wire)
    assert wire.take() == [(ISN, 0, True, False)]
    assert tx.sequence_numbers_in_flight() == 1
    tx.push(wire)
    assert wire.take() == []  # no data before the SYN is acknowledged
    assert tx.make_empty_message().seqno == Wrap32(seqno(1))


def test_data_fills_the_smaller_of_cwnd_and_the_peers_window():
    tx, stream, wire = established()
    stream.push(b"x" * 10_000)
    tx.push(wire)
    # TCPConfig.basic(): RFC 5681's initial window, 4 segments for an SMSS of 1000 (4000 bytes)
    assert tx.cc.cwnd == 4000
    assert wire.take() == [(seqno(1), 1000, False, False), (seqno(1001), 1000, False, False),
                           (seqno(2001), 1000, False, False), (seqno(3001), 1000, False, False)]
    tx.receive(ack(1001, window=4000))  # slow start: cwnd 5000; the peer's window is smaller
    tx.push(wire)
    assert tx.cc.cwnd == 5000
    assert wire.take() == [(seqno(4001), 1000, False, False)]
    assert tx.sequence_numbers_in_flight() == 4000
    tx.receive(ack(2001, window=2500))  # the window shrank: 2500 - 3000 in flight, no room
    tx.push(wire)
    assert wire.take() == []


def test_fin_rides_on_the_last_data_when_the_window_has_room():
    tx, stream, wire = established()
    stream.push(b"abc")
    stream.close()
    tx.push(wire)
    assert wire.take() == [(seqno(1), 3, False, True)]
    assert tx.sequence_numbers_in_flight() == 4
    tx.receive(ack(5))
    tx.push(wire)
    assert wire.take() == [] and tx.sequence_numbers_in_flight() == 0


def test_fin_waits_when_the_window_is_full():
    tx, stream, wire = established()
    stream.push(b"abc")
    stream.close()
    tx.receive(ack(1, window=3))
    tx.push(wire)
    assert wire.take() == [(seqno(1), 3, False, False)]
    tx.receive(ack(4, window=3))
    tx.push(wire)
    assert wire.take() == [(seqno(4), 0, False, True)]


def test_syn_retransmission_times_back_off_exponentially():
    tx, _, wire = sender()
    tx.push(wire)
    wire.take()
    assert tx.next_timeout_ms() == 1000  # RFC 6298 2.1: 1 s before any sample
    tx.tick(999, wire)
    assert wire.take() == []
    tx.tick(1, wire)  # t = 1000 ms
    assert wire.take() == [(ISN, 0, True, False)]
    assert tx.consecutive_retransmissions() == 1
    assert tx.next_timeout_ms() == 2000
    tx.tick(2000, wire)  # t = 3000 ms
    assert wire.take() == [(ISN, 0, True, False)]
    assert tx.consecutive_retransmissions() == 2
    assert tx.next_timeout_ms() == 4000


def test_after_a_lost_syn_data_starts_with_an_rto_of_3_s():
    tx, stream, wire = sender()
    tx.push(wire)
    tx.tick(1000, wire)  # the SYN is sent again
    tx.receive(ack(1))  # Karn: no sample from a retransmitted SYN
    assert tx.srtt_ms is None
    assert tx.consecutive_retransmissions() == 0
    stream.push(b"x")
    tx.push(wire)
    assert tx.next_timeout_ms() == 3000  # RFC 6298 5.7


def test_rto_from_rtt_samples_exactly():
    # rto_min of 1 ms so RFC 6298's formula shows: RTO = SRTT + max(G, 4 RTTVAR)
    tx, stream, wire = established(rto_min=1 * MS)
    assert (tx.srtt_ms, tx.rto_ms) == (10, 10 + 4 * 5)  # first sample: RTTVAR = R/2
    stream.push(b"x" * 1000)
    tx.push(wire)
    tx.tick(25, wire)
    tx.receive(ack(1001))
    # RTTVAR = (3 * 5 + |10 - 25|) // 4 = 7; SRTT = (7 * 10 + 25) // 8 = 11 (integer ms)
    assert (tx.srtt_ms, tx._rttvar, tx.rto_ms) == (11, 7, 11 + 4 * 7)


def test_the_rto_has_a_floor():
    tx, _, _ = established()  # TCPConfig's rto_min: 200 ms
    assert tx.rto_ms == 200


def test_a_timeout_resends_the_oldest_segment_and_doubles_the_rto():
    tx, stream, wire = established()
    stream.push(b"x" * 3000)
    tx.push(wire)
    wire.take()
    tx.tick(199, wire)
    assert wire.take() == []
    tx.tick(1, wire)  # 200 ms: the RTO
    assert wire.take() == [(seqno(1), 1000, False, False)]  # only the oldest
    assert tx.consecutive_retransmissions() == 1
    assert tx.cc.cwnd == 1000  # RFC 5681 3.1: LW = 1 SMSS after a timeout
    tx.tick(399, wire)
    assert wire.take() == []
    tx.tick(1, wire)  # 400 ms later: backed off
    assert wire.take() == [(seqno(1), 1000, False, False)]
    assert tx.consecutive_retransmissions() == 2


def test_karns_rule_no_sample_from_a_retransmitted_segment():
    tx, stream, wire = established()
    stream.push(b"x" * 1000)
    tx.push(wire)
    tx.tick(200, wire)  # timed out, sent again
    tx.tick(5, wire)
    tx.receive(ack(1001))
    assert tx.srtt_ms == 10  # unchanged: the only sample is the SYN's
    assert tx.consecutive_retransmissions() == 0
    assert tx.rto_ms == 200  # back from the backoff to the estimate


def test_an_ack_of_new_data_restarts_the_timer():
    tx, stream, wire = established()
    stream.push(b"x" * 2000)
    tx.push(wire)
    wire.take()
    tx.tick(150, wire)
    tx.receive(ack(1001))
    assert tx.next_timeout_ms() == 200  # restarted for the segment still out
    tx.tick(199, wire)
    assert wire.take() == []
    tx.tick(1, wire)
    assert wire.take() == [(seqno(1001), 1000, False, False)]


def test_the_timer_stops_when_everything_is_acknowledged():
    tx, stream, wire = established()
    stream.push(b"x" * 100)
    tx.push(wire)
    wire.take()
    tx.receive(ack(101))
    assert tx.next_timeout_ms() is None
    tx.tick(10_000, wire)
    assert wire.take() == []


def test_three_duplicate_acks_resend_the_oldest_at_once():
    tx, stream, wire = established()
    stream.push(b"x" * 3000)
    tx.push(wire)
    wire.take()
    tx.receive(ack(1))  # the same ackno and window as the SYN's ACK: a duplicate
    tx.receive(ack(1))
    tx.push(wire)
    assert wire.take() == []  # two duplicates: nothing yet
    tx.receive(ack(1))
    tx.push(wire)
    assert wire.take() == [(seqno(1), 1000, False, False)]  # fast retransmit, before any timeout
    assert tx.consecutive_retransmissions() == 0
    assert tx.cc.ssthresh == 2000  # RFC 5681 (3.2): max(FlightSize / 2, 2 SMSS)


def test_a_window_update_is_not_a_duplicate_ack():
    tx, stream, wire = established()
    stream.push(b"x" * 3000)
    tx.push(wire)
    wire.take()
    for window in (60000, 50000, 40000):
        tx.receive(ack(1, window))
    tx.push(wire)
    assert wire.take() == []


def test_a_zero_window_is_probed_with_one_byte_and_the_probes_back_off():
    tx, stream, wire = established()
    tx.receive(ack(1, window=0))
    stream.push(b"abc")
    tx.push(wire)
    assert wire.take() == [(seqno(1), 1, False, False)]  # the probe
    tx.push(wire)
    assert wire.take() == []
    tx.tick(200, wire)
    assert wire.take() == [(seqno(1), 1, False, False)]
    assert tx.consecutive_retransmissions() == 0  # answered probes never give up
    assert tx.next_timeout_ms() == 400  # RFC 1122 4.2.2.17: backed off
    tx.receive(ack(1, window=0))
    tx.tick(400, wire)
    assert wire.take() == [(seqno(1), 1, False, False)]
    assert tx.next_timeout_ms() == 800
    tx.receive(ack(2, window=1000))  # the window opened and the probe byte was taken
    tx.push(wire)
    assert wire.take() == [(seqno(2), 2, False, False)]


def test_an_ack_of_something_never_sent_is_ignored():
    tx, stream, wire = established()
    stream.push(b"x" * 100)
    tx.push(wire)
    tx.receive(ack(5000))
    assert tx.sequence_numbers_in_flight() == 100


class Recorder:
    """A congestion controller that records the sender's calls (the door of congestion.py)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.cwnd = self.ssthresh = 0

    def start(self, smss: int, now: int, sack: bool = False) -> None:
        self.calls.append(f"start {smss} {now // MS}")
        self.cwnd, self.ssthresh = 10 * smss, 1 << 30

    def on_ack(self, ack: Ack) -> None:
        self.calls.append(f"ack {ack.acked} rtt={None if ack.rtt is None else ack.rtt // MS}")

    def on_loss(self, flight: int, now: int) -> None:
        self.calls.append(f"loss {flight} {now // MS}")

    def on_recovery_ack(self, ack: Ack) -> None:
        self.calls.append(f"recovery-ack {ack.acked}")

    def on_recovery_end(self, ack: Ack) -> None:
        self.calls.append(f"recovery-end {ack.acked}")

    def on_timeout(self, flight: int, now: int) -> None:
        self.calls.append(f"timeout {flight} {now // MS}")


def test_the_congestion_controller_hears_every_event():
    tx, stream, wire = established(congestion=Recorder)
    stream.push(b"x" * 4000)
    tx.push(wire)
    tx.tick(20, wire)
    tx.receive(ack(1001))
    for _ in range(3):
        tx.receive(ack(1001))
    tx.push(wire)
    tx.receive(ack(2001))  # partial: the next hole too
    tx.push(wire)
    tx.receive(ack(4001))  # covers all sent before the loss
    stream.push(b"y" * 1000)
    tx.push(wire)
    tx.tick(200, wire)
    assert tx.cc.calls == [
        "start 1000 10", "ack 1000 rtt=20", "loss 3000 30", "recovery-ack 1000",
        "recovery-end 2000", "timeout 1000 230"]
