"""Fault injection: a fake serial port that garbles, truncates or drops replies."""

from __future__ import annotations

import errno

import pytest
import serial

from labkit.errors import LabkitValueError
from labkit.hw import Board
from labkit.hw import protocol as P
from labkit.hw.board import open_serial, port_error
from labkit.hw.errors import (
    BoardError,
    BaudMismatchError,
    GarbledReplyError,
    NoFirmwareError,
    PortBusyError,
    PortNotFoundError,
    PortPermissionError,
    ReplyTimeoutError,
)


class FakeSerial:
    """A port whose board answers through ``respond(frame) -> bytes`` (after a banner).

    Time is virtual: a read that finds nothing moves the clock on by the timeout.
    """

    def __init__(self, respond, banner: bytes | None = None) -> None:
        self.now = 0.0
        self.timeout = 0.1
        self.respond = respond
        self.buffer = bytearray(
            P.Frame(P.BANNER, 0, P.banner().pack()).pack() if banner is None else banner
        )
        self.parser = P.FrameParser(P.MAX_CMD_PAYLOAD)
        self.written = []
        self.closed = False

    def labkit_clock(self) -> float:
        return self.now

    @property
    def in_waiting(self) -> int:
        return len(self.buffer)

    def read(self, size: int = 1) -> bytes:
        if not self.buffer:
            self.now += self.timeout
            return b""
        out = bytes(self.buffer[:size])
        del self.buffer[:size]
        return out

    def write(self, data: bytes) -> int:
        for f in self.parser.feed(data):
            self.written.append(f)
            self.buffer += self.respond(f)
        return len(data)

    def close(self) -> None:
        self.closed = True


def reply(typ, payload=b""):
    return lambda f: P.Frame(typ, f.seq, payload).pack()


def test_garbled_crc_is_reported():
    def respond(f):
        raw = bytearray(P.Frame(P.PONG, f.seq, f.payload).pack())
        raw[5] ^= 0x40
        return bytes(raw)

    board = Board(FakeSerial(respond))
    with pytest.raises(GarbledReplyError) as info:
        board.ping(b"abc")
    assert info.value.layer == "hw" and "CRC" in str(info.value)


def test_wrong_reply_type_is_garbled():
    board = Board(FakeSerial(reply(P.PONG)))
    with pytest.raises(GarbledReplyError) as info:
        board.hello()
    assert info.value.field == "type"


def test_echo_that_differs_is_garbled():
    board = Board(FakeSerial(reply(P.PONG, b"xyz")))
    with pytest.raises(GarbledReplyError):
        board.ping(b"abc")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (bytes([0, 0, 160, 0, 0, 0, 10, 0]), "SAMPLES.data"),  # 10 samples, no data
        (b"\x00", "SAMPLES.length"),
        (P.Samples(0, 0, 160, 5, b"\x00").pack(), "SAMPLES.count"),  # asked for 10
    ],
)
def test_bad_samples_reply_is_garbled(payload, field):
    def respond(f):
        if f.type == P.SAMPLE:
            return P.Frame(P.ARMED, f.seq, P.Armed(160, 10).pack()).pack() + P.Frame(
                P.SAMPLES, f.seq, payload
            ).pack()
        return b""

    board = Board(FakeSerial(respond))
    with pytest.raises(GarbledReplyError) as info:
        board.sample(100_000, 10)
    assert info.value.field == field


def test_short_tx_done_is_garbled():
    board = Board(FakeSerial(reply(P.TX_DONE, b"\x01")))
    with pytest.raises(GarbledReplyError):
        board.transmit([1, 0], 1000)


def test_no_reply_times_out_without_hanging():
    ser = FakeSerial(lambda f: b"")
    board = Board(ser)
    t0 = ser.now
    with pytest.raises(ReplyTimeoutError) as info:
        board.ping()
    assert "PING" in str(info.value)
    assert board.timeout <= ser.now - t0 < board.timeout + 0.2


def test_late_reply_to_an_old_command_is_skipped():
    def respond(f):
        stale = P.Frame(P.PONG, (f.seq - 1) % 256, b"old").pack()
        return stale + P.Frame(P.PONG, f.seq, f.payload).pack()

    board = Board(FakeSerial(respond))
    assert board.ping(b"new") == b"new"


def test_unasked_bridge_bytes_are_kept_while_waiting():
    def respond(f):
        recv = P.Frame(P.BRIDGE_RECV, 0, b"early").pack()
        return recv + P.Frame(P.PONG, f.seq, f.payload).pack()

    board = Board(FakeSerial(respond))
    board.ping(b"p")
    assert board.bridge_recv(5, timeout=0) == b"early"


def test_bridge_bytes_read_while_the_queue_is_full_are_kept():
    """On E_BUSY the driver waits for room; the BRIDGE_RECV frames read meanwhile are kept."""
    busy = [True]

    def respond(f):
        if f.type == P.BRIDGE:
            return P.Frame(P.BRIDGE_ON, f.seq, (416).to_bytes(4, "little")).pack()
        if f.type == P.BRIDGE_DATA and busy[0]:
            busy[0] = False
            err = P.ErrorReply.make(P.E_BUSY, P.BRIDGE_DATA).pack()
            return (P.Frame(P.ERROR, f.seq, err).pack()
                    + P.Frame(P.BRIDGE_RECV, 0, b"kept").pack())
        return P.Frame(P.BRIDGE_ACK, f.seq, P.BridgeAck(len(f.payload), 200).pack()).pack()

    board = Board(FakeSerial(respond))
    board.bridge_start(9600)
    board.bridge_send(b"out")
    assert board.bridge_recv(4, timeout=0) == b"kept"


def test_a_capture_reply_read_while_waiting_for_another_is_kept_for_fetch():
    samples = P.Samples(0, 0, 16_000, 8, b"\x0f").pack()

    def respond(f):
        if f.type == P.SAMPLE:
            return P.Frame(P.ARMED, f.seq, P.Armed(16_000, 8).pack()).pack()
        capture_seq = f.seq - 1  # the SAMPLES reply of the capture comes before the PONG
        return P.Frame(P.SAMPLES, capture_seq, samples).pack() + P.Frame(P.PONG, f.seq, f.payload).pack()

    board = Board(FakeSerial(respond))
    board.arm(1000, 8)
    assert board.ping(b"meanwhile") == b"meanwhile"
    assert board.fetch().values.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


def test_the_banner_sets_the_clock_and_the_limits():
    """An 8 MHz board with smaller buffers: the driver uses its banner's f_cpu and max_*."""
    small = P.Banner(1, 0, (1, 0, 0), 8_000_000, 512, 4096, 512)

    def respond(f):
        if f.type == P.BRIDGE:
            return P.Frame(P.BRIDGE_ON, f.seq, (208).to_bytes(4, "little")).pack()
        if f.type == P.TRANSMIT:
            return P.Frame(P.TX_DONE, f.seq, P.TxDone(8, 4000).pack()).pack()
        return b""

    board = Board(FakeSerial(respond, banner=P.Frame(P.BANNER, 0, small.pack()).pack()))
    assert (board.f_cpu, board.max_tx_bits, board.max_digital_samples, board.max_analog_samples) \
        == (8_000_000, 512, 4096, 512)
    assert board.bridge_start(9600) == pytest.approx(8e6 / (4 * 208))
    assert board.transmit([1, 0] * 4, 1000).bit_rate == 1000  # 4000 cycles of 8 MHz per half-bit
    with pytest.raises(LabkitValueError, match=r"len\(bits\)=513: the firmware accepts 1..512"):
        board.transmit([1] * 513, 1000)
    with pytest.raises(LabkitValueError, match="count=513: the firmware accepts 1..512"):
        board.arm(1000, 513, mode="analog")


def test_garbage_before_frames_is_ignored():
    board = Board(FakeSerial(lambda f: b"\x00\xff junk" + P.Frame(P.PONG, f.seq, f.payload).pack()))
    assert board.ping(b"ok") == b"ok"


def test_silent_port_is_no_firmware():
    ser = FakeSerial(lambda f: b"", banner=b"")
    with pytest.raises(NoFirmwareError):
        Board(ser)
    assert ser.now >= 3.0  # waited for the banner, then for the HELLO reply


def test_garbled_bytes_at_every_rate_are_a_baud_mismatch():
    """A port that only ever gives garbage (no banner at any probed rate) is not 'no firmware'."""
    ser = FakeSerial(lambda f: b"", banner=bytes([0x80, 0x00, 0xF8, 0x00, 0xFE, 0x80]))
    ser.baudrate = 500_000
    with pytest.raises(BaudMismatchError) as info:
        Board(ser, name="COM7")
    assert str(info.value) == (
        "COM7: baud mismatch: bytes arrive but garbled (80 00 f8 00 fe 80) at 500000 baud, and "
        "no labkit banner came at any other common rate: the board talks at another rate (a "
        "sketch of its own?). Flash the labkit firmware: labkit hw flash COM7"
    )
    assert ser.baudrate == 500_000  # put back after the probes
    assert [f.type for f in ser.written].count(P.HELLO) >= 1 + 6


def test_banner_with_another_name_is_no_firmware():
    other = P.Frame(P.BANNER, 0, P.Banner(1, 0, (1, 0, 0), P.F_CPU, 1, 1, 1, b"blinky").pack())
    with pytest.raises(NoFirmwareError) as info:
        Board(FakeSerial(lambda f: b"", banner=other.pack()))
    assert "blinky" in str(info.value)


# ---------------------------------------------------------------- opening ports


@pytest.mark.parametrize(
    ("exc", "platform", "cls"),
    [
        (serial.SerialException(errno.ENOENT, "could not open port /dev/ttyACM0: [Errno 2] No "
                                "such file or directory: '/dev/ttyACM0'"), "linux",
         PortNotFoundError),
        (serial.SerialException(errno.EACCES, "could not open port /dev/ttyACM0: [Errno 13] "
                                "Permission denied: '/dev/ttyACM0'"), "linux", PortPermissionError),
        (serial.SerialException(errno.EBUSY, "[Errno 16] Device or resource busy"), "linux",
         PortBusyError),
        (serial.SerialException(errno.EWOULDBLOCK, "Could not exclusively lock port "
                                "/dev/ttyUSB0: [Errno 11] Resource temporarily unavailable"),
         "linux", PortBusyError),
        (serial.SerialException("could not open port 'COM3': PermissionError(13, 'Access is "
                                "denied.', None, 5)"), "win32", PortBusyError),
        (serial.SerialException("could not open port 'COM9': FileNotFoundError(2, 'The system "
                                "cannot find the file specified.', None, 2)"), "win32",
         PortNotFoundError),
        (PermissionError(errno.EACCES, "Permission denied"), "darwin", PortPermissionError),
    ],
)
def test_port_errors_are_explained(exc, platform, cls):
    err = port_error("PORT", exc, platform)
    assert type(err) is cls
    assert err.port == "PORT"
    if cls is PortPermissionError and platform == "linux":
        assert "dialout" in str(err)
    if cls is PortBusyError:
        assert "another program" in str(err)


def test_open_serial_on_missing_device_and_unknown_scheme():
    with pytest.raises(PortNotFoundError):
        open_serial("/dev/ttyLABKIT-missing")
    with pytest.raises(PortNotFoundError) as info:
        open_serial("nope://thing")
    assert "labkit-sim://" in str(info.value)


def test_open_closes_the_port_when_the_handshake_fails():
    import labkit.hw.sim as sim

    with pytest.raises(NoFirmwareError):
        Board.open("labkit-sim://closing/0?firmware=none")
    assert "closing" not in sim.pairs()  # the port was closed, so the pair is gone


@pytest.mark.parametrize("code", [P.E_FRAME_TIMEOUT, P.E_CRC])
def test_a_bridge_chunk_dropped_as_a_damaged_frame_is_sent_again(code):
    """The board queued nothing of a frame it dropped: the chunk goes again, once, in order."""
    dropped = [True]
    queued = bytearray()

    def respond(f):
        if f.type == P.BRIDGE:
            return P.Frame(P.BRIDGE_ON, f.seq, (416).to_bytes(4, "little")).pack()
        if f.type == P.BRIDGE_DATA and dropped[0] and len(queued) >= 64:
            dropped[0] = False
            err = P.ErrorReply.make(code, P.BRIDGE_DATA).pack()
            return P.Frame(P.ERROR, f.seq, err).pack()
        queued.extend(f.payload)
        return P.Frame(P.BRIDGE_ACK, f.seq, P.BridgeAck(len(f.payload), 200).pack()).pack()

    board = Board(FakeSerial(respond))
    board.bridge_start(9600)
    data = bytes(range(200))
    board.bridge_send(data)
    assert not dropped[0]
    assert bytes(queued) == data


def test_a_board_that_keeps_dropping_the_chunk_is_an_error():
    def respond(f):
        if f.type == P.BRIDGE:
            return P.Frame(P.BRIDGE_ON, f.seq, (416).to_bytes(4, "little")).pack()
        err = P.ErrorReply.make(P.E_FRAME_TIMEOUT, P.BRIDGE_DATA).pack()
        return P.Frame(P.ERROR, f.seq, err).pack()

    board = Board(FakeSerial(respond))
    board.bridge_start(9600)
    with pytest.raises(BoardError) as info:
        board.bridge_send(b"lost")
    assert info.value.code == P.E_FRAME_TIMEOUT
