"""The Board driver against the simulated pair: what only a simulated board can show.

The driver suite shared with the twin (every command, every error reply, the
lab's transfers) is tests/test_hw_backends.py; here are the cases a real
firmware cannot stage: auto-reset and the bootloader's second, no or other
firmware, another protocol version, a board reset mid-command, argument
checks in the driver, and fuzzing the simulated firmware.
"""

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


# ---------------------------------------------------------------- handshake


def test_open_waits_for_the_banner_after_auto_reset(boards):
    tx, _ = boards
    assert tx.banner == P.banner()
    assert tx._seq == 0  # the start-up banner came by itself: no HELLO was needed
    assert tx.clock() >= 1.0  # the bootloader's second passed (virtually)
    assert "labkit-hw firmware 1.1.0, protocol 1.1" in repr(tx)


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


# ---------------------------------------------------------------- the driver


def test_driver_checks_arguments_before_sending(boards):
    tx, rx = boards
    cases = [
        (lambda: tx.ping(bytes(65)), "data"),
        (lambda: tx.transmit([1, 0], 100_001), "bit_rate"),
        (lambda: rx.receive_arm(999, 10), "bit_rate"),
        (lambda: rx.receive_arm(20_000, 0), "nbits"),
        (lambda: rx.receive_arm(20_000, 10, "4b5b"), "code"),
        (lambda: rx.receive_fetch(), "receive_arm"),
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


# --------------------------------------------------------------------------- RECEIVE

def test_the_simulated_boards_receiver_follows_the_firmware():
    """RECEIVE on the simulated pair: clean where the twin is, errors past the wire's limit."""
    from labkit.hw.lab import board_bit_error_test

    tx, rx = _pair()
    rng = np.random.default_rng(4)
    try:
        for code, rate in [("manchester", 20_000), ("nrz-l", 40_000), ("nrz-i", 50_000)]:
            assert board_bit_error_test(tx, rx, rate, code, rng, payload_bits=500).errors == 0, code
        assert board_bit_error_test(tx, rx, 100_000, "nrz-l", rng, payload_bits=500).errors > 25
        with pytest.raises(BoardError, match="bit_rate"):
            rx.request(P.RECEIVE, P.Receive(0, 0, 999, 100, 100).pack())
        rx.receive_arm(20_000, 64, "nrz-l", idle=0, timeout_ms=5)
        with pytest.raises(LinkSilentError, match="trigger timeout"):
            rx.receive_fetch()
    finally:
        tx.close()
        rx.close()


def test_receive_decoder_reads_clean_edges():
    """decode_edges (the firmware's decoder in Python) on ideal edges of each line code."""
    from labkit.hw.sim import _halves, decode_edges

    bits = np.random.default_rng(2).integers(0, 2, 300, dtype=np.uint8)
    bits[0] = 1
    for code in (0, 1, 2):
        unit = 80 if code == 2 else 160  # half-bits for Manchester
        idle = [1 - int(bits[0]), 0, int(bits[0])][code]
        halves = _halves(bits, code, idle)
        levels = np.concatenate([[idle], halves])
        change = np.flatnonzero(np.diff(levels)) + 1  # half-bit index of every change
        first = change[0]
        deltas = list(np.diff(change) * (unit if code == 2 else unit // 2))
        got, edges, decoded = decode_edges(deltas, code, idle, unit, bits.size)
        assert first == 1 and edges == len(change)
        assert np.array_equal(got, bits), code
