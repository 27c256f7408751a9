"""The TCP lab's receiver on its own (CS144's lab 2 style): messages in, ackno and window out.

Exact wrapped sequence numbers, ISNs near the 32-bit wrap included; no
connection, no clock.
"""

from __future__ import annotations

import pytest

from labkit.errors import LabkitValueError
from labkit.transport.bytestream import ByteStream
from labkit.transport.reassembler import Reassembler
from labkit.transport.tcp_messages import TCPReceiverMessage, TCPSenderMessage, Wrap32
from labkit.transport.tcp_receiver import TCPReceiver, TCPReceiverLike


def receiver(capacity: int = 4000) -> TCPReceiver:
    return TCPReceiver(Reassembler(), ByteStream(), capacity)


def seg(seqno: int, payload: bytes = b"", *, syn: bool = False, fin: bool = False) -> TCPSenderMessage:
    return TCPSenderMessage(Wrap32(seqno & 0xFFFFFFFF), SYN=syn, payload=payload, FIN=fin)


# ---------------------------------------------------------------- Wrap32
def test_wrap_and_unwrap_across_the_32_bit_boundary():
    isn = Wrap32(0xFFFFFFF0)
    assert Wrap32.wrap(0, isn) == isn
    assert Wrap32.wrap(20, isn) == Wrap32(4)
    assert Wrap32.wrap(3 << 32, isn) == isn
    assert Wrap32(4).unwrap(isn, 0) == 20
    # the same wire number, nearest each checkpoint
    assert Wrap32(4).unwrap(isn, 1 << 32) == (1 << 32) + 20
    assert Wrap32(4).unwrap(isn, (5 << 32) + 10) == (5 << 32) + 20
    # just below a checkpoint in the next wrap: the nearer one is below it
    assert Wrap32(0).unwrap(Wrap32(0), (1 << 32) - 1) == 1 << 32
    assert Wrap32(0xFFFFFFFF).unwrap(Wrap32(0), 1 << 32) == (1 << 32) - 1
    # never negative
    assert Wrap32(0xFFFFFFFF).unwrap(Wrap32(0), 0) == (1 << 32) - 1
    assert Wrap32(10) + 0xFFFFFFF8 == Wrap32(2)


def test_wrap32_refuses_a_number_that_is_not_32_bits():
    with pytest.raises(LabkitValueError, match="raw=4294967296"):
        Wrap32(1 << 32)
    with pytest.raises(LabkitValueError, match="raw=-1"):
        Wrap32(-1)


def test_sequence_length_counts_syn_payload_and_fin():
    assert seg(0, b"abc", syn=True, fin=True).sequence_length == 5
    assert seg(0).sequence_length == 0


# ---------------------------------------------------------------- the receiver
def test_it_is_a_receiver_as_the_connection_sees_one():
    assert isinstance(receiver(), TCPReceiverLike)


def test_nothing_is_acknowledged_before_the_syn():
    rx = receiver(4000)
    assert rx.send() == TCPReceiverMessage(None, 4000)
    rx.receive(seg(1000, b"early"))  # data before the SYN: thrown away
    assert rx.send().ackno is None
    assert rx.stream.buffered == 0


def test_syn_then_in_order_data():
    rx = receiver(4000)
    rx.receive(seg(1000, syn=True))
    assert rx.send() == TCPReceiverMessage(Wrap32(1001), 4000)
    rx.receive(seg(1001, b"hello"))
    assert rx.send() == TCPReceiverMessage(Wrap32(1006), 3995)
    assert rx.stream.pop(10) == b"hello"
    assert rx.send().window_size == 4000


def test_data_on_the_syn_is_at_stream_index_zero():
    rx = receiver()
    rx.receive(seg(7, b"abc", syn=True))
    assert rx.send().ackno == Wrap32(11)
    assert rx.stream.pop(3) == b"abc"


def test_out_of_order_bytes_wait_for_the_gap():
    rx = receiver()
    rx.receive(seg(0, syn=True))
    rx.receive(seg(6, b"world"))
    assert rx.send().ackno == Wrap32(1)  # still waiting for byte 1
    assert rx.stream.buffered == 0
    rx.receive(seg(1, b"hello"))
    assert rx.send().ackno == Wrap32(11)
    assert rx.stream.pop(20) == b"helloworld"


def test_the_isn_just_before_the_wrap():
    rx = receiver()
    isn = 0xFFFFFFFE
    rx.receive(seg(isn, syn=True))
    assert rx.send().ackno == Wrap32(0xFFFFFFFF)
    rx.receive(seg(0xFFFFFFFF, b"ab"))  # bytes at index 0 and 1 straddle the wrap
    assert rx.send().ackno == Wrap32(1)
    rx.receive(seg(1, b"cd"))
    assert rx.send().ackno == Wrap32(3)
    assert rx.stream.pop(4) == b"abcd"


def test_a_segment_at_the_isn_without_syn_holds_no_stream_byte():
    rx = receiver()
    rx.receive(seg(100, syn=True))
    rx.receive(seg(100, b"x"))  # its seqno is the SYN's: not a stream byte
    assert rx.send().ackno == Wrap32(101)
    assert rx.stream.buffered == 0


def test_bytes_past_the_window_are_not_kept():
    rx = receiver(capacity=4)
    rx.receive(seg(0, syn=True))
    rx.receive(seg(1, b"abcdef"))  # only 4 fit
    assert rx.send() == TCPReceiverMessage(Wrap32(5), 0)
    assert rx.stream.pop(10) == b"abcd"
    assert rx.send().window_size == 4
    rx.receive(seg(5, b"efgh"))
    assert rx.stream.pop(10) == b"efgh"
    # out of order beyond the window: dropped, not held
    rx.receive(seg(20, b"zz"))
    assert rx.reassembler.pending == 0


def test_window_is_at_most_65535_bytes():
    rx = receiver(capacity=1 << 20)
    assert rx.send().window_size == 65535


def test_fin_closes_the_stream_and_is_acknowledged():
    rx = receiver()
    rx.receive(seg(50, syn=True))
    rx.receive(seg(51, b"abc", fin=True))
    assert rx.send().ackno == Wrap32(55)  # 3 bytes and the FIN
    assert rx.stream.pop(10) == b"abc"
    assert rx.stream.finished


def test_fin_before_a_gap_waits_for_the_gap():
    rx = receiver()
    rx.receive(seg(50, syn=True))
    rx.receive(seg(54, b"def", fin=True))
    assert rx.send().ackno == Wrap32(51)
    rx.receive(seg(51, b"abc"))
    assert rx.send().ackno == Wrap32(58)
    assert rx.stream.pop(10) == b"abcdef"
    assert rx.stream.finished


def test_fin_past_the_window_is_not_taken():
    rx = receiver(capacity=2)
    rx.receive(seg(0, syn=True))
    rx.receive(seg(1, b"abc", fin=True))  # the FIN lies past the window
    assert rx.send().ackno == Wrap32(3)
    rx.stream.pop(2)
    rx.receive(seg(3, b"c", fin=True))  # sent again: now it fits
    assert rx.send().ackno == Wrap32(5)


def test_a_retransmitted_old_segment_changes_nothing():
    rx = receiver()
    rx.receive(seg(0, syn=True))
    rx.receive(seg(1, b"abc"))
    rx.receive(seg(1, b"abc"))
    rx.receive(seg(0, syn=True))
    assert rx.send().ackno == Wrap32(4)
    assert rx.stream.pop(10) == b"abc"


def test_rst_is_reported():
    rx = receiver()
    rx.receive(seg(0, syn=True))
    rx.receive(TCPSenderMessage(Wrap32(1), RST=True))
    assert rx.send().RST
