"""The Board driver against the simulated pair: every command, every error reply."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import FUZZ_EXAMPLES

import labkit.hw  # noqa: F401  (registers labkit-sim://)
from labkit.errors import LabkitError, LabkitValueError
from labkit.hw import Board
from labkit.hw import protocol as P
from labkit.hw.errors import (
    BoardError,
    BoardResetError,
    LinkSilentError,
    NoFirmwareError,
    PortBusyError,
    PortNotFoundError,
    VersionMismatchError,
)
from labkit.hw.lab import sim_url
from labkit.phy import decode, levels_from_bits

_names = itertools.count()


def _pair(**wire):
    name = f"t{next(_names)}"
    tx = Board.open(sim_url(name, 0, **wire))
    rx = Board.open(sim_url(name, 1, **wire))
    return tx, rx


@pytest.fixture
def boards():
    tx, rx = _pair()
    yield tx, rx
    tx.close()
    rx.close()


@pytest.fixture
def clean():
    """A pair with a fast, quiet wire: waveforms come out exactly."""
    tx, rx = _pair(rc_us=0.05, noise_mv=0)
    yield tx, rx
    tx.close()
    rx.close()


def _refused(board: Board, typ: int, payload: bytes) -> BoardError:
    with pytest.raises(BoardError) as info:
        board.request(typ, payload)
    return info.value


# ---------------------------------------------------------------- handshake


def test_open_waits_for_the_banner_after_auto_reset(boards):
    tx, _ = boards
    assert tx.banner == P.banner()
    assert tx._seq == 0  # the start-up banner came by itself: no HELLO was needed
    assert tx.clock() >= 1.0  # the bootloader's second passed (virtually)
    assert "labkit-hw firmware 1.0.0, protocol 1.0" in repr(tx)


def test_hello_asks_for_the_banner_again(boards):
    tx, _ = boards
    assert tx.hello() == P.banner()


def test_board_without_auto_reset_is_asked_with_hello():
    with Board.open("labkit-sim://noreset/0?reset=0") as b:
        assert b.banner == P.banner()
        assert b._seq == 1
        # It waited the whole reset_wait (3 s, on the virtual clock) for a banner, then asked.
        assert 3.0 <= b.clock() < 3.1


def test_bytes_sent_during_the_bootloader_are_lost():
    ser = labkit.hw.open_serial("labkit-sim://boot/0")
    try:
        b = Board(ser, connect=False)
        seq = b.send(P.HELLO)  # the bootloader is still running: it eats this
        frame = b.read_frame(timeout=2.0)
        assert frame is not None and frame.type == P.BANNER and frame.seq == 0
        assert b.read_frame(timeout=0.5) is None  # no reply to the lost HELLO
        assert seq == 1
    finally:
        ser.close()


def test_minor_version_difference_is_accepted():
    with Board.open("labkit-sim://minor/0?proto=1.7") as b:
        assert b.banner.protocol == "1.7"


def test_major_version_mismatch():
    with pytest.raises(VersionMismatchError) as info:
        Board.open("labkit-sim://major/0?proto=2.0")
    assert info.value.board_version == "2.0"
    assert "flash" in str(info.value)


def test_board_without_firmware_says_nothing():
    with pytest.raises(NoFirmwareError) as info:
        Board.open("labkit-sim://blank/0?firmware=none")
    assert info.value.seen == b""
    assert "said nothing" in str(info.value)


def test_board_with_another_sketch_is_recognised_by_its_text():
    with pytest.raises(NoFirmwareError) as info:
        Board.open("labkit-sim://blink/0?firmware=text")
    assert b"Hello from Blink" in info.value.seen
    assert "does not run labkit firmware" in str(info.value)


def test_port_can_be_open_only_once():
    with Board.open("labkit-sim://twice/0"):
        with pytest.raises(PortBusyError) as info:
            Board.open("labkit-sim://twice/0")
    assert "close" in str(info.value)
    Board.open("labkit-sim://twice/0").close()  # free again


def test_missing_ports():
    with pytest.raises(PortNotFoundError):
        Board.open("labkit-sim://x/2")
    with pytest.raises(PortNotFoundError):
        Board.open("/dev/ttyLABKIT-does-not-exist")
    with pytest.raises(PortNotFoundError):
        Board.open("nosuchscheme://a/0")


def test_pairs_are_separate_by_name():
    a_tx, a_rx = _pair()
    b_tx, b_rx = _pair()
    try:
        b_rx.arm(10_000, 100, trigger="any", timeout_ms=50)
        a_tx.transmit([1, 0, 1, 1], 1000, "nrz-l")
        with pytest.raises(LinkSilentError):
            b_rx.fetch()
    finally:
        for b in (a_tx, a_rx, b_tx, b_rx):
            b.close()


def test_reset_in_the_middle_is_reported(boards):
    tx, _ = boards
    board = tx.serial.labkit_pair.boards[0]
    board.reset(tx.clock())
    tx.timeout = 2.0  # long enough for the bootloader's second
    with pytest.raises(BoardResetError):
        tx.ping(b"x")


# ---------------------------------------------------------------- commands


def test_ping_echoes(boards):
    tx, _ = boards
    assert tx.ping(b"") == b""
    assert tx.ping(bytes(range(64))) == bytes(range(64))
    with pytest.raises(LabkitValueError):
        tx.ping(bytes(65))


@pytest.mark.parametrize("code", ["nrz-l", "nrz-i", "manchester"])
def test_transmitted_waveform_is_the_line_code(clean, code):
    tx, rx = clean
    rng = np.random.default_rng(5)
    bits = np.concatenate([[1], rng.integers(0, 2, 63)]).astype(np.uint8)
    spb = 8
    idle = labkit.hw.board.default_idle(bits, code)
    rx.arm(1000 * spb, (bits.size + 1) * spb, trigger="falling" if idle else "rising")
    done = tx.transmit(bits, 1000, code)
    assert done == P.TxDone(64, 8000) and done.bit_rate == 1000
    s = rx.fetch()
    assert s.rate == 8000 and s.count == 65 * spb
    got = s.values[: bits.size * spb]
    # NRZ-I on the wire is relative to the idle level; labkit.phy starts low.
    want = levels_from_bits(bits, code, spb)
    # The boards' clocks differ by 500 ppm and the receiver samples up to one tick after
    # an edge, so a sample right at an edge may read either level; no other may differ.
    edge = np.zeros(want.size, dtype=bool)
    edge[1:] |= want[1:] != want[:-1]
    edge[:-1] |= want[:-1] != want[1:]
    edge[-1] |= want[-1] != idle  # the line goes back to idle after the last bit
    wrong = np.flatnonzero(got != want)
    assert np.all(edge[wrong]), f"samples {wrong[~edge[wrong]]} differ away from any edge"
    assert np.array_equal(decode(s.volts[: bits.size * spb], code, spb), bits)
    assert np.all(s.values[-spb // 2 :] == idle)  # back to idle after the frame


def test_transmit_duration_moves_the_clock(boards):
    tx, _ = boards
    t0 = tx.clock()
    tx.transmit(np.ones(100, np.uint8), 1000, "nrz-l")
    assert 0.1005 <= tx.clock() - t0 < 0.11  # (2*100 + 1) half-bits of 0.5 ms, plus USB


def test_sample_now_reads_the_idle_line(boards):
    _, rx = boards
    s = rx.sample(1000, 100, mode="analog")
    assert s.mode == 1 and s.count == 100 and s.trigger == 0
    assert np.all(s.volts < 0.2)
    d = rx.sample(200_000, 8192)
    assert d.count == 8192 and not d.values.any()
    assert d.rate == 200_000


def test_analog_capture_shows_the_rc_edges(boards):
    tx, rx = boards  # default wire: tau = 22 us
    rx.arm(40_000, 200, mode="analog", trigger="rising")  # 20 samples per bit
    tx.transmit([1, 1, 1, 1, 0, 0, 0, 0], 2000, "nrz-l")
    v = rx.fetch().volts
    assert 4.6 < v[15] < 5.0  # settled high (v_high = 4.9 V)
    assert v[0] < v[1] < v[2]  # still rising: the capacitor charges
    assert 0.0 <= v[150] < 0.3  # bit 7: low


def test_trigger_timeout_is_a_silent_link(boards):
    _, rx = boards
    t0 = rx.clock()
    rx.arm(10_000, 10, trigger="any", timeout_ms=250)
    with pytest.raises(LinkSilentError) as info:
        rx.fetch()
    assert "D7" in str(info.value)
    assert 0.25 <= rx.clock() - t0 < 0.3


def test_captures_are_deterministic_per_seed():
    def capture(seed):
        tx, rx = _pair(seed=seed)
        try:
            rx.arm(20_000, 200, mode="analog", trigger="rising")
            tx.transmit([1, 0, 1, 1, 0, 1, 0, 0], 2000, "manchester", idle=0)
            return rx.fetch().data
        finally:
            tx.close()
            rx.close()

    assert capture(3) == capture(3)
    assert capture(3) != capture(4)


def test_bridge_carries_bytes_both_ways(boards):
    a, b = boards
    assert a.bridge_start(19_200) == pytest.approx(19_231, abs=1)
    b.bridge_start(19_200)
    data = bytes(range(256)) * 2
    a.bridge_send(data, timeout=2)
    b.bridge_send(b"and back")
    assert b.bridge_recv(len(data), timeout=1) == data
    assert a.bridge_recv(8, timeout=1) == b"and back"
    sb, sa = b.bridge_stop(), a.bridge_stop()
    # b left bridge mode first: its line fell, which a took for a start bit without a stop bit.
    assert (sa.sent, sa.received, sa.framing_errors, sa.not_sent) == (512, 8, 1, 0)
    assert (sb.sent, sb.received, sb.framing_errors) == (8, 512, 0)


def test_bridge_waits_while_the_queue_is_full(boards):
    a, b = boards
    a.bridge_start(1200)
    b.bridge_start(1200)
    a.bridge_send(b"x" * 600, timeout=10)  # 255 fit; the rest waits for room
    assert b.bridge_recv(600, timeout=10) == b"x" * 600


def test_bridge_rate_mismatch_garbles_bytes(boards):
    a, b = boards
    a.bridge_start(9600)
    b.bridge_start(4800)
    a.bridge_send(b"hello world" * 4)
    got = b.bridge_recv(44, timeout=0.5)
    stats = b.bridge_stop()
    assert got != b"hello world" * 4
    assert stats.framing_errors > 0


def test_bridge_stop_drops_unsent_bytes(boards):
    a, _ = boards
    a.bridge_start(300)
    a.bridge_send(b"z" * 100)
    stats = a.bridge_stop()
    assert stats.sent == 0 and stats.not_sent == 100


def test_bridge_drain_waits_until_the_queue_is_on_the_wire(boards):
    a, b = boards
    a.bridge_start(2400)
    b.bridge_start(2400)
    t0 = a.clock()
    a.bridge_send(b"q" * 100)
    a.bridge_drain()
    assert a.clock() - t0 >= 100 * 10 / 2400  # 100 bytes of 10 bits at 2400 bit/s
    stats = a.bridge_stop()
    assert (stats.sent, stats.not_sent) == (100, 0)
    assert b.bridge_recv(100, timeout=0.5) == b"q" * 100


def test_bridge_recv_on_a_silent_link_returns_nothing(boards):
    _, b = boards
    b.bridge_start(9600)
    t0 = b.clock()
    assert b.bridge_recv(10, timeout=0.3) == b""
    assert b.clock() - t0 == pytest.approx(0.3, abs=0.01)


# ---------------------------------------------------------------- error replies


def _tx(code=2, idle=0, rate=1000, nbits=8, data=b"\xaa"):
    return P.Transmit(code, idle, rate, nbits, data).pack()


def _sample(mode=0, trig=0, rate=1000, count=10, timeout=100):
    return P.Sample(mode, trig, rate, count, timeout).pack()


@pytest.mark.parametrize(
    ("typ", "payload", "code", "field"),
    [
        (P.HELLO, b"x", P.E_PAYLOAD, None),
        (P.PING, bytes(65), P.E_PAYLOAD, None),
        (P.TRANSMIT, b"\x00" * 7, P.E_PAYLOAD, None),
        (P.TRANSMIT, _tx(code=3), P.E_RANGE, "code"),
        (P.TRANSMIT, _tx(idle=2), P.E_RANGE, "idle"),
        (P.TRANSMIT, _tx(rate=9), P.E_RANGE, "bit_rate"),
        (P.TRANSMIT, _tx(rate=50_001), P.E_RANGE, "bit_rate"),
        (P.TRANSMIT, _tx(nbits=0, data=b""), P.E_RANGE, "nbits"),
        (P.TRANSMIT, _tx(nbits=2049, data=bytes(256)), P.E_RANGE, "nbits"),
        (P.TRANSMIT, _tx(nbits=9), P.E_PAYLOAD, None),
        (P.SAMPLE, b"\x00" * 9, P.E_PAYLOAD, None),
        (P.SAMPLE, _sample(mode=2), P.E_RANGE, "mode"),
        (P.SAMPLE, _sample(trig=4), P.E_RANGE, "trigger"),
        (P.SAMPLE, _sample(rate=9), P.E_RANGE, "rate"),
        (P.SAMPLE, _sample(rate=200_001), P.E_RANGE, "rate"),
        (P.SAMPLE, _sample(mode=1, rate=40_001), P.E_RANGE, "rate"),
        (P.SAMPLE, _sample(count=0), P.E_RANGE, "count"),
        (P.SAMPLE, _sample(count=8193), P.E_RANGE, "count"),
        (P.SAMPLE, _sample(mode=1, count=1025), P.E_RANGE, "count"),
        (P.SAMPLE, _sample(trig=1, timeout=0), P.E_RANGE, "timeout_ms"),
        (P.SAMPLE, _sample(trig=2, timeout=60_001), P.E_RANGE, "timeout_ms"),
        (P.BRIDGE, b"\x00" * 3, P.E_PAYLOAD, None),
        (P.BRIDGE, (299).to_bytes(4, "little"), P.E_RANGE, "bit_rate"),
        (P.BRIDGE, (19_201).to_bytes(4, "little"), P.E_RANGE, "bit_rate"),
        (P.BRIDGE_DATA, b"x", P.E_STATE, None),
        (P.BRIDGE_STOP, b"", P.E_STATE, None),
        (0x55, b"", P.E_UNKNOWN, None),
    ],
)
def test_every_refusal(boards, typ, payload, code, field):
    tx, _ = boards
    err = _refused(tx, typ, payload)
    assert err.code == code
    assert err.field == field
    assert err.text == P.ERROR_TEXT[code]
    assert tx.ping(b"still fine") == b"still fine"  # a refusal changes nothing


def test_sample_without_trigger_ignores_timeout(boards):
    _, rx = boards
    assert rx.request(P.SAMPLE, _sample(trig=0, timeout=0)).type == P.ARMED


def test_refusals_in_bridge_mode(boards):
    tx, _ = boards
    tx.bridge_start(300)
    for typ, payload in [(P.TRANSMIT, _tx()), (P.SAMPLE, _sample()), (P.BRIDGE, bytes(4))]:
        assert _refused(tx, typ, payload).code == P.E_BUSY
    assert _refused(tx, P.BRIDGE_DATA, b"").code == P.E_PAYLOAD
    assert _refused(tx, P.BRIDGE_DATA, bytes(65)).code == P.E_PAYLOAD
    assert _refused(tx, P.BRIDGE_STOP, b"x").code == P.E_PAYLOAD
    for _ in range(3):
        tx.request(P.BRIDGE_DATA, bytes(64))
    ack = P.BridgeAck.parse(tx.request(P.BRIDGE_DATA, bytes(63)).payload)
    assert ack.queued + ack.free == 255 and ack.free <= 1  # at 300 bit/s hardly any left
    assert _refused(tx, P.BRIDGE_DATA, bytes(64)).code == P.E_BUSY
    tx.bridge_stop()


def test_crc_and_length_errors_from_the_board(boards):
    tx, _ = boards
    frame = bytearray(P.Frame(P.PING, 77, b"abc").pack())
    frame[-1] ^= 0xFF
    tx.serial.write(bytes(frame))
    with pytest.raises(BoardError) as info:
        tx.wait_reply(77, P.PING, 1.0)
    assert info.value.code == P.E_CRC and info.value.command == "PING"
    tx.serial.write(bytes([P.SYNC, P.TRANSMIT, 78]) + (265).to_bytes(2, "little"))
    with pytest.raises(BoardError) as info:
        tx.wait_reply(78, P.TRANSMIT, 1.0)
    assert info.value.code == P.E_TOO_LONG


def test_incomplete_frame_times_out_on_the_board(boards):
    tx, _ = boards
    tx.serial.write(P.Frame(P.PING, 90, b"abcdef").pack()[:7])
    t0 = tx.clock()
    with pytest.raises(BoardError) as info:
        tx.wait_reply(90, P.PING, 1.0)
    assert info.value.code == P.E_FRAME_TIMEOUT
    assert 0.09 < tx.clock() - t0 < 0.12
    assert tx.ping(b"ok") == b"ok"


def test_driver_checks_arguments_before_sending(boards):
    tx, rx = boards
    cases = [
        (lambda: tx.transmit([1, 0], 60_000), "bit_rate"),
        (lambda: tx.transmit([1, 2], 1000), "bits[1]"),
        (lambda: tx.transmit([1, 0], 1000, "morse"), "code"),
        (lambda: tx.transmit(np.ones(2049), 1000), "len(bits)"),
        (lambda: rx.arm(50_000, 10, mode="analog"), "rate"),
        (lambda: rx.arm(1000, 10, trigger="sideways"), "trigger"),
        (lambda: rx.arm(1000, 10, trigger="any", timeout_ms=0), "timeout_ms"),
        (lambda: rx.fetch(), "arm"),
        (lambda: tx.bridge_start(100), "bit_rate"),
        (lambda: tx.bridge_send("text"), "bytes"),
    ]
    for call, word in cases:
        with pytest.raises(LabkitValueError) as info:
            call()
        assert word in str(info.value)
    assert tx._seq == 0  # nothing was sent


def test_all_errors_are_labkit_errors():
    for cls in (BoardError, LinkSilentError, NoFirmwareError, PortBusyError, PortNotFoundError,
                VersionMismatchError, BoardResetError):
        assert issubclass(cls, LabkitError)


def test_pyserial_finds_the_url_handler():
    import importlib

    # pyserial swallows ImportErrors of handlers ("protocol not known"): import it directly.
    module = importlib.import_module("labkit.hw.protocol_labkit-sim")
    assert "labkit.hw" in serial.protocol_handler_packages
    port = serial.serial_for_url("labkit-sim://urltest/0?reset=0", timeout=0.1)
    try:
        assert isinstance(port, module.Serial)
        port.write(P.Frame(P.HELLO, 9).pack())
        expected = P.Frame(P.BANNER, 9, P.banner().pack()).pack()
        assert port.read(len(expected)) == expected
        assert port.labkit_clock() < 0.01  # virtual time: the read stopped at the reply
        assert port.read(1) == b"" and port.labkit_clock() > 0.1  # then waited the timeout
    finally:
        port.close()
    with pytest.raises(serial.SerialException):
        serial.serial_for_url("labkit-sim://urltest/0?colour=blue")


_fuzz_names = itertools.count()


_COMMANDS = [P.HELLO, P.PING, P.TRANSMIT, P.SAMPLE, P.BRIDGE, P.BRIDGE_DATA, P.BRIDGE_STOP, 0, 0x7F]
_frames = st.builds(
    lambda t, s, p: P.Frame(t, s, p).pack(),
    st.sampled_from(_COMMANDS), st.integers(0, 255), st.binary(max_size=20),
)


@settings(max_examples=max(50, FUZZ_EXAMPLES // 20), deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), _frames), max_size=6))
def test_fuzz_the_simulated_firmware_answers_only_in_frames(chunks):
    port = serial.serial_for_url(f"labkit-sim://fuzz{next(_fuzz_names)}/0?reset=0", timeout=0.3)
    try:
        for chunk in chunks:
            port.write(chunk)
        out = port.read(100_000)  # everything it says within 0.3 s (virtual)
    finally:
        port.close()
    parser = P.FrameParser()
    items = parser.feed(out)
    assert not parser.partial and not parser.skipped  # nothing but whole frames
    for item in items:
        assert isinstance(item, P.Frame) and item.type in P.TYPE_NAMES
